"""Faults around a training run: a full or read-only disk, signals at any moment (in a step, while a checkpoint
is written, during evaluation, during the first decode), two writers on one folder, readers of a run that is
training. Each leaves the run resumable, and resuming ends bit-identical to a run that was never disturbed.
(The long campaign of real kills is bench/faults.py.)"""
import builtins
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.cli import main
from ganlab.errors import Interrupted, RunError
from ganlab.runs import checkpoint
from ganlab.runs.folder import RunDir
from ganlab.runs.lock import RunLock
from ganlab.train import Trainer, resume_config, train

QUIET = {"log": lambda *a: None}


def _iters(run):
    return [json.loads(line)["iter"] for line in RunDir(run).metrics_path.read_text().splitlines()]


def _resume(run):
    return train(resume_config(RunDir(run)), resume=run, **QUIET)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_config):
    """An undisturbed tiny run (2 epochs of 4 iterations), and the same with evaluation every epoch."""
    root = tmp_path_factory.mktemp("reference")
    plain = train(tiny_config(), out=root / "plain", **QUIET).path
    evaluated = train(tiny_config(**EVAL), out=root / "evaluated", **QUIET).path
    return {"plain": plain, "evaluated": evaluated}


EVAL = {"eval.every": 1, "eval.metrics": ["swd"], "eval.n": 64}


# --------------------------------------------------------------------------------------------- a full disk
class Disk:
    """Makes every write under ``root`` go through a budget of free bytes (a full disk once it is spent) or
    fail at once (``read_only``): builtins.open and io.open are patched, which is what torch.save, PIL,
    matplotlib, pathlib and the loop's own appends use."""

    def __init__(self, monkeypatch, root, free=None, read_only=False):
        self.root, self.free, self.read_only, self.written = str(root), free, read_only, 0
        real = builtins.open

        def patched(file, mode="r", *a, **k):
            f = real(file, mode, *a, **k) if not (self.read_only and self._ours(file, mode)) else None
            if f is None:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
            return _Capped(f, self, str(file)) if self._ours(file, mode) else f

        monkeypatch.setattr(builtins, "open", patched)
        monkeypatch.setattr(io, "open", patched)
        # shutil.copyfile (the numbered checkpoint's copy) would use sendfile, which no write() sees
        monkeypatch.setattr(shutil, "_USE_CP_SENDFILE", False)

    def _ours(self, file, mode):
        return isinstance(file, (str, os.PathLike)) and os.path.abspath(file).startswith(self.root) and any(
            c in mode for c in "wax+")


class _Capped:
    def __init__(self, f, disk, path):
        self._f, self._disk, self._path = f, disk, path

    def write(self, data):
        n = len(data.encode() if isinstance(data, str) else data)
        d = self._disk
        if d.free is not None and d.written + n > d.free:
            fit = max(0, d.free - d.written)
            self._f.write(data[:fit])  # what fits is written: the file is left cut short, as on a real disk
            d.written = d.free
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._path)
        d.written += n
        return self._f.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __iter__(self):
        return iter(self._f)


def test_disk_write_volume_of_a_tiny_run(tmp_path, monkeypatch, tiny_config):
    disk = Disk(monkeypatch, tmp_path)
    train(tiny_config(**EVERY_EPOCH), out=tmp_path / "run", **QUIET)
    assert disk.written > 100_000  # the budgets below cut the run at different writes


# free bytes that run out in each write of the tiny run (about 500 kB in all): config.yaml, data.json,
# metrics.jsonl, the epoch-1 grid, losses.png, latest.pt; in epoch 2 the same and the numbered checkpoint
# (latest.pt and losses.png at every epoch end, EVERY_EPOCH, so that each of them is cut once)
EVERY_EPOCH = {"train.checkpoint_minutes": 0, "train.plot_minutes": 0}
FULL_AT = {"config": 200, "data.json": 1_600, "metrics": 1_800, "grid": 3_000, "losses.png": 20_000,
           "latest": 100_000, "metrics-2": 178_000, "grid-2": 179_000, "losses-2": 200_000, "latest-2": 300_000,
           "epoch-0002.pt": 400_000}


# -m "not slow" fills the disk at one of each kind of write: a log line, a picture, a checkpoint
FULL_AT_FAST = ("metrics", "grid", "latest")


@pytest.mark.parametrize("free", [v if k in FULL_AT_FAST else pytest.param(v, marks=pytest.mark.slow)
                                  for k, v in FULL_AT.items()], ids=list(FULL_AT))
def test_full_disk_is_one_line_and_the_run_resumes_once_space_is_freed(tmp_path, monkeypatch, tiny_config,
                                                                      reference, free, same_run):
    disk = Disk(monkeypatch, tmp_path, free=free)
    out = tmp_path / "run"
    with pytest.raises(RunError, match="No space left on device") as e:
        train(tiny_config(**EVERY_EPOCH), out=out, **QUIET)
    assert "\n" not in str(e.value) and str(tmp_path) in str(e.value)
    disk.free = None  # space is freed
    if RunDir(out).is_run():
        _resume(out)
    else:  # it failed before the run folder was whole: nothing is left, so the same command runs again
        assert not out.exists(), sorted(p.name for p in out.rglob("*"))
        train(tiny_config(**EVERY_EPOCH), out=out, **QUIET)
    assert same_run(reference["plain"], out)
    assert _iters(out) == list(range(8))
    assert not list(out.rglob(".*tmp*")), "a temporary file was left behind"


def test_full_disk_on_the_command_line_is_one_line(tmp_path, monkeypatch, capsys):
    Disk(monkeypatch, tmp_path, free=80_000)
    rc = main(["train", "--data", "digits", "--image-size", "16", "--limit", "64", "--epochs", "2",
               "--batch-size", "32", "--out", str(tmp_path / "run"), "--set", "train.progress=false",
               "--set", "model.g_width=8", "--set", "model.d_width=8"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "No space left on device" in err, err
    assert "Traceback" not in err


def test_read_only_output_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, tiny_config, reference):
    Disk(monkeypatch, tmp_path, read_only=True)
    with pytest.raises(RunError, match=r"cannot write the run folder .*run: Read-only file system"):
        train(tiny_config(), out=tmp_path / "run", **QUIET)
    assert not (tmp_path / "run").exists()


def test_read_only_samples_folder_still_saves_the_checkpoint(tmp_path, monkeypatch, tiny_config, run_state):
    out = tmp_path / "run"
    Disk(monkeypatch, out / "samples", read_only=True)
    with pytest.raises(RunError, match=r"cannot write .*samples.*epoch-0001\.png: Read-only file system; "
                                       r"saved .*latest\.pt"):
        train(tiny_config(), out=out, **QUIET)
    monkeypatch.undo()
    assert run_state(out)["epoch"] == 1


# --------------------------------------------------------------------------------------------- signals
def _signal_at(monkeypatch, trainer, calls, sigs):
    """Send ``sigs`` to this process from inside the ``calls``-th training step."""
    step, n = trainer.method.train_step, {"i": 0}

    def stepping(batch):
        n["i"] += 1
        if n["i"] == calls:
            for s in sigs:
                os.kill(os.getpid(), s)
        return step(batch)
    monkeypatch.setattr(trainer.method, "train_step", stepping)


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_a_signal_mid_epoch_saves_that_step_and_resumes_exactly(tmp_path, monkeypatch, tiny_config, reference, sig,
                                                                same_run, run_state):
    trainer = Trainer(tiny_config(), RunDir(tmp_path / "run"), **QUIET)
    _signal_at(monkeypatch, trainer, 6, [sig])
    with pytest.raises(Interrupted) as e:
        trainer.fit()
    assert e.value.signum == sig
    st = run_state(tmp_path / "run")
    assert (st["epoch"], st["iter_in_epoch"]) == (1, 2)  # the step the signal came in was finished and saved
    assert not (tmp_path / "run" / ".lock").exists()
    _resume(tmp_path / "run")
    assert same_run(reference["plain"], tmp_path / "run") and _iters(tmp_path / "run") == list(range(8))


def test_a_second_signal_stops_at_once_without_saving(tmp_path, monkeypatch, tiny_config, reference, same_run,
                                                      run_state):
    said = []
    trainer = Trainer(tiny_config(**{"train.checkpoint_minutes": 0}), RunDir(tmp_path / "run"), log=said.append)
    _signal_at(monkeypatch, trainer, 6, [signal.SIGTERM, signal.SIGTERM])
    with pytest.raises(Interrupted):
        trainer.fit()
    st = run_state(tmp_path / "run")
    assert (st["epoch"], st["iter_in_epoch"]) == (1, 0)  # the end of epoch 1: nothing was written after it
    assert any("stopped at once" in s for s in said)
    _resume(tmp_path / "run")
    assert same_run(reference["plain"], tmp_path / "run") and _iters(tmp_path / "run") == list(range(8))


@pytest.mark.parametrize("sigs", [[signal.SIGTERM],
                                  pytest.param([signal.SIGINT, signal.SIGINT], marks=pytest.mark.slow)],
                         ids=["once", "twice"])
def test_a_signal_while_a_checkpoint_is_written(tmp_path, monkeypatch, tiny_config, reference, sigs, same_run,
                                                run_state):
    """Once: the write finishes, then the loop stops and saves. Twice: the write is abandoned, the previous
    latest.pt stays whole and no temporary file is left."""
    import ganlab.files
    real, n = torch.save, {"i": 0}

    def saving(obj, f, *a, **k):
        n["i"] += 1
        if n["i"] == 2:  # the second checkpoint (end of epoch 2 is the 3rd: epoch-0002 and latest)
            for s in sigs:
                os.kill(os.getpid(), s)
        return real(obj, f, *a, **k)

    monkeypatch.setattr(ganlab.files.torch, "save", saving)
    out = tmp_path / "run"
    cfg = tiny_config(**{"train.checkpoint_minutes": 1e-9})  # latest.pt after every step
    with pytest.raises(Interrupted):
        train(cfg, out=out, **QUIET)
    monkeypatch.setattr(ganlab.files.torch, "save", real)
    assert not list(out.rglob(".*tmp*"))
    assert run_state(out)["global_iter"] == (2 if len(sigs) == 1 else 1)
    _resume(out)
    assert same_run(reference["plain"], out) and _iters(out) == list(range(8))


def test_a_signal_during_evaluation_evaluates_again_on_resume(tmp_path, monkeypatch, tiny_config, reference,
                                                              same_run, run_state):
    import ganlab.eval.during_training as during
    real = during.compute

    def computing(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)

    monkeypatch.setattr(during, "compute", computing)
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(tiny_config(**EVAL), out=out, **QUIET)
    monkeypatch.setattr(during, "compute", real)
    assert not RunDir(out).eval_path.exists() and run_state(out)["epoch"] == 1
    _resume(out)
    rows = [json.loads(line) for line in RunDir(out).eval_path.read_text().splitlines()]
    want = [json.loads(line) for line in RunDir(reference["evaluated"]).eval_path.read_text().splitlines()]
    assert [(r["epoch"], r["metric"], r["value"]) for r in rows] == [(r["epoch"], r["metric"], r["value"])
                                                                        for r in want]
    assert same_run(reference["evaluated"], out)


def test_sigterm_during_the_first_decode_leaves_nothing_and_the_command_runs_again(tmp_path, monkeypatch, capsys):
    import ganlab.data.images as images
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    real, n = images.load_image, {"i": 0}

    def loading(*a, **k):
        n["i"] += 1
        if n["i"] == 10:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*a, **k)

    monkeypatch.setattr(images, "load_image", loading)
    args = ["train", "--data", str(folder), "--image-size", "16", "--epochs", "1", "--batch-size", "16",
            "--out", str(tmp_path / "run"), "--set", "train.progress=false", "--set", "model.g_width=8",
            "--set", "model.d_width=8"]
    assert main(args) == 128 + signal.SIGTERM
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the command put the handler back
    assert main(args) == 0 and RunDir(tmp_path / "run").latest.is_file()


# --------------------------------------------------------------------------------------------- two writers
HOLD = ("import sys, time; from ganlab.runs.lock import RunLock; RunLock(sys.argv[1]).acquire(); "
        "print('held', flush=True); time.sleep(60)")


def test_a_second_writer_is_refused_naming_the_first_and_a_stale_lock_is_taken_over(tmp_path, tiny_config,
                                                                                   reference, capsys, same_run):
    out = tmp_path / "run"
    part = Trainer(tiny_config(**{"train.epochs": 1}), RunDir(out), **QUIET)
    part.fit()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["train", "--resume", str(out), "--epochs", "2"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"being trained by process {holder.pid}" in err, err
        assert main(["train", "--out", str(out)]) == 2  # a new run into it names the writer too
        assert f"process {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()  # kill -9: the lock file stays behind, stale
        holder.wait()
    assert (out / ".lock").exists()
    said = []
    train(resume_config(RunDir(out), {"train.epochs": 2}), resume=out, log=said.append)
    assert any("stale lock" in str(s) and str(holder.pid) in str(s) for s in said)
    assert same_run(reference["plain"], out) and not (out / ".lock").exists()


@pytest.mark.slow
def test_two_trainings_started_together_on_one_folder(tmp_path):
    """Started at the same moment with the same --out: exactly one trains, the other refuses in one line."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ganlab", "train", "--data", "digits", "--image-size", "16", "--limit", "64",
           "--epochs", "1", "--out", str(out), "--set", "train.progress=false", "--set", "model.g_width=8",
           "--set", "model.d_width=8"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    err = next(e for rc, e in results if rc == 2).strip().splitlines()
    assert len(err) == 1 and ("being trained by process" in err[0] or "already exists" in err[0]), err
    assert RunDir(out).latest.is_file() and not (out / ".lock").exists()


def test_a_training_that_loses_the_race_for_a_new_folder_leaves_the_winners_files(tmp_path, monkeypatch, tiny_config):
    """Both saw no folder; the other process created it and took the lock first. The loser refuses and must not
    clean up a folder that is not its own (it used to remove the winner's run while it trained)."""
    import socket
    out = tmp_path / "run"
    trainer = Trainer(tiny_config(), RunDir(out), **QUIET)
    take = RunLock.acquire

    def winner_first(self):  # the winner (a live process: our parent) writes its files and lock just before
        (self.folder / "config.yaml").write_text("the winner's")
        self.path.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": None}))
        return take(self)

    monkeypatch.setattr(RunLock, "acquire", winner_first)
    with pytest.raises(RunError, match="being trained by process"):
        trainer.fit()
    assert (out / "config.yaml").read_text() == "the winner's" and (out / ".lock").is_file()


def test_the_lock_is_released_when_training_fails(tmp_path, tiny_config):
    with pytest.raises(RunError, match="diverged"):
        train(tiny_config(**{"optim.g_lr": 1e30, "optim.d_lr": 1e30}), out=tmp_path / "run", **QUIET)
    assert not (tmp_path / "run" / ".lock").exists()
    assert RunLock(tmp_path / "run").acquire().held


# --------------------------------------------------------------------------------------------- readers
@pytest.mark.slow
def test_readers_of_a_training_run_see_only_whole_checkpoints(tmp_path, tiny_config, run_state):
    """A reader (``ganlab sample``/``eval`` load latest.pt) racing 200 rewrites of it never sees half a file."""
    run = train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "run", **QUIET)
    state = checkpoint.load(run.latest)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            checkpoint.save_atomic(state, run.latest)

    t = threading.Thread(target=writer)
    t.start()
    try:
        loads, deadline = 0, time.monotonic() + 20
        while loads < 200 and time.monotonic() < deadline:
            assert checkpoint.load_run_state(run.latest)["global_iter"] == state["global_iter"]
            loads += 1
    finally:
        stop.set()
        t.join()
    assert loads >= 50


def test_report_and_sample_read_a_run_whose_log_is_cut_mid_line(tmp_path, tiny_config, capsys):
    run = train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "run", **QUIET)
    with open(run.metrics_path, "a") as f:
        f.write('{"iter": 4, "epoch": 1, "g_st')  # the trainer was writing this line
    assert main(["report", str(run.path), "--out", str(tmp_path / "report.html")]) == 0
    assert main(["sample", str(run.path), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()


def test_an_ignored_sigint_stays_ignored(tmp_path, monkeypatch, tiny_config, reference, same_run):
    """Under nohup or as a background job SIGINT is ignored on purpose: training does not start listening to it."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        trainer = Trainer(tiny_config(), RunDir(tmp_path / "run"), **QUIET)
        _signal_at(monkeypatch, trainer, 3, [signal.SIGINT])
        trainer.fit()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
    assert same_run(reference["plain"], tmp_path / "run")
