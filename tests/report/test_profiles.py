"""Performance profiles and AlgoPerf's integrated score on hand-made results whose
profiles are known (worked out by hand in the comments), and ``ml2bench profile``.

The hand-made table (WU to target; ``∞``: not reached)::

              A     B     C
    toy_a     1     2     ∞  (C skipped)     ratios  1    2    ∞
    toy_b     4     2     ∞  (C never)               2    1    ∞
    toy_c     ∞     3     3                          ∞    1    1
    toy_d     ∞     ∞     ∞  (nobody: dropped)

    ρ_A = 1/3 on [1, 2), 2/3 on [2, ∞)  →  B_A = (1/3·1 + 2/3·2) / 3 = 5/9
    ρ_B = 2/3 on [1, 2), 1   on [2, ∞)  →  B_B = (2/3·1 + 1·2) / 3   = 8/9
    ρ_C = 1/3 on [1, ∞)                 →  B_C = (1/3·3) / 3         = 1/3
"""

import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from ml2bench.cli import main
from ml2bench.report.profiles import (integrated_score, measure_tables, performance_ratios,
                                      profile, profile_taus, score_table)
from ml2bench.runner.store import ResultsStore

INF = math.inf
PNG = b"\x89PNG\r\n\x1a\n"
PARAMS = json.dumps({"target": 0.9})


def hand_table():
    """The table of the module docstring (toy_d: NaN and ∞ both mean failed)."""
    return pd.DataFrame({"A": [1.0, 4.0, INF, INF], "B": [2.0, 2.0, 3.0, INF],
                         "C": [INF, INF, 3.0, np.nan]},
                        index=["toy_a", "toy_b", "toy_c", "toy_d"])


def test_ratios_drop_the_problem_nobody_solved():
    ratios = performance_ratios(hand_table())
    expected = pd.DataFrame({"A": [1.0, 2.0, INF], "B": [2.0, 1.0, 1.0],
                             "C": [INF, INF, 1.0]}, index=["toy_a", "toy_b", "toy_c"])
    pd.testing.assert_frame_equal(ratios, expected)


def test_profile_values_at_given_taus():
    rho = profile(performance_ratios(hand_table()), [1.0, 1.5, 1.999, 2.0, 3.0, 4.0, 100.0])
    third = 1 / 3
    assert rho["A"].tolist() == pytest.approx([third, third, third, 2 * third, 2 * third,
                                               2 * third, 2 * third])
    assert rho["B"].tolist() == pytest.approx([2 * third, 2 * third, 2 * third, 1, 1, 1, 1])
    assert rho["C"].tolist() == pytest.approx([third] * 7)
    assert rho.index.name == "tau"


def test_integrated_score_exact_and_equal_to_a_fine_quadrature():
    ratios = performance_ratios(hand_table())
    scores = integrated_score(ratios)
    assert scores["A"] == pytest.approx(float(Fraction(5, 9)), abs=1e-15)
    assert scores["B"] == pytest.approx(float(Fraction(8, 9)), abs=1e-15)
    assert scores["C"] == pytest.approx(float(Fraction(1, 3)), abs=1e-15)
    # the same integral by a midpoint rule on a fine grid (the step function's
    # jumps cost at most one cell each)
    edges = np.linspace(1.0, 4.0, 30001)
    rho = profile(ratios, (edges[1:] + edges[:-1]) / 2)
    assert (rho.mean().to_numpy() == pytest.approx(scores.to_numpy(), abs=1e-3))


def test_r_max_limits_the_integral():
    ratios = performance_ratios(hand_table())
    # r_max = 2: A counts toy_a on [1, 2] only → (1/3·1)/1; B: toy_b and toy_c → 2/3
    scores = integrated_score(ratios, r_max=2.0)
    assert scores.tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 3])
    assert profile_taus(ratios, 4.0).tolist() == [1.0, 2.0, 4.0]
    for bad in (1.0, 0.5, INF, np.nan):
        with pytest.raises(ValueError, match="r_max"):
            integrated_score(ratios, r_max=bad)


def test_a_best_value_of_zero_and_an_empty_profile():
    ratios = performance_ratios(pd.DataFrame({"A": [0.0], "B": [0.0], "C": [1.0]}))
    assert ratios.iloc[0].tolist() == [1.0, 1.0, INF]
    empty = performance_ratios(pd.DataFrame({"A": [INF], "B": [np.nan]}))
    assert empty.empty and list(empty.columns) == ["A", "B"]
    assert integrated_score(empty).isna().all()
    assert profile(empty, [1.0, 2.0]).isna().all().all()


# --- from a results frame -------------------------------------------------------------

def run_rows(problem, solver, seed, hit=None, mem=100.0, checkpoints=5, status=None):
    """One run: checkpoints at WU 0, 1, 2, ...; ``test_acc`` reaches the target 0.9 at WU
    ``hit`` (None: never); ``time_s = 2 · WU``; ``peak_mem_mb = mem`` on the last row."""
    last = hit if hit is not None else checkpoints - 1
    rows = []
    for k in range(int(last) + 1):
        rows.append({"run_id": f"{problem}__{solver}__s{seed}", "problem": problem,
                     "problem_version": 1, "problem_params": PARAMS, "solver": solver,
                     "solver_label": solver, "solver_params": "{}", "seed": seed, "step": k,
                     "epoch": float(k), "work_units": float(k), "time_s": 2.0 * k,
                     "peak_mem_mb": mem * (k + 1) / (last + 1), "train_loss": 1.0 / (k + 1),
                     "test_acc": 0.95 if hit is not None and k >= hit else 0.1,
                     "status": "ok", "error": ""})
    rows[-1]["status"] = status or ("target" if hit is not None else "budget")
    return rows


def skipped_rows(problem, solver, seed):
    return [{**run_rows(problem, solver, seed, checkpoints=1)[0], "peak_mem_mb": 0.0,
             "status": "skipped", "error": "skip: needs >= 2 levels"}]


def hand_results():
    """Runs whose costs under the ranking rule give :func:`hand_table` (WU; time = 2 · WU)."""
    runs = [
        # toy_a: A 1 (seeds 1, 1), B 2, C skipped
        *(run_rows("toy_a", "A", s, hit) for s, hit in enumerate([1, 1])),
        run_rows("toy_a", "B", 0, 2, mem=200),
        *(skipped_rows("toy_a", "C", s) for s in range(2)),
        # toy_b: A 4, B median of 1, 2, 3 = 2, C never (one seed diverged)
        run_rows("toy_b", "A", 0, 4),
        *(run_rows("toy_b", "B", s, hit, mem=200) for s, hit in enumerate([3, 1, 2])),
        run_rows("toy_b", "C", 0, mem=400),
        run_rows("toy_b", "C", 1, mem=400, checkpoints=2, status="diverged"),
        # toy_c: A reaches in one seed of three (B and C in all): ∞; B 3, C 3
        *(run_rows("toy_c", "A", s, hit) for s, hit in enumerate([3, None, None])),
        run_rows("toy_c", "B", 0, 3, mem=200), run_rows("toy_c", "C", 0, 3, mem=400),
        # toy_d: nobody reaches
        *(run_rows("toy_d", s, 0, mem=m) for s, m in (("A", 100), ("B", 200), ("C", 400))),
    ]
    return pd.DataFrame([row for run in runs for row in run]).sample(frac=1.0, random_state=1)


def test_measure_tables_are_medians_over_seeds_with_failures_infinite():
    tables = measure_tables(hand_results())
    expected = hand_table().fillna(INF)
    expected.index.name, expected.columns.name = "problem", "solver"
    pd.testing.assert_frame_equal(tables["work_units"], expected)
    pd.testing.assert_frame_equal(tables["time_s"], 2.0 * expected)
    assert set(tables) == {"work_units", "time_s"}  # no memory profile (see profiles.py)


def test_score_table_ranks_solvers_and_counts_solved_problems():
    scores = score_table(measure_tables(hand_results()))
    assert scores["solver"].tolist() == ["B", "A", "C"]
    assert scores["score_work_units"].tolist() == pytest.approx([8 / 9, 5 / 9, 1 / 3])
    assert scores["score_time_s"].tolist() == pytest.approx([8 / 9, 5 / 9, 1 / 3])
    assert scores["solved"].tolist() == ["3/4", "2/4", "1/4"]
    rho = profile(performance_ratios(measure_tables(hand_results())["work_units"]), [2.0])
    assert rho["A"].iloc[0] == pytest.approx(2 / 3)  # a ratio of τ is inside ρ(τ)


def test_empty_results():
    tables = measure_tables(pd.DataFrame())
    assert all(t.empty for t in tables.values())
    assert score_table(tables).empty


# --- the command ------------------------------------------------------------------------

def write_store(root, frame):
    store = ResultsStore(root)
    for run_id, rows in frame.groupby("run_id"):
        store.write_run(run_id, rows.sort_values("step").to_dict("records"))
    return store


def test_profile_command_on_hand_made_results(capsys, tmp_path):
    write_store(tmp_path, hand_results())
    assert main(["profile", "--out", str(tmp_path), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(pd.io.common.StringIO(captured.out))
    assert table["solver"].tolist() == ["B", "A", "C"]
    assert table["score_work_units"].tolist() == pytest.approx([8 / 9, 5 / 9, 1 / 3])
    assert "WU to target: 3 problems (1 dropped: no solver reached the target)" in captured.err
    folder = tmp_path / "profiles"
    for name in ("work_units", "time_s"):
        assert (folder / f"profile_{name}.png").read_bytes()[:8] == PNG
    assert not (folder / "profile_peak_mem_mb.png").exists()
    assert "| B | 0.889 | 0.889 | 3/4 |" in (folder / "scores.md").read_text("utf-8")
    ratios = pd.read_csv(folder / "ratios.csv")
    assert set(ratios["measure"]) == {"work_units", "time_s"}
    assert ratios.query("measure == 'work_units' and problem == 'toy_d'")["ratio"].isna().all()


def test_profile_command_on_a_real_sweep(capsys, tmp_path):
    code = main(["run", "--problem", "digits_cnn[quick=true]", "--solver", "adam",
                 "--solver", "sgd", "--seeds", "0", "--budget", "6", "--out", str(tmp_path),
                 "--no-progress"])
    assert code == 0
    capsys.readouterr()
    assert main(["profile", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("| solver | B (WU to target) |")
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()[2:] if line}
    assert set(rows) == {"adam", "sgd"}
    assert any("| 1 |" in row for row in rows.values())  # the best solver on the one problem
    for name in ("work_units", "time_s"):
        assert (tmp_path / "profiles" / f"profile_{name}.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize("argv, needle", [([], "no results in"),
                                          (["--r-max", "1"], "--r-max must be")])
def test_profile_bad_input_is_one_line(capsys, tmp_path, argv, needle):
    code = main(["profile", "--out", str(tmp_path / "nothing"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ml2bench: error: ") and needle in lines[0]
    assert not (tmp_path / "nothing").exists()
