"""The report folder: tables, figures and index.html."""

import html.parser

import pandas as pd
import pytest

from ml2bench.errors import UserError
from ml2bench.report.html import render_html, write_report
from ml2bench.report.ranking import RULE
from ml2bench.runner.store import ResultsStore


class Collector(html.parser.HTMLParser):
    """Image sources, table rows and text of a page."""

    def __init__(self):
        super().__init__()
        self.images, self.rows, self.text = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag == "tr":
            self.rows += 1

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def store(runs, tmp_path):
    store = ResultsStore(tmp_path / "results")
    for run_id, rows in runs.groupby("run_id"):
        store.write_run(run_id, rows.sort_values("step").to_dict("records"))
    return store


def test_write_report(store, tmp_path):
    out = tmp_path / "report"
    index = write_report(store.root, out)
    assert index == out / "index.html"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["environments.csv", "index.html", "leaderboard.csv", "leaderboard.md",
                     "leaderboard.tex", "profiles", "toy_cls-time_s.png",
                     "toy_cls-work_units.png", "toy_reg-time_s.png", "toy_reg-work_units.png"]
    profiles = ["profile_work_units.png", "profile_time_s.png"]  # no memory profile
    assert sorted(p.name for p in (out / "profiles").iterdir()) == sorted(
        [*profiles, "scores.csv", "scores.md", "scores.tex"])
    page = Collector()
    page.feed(index.read_text(encoding="utf-8"))
    assert page.images == [*(f"profiles/{p}" for p in profiles), "toy_cls-work_units.png",
                           "toy_cls-time_s.png", "toy_reg-work_units.png", "toy_reg-time_s.png"]
    assert all((out / src).is_file() for src in page.images)  # relative paths resolve
    scores = pd.read_csv(out / "profiles" / "scores.csv")
    # summary: header + 2 problems, its scores: header + one per solver; leaderboard:
    # header + 2 problem rows + 5 rows; profile scores again; environments: 1 + 1
    assert page.rows == (1 + 2) + (1 + len(scores)) + (1 + 2 + 5) + (1 + len(scores)) + 1 + 1
    text = index.read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert text.count('<div class="scroll"><table') == text.count("<table")  # all scroll
    assert 'id="environment-warning"' not in text  # one environment
    assert text.index('id="summary"') < text.index('id="leaderboard"')
    assert "\\begin{tabular}" in (out / "leaderboard.tex").read_text()
    assert len(pd.read_csv(out / "leaderboard.csv")) == 5
    assert (out / "leaderboard.md").read_text().splitlines()[1].startswith("|---")
    assert (out / "leaderboard.md").read_text().rstrip().endswith(RULE)


def test_report_includes_flatness(store, runs, tmp_path):
    for run_id in runs["run_id"].unique():
        store.write_flatness(run_id, [{"run_id": run_id, "hess_max": 3.0, "param_norm": 1.5}])
    write_report(store.root, tmp_path / "report", x_axes=())
    table = pd.read_csv(tmp_path / "report" / "flatness.csv")
    assert list(table.columns) == ["problem", "solver", "seeds", "hess_max", "param_norm"]
    assert list(table["hess_max"].fillna(0)) == [3.0, 3.0, 0, 3.0, 3.0]  # 0: all skipped
    assert "‖θ‖" in (tmp_path / "report" / "flatness.md").read_text(encoding="utf-8")
    board = pd.read_csv(tmp_path / "report" / "leaderboard.csv")  # = `ml2bench table`
    assert "hess_max" not in board
    assert 'id="flatness"' in (tmp_path / "report" / "index.html").read_text(encoding="utf-8")


def test_text_is_escaped():
    board = pd.DataFrame({"problem": ["<script>alert(1)</script>"], "solver": ["a&b"],
                          "seeds": [1], "status": ["budget 1"]})
    page = render_html(board, {"<p>": ["x&y.png"]}, "t<i>tle", "/tmp/<dir>")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert page.count("<script>") == 1  # the page's own self-check
    assert "a&amp;b" in page and 'src="x&amp;y.png"' in page and "t&lt;i&gt;tle" in page


def test_empty_results_folder(tmp_path):
    with pytest.raises(UserError, match="no results"):
        write_report(tmp_path / "nothing", tmp_path / "report")
