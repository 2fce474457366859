"""The report folder in a real browser: headless Chromium (Debian's ``chromium``).

A tiny real sweep (``digits_cnn`` and ``peaks_resnet`` at quick size, ``adam`` and
``mgopt``, one work unit, one seed, ``sharp_avg`` flatness) feeds ``ml2bench report``;
Chromium opens ``report/index.html`` from disk and the test checks the DOM after load:
the page renders its sections, the page's self-check says every ``<img>`` loaded
(``naturalWidth > 0``), the leaderboard table holds the numbers of ``ml2bench table
--format csv``, and a screenshot is a non-blank PNG. Skipped, with the reason, where
``chromium`` is not on ``PATH`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import html.parser
import math
import shutil
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from ml2bench.cli import main
from ml2bench.report.tables import header_of

from headless_chromium import chromium, needs_chromium  # tests/ is on sys.path (conftest)

pytestmark = needs_chromium("the report's browser test")
SECTIONS = {"summary": "Summary", "leaderboard": "Leaderboard",
            "profiles": "Performance profiles",
            "convergence": "Convergence",
            "flatness": "Flatness", "levels": "Per-level diagnostics",
            "environment": "Environment"}


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
                 "peaks_resnet[quick=true]", "--solver", "adam", "--solver", "mgopt",
                 "--budget", "1", "--seeds", "0", "--metrics", "sharp_avg",
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

    assert page.sections == list(SECTIONS)
    assert page.headings == list(SECTIONS.values())
    # 2 performance profiles (no memory profile) + 2 problems × (work units, time)
    assert sorted(src for src in page.images if src.startswith("profiles/")) == [
        "profiles/profile_time_s.png", "profiles/profile_work_units.png"]
    assert len(page.images) == 6
    assert all(not src.startswith(("/", "file:")) and (report / src).is_file()
               for src in page.images)
    assert page.check == "images 6/6 loaded"  # every <img> has naturalWidth > 0
    scores = page.tables["profiles-scores"]
    assert sorted(r[0] for r in scores[1:]) == ["adam", "mgopt"]
    summary = page.tables["summary-table"]
    assert [r[0] for r in summary[1:]] == ["digits_cnn", "peaks_resnet"]

    capsys.readouterr()
    assert main(["table", "--out", str(results), "--format", "csv"]) == 0
    board = pd.read_csv(StringIO(capsys.readouterr().out))
    shown = page.tables["leaderboard-table"]
    columns = [c for c in board.columns if c not in ("problem", "target")]
    assert shown[0] == [header_of(c) for c in columns]
    # grouped: one row naming problem and target per problem, then its solvers
    groups = [r[0] for r in shown[1:] if len(r) == 1]
    assert groups == [f"{p} · target: {t}" for p, t in
                      board[["problem", "target"]].drop_duplicates().itertuples(index=False)]
    rows = [r for r in shown[1:] if len(r) > 1]
    assert len(rows) == len(board) == 4
    for row, (_, record) in zip(rows, board.iterrows()):
        assert len(row) == len(columns)
        for text, column in zip(row, columns):
            assert same_cell(text, record[column]), (column, text, record[column])
    assert "skipped: needs >= 2 levels" in [r[-1] for r in rows]  # mgopt on 1 level

    levels = page.tables["levels-mgopt"]  # a cycle fits in 1 WU (an RMTR cycle does not)
    assert [r[:2] for r in levels[1:]] == [["peaks_resnet", "1"], ["peaks_resnet", "2"]]
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
    assert page.check == "images 5/6 loaded; broken: digits_cnn-time_s.png"


#: Measures the layout after load (test only, injected into a copy of the page): page
#: width against the viewport, every table inside a scroll box that reaches its end,
#: images loaded and no wider than the screen, where the summary sits.
LAYOUT = """<script>
window.addEventListener("load", function () {
  var width = window.innerWidth, out = [];
  out.push("viewport " + width + " page " + document.documentElement.scrollWidth);
  var tables = document.getElementsByTagName("table"), bad = [];
  for (var i = 0; i < tables.length; i++) {
    var box = tables[i].parentElement, style = getComputedStyle(box);
    var ok = box.className == "scroll" && style.overflowX == "auto"
      && box.getBoundingClientRect().right <= width + 1
      && box.scrollWidth >= tables[i].offsetWidth;
    if (!ok) { bad.push(tables[i].id || ("#" + i)); }
  }
  out.push("tables " + (tables.length - bad.length) + "/" + tables.length + " ok"
           + (bad.length ? " bad: " + bad.join(",") : ""));
  var images = document.images, wide = 0, loaded = 0;
  for (var j = 0; j < images.length; j++) {
    if (images[j].naturalWidth > 0) { loaded++; }
    if (images[j].getBoundingClientRect().width > width + 1) { wide++; }
  }
  out.push("images " + loaded + "/" + images.length + " loaded, " + wide + " wider");
  var summary = document.getElementById("summary-table").getBoundingClientRect();
  out.push("summary " + Math.round(summary.top) + " " + Math.round(summary.bottom));
  var board = document.getElementById("leaderboard").getBoundingClientRect();
  out.push("leaderboard " + Math.round(board.top));
  document.getElementById("check").textContent = out.join("; ");
  window.parent.postMessage(out.join("; "), "*");
});
</script>"""
#: A page that shows the report in a frame of a given size (headless Chromium's window is
#: at least 500 px wide, so a phone's 390 px viewport is a frame's) and copies what
#: :data:`LAYOUT` measured inside it into its own ``#check``.
FRAME = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe src="index.html" style="width:{width}px;height:{height}px;border:0"></iframe>
<pre id="check"></pre>
<script>window.addEventListener("message", function (event) {{
  document.getElementById("check").textContent = event.data; }});</script>
</body></html>"""


def layout(results: Path, scratch: Path, width: int, height: int) -> dict[str, list[str]]:
    """Open a copy of the report with :data:`LAYOUT` in a ``width`` × ``height`` frame
    (:data:`FRAME`); the measurements by name (``viewport``, ``tables``, ``images``,
    ``summary``, ``leaderboard``)."""
    copy = scratch / f"report-{width}"
    shutil.copytree(results / "report", copy)
    index = copy / "index.html"
    index.write_text(index.read_text("utf-8").replace("</body>", LAYOUT + "</body>"), "utf-8")
    frame = copy / "frame.html"
    frame.write_text(FRAME.format(width=width, height=height), "utf-8")
    dom = chromium(frame, scratch, "--dump-dom",
                   f"--window-size={max(width, 500) + 20},{height + 100}")
    text = Page(dom).check
    return {part.split(" ")[0]: part.split(" ")[1:] for part in text.split("; ")}


def test_phone_width_scrolls_tables_and_scales_images(results, tmp_path):
    """390 px (a phone): the page is no wider than the screen, so nothing is cut off;
    every table scrolls sideways inside its own box to its last column; every image
    loads and fits the width."""
    found = layout(results, tmp_path, 390, 844)
    viewport, page = int(found["viewport"][0]), int(found["viewport"][2])
    assert viewport == 390 and page <= viewport, found
    assert found["tables"][1] == "ok" and "bad:" not in found["tables"], found
    ok, total = found["tables"][0].split("/")
    assert ok == total and int(total) >= 5
    assert found["images"][:4] == ["6/6", "loaded,", "0", "wider"], found


def test_first_screen_shows_the_summary(results, tmp_path):
    """1400 × 900: the summary table is on the first screen, above the leaderboard."""
    found = layout(results, tmp_path, 1400, 900)
    top, bottom = map(int, found["summary"])
    assert 0 < top < bottom <= 900, found
    assert int(found["leaderboard"][0]) > bottom
