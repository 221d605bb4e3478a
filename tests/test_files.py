"""ganlab.files: the one atomic writer (every kind of file reaches the disk before it replaces the old one) and the
one rule of the JSON-lines readers."""
import json
import os

import pytest
import torch

from ganlab import files
from ganlab.errors import RunError


def test_every_atomic_write_is_synced_before_it_replaces_the_file(tmp_path, monkeypatch):
    synced, real = [], os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    files.save_atomic({"x": torch.ones(2)}, tmp_path / "a.pt")
    files.copy_atomic(tmp_path / "a.pt", tmp_path / "b.pt")
    files.write_text_atomic(tmp_path / "c.txt", "text")
    assert [os.path.basename(p) for p in synced] == [f".{n}.tmp-{os.getpid()}" for n in ("a.pt", "b.pt", "c.txt")]
    assert torch.equal(torch.load(tmp_path / "b.pt")["x"], torch.ones(2)) and (tmp_path / "c.txt").read_text() == "text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt", "c.txt"]  # no temporary file left


def test_a_failed_atomic_write_keeps_the_old_file_and_is_a_run_error(tmp_path, monkeypatch):
    import errno
    (tmp_path / "b.pt").write_text("old")

    def full(src, dst):
        open(dst, "w").write("part")  # what fitted
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(files.shutil, "copyfile", full)
    with pytest.raises(RunError, match=r"cannot write checkpoint .*b.pt: No space left on device; the previous"):
        files.copy_atomic(tmp_path / "a.pt", tmp_path / "b.pt")
    assert (tmp_path / "b.pt").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["b.pt"]
    with pytest.raises(RunError, match=r"cannot write .*missing/c.txt: No such file or directory$"):
        files.write_text_atomic(tmp_path / "missing" / "c.txt", "text")


def test_a_line_that_does_not_parse_loses_that_record_only(tmp_path):
    p = tmp_path / "eval.jsonl"
    p.write_text('{"epoch": 1}\n{"metric": "fid", "val\n[1, 2]\n\n{"epoch": 2}\n')
    assert files.read_jsonl(p) == [{"epoch": 1}, {"epoch": 2}]
    assert files.read_jsonl(tmp_path / "missing.jsonl") == []
    before = p.stat().st_mtime_ns
    assert files.keep_jsonl(p, lambda r: True) == [{"epoch": 1}, {"epoch": 2}]
    assert [json.loads(x) for x in p.read_text().splitlines()] == [{"epoch": 1}, {"epoch": 2}]  # rewritten whole
    os.utime(p, ns=(before, before))
    files.keep_jsonl(p, lambda r: True)
    assert p.stat().st_mtime_ns == before  # nothing to drop: not rewritten
    assert files.keep_jsonl(p, lambda r: r["epoch"] < 2) == [{"epoch": 1}]
    assert files.read_jsonl(p) == [{"epoch": 1}]
