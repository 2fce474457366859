"""Seeded, deterministic data generators for the ResNet-as-ODE and PINN problems.

The two-dimensional classification sets (``ellipses``, ``swissroll``, ``peaks``) are
NumPy ports of the MATLAB generators published with

    E. Haber and L. Ruthotto, "Stable architectures for deep neural networks",
    Inverse Problems 34 (2018) 014004,

namely ``setupPeaks.m`` and ``setupSwissRoll.m`` of the Meganet.m toolbox
(github.com/XtractOpen/Meganet.m, ``data/``) and ``setupEllipses.m`` of the companion
course code NumDL-MATLAB (github.com/IPAIopen/NumDL-MATLAB, ``data/``). MATLAB's
``rand``/``randi`` streams are replaced by a caller-supplied
:class:`numpy.random.Generator`, so the arrays are reproducible for a given seed but not
bit-identical to MATLAB output; the distributions, grids, banding rules and orderings
are the same.

``two_spirals`` is a noisy, randomly sampled version of Lang & Witbrock's two-spirals
task (not one of the Haber–Ruthotto sets; added as a held-out family of the depth study).

The collocation generators (``hammersley``, ``uniform_grid``) produce points in the
unit cube for the PDE regressions; callers map them to their domains.

Conventions: points are returned as ``float64`` arrays of shape ``(N, dim)`` (one point
per row), labels as ``int64`` arrays of shape ``(N,)`` with classes numbered from 0.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "ellipses",
    "swissroll",
    "two_spirals",
    "peaks",
    "peaks_values",
    "peaks_band_edges",
    "hammersley",
    "uniform_grid",
]


def _check_rng(rng: np.random.Generator) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


# ---------------------------------------------------------------------------------------
# Classification data sets (Haber & Ruthotto 2018)
# ---------------------------------------------------------------------------------------


def ellipses(
    rng: np.random.Generator, points_per_class: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    r"""Two concentric, flattened annuli ("ellipses" example).

    For each class, radii and angles are drawn independently and uniformly,

    .. math::

        \theta \sim U(0, 2\pi), \qquad
        x = (r\cos\theta,\; 0.4\, r\sin\theta),

    with :math:`r \sim U(0, 1)` for class 0 (the filled inner ellipse) and
    :math:`r \sim U(1, 2)` for class 1 (the surrounding elliptic ring). Every point
    therefore satisfies :math:`\sqrt{x_1^2 + (x_2/0.4)^2} = r`.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness. Draw order follows ``setupEllipses.m``: inner radii,
        inner angles, outer radii, outer angles (``points_per_class`` draws each).
    points_per_class : int, default 1000
        Number of points in each class (``np`` in the MATLAB code).

    Returns
    -------
    X : ndarray of float64, shape (2 * points_per_class, 2)
        Points; the inner class first, then the outer class.
    y : ndarray of int64, shape (2 * points_per_class,)
        Labels: 0 for the inner ellipse, 1 for the outer ring. (``setupEllipses.m``
        stores the binary target ``C = [ones(1,np), zeros(1,np)]``, i.e. the inner
        class as 1; here classes are numbered 0, 1 in generation order.)

    References
    ----------
    E. Haber, L. Ruthotto, Stable architectures for deep neural networks, Inverse
    Problems 34 (2018) 014004; ``data/setupEllipses.m`` in IPAIopen/NumDL-MATLAB.
    """
    _check_rng(rng)
    _check_positive_int("points_per_class", points_per_class)
    n = int(points_per_class)
    r_inner = rng.random(n)
    theta_inner = rng.random(n) * (2.0 * np.pi)
    r_outer = 1.0 + rng.random(n)
    theta_outer = rng.random(n) * (2.0 * np.pi)
    r = np.concatenate([r_inner, r_outer])
    theta = np.concatenate([theta_inner, theta_outer])
    X = np.stack([r * np.cos(theta), 0.4 * r * np.sin(theta)], axis=1)
    y = np.repeat(np.arange(2, dtype=np.int64), n)
    return X, y


def swissroll(n: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Two interleaved spirals ("swiss roll"), deterministic.

    With :math:`m = 2n + 1` angles :math:`\theta = 0 : 4\pi/(2n) : 4\pi`
    (i.e. ``linspace(0, 4π, m)``), class A has radii ``linspace(0, 1, m)`` and class B
    radii ``linspace(0.2, 1.2, m)``; each point is :math:`(r\cos\theta, r\sin\theta)`.

    The train/validation split is the one of ``setupSwissRoll.m``: the two classes
    are stacked (class A rows first) into a :math:`2m \times 2` array ``Y`` and
    ``Yt = Y(1:2:end,:)``, ``Yv = Y(2:2:end,:)``. MATLAB's 1-based *odd* rows are the
    0-based **even** rows here: ``train_mask[i]`` is True iff ``i % 2 == 0`` for the
    0-based row ``i`` of the stacked array. Because ``m`` is odd, the split is not
    balanced per class: with ``n = 256`` the training set holds 257 points of class A
    (including both ends of its spiral) and 256 of class B, the validation set 256 of
    class A and 257 of class B (513 + 513 points).

    Parameters
    ----------
    n : int, default 256
        Half the number of angular steps; each class has ``2n + 1`` points.

    Returns
    -------
    X : ndarray of float64, shape (2 * (2n + 1), 2)
        All points, class A first.
    y : ndarray of int64, shape (2 * (2n + 1),)
        Labels: 0 for class A (radius 0 to 1), 1 for class B (radius 0.2 to 1.2),
        matching the one-hot rows of the MATLAB ``C``.
    train_mask : ndarray of bool, shape (2 * (2n + 1),)
        True for training points, False for validation points (see above).

    References
    ----------
    E. Haber, L. Ruthotto, Stable architectures for deep neural networks, Inverse
    Problems 34 (2018) 014004; ``data/setupSwissRoll.m`` in XtractOpen/Meganet.m.
    """
    _check_positive_int("n", n)
    m = 2 * int(n) + 1
    theta = np.linspace(0.0, 4.0 * np.pi, m)
    r = np.concatenate([np.linspace(0.0, 1.0, m), np.linspace(0.2, 1.2, m)])
    theta = np.concatenate([theta, theta])
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    y = np.repeat(np.arange(2, dtype=np.int64), m)
    train_mask = np.arange(2 * m) % 2 == 0
    return X, y, train_mask


def two_spirals(rng: np.random.Generator, points_per_class: int = 250, turns: float = 1.5,
                noise: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    r"""Two interleaved Archimedean spirals with random positions along them and noise.

    For class :math:`c \in \{0, 1\}` and each point, :math:`t \sim U(0, 1)` and

    .. math::

        r = t, \qquad \varphi = 2\pi\,\mathrm{turns}\; t + c\,\pi, \qquad
        x = r(\cos\varphi, \sin\varphi) + \varepsilon, \quad
        \varepsilon \sim N(0, \mathrm{noise}^2 I),

    so the second spiral is the first rotated by π (point reflection through the
    origin), and at a given angle neighbouring arms are ``1/(2·turns)`` apart in radius.
    Lang & Witbrock's benchmark has 3 turns and 97 fixed points per class; the default
    here is 1.5 turns, so that the 8-wide ResNet-ODE of the toy problems learns it from a
    few hundred points.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness. Draw order: ``t`` of class 0, ``t`` of class 1, then the
        noise of all points (class 0 first).
    points_per_class : int, default 250
        Points in each class.
    turns : float, default 1.5
        Turns of each spiral (> 0).
    noise : float, default 0.03
        Standard deviation of the Gaussian noise on each coordinate (>= 0).

    Returns
    -------
    X : ndarray of float64, shape (2 * points_per_class, 2)
        Points; class 0 first.
    y : ndarray of int64, shape (2 * points_per_class,)
        Labels 0 and 1.

    References
    ----------
    K. J. Lang and M. J. Witbrock, "Learning to tell two spirals apart", Proc. 1988
    Connectionist Models Summer School, 52–59.
    """
    _check_rng(rng)
    _check_positive_int("points_per_class", points_per_class)
    if not (math.isfinite(turns) and turns > 0):
        raise ValueError(f"turns must be a positive number, got {turns!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")
    n = int(points_per_class)
    t = np.concatenate([rng.random(n), rng.random(n)])
    y = np.repeat(np.arange(2, dtype=np.int64), n)
    phi = 2.0 * np.pi * turns * t + np.pi * y
    X = np.stack([t * np.cos(phi), t * np.sin(phi)], axis=1)
    if noise > 0:
        X = X + noise * rng.standard_normal(X.shape)
    return X, y


def peaks_values(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""MATLAB's ``peaks`` function, elementwise.

    .. math::

        z = 3(1-x)^2 e^{-x^2-(y+1)^2} - 10\Big(\frac{x}{5} - x^3 - y^5\Big)
            e^{-x^2-y^2} - \frac{1}{3} e^{-(x+1)^2-y^2}.

    Parameters
    ----------
    x, y : array_like
        Coordinates (broadcast against each other).

    Returns
    -------
    ndarray of float64
        ``z`` with the broadcast shape of ``x`` and ``y``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return (
        3.0 * (1.0 - x) ** 2 * np.exp(-(x**2) - (y + 1.0) ** 2)
        - 10.0 * (x / 5.0 - x**3 - y**5) * np.exp(-(x**2) - y**2)
        - np.exp(-((x + 1.0) ** 2) - y**2) / 3.0
    )


def _peaks_grid(grid_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[xx, yy, cc] = peaks(grid_size)``: meshgrid of linspace(-3, 3) and values."""
    t = np.linspace(-3.0, 3.0, grid_size)
    xx, yy = np.meshgrid(t, t)  # MATLAB meshgrid: xx[i, j] = t[j], yy[i, j] = t[i]
    return xx, yy, peaks_values(xx, yy)


def peaks_band_edges(num_classes: int = 5, grid_size: int = 256) -> np.ndarray:
    r"""Edges of the equal-width value bands that define the ``peaks`` classes.

    With :math:`z_{\min}, z_{\max}` the extreme values of ``peaks`` on the
    ``grid_size × grid_size`` grid and :math:`h = (z_{\max} - z_{\min})/c`, the edges
    are :math:`e_k = z_{\min} + k h`, :math:`k = 0, \dots, c`. A grid value ``z`` has
    class ``k`` iff :math:`e_k < z \le e_{k+1}`, except :math:`z_{\min}` itself, which
    is class 0. The last edge is set to exactly :math:`z_{\max}`.

    Parameters
    ----------
    num_classes : int, default 5
        Number of bands ``c``.
    grid_size : int, default 256
        Grid resolution ``ns`` (points per axis on :math:`[-3, 3]`).

    Returns
    -------
    ndarray of float64, shape (num_classes + 1,)
        Increasing band edges.
    """
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("grid_size", grid_size)
    _, _, cc = _peaks_grid(int(grid_size))
    lo, hi = float(cc.min()), float(cc.max())
    step = (hi - lo) / num_classes
    edges = lo + step * np.arange(num_classes + 1, dtype=np.float64)
    edges[-1] = hi
    return edges


def peaks(
    rng: np.random.Generator,
    num_points: int = 8000,
    num_classes: int = 5,
    grid_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Level-set classification of MATLAB's ``peaks`` surface.

    Port of ``setupPeaks.m``: evaluate :func:`peaks_values` on the
    ``grid_size × grid_size`` grid ``meshgrid(linspace(-3, 3, grid_size))``, split the
    range of values into ``num_classes`` equal-width bands (see
    :func:`peaks_band_edges`; the band loop is
    ``find((mn + (i-1)h) < cc & cc <= (mn + i h))``, unassigned grid points stay in
    class 0), and for each class draw :math:`\lceil \text{num\_points} / c \rceil` grid
    points uniformly **with replacement** among the grid points of that class
    (``randi``). The candidate points of a class are enumerated in MATLAB's
    column-major order. Sampled points are grid nodes, so several may coincide.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (one ``integers`` call per class, class 0 first).
    num_points : int, default 8000
        Total number of points requested (``np``); the result has
        ``num_classes * ceil(num_points / num_classes)`` points.
    num_classes : int, default 5
        Number of classes / bands (``nc``).
    grid_size : int, default 256
        Grid resolution (``ns``; hard-coded 256 in Meganet.m, default 256 in
        NumDL-MATLAB).

    Returns
    -------
    X : ndarray of float64, shape (num_classes * ceil(num_points / num_classes), 2)
        Points in :math:`[-3, 3]^2`, grouped by class (class 0 first).
    y : ndarray of int64, same length
        Class labels ``0 .. num_classes - 1`` (band index, lowest values = 0).

    Notes
    -----
    The 5000-train / remaining-test split of the benchmark is done by the caller.

    References
    ----------
    E. Haber, L. Ruthotto, Stable architectures for deep neural networks, Inverse
    Problems 34 (2018) 014004; ``data/setupPeaks.m`` in XtractOpen/Meganet.m.
    """
    _check_rng(rng)
    _check_positive_int("num_points", num_points)
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("grid_size", grid_size)
    xx, yy, cc = _peaks_grid(int(grid_size))
    edges = peaks_band_edges(num_classes, grid_size)
    labels = np.zeros(cc.shape, dtype=np.int64)
    for k in range(num_classes):
        labels[(edges[k] < cc) & (cc <= edges[k + 1])] = k
    # MATLAB's logical indexing enumerates matrices column by column.
    points = np.stack([xx.ravel(order="F"), yy.ravel(order="F")], axis=1)
    labels = labels.ravel(order="F")
    per_class = math.ceil(num_points / num_classes)
    X_parts, y_parts = [], []
    for k in range(num_classes):
        candidates = points[labels == k]
        if len(candidates) == 0:
            raise ValueError(
                f"peaks class {k} has no grid points; use fewer classes or a finer grid"
            )
        picks = rng.integers(0, len(candidates), size=per_class)
        X_parts.append(candidates[picks])
        y_parts.append(np.full(per_class, k, dtype=np.int64))
    return np.concatenate(X_parts), np.concatenate(y_parts)


# ---------------------------------------------------------------------------------------
# Collocation points for the PDE regressions
# ---------------------------------------------------------------------------------------


def _first_primes(count: int) -> list[int]:
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    return primes


def _radical_inverse(indices: np.ndarray, base: int) -> np.ndarray:
    r"""Van der Corput radical inverse :math:`\phi_b(i) = \sum_k d_k b^{-k-1}`."""
    remaining = indices.astype(np.int64, copy=True)
    result = np.zeros(remaining.shape, dtype=np.float64)
    scale = 1.0 / base
    while np.any(remaining > 0):
        result += (remaining % base) * scale
        remaining //= base
        scale /= base
    return result


def hammersley(num_points: int, dim: int) -> np.ndarray:
    r"""Hammersley point set in :math:`[0, 1)^{\text{dim}}`.

    Point :math:`i = 0, \dots, N-1` is

    .. math::

        x_i = \big(i/N,\; \phi_2(i),\; \phi_3(i),\; \phi_5(i),\; \dots\big),

    where :math:`\phi_b(i) = \sum_k d_k\, b^{-k-1}` for the base-``b`` digits
    :math:`i = \sum_k d_k b^k` (radical inverse), with the first ``dim - 1`` primes as
    bases. For ``dim == 1`` the set is :math:`\{i/N\}`. The first point is the origin;
    callers that must avoid it (as DeepXDE does) can take ``hammersley(N + 1, d)[1:]``.

    Parameters
    ----------
    num_points : int
        Number of points ``N``.
    dim : int
        Dimension.

    Returns
    -------
    ndarray of float64, shape (num_points, dim)
        Deterministic low-discrepancy points.

    References
    ----------
    J. M. Hammersley, Monte Carlo methods for solving multivariable problems, Ann. New
    York Acad. Sci. 86 (1960) 844-874.
    """
    _check_positive_int("num_points", num_points)
    _check_positive_int("dim", dim)
    indices = np.arange(num_points, dtype=np.int64)
    columns = [indices / float(num_points)]
    columns += [_radical_inverse(indices, base) for base in _first_primes(dim - 1)]
    return np.stack(columns, axis=1)


def uniform_grid(num_points_per_dim: int, dim: int, interior: bool = True) -> np.ndarray:
    r"""Tensor-product uniform grid in :math:`[0, 1]^{\text{dim}}`.

    Per axis the nodes are ``linspace(0, 1, n)`` (``interior=False``, boundary
    included) or the ``n`` interior nodes of ``linspace(0, 1, n + 2)``, i.e.
    :math:`j/(n+1)`, :math:`j = 1..n` (``interior=True``). Points are ordered with
    ``'ij'`` indexing: the first coordinate varies slowest.

    Parameters
    ----------
    num_points_per_dim : int
        Nodes per axis ``n`` (at least 2 when ``interior=False``).
    dim : int
        Dimension.
    interior : bool, default True
        Exclude the boundary of the cube.

    Returns
    -------
    ndarray of float64, shape (num_points_per_dim ** dim, dim)
    """
    _check_positive_int("num_points_per_dim", num_points_per_dim)
    _check_positive_int("dim", dim)
    n = int(num_points_per_dim)
    if interior:
        axis = np.linspace(0.0, 1.0, n + 2)[1:-1]
    else:
        if n < 2:
            raise ValueError("num_points_per_dim must be at least 2 when interior=False")
        axis = np.linspace(0.0, 1.0, n)
    mesh = np.meshgrid(*([axis] * dim), indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)
