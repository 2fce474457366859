"""The end-of-run flatness protocol on real tasks: D_H, the metric registry, cost
columns, state hygiene, M9 blocks and the M8 checkpoint dynamics."""

import math

import numpy as np
import pytest
import torch

from ml2bench.errors import UserError
from ml2bench.flatness.checkpoints import CheckpointDynamics, solver_momentum
from ml2bench.flatness.protocol import (
    METRICS,
    ProtocolConfig,
    compute_flatness,
    contiguous_groups,
    evaluation_batches,
    flatness_row,
    parameter_blocks,
)
from ml2bench.flatness.names import dynamics_names, end_of_run_names, validate_metric_names
from ml2bench.flatness.run_metrics import RunMetrics
from ml2bench.problems.quadratic import poisson_eigenvalues
from ml2bench.problems.registry import make_task

SMALL = ProtocolConfig(subset_size=300, batch_size=128, trace_probes=8, slq_runs=2, slq_steps=8,
                       sharp_avg_samples=4, sharp_worst_steps=3, keskar_iter=2, block_probes=4,
                       block_max_iter=5, max_iter_max=10, max_iter_min=10)


@pytest.fixture(scope="module")
def quadratic():
    return make_task("quadratic_poisson1d[n=63]", 0)


@pytest.fixture(scope="module")
def resnet():
    return make_task("peaks_resnet[quick=true]", 0)


def snapshot(model):
    return ([p.detach().clone() for p in model.parameters()],
            {n: b.clone() for n, b in model.named_buffers()},
            [m.training for m in model.modules()], torch.get_rng_state())


def assert_unchanged(model, before):
    params, buffers, flags, rng = snapshot(model)
    assert all(torch.equal(a, b) for a, b in zip(before[0], params))
    assert before[1].keys() == buffers.keys()
    assert all(torch.equal(before[1][n], buffers[n]) for n in buffers)
    assert before[2] == flags
    assert torch.equal(before[3], rng)
    assert all(p.grad is None for p in model.parameters())


def test_evaluation_subset_is_seeded_sorted_and_split(resnet):
    batches = evaluation_batches(resnet, seed=3, subset_size=1000, batch_size=300)
    assert [b[0].shape[0] for b in batches] == [300, 300, 300, 100]  # uneven last batch
    again = evaluation_batches(resnet, seed=3, subset_size=1000, batch_size=1000)
    assert torch.equal(torch.cat([b[0] for b in batches]), again[0][0])
    other = evaluation_batches(resnet, seed=4, subset_size=1000, batch_size=1000)
    assert not torch.equal(other[0][0], again[0][0])
    default = evaluation_batches(resnet, seed=0)
    assert sum(b[0].shape[0] for b in default) == min(resnet.num_train, 5000)
    assert max(b[0].shape[0] for b in default) == 1024


def test_train_loss_is_independent_of_the_batch_size(resnet):
    losses = [compute_flatness(resnet, [], 0, ProtocolConfig(subset_size=700, batch_size=b))
              ["train_loss"] for b in (1, 128, 700)]
    assert np.allclose(losses, losses[0], rtol=1e-5, atol=0)


def test_quadratic_extreme_eigenvalues_and_trace(quadratic):
    before = snapshot(quadratic.model)
    row = compute_flatness(quadratic, ["hess_max", "hess_min", "hess_trace"], seed=0)
    assert_unchanged(quadratic.model, before)
    lam = poisson_eigenvalues(63)
    assert row["hess_max"] == pytest.approx(lam[-1], rel=1e-3)
    assert row["hess_min"] == pytest.approx(lam[0], rel=1e-3)
    assert abs(row["hess_trace"] - lam.sum()) < 3 * row["hess_trace_se"]
    assert row["hess_trace_per_param"] == pytest.approx(row["hess_trace"] / 63)
    assert row["hess_max_converged"] and row["hess_min_converged"]
    assert row["reg_value"] == 0.0 and row["num_params"] == 63
    assert row["param_norm"] == pytest.approx(float(quadratic.model.x.detach().norm()))
    for name in ("hess_max", "hess_min", "hess_trace"):
        assert row[f"{name}_hvps"] > 0 and row[f"{name}_passes"] == row[f"{name}_hvps"]
        assert row[f"{name}_seconds"] >= 0
    assert row["total_hvps"] == sum(row[f"{n}_hvps"] for n in ("hess_max", "hess_min",
                                                                  "hess_trace"))
    assert row["hess_trace_hvps"] == 100


def test_every_metric_on_a_resnet_leaves_the_model_untouched(resnet):
    before = snapshot(resnet.model)
    row = compute_flatness(resnet, list(METRICS), seed=1, config=SMALL)
    assert_unchanged(resnet.model, before)
    for column in ("train_loss", "reg_value", "param_norm", "hess_max", "hess_min", "hess_trace",
                   "hess_trace_se", "spectral_neg_mass", "spectral_outliers", "sharp_avg",
                   "sharp_avg_rho0.1", "sharp_worst", "keskar_eps", "block_opening_hess_max",
                   "block_classifier_trace", "total_seconds"):
        assert column in row and np.isfinite(row[column]), column
    for name in METRICS:
        assert {f"{name}_hvps", f"{name}_passes", f"{name}_seconds"} <= row.keys()
    assert row["hess_min"] <= row["hess_max"]
    assert row["reg_weight"] == resnet.reg_weight > 0
    assert row["reg_value"] == pytest.approx(resnet.reg_weight
                                             * float(resnet.model.regularization().detach()))
    assert row["dh_size"] == 300 and row["sharp_avg_hvps"] == 0 and row["sharp_avg_passes"] > 0
    again = compute_flatness(resnet, ["sharp_avg", "hess_max"], seed=1, config=SMALL)
    assert again["sharp_avg"] == row["sharp_avg"] and again["hess_max"] == row["hess_max"]


def test_metric_names_are_validated():
    assert validate_metric_names([" hess_max", "eos", "hess_max", ""]) == ("hess_max", "eos")
    assert end_of_run_names(["eos", "sharp_avg"]) == ("sharp_avg",)
    assert dynamics_names(["eos", "sharp_avg", "noise_scale"]) == ("eos", "noise_scale")
    with pytest.raises(UserError, match="unknown flatness metric 'hess_mx'; valid metrics: "
                                        "hess_max, hess_min"):
        validate_metric_names(["hess_mx"])
    assert RunMetrics.parse(["eos", "sharp_avg"]) == RunMetrics(("sharp_avg",), ("eos",))
    assert tuple(METRICS) == RunMetrics.parse(list(METRICS)).end_of_run


def test_resnet_blocks_partition_the_parameters(resnet):
    model = resnet.model
    blocks = parameter_blocks(model, max_groups=4)
    names = [name for name, _ in blocks]
    assert names == ["opening", "res00_04", "res05_09", "res10_14", "res15_16", "classifier"]
    cover = [torch.zeros_like(p, dtype=torch.int64) for p in model.parameters()]
    for _, masks in blocks:
        for total, mask in zip(cover, masks):
            if mask is not None:
                total += mask
    assert all(bool((c == 1).all()) for c in cover)
    assert contiguous_groups(17, 16) == [range(2 * i, min(2 * i + 2, 17)) for i in range(9)]
    assert [g for g in contiguous_groups(5, 16)] == [range(i, i + 1) for i in range(5)]


def test_single_block_curvature_equals_the_full_hessian(quadratic):
    row = compute_flatness(quadratic, ["block_curvature"], 0,
                           ProtocolConfig(block_max_iter=100, block_probes=100))
    lam = poisson_eigenvalues(63)
    assert row["block_x_hess_max"] == pytest.approx(lam[-1], rel=1e-3)
    assert row["block_x_size"] == 63
    assert abs(row["block_x_trace"] - lam.sum()) < 3 * row["block_x_trace_se"]


def test_a_diverged_iterate_gives_an_error_column_not_an_exception():
    task = make_task("quadratic_poisson1d[n=15,levels=2]", 0)
    with torch.no_grad():
        task.model.x[0] = math.nan
    row = flatness_row(task, ["hess_max"], 0, {"run_id": "r"})
    assert row["run_id"] == "r" and "not finite" in row["flatness_error"]
    with pytest.raises(UserError):
        flatness_row(task, ["bogus"], 0, {})


def test_checkpoint_dynamics_edge_of_stability(quadratic):
    class Solver:
        hparams = {"momentum": 0.9}

    dynamics = RunMetrics.parse(["eos", "hess_max"]).checkpoint_tracker(quadratic, seed=0)
    assert isinstance(dynamics, CheckpointDynamics)
    assert RunMetrics.parse(["hess_max"]).checkpoint_tracker(quadratic, 0) is None
    before = snapshot(quadratic.model)
    columns = dynamics.columns(3, {"info_lr": 0.01}, Solver())
    assert_unchanged(quadratic.model, before)
    assert columns["eos_threshold"] == pytest.approx(3.8 / 0.01)
    assert columns["eos_hvps"] <= 20
    assert columns["eos_hess_max"] == pytest.approx(poisson_eigenvalues(63)[-1], rel=2e-2)
    assert columns["eos_ratio"] == pytest.approx(columns["eos_hess_max"] / 380.0)
    assert math.isnan(dynamics.columns(0, {}, Solver())["eos_threshold"])  # no lr yet
    assert solver_momentum({"info_momentum": 0.5}, Solver()) == 0.5
    assert solver_momentum({}, object()) == 0.0


def test_checkpoint_noise_scale_is_deterministic(resnet):
    dynamics = CheckpointDynamics(resnet, ["noise_scale"], seed=0)
    before = snapshot(resnet.model)
    first = dynamics.columns(5, {}, None)
    assert_unchanged(resnet.model, before)
    assert first == dynamics.columns(5, {}, None)
    assert first["noise_grad_sq"] > 0 and np.isfinite(first["noise_b_simple"])
    single = CheckpointDynamics(make_task("quadratic_poisson1d[n=15,levels=2]", 0),
                                ["noise_scale"], 0)
    assert math.isnan(single.columns(0, {}, None)["noise_b_simple"])  # N = 1: undefined
