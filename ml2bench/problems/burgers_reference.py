r"""Exact solution of the viscous Burgers benchmark by the Cole–Hopf formula.

The problem (Raissi, Perdikaris & Karniadakis 2019; Basdevant et al. 1986) is

.. math::

    u_t + u u_x = \nu u_{xx}, \quad x \in [-1, 1],\ t \in [0, 1], \quad
    u(x, 0) = -\sin(\pi x), \quad u(\pm 1, t) = 0, \quad \nu = 0.01/\pi.

The Cole–Hopf transformation gives, for :math:`t > 0`,

.. math::

    u(x, t) = -\frac{\int_{\mathbb R} \sin(\pi(x-\eta))\, f(x-\eta)\,
                     e^{-\eta^2/(4\nu t)}\, d\eta}
                    {\int_{\mathbb R} f(x-\eta)\, e^{-\eta^2/(4\nu t)}\, d\eta},
    \qquad f(y) = \exp\!\Big(-\frac{\cos(\pi y)}{2\pi\nu}\Big).

With :math:`\eta = \sqrt{4\nu t}\, z` both integrals have the Gauss–Hermite weight
:math:`e^{-z^2}`; with nodes :math:`z_k`, weights :math:`w_k` and
:math:`y_k = x - \sqrt{4\nu t}\, z_k`,

.. math::

    u(x, t) \approx -\frac{\sum_k w_k \sin(\pi y_k) f(y_k)}{\sum_k w_k f(y_k)}.

Since :math:`f` spans :math:`e^{\pm 1/(2\pi\nu)} = e^{\pm 50}`, the sums are evaluated
as :math:`\sum_k \exp(a_k - \max_j a_j)` with :math:`a_k = \log w_k - \cos(\pi y_k)/
(2\pi\nu)` (the common factor cancels in the ratio). The symmetric node set makes
:math:`u(-x, t) = -u(x, t)` and :math:`u(\pm 1, t) = 0` hold to rounding.

Accuracy: for :math:`\nu = 0.01/\pi` and :math:`t \le 1` the result agrees with a
20 001-point trapezoidal rule on :math:`|z| \le 40` to :math:`10^{-15}` from 100 nodes
on (60 nodes give :math:`10^{-9}` at :math:`t = 1`); the default is 200.
NumPy's ``hermgauss`` overflows beyond about 370 nodes, so at most
:data:`MAX_NODES` are allowed. The classic check value, the steepest slope
:math:`\min_t u_x(0, t) = -152.00516` at :math:`t = 1.6037/\pi` (Basdevant et al.
1986), is reproduced to all printed digits.

References
----------
C. Basdevant, M. Deville, P. Haldenwang, J. M. Lacroix, J. Ouazzani, R. Peyret,
P. Orlandi, A. T. Patera, Spectral and finite difference solutions of the Burgers
equation, Computers & Fluids 14 (1986) 23-41.
M. Raissi, P. Perdikaris, G. E. Karniadakis, Physics-informed neural networks,
J. Comput. Phys. 378 (2019) 686-707.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "BurgersReference",
    "DEFAULT_NU",
    "DEFAULT_NUM_NODES",
    "MAX_NODES",
    "burgers_exact",
    "burgers_exact_dx",
    "burgers_reference_grid",
    "default_reference_cache_dir",
]

DEFAULT_NU = 0.01 / np.pi
DEFAULT_NUM_NODES = 200
MAX_NODES = 360
_CACHE_FORMAT_VERSION = 1
_CHUNK_ELEMENTS = 1 << 20  # points x nodes evaluated at once (8 MiB per float64 array)


def _hermite_rule(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and log-weights for the weight exp(-z^2)."""
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)):
        raise ValueError(f"num_nodes must be an integer, got {num_nodes!r}")
    if not 2 <= num_nodes <= MAX_NODES:
        raise ValueError(f"num_nodes must be between 2 and {MAX_NODES}, got {num_nodes}")
    nodes, weights = np.polynomial.hermite.hermgauss(int(num_nodes))
    return nodes, np.log(weights)


def _validate(x, t, nu: float) -> tuple[np.ndarray, np.ndarray]:
    if not (np.isfinite(nu) and nu > 0):
        raise ValueError(f"nu must be a positive number, got {nu!r}")
    x, t = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)
    )
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError("t must be finite and non-negative")
    return x, t


def _cole_hopf(x: np.ndarray, t: np.ndarray, nu: float, num_nodes: int, with_dx: bool):
    """Evaluate u (and optionally u_x) at flat arrays x, t with t > 0."""
    nodes, log_weights = _hermite_rule(num_nodes)
    u = np.empty(x.shape)
    ux = np.empty(x.shape) if with_dx else None
    chunk = max(1, _CHUNK_ELEMENTS // len(nodes))
    for start in range(0, x.size, chunk):
        sl = slice(start, start + chunk)
        y = x[sl, None] - np.sqrt(4.0 * nu * t[sl, None]) * nodes[None, :]
        exponent = log_weights - np.cos(np.pi * y) / (2.0 * np.pi * nu)
        exponent -= exponent.max(axis=1, keepdims=True)
        f = np.exp(exponent)
        sin_y = np.sin(np.pi * y)
        den = f.sum(axis=1)
        num = (sin_y * f).sum(axis=1)
        u[sl] = -num / den
        if with_dx:
            # d/dx f(y) = f(y) sin(pi y) / (2 nu);  d/dx sin(pi y) = pi cos(pi y)
            dlogf = sin_y / (2.0 * nu)
            dnum = ((np.pi * np.cos(np.pi * y) + sin_y * dlogf) * f).sum(axis=1)
            dden = (dlogf * f).sum(axis=1)
            ux[sl] = -(dnum * den - num * dden) / den**2
    return u, ux


def burgers_exact(
    x, t, nu: float = DEFAULT_NU, num_nodes: int = DEFAULT_NUM_NODES
) -> np.ndarray:
    r"""Exact Burgers solution :math:`u(x, t)` by Cole–Hopf + Gauss–Hermite quadrature.

    Parameters
    ----------
    x : array_like
        Positions (normally in :math:`[-1, 1]`; the formula is 2-periodic in ``x``).
    t : array_like
        Times, :math:`t \ge 0`, broadcast against ``x``. At ``t == 0`` the initial
        condition :math:`-\sin(\pi x)` is returned exactly.
    nu : float, default 0.01/π
        Viscosity :math:`\nu > 0`.
    num_nodes : int, default 200
        Gauss–Hermite nodes (2 to :data:`MAX_NODES`).

    Returns
    -------
    ndarray of float64
        :math:`u` with the broadcast shape of ``x`` and ``t``.
    """
    x, t = _validate(x, t, nu)
    flat_x, flat_t = x.ravel(), t.ravel()
    out = -np.sin(np.pi * flat_x)
    positive = flat_t > 0
    if np.any(positive):
        out[positive], _ = _cole_hopf(
            flat_x[positive], flat_t[positive], nu, num_nodes, with_dx=False
        )
    return out.reshape(x.shape)


def burgers_exact_dx(
    x, t, nu: float = DEFAULT_NU, num_nodes: int = DEFAULT_NUM_NODES
) -> np.ndarray:
    r"""Exact slope :math:`u_x(x, t)`, differentiating the quadrature formula in ``x``.

    With :math:`N = \sum_k w_k \sin(\pi y_k) f(y_k)`, :math:`D = \sum_k w_k f(y_k)` and
    :math:`f'(y) = f(y)\sin(\pi y)/(2\nu)`, :math:`u_x = -(N' D - N D')/D^2`. At
    ``t == 0`` returns :math:`-\pi\cos(\pi x)`. Parameters as :func:`burgers_exact`.
    """
    x, t = _validate(x, t, nu)
    flat_x, flat_t = x.ravel(), t.ravel()
    out = -np.pi * np.cos(np.pi * flat_x)
    positive = flat_t > 0
    if np.any(positive):
        _, out[positive] = _cole_hopf(
            flat_x[positive], flat_t[positive], nu, num_nodes, with_dx=True
        )
    return out.reshape(x.shape)


@dataclass(frozen=True)
class BurgersReference:
    """Reference solution on a tensor grid (layout of Raissi's ``burgers_shock.mat``).

    Fields can also be read by key (``ref["u"]``), as from the ``.npz`` file.

    Attributes
    ----------
    x : ndarray, shape (nx,)
        ``linspace(-1, 1, nx)``.
    t : ndarray, shape (nt,)
        ``linspace(0, 1, nt)``.
    u : ndarray, shape (nx, nt)
        ``u[j, i] = u(x[j], t[i])``, i.e. ``meshgrid(x, t, indexing="ij")`` order.
    nu : float
        Viscosity used.
    num_nodes : int
        Gauss–Hermite nodes used.
    """

    x: np.ndarray
    t: np.ndarray
    u: np.ndarray
    nu: float
    num_nodes: int

    def __getitem__(self, key: str):
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)


def default_reference_cache_dir() -> Path:
    """``$ML2BENCH_CACHE`` if set (used as is), else ``~/.cache/ml2bench/reference``."""
    env = os.environ.get("ML2BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "ml2bench" / "reference"


def _cache_path(cache_dir: Path, nx: int, nt: int, nu: float, num_nodes: int) -> Path:
    name = (
        f"burgers_v{_CACHE_FORMAT_VERSION}_nu{nu:.17g}_nx{nx}_nt{nt}"
        f"_gh{num_nodes}.npz"
    )
    return cache_dir / name


def _load_cached(path: Path, nx: int, nt: int, nu: float, num_nodes: int):
    """Return the cached arrays, or None when absent, unreadable or mismatched."""
    try:
        with np.load(path, allow_pickle=False) as data:
            x, t, u = data["x"], data["t"], data["u"]
            stored_nu, stored_nodes = float(data["nu"]), int(data["num_nodes"])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    if x.shape != (nx,) or t.shape != (nt,) or u.shape != (nx, nt):
        return None
    if stored_nu != nu or stored_nodes != num_nodes or not np.all(np.isfinite(u)):
        return None
    return x, t, u


def _save_atomically(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def burgers_reference_grid(
    nx: int = 256,
    nt: int = 100,
    cache_dir: str | os.PathLike | None = None,
    *,
    nu: float = DEFAULT_NU,
    num_nodes: int = DEFAULT_NUM_NODES,
) -> BurgersReference:
    """Reference solution on ``linspace(-1, 1, nx) × linspace(0, 1, nt)``, cached.

    The first call computes the grid with :func:`burgers_exact` and writes it to
    ``cache_dir/burgers_v1_nu<nu>_nx<nx>_nt<nt>_gh<num_nodes>.npz`` atomically (a
    temporary file in the same directory, then :func:`os.replace`); later calls load
    it. A file that is unreadable or does not match the parameters is recomputed and
    replaced.

    Parameters
    ----------
    nx : int, default 256
        Spatial points (at least 2).
    nt : int, default 100
        Time points (at least 2).
    cache_dir : path-like, optional
        Cache directory; default :func:`default_reference_cache_dir`.
    nu : float, default 0.01/π
        Viscosity.
    num_nodes : int, default 200
        Gauss–Hermite nodes.

    Returns
    -------
    BurgersReference
        Grid, solution ``u`` of shape ``(nx, nt)`` and the parameters.
    """
    for name, value in (("nx", nx), ("nt", nt)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"{name} must be an integer of at least 2, got {value!r}")
    nx, nt, num_nodes, nu = int(nx), int(nt), int(num_nodes), float(nu)
    if cache_dir is None:
        directory = default_reference_cache_dir()
    else:
        directory = Path(cache_dir).expanduser()
    path = _cache_path(directory, nx, nt, nu, num_nodes)
    cached = _load_cached(path, nx, nt, nu, num_nodes)
    if cached is not None:
        x, t, u = cached
    else:
        x = np.linspace(-1.0, 1.0, nx)
        t = np.linspace(0.0, 1.0, nt)
        u = burgers_exact(x[:, None], t[None, :], nu=nu, num_nodes=num_nodes)
        _save_atomically(
            path, x=x, t=t, u=u, nu=np.float64(nu), num_nodes=np.int64(num_nodes)
        )
    return BurgersReference(x=x, t=t, u=u, nu=nu, num_nodes=num_nodes)
