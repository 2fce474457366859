"""Tests of the compact L-SR1 matrix and its exact (OBS) trust-region solver."""

import math

import pytest
import torch

from ml2bench.solvers.lsr1 import LSR1, obs_solve

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _symmetric(eigenvalues, seed):
    n = len(eigenvalues)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=_gen(seed), dtype=F64))
    return Q @ torch.diag(torch.tensor(eigenvalues, dtype=F64)) @ Q.T


def _random_pairs(n, k, seed, noise=0.3):
    gen = _gen(seed)
    A = torch.randn(n, n, generator=gen, dtype=F64)
    A = 0.5 * (A + A.T)
    S = torch.randn(k, n, generator=gen, dtype=F64)
    Y = S @ A + noise * torch.randn(k, n, generator=gen, dtype=F64)
    return S, Y


def _dense_sr1(S, Y, gamma):
    B = gamma * torch.eye(S.shape[1], dtype=F64)
    for s, y in zip(S, Y):
        r = y - B @ s
        B = B + torch.outer(r, r) / (r @ s)
    return B


def _filled(S, Y, gamma=1.0, memory=None, **kwargs):
    qn = LSR1(memory or S.shape[0], gamma=gamma, **kwargs)
    for s, y in zip(S, Y):
        assert qn.update(s, y)
    return qn


def _reference_tr(B, g, radius):
    """Dense reference: eigendecomposition plus bisection. Returns (s, σ).

    Bisection is on ``t = σ + λ_min`` with shifted eigenvalues ``μ = λ − λ_min`` so
    that nearly-hard cases are resolved accurately.
    """
    lam, V = torch.linalg.eigh(B)
    c = V.T @ g
    lam_min = float(lam[0])
    mu = lam - lam_min
    if lam_min > 0 and float((c / lam).norm()) <= radius:
        return -V @ (c / lam), 0.0
    low = mu <= 1e-9
    if float(c[low].norm()) <= 1e-14 * float(g.norm()):
        t0 = max(0.0, lam_min)
        other = -V[:, ~low] @ (c[~low] / (mu[~low] + t0))
        if float(other.norm()) <= radius:  # hard case
            tau = math.sqrt(radius**2 - float(other.norm()) ** 2)
            return other + tau * V[:, 0], t0 - lam_min
    lo, hi = max(0.0, lam_min), max(0.0, lam_min) + float(g.norm()) / radius
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        norm = float((c / (mu + mid)).norm()) if mid > 0 or float(c[low].norm()) == 0 else math.inf
        lo, hi = (mid, hi) if norm > radius else (lo, mid)
    t = 0.5 * (lo + hi)
    return -V @ (c / (mu + t)), t - lam_min


def _check_optimality(B, g, radius, res):
    s = res.step
    model = float(g @ s + 0.5 * s @ B @ s)
    assert res.predicted_reduction == pytest.approx(-model, rel=1e-10, abs=1e-13)
    norm = float(s.norm())
    assert norm <= radius * (1 + 1e-12)
    # Multiplier: 0 inside; least squares from (B + σI)s = −g on the boundary.
    sigma = 0.0 if norm < radius * (1 - 1e-10) else -float(s @ (B @ s + g)) / norm**2
    assert sigma >= -1e-10
    assert sigma * (radius - norm) == pytest.approx(0.0, abs=1e-9)
    scale = float(g.norm()) + float(torch.linalg.matrix_norm(B, 2)) * norm
    assert float((B @ s + sigma * s + g).norm()) <= 1e-9 * scale
    lam_min = float(torch.linalg.eigvalsh(B)[0])
    assert lam_min + sigma >= -1e-9 * max(1.0, abs(lam_min))
    s_ref, _ = _reference_tr(B, g, radius)
    ref_model = float(g @ s_ref + 0.5 * s_ref @ B @ s_ref)
    assert model == pytest.approx(ref_model, rel=1e-9, abs=1e-12)
    return sigma, s_ref


# --- compact representation -------------------------------------------------------


@pytest.mark.parametrize("gamma", [1.0, 0.5, -0.3])
@pytest.mark.parametrize("n, k, memory", [(7, 5, 5), (7, 4, 9), (4, 6, 6)])
def test_compact_equals_dense_recursion(gamma, n, k, memory):
    S, Y = _random_pairs(n, k, seed=n + k)
    qn = _filled(S, Y, gamma, memory=memory)
    B_ref = _dense_sr1(S, Y, gamma)
    B = qn.dense()
    assert torch.allclose(B, B_ref, rtol=0.0, atol=1e-10 * float(B_ref.abs().max()))
    v = torch.randn(n, generator=_gen(1), dtype=F64)
    atol = 1e-10 * float(B_ref.abs().max()) * n
    assert torch.allclose(qn.matvec(v), B_ref @ v, rtol=0.0, atol=atol)
    assert torch.allclose(B @ S[-1], Y[-1], atol=1e-9)  # secant condition of the last pair


def test_memory_drops_oldest_pairs():
    S, Y = _random_pairs(8, 6, seed=3)
    qn = _filled(S, Y, 1.0, memory=3)
    assert len(qn) == 3
    assert torch.allclose(qn.dense(), _dense_sr1(S[-3:], Y[-3:], 1.0), atol=1e-10)
    assert qn.num_accepted == 6 and qn.num_skipped == 0


def test_pairs_revalidated_after_dropping_oldest():
    e = torch.eye(3, dtype=F64)
    qn = LSR1(2, gamma=1.0)
    assert qn.update(e[0], 2 * e[0])
    # Valid after the first pair (pivot −1) but degenerate from γI alone (sᵀ(y − s) = 0).
    assert qn.update(e[0] + e[1], 2 * e[0])
    assert len(qn) == 2
    assert qn.update(e[2], 3 * e[2])  # drops pair 1, so pair 2 must go as well
    assert len(qn) == 1
    assert torch.allclose(qn.dense(), _dense_sr1(e[2:], 3 * e[2:], 1.0), atol=1e-14)


def test_skip_rule_on_degenerate_pairs():
    qn = LSR1(5, gamma=1.0)
    s = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    assert not qn.update(s, s + torch.tensor([0.0, 1.0, 0.0], dtype=F64))  # sᵀ(y − Bs) = 0
    assert not qn.update(s, s.clone())  # y = Bs
    assert len(qn) == 0 and qn.num_skipped == 2
    r = torch.tensor([1e-9, 1.0, 0.0], dtype=F64)  # |sᵀr| / (‖s‖‖r‖) ≈ 1e-9 < 1e-8
    assert not qn.update(s, s + r)
    assert qn.update(s, s + torch.tensor([1e-7, 1.0, 0.0], dtype=F64))
    # A second pair degenerate with respect to the updated B is skipped too.
    t = torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    assert not qn.update(t, qn.matvec(t) + torch.tensor([1.0, 0.0, 0.0], dtype=F64))
    assert len(qn) == 1


def test_first_scaling_and_secant_conditions():
    S, Y = _random_pairs(10, 4, seed=5, noise=0.0)
    S, Y = S, Y + 3.0 * S  # shift so that sᵀy > 0 for the first pair
    qn = LSR1(4, scaling="first")
    for s, y in zip(S, Y):
        qn.update(s, y)
    s0, y0 = S[0], Y[0]
    assert float(s0 @ y0) > 0
    assert qn.gamma == pytest.approx(float(y0 @ y0) / float(s0 @ y0), rel=1e-14)
    kept = qn.state_dict()
    assert torch.allclose(qn.dense() @ kept["S"].T, kept["Y"].T, atol=1e-8)


def test_state_dict_round_trip():
    S, Y = _random_pairs(6, 4, seed=11)
    qn = _filled(S[:3], Y[:3], 0.7, memory=5, scaling="latest")
    copy = LSR1()
    copy.load_state_dict(qn.state_dict())
    assert copy.memory == 5 and copy.scaling == "latest" and copy.gamma == qn.gamma
    assert torch.equal(copy.dense(), qn.dense())
    assert copy.update(S[3], Y[3]) == qn.update(S[3], Y[3])
    assert torch.allclose(copy.dense(), qn.dense(), rtol=0, atol=0)
    empty = LSR1(3, gamma=2.0)
    restored = LSR1()
    restored.load_state_dict(empty.state_dict())
    assert len(restored) == 0 and restored.gamma == 2.0


def test_constructor_validation():
    for kwargs in ({"memory": 0}, {"gamma": math.nan}, {"scaling": "auto"}, {"skip_tol": -1.0}):
        with pytest.raises(ValueError):
            LSR1(**kwargs)


# --- OBS subproblem solver --------------------------------------------------------


def _near_identity(n=8, k=4, seed=0):
    A = _symmetric(torch.linspace(0.8, 1.3, n).tolist(), seed)
    S = torch.randn(k, n, generator=_gen(seed), dtype=F64)
    return _filled(S, S @ A, 1.0)


def _indefinite(n=8, k=4, seed=0, gamma=1.0):
    A = _symmetric(torch.linspace(-2.0, 3.0, n).tolist(), seed)
    S = torch.randn(k, n, generator=_gen(seed), dtype=F64)
    return _filled(S, S @ A, gamma)


def test_obs_interior():
    qn = _near_identity()
    B = qn.dense()
    assert float(torch.linalg.eigvalsh(B)[0]) > 0
    g = torch.randn(8, generator=_gen(1), dtype=F64)
    newton = -torch.linalg.solve(B, g)
    res = qn.solve_obs(g, 2.0 * float(newton.norm()))
    assert not res.hit_boundary and not res.negative_curvature
    assert torch.allclose(res.step, newton, atol=1e-12)
    _check_optimality(B, g, 2.0 * float(newton.norm()), res)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_obs_boundary_convex(seed):
    qn = _near_identity(seed=seed)
    B = qn.dense()
    g = torch.randn(8, generator=_gen(seed + 1), dtype=F64)
    radius = 0.4 * float(torch.linalg.solve(B, g).norm())
    res = qn.solve_obs(g, radius)
    assert res.hit_boundary
    sigma, s_ref = _check_optimality(B, g, radius, res)
    assert sigma > 0
    assert torch.allclose(res.step, s_ref, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("radius", [0.1, 1.0, 100.0])
def test_obs_indefinite(seed, radius):
    qn = _indefinite(seed=seed)
    B = qn.dense()
    assert float(torch.linalg.eigvalsh(B)[0]) < 0
    g = torch.randn(8, generator=_gen(seed + 7), dtype=F64)
    res = qn.solve_obs(g, radius)
    assert res.negative_curvature and res.hit_boundary
    _, s_ref = _check_optimality(B, g, radius, res)
    assert torch.allclose(res.step, s_ref, atol=1e-8 * radius)


def test_obs_hard_case_in_range_of_psi():
    qn = _indefinite(seed=4)
    B = qn.dense()
    lam, V = torch.linalg.eigh(B)
    assert float(lam[0]) < 0 and float(lam[1] - lam[0]) > 1e-3
    g = torch.randn(8, generator=_gen(9), dtype=F64)
    g = g - (V[:, 0] @ g) * V[:, 0]
    other = -V[:, 1:] @ ((V[:, 1:].T @ g) / (lam[1:] - lam[0]))
    radius = 2.0 * float(other.norm())
    res = qn.solve_obs(g, radius)
    assert res.hit_boundary and res.negative_curvature
    sigma, _ = _check_optimality(B, g, radius, res)
    assert sigma == pytest.approx(-float(lam[0]), rel=1e-8)


@pytest.mark.parametrize("component", [1e-3, 1e-6, 1e-8, 1e-11])
@pytest.mark.parametrize("factor", [2.0, 1.0 + 1e-6, 0.9])
def test_obs_nearly_hard_case(component, factor):
    qn = _indefinite(seed=4)
    B = qn.dense()
    lam, V = torch.linalg.eigh(B)
    g = torch.randn(8, generator=_gen(9), dtype=F64)
    g = g - (V[:, 0] @ g) * V[:, 0]
    other = -V[:, 1:] @ ((V[:, 1:].T @ g) / (lam[1:] - lam[0]))
    radius = factor * float(other.norm())
    g = g + component * V[:, 0]
    res = qn.solve_obs(g, radius)
    assert res.hit_boundary and res.iterations <= 40
    _check_optimality(B, g, radius, res)


def test_obs_hard_case_in_complement_with_negative_gamma():
    n, k = 9, 3
    A = _symmetric(torch.linspace(1.0, 2.0, n).tolist(), 2)
    S = torch.randn(k, n, generator=_gen(2), dtype=F64)
    qn = _filled(S, S @ A, -1.0)  # M = Sᵀ(A + I)S ≻ 0: λ_min(B) = γ = −1 on range(Ψ)^⊥
    B = qn.dense()
    assert float(torch.linalg.eigvalsh(B)[0]) == pytest.approx(-1.0)
    psi = qn.state_dict()["Y"] + qn.state_dict()["S"]  # Ψ = Y − γS
    g = psi.T @ torch.randn(k, generator=_gen(3), dtype=F64)  # g ⟂ eigenspace of γ
    res = qn.solve_obs(g, 50.0)
    assert res.hit_boundary and res.negative_curvature
    sigma, _ = _check_optimality(B, g, 50.0, res)
    assert sigma == pytest.approx(1.0, rel=1e-8)


@pytest.mark.parametrize("gamma", [2.0, 0.0, -1.0])
def test_obs_empty_memory(gamma):
    qn = LSR1(3, gamma=gamma)
    g = torch.tensor([3.0, 4.0], dtype=F64)
    for radius in (0.5, 10.0):
        res = qn.solve_obs(g, radius)
        expected = -g * (min(1.0 / gamma, radius / 5.0) if gamma > 0 else radius / 5.0)
        assert torch.allclose(res.step, expected, atol=1e-12)
        assert res.negative_curvature is (gamma < 0)
        _check_optimality(gamma * torch.eye(2, dtype=F64), g, radius, res)
    zero = LSR1(3, gamma=-1.0).solve_obs(torch.zeros(4, dtype=F64), 2.0)
    assert float(zero.step.norm()) == pytest.approx(2.0)
    assert zero.predicted_reduction == pytest.approx(0.5 * 2.0**2)


def test_obs_rank_deficient_psi_and_cg():
    S, Y = _random_pairs(4, 6, seed=21)
    qn = _filled(S, Y, 1.0, memory=6)  # k = 6 > n = 4: Ψ is rank deficient
    B = qn.dense()
    g = torch.randn(4, generator=_gen(22), dtype=F64)
    for radius in (0.05, 1.0, 1e3):
        res = qn.solve_obs(g, radius)
        _check_optimality(B, g, radius, res)
        cg = qn.solve_cg(g, radius)
        assert cg.predicted_reduction <= res.predicted_reduction * (1 + 1e-10)
        explicit = -float(g @ cg.step + 0.5 * cg.step @ B @ cg.step)
        assert cg.predicted_reduction == pytest.approx(explicit, rel=1e-9)


def test_obs_float32():
    qn = _indefinite(seed=1)
    state = qn.state_dict()
    psi = (state["Y"] - qn.gamma * state["S"]).float()
    from ml2bench.solvers.lsr1 import compact_middle

    middle = compact_middle(state["S"].float(), state["Y"].float(), qn.gamma)
    g = torch.randn(8, generator=_gen(3), dtype=F64)
    res32 = obs_solve(g.float(), 1.0, qn.gamma, psi, middle)
    res64 = qn.solve_obs(g, 1.0)
    assert res32.step.dtype == torch.float32
    assert torch.allclose(res32.step.double(), res64.step, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_lsr1_on_cuda_matches_cpu():
    S, Y = _random_pairs(8, 4, seed=31)
    cpu = _filled(S, Y, 1.0)
    gpu = _filled(S.cuda(), Y.cuda(), 1.0)
    g = torch.randn(8, generator=_gen(32), dtype=F64)
    for radius in (0.1, 10.0):
        a, b = cpu.solve_obs(g, radius), gpu.solve_obs(g.cuda(), radius)
        assert b.step.device.type == "cuda"
        assert torch.allclose(a.step, b.step.cpu(), atol=1e-10)
        assert b.predicted_reduction == pytest.approx(a.predicted_reduction, rel=1e-10)


@pytest.mark.parametrize("scaling", ["fixed", "latest"])
def test_trust_region_with_lsr1_obs_minimises_rosenbrock(scaling):
    from ml2bench.solvers.tr_subproblem import trust_region_update

    def value_and_grad(x):
        x = x.clone().requires_grad_(True)
        value = ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum()
        (grad,) = torch.autograd.grad(value, x)
        return float(value.detach()), grad

    x = torch.tensor([-1.2, 1.0, -1.2, 1.0, 0.5], dtype=F64)
    qn, radius = LSR1(5, scaling=scaling), 1.0
    fx, g = value_and_grad(x)
    for _ in range(500):
        res = qn.solve_obs(g, radius)
        f_new, g_new = value_and_grad(x + res.step)
        rho = (fx - f_new) / res.predicted_reduction
        qn.update(res.step, g_new - g)
        radius, accepted = trust_region_update(
            radius, rho, float(res.step.norm()), max_radius=10.0, min_radius=1e-12
        )
        if accepted:
            assert f_new < fx
            x, fx, g = x + res.step, f_new, g_new
        if float(g.norm()) < 1e-8:
            break
    assert torch.allclose(x, torch.ones(5, dtype=F64), atol=1e-6)


def test_update_that_leaves_the_middle_matrix_singular_in_float32_is_skipped():
    """Property: B stays defined. s = (1, 1), y = (1 + 2⁻²³, 1) passes the skip rule
    (sᵀ(y − s) = 2⁻²³ > 1e-8‖s‖‖y − s‖) but M = sᵀy − sᵀs rounds to exactly 0 in
    float32 (2 + 2⁻²³ is a tie that rounds to 2): the update is skipped, the memory
    stays as it was and products with B still work."""
    memory = LSR1(5, gamma=1.0, scaling="fixed")
    s = torch.tensor([1.0, 1.0])
    assert memory.update(s, torch.tensor([1.0 + 2.0**-23, 1.0])) is False
    assert memory.num_skipped == 1 and memory.state_dict()["S"] is None
    assert torch.equal(memory.matvec(torch.tensor([1.0, 0.0])), torch.tensor([1.0, 0.0]))
    assert memory.update(s, torch.tensor([2.0, 1.0])) is True  # a well-posed pair still enters
    assert torch.allclose(memory.matvec(s), torch.tensor([2.0, 1.0]))
