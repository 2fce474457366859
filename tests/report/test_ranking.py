"""The one ranking rule (:mod:`ml2bench.report.ranking`) in every output, on hand-made
results where the old rule (median WU over the seeds that reached, ignoring how many
did) and the new one (fraction reached first) disagree.

peaks (target test_acc >= 0.9; checkpoints at WU 0, 1, 2, ...)::

    sgd     seeds reach at WU 2, never     → 1/2, median WU 2   (old rule: first)
    adam    seeds reach at WU 5, 5         → 2/2, median WU 5
    nested  seeds reach at WU 4, 4         → 2/2, median WU 4   (new rule: first)
    lbfgs   never, final acc 0.5 / 0.5     → 0/2
    tr      never, final acc 0.7 / 0.7     → 0/2 (better final metric than lbfgs)

New order: nested, adam, sgd, tr, lbfgs.
"""

import json

import numpy as np
import pandas as pd
import pytest

from ml2bench.cli import main
from ml2bench.report.leaderboard import leaderboard
from ml2bench.report.profiles import measure_tables, performance_ratios
from ml2bench.report.ranking import RULE, best_mask, rank_key, rule_note
from ml2bench.runner.store import ResultsStore

PARAMS = json.dumps({"target": 0.9})
NEW_ORDER = ["nested", "adam", "sgd", "tr", "lbfgs"]


def run_rows(solver, seed, hit=None, final=0.1, checkpoints=8, problem="peaks"):
    """One run: ``test_acc`` reaches 0.95 at WU ``hit`` (None: never; ends at ``final``)."""
    last = hit if hit is not None else checkpoints - 1
    rows = [{"run_id": f"{problem}__{solver}__s{seed}", "problem": problem,
             "problem_version": 1, "problem_params": PARAMS, "solver": solver,
             "solver_label": solver, "solver_params": "{}", "seed": seed, "step": k,
             "epoch": float(k), "work_units": float(k), "time_s": 2.0 * k,
             "peak_mem_mb": 100.0, "train_loss": 1.0 / (k + 1),
             "test_acc": 0.95 if hit is not None and k >= hit else (final if k == last else 0.1),
             "status": "ok", "error": ""} for k in range(int(last) + 1)]
    rows[-1]["status"] = "target" if hit is not None else "budget"
    return rows


def hand_results():
    runs = [run_rows("sgd", 0, 2), run_rows("sgd", 1, None, 0.8),
            run_rows("adam", 0, 5), run_rows("adam", 1, 5),
            run_rows("nested", 0, 4), run_rows("nested", 1, 4),
            run_rows("lbfgs", 0, None, 0.5), run_rows("lbfgs", 1, None, 0.5),
            run_rows("tr", 0, None, 0.7), run_rows("tr", 1, None, 0.7)]
    return pd.DataFrame([row for run in runs for row in run]).sample(frac=1.0, random_state=0)


def test_rank_key_orders_fraction_then_wu_then_final_metric():
    assert rank_key(1.0, 5.0, 0.9, True) < rank_key(0.5, 2.0, 0.99, True)
    assert rank_key(1.0, 4.0, 0.9, True) < rank_key(1.0, 5.0, 0.99, True)
    assert rank_key(0.0, np.nan, 0.7, True) < rank_key(0.0, np.nan, 0.5, True)
    assert rank_key(0.0, np.nan, 0.05, False) < rank_key(0.0, np.nan, 0.5, False)
    assert rank_key(0.0, np.nan, 0.5, False) < rank_key(0.0, np.nan, np.nan, False)


def test_leaderboard_ranks_two_of_two_above_a_faster_one_of_two():
    board = leaderboard(hand_results(), rank_columns=True)
    assert board["solver"].tolist() == NEW_ORDER
    assert board["reached"].tolist() == ["2/2", "2/2", "1/2", "0/2", "0/2"]
    best = best_mask(board)
    assert board.loc[best, "solver"].tolist() == ["nested"]


def test_table_command_uses_the_rule_and_states_it(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    for run_id, rows in hand_results().groupby("run_id"):
        store.write_run(run_id, rows.sort_values("step").to_dict("records"))
    assert main(["table", "--out", str(tmp_path), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert pd.read_csv(pd.io.common.StringIO(out))["solver"].tolist() == NEW_ORDER
    assert main(["table", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    rows = [line.split("|")[3].strip() for line in captured.out.splitlines()
            if line.startswith("| peaks")]
    assert rows == NEW_ORDER
    assert captured.out.rstrip().endswith(RULE)
    assert captured.err == ""  # one environment: no warning


def test_profile_costs_follow_the_rule():
    table = measure_tables(hand_results())["work_units"]
    row = table.loc["peaks"]
    # old profile rule: sgd's median over (2, ∞) was ∞ too, but a 2/3 solver at a lower
    # median would have beaten a 3/3 one; now only the best fraction (2/2) is finite
    assert row["nested"] == 4.0 and row["adam"] == 5.0
    assert np.isinf(row[["sgd", "lbfgs", "tr"]]).all()
    assert performance_ratios(table).loc["peaks"].idxmin() == "nested"


def test_profile_gives_a_faster_solver_with_fewer_seeds_infinity():
    """2 of 3 seeds at WU 1 against 3 of 3 at WU 3: the old median over seeds (∞ for
    the misses) gave the 2/3 solver 1 and the 3/3 solver 3, the rule gives it ∞."""
    runs = [run_rows("fast", s, hit) for s, hit in enumerate([1, 1, None])]
    runs += [run_rows("sure", s, 3) for s in range(3)]
    frame = pd.DataFrame([row for run in runs for row in run])
    row = measure_tables(frame)["work_units"].loc["peaks"]
    assert row["sure"] == 3.0 and np.isinf(row["fast"])
    assert leaderboard(frame)["solver"].tolist() == ["sure", "fast"]


def test_rule_note_per_format():
    assert rule_note("md").strip() == RULE
    assert rule_note("latex").startswith("% ")
    assert rule_note("csv") == ""


@pytest.mark.parametrize("column", ["grad_norm_rel"])
def test_the_target_metric_is_a_column(column):
    """A problem whose target is not on its test metric (the quadratic) shows that metric."""
    rows = [{**r, "problem": "quadratic_poisson1d", "run_id": "q" + r["run_id"],
             "test_acc": np.nan, "test_rel_l2": 0.5, column: 1e-9 if r["step"] >= 2 else 1.0,
             "problem_params": json.dumps({"target": 1e-8})}
            for r in run_rows("rmtr", 0, 2)]
    board = leaderboard(pd.DataFrame(rows))
    assert column in board and board[column].iloc[0] == pytest.approx(1e-9)
    assert board["wu_to_target"].iloc[0] == 2.0
