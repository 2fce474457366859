"""Tests for the Cole–Hopf / Gauss–Hermite Burgers reference solution."""

import os

import numpy as np
import pytest

from ml2bench.problems.burgers_reference import (
    DEFAULT_NU,
    burgers_exact,
    burgers_exact_dx,
    burgers_reference_grid,
    default_reference_cache_dir,
)

X = np.linspace(-1.0, 1.0, 201)


def test_initial_condition_exact_and_small_t():
    assert np.array_equal(burgers_exact(X, 0.0), -np.sin(np.pi * X))
    # For small t, u ≈ -sin(πx) - t·(u u_x - ν u_xx)|_{t=0} = O(t) away from it.
    u = burgers_exact(X, 1e-6)
    assert np.max(np.abs(u + np.sin(np.pi * X))) < 1e-5


def test_boundary_values_vanish():
    t = np.array([0.05, 0.25, 0.5, 0.75, 1.0])
    assert np.max(np.abs(burgers_exact(1.0, t))) < 1e-12
    assert np.max(np.abs(burgers_exact(-1.0, t))) < 1e-12


def test_antisymmetry_and_zero_at_origin():
    for t in (0.1, 0.3, 0.6, 1.0):
        u = burgers_exact(X, t)
        assert np.max(np.abs(u + u[::-1])) < 1e-12
        assert abs(burgers_exact(0.0, t)) < 1e-12


def test_shape_broadcasting_and_range():
    u = burgers_exact(X[None, :], np.array([0.0, 0.5, 1.0])[:, None])
    assert u.shape == (3, 201) and u.dtype == np.float64
    assert np.all(np.abs(u) <= 1.0 + 1e-12)
    # Solution is positive on (-1, 0) and negative on (0, 1) at all times.
    assert np.all(u[:, 1:100] > 0) and np.all(u[:, 101:-1] < 0)


def test_steep_gradient_at_origin():
    # Known value (Basdevant et al. 1986): min_t u_x(0, t) = -152.00516 at t = 1.6037/π.
    t_star = 1.6037 / np.pi
    assert burgers_exact_dx(0.0, t_star) == pytest.approx(-152.00516, abs=2e-4)
    assert burgers_exact_dx(0.0, t_star) < burgers_exact_dx(0.0, [0.45, 0.55]).min()
    assert abs(burgers_exact_dx(0.0, 0.5)) > 50
    # u is decreasing through the shock layer around x = 0 (its maximum on x < 0 sits
    # at x ≈ -0.028 for t = 0.5) and jumps from about +0.98 to -0.98 across it.
    xs = np.linspace(-0.02, 0.02, 81)
    u = burgers_exact(xs, 0.5)
    assert np.all(np.diff(u) < 0)
    assert u[0] > 0.97 and u[-1] < -0.97


def test_derivative_matches_finite_differences():
    x = np.array([-0.7, -0.2, 0.01, 0.3, 0.9])
    h = 1e-6
    fd = (burgers_exact(x + h, 0.4) - burgers_exact(x - h, 0.4)) / (2 * h)
    assert np.allclose(burgers_exact_dx(x, 0.4), fd, rtol=1e-5, atol=1e-5)
    assert np.allclose(burgers_exact_dx(X, 0.0), -np.pi * np.cos(np.pi * X))


def test_quadrature_converged():
    xs = np.linspace(-1, 1, 101)
    for t in (0.01, 0.5, 1.0):
        coarse = burgers_exact(xs, t, num_nodes=150)
        fine = burgers_exact(xs, t, num_nodes=300)
        assert np.max(np.abs(coarse - fine)) < 1e-8


def test_invalid_arguments():
    with pytest.raises(ValueError):
        burgers_exact(0.0, -0.1)
    with pytest.raises(ValueError):
        burgers_exact(0.0, 0.5, nu=0.0)
    with pytest.raises(ValueError):
        burgers_exact(0.0, 0.5, num_nodes=5000)


def test_reference_grid_cache_round_trip(tmp_path):
    ref = burgers_reference_grid(nx=64, nt=11, cache_dir=tmp_path)
    assert ref.u.shape == (64, 11) and ref.x.shape == (64,) and ref.t.shape == (11,)
    assert ref.t[0] == 0.0 and ref.t[-1] == 1.0 and ref.nu == DEFAULT_NU
    assert np.array_equal(ref.u[:, 0], -np.sin(np.pi * ref.x))
    assert np.array_equal(ref.u[:, 5], burgers_exact(ref.x, ref.t[5]))
    assert ref["u"] is ref.u and ref["x"] is ref.x  # key access, as from the .npz
    with pytest.raises(KeyError):
        ref["v"]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].endswith(".npz") and "nx64_nt11" in files[0]
    path = tmp_path / files[0]
    mtime = path.stat().st_mtime_ns
    again = burgers_reference_grid(nx=64, nt=11, cache_dir=tmp_path)
    assert path.stat().st_mtime_ns == mtime  # loaded, not rewritten
    assert np.array_equal(again.u, ref.u) and np.array_equal(again.x, ref.x)
    # A different key gives a different file; a corrupt file is recomputed.
    burgers_reference_grid(nx=32, nt=11, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    path.write_bytes(b"not an npz")
    repaired = burgers_reference_grid(nx=64, nt=11, cache_dir=tmp_path)
    assert np.array_equal(repaired.u, ref.u)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_default_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ML2BENCH_CACHE", str(tmp_path / "c"))
    assert default_reference_cache_dir() == tmp_path / "c"
    ref = burgers_reference_grid(nx=16, nt=3)
    assert ref.u.shape == (16, 3)
    assert len(list((tmp_path / "c").glob("burgers_*.npz"))) == 1
    monkeypatch.delenv("ML2BENCH_CACHE")
    assert default_reference_cache_dir().parts[-3:] == (".cache", "ml2bench", "reference")
    assert os.fspath(default_reference_cache_dir()).startswith(os.path.expanduser("~"))
