"""Tests of the trust-region subproblem kernels (Steihaug CG, Cauchy point, radius update)."""

import math

import pytest
import torch

from ml2bench.solvers.tr_subproblem import (
    SubproblemResult,
    boundary_tau,
    cauchy_point,
    model_reduction,
    steihaug_cg,
    trust_region_update,
)


def _symmetric(eigenvalues, seed):
    gen = torch.Generator().manual_seed(seed)
    n = len(eigenvalues)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return Q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ Q.T


def _gradient(n, seed):
    gen = torch.Generator().manual_seed(seed + 1000)
    return torch.randn(n, generator=gen, dtype=torch.float64)


def _model(A, g, s):
    return float(g @ s + 0.5 * s @ A @ s)


def _spd(n=20, seed=0):
    return _symmetric(torch.linspace(1.0, 10.0, n).tolist(), seed)


def _indefinite(n=20, seed=0):
    return _symmetric(torch.linspace(-3.0, 5.0, n).tolist(), seed)


def _assert_reduction_matches(A, g, res: SubproblemResult):
    explicit = -_model(A, g, res.step)
    assert res.predicted_reduction == pytest.approx(explicit, rel=1e-10, abs=1e-14)
    assert res.predicted_reduction >= 0.0


def test_steihaug_interior_is_newton_step():
    A, g = _spd(), _gradient(20, 0)
    res = steihaug_cg(g, lambda v: A @ v, 1e3, rtol=1e-13, max_iter=200)
    exact = -torch.linalg.solve(A, g)
    assert torch.allclose(res.step, exact, rtol=0.0, atol=1e-10 * float(exact.norm()))
    assert not res.hit_boundary and not res.negative_curvature
    assert res.iterations == res.num_matvecs <= 200
    _assert_reduction_matches(A, g, res)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_steihaug_boundary_beats_cauchy(seed):
    A, g = _spd(seed=seed), _gradient(20, seed)
    radius = 0.3 * float(torch.linalg.solve(A, g).norm())
    res = steihaug_cg(g, lambda v: A @ v, radius)
    assert res.hit_boundary and not res.negative_curvature
    assert float(res.step.norm()) == pytest.approx(radius, rel=1e-12)
    cauchy = cauchy_point(g, lambda v: A @ v, radius)
    assert res.predicted_reduction >= cauchy.predicted_reduction * (1 - 1e-12)
    _assert_reduction_matches(A, g, res)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_steihaug_negative_curvature_goes_to_boundary(seed):
    A, g = _indefinite(seed=seed), _gradient(20, seed)
    radius = 1e4
    res = steihaug_cg(g, lambda v: A @ v, radius, rtol=0.0)
    assert res.negative_curvature and res.hit_boundary
    assert float(res.step.norm()) == pytest.approx(radius, rel=1e-12)
    _assert_reduction_matches(A, g, res)
    cauchy = cauchy_point(g, lambda v: A @ v, radius)
    assert res.predicted_reduction >= cauchy.predicted_reduction * (1 - 1e-12)


def test_steihaug_first_direction_negative_curvature():
    A = torch.diag(torch.tensor([-2.0, 1.0, 3.0], dtype=torch.float64))
    g = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    res = steihaug_cg(g, lambda v: A @ v, 2.0)
    assert res.negative_curvature and res.iterations == 1
    assert torch.allclose(res.step, torch.tensor([-2.0, 0.0, 0.0], dtype=torch.float64))
    assert res.predicted_reduction == pytest.approx(2.0 + 4.0)


def test_steihaug_one_iteration_is_cauchy_point():
    A, g = _spd(seed=3), _gradient(20, 3)
    for radius in (1e-2, 1e3):
        cg = steihaug_cg(g, lambda v: A @ v, radius, max_iter=1)
        cp = cauchy_point(g, lambda v: A @ v, radius)
        assert torch.allclose(cg.step, cp.step, rtol=1e-12, atol=1e-15)
        assert cg.predicted_reduction == pytest.approx(cp.predicted_reduction, rel=1e-12)


def test_steihaug_default_tolerance_and_zero_gradient():
    A, g = _spd(seed=4), _gradient(20, 4)
    res = steihaug_cg(g, lambda v: A @ v, 1e3)
    g_norm = float(g.norm())
    residual = float((A @ res.step + g).norm())
    assert residual <= min(0.5, math.sqrt(g_norm)) * g_norm * (1 + 1e-12)
    assert res.iterations < 20
    zero = steihaug_cg(torch.zeros(5, dtype=torch.float64), lambda v: v, 1.0)
    assert zero.num_matvecs == 0 and zero.predicted_reduction == 0.0
    assert torch.equal(zero.step, torch.zeros(5, dtype=torch.float64))


def test_steihaug_float32_and_validation():
    A, g = _spd(seed=5).float(), _gradient(20, 5).float()
    res = steihaug_cg(g, lambda v: A @ v, 1e3, rtol=1e-5)
    assert res.step.dtype == torch.float32
    assert float((A @ res.step + g).norm()) <= 2e-5 * float(g.norm())
    with pytest.raises(ValueError):
        steihaug_cg(g, lambda v: A @ v, 0.0)
    with pytest.raises(ValueError):
        steihaug_cg(g, lambda v: A @ v, 1.0, rtol=-1.0)


def test_boundary_tau_roots_and_stability():
    gen = torch.Generator().manual_seed(7)
    s = 0.3 * torch.randn(6, generator=gen, dtype=torch.float64)
    p = torch.randn(6, generator=gen, dtype=torch.float64)
    radius = 2.0
    tau = boundary_tau(s, p, radius)
    assert tau > 0 and float((s + tau * p).norm()) == pytest.approx(radius, rel=1e-14)
    # s almost on the boundary along p: the naive formula would cancel.
    u = p / p.norm()
    s = (1 - 1e-9) * radius * u
    tau = boundary_tau(s, 1e3 * u, radius)
    assert tau == pytest.approx(1e-9 * radius / 1e3, rel=1e-6)
    assert boundary_tau(-s, u, radius) == pytest.approx((2 - 1e-9) * radius, rel=1e-14)


def test_cauchy_point_convex():
    A, g = _spd(seed=8), _gradient(20, 8)
    gBg, gg = float(g @ A @ g), float(g @ g)
    interior = cauchy_point(g, lambda v: A @ v, 1e3)
    assert torch.allclose(interior.step, -(gg / gBg) * g, rtol=1e-13)
    assert not interior.hit_boundary and not interior.negative_curvature
    _assert_reduction_matches(A, g, interior)
    radius = 0.1 * gg**1.5 / gBg
    boundary = cauchy_point(g, lambda v: A @ v, radius)
    assert boundary.hit_boundary
    assert torch.allclose(boundary.step, -radius * g / g.norm(), rtol=1e-13)
    _assert_reduction_matches(A, g, boundary)


def test_cauchy_point_nonconvex():
    A = torch.diag(torch.tensor([-1.0, 2.0], dtype=torch.float64))
    g = torch.tensor([1.0, 0.1], dtype=torch.float64)
    assert float(g @ A @ g) < 0
    res = cauchy_point(g, lambda v: A @ v, 0.5)
    assert res.negative_curvature and res.hit_boundary
    assert torch.allclose(res.step, -0.5 * g / g.norm(), rtol=1e-14)
    _assert_reduction_matches(A, g, res)


def test_model_reduction():
    g = torch.tensor([1.0, -2.0], dtype=torch.float64)
    s = torch.tensor([0.5, 1.0], dtype=torch.float64)
    Bs = torch.tensor([2.0, 0.0], dtype=torch.float64)
    assert model_reduction(g, s, Bs) == pytest.approx(-(0.5 - 2.0 + 0.5 * 1.0))


@pytest.mark.parametrize(
    "rho, step_norm, expected_radius, expected_accept",
    [
        (0.1, 1.0, 0.5, False),  # shrink, reject
        (0.25, 1.0, 0.5, False),  # tie at eta1: reject and shrink
        (float("nan"), 1.0, 0.5, False),
        (-math.inf, 1.0, 0.5, False),
        (0.5, 1.0, 1.0, True),  # successful: keep
        (0.9, 1.0, 2.0, True),  # very successful on the boundary: expand
        (0.9, 0.995, 2.0, True),  # within the boundary tolerance
        (0.9, 0.5, 1.0, True),  # very successful inside: keep
        (math.inf, 1.0, 2.0, True),
    ],
)
def test_trust_region_update_branches(rho, step_norm, expected_radius, expected_accept):
    radius, accepted = trust_region_update(1.0, rho, step_norm, max_radius=10.0)
    assert radius == expected_radius and accepted is expected_accept


def test_trust_region_update_bounds_and_validation():
    assert trust_region_update(8.0, 0.9, 8.0, max_radius=10.0) == (10.0, True)
    assert trust_region_update(12.0, 0.9, 12.0, max_radius=10.0) == (12.0, True)
    assert trust_region_update(1.5e-6, 0.0, 1.0, max_radius=10.0) == (1e-6, False)
    radius, _ = trust_region_update(1.0, 0.1, 1.0, max_radius=10.0, shrink=0.25)
    assert radius == 0.25
    for bad in ({"eta1": 0.8, "eta2": 0.5}, {"shrink": 1.0}, {"expand": 0.5}, {"min_radius": 20.0}):
        with pytest.raises(ValueError):
            trust_region_update(1.0, 0.5, 1.0, **{"max_radius": 10.0, **bad})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_steihaug_on_cuda_matches_cpu():
    A, g = _indefinite(seed=9), _gradient(20, 9)
    for radius in (0.5, 1e3):
        a = steihaug_cg(g, lambda v: A @ v, radius)
        Ac = A.cuda()
        b = steihaug_cg(g.cuda(), lambda v: Ac @ v, radius)
        assert b.step.device.type == "cuda" and b.iterations == a.iterations
        assert torch.allclose(a.step, b.step.cpu(), atol=1e-10)
