"""The depth-scaling study's reductions: exponent fit, censoring, bootstrap, trivial points,
levels, labels, the map's verdicts and the last line."""

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


def test_wu_to_target_first_row_or_censored():
    assert ds.wu_to_target([0, 5, 10, 15], [2.0, 1.1, 0.9, 0.5], 1.0) == (10.0, True)
    assert ds.wu_to_target([0, 5, 61], [2.0, 1.1, 1.05], 1.0) == (61.0, False)


def test_seed_median_counts_censored_runs_as_infinite():
    assert ds.censored_median([(10.0, True), (20.0, True)]) == (15.0, True)
    assert ds.censored_median([(10.0, True), (60.0, False)]) == (60.0, False)
    assert ds.censored_median([(10.0, True), (60.0, False), (30.0, True)]) == (30.0, True)
    assert ds.censored_median([(10.0, True), (60.0, False), (60.0, False)]) == (60.0, False)


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


@pytest.mark.parametrize("name", ds.FAMILIES)
def test_labels_resolve_to_the_requested_depth_weights_and_data(name):
    scale = ds.SCALES["quick"]
    for blocks in scale.depths:
        label = ds.problem_label(name, blocks, 0.01, scale, batch_size=400)
        _, _, values = resolve_problem(label)
        assert values["blocks"] == blocks and values["levels"] == ds.levels_for(blocks)
        assert values["reg"] == pytest.approx(0.01) and values["batch_size"] == 400
        assert values["weight_decay"] == pytest.approx(ds.WEIGHT_DECAY)
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


def test_constant_predictor_loss_is_the_label_entropy():
    assert ds.constant_predictor_loss([0, 1, 2] * 7) == pytest.approx(math.log(3), abs=1e-15)
    labels = [0] * 30 + [1] * 10
    h = ds.constant_predictor_loss(labels)
    assert h == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)), abs=1e-15)
    # it is the smallest mean cross-entropy of a constant predictor (softmax = p)
    y = torch.tensor(labels)
    for logits in ([0.0, 0.0], [1.0, 0.0], [math.log(3.0), 0.0], [2.0, 0.0]):
        ce = float(torch.nn.functional.cross_entropy(torch.tensor([logits] * 40, dtype=torch.float64), y))
        assert ce >= h - 1e-12
    assert ds.is_trivial(h * 1.005, h) and not ds.is_trivial(h * 0.9, h)
    assert not ds.is_trivial(math.nan, h)


def test_a_run_driven_to_the_constant_predictor_is_marked_trivial():
    """A huge weight decay of the shared layers makes the constant predictor the
    minimiser: lbfgs ends at the label entropy, and the study marks the run trivial."""
    from ml2bench.testing import bind, finest_loss

    label = ("peaks_resnet[quick=true,num_points=200,train_size=150,reg=0,weight_decay=50,"
             "batch_size=150]")
    task, solver, _ = bind(label, "lbfgs", seed=0)
    h = ds.constant_predictor_loss(task.train[1].tolist())
    start = finest_loss(task, solver)
    for _ in range(30):
        solver.step()
    end = finest_loss(task, solver)
    assert not ds.is_trivial(start, h)
    assert ds.is_trivial(end, h)


def test_target_is_the_median_over_seeds():
    assert ds.target_from_seeds([1.0, 5.0, 2.0]) == 2.0
    assert ds.target_from_seeds([1.0, 2.0, 4.0, 100.0]) == 3.0


def _runs(ml, sl, n=5):
    runs = {k: [(ml, True)] * n for k in ds.MULTILEVEL}
    runs.update({k: [(sl, True)] * n for k in ds.SINGLE_LEVEL})
    return runs


def test_cell_ratio_and_its_censored_bounds():
    assert ds.cell_ratio(_runs(10.0, 40.0), 100.0) == (0.25, "")
    runs = _runs(10.0, 100.0)
    runs.update({k: [(100.0, False)] * 5 for k in ds.SINGLE_LEVEL})
    assert ds.cell_ratio(runs, 100.0) == (0.1, "<")
    runs = _runs(100.0, 20.0)
    runs.update({k: [(100.0, False)] * 5 for k in ds.MULTILEVEL})
    assert ds.cell_ratio(runs, 100.0) == (5.0, ">")
    runs.update({k: [(100.0, False)] * 5 for k in ds.SINGLE_LEVEL})
    r, flag = ds.cell_ratio(runs, 100.0)
    assert flag == "neither" and math.isnan(r)


def test_bootstrap_interval_of_the_ratio():
    assert ds.bootstrap_ratio(_runs(10.0, 40.0)) == (0.25, 0.25)  # no spread: a point
    runs = _runs(10.0, 40.0)
    runs["rmtr_box"] = [(w, True) for w in (5.0, 8.0, 10.0, 12.0, 30.0)]
    runs["adam"] = [(w, True) for w in (20.0, 30.0, 35.0, 40.0, 60.0)]
    low, high = ds.bootstrap_ratio(runs)
    point, _ = ds.cell_ratio(runs, 100.0)
    assert low <= point <= high and low < high
    assert ds.bootstrap_ratio(runs, seed=0) == ds.bootstrap_ratio(runs, seed=0)
    # only the single-level side censored in every resample: the ratio is 0 (ML cheaper)
    runs = _runs(10.0, 100.0)
    runs.update({k: [(100.0, False)] * 5 for k in ds.SINGLE_LEVEL})
    assert ds.bootstrap_ratio(runs) == (0.0, 0.0)
    assert ds.verdict(*ds.bootstrap_ratio(runs)) == "pays"
    assert ds.verdict(1.2, 3.0) == "does not pay" and ds.verdict(0.8, 1.1) == "undecided"


def test_bootstrap_median_interval_covers_the_median():
    low, high = ds.bootstrap_median([0.1, 0.2, 0.3, 0.5, 0.9])
    assert low <= 0.3 <= high and low >= 0.1 and high <= 0.9
    assert all(math.isnan(v) for v in ds.bootstrap_median([0.4]))


def test_exponent_over_seeds_leaves_censored_seeds_out():
    complete = [[(2.0 * k ** 0.5, True) for k in DEPTHS] for _ in range(3)]
    censored = [[(2.0 * k ** 0.5, k < 100) for k in DEPTHS] for _ in range(2)]
    p, low, high, done, cens = ds.fit_seeds(DEPTHS, complete + censored)
    assert p == pytest.approx(0.5, abs=1e-12) and (done, cens) == (3, 2)
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)
    assert math.isnan(ds.fit_seeds(DEPTHS, censored)[0])


def test_where_multilevel_starts_to_pay():
    alphas = (5e-6, 1e-3, 1e-2, 1e-1)
    assert ds.pays_from(alphas, [False, True, True, True]) == 1e-3
    assert ds.pays_from(alphas, [True, False, True, True]) == 1e-2
    assert ds.pays_from(alphas, [True, True, True, False]) is None
    assert ds.pays_from((1e-1, 5e-6), [True, False]) == 1e-1  # any order of the grid


def test_final_line_format():
    ratios = {"peaks_resnet": {1e-3: (1.234, ""), 0.1: (0.5, "<")},
              "spirals_resnet": {1e-3: (math.nan, "neither"), 0.1: (3.0, ">")}}
    line = ds.final_line(["peaks_resnet", "spirals_resnet"], 65, (1e-3, 0.1), ratios,
                         {"peaks_resnet": 0.1, "spirals_resnet": None})
    assert line == ("depth_map K=65: peaks_resnet r(α)=1e-03:1.2,1e-01:<0.5 pays_from=1e-01; "
                    "spirals_resnet r(α)=1e-03:—,1e-01:>3 pays_from=none")
    line = ds.final_line(["peaks_resnet"], 65, (1e-3, 0.1), ratios, {"peaks_resnet": 0.1},
                         {"peaks_resnet": None})
    assert line.endswith("pays_from=1e-01 pays_from_without_nested=none")


def test_run_study_signature_is_the_one_reproduce_calls():
    import inspect

    params = inspect.signature(ds.run_study).parameters
    assert list(params)[:4] == ["scale", "out", "seeds", "jobs"]
    assert all(p.kind is p.KEYWORD_ONLY for p in list(params.values())[4:])
    assert params["seeds"].default is None and params["jobs"].default == 1
    assert set(ds.SCALES) == {"quick", "full"}
    assert ds.SCALES["full"].depths == DEPTHS and ds.SCALES["full"].seeds >= 5
    assert len(ds.SCALES["full"].alphas) >= 5
    assert set(ds.SOLVERS) == set(ds.SINGLE_LEVEL) | set(ds.MULTILEVEL)


def test_conclusions_name_families_weights_depths_and_seeds():
    scale = ds.Scale(depths=(17, 65), alphas=(1e-3, 0.1), seeds=3, budget=90.0, target_wu=30.0)

    def cell(verdict, r):
        return {"verdict": verdict, "ratio": (r, ""), "ci": (r * 0.8, r * 1.2)}

    grid = {"peaks_resnet": {1e-3: {65: cell("does not pay", 1.5)}, 0.1: {65: cell("pays", 0.5)}},
            "spirals_resnet": {1e-3: {65: cell("undecided", 1.0)},
                               0.1: {65: cell("undecided", 0.9)}}}
    lines = ds.conclusions(scale, ["peaks_resnet", "spirals_resnet"], 3, grid, [])
    assert lines[0].startswith("peaks_resnet, K = 65 (of K = 17…65), 3 seeds per cell")
    assert "pays at α = 0.1 (r = 0.5 [0.4, 0.6])" in lines[0]
    assert "does not pay at α = 0.001" in lines[0]
    assert lines[1].startswith("spirals_resnet (held out)")
    assert "pays on peaks_resnet only (not on spirals_resnet)" in lines[2]


def test_estimate_counts_the_runs_and_prices_them_by_measured_seconds_per_wu():
    scale = ds.replace(ds.SCALES["quick"], depths=(17,), alphas=(1e-3, 0.1))
    cost = ds.estimate_cost(scale, 2, ("spirals_resnet",), factor=3.0)
    assert cost["runs"] == 1 * 2 * len(ds.SOLVERS) * 2
    s = cost["seconds_per_wu"][("spirals_resnet", 17)]
    assert s > 0
    assert cost["cpu_hours"] == pytest.approx(cost["runs"] * scale.budget * s * 3.0 / 3600)
    line = ds.format_estimate("quick", cost)
    assert re.match(r"depth_scaling \(quick\): 32 runs; estimated \S+ CPU-hours", line)


def test_benchmark_refuses_bad_axes_in_one_line():
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    from ml2bench.errors import UserError

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "depth_scaling.py"
    spec = importlib.util.spec_from_file_location("depth_scaling_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for args, needle in ((["--families", "mnist_cnn"], "valid families: peaks_resnet"),
                         (["--seeds", "0"], "--seeds must be a positive integer")):
        with pytest.raises(UserError, match=re.escape(needle)):
            module.main(args)
    done = subprocess.run([sys.executable, str(script), "--depths", "20"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "valid depths are 4·2^j + 1" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_best_solvers_and_the_map_without_nested():
    runs = _runs(20.0, 40.0)
    runs["nested"] = [(4.0, True)] * 5
    runs["lbfgs"] = [(30.0, True)] * 5
    assert ds.best_solvers(runs) == ("nested", "lbfgs")
    assert ds.cell_ratio(runs, 100.0) == (4.0 / 30.0, "")
    assert ds.cell_ratio(ds.without(runs, "nested"), 100.0) == (20.0 / 30.0, "")
    runs["nested"] = [(100.0, False)] * 5  # a censored solver never wins
    assert ds.best_solvers(runs)[0] != "nested"
