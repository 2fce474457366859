"""Hand-made result frames with known curves for the report tests.

Two problems × solvers × two seeds, checkpoints every 0.5 WU, ``time_s = 3 · WU``,
``epoch = WU``:

``toy_cls`` (classification, target ``test_acc >= 0.9``)

- ``fast`` s0: acc 0.1 0.5 0.92 — stops at WU 1.0 with status ``target``;
  ``fast`` s1: acc 0.1 0.6 0.8 0.91 0.97 — reaches at WU 1.5, ``budget``;
- ``slow`` s0: acc 0.1 0.3 0.5 0.7 0.8 — never, ``budget``;
  ``slow`` s1: acc 0.1 0.4 0.85 0.95 0.93 — reaches at WU 1.5 (then drops), ``budget``;
- ``nested`` s0, s1: one row at WU 0, status ``skipped``.

``toy_reg`` (regression, target ``test_rel_l2 <= 0.1``)

- ``a`` s0: rel 1 0.5 0.2 0.15 0.12 — never, ``budget``;
  ``a`` s1: rel 1 2 NaN, loss ending in inf — ``diverged`` at WU 1.0;
- ``b`` s0: rel 1 0.3 0.08 0.05 0.04 — reaches at WU 1.0;
  ``b`` s1: rel 1 0.2 0.1 0.09 0.05 — reaches at WU 1.0 (equality counts).
"""

import json
import math

import pandas as pd
import pytest

CLS_PARAMS = json.dumps({"target": 0.9, "quick": True})
REG_PARAMS = json.dumps({"target": 0.1})


def run_rows(problem, solver, seed, metric, values, losses=None, final="budget",
             params=CLS_PARAMS, every=0.5):
    """Rows of one run: checkpoint ``k`` at ``k·every`` WU with ``values[k]`` of ``metric``."""
    losses = losses if losses is not None else [2.0 / (1 + k) for k in range(len(values))]
    other = "test_rel_l2" if metric == "test_acc" else "test_acc"
    rows = []
    for k, (value, loss) in enumerate(zip(values, losses)):
        wu = k * every
        rows.append({
            "run_id": f"{problem}__{solver}__s{seed}", "config_hash": "h", "problem": problem,
            "problem_version": 1, "problem_params": params, "solver": solver.split("[")[0],
            "solver_label": solver, "solver_params": "{}", "seed": seed, "step": k,
            "epoch": wu, "work_units": wu, "work_units_parallel": wu, "grad_evals": k,
            "hvp_evals": 0, "time_s": 3.0 * wu, "eval_time_s": 0.0, "peak_mem_mb": 1.0,
            "train_loss": loss, "test_loss": loss, metric: value, other: math.nan,
            "grad_norm": 1.0, "grad_norm_rel": 1.0 / (1 + k), "status": "ok", "error": ""})
    rows[-1]["status"] = final
    if final == "skipped":
        rows[-1]["error"] = "skip: needs >= 2 levels"
    return rows


def synthetic_rows():
    """All rows of the frame described in the module docstring."""
    nan, inf = math.nan, math.inf
    cls = dict(problem="toy_cls", metric="test_acc", params=CLS_PARAMS)
    reg = dict(problem="toy_reg", metric="test_rel_l2", params=REG_PARAMS)
    runs = [
        run_rows(solver="fast", seed=0, values=[0.1, 0.5, 0.92], final="target", **cls),
        run_rows(solver="fast", seed=1, values=[0.1, 0.6, 0.8, 0.91, 0.97], **cls),
        run_rows(solver="slow", seed=0, values=[0.1, 0.3, 0.5, 0.7, 0.8], **cls),
        run_rows(solver="slow", seed=1, values=[0.1, 0.4, 0.85, 0.95, 0.93], **cls),
        run_rows(solver="nested", seed=0, values=[0.1], final="skipped", **cls),
        run_rows(solver="nested", seed=1, values=[0.12], final="skipped", **cls),
        run_rows(solver="a", seed=0, values=[1, 0.5, 0.2, 0.15, 0.12], **reg),
        run_rows(solver="a", seed=1, values=[1, 2, nan], losses=[1.0, 10.0, inf],
                 final="diverged", **reg),
        run_rows(solver="b", seed=0, values=[1, 0.3, 0.08, 0.05, 0.04], **reg),
        run_rows(solver="b", seed=1, values=[1, 0.2, 0.1, 0.09, 0.05], **reg),
    ]
    return [row for run in runs for row in run]


@pytest.fixture
def runs():
    """The synthetic long results frame, rows deliberately shuffled."""
    frame = pd.DataFrame(synthetic_rows())
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.fixture
def make_rows():
    """The :func:`run_rows` builder, for tests that need their own runs."""
    return run_rows
