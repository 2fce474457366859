"""Transfer invariants of every transfer: Π P = I and <R g, v> = c <g, P v>."""

import numpy as np
import pytest
import torch

from ml2bench.hierarchy.depth import DepthTransfer, coarse_depths
from ml2bench.hierarchy.grid import GridTransfer, coarse_sizes
from ml2bench.problems.quadratic import poisson_matrix
from ml2bench.problems.registry import make_task



def random_like(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]


def inner(a, b):
    return sum(float((x * y).sum()) for x, y in zip(a, b))


def check_transfer(transfer, fine_shapes, coarse_shapes):
    x_c = random_like(coarse_shapes, 0)
    back = transfer.project(transfer.prolong(x_c))
    assert transfer.project_inverts_prolong
    for a, b in zip(back, x_c):
        assert torch.equal(a, b)
    g_f = random_like(fine_shapes, 1)
    v_c = random_like(coarse_shapes, 2)
    lhs = inner(transfer.restrict(g_f), v_c)
    rhs = transfer.adjoint_scale * inner(g_f, transfer.prolong(v_c))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("centering,fine,coarse", [("vertex", 9, 5), ("cell", 8, 4)])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_depth_transfer_invariants(centering, fine, coarse, scale):
    stacked = [False, True, True, False]
    shapes = lambda k: [(3, 2), (k, 3, 3), (k, 3), (2,)]  # noqa: E731
    check_transfer(DepthTransfer(stacked, centering, scale), shapes(fine), shapes(coarse))


def test_vertex_prolongation_is_linear_in_time():
    t = DepthTransfer([True], "vertex")
    coarse = [torch.tensor([0.0, 2.0, 4.0])]
    assert t.prolong(coarse)[0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    # full weighting with c = 1/2: (1/4, 1/2, 1/4), end points 1/2 + 1/4
    fw = DepthTransfer([True], "vertex", 0.5).restrict([torch.ones(5)])[0]
    assert fw.tolist() == [0.75, 1.0, 0.75]


def test_cell_transfer_copies_and_averages():
    t = DepthTransfer([True], "cell")
    assert t.prolong([torch.tensor([1.0, 3.0])])[0].tolist() == [1.0, 1.0, 3.0, 3.0]
    assert t.project([torch.tensor([1.0, 3.0, 5.0, 7.0])])[0].tolist() == [2.0, 6.0]
    assert t.restrict([torch.tensor([1.0, 3.0, 5.0, 7.0])])[0].tolist() == [4.0, 12.0]


def test_grid_transfer_invariants_and_galerkin_coarse_operator():
    t = GridTransfer()
    check_transfer(t, [(15,)], [(7,)])
    n_f, n_c = 15, 7
    P = torch.stack([t.prolong([e])[0] for e in torch.eye(n_c, dtype=torch.float64)], dim=1)
    R = torch.stack([t.restrict([e])[0] for e in torch.eye(n_f, dtype=torch.float64)], dim=1)
    assert torch.allclose(R, 0.5 * P.T)
    A_f, A_c = torch.as_tensor(poisson_matrix(n_f)), torch.as_tensor(poisson_matrix(n_c))
    assert torch.allclose(R @ A_f @ P, A_c, rtol=1e-12, atol=1e-9)


def test_level_sizes_and_errors():
    assert coarse_depths(65, 5, "vertex") == [65, 33, 17, 9, 5]
    assert coarse_depths(64, 4, "cell") == [64, 32, 16, 8]
    assert coarse_sizes(511, 4) == [511, 255, 127, 63]
    with pytest.raises(ValueError):
        coarse_depths(64, 2, "vertex")
    with pytest.raises(ValueError):
        coarse_sizes(64, 2)


def test_resnet_problem_hierarchy_is_projected_and_costs_measured():
    task = make_task("peaks_resnet[blocks=17,levels=3,num_points=500,train_size=400]")
    levels = task.hierarchy.levels
    assert [lv.info["blocks"] for lv in levels] == [17, 9, 5]
    costs = [lv.cost.grad for lv in levels]
    assert costs[0] == 1.0 and costs[0] > costs[1] > costs[2] > 0
    for level in levels:  # an HVP costs 2-4 gradients, a forward about a third
        assert 2.0 < level.cost.hvp / level.cost.grad < 4.0
        assert 0.2 < level.cost.forward / level.cost.grad < 0.5
    fine = [p.detach() for p in levels[0].model.parameters()]
    coarse = [p.detach() for p in levels[1].model.parameters()]
    for a, b in zip(task.hierarchy.transfers[0].project(fine), coarse):
        assert torch.equal(a, b)


def test_depth_prolongation_of_constant_in_time_network_preserves_function():
    task = make_task("swissroll_resnet[quick=true,dtype=float64]")
    coarse_model = task.hierarchy.levels[1].model
    fine_model = task.hierarchy.levels[0].model
    with torch.no_grad():  # constant-in-time blocks: fine(P z) and coarse(z) discretise one ODE
        coarse_model.block_weight.copy_(coarse_model.block_weight[:1].expand_as(coarse_model.block_weight))
        coarse_model.block_bias.copy_(coarse_model.block_bias[:1].expand_as(coarse_model.block_bias))
        for p, v in zip(fine_model.parameters(),
                        task.hierarchy.transfers[0].prolong(list(coarse_model.parameters()))):
            p.copy_(v)
    x = task.train[0][:50]
    gap = (fine_model(x) - coarse_model(x)).abs().max().item()
    assert gap < 0.2 * coarse_model(x).abs().max().item()
    assert np.isfinite(gap)
