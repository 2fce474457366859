"""The report folder in a real browser: headless Chromium (Debian's ``chromium``).

A tiny real sweep (``digits_cnn`` and ``peaks_resnet`` at quick size, ``adam`` and
``rmtr``, half a work unit, one seed, ``sharp_avg`` flatness) feeds ``ml2bench report``;
Chromium opens ``report/index.html`` from disk and the test checks the DOM after load:
the page renders its sections, the page's self-check says every ``<img>`` loaded
(``naturalWidth > 0``), the leaderboard table holds the numbers of ``ml2bench table
--format csv``, and a screenshot is a non-blank PNG. Skipped, with the reason, where
``chromium`` is not on ``PATH`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import html.parser
import math
import os
import shutil
import subprocess
import tempfile
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from ml2bench.cli import main
from ml2bench.report.tables import header_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not on PATH (Debian: apt-get install chromium; "
    ".ci/run installs it): the report's browser test needs it")

#: Headless, offline, no state shared with other runs (works as root).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000", "--window-size=1280,2000"]
SECTIONS = {"leaderboard": "Leaderboard", "profiles": "Performance profiles",
            "convergence": "Convergence",
            "flatness": "Flatness", "levels": "Per-level diagnostics",
            "environment": "Environment"}


def chromium(page: Path, scratch: Path, *args: str) -> str:
    """Open ``page`` in headless Chromium with ``args``; returns its stdout (the DOM)."""
    profile = Path(tempfile.mkdtemp(dir=scratch))
    env = {**os.environ, "HOME": str(profile), "XDG_CONFIG_HOME": str(profile / "config"),
           "XDG_CACHE_HOME": str(profile / "cache")}
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile / 'data'}", *args,
                           page.as_uri()], capture_output=True, text=True, timeout=90, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


class Page(html.parser.HTMLParser):
    """What the DOM holds: section ids and headings, image sources, tables by id, and
    the text of ``#check``."""

    def __init__(self, text: str):
        super().__init__()
        self.sections, self.headings, self.images = [], [], []
        self.tables: dict[str, list[list[str]]] = {}
        self.check, self._table, self._cell, self._in = "", None, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        elif tag == "img":
            self.images.append(attrs.get("src"))
        elif tag == "table":
            self._table = self.tables.setdefault(attrs.get("id") or f"#{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag in ("h2", "pre"):
            self._in = (tag, attrs.get("id"), [])

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif self._in and tag == self._in[0]:
            text = "".join(self._in[2]).strip()
            if tag == "h2":
                self.headings.append(text)
            elif self._in[1] == "check":
                self.check = text
            self._in = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in is not None:
            self._in[2].append(data)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A tiny real results folder with its report written by ``ml2bench report``."""
    out = tmp_path_factory.mktemp("browser") / "results"
    code = main(["run", "--problem", "digits_cnn[quick=true]", "--problem",
                 "peaks_resnet[quick=true]", "--solver", "adam", "--solver", "rmtr",
                 "--budget", "0.5", "--seeds", "0", "--metrics", "sharp_avg",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    assert main(["report", "--out", str(out)]) == 0
    return out


def same_cell(shown: str, value) -> bool:
    """Whether the text of a page cell shows the CSV value (3 significant digits)."""
    if isinstance(value, float) and math.isnan(value):
        return shown == ""
    if isinstance(value, (int, float)):
        return math.isclose(float(shown), float(value), rel_tol=5e-3, abs_tol=1e-12)
    return shown == str(value)


def test_report_renders_with_every_image_and_the_leaderboard_numbers(results, tmp_path,
                                                                     capsys):
    report = results / "report"
    source = (report / "index.html").read_text(encoding="utf-8")
    assert "http://" not in source and "https://" not in source  # self-contained
    shot = tmp_path / "shot.png"
    page = Page(chromium(report / "index.html", tmp_path, "--dump-dom",
                         f"--screenshot={shot}"))

    assert page.sections == ["leaderboard", "profiles", "convergence", "flatness", "levels",
                             "environment"]
    assert page.headings == list(SECTIONS.values())
    # 3 performance profiles + 2 problems × (work units, time)
    assert sorted(src for src in page.images if src.startswith("profiles/")) == [
        "profiles/profile_peak_mem_mb.png", "profiles/profile_time_s.png",
        "profiles/profile_work_units.png"]
    assert len(page.images) == 7
    assert all(not src.startswith(("/", "file:")) and (report / src).is_file()
               for src in page.images)
    assert page.check == "images 7/7 loaded"  # every <img> has naturalWidth > 0
    scores = page.tables["profiles-scores"]
    assert sorted(r[0] for r in scores[1:]) == ["adam", "rmtr"]

    capsys.readouterr()
    assert main(["table", "--out", str(results), "--format", "csv"]) == 0
    board = pd.read_csv(StringIO(capsys.readouterr().out))
    shown = page.tables["leaderboard-table"]
    assert shown[0] == [header_of(c) for c in board.columns]
    assert len(shown) == 1 + len(board) == 5
    for row, (_, record) in zip(shown[1:], board.iterrows()):
        assert len(row) == len(board.columns)
        for text, column in zip(row, board.columns):
            assert same_cell(text, record[column]), (column, text, record[column])
    assert "skipped: needs >= 2 levels" in [r[-1] for r in shown[1:]]  # rmtr on 1 level

    levels = page.tables["levels-rmtr"]
    assert [r[:2] for r in levels[1:]] == [["peaks_resnet", "0"], ["peaks_resnet", "1"],
                                           ["peaks_resnet", "2"]]
    environment = page.tables["environment-table"]
    assert len(environment) == 2 and environment[1][0] == "E1"
    assert environment[1][environment[0].index("runs")] == "4"
    flatness = page.tables["flatness-table"]
    assert flatness[0] == ["problem", "solver", "seeds", "sharp_avg", "‖θ‖"]

    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pixels.shape[:2] == (2000, 1280) and pixels.std() > 0.01  # not blank


def test_the_self_check_names_a_broken_image(results, tmp_path):
    copy = tmp_path / "report"
    shutil.copytree(results / "report", copy)
    (copy / "digits_cnn-time_s.png").write_bytes(b"not a png")
    page = Page(chromium(copy / "index.html", tmp_path, "--dump-dom"))
    assert page.check == "images 6/7 loaded; broken: digits_cnn-time_s.png"
