"""A headless Chromium for the report test: found on PATH, or installed with apt-get when we are root."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# what the fixture runs when Chromium is missing and we are root (Debian/Ubuntu)
CHROMIUM_INSTALL = [["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-dejavu-core"]]


def find_chromium():
    for name in CHROMIUM_NAMES:
        exe = shutil.which(name)
        if exe:
            return exe
    return None


@pytest.fixture(scope="session")
def chromium():
    """The path of a headless-capable Chromium: found on PATH, or installed with apt-get when we are root."""
    exe = find_chromium()
    if exe:
        return exe
    if os.environ.get("GANLAB_NO_BROWSER_INSTALL"):
        pytest.skip("Chromium is not installed and GANLAB_NO_BROWSER_INSTALL is set")
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("Chromium is not installed, and only root can install it here: "
                    "apt-get install -y --no-install-recommends chromium fonts-dejavu-core")
    if not shutil.which("apt-get"):
        pytest.skip("Chromium is not installed and there is no apt-get to install it with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in CHROMIUM_INSTALL:
        try:
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.skip(f"cannot install Chromium ({' '.join(cmd)}: {e})")
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            pytest.skip(f"cannot install Chromium ({' '.join(cmd)} exited {r.returncode}: {' / '.join(tail)})")
    exe = find_chromium()
    if not exe:
        pytest.skip("apt-get installed chromium but no chromium executable is on PATH")
    return exe
