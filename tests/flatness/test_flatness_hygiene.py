"""State hygiene: every metric leaves parameters, buffers (batch-norm running
statistics, num_batches_tracked), training flags and the global RNG state unchanged."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ml2bench import flatness as fl
from ml2bench.parameters import flatten

HVP_METHODS = ("double_backward", "forward_over_reverse", "finite_difference")


class BatchNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 6)
        self.bn = nn.BatchNorm1d(6)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3))

    def forward(self, x):
        return self.head(self.drop(torch.relu(self.bn(self.hidden(x)))))


def loss_fn(model, batch):
    return F.cross_entropy(model(batch[0]), batch[1])


def make_setup():
    torch.manual_seed(0)
    model = BatchNormNet().double()
    gen = torch.Generator().manual_seed(0)
    x = 1.5 + torch.randn(19, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (19,), generator=gen)
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(3):
            model(x)
    model.head[1].eval()  # mixed flags must come back as they were
    return model, list(zip(torch.split(x, 5), torch.split(y, 5)))


def snapshot(model):
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "buffers": {n: b.clone() for n, b in model.named_buffers()},
        "flags": [m.training for m in model.modules()],
        "rng": torch.get_rng_state(),
    }


def assert_unchanged(model, before):
    after = snapshot(model)
    assert all(torch.equal(a, b) for a, b in zip(before["params"], after["params"]))
    assert before["requires_grad"] == after["requires_grad"]
    assert all(g is None for g in after["grads"])
    assert before["buffers"].keys() == after["buffers"].keys()
    for name, value in before["buffers"].items():
        assert torch.equal(value, after["buffers"][name]), name
    assert before["flags"] == after["flags"]
    assert torch.equal(before["rng"], after["rng"])


def gen():
    return torch.Generator().manual_seed(1)


def merged(batches):
    return tuple(torch.cat(parts) for parts in zip(*batches))


def direction(model):
    return fl.filter_normalized_direction(model, gen())


METRICS = {
    **{
        f"matvec_{m}": (lambda model, b, m=m: fl.HessianOperator(model, loss_fn, b, method=m).matvec(
            [torch.ones_like(p) for p in model.parameters()]))
        for m in HVP_METHODS
    },
    "loss_grad": lambda model, b: (fl.HessianOperator(model, loss_fn, b).loss(),
                                   fl.HessianOperator(model, loss_fn, b).grad()),
    "hess_max": lambda model, b: fl.hess_max(fl.HessianOperator(model, loss_fn, b), max_iter=10),
    "hess_min": lambda model, b: fl.hess_min(fl.HessianOperator(model, loss_fn, b), max_iter=10),
    "eigsh": lambda model, b: fl.eigsh_extreme(fl.HessianOperator(model, loss_fn, b), max_iter=5),
    "hutchinson": lambda model, b: fl.hutchinson_trace(fl.HessianOperator(model, loss_fn, b), 4),
    "hutchpp": lambda model, b: fl.hutchpp_trace(fl.HessianOperator(model, loss_fn, b), 9),
    "slq": lambda model, b: fl.spectral_density(fl.HessianOperator(model, loss_fn, b), 2, 8),
    "sharp_avg": lambda model, b: fl.sharp_avg(model, loss_fn, b, num_samples=3),
    "sharp_worst": lambda model, b: fl.sharp_worst(model, loss_fn, b, num_steps=3),
    "keskar": lambda model, b: fl.keskar_eps(model, loss_fn, b, max_iter=3),
    "slice_1d": lambda model, b: fl.slice_1d(model, loss_fn, b, direction(model), [-1.0, 0.5]),
    "slice_2d": lambda model, b: fl.slice_2d(model, loss_fn, b, (direction(model), direction(model)),
                                             [0.0, 1.0], [0.5]),
    "random_slices": lambda model, b: fl.random_slices_1d(model, loss_fn, b, seeds=(0,), num_points=3),
    "interpolate": lambda model, b: fl.interpolate(
        model, loss_fn, b, [p.detach() for p in model.parameters()],
        [p.detach() + 0.1 for p in model.parameters()], alphas=[0.0, 0.5, 1.0]),
    "noise_scale": lambda model, b: fl.gradient_noise_scale(model, loss_fn, b[:2], [merged(b[:2])]),
    "block": lambda model, b: fl.block_curvature(fl.HessianOperator(model, loss_fn, b), [0, 1],
                                                 num_probes=3, max_iter=5),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_leaves_model_untouched(name):
    model, batches = make_setup()
    before = snapshot(model)
    METRICS[name](model, batches)
    assert_unchanged(model, before)


def test_hvp_is_evaluated_in_eval_mode():
    model, batches = make_setup()
    v = [torch.ones_like(p) for p in model.parameters()]
    results = {m: fl.HessianOperator(model, loss_fn, batches, method=m).matvec(v) for m in HVP_METHODS}
    twice = fl.HessianOperator(model, loss_fn, batches).matvec(v)
    assert all(torch.equal(a, b) for a, b in zip(results["double_backward"], twice))  # no dropout noise
    for method in ("forward_over_reverse", "finite_difference"):
        diff = flatten(results[method]) - flatten(twice)
        assert diff.abs().max() < (1e-12 if method == "forward_over_reverse" else 1e-6)
    model.eval()
    reference = fl.HessianOperator(model, loss_fn, batches).matvec(v)
    assert all(torch.equal(a, b) for a, b in zip(reference, twice))


def test_state_restored_when_loss_raises():
    model, batches = make_setup()
    before = snapshot(model)
    calls = {"n": 0}

    def failing(m, batch):
        calls["n"] += 1
        if calls["n"] > 6:
            raise RuntimeError("boom")
        return loss_fn(m, batch)

    with pytest.raises(RuntimeError, match="boom"):
        fl.sharp_avg(model, failing, batches, num_samples=5)
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="boom"):
        fl.HessianOperator(model, failing, batches, method="finite_difference").matvec(
            [torch.ones_like(p) for p in model.parameters()])
    assert_unchanged(model, before)


def test_metric_results_do_not_depend_on_global_seed():
    model, batches = make_setup()
    torch.manual_seed(123)
    first = fl.sharp_avg(model, loss_fn, batches, num_samples=4).samples
    torch.manual_seed(456)
    second = fl.sharp_avg(model, loss_fn, batches, num_samples=4).samples
    assert np.array_equal(first, second)


def test_tf32_disabled_during_evaluation_and_restored():
    from ml2bench.flatness.state import evaluation_mode

    model, _ = make_setup()
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cuda.matmul.allow_tf32 = True
        with evaluation_mode(model):
            assert not torch.backends.cudnn.allow_tf32
            assert not torch.backends.cuda.matmul.allow_tf32
            assert not model.training
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        assert model.training and not model.head[1].training
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def noisy_loss(model, batch):
    """A loss that draws from the global RNG (input noise, as a data augmentation might)."""
    return loss_fn(model, (batch[0] + 1e-3 * torch.randn_like(batch[0]), batch[1]))


@pytest.mark.parametrize("context", [fl.evaluation_mode, fl.preserved_state])
def test_global_rng_stream_is_restored_after_a_body_that_draws_from_it(context):
    """Property: the global torch RNG stream after the context is the one before it, even
    when the body consumed random numbers or raised (the metrics' own randomness must
    not shift the training's)."""
    model, _ = make_setup()
    torch.manual_seed(7)
    expected = torch.rand(4)  # what the stream yields next without the context
    torch.manual_seed(7)
    with context(model):
        torch.rand(100)
    assert torch.equal(torch.rand(4), expected)
    torch.manual_seed(7)
    with pytest.raises(RuntimeError, match="boom"):
        with context(model):
            torch.randn(3)
            raise RuntimeError("boom")
    assert torch.equal(torch.rand(4), expected)


def test_metric_with_a_loss_that_draws_from_the_global_rng_leaves_the_stream_unchanged():
    """Property: sharp_avg and an HVP over a loss that draws from the global RNG leave
    the global RNG state unchanged."""
    model, batches = make_setup()
    before = snapshot(model)
    fl.sharp_avg(model, noisy_loss, batches, num_samples=2)
    fl.HessianOperator(model, noisy_loss, batches).matvec([torch.ones_like(p) for p in model.parameters()])
    assert_unchanged(model, before)
