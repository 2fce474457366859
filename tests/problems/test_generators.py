"""Tests for ml2bench.problems.generators (Haber & Ruthotto data sets, collocation)."""

import numpy as np
import pytest

from ml2bench.problems.generators import (
    ellipses,
    hammersley,
    peaks,
    peaks_band_edges,
    peaks_values,
    swissroll,
    uniform_grid,
)


def _rng(seed=0):
    return np.random.default_rng(seed)


# --- ellipses -----------------------------------------------------------------------


def test_ellipses_shapes_counts_and_dtypes():
    X, y = ellipses(_rng(), points_per_class=1000)
    assert X.shape == (2000, 2) and X.dtype == np.float64
    assert y.shape == (2000,) and y.dtype == np.int64
    assert np.array_equal(np.bincount(y), [1000, 1000])


def test_ellipses_radii_ranges_and_aspect_ratio():
    X, y = ellipses(_rng(1), points_per_class=2000)
    # Undo the 0.4 squeeze: the elliptic radius is the drawn r.
    r = np.hypot(X[:, 0], X[:, 1] / 0.4)
    assert r[y == 0].min() >= 0.0 and r[y == 0].max() < 1.0
    assert r[y == 1].min() >= 1.0 and r[y == 1].max() < 2.0
    # Both ranges are filled (uniform draws reach near the ends).
    assert r[y == 0].max() > 0.99 and r[y == 1].min() < 1.01 and r[y == 1].max() > 1.99
    # Bounding box of each class has aspect ratio 0.4 (semi-axes r_max and 0.4 r_max).
    for cls, r_max in ((0, 1.0), (1, 2.0)):
        P = X[y == cls]
        assert np.abs(P[:, 0]).max() <= r_max and np.abs(P[:, 1]).max() <= 0.4 * r_max
        ratio = np.abs(P[:, 1]).max() / np.abs(P[:, 0]).max()
        assert ratio == pytest.approx(0.4, rel=0.01)


def test_ellipses_seeded():
    a = ellipses(_rng(7), 100)
    b = ellipses(_rng(7), 100)
    c = ellipses(_rng(8), 100)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_ellipses_rejects_non_generator():
    with pytest.raises(TypeError):
        ellipses(0)


# --- swissroll ----------------------------------------------------------------------


def test_swissroll_counts_and_split():
    X, y, train = swissroll()
    assert X.shape == (1026, 2) and X.dtype == np.float64
    assert y.dtype == np.int64 and train.dtype == bool
    assert np.array_equal(np.bincount(y), [513, 513])
    assert train.sum() == 513 and (~train).sum() == 513
    # MATLAB Y(1:2:end,:) on the stacked array = 0-based even rows.
    assert np.array_equal(np.flatnonzero(train), np.arange(0, 1026, 2))
    assert np.array_equal(np.bincount(y[train]), [257, 256])
    assert np.array_equal(np.bincount(y[~train]), [256, 257])


def test_swissroll_geometry():
    n = 256
    X, y, _ = swissroll(n)
    theta = np.linspace(0, 4 * np.pi, 2 * n + 1)
    assert np.isclose(theta[1], 4 * np.pi / (2 * n))
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.allclose(r[y == 0], np.linspace(0.0, 1.0, 2 * n + 1))
    assert np.allclose(r[y == 1], np.linspace(0.2, 1.2, 2 * n + 1))
    # Both spirals share the same angles.
    for cls in (0, 1):
        pts = X[y == cls][1:]  # skip the origin of class A
        assert np.allclose(np.arctan2(pts[:, 1], pts[:, 0]), np.angle(np.exp(1j * theta[1:])))
    assert np.allclose(X[513], [0.2, 0.0]) and np.allclose(X[0], [0.0, 0.0])


def test_swissroll_small_n_is_deterministic():
    X1, y1, t1 = swissroll(4)
    X2, y2, t2 = swissroll(4)
    assert X1.shape == (18, 2)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2) and np.array_equal(t1, t2)


# --- peaks --------------------------------------------------------------------------


def test_peaks_values_formula():
    # Spot values of MATLAB's peaks function.
    assert peaks_values(0.0, 0.0) == pytest.approx(
        3 * np.exp(-1) - np.exp(-1) / 3
    )
    expected = -10 * (0.2 - 1 + 1) * np.exp(-2) - np.exp(-5) / 3
    assert peaks_values(1.0, -1.0) == pytest.approx(expected)
    z = peaks_values(np.zeros((3, 4)), np.ones((3, 4)))
    assert z.shape == (3, 4)


def test_peaks_counts_and_bands():
    X, y = peaks(_rng(3), num_points=8000, num_classes=5)
    assert X.shape == (8000, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.array_equal(np.bincount(y), [1600] * 5)
    assert X.min() >= -3.0 and X.max() <= 3.0
    edges = peaks_band_edges(5, 256)
    v = peaks_values(X[:, 0], X[:, 1])
    lower, upper = edges[y], edges[y + 1]
    in_band = ((lower < v) | ((y == 0) & (v == edges[0]))) & (v <= upper)
    assert np.all(in_band)
    # Sampled points are nodes of the 256 x 256 grid on [-3, 3]^2.
    grid = np.linspace(-3, 3, 256)
    assert np.all(np.isin(X[:, 0], grid)) and np.all(np.isin(X[:, 1], grid))


def test_peaks_band_edges_equal_width_and_rounding():
    edges = peaks_band_edges(5, 256)
    assert edges.shape == (6,)
    assert np.allclose(np.diff(edges), (edges[-1] - edges[0]) / 5)
    t = np.linspace(-3, 3, 256)
    xx, yy = np.meshgrid(t, t)
    z = peaks_values(xx, yy)
    assert edges[0] == z.min() and edges[-1] == z.max()
    # ceil(np / nc) points per class.
    X, y = peaks(_rng(0), num_points=11, num_classes=5, grid_size=64)
    assert X.shape == (15, 2) and np.array_equal(np.bincount(y), [3] * 5)


def test_peaks_seeded():
    a = peaks(_rng(11), 500)
    b = peaks(_rng(11), 500)
    c = peaks(_rng(12), 500)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


# --- collocation points -------------------------------------------------------------


def test_hammersley_first_points_exact():
    P = hammersley(4, 2)
    assert np.array_equal(P, [[0.0, 0.0], [0.25, 0.5], [0.5, 0.25], [0.75, 0.75]])
    Q = hammersley(8, 3)
    assert np.allclose(Q[:, 2], [0, 1 / 3, 2 / 3, 1 / 9, 4 / 9, 7 / 9, 2 / 9, 5 / 9])
    assert np.array_equal(Q[:, 1], [0, 0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875])
    assert np.array_equal(hammersley(5, 1)[:, 0], np.arange(5) / 5)


def test_hammersley_range_and_stratification():
    P = hammersley(1000, 4)
    assert P.shape == (1000, 4) and P.dtype == np.float64
    assert P.min() >= 0.0 and P.max() < 1.0
    # Columns i/N and radical inverses in bases 2, 3, 5 are low-discrepancy, so each
    # of 10 equal bins holds (nearly) exactly 100 of the 1000 points.
    for k in range(4):
        counts = np.histogram(P[:, k], bins=10, range=(0, 1))[0]
        assert counts.min() >= 98 and counts.max() <= 102
    assert np.array_equal(P, hammersley(1000, 4))


def test_uniform_grid_interior_and_boundary():
    G = uniform_grid(3, 2, interior=True)
    assert G.shape == (9, 2)
    assert np.allclose(np.unique(G[:, 0]), [0.25, 0.5, 0.75])
    assert np.allclose(G[:3], [[0.25, 0.25], [0.25, 0.5], [0.25, 0.75]])  # 'ij' order
    B = uniform_grid(5, 3, interior=False)
    assert B.shape == (125, 3) and B.min() == 0.0 and B.max() == 1.0
    assert np.allclose(np.unique(B[:, 2]), np.linspace(0, 1, 5))
    with pytest.raises(ValueError):
        uniform_grid(1, 2, interior=False)
    with pytest.raises(ValueError):
        hammersley(0, 2)


# --- two spirals --------------------------------------------------------------------


def test_two_spirals_without_noise_lie_on_their_spirals():
    from ml2bench.problems.generators import two_spirals

    X, y = two_spirals(_rng(3), points_per_class=400, turns=1.5, noise=0.0)
    assert X.shape == (800, 2) and np.array_equal(np.bincount(y), [400, 400])
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.min() >= 0.0 and r.max() <= 1.0
    # φ = 2π·turns·r + cπ: the angle is fixed by the radius and the class, up to 2π
    phi = 2.0 * np.pi * 1.5 * r + np.pi * y
    assert np.allclose(X[:, 0], r * np.cos(phi), atol=1e-12)
    assert np.allclose(X[:, 1], r * np.sin(phi), atol=1e-12)


def test_two_spirals_classes_are_point_reflections_and_seeded():
    from ml2bench.problems.generators import two_spirals

    a, ya = two_spirals(_rng(5), 50, noise=0.0)
    # class 1 uses the second stream of radii: with equal radii it is −(class 0)
    t0, t1 = np.hypot(*a[ya == 0].T), np.hypot(*a[ya == 1].T)
    b, _ = two_spirals(_rng(5), 50, noise=0.0)
    assert np.array_equal(a, b)
    phi0 = 2.0 * np.pi * 1.5 * t1
    assert np.allclose(a[ya == 1], -np.stack([t1 * np.cos(phi0), t1 * np.sin(phi0)], 1))
    noisy, _ = two_spirals(_rng(5), 50, noise=0.03)
    assert 0.015 < np.std(noisy - a) < 0.045  # the noise has the stated scale
    with pytest.raises(ValueError):
        two_spirals(_rng(), 10, turns=0.0)
