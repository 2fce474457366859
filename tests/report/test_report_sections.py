"""Report sections beyond the leaderboard: per-level diagnostics, environments, profiles."""

import math

import pandas as pd
import pytest

from ml2bench.report.environment import environments
from ml2bench.report.html import profiles_section, write_report
from ml2bench.report.levels import level_tables
from ml2bench.runner.store import ResultsStore

ENV = {"ml2bench_version": "0.1.0", "git_commit": "abc123", "torch_version": "2.0",
       "device": "cpu", "device_name": "cpu", "num_threads": 1, "hostname": "box"}


def rmtr_rows(run_id, seed, cycles, problem="toy", status="budget"):
    """An ``rmtr`` run: a row at step 0 without diagnostics, then one per cycle."""
    rows = [{"run_id": run_id, "problem": problem, "problem_params": "{}", "solver": "rmtr",
             "solver_label": "rmtr", "seed": seed, "step": 0, "status": "ok",
             "started_at": f"2026-01-0{seed + 1}T00:00:00", **ENV}]
    for step, (d0, c1, d1, rho) in enumerate(cycles, start=1):
        rows.append({**rows[0], "step": step, "info_decrease_l0": d0,
                     "info_correction_decrease_l1": c1, "info_decrease_l1": d1,
                     "info_coarse_rho_l1": rho, "info_coarse_accepted_l1": float(rho > 0.1)})
    rows[-1]["status"] = status
    return rows


@pytest.fixture
def frame():
    adam = {"run_id": "toy_adam", "problem": "toy", "problem_params": "{}", "solver": "adam",
            "solver_label": "adam", "seed": 0, "step": 0, "status": "budget",
            "info_lr": 0.1, "started_at": "2026-01-03T00:00:00", **ENV, "hostname": "other"}
    rows = rmtr_rows("toy_rmtr_s0", 0, [(3.0, 1.0, 0.5, 0.9), (1.0, 1.0, 0.2, 0.05)])
    rows += rmtr_rows("toy_rmtr_s1", 1, [(2.0, 2.0, 0.1, 0.5)])
    rows += rmtr_rows("toy_rmtr_skip", 2, [(9.0, 9.0, 9.0, 9.0)], problem="other",
                      status="skipped")
    return pd.DataFrame(rows + [adam])


def test_level_tables_median_over_cycles_of_all_seeds(frame):
    tables = level_tables(frame)
    assert list(tables) == ["rmtr"]  # adam has no per-level columns; skipped runs left out
    table = tables["rmtr"].set_index("level")
    assert list(table["problem"]) == ["toy", "toy"] and list(table["cycles"]) == [3, 3]
    assert table.loc[0, "smoothing decrease"] == 2.0  # median of 3, 1, 2
    assert table.loc[1, "coarse ρ"] == 0.5 and table.loc[1, "coarse accepted"] == 1.0
    # coarse share of level 1: c1 / (d0 + c1) per cycle = 0.25, 0.5, 0.5
    assert table.loc[1, "coarse share"] == 0.5
    assert math.isnan(table.loc[0, "coarse share"])


def test_environments_group_runs_and_name_them(frame):
    table = environments(frame)
    assert list(table["environment"]) == ["E1", "E2"]
    first, second = table.iloc[0], table.iloc[1]
    assert first["host"] == "box" and first["runs"] == 3 and first["git commit"] == "abc123"
    assert first["started"] == "2026-01-01T00:00:00 – 2026-01-03T00:00:00"
    assert "toy · rmtr (2 runs)" in first["used by"]
    assert "other · rmtr (1 run)" in first["used by"]
    assert second["host"] == "other" and second["used by"] == "toy · adam (1 run)"


def test_environments_of_older_results_without_the_columns():
    table = environments(pd.DataFrame({"run_id": ["a"], "problem": ["p"], "solver_label": ["s"],
                                       "step": [0]}))
    assert table.iloc[0]["host"] == "—" and table.iloc[0]["started"] == "—"


def test_profiles_section_is_computed_from_the_runs(frame, tmp_path):
    out = tmp_path / "report"
    assert profiles_section(frame.iloc[:0], out) is None  # no runs: no scores, no section
    runs = frame.assign(work_units=frame["step"], time_s=frame["step"], train_loss=1.0,
                        peak_mem_mb=100.0)
    section = profiles_section(runs, out)
    assert section.anchor == "profiles"
    pngs = sorted(p.name for p in (out / "profiles").glob("*.png"))
    assert pngs == ["profile_time_s.png", "profile_work_units.png"]  # no memory profile
    assert all(f'src="profiles/{name}"' in section.body for name in pngs)
    scores = pd.read_csv(out / "profiles" / "scores.csv")
    assert all(f"<td>{solver}</td>" in section.body for solver in scores["solver"])


def test_report_has_levels_and_environment_sections(frame, tmp_path):
    store = ResultsStore(tmp_path / "results")
    for run_id, rows in frame.groupby("run_id"):
        store.write_run(run_id, rows.assign(work_units=rows["step"], time_s=rows["step"],
                                            train_loss=1.0).to_dict("records"))
    page = write_report(store.root, tmp_path / "report", x_axes=()).read_text(encoding="utf-8")
    order = [page.index(f'<section id="{s}">') for s in
             ("summary", "leaderboard", "profiles", "convergence", "levels", "environment")]
    assert order == sorted(order) and '<section id="flatness">' not in page
    levels = pd.read_csv(tmp_path / "report" / "levels.csv")
    assert list(levels["solver"]) == ["rmtr", "rmtr"]
    assert len(pd.read_csv(tmp_path / "report" / "environments.csv")) == 2


def test_coarse_share_needs_the_smoothing_decrease():
    """``mgopt`` logs no smoothing decrease: its coarse share is missing, not 1."""
    rows = pd.DataFrame({"run_id": ["m", "m"], "problem": ["toy"] * 2,
                         "solver_label": ["mgopt"] * 2,
                         "step": [0, 1], "status": ["ok", "budget"],
                         "info_correction_decrease_l1": [math.nan, 0.5],
                         "info_alpha_l1": [math.nan, 1.0]})
    table = level_tables(rows)["mgopt"]
    assert list(table.columns) == ["problem", "level", "cycles", "correction decrease", "α"]
    assert table.iloc[0]["cycles"] == 1 and table.iloc[0]["α"] == 1.0
