r"""Reference solution of the Allen–Cahn benchmark by ETDRK4 Fourier pseudo-spectral steps.

The problem (Raissi, Perdikaris & Karniadakis 2019, §4.1.2; the Schwarz-PINN code
github:cruzas/ML_APTS, branch ``PINNs``, ``src/PDEs/AllenCahn.py``) is

.. math::

    u_t = \varepsilon u_{xx} + 5u - 5u^3, \quad x \in [-1, 1]\ \text{periodic},\
    t \in [0, 1], \quad u(x, 0) = x^2 \cos(\pi x).

Space: :math:`N` Fourier modes on the grid :math:`x_j = -1 + 2j/N`, wavenumbers
:math:`k = \pi m`, so that the linear part is diagonal, :math:`\hat L = -\varepsilon k^2`,
and the nonlinear part :math:`\hat N(\hat v) = \mathcal F(5u - 5u^3)` is evaluated
pseudo-spectrally. Time: the fourth-order exponential time-differencing Runge–Kutta
scheme ETDRK4 of Cox & Matthews (2002) with step :math:`h`,

.. math::

    a &= E_2 v + Q\, N(v), \qquad b = E_2 v + Q\, N(a), \qquad
    c = E_2 a + Q\,(2N(b) - N(v)), \\
    v &\leftarrow E v + f_1 N(v) + 2 f_2 (N(a) + N(b)) + f_3 N(c),

with :math:`E = e^{hL}`, :math:`E_2 = e^{hL/2}` and :math:`Q, f_1, f_2, f_3` the
φ-function combinations of Kassam & Trefethen (2005), eq. (2.5), evaluated — to avoid
the cancellation of their closed forms for small :math:`hL` — as means over ``M = 64``
points on the upper half of a unit circle centred at each :math:`hL` (real :math:`L`:
real part of the mean), their contour-integral method.

The periodic extension of :math:`u_0` has a kink at :math:`x = \pm 1` (slopes
:math:`\mp 2`), so its Fourier coefficients decay only like :math:`m^{-2}`. The solver
starts from the exact coefficients :math:`c_m = \tfrac12\big(I_{m+1} + I_{m-1}\big)`,
:math:`I_n = \int_0^1 x^2\cos(n\pi x)\,dx = 2(-1)^n/(n\pi)^2` (:math:`I_0 = 1/3`), not
from the DFT of samples, whose aliasing error (:math:`O(N^{-2})`; measured ``3e-5`` at
``N = 1024`` for ``t ≥ 0.05``) would persist at all times; diffusion then damps the
truncated modes (:math:`e^{-\varepsilon k^2 t}`), and the output at :math:`t = 0` is
:math:`u_0` itself.

Accuracy (measured on the ``257 × 101`` output grid, against ``N = 4096``,
``h = 1e-4``): the default ``N = 2048``, ``h = 2e-4`` (about 3 s on one core) differs by
at most ``1.8e-12`` (relative :math:`\ell_2` ``2e-13``) for ``ε = 1e-3`` and ``5e-10``
(``7e-12``) for ``ε = 1e-4``; halving ``h`` alone changes ``u`` by ``3e-12``. The even
initial datum stays even, ``u(−x) = u(x)``, to rounding, and ``|u| ≤ 1``. The true
solution does not stay at ``−1`` at ``x = ±1``: the kink is smoothed into a layer where
``|u(±1, t) + 1|`` reaches ``1.0e-2`` near ``t = 0.05`` (ε = 1e-3) before decaying
(``4e-6`` at ``t = 1``).

The output grid (``nx + 1`` points ``linspace(−1, 1)``, both ends, the value at ``+1``
that at ``−1``; ``nt`` times ``linspace(0, t_final)``, ``t_final = 1`` by default) is cached in
:func:`ml2bench.files.cache_directory` in an ``.npz`` file holding the arrays, the
parameters and a SHA-256 checksum of ``u``; a file that is unreadable, holds other
parameters or fails its checksum is recomputed and replaced.

References
----------
S. M. Cox, P. C. Matthews, Exponential time differencing for stiff systems, J. Comput.
Phys. 176 (2002) 430-455.
A.-K. Kassam, L. N. Trefethen, Fourth-order time-stepping for stiff PDEs, SIAM J. Sci.
Comput. 26 (2005) 1214-1233.
M. Raissi, P. Perdikaris, G. E. Karniadakis, Physics-informed neural networks, J.
Comput. Phys. 378 (2019) 686-707.
"""

from __future__ import annotations

import hashlib
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml2bench.files import atomic_save, cache_directory

__all__ = ["AllenCahnReference", "DEFAULT_EPS", "allen_cahn_etdrk4", "allen_cahn_reference_grid",
           "cache_path", "checksum", "default_dt", "default_modes", "etdrk4_coefficients", "initial_coefficients"]

#: ε of the Schwarz-PINN code (ML_APTS ``AllenCahn(D=0.001)``); Raissi et al. use 1e-4.
DEFAULT_EPS = 1e-3
#: Time step of the cached reference.
DEFAULT_DT = 2e-4
#: Points on the contour of the φ-functions.
CONTOUR_POINTS = 64
_CACHE_FORMAT_VERSION = 1


def default_modes(eps: float) -> int:
    """Fourier modes of the cached reference for ``eps`` (interfaces ``~√(2ε/5)`` wide)."""
    return 2048 if eps >= 1e-4 else 8192


def initial_coefficients(modes: int) -> np.ndarray:
    """``rfft`` coefficients of ``x² cos(πx)`` on the grid ``−1 + 2j/modes``, from the
    exact Fourier series (the Nyquist coefficient set to zero)."""
    m = np.arange(modes // 2 + 1, dtype=np.float64)

    def integral(n):  # ∫_0^1 x² cos(nπx) dx for integers n
        n = np.abs(n)
        safe = np.where(n == 0, 1.0, n)
        return np.where(n == 0, 1.0 / 3.0, 2.0 * (-1.0) ** n / (np.pi * safe) ** 2)

    v = modes * 0.5 * (integral(m + 1) + integral(m - 1)) * (-1.0) ** m
    v[-1] = 0.0
    return v.astype(np.complex128)


def etdrk4_coefficients(hL: np.ndarray, contour_points: int = CONTOUR_POINTS):
    r"""ETDRK4 coefficients for the real diagonal ``hL`` (Kassam & Trefethen 2005).

    Parameters
    ----------
    hL : ndarray
        Time step times the eigenvalues of the linear operator (real, ``≤ 0``).
    contour_points : int, default 64
        Points ``z = hL + e^{iπ(j − ½)/M}``, ``j = 1..M``, of the contour means.

    Returns
    -------
    tuple of ndarray
        ``(E, E2, Q, f1, f2, f3)`` with ``E = e^{hL}``, ``E2 = e^{hL/2}`` and, as real
        parts of means over the contour, ``Q = mean((e^{z/2} − 1)/z)``,
        ``f1 = mean((−4 − z + e^z(4 − 3z + z²))/z³)``,
        ``f2 = mean((2 + z + e^z(z − 2))/z³)``,
        ``f3 = mean((−4 − 3z − z² + e^z(4 − z))/z³)`` — to be multiplied by ``h``.
    """
    hL = np.asarray(hL, dtype=np.float64)
    roots = np.exp(1j * np.pi * (np.arange(1, contour_points + 1) - 0.5) / contour_points)
    z = hL[:, None] + roots[None, :]
    ez = np.exp(z)
    q = np.real(np.mean((np.exp(z / 2) - 1) / z, axis=1))
    f1 = np.real(np.mean((-4 - z + ez * (4 - 3 * z + z**2)) / z**3, axis=1))
    f2 = np.real(np.mean((2 + z + ez * (z - 2)) / z**3, axis=1))
    f3 = np.real(np.mean((-4 - 3 * z - z**2 + ez * (4 - z)) / z**3, axis=1))
    return np.exp(hL), np.exp(hL / 2), q, f1, f2, f3


def allen_cahn_etdrk4(eps: float, modes: int, dt: float, times,
                      contour_points: int = CONTOUR_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Solve Allen–Cahn by ETDRK4 on the grid ``x_j = −1 + 2j/modes``.

    Parameters
    ----------
    eps : float
        Diffusion ``ε > 0``.
    modes : int
        Fourier modes ``N`` (even, at least 4).
    dt : float
        Time step; every output time must be a multiple of it (to ``1e-9`` steps).
    times : array_like
        Non-decreasing output times ``≥ 0``.
    contour_points : int, default 64
        Contour points of the φ-functions.

    Returns
    -------
    x : ndarray, shape (modes,)
        The grid.
    u : ndarray, shape (modes, len(times))
        ``u[j, i] = u(x_j, times[i])``; exactly ``u_0`` at ``t = 0``.
    """
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    integer = isinstance(modes, (int, np.integer)) and not isinstance(modes, bool)
    if not integer or modes < 4 or modes % 2:
        raise ValueError(f"modes must be an even integer of at least 4, got {modes!r}")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    times = np.asarray(times, dtype=np.float64)
    steps = np.rint(times / dt).astype(np.int64)
    if np.any(np.abs(times / dt - steps) > 1e-9) or np.any(steps < 0) or np.any(np.diff(steps) < 0):
        raise ValueError("times must be non-decreasing non-negative multiples of dt")
    x = -1.0 + 2.0 * np.arange(modes) / modes
    k = np.pi * np.arange(modes // 2 + 1)  # rfft wavenumbers for period 2
    E, E2, q, f1, f2, f3 = etdrk4_coefficients(-eps * k**2 * dt, contour_points)
    q, f1, f2, f3 = dt * q, dt * f1, dt * f2, dt * f3

    def nonlinear(v_hat):
        u = np.fft.irfft(v_hat, n=modes)
        return np.fft.rfft(5.0 * u - 5.0 * u**3)

    v = initial_coefficients(modes)
    out = np.empty((modes, len(times)))
    done = 0
    for column, target in enumerate(steps):
        for _ in range(target - done):
            nv = nonlinear(v)
            a = E2 * v + q * nv
            na = nonlinear(a)
            b = E2 * v + q * na
            nb = nonlinear(b)
            c = E2 * a + q * (2 * nb - nv)
            v = E * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nonlinear(c)
        done = target
        out[:, column] = np.fft.irfft(v, n=modes) if target else x**2 * np.cos(np.pi * x)
    return x, out


@dataclass(frozen=True)
class AllenCahnReference:
    """Reference solution on ``x = linspace(−1, 1, nx + 1)`` × ``t = linspace(0, T, nt)``.

    Attributes
    ----------
    x, t : ndarray
        The grid (``x`` holds both ends; ``u`` at ``+1`` equals ``u`` at ``−1``).
    u : ndarray, shape (nx + 1, nt)
        ``u[j, i] = u(x[j], t[i])``.
    eps, dt : float
        Diffusion and time step.
    modes : int
        Fourier modes of the solve.
    checksum : str
        SHA-256 of ``u`` (C order, little-endian float64).
    """

    x: np.ndarray
    t: np.ndarray
    u: np.ndarray
    eps: float
    modes: int
    dt: float
    checksum: str


def checksum(u: np.ndarray) -> str:
    """SHA-256 hex digest of ``u`` as contiguous little-endian float64."""
    return hashlib.sha256(np.ascontiguousarray(u, dtype="<f8").tobytes()).hexdigest()


def _key(eps: float, nx: int, nt: int, modes: int, dt: float, t_final: float = 1.0) -> dict:
    key = {"version": _CACHE_FORMAT_VERSION, "eps": eps, "nx": nx, "nt": nt, "modes": modes,
           "dt": dt, "contour_points": CONTOUR_POINTS}
    if t_final != 1.0:  # grids on [0, 1], cached before t_final existed, keep their key
        key["t_final"] = t_final
    return key


def cache_path(eps: float, nx: int, nt: int, modes: int, dt: float,
               cache_dir: str | Path | None = None, t_final: float = 1.0) -> Path:
    """The cache file of a reference grid (parameters in the name)."""
    folder = Path(cache_dir) if cache_dir is not None else cache_directory()
    horizon = "" if t_final == 1.0 else f"_T{t_final:.17g}"
    return folder / (f"allen_cahn_v{_CACHE_FORMAT_VERSION}_eps{eps:.17g}_nx{nx}_nt{nt}"
                     f"_N{modes}_dt{dt:.17g}{horizon}.npz")


def default_dt(t_final: float, nt: int) -> float:
    """The largest time step ``≤ DEFAULT_DT`` that divides the output spacing
    ``t_final/(nt − 1)`` (``DEFAULT_DT`` itself when it does, as for ``t_final = 1``)."""
    spacing = t_final / (nt - 1)
    ratio = spacing / DEFAULT_DT
    if abs(ratio - round(ratio)) <= 1e-9 and round(ratio) >= 1:
        return DEFAULT_DT
    return spacing / math.ceil(ratio)


def _load(path: Path, key: dict) -> AllenCahnReference | None:
    """The cached reference, or None when absent, unreadable, mismatched or corrupt."""
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {name: data[name].item() for name in key}
            x, t, u, digest = data["x"], data["t"], data["u"], str(data["checksum"])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    if stored != key or u.shape != (key["nx"] + 1, key["nt"]) or checksum(u) != digest:
        return None
    return AllenCahnReference(x, t, u, key["eps"], key["modes"], key["dt"], digest)


def allen_cahn_reference_grid(eps: float = DEFAULT_EPS, nx: int = 256, nt: int = 101, *,
                              modes: int | None = None, dt: float | None = None,
                              t_final: float = 1.0,
                              cache_dir: str | Path | None = None) -> AllenCahnReference:
    """The ETDRK4 reference on the output grid, computed once and cached.

    Parameters
    ----------
    eps : float, default 1e-3
        Diffusion ``ε``.
    nx : int, default 256
        Grid intervals in ``x``; ``modes`` must be a multiple of it.
    nt : int, default 101
        Output times ``linspace(0, t_final, nt)``; ``dt`` must divide their spacing.
    modes : int, optional
        Fourier modes; default :func:`default_modes`.
    dt : float, optional
        Time step; default :func:`default_dt` (``2e-4`` for ``t_final = 1``).
    t_final : float, default 1
        Final time of the output grid.
    cache_dir : path-like, optional
        Cache folder; default :func:`ml2bench.files.cache_directory`.

    Returns
    -------
    AllenCahnReference
    """
    eps, t_final = float(eps), float(t_final)
    modes = default_modes(eps) if modes is None else int(modes)
    if nx < 2 or nt < 2 or modes % nx:
        raise ValueError(f"need nx >= 2, nt >= 2 and modes a multiple of nx; got nx={nx}, "
                         f"nt={nt}, modes={modes}")
    if not (math.isfinite(t_final) and t_final > 0):
        raise ValueError(f"t_final must be a positive number, got {t_final!r}")
    dt = default_dt(t_final, nt) if dt is None else float(dt)
    key = _key(eps, int(nx), int(nt), modes, dt, t_final)
    path = cache_path(eps, nx, nt, modes, dt, cache_dir, t_final)
    cached = _load(path, key)
    if cached is not None:
        return cached
    t = np.linspace(0.0, t_final, nt)
    _, solution = allen_cahn_etdrk4(eps, modes, dt, t)
    u = solution[:: modes // nx]
    u = np.concatenate([u, u[:1]], axis=0)
    x = np.linspace(-1.0, 1.0, nx + 1)
    digest = checksum(u)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, x=x, t=t, u=u, checksum=np.str_(digest),
                     **{name: np.asarray(value) for name, value in key.items()})

    atomic_save(path, write)
    return AllenCahnReference(x, t, u, eps, modes, dt, digest)
