"""Mesh independence on ``quadratic_poisson1d``: multilevel cycles do not grow with n.

RMTR (``rmtr[levels=4]``, defaults, and with ``region=prolongated`` and ``region=box``)
and MG/OPT reach ``‖g‖ ≤ 1e-8‖g₀‖`` in a number of
cycles that stays within +2 of the count at n = 63 for n = 63, 127, 255, 511, while the
single-level ``tr`` (CG capped at ``cg_max_iter = 10`` Hessian-vector products per step)
and ``lbfgs`` need visibly more steps as n grows (λ_max = 4/h² grows like n²).

MG/OPT is run as ``mgopt[levels=4,smoother=lbfgs,coarse_steps=20]``: L-BFGS with a
line search is scale invariant (SGD/Adam step sizes are not: they would have to shrink
like h²), and with a fixed number of levels the coarsest grid grows with n (63 unknowns
at n = 511), so it needs enough smoothing steps to be solved accurately — as in
classical multigrid, where the coarsest problem is solved (nearly) exactly. RMTR's
default does the same through its coarsest-level CG (``coarse_cg_max_iter = None``: up
to the level's number of unknowns per TR step).
"""

import glob

import pandas as pd
import pytest

from ml2bench.runner.sweep import expand, run_sweep
from ml2bench.testing import bind

SIZES = (63, 127, 255, 511)
TOL = 1e-8


def steps_to_tolerance(n: int, label: str, cap: int) -> tuple[int, float]:
    """Solver steps until ``‖g‖ ≤ TOL‖g₀‖`` (``cap + 1`` if not within ``cap``) and the WU."""
    task, solver, ledger = bind(f"quadratic_poisson1d[n={n}]", label)
    g0 = task.evaluate()["grad_norm"]
    for step in range(1, cap + 1):
        solver.step()
        if task.evaluate()["grad_norm"] <= TOL * g0:
            return step, ledger.work_units
    return cap + 1, ledger.work_units


@pytest.mark.parametrize("label", ["rmtr[levels=4]", "rmtr[levels=4,region=prolongated]",
                                   "rmtr[levels=4,region=box]",
                                   "mgopt[levels=4,smoother=lbfgs,coarse_steps=20]"])
def test_multilevel_cycles_do_not_grow_with_n(label):
    results = {n: steps_to_tolerance(n, label, cap=30) for n in SIZES}
    cycles = {n: steps for n, (steps, _) in results.items()}
    assert all(steps <= 12 for steps in cycles.values()), cycles
    assert max(cycles.values()) <= cycles[63] + 2, cycles
    # within the problem's default budget of 200 WU (what `ml2bench run` enforces)
    assert all(wu <= 200.0 for _, wu in results.values()), results


def test_single_level_trust_region_needs_visibly_more_steps_as_n_grows():
    cap = 200
    steps = {n: steps_to_tolerance(n, "tr", cap)[0] for n in SIZES}
    assert steps[63] <= cap  # converges on the coarsest mesh ...
    assert all(a <= b for a, b in zip(steps.values(), list(steps.values())[1:])), steps
    assert steps[127] > cap and steps[511] > steps[63] + 50, steps  # ... not on finer ones


def test_single_level_lbfgs_needs_visibly_more_steps_as_n_grows():
    steps = {n: steps_to_tolerance(n, "lbfgs", cap=400)[0] for n in SIZES}
    assert all(a < b for a, b in zip(steps.values(), list(steps.values())[1:])), steps
    assert steps[511] >= 3 * steps[63], steps


def test_runner_reports_mesh_independent_rmtr_and_not_tr(tmp_path):
    """What `ml2bench run --problem 'quadratic_poisson1d[n=N]' --solver ...` records."""
    # the tolerance of the mesh-independence claim, not the calibrated leaderboard target
    problems = [f"quadratic_poisson1d[n=63,target={TOL}]",
                f"quadratic_poisson1d[n=511,target={TOL}]"]
    run_sweep(expand(problems, ["rmtr[levels=4]", "tr"], [0]), str(tmp_path), progress=False)
    first = {}
    for path in glob.glob(str(tmp_path / "runs" / "*.parquet")):
        rows = pd.read_parquet(path)
        reached = rows[rows["grad_norm_rel"] <= TOL]
        key = (rows["solver"].iloc[0], rows["problem_params"].iloc[0].count("511") > 0)
        first[key] = int(reached["step"].min()) if len(reached) else None
    assert first[("rmtr", False)] is not None and first[("rmtr", True)] is not None
    assert abs(first[("rmtr", True)] - first[("rmtr", False)]) <= 2, first
    assert first[("tr", False)] is None and first[("tr", True)] is None, first
