"""The report's conclusion (:mod:`ml2bench.report.summary`), solver families
(:mod:`ml2bench.report.families`) and the mixed-environment warning box."""

import pandas as pd

from ml2bench.report.families import (BASELINE, DD, MULTILEVEL, OTHER, TRUST_REGION,
                                      family_of, solver_name, solver_styles)
from ml2bench.report.html import write_report
from ml2bench.report.leaderboard import leaderboard
from ml2bench.report.summary import summary_table
from ml2bench.runner.store import ResultsStore
from tests.report.test_ranking import hand_results, run_rows


def test_families_come_from_the_solver_classes():
    assert [family_of(s) for s in ("sgd", "adam", "adamw", "lbfgs", "pgd")] == [BASELINE] * 5
    assert family_of("tr") == TRUST_REGION
    assert [family_of(s) for s in ("rmtr", "mgopt", "nested")] == [MULTILEVEL] * 3
    assert [family_of(s) for s in ("apts_d", "apts_p", "aspqn", "mspqn")] == [DD] * 4
    assert family_of("no_such_solver") == OTHER
    assert solver_name("rmtr[subproblem=lsr1]") == "rmtr"
    assert solver_name("sgd (max_time=5)") == "sgd"


def test_styles_tell_families_apart_without_colour_and_labels_within_a_family_by_colour():
    labels = {name: name for name in ("sgd", "adam", "adamw", "lbfgs", "tr", "rmtr", "mgopt",
                                      "nested", "apts_d", "aspqn")}
    labels["rmtr[subproblem=lsr1]"] = "rmtr"
    styles = solver_styles(labels)
    by_family = {}
    for label, style in styles.items():
        by_family.setdefault(family_of(labels[label]), []).append(style)
    shapes = {f: {(s["linestyle"], s["marker"]) for s in v} for f, v in by_family.items()}
    assert all(len(v) == 1 for v in shapes.values())  # one line style + marker per family
    assert len({next(iter(v)) for v in shapes.values()}) == len(shapes)  # all different
    for styles_of_family in by_family.values():  # within a family: distinct colours
        colours = [s["color"] for s in styles_of_family]
        assert len(set(colours)) == len(colours)
    assert all(s["color"].upper() != "#000000" for s in styles.values())  # black = target
    assert list(styles)[:4] == ["adam", "adamw", "lbfgs", "sgd"]  # family order


def test_summary_names_the_best_and_compares_multilevel_with_single_level():
    table = summary_table(leaderboard(hand_results(), rank_columns=True))
    row = table.iloc[0]
    assert row["best"] == "nested" and row["reached"] == "2/2" and row["WU to target"] == 4.0
    assert row["final"] == "test_acc 0.95"
    text = row["multilevel / DD vs single level"]
    assert text.startswith("yes: nested vs adam, 4 vs 5 WU to target (1.25× fewer)")


def test_summary_when_the_single_level_solver_wins_on_seeds_and_ties():
    runs = [run_rows("rmtr", s, hit) for s, hit in enumerate([1, None])]
    runs += [run_rows("adam", s, 3) for s in range(2)]
    runs += [run_rows("sgd", s, 3) for s in range(2)]
    frame = pd.DataFrame([r for run in runs for r in run])
    row = summary_table(leaderboard(frame, rank_columns=True)).iloc[0]
    assert row["best"] == "adam = sgd"  # a tie under the rule: both named
    assert row["multilevel / DD vs single level"] == (
        "no: rmtr vs adam, target reached on 1/2 vs 2/2 seeds")


def test_report_shows_a_warning_box_for_mixed_environments(tmp_path):
    frame = hand_results()
    frame["cpu_capability"] = frame["seed"].map({0: "AVX2", 1: "AVX512"})
    store = ResultsStore(tmp_path / "results")
    for run_id, rows in frame.groupby("run_id"):
        store.write_run(run_id, rows.sort_values("step").to_dict("records"))
    page = write_report(store.root, tmp_path / "report", x_axes=()).read_text("utf-8")
    box = page.index('id="environment-warning"')
    assert box < page.index('id="summary"')  # at the top
    assert "cpu_capability: AVX2 (5 runs), AVX512 (5 runs)" in page[box:box + 600]
