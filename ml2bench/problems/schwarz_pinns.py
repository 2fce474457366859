r"""The Klein–Gordon and Allen–Cahn PINNs of the Schwarz-preconditioning paper.

Kopaničáková, Kothari, Karniadakis & Krause, *Enhancing training of physics-informed
neural networks using domain-decomposition based preconditioning strategies*, SISC 46
(2024), arXiv:2306.17648, and their code (github:cruzas/ML_APTS, branch ``PINNs``,
``src/PDEs/KleinGordon.py`` and ``AllenCahn.py``). Inputs are ``(x, t)`` (column 0 is
``x``; the authors' code orders them ``(t, x)``). Network, loss and depth hierarchy are
those of :class:`ml2bench.problems.pinn.ResNetPinn`: the residual is taken at fixed
Hammersley points, and the conditions below hold exactly for every network output ``N``.

**Klein–Gordon** ``u_tt − u_xx + u^p = f`` with ``f`` manufactured from ``u*``:

* ``variant = "schwarz"`` (default; the ML_APTS code, after "Example 1 (Section 3.1)" of
  the article it cites, sciencedirect.com/science/article/pii/S0307904X14006064): ``p = 2``,
  ``u* = x cos t`` on ``[−1, 1] × [0, t_final]``, ``f = −x cos t + (x cos t)^p``.
  Hard conditions as the code's ``BC_KleinGordon1D_plus_time``: Dirichlet data of ``u*``
  on the whole boundary of the space-time rectangle, ``u = x cos t + (1 − x²) t
  (t_final − t) N``. The lift is ``u*`` itself, so the network has to learn ``N ≡ 0``;
  the initial velocity is not imposed (it is implied by the final-time data).
  ``t_final = 1`` is our choice: the driver that sets the domain is not in the
  repository (the plotting code of ``KleinGordon.py`` draws ``t ∈ [0, 12]``).
* ``variant = "cubic"``: the benchmark of Wang, Teng & Perdikaris, SIAM J. Sci. Comput.
  43 (2021) A3055 (problems.md attributes it to Raissi et al.): ``p = 3``,
  ``u* = x cos(5πt) + (xt)³`` on ``[0, 1] × [0, t_final]``, ``u(x, 0) = x``,
  ``u_t(x, 0) = 0``, ``u(0, t) = 0``, ``u(1, t) = cos(5πt) + t³``; imposed by
  ``u = x(cos(5πt) + t³) + x(1 − x) t² N`` (the ``t²`` keeps both initial conditions).

**Allen–Cahn** ``u_t − ε u_xx + 5u³ − 5u = 0`` on ``[−1, 1] × [0, 1]``, ``u(x, 0) =
x² cos(πx)``, periodic in ``x``; ``ε = 1e-3`` by default (ML_APTS ``AllenCahn(D=0.001)``;
Raissi et al. 2019 use ``1e-4``). Hard conditions as the code's ``BC_AllenCahn``:
``u = x² cos(πx) + t(1 − x²) N``, which imposes the initial condition and
``u(±1, t) = −1`` — a Dirichlet stand-in for periodicity. The periodic solution does not
meet it exactly: the kink of the periodic extension of ``u(x, 0)`` at ``x = ±1`` is
smoothed into a layer of width ``~√(εt)`` where ``|u(±1, t) + 1|`` reaches ``1.0e-2``
(``t ≈ 0.05``) before decaying (``4e-4`` at ``t = 0.5``, ``4e-6`` at ``t = 1``; ε = 1e-3,
measured on the reference), which puts a floor under ``test_rel_l2``. ``boundary =
"periodic"`` instead makes the network a function of ``(cos πx, sin πx, t)``, ``u =
x² cos(πx) + t N``: exactly periodic, no floor (our option, not in the paper's code).
``t_final`` (default 1, the paper's) shortens the horizon to ``[0, t_final]``: the small
positive values of ``u(x, 0)`` grow towards ``+1`` at rate ≈ 5, so by ``t ≈ 0.5`` sharp
interfaces of width ``~√(2ε/5)`` have formed, which a small PINN does not resolve;
``t_final = 0.25`` (our option) stops before them, a size at which the quick networks
learn the solution (the stand-in of ``paper/claims.toml``'s T1).
Reference: ETDRK4 (:mod:`ml2bench.problems.allen_cahn_reference`) on the same horizon.

Forcing scale (the loss is divided by its square): the root mean square of ``f`` on the
test grid (Klein–Gordon), 1 (Allen–Cahn, no forcing).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ml2bench.labels import Param
from ml2bench.problems.allen_cahn_reference import DEFAULT_EPS, allen_cahn_reference_grid
from ml2bench.problems.pinn import Equation, ResNetPinn, derivatives
from ml2bench.problems.registry import register_family

PI = math.pi
KG_VARIANTS = ("schwarz", "cubic")
AC_BOUNDARIES = ("dirichlet", "periodic")


def _grid(lower, upper, nx: int, nt: int) -> np.ndarray:
    """``nx × nt`` tensor grid of ``(x, t)`` rows, x varying slowest."""
    xx, tt = np.meshgrid(np.linspace(lower[0], upper[0], nx), np.linspace(lower[1], upper[1], nt),
                         indexing="ij")
    return np.stack([xx.ravel(), tt.ravel()], axis=1)


def kg_exact(variant: str, x, t):
    """Manufactured solution ``u*`` (numpy or torch arrays)."""
    cos = torch.cos if isinstance(x, torch.Tensor) else np.cos
    if variant == "schwarz":
        return x * cos(t)
    return x * cos(5 * PI * t) + (x * t) ** 3


def kg_forcing(variant: str, p: int, x, t):
    """``f = u*_tt − u*_xx + (u*)^p``."""
    cos = torch.cos if isinstance(x, torch.Tensor) else np.cos
    if variant == "schwarz":
        u_tt, u_xx = -x * cos(t), 0.0 * x
    else:
        u_tt = -25 * PI**2 * x * cos(5 * PI * t) + 6 * x**3 * t
        u_xx = 6 * x * t**3
    return u_tt - u_xx + kg_exact(variant, x, t) ** p


def klein_gordon_equation(variant: str, p: int, t_final: float) -> Equation:
    """The Klein–Gordon :class:`Equation` of ``variant`` with power ``p``."""
    if variant not in KG_VARIANTS:
        raise ValueError(f"variant must be one of {KG_VARIANTS}, got {variant!r}")
    lower = (-1.0, 0.0) if variant == "schwarz" else (0.0, 0.0)
    upper = (1.0, t_final)

    def ansatz(x, n):
        xs, t = x[:, 0], x[:, 1]
        if variant == "schwarz":
            return xs * torch.cos(t) + (1 - xs**2) * t * (t_final - t) * n[:, 0]
        return xs * (torch.cos(5 * PI * t) + t**3) + xs * (1 - xs) * t**2 * n[:, 0]

    def residual(x, u):
        _, second = derivatives(u, x)
        return second[:, 1] - second[:, 0] + u**p - kg_forcing(variant, p, x[:, 0], x[:, 1])

    pts = _grid(lower, upper, 101, 101)
    scale = float(np.sqrt(np.mean(kg_forcing(variant, p, pts[:, 0], pts[:, 1]) ** 2)))
    return Equation(2, lower, upper, ansatz, residual, forcing_scale=scale)


def periodic_features(x: torch.Tensor) -> torch.Tensor:
    """Network inputs ``(cos πx, sin πx, t)``: any network of them is 2-periodic in ``x``."""
    return torch.stack([torch.cos(PI * x[:, 0]), torch.sin(PI * x[:, 0]), x[:, 1]], dim=1)


def allen_cahn_equation(eps: float, boundary: str = "dirichlet",
                        t_final: float = 1.0) -> Equation:
    """The Allen–Cahn :class:`Equation` with diffusion ``eps`` on ``[−1, 1] × [0, t_final]``;
    ``boundary`` is ``"dirichlet"`` (the code's ``u(±1, t) = −1``) or ``"periodic"``
    (exact periodicity)."""
    if boundary not in AC_BOUNDARIES:
        raise ValueError(f"boundary must be one of {AC_BOUNDARIES}, got {boundary!r}")
    factor = (lambda xs: 1 - xs**2) if boundary == "dirichlet" else (lambda xs: 1.0)

    def ansatz(x, n):
        xs, t = x[:, 0], x[:, 1]
        return xs**2 * torch.cos(PI * xs) + t * factor(xs) * n[:, 0]

    def residual(x, u):
        first, second = derivatives(u, x)
        return first[:, 1] - eps * second[:, 0] + 5 * u**3 - 5 * u

    upper = (1.0, t_final)
    if boundary == "dirichlet":
        return Equation(2, (-1.0, 0.0), upper, ansatz, residual, forcing_scale=1.0)
    return Equation(2, (-1.0, 0.0), upper, ansatz, residual, forcing_scale=1.0,
                    features=periodic_features, num_features=3)


_BASE = {k: v for k, v in ResNetPinn.params.items() if k != "equation"}


@register_family
class KleinGordonPinn(ResNetPinn):
    """Klein–Gordon PINN with a manufactured solution (module docstring)."""

    family = "klein_gordon"
    params = {**_BASE,
              "variant": Param("schwarz", "manufactured solution: schwarz (u* = x cos t, "
                               "ML_APTS) or cubic (x cos 5πt + (xt)³, Wang et al. 2021)",
                               choices=KG_VARIANTS),
              "p": Param(2, "power of the nonlinear term u^p", low=1),
              "t_final": Param(1.0, "final time", low=0.0, low_open=True)}

    def equation_for(self, values):
        return klein_gordon_equation(values["variant"], values["p"], values["t_final"])

    def reference_for(self, values):
        equation = self.equation_for(values)
        x = _grid(equation.lower, equation.upper, 101, 101)
        return x, kg_exact(values["variant"], x[:, 0], x[:, 1])


@register_family
class AllenCahnPinn(ResNetPinn):
    """Allen–Cahn PINN against the ETDRK4 reference (module docstring)."""

    family = "allen_cahn"
    params = {**_BASE,
              "eps": Param(DEFAULT_EPS, "diffusion ε (ML_APTS 1e-3; Raissi et al. 1e-4)",
                           low=0.0, low_open=True),
              "boundary": Param("dirichlet", "hard condition at x = ±1: dirichlet (u = −1, "
                                "ML_APTS) or periodic (inputs cos πx, sin πx, t)",
                                choices=AC_BOUNDARIES),
              "t_final": Param(1.0, "final time T of [0, T] (1: the paper's; shorter: "
                               "before the interfaces sharpen)", low=0.0, low_open=True)}
    omitted_at_default = ("t_final",)  # added after results were stored

    def equation_for(self, values):
        return allen_cahn_equation(values["eps"], values["boundary"],
                                   self.value(values, "t_final"))

    def reference_for(self, values):
        ref = allen_cahn_reference_grid(values["eps"], t_final=self.value(values, "t_final"))
        xx, tt = np.meshgrid(ref.x, ref.t, indexing="ij")
        return np.stack([xx.ravel(), tt.ravel()], axis=1), ref.u.ravel()
