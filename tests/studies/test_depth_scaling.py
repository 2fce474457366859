"""The depth-scaling study's reductions: exponent fit, censoring, levels, labels, last line."""

import math
import re

import pytest
import torch

from ml2bench.models import ode_time
from ml2bench.models.ode_time import time_derivative_penalty
from ml2bench.problems.registry import resolve_problem
from ml2bench.studies import depth_scaling as ds

DEPTHS = (17, 33, 65, 129, 257)


@pytest.mark.parametrize("p", [-0.5, 0.0, 1.0, 2.3])
def test_fit_recovers_the_exponent_of_a_power_law(p):
    wu = [3.7 * k ** p for k in DEPTHS]
    fitted, flag = ds.fit_exponent(DEPTHS, wu, [True] * len(DEPTHS))
    assert fitted == pytest.approx(p, abs=1e-12)
    assert flag == ""


def test_censored_deep_points_make_a_lower_bound():
    true = [2.0 * k ** 1.5 for k in DEPTHS]
    budget = true[2] * 0.9  # the three deepest runs stop at the budget before f*
    wu = [w if w <= budget else budget for w in true]
    reached = [w <= budget for w in true]
    fitted, flag = ds.fit_exponent(DEPTHS, wu, reached)
    assert flag == "≥"
    assert fitted < 1.5


def test_other_censoring_patterns():
    fitted, flag = ds.fit_exponent(DEPTHS, [50, 10, 10, 12, 13], [False, True, True, True, True])
    assert flag == "mixed" and math.isfinite(fitted)
    fitted, flag = ds.fit_exponent(DEPTHS, [60] * 5, [False] * 5)
    assert flag == "none" and math.isnan(fitted)
    assert ds.combine([1.0, 2.0, math.nan], ["", "≥", "none"]) == (1.5, 1.0, 2.0, "≥")


def test_wu_to_target_first_row_or_censored():
    assert ds.wu_to_target([0, 5, 10, 15], [2.0, 1.1, 0.9, 0.5], 1.0) == (10.0, True)
    assert ds.wu_to_target([0, 5, 61], [2.0, 1.1, 1.05], 1.0) == (61.0, False)


def test_seed_median_counts_censored_runs_as_infinite():
    assert ds._median_point([(10.0, True), (20.0, True)]) == (15.0, True)
    assert ds._median_point([(10.0, True), (60.0, False)]) == (60.0, False)
    assert ds._median_point([(10.0, True), (60.0, False), (30.0, True)]) == (30.0, True)


@pytest.mark.parametrize("blocks,levels", [(17, 3), (33, 4), (65, 5), (129, 6), (257, 7)])
def test_level_count_leaves_five_blocks_on_the_coarsest_level(blocks, levels):
    assert ds.levels_for(blocks) == levels
    depth = blocks
    for _ in range(levels - 1):
        depth = (depth + 1) // 2
    assert depth == ds.COARSEST_BLOCKS


def test_level_count_rejects_other_depths():
    with pytest.raises(ValueError):
        ds.levels_for(20)


@pytest.mark.parametrize("name", ds.PROBLEMS)
def test_labels_resolve_to_the_requested_depth_and_data(name):
    scale = ds.SCALES["quick"]
    for blocks in scale.depths:
        label = ds.problem_label(name, blocks, 0.15, scale, batch_size=400)
        _, _, values = resolve_problem(label)
        assert values["blocks"] == blocks and values["levels"] == ds.levels_for(blocks)
        assert values["reg"] == pytest.approx(0.15) and values["batch_size"] == 400
        assert values["num_points"] == 500


def test_regulariser_curvature_is_the_largest_hessian_eigenvalue():
    blocks, alpha = 9, 0.3
    h = ode_time.node_spacing(5.0, blocks, "vertex")
    theta = torch.zeros(blocks, dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(
        lambda t: alpha * time_derivative_penalty([t.unsqueeze(1)], h), theta)
    top = float(torch.linalg.eigvalsh(hessian).max())
    assert ds.regulariser_curvature(alpha, blocks) == pytest.approx(top, rel=1e-12)
    assert ds.regulariser_curvature(alpha, blocks) < 4 * alpha / h
    assert ds.regulariser_curvature(ds.matched_alpha(2.0, 17), 17) == pytest.approx(2.0, rel=0.05)


def test_final_line_format():
    line = ds.final_line(0.5123, -0.01, math.inf)
    assert re.fullmatch(r"depth_exponent_tr=\S+ depth_exponent_rmtr=\S+ "
                        r"wu_ratio_tr_over_rmtr_at_max_depth=\S+", line)
    assert line == ("depth_exponent_tr=0.512 depth_exponent_rmtr=-0.01 "
                    "wu_ratio_tr_over_rmtr_at_max_depth=inf")


def test_run_study_signature_is_the_one_reproduce_calls():
    import inspect

    params = inspect.signature(ds.run_study).parameters
    assert list(params) == ["scale", "out", "seeds", "jobs"]
    assert params["seeds"].default is None and params["jobs"].default == 1
    assert set(ds.SCALES) == {"quick", "full"}
    assert ds.SCALES["quick"].depths == (17, 33, 65)
    assert ds.SCALES["full"].depths == DEPTHS
