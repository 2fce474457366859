"""The multilevel speedup study: like-for-like pairing, speedup arithmetic, final line."""

import math
import re

import pytest

from ml2bench.errors import UserError
from ml2bench.solvers.registry import make_solver
from ml2bench.studies import multilevel_speedup as study
from ml2bench.studies.multilevel_speedup import (PAIRS, Cell, Ratio, baseline_speedups,
                                                 final_line, make_cell, pair_speedups,
                                                 wu_ratio)
from ml2bench.testing import bind, run_steps


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.name)
@pytest.mark.parametrize("batch_size", [64, 250])
def test_pair_members_differ_only_in_levels(pair, batch_size):
    single, multi = pair.single.labels(batch_size), pair.multi.labels(batch_size)
    assert len(single) == len(multi) == 3
    for a, b in zip(single, multi):
        sa, sb = make_solver(a), make_solver(b)
        assert sa.name == sb.name
        ha, hb = dict(sa.hparams), dict(sb.hparams)
        assert ha.pop("levels") == 1 and hb.pop("levels") is None
        assert ha == hb
        if "batch_size" in dict(pair.multi.fixed):
            assert ha["batch_size"] == batch_size


def test_same_tuning_grid_for_both_members_and_the_baselines():
    for pair in PAIRS:
        values = [make_solver(l).hparams[pair.multi.knob] for l in pair.single.labels(64)]
        assert values == [make_solver(l).hparams[pair.multi.knob] for l in pair.multi.labels(64)]
        assert values == [float(f"{pair.multi.default * f:.3g}") for f in study.FACTORS]
    assert [e.name for e in study.baselines()][0] == "rmtr"


def test_rmtr_cauchy_subproblem():
    assert make_solver("rmtr[subproblem=cauchy]").hparams["subproblem"] == "cauchy"
    with pytest.raises(UserError):
        make_solver("rmtr[subproblem=cauchy,region=box]")


def test_one_level_rmtr_is_tr_at_full_batch():
    """Full batch, ``coarse_steps=1``: ``rmtr[levels=1]`` takes ``tr``'s steps."""
    problem = "quadratic_poisson1d[n=63,levels=3]"
    _, tr, _ = bind(problem, "tr[subproblem=cauchy]")
    _, rmtr, _ = bind(problem, "rmtr[levels=1,coarse_steps=1,subproblem=cauchy]")
    a, b = run_steps(tr, 6), run_steps(rmtr, 6)
    assert [i["batch_loss"] for i in a] == pytest.approx([i["batch_loss"] for i in b], rel=1e-12)
    assert [i["radius"] for i in a] == [i["radius"] for i in b]


def summary(wu, final_wu, metric="test_acc", best=0.5):
    reached = math.isfinite(wu)
    return {"reached": reached, "wu": wu, "time": 1.0 if reached else math.inf,
            "best": best, "metric": metric, "final_wu": final_wu,
            "status": "target" if reached else "budget"}


def test_cell_median_and_censoring():
    cell = make_cell([summary(4.0, 4.0), summary(6.0, 6.0), summary(math.inf, 15.0)])
    assert cell.wu == 6.0 and cell.budget == 15.0 and cell.reached == 2 and cell.runs == 3
    assert not cell.censored
    two = make_cell([summary(4.0, 4.0), summary(math.inf, 15.2)])
    assert two.censored and two.budget == 15.2 and two.reached == 1


def test_ratio_bounds():
    exact, low, high = Cell(10.0, 10.0), Cell(math.inf, 15.0), Cell(math.inf, 30.0)
    assert wu_ratio(exact, Cell(4.0, 4.0)) == Ratio(2.5, "")
    assert wu_ratio(low, Cell(5.0, 5.0)) == Ratio(3.0, "≥")
    assert wu_ratio(Cell(6.0, 6.0), high) == Ratio(0.2, "≤")
    assert wu_ratio(low, high) is None
    assert str(Ratio(3.0, "≥")) == "≥3"


def test_pair_speedups_geometric_means_on_hand_made_cells():
    problems = ("p", "q", "r")
    a, b = PAIRS[0], PAIRS[3]
    cells = {
        ("p", a.single.name): Cell(8.0, 8.0), ("p", a.multi.name): Cell(2.0, 2.0),   # 4
        ("q", a.single.name): Cell(math.inf, 15.0), ("q", a.multi.name): Cell(15.0, 15.0),  # ≥1
        ("r", a.single.name): Cell(math.inf, 9.0), ("r", a.multi.name): Cell(math.inf, 9.0),
        ("p", b.single.name): Cell(1.0, 1.0), ("p", b.multi.name): Cell(2.0, 2.0),   # 0.5
        ("q", b.single.name): Cell(3.0, 3.0), ("q", b.multi.name): Cell(math.inf, 12.0),  # ≤0.25
        ("r", b.single.name): Cell(16.0, 16.0), ("r", b.multi.name): Cell(2.0, 2.0),  # 8
    }
    result = pair_speedups(cells, (a, b), problems)
    assert result["per_problem"][a.name]["r"] is None
    assert result["per_problem"][a.name]["q"] == Ratio(1.0, "≥")
    assert result["per_problem"][b.name]["q"] == Ratio(0.25, "≤")
    assert result["per_pair"][a.name] == pytest.approx(2.0)            # √(4·1)
    assert result["per_pair"][b.name] == pytest.approx(1.0)            # ∛(0.5·0.25·8)
    # over all five pair × problem ratios, not the mean of the two pair means
    assert result["overall"] == pytest.approx((4 * 1 * 0.5 * 0.25 * 8) ** (1 / 5))
    empty = pair_speedups({k: Cell(math.inf, 1.0) for k in cells}, (a, b), problems)
    assert math.isnan(empty["overall"]) and math.isnan(empty["per_pair"][a.name])


def test_baseline_speedups():
    cells = {("p", "rmtr"): Cell(5.0, 5.0), ("p", "tr"): Cell(10.0, 10.0),
             ("q", "rmtr"): Cell(math.inf, 20.0), ("q", "tr"): Cell(5.0, 5.0)}
    result = baseline_speedups(cells, ["tr"], "rmtr", ("p", "q"))
    assert result["tr"]["per_problem"]["q"] == Ratio(0.25, "≤")
    assert result["tr"]["mean"] == pytest.approx(math.sqrt(2.0 * 0.25))


def test_final_line_format():
    line = final_line({"speedup_wu_tr": 0.4789, "speedup_wu_adam": 0.39312,
                       "speedup_wu_like_for_like": float("nan")})
    assert line == "speedup_wu_tr=0.479 speedup_wu_adam=0.393 speedup_wu_like_for_like=nan"
    pattern = r"speedup_wu_tr=\S+ speedup_wu_adam=\S+ speedup_wu_like_for_like=\S+"
    assert re.fullmatch(pattern, final_line({"speedup_wu_tr": 1.0, "speedup_wu_adam": 2.0,
                                             "speedup_wu_like_for_like": 3.0}))


def test_bad_scale(tmp_path):
    with pytest.raises(ValueError):
        study.run_study("medium", tmp_path)


def test_control_pairs_stay_out_of_the_overall_mean():
    control = next(p for p in PAIRS if p.control)
    plain = next(p for p in PAIRS if not p.control)
    cells = {("p", plain.single.name): Cell(4.0, 4.0), ("p", plain.multi.name): Cell(2.0, 2.0),
             ("p", control.single.name): Cell(1.0, 1.0),
             ("p", control.multi.name): Cell(8.0, 8.0)}
    result = pair_speedups(cells, (plain, control), ("p",))
    assert result["per_pair"][control.name] == pytest.approx(0.125)
    assert result["overall"] == pytest.approx(2.0)
