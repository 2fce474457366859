"""The two knobs of the ResNet-ODE regulariser: time smoothness α and weight decay λ."""

import math

import pytest
import torch

from ml2bench.models.ode_time import time_derivative_penalty
from ml2bench.problems.registry import make_task, resolve_problem
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec

BASE = "peaks_resnet[quick=true,num_points=200,train_size=150,reg=0.1"


@torch.no_grad()
def _parts(model):
    shared = sum(p.pow(2).sum() for p in (model.opening_weight, model.opening_bias,
                                           model.classifier_weight, model.classifier_bias))
    smooth = time_derivative_penalty((model.block_weight, model.block_bias), model.h)
    return float(smooth), 0.5 * float(shared)


@pytest.mark.parametrize("alpha,decay", [(0.1, 0.0), (0.1, 5e-6), (0.0, 0.3)])
def test_objective_is_alpha_smoothness_plus_lambda_decay(alpha, decay):
    task = make_task(f"peaks_resnet[quick=true,num_points=200,train_size=150,reg={alpha},"
                     f"weight_decay={decay}]", 0)
    model = task.model
    with torch.no_grad():  # move off the constant-in-time start so R > 0
        model.block_weight.add_(0.3 * torch.randn(model.block_weight.shape,
                                                  generator=torch.Generator().manual_seed(1)))
    smooth, shared = _parts(model)
    assert smooth > 0 and shared > 0
    with torch.no_grad():
        reg = float(task.objective(model, task.train)) - float(task.data_loss(model, task.train))
    assert reg == pytest.approx(alpha * smooth + decay * shared, rel=1e-5, abs=1e-7)


def test_default_weight_decay_is_version_2_bit_for_bit_and_keeps_the_identity():
    tied = make_task(BASE + "]", 0)
    explicit = make_task(BASE + ",weight_decay=0.1]", 0)
    for a, b in zip(tied.model.parameters(), explicit.model.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(tied.objective(tied.model, tied.train),
                       explicit.objective(explicit.model, explicit.train))
    # left at its default, the new parameter is not part of the resolved values (identity)
    assert "weight_decay" not in resolve_problem("peaks_resnet[quick=true]")[2]
    assert "weight_decay" in resolve_problem("peaks_resnet[weight_decay=1e-3]")[2]
    a = prepare(RunSpec(problem="peaks_resnet[quick=true]", solver="adam", seed=0))
    b = prepare(RunSpec(problem="peaks_resnet[quick=true,weight_decay=1e-3]", solver="adam",
                        seed=0))
    assert a.config_hash != b.config_hash
    assert "weight_decay" not in a.identity_columns["problem_label"]


def test_spirals_problem_builds_balanced_classes():
    task = make_task("spirals_resnet[quick=true]", 0)
    y = task.train[1]
    assert task.num_train == 400 and int(y.max()) == 1
    assert abs(int((y == 0).sum()) - 200) < 30
    # the constant predictor's loss is the label entropy, near ln 2
    p = torch.bincount(y).double() / len(y)
    assert -float((p * p.log()).sum()) == pytest.approx(math.log(2), abs=0.01)
