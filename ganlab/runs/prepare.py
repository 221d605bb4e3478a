"""A run folder made ready for a training, on the process that writes it (rank 0): a new run's folder created
whole under the run lock (or not at all), or an existing run's folder reopened to continue, with its logs cut back
to the checkpoint it continues from. The loop calls these; they know nothing of the training itself."""
from __future__ import annotations

import json
import shutil

from ganlab.config import Config
from ganlab.errors import RunError
from ganlab.experiment import check_resume_config, resume_experiment
from ganlab.files import keep_jsonl
from ganlab.runs import checkpoint as ckpt
from ganlab.runs.folder import RunDir
from ganlab.runs.lock import RunLock


def resume_config(run: RunDir, values: dict | None = None, overrides: list[str] | None = None) -> Config:
    """The config of an existing run, with the changes allowed on resume applied."""
    run.require()
    return resume_experiment(run.read_config(), values, overrides)


def create(run: RunDir, config: Config, data_info: dict, log=print) -> RunLock:
    """The folder of a new run, with its config.yaml and data.json, made under the run lock, which is returned.
    Refused when the folder exists with anything but a stale lock in it (a live writer is named first). On a
    failure nothing this call made is left behind, so the same command can simply run again."""
    path = run.path
    if path.exists() and not path.is_dir():
        raise RunError(f"{path} exists and is not a folder; choose another --out")
    made = not path.exists()
    lock = _make_and_lock(run, log) if made else RunLock(path, log).acquire()
    if not made and any(p.name != lock.path.name for p in path.iterdir()):  # a stale lock alone is no run
        lock.release()
        raise RunError(f"{path} already exists and is not empty; use --resume {path} to continue it, or choose "
                       "another --out")
    try:
        run.create()
        write_run_files(run, config, data_info)
    except BaseException:
        lock.release()
        if made:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return lock


def _make_and_lock(run: RunDir, log) -> RunLock:
    """Make the (absent) folder and take its lock: it is this process's only once the lock is held. A process
    started at the same moment may own it instead, so on a failure it is removed only if still empty."""
    try:
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot write the run folder {run.path}: {e.strerror or e}") from None
        return RunLock(run.path, log).acquire()
    except BaseException:
        try:
            run.path.rmdir()
        except OSError:
            pass
        raise


def reopen(run: RunDir, config: Config, log=print) -> RunLock:
    """The folder of a run to continue, locked (the lock is returned), once ``config`` is found to differ from
    the run's own only where a resume may change it."""
    run.require()
    lock = RunLock(run.path, log).acquire()
    try:
        check_resume_config(run.read_config(), config.to_dict())
    except BaseException:
        lock.release()
        raise
    return lock


def resume_state(run: RunDir, log=print) -> dict | None:
    """The training state to continue from: latest.pt, or the newest readable numbered checkpoint when it is
    damaged. None for a run stopped before its first checkpoint, whose outputs are then cleared: it trains from
    the beginning in its own folder."""
    if run.latest.exists() or any(run.checkpoints.glob("*.pt")):
        return run.readable_checkpoint(ckpt.load_run_state, log)
    log(f"{run.path} has no checkpoint yet (it stopped before its first one): training it from the beginning")
    run.create()
    run.clear_outputs()
    return None


def cut_back(run: RunDir, state: dict) -> list[dict]:
    """The logs cut back to the checkpoint ``state`` resumes from, returning the metric records kept.
    metrics.jsonl: the records before its iteration (the later ones are computed again). eval.jsonl: the
    evaluation-during-training rows of later epochs go (evaluated again; an older numbered checkpoint is resumed
    when latest.pt was damaged), the rows of ``ganlab eval`` stay. In both, lines that do not parse (cut by a kill
    or a full disk) go, so that what the run appends next starts on a line of its own."""
    global_iter, epoch = state["global_iter"], state["epoch"]
    kept = keep_jsonl(run.metrics_path, lambda r: _number(r.get("iter")) and r["iter"] < global_iter)
    keep_jsonl(run.eval_path, lambda r: not (r.get("during_training") and _number(r.get("epoch"))
                                             and r["epoch"] > epoch))
    return kept


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def write_run_files(run: RunDir, config: Config, data_info: dict) -> None:
    """config.yaml (the fully resolved config; a resume writes the changes it was allowed) and data.json."""
    run.write_text_atomic(run.config_path, config.to_yaml())
    run.write_text_atomic(run.data_info_path, json.dumps(data_info, indent=1))
