"""The slow marker: registered in pyproject.toml (with --strict-markers, so a misspelt marker is an error rather
than a test that silently stays in the fast subset), and ``python -m pytest -m "not slow"`` a subset that keeps most
of the suite, not a handful of tests."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MIN_FAST = 300  # tests left in the fast subset (about 910 of about 1,030 when this was written)


def _ini() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]


def test_slow_is_a_registered_marker_and_markers_are_strict():
    markers = {m.partition(":")[0].strip(): m.partition(":")[2].strip() for m in _ini().get("markers", [])}
    assert markers.get("slow"), f"no described 'slow' in [tool.pytest.ini_options] markers: {markers}"
    assert "--strict-markers" in _ini().get("addopts", "").split()


def _whole_suite(config) -> bool:
    """This session collected every test: pytest was started without paths (testpaths) and without --lf."""
    return config.args_source is pytest.Config.ArgsSource.TESTPATHS and not config.getoption("lf", False)


def _counts_by_collecting() -> tuple[int, int]:
    """(tests left by -m "not slow", all tests), from a collection of the whole suite in another process."""
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-m", "not slow", "-p", "no:cacheprovider"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    # "842/1012 tests collected (170 deselected)", "no tests collected (1012 deselected)" or "1012 tests collected",
    # also where some module failed to import ("..., 2 errors in 7.0s")
    m = re.search(r"(\d+|no)(?:/(\d+))? tests? collected(?: \((\d+) deselected\))?", last)
    assert m, (r.returncode, last, r.stderr[-2000:])
    fast = 0 if m[1] == "no" else int(m[1])
    return fast, int(m[2]) if m[2] else fast + int(m[3] or 0)


def test_the_fast_subset_keeps_most_of_the_suite(request, collected):
    if _whole_suite(request.config):  # this session's own collection, before -m deselected the slow tests
        fast, total = sum(not slow for _, slow in collected), len(collected)
    else:  # only some tests were asked for: collect the whole suite
        fast, total = _counts_by_collecting()
    assert fast < total, "nothing is marked slow: -m 'not slow' would run the whole suite"
    assert fast >= MIN_FAST and fast >= total / 2, f"-m 'not slow' keeps only {fast} of {total} tests"
