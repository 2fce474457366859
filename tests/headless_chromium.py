"""Headless Chromium (Debian's ``chromium``) for the browser tests of the report
(``tests/report/test_report_browser.py``) and of the documentation site
(``tests/docs/test_docs_site.py``). Importable from every test: ``tests/`` is on
``sys.path`` because it holds the root ``conftest.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def needs_chromium(what: str):
    """Skip marker naming why, where ``chromium`` is not on ``PATH``."""
    return pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not on PATH (Debian: apt-get install chromium; "
        f".ci/run installs it): {what} needs it")


#: Headless, offline, no state shared with other runs (works as root).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000", "--window-size=1280,2000"]


def chromium(page: Path | str, scratch: Path, *args: str) -> str:
    """Open ``page`` (a file, or a URL such as ``file:///…/search.html?q=x``) in headless
    Chromium with ``args`` and a fresh profile under ``scratch``; returns its stdout
    (the DOM with ``--dump-dom``)."""
    profile = Path(tempfile.mkdtemp(dir=scratch))
    env = {**os.environ, "HOME": str(profile), "XDG_CONFIG_HOME": str(profile / "config"),
           "XDG_CACHE_HOME": str(profile / "cache")}
    flags = [f for f in FLAGS if not (f.startswith("--window-size=")
                                      and any(a.startswith("--window-size=") for a in args))]
    url = page.as_uri() if isinstance(page, Path) else page
    proc = subprocess.run([CHROMIUM, *flags, f"--user-data-dir={profile / 'data'}", *args, url],
                          capture_output=True, text=True, timeout=90, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout
