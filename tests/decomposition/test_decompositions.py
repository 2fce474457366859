"""Decompositions: data shards and parameter subdomains (restrictions, partition of
unity, bad input), and the gradient with respect to one parameter subdomain (values and
FLOP-measured cost, hand-computed on a tiny ResNet-ODE)."""

import pytest
import torch

from ml2bench.data.testing import make_fake_mnist
from ml2bench.decomposition import (DataDecomposition, ParameterDecomposition,
                                    model_layers, subdomain_costs, subdomain_loss_and_grad)
from ml2bench.errors import UserError
from ml2bench.models.resnet_ode import ResNetODE
from ml2bench.parameters import flatten, model_vector
from ml2bench.problems.classification import cross_entropy
from ml2bench.problems.registry import make_task

PEAKS = "peaks_resnet[blocks=8,levels=1,num_points=300,train_size=102,width=4]"
CONV = "mnist_resnet[quick=true]"
PINN = "poisson1d_pinn[blocks=6,levels=1,points=32,width=4]"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Tiny MNIST files in the official format (for the conv ResNet problem)."""
    root = tmp_path_factory.mktemp("data")
    make_fake_mnist(root, n_train=40, n_test=10, kind="mnist", seed=1)
    return root


@pytest.fixture(autouse=True)
def use_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("ML2BENCH_DATA", str(data_dir))


# -- data ---------------------------------------------------------------------------
def test_data_shards_without_overlap_partition_the_samples():
    dec = DataDecomposition(10, 4, seed=3)
    assert dec.sizes() == [3, 3, 2, 2]
    joined = torch.cat(dec.shards)
    assert sorted(joined.tolist()) == list(range(10))  # disjoint and covering
    assert dec.multiplicity.tolist() == [1] * 10
    again = DataDecomposition(10, 4, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(dec.shards, again.shards))
    other = DataDecomposition(10, 4, seed=4)
    assert not all(torch.equal(a, b) for a, b in zip(dec.shards, other.shards))


def test_consecutive_shards_share_the_overlap():
    dec = DataDecomposition(102, 4, overlap=0.33, seed=0)
    # chunks 26, 26, 25, 25; m = round(0.33 * 25) = 8 taken from the next chunk
    assert dec.overlap_size == 8
    assert dec.sizes() == [34, 34, 33, 33]
    sets = [set(s.tolist()) for s in dec.shards]
    for d in range(4):
        assert len(sets[d] & sets[(d + 1) % 4]) == 8  # the last shares with the first
    assert sets[0] & sets[2] == set() and sets[1] & sets[3] == set()
    assert set().union(*sets) == set(range(102))
    assert int((dec.multiplicity == 2).sum()) == 32 and int(dec.multiplicity.max()) == 2
    assert sum(dec.fractions()) == pytest.approx(134 / 102)


def test_data_partition_of_unity_sums_every_sample_once():
    dec = DataDecomposition(57, 5, overlap=0.6, seed=1)
    f = torch.randn(57, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    total = sum(float((dec.unity_weights(d) * f[shard]).sum())
                for d, shard in enumerate(dec.shards))
    assert total == pytest.approx(float(f.sum()), rel=1e-12)
    assert torch.allclose(dec.assemble([dec.restrict(f, d) for d in range(5)]), f)


def test_one_shard_has_no_overlap():
    dec = DataDecomposition(7, 1, overlap=0.5)
    assert dec.sizes() == [7] and dec.overlap_size == 0


@pytest.mark.parametrize("args", [(10, 0, 0.0), (10, 11, 0.0), (10, 2, 1.0), (10, 2, -0.1),
                                  (10, 2.5, 0.0)])
def test_bad_data_decompositions_are_one_line(args):
    with pytest.raises(UserError) as error:
        DataDecomposition(*args)
    assert "\n" not in str(error.value)


# -- parameters ---------------------------------------------------------------------
def test_resnet_layers_are_opening_blocks_classifier():
    model = make_task(PEAKS).model
    layers = model_layers(model)
    assert layers.opening == [(0, None), (1, None)]
    assert layers.classifier == [(4, None), (5, None)]
    assert len(layers.blocks) == 8 and layers.blocks[3] == [(2, 3), (3, 3)]


def test_layerwise_groups_own_the_right_entries():
    model = make_task(PEAKS).model
    dec = ParameterDecomposition.layerwise(model, 3)
    assert dec.labels == ["opening+blocks 0-2", "blocks 3-5", "blocks 6-7+classifier"]
    x = model_vector(model)
    assert sorted(torch.cat(dec.indices).tolist()) == list(range(x.numel()))
    first = torch.cat([model.opening_weight.reshape(-1), model.opening_bias.reshape(-1),
                       model.block_weight[:3].reshape(-1), model.block_bias[:3].reshape(-1)])
    assert torch.equal(torch.sort(dec.restrict(x, 0)).values, torch.sort(first.detach()).values)
    width = 4
    assert dec.sizes()[1] == 3 * (width * width + width)


def test_layerwise_overlap_extends_into_both_neighbours():
    model = make_task(PEAKS).model
    dec = ParameterDecomposition.layerwise(model, 2, overlap=0.5)  # o = round(0.5 * 4) = 2
    assert dec.labels == ["opening+blocks 0-5", "blocks 2-7+classifier"]
    block_entries = 4 * 4 + 4
    assert int((dec.multiplicity == 2).sum()) == 4 * block_entries


@pytest.mark.parametrize("kind", ["layer", "tensor"])
def test_restriction_extension_and_partition_of_unity(kind):
    model = make_task(PEAKS).model
    dec = (ParameterDecomposition.layerwise(model, 3, overlap=0.4) if kind == "layer"
           else ParameterDecomposition.tensorwise(model, 4, seed=2))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(dec.size, generator=gen)
    base = torch.randn(dec.size, generator=gen)
    total = torch.zeros_like(x)
    for d in range(len(dec)):
        local = dec.restrict(x, d)
        total += dec.extend(dec.unity_weights(d, x) * local, d)
        merged = dec.extend(local, d, base)
        inside = torch.zeros(dec.size, dtype=torch.bool)
        inside[dec.indices[d]] = True
        assert torch.equal(merged[inside], x[inside]) and torch.equal(merged[~inside], base[~inside])
    assert torch.allclose(total, x, atol=1e-6)
    assert torch.allclose(dec.assemble([dec.restrict(x, d) for d in range(len(dec))]), x,
                          atol=1e-6)


def test_tensorwise_split_is_a_seeded_shuffle_of_whole_tensors():
    model = make_task(PEAKS).model
    dec = ParameterDecomposition.tensorwise(model, 3, seed=5)
    owned = [[i for i, _ in group] for group in dec.pieces]
    assert sorted(sum(owned, [])) == list(range(6)) and [len(o) for o in owned] == [2, 2, 2]
    permutation = torch.randperm(6, generator=torch.Generator().manual_seed(5)).tolist()
    assert owned == [sorted(permutation[0:2]), sorted(permutation[2:4]), sorted(permutation[4:6])]
    assert dec.multiplicity.tolist() == [1] * dec.size
    again = ParameterDecomposition.tensorwise(model, 3, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(dec.indices, again.indices))


@pytest.mark.parametrize("build", [
    lambda m: ParameterDecomposition.layerwise(m, 9),
    lambda m: ParameterDecomposition.layerwise(m, 0),
    lambda m: ParameterDecomposition.layerwise(m, 2, overlap=1.0),
    lambda m: ParameterDecomposition.layerwise(m, 2, overlap=-0.5),
    lambda m: ParameterDecomposition.tensorwise(m, 7),
])
def test_bad_parameter_decompositions_are_one_line(build):
    with pytest.raises(UserError) as error:
        build(make_task(PEAKS).model)
    assert "\n" not in str(error.value)


def test_models_without_blocks_are_split_by_submodule():
    model = make_task("digits_cnn[quick=true]").model
    dec = ParameterDecomposition.layerwise(model, 3)
    assert [len(group) for group in dec.pieces] == [2, 2, 2]  # conv1, conv2, fc
    with pytest.raises(UserError, match="only 3 residual blocks"):
        ParameterDecomposition.layerwise(model, 4)


# -- subdomain gradients -------------------------------------------------------------
@pytest.mark.parametrize("problem", [PEAKS, CONV, PINN])
def test_subdomain_gradient_is_the_restricted_gradient(problem):
    task = make_task(problem)
    model = task.model
    batch = tuple(t[:16] for t in task.train)
    params = list(model.parameters())
    with torch.enable_grad():
        loss = task.objective(model, batch)
        full = flatten(torch.autograd.grad(loss, params))
    for dec in (ParameterDecomposition.layerwise(model, 2, overlap=0.5),
                ParameterDecomposition.tensorwise(model, 3, seed=0)):
        for d in range(len(dec)):
            value, grad = subdomain_loss_and_grad(model, task.objective, batch, dec, d)
            assert float(value) == pytest.approx(float(loss.detach()), rel=1e-6)
            assert torch.allclose(grad, dec.restrict(full, d), rtol=1e-5, atol=1e-7)
    assert all(a is b for a, b in zip(model.parameters(), params))  # restored


@pytest.mark.parametrize("problem", [PEAKS, CONV, PINN])
def test_last_blocks_cost_clearly_less_than_the_first(problem):
    task = make_task(problem)
    model = task.model
    blocks = model.num_blocks
    dec = ParameterDecomposition.layerwise(model, blocks)  # one block each
    costs = subdomain_costs(model, task.objective, tuple(t[:16] for t in task.train), dec)
    assert all(0.0 < c <= 1.0 for c in costs)
    assert costs[-1] < 0.9 * costs[0]
    middle = costs[1:-1]  # blocks alone (no opening, no classifier): a shorter backward each
    assert all(a > b for a, b in zip(middle, middle[1:]))


def test_subdomain_costs_by_hand_on_a_tiny_resnet():
    # B = 10, in 2, width 4, out 3, K = 4 blocks; the counter counts matrix products:
    # forward 2B(2·4) + 4·2B·16 + 2B(4·3) = 160 + 1280 + 240 = 1680; a full gradient
    # adds the opening's weight product (160), input and weight products of every
    # block (4·640) and of the classifier (480): 4880.
    # Subdomain 0 (opening, blocks 0-1) skips the weight products of blocks 2-3 and
    # the classifier: 4880 − 640 − 240 = 4000. Subdomain 1 (blocks 2-3, classifier)
    # backpropagates nothing before block 2: 1680 + 480 + 640 + 320 = 3120.
    model = ResNetODE(2, 4, 3, 4, 1.0, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    batch = (torch.randn(10, 2, generator=gen), torch.randint(0, 3, (10,), generator=gen))
    dec = ParameterDecomposition.layerwise(model, 2)
    assert subdomain_costs(model, cross_entropy, batch, dec) == [4000 / 4880, 3120 / 4880]
    tensors = ParameterDecomposition.tensorwise(model, 6)  # one tensor each
    owned = [group[0][0] for group in tensors.pieces]
    by_tensor = dict(zip(owned, subdomain_costs(model, cross_entropy, batch, tensors)))
    # block_weight (index 2): forward + classifier input + all block input and weight
    # products except block 0's input: 1680 + 240 + 4·320 + 3·320 = 4160
    assert by_tensor[2] == 4160 / 4880
    assert by_tensor[5] == 1680 / 4880  # the classifier bias: the forward alone
