"""Klein–Gordon and Allen–Cahn PINNs (Schwarz paper) and the ETDRK4 Allen–Cahn reference."""

import math

import numpy as np
import pytest
import torch

from ml2bench.problems.allen_cahn_reference import (
    allen_cahn_etdrk4,
    allen_cahn_reference_grid,
    cache_path,
    checksum,
    default_dt,
    initial_coefficients,
)
from ml2bench.problems.registry import load_specs, make_task, resolve_problem
from ml2bench.problems.schwarz_pinns import (
    allen_cahn_equation,
    kg_exact,
    klein_gordon_equation,
)

TIMES = np.linspace(0.0, 1.0, 21)


@pytest.fixture(scope="module")
def coarse_and_fine():
    """ε = 1e-3: (N = 512, h = 5e-4) and the refined (N = 1024, h = 2.5e-4) solves."""
    _, coarse = allen_cahn_etdrk4(1e-3, 512, 5e-4, TIMES)
    _, fine = allen_cahn_etdrk4(1e-3, 1024, 2.5e-4, TIMES)
    return coarse, fine[::2]


def test_etdrk4_converges_against_a_refined_solve(coarse_and_fine):
    coarse, fine = coarse_and_fine
    diff = coarse - fine
    # Measured: relative l2 over t = 0, 0.05, ..., 1: 1.8e-11; max 5e-10 (at t = 0.05).
    assert np.linalg.norm(diff) / np.linalg.norm(fine) < 1e-9
    assert np.abs(diff).max() < 1e-8


def test_allen_cahn_solution_shape(coarse_and_fine):
    u = coarse_and_fine[1]
    x = -1.0 + 2.0 * np.arange(u.shape[0]) / u.shape[0]
    assert np.array_equal(u[:, 0], x**2 * np.cos(np.pi * x))
    assert np.all(np.abs(u) <= 1.0 + 1e-12)
    mirror = (-np.arange(u.shape[0])) % u.shape[0]  # x_j -> -x_j on the periodic grid
    assert np.abs(u - u[mirror]).max() < 1e-12
    # t = 1: −1 plateaus for |x| > 0.6, +1 plateaus (max 0.99 at |x| ≈ 0.34) for
    # 0.2 < |x| < 0.42, a dip to 0.275 at x = 0 between them, interfaces at |x| ≈ 0.4941.
    final = u[:, -1]
    assert np.all(final[np.abs(x) > 0.6] < -0.99)
    plateau = (np.abs(x) > 0.2) & (np.abs(x) < 0.42)
    assert np.all(final[plateau] > 0.9) and 0.99 < final.max() < 1.0
    assert 0.27 < final[np.argmin(np.abs(x))] < 0.28
    i = np.flatnonzero(np.diff(np.sign(final)) != 0)
    crossings = x[i] - final[i] * (x[i + 1] - x[i]) / (final[i + 1] - final[i])
    assert len(crossings) == 2 and np.allclose(np.abs(crossings), 0.4941, atol=5e-4)


def test_initial_coefficients_are_the_fourier_series_of_the_initial_condition():
    x = -1.0 + 2.0 * np.arange(64) / 64
    values = np.fft.irfft(initial_coefficients(8192), n=8192)[::128]
    inner = np.abs(x) < 0.9
    assert np.abs(values - x**2 * np.cos(np.pi * x))[inner].max() < 1e-7


def test_reference_cache_round_trip_and_corruption(tmp_path):
    kwargs = dict(eps=1e-3, nx=64, nt=11, modes=128, dt=1e-3, cache_dir=tmp_path)
    ref = allen_cahn_reference_grid(**kwargs)
    assert ref.u.shape == (65, 11) and ref.x[0] == -1.0 and ref.x[-1] == 1.0
    assert np.array_equal(ref.u[0], ref.u[-1]) and ref.checksum == checksum(ref.u)
    path = cache_path(1e-3, 64, 11, 128, 1e-3, tmp_path)
    assert path.exists()
    mtime = path.stat().st_mtime_ns
    again = allen_cahn_reference_grid(**kwargs)
    assert path.stat().st_mtime_ns == mtime and np.array_equal(again.u, ref.u)
    # A file whose u does not match its checksum is recomputed; so is garbage.
    with np.load(path) as data:
        fields = dict(data)
    fields["u"] = fields["u"] + 1e-3
    np.savez(path, **fields)
    assert np.array_equal(allen_cahn_reference_grid(**kwargs).u, ref.u)
    path.write_bytes(b"not an npz")
    assert np.array_equal(allen_cahn_reference_grid(**kwargs).u, ref.u)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ValueError):
        allen_cahn_reference_grid(eps=1e-3, nx=60, modes=128, cache_dir=tmp_path)


def test_reference_on_a_shorter_horizon_equals_the_long_one_at_common_times(tmp_path):
    """``t_final = 0.25`` samples the same solution: its last column (t = 0.25) equals the
    ``t_final = 1`` grid's column at t = 0.25 up to the time-stepping error (a different
    step, 0.25/1300 ≈ 1.92e-4 against 2e-4), and both are cached apart."""
    common = dict(eps=1e-3, nx=64, nt=101, modes=256, cache_dir=tmp_path)
    assert default_dt(1.0, 101) == 2e-4 and default_dt(0.25, 101) == 0.0025 / 13
    long = allen_cahn_reference_grid(**common)
    short = allen_cahn_reference_grid(**common, t_final=0.25)
    assert short.t[-1] == 0.25 and short.dt == 0.0025 / 13 and long.dt == 2e-4
    assert np.array_equal(short.u[:, 0], long.u[:, 0])
    assert np.abs(short.u[:, -1] - long.u[:, 25]).max() < 1e-9
    assert np.abs(short.u[:, -1] - short.u[:, 0]).max() > 0.05  # the solution has moved
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and any("_T0.25" in n for n in names)
    with pytest.raises(ValueError, match="t_final"):
        allen_cahn_reference_grid(**common, t_final=0.0)


def test_allen_cahn_t_final_sets_the_domain_and_keeps_stored_identities():
    short = make_task("allen_cahn_pinn[quick=true,t_final=0.25]", seed=0)
    assert float(short.train[0][:, 1].max()) <= 0.25 < float(
        make_task("allen_cahn_pinn[quick=true]", seed=0).train[0][:, 1].max())
    assert float(short.test[0][:, 1].max()) == 0.25
    # at its default (1) it is not a resolved value, so runs stored before it keep their id
    assert "t_final" not in resolve_problem("allen_cahn_pinn[t_final=1.0]")[2]
    assert resolve_problem("allen_cahn_pinn[t_final=0.25]")[2]["t_final"] == 0.25


def _points(equation, n=200, seed=0):
    rng = np.random.default_rng(seed)
    lower, upper = np.array(equation.lower), np.array(equation.upper)
    x = lower + rng.uniform(size=(n, 2)) * (upper - lower)
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("variant,p", [("schwarz", 2), ("cubic", 3), ("schwarz", 3)])
def test_klein_gordon_residual_vanishes_at_the_manufactured_solution(variant, p):
    equation = klein_gordon_equation(variant, p, 1.0)
    x = _points(equation)
    u = kg_exact(variant, x[:, 0], x[:, 1])
    residual = equation.residual(x, u)
    assert residual.abs().max().item() < 1e-11 * max(1.0, equation.forcing_scale)
    # and it does not vanish for a perturbed u (the equation is not trivially satisfied)
    assert equation.residual(x, u + 0.1 * x[:, 0] ** 2).abs().max().item() > 1e-2


def _network_outputs(x):
    return torch.sin(3 * x[:, :1] + 2 * x[:, 1:]) + 0.5 + x[:, 1:] ** 2


@pytest.mark.parametrize("variant", ["schwarz", "cubic"])
def test_klein_gordon_hard_conditions_hold_for_any_network(variant):
    equation = klein_gordon_equation(variant, 2, 1.0)
    (x0, t0), (x1, t1) = equation.lower, equation.upper
    s = torch.linspace(0, 1, 33, dtype=torch.float64)
    sides = [torch.stack([x0 + 0 * s, t0 + (t1 - t0) * s], 1),
             torch.stack([x1 + 0 * s, t0 + (t1 - t0) * s], 1),
             torch.stack([x0 + (x1 - x0) * s, t0 + 0 * s], 1)]
    if variant == "schwarz":
        sides.append(torch.stack([x0 + (x1 - x0) * s, t1 + 0 * s], 1))
    for side in sides:
        u = equation.ansatz(side, _network_outputs(side))
        assert torch.allclose(u, kg_exact(variant, side[:, 0], side[:, 1]), atol=1e-14, rtol=0)
    if variant == "cubic":  # u_t(x, 0) = 0 for any network
        x = torch.stack([x0 + (x1 - x0) * s, 0 * s], 1).requires_grad_(True)
        u = equation.ansatz(x, _network_outputs(x))
        u_t = torch.autograd.grad(u.sum(), x)[0][:, 1]
        assert u_t.abs().max().item() < 1e-14


def test_allen_cahn_hard_conditions_and_residual():
    equation = allen_cahn_equation(1e-3)
    s = torch.linspace(-1, 1, 33, dtype=torch.float64)
    initial = torch.stack([s, 0 * s], 1)
    u0 = equation.ansatz(initial, _network_outputs(initial))
    assert torch.equal(u0, s**2 * torch.cos(math.pi * s))
    for end in (-1.0, 1.0):
        side = torch.stack([end + 0 * s, (s + 1) / 2], 1)
        assert torch.allclose(equation.ansatz(side, _network_outputs(side)),
                              torch.full_like(s, -1.0), atol=1e-14, rtol=0)
    # u = tanh(x/δ), δ = √(2ε/5), is a steady solution: residual ~ 0 (rounding).
    x = _points(equation)
    u = torch.tanh(x[:, 0] / math.sqrt(2e-3 / 5))
    assert equation.residual(x, u).abs().max().item() < 1e-9


def test_allen_cahn_periodic_option_is_exactly_periodic():
    task = make_task("allen_cahn_pinn[quick=true,boundary=periodic]", seed=2)
    equation = allen_cahn_equation(1e-3, "periodic")
    t = torch.linspace(0, 1, 17, dtype=torch.float64)
    left = equation.solution(task.model, torch.stack([-1 + 0 * t, t], 1))
    right = equation.solution(task.model, torch.stack([1 + 0 * t, t], 1))
    assert torch.allclose(left, right, atol=1e-14, rtol=0) and left.std() > 0
    s = torch.linspace(-1, 1, 33, dtype=torch.float64)
    u0 = equation.solution(task.model, torch.stack([s, 0 * s], 1))
    assert torch.equal(u0, s**2 * torch.cos(math.pi * s))
    with pytest.raises(ValueError):
        allen_cahn_equation(1e-3, "neumann")


def test_specs_registered_with_the_sources_defaults():
    specs = load_specs()
    assert specs["klein_gordon_pinn"].family == "klein_gordon"
    assert specs["allen_cahn_pinn"].family == "allen_cahn"
    _, _, kg = resolve_problem("klein_gordon_pinn")
    assert (kg["variant"], kg["p"], kg["dtype"]) == ("schwarz", 2, "float64")
    _, _, ac = resolve_problem("allen_cahn_pinn")
    assert ac["eps"] == 1e-3 and ac["dtype"] == "float64"


@pytest.mark.parametrize("label", ["klein_gordon_pinn[quick=true]",
                                   "klein_gordon_pinn[quick=true,variant=cubic,p=3]",
                                   "allen_cahn_pinn[quick=true]",
                                   "allen_cahn_pinn[quick=true,boundary=periodic,eps=1e-4]"])
def test_quick_tasks_train(label):
    task = make_task(label, seed=1)
    assert task.dtype == torch.float64 and task.train[0].shape == (256, 2)
    metrics = task.evaluate()
    assert all(math.isfinite(v) for v in metrics.values()) and "test_rel_l2" in metrics
    model = task.model
    loss = lambda: task.objective(model, task.train)  # noqa: E731
    before = loss().item()
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(5):
        adam.zero_grad()
        loss().backward()
        adam.step()
    after_adam = loss().item()
    lbfgs = torch.optim.LBFGS(model.parameters(), max_iter=10, line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        value = loss()
        value.backward()
        return value

    lbfgs.step(closure)
    after = loss().item()
    assert after_adam < before and after < after_adam
