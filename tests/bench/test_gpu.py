"""bench/gpu.sh's CPU side: its arguments, the summary it writes (each part on its own: one that fails is recorded
and the rest run), and what it does where there is no CUDA device. The GPU parts themselves run on a GPU machine."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import gpu_check  # noqa: E402


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("argv, words", [
    (["--parts", "train,nope"], "--parts: unknown part 'nope'; choose from: device, train"),
    (["--parts", ","], "--parts: name at least one part"),
    (["--steps", "0"], "--steps 0: must be at least 1"),
    (["--fid-n", "1"], "--fid-n 1: must be at least 2"),
    (["--fid-tolerance", "-1"], "--fid-tolerance -1.0: give a positive number"),
    (["--vs-batch-sizes", "64,x"], "--vs-batch-sizes '64,x': give positive whole numbers"),
    (["--device", "cpu"], "--device cpu: give cuda or cuda:N"),
    (["--script", "/nonexistent/main.py"], "--script /nonexistent/main.py: no such file"),
    (["--data", "/nonexistent/images"], "--data /nonexistent/images: no such folder")])
def test_bad_arguments_are_refused_in_one_line(argv, words, capsys):
    with pytest.raises(SystemExit) as e:
        gpu_check.parse_args(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and words in err[-1], err


def test_the_arguments_a_run_uses():
    args = gpu_check.parse_args(["--parts", "device, train", "--vs-batch-sizes", "64,256", "--device", "cuda:1"])
    assert args.part_list == ["device", "train"] and args.batch_list == [64, 256] and args.device == "cuda:1"
    assert gpu_check.parse_args([]).part_list == list(gpu_check.PARTS)


def test_without_cuda_it_says_so_writes_every_part_skipped_and_exits_0(tmp_path, no_cuda, capsys):
    out = tmp_path / "check"
    assert gpu_check.main(["--out", str(out), "--parts", "device,train"]) == 0
    assert "no CUDA device on this machine" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert [(p["part"], p["status"]) for p in summary["parts"]] == [("device", "skipped"), ("train", "skipped")]
    assert summary["failed"] == [] and summary["machine"]["gpus"] == 0
    text = (out / "summary.txt").read_text()
    assert "no CUDA device" in text and text.count("skipped") == 2 and "no part failed" in text


def test_bad_arguments_are_refused_before_cuda_is_asked_about(tmp_path, no_cuda):
    with pytest.raises(SystemExit):
        gpu_check.main(["--out", str(tmp_path / "x"), "--steps", "-3"])
    assert not (tmp_path / "x").exists()


def test_each_part_runs_on_its_own_and_a_failure_is_recorded(tmp_path):
    """A part that raises is recorded with its first line (the traceback in its log) and the next part still runs;
    the summary is written after every part, so a check cut short keeps what it did."""
    args = gpu_check.parse_args(["--out", str(tmp_path / "c")])
    ctx = gpu_check.Context(args, torch.device("cpu"))
    seen_on_disk = []

    def broken(ctx):
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore lines")

    def fine(ctx):
        seen_on_disk.append(json.loads((ctx.out / "summary.json").read_text())["failed"])
        return {"summary": "3 things", "rows": [["a", "ok"], ["b", "ok"]], "value": 1.5}

    def skipped(ctx):
        return {"status": "skipped", "summary": "give --script"}
    summary = gpu_check.Summary(ctx.out, {"host": "h", "torch": "t", "device_name": "GPU X", "capability": "8.0"})
    gpu_check.run_parts(["a", "b", "c"], {"a": broken, "b": fine, "c": skipped}, ctx, summary)
    assert seen_on_disk == [["a"]]  # written before the next part began
    data = json.loads((ctx.out / "summary.json").read_text())
    assert [(p["part"], p["status"]) for p in data["parts"]] == [("a", "failed"), ("b", "ok"), ("c", "skipped")]
    assert data["parts"][0]["error"] == "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert "Traceback" in Path(data["parts"][0]["log"]).read_text()
    assert data["parts"][1]["details"]["value"] == 1.5 and data["failed"] == ["a"]
    text = (ctx.out / "summary.txt").read_text()
    assert "GPU X (compute capability 8.0)" in text and "failed: a" in text
    row_b = next(line for line in text.splitlines() if line.startswith("b "))
    assert "ok" in row_b and "3 things" in row_b


def test_a_trick_the_method_refuses_is_dropped_and_named(no_cuda):
    cfg, kept, dropped = gpu_check.config_with_tricks("vae", "cpu", "fp32")
    assert cfg.method == "vae" and "EMA" in dropped and "mismatch" not in kept
    cfg, kept, dropped = gpu_check.config_with_tricks("cgan", "cpu", "fp32")
    assert "mismatch" in kept and cfg.cond.mismatch


def test_gpu_sh_dry_run(tmp_path):
    res = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh"), "--dry-run", "--out", str(tmp_path / "d")],
                         capture_output=True, text=True, timeout=120, env={**__import__("os").environ,
                                                                           "PYTHON": sys.executable})
    assert res.returncode == 0, res.stderr
    assert "dry run: nothing was run" in res.stdout
    parts = json.loads((tmp_path / "d" / "summary.json").read_text())["parts"]
    assert [p["part"] for p in parts] == list(gpu_check.PARTS) and {p["status"] for p in parts} == {"skipped"}
