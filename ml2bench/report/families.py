"""Solver families for tables and figures, derived from the solver classes.

A solver's family is read from its class (looked up by name through the solver
registry: the catalogue, plugins, run-time registrations), not from a list of names:

- ``multilevel``: a :class:`~ml2bench.solvers.base.MultilevelSolver` (rmtr, mgopt,
  nested, and any plugin built on it);
- ``domain decomposition``: a solver that declares a ``subdomains`` hyperparameter
  (apts_d, apts_p, aspqn, mspqn);
- ``baseline``: a wrapper of a ``torch.optim`` optimizer
  (:class:`~ml2bench.solvers.baselines.TorchOptimSolver`: sgd, adam, adamw, lbfgs) or a
  solver class that declares ``baseline = True`` (the projected gradient ``pgd``);
- ``trust region``: the single-level trust-region solver and its subclasses;
- ``other``: anything else, or a name that cannot be looked up.

Baselines and trust region are the *single-level* families the summary compares the
multilevel and DD solvers with.

Each family has a line style and a marker (:data:`STYLES`), so that figures tell the
families apart without colour; colours come from the colour-blind-safe Okabe–Ito palette
(:data:`PALETTE`, Okabe & Ito 2008), with the line style cycling when there are more
solvers than colours.
"""

from __future__ import annotations

import re
from functools import lru_cache

BASELINE, TRUST_REGION, MULTILEVEL, DD, OTHER = (
    "baseline", "trust region", "multilevel", "domain decomposition", "other")
#: Families in display order.
FAMILIES = (BASELINE, TRUST_REGION, MULTILEVEL, DD, OTHER)
#: The single-level families (what multilevel and DD solvers are compared with).
SINGLE_LEVEL = (BASELINE, TRUST_REGION)
#: Line style and marker per family.
STYLES = {BASELINE: ("-", "o"), TRUST_REGION: ("--", "s"), MULTILEVEL: ("-.", "^"),
          DD: (":", "D"), OTHER: ((0, (5, 1, 1, 1, 1, 1)), "x")}
#: Okabe–Ito colours without black (the target line's colour); yellow, the faintest, last.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442")

@lru_cache(maxsize=None)
def family_of(solver: str) -> str:
    """The family of the solver named ``solver`` (the ``solver`` column: a name without
    parameters); :data:`OTHER` if it cannot be looked up."""
    try:
        from ml2bench.solvers.base import MultilevelSolver
        from ml2bench.solvers.baselines import TorchOptimSolver
        from ml2bench.solvers.registry import solver_class
        from ml2bench.solvers.trust_region import TrustRegion

        cls = solver_class(solver)
    except Exception:  # unknown name, broken plugin: no family to draw it with
        return OTHER
    if issubclass(cls, MultilevelSolver):
        return MULTILEVEL
    if "subdomains" in getattr(cls, "params", {}):
        return DD
    if issubclass(cls, TorchOptimSolver) or getattr(cls, "baseline", False):
        return BASELINE
    if issubclass(cls, TrustRegion):
        return TRUST_REGION
    return OTHER


def solver_name(label: str) -> str:
    """The solver name of a table label: ``rmtr`` for ``rmtr[subproblem=lsr1]`` or
    ``sgd (max_time=5)``."""
    return re.split(r"[\[ (]", label.strip(), maxsplit=1)[0]


def ordered(solvers: dict[str, str]) -> list[str]:
    """The labels of ``solvers`` (label → name) by family (:data:`FAMILIES`), then label."""
    return sorted(solvers, key=lambda label: (FAMILIES.index(family_of(solvers[label])), label))


def solver_styles(solvers: dict[str, str]) -> dict[str, dict]:
    """Matplotlib keyword arguments (``color``, ``linestyle``, ``marker``) per label.

    Parameters
    ----------
    solvers : dict of str to str
        Label → solver name, e.g. ``{"rmtr[subproblem=lsr1]": "rmtr"}``.

    Returns
    -------
    dict of str to dict
        In family order (:func:`ordered`), for legends. The family fixes line style and
        marker. Colours follow that order through
        :data:`PALETTE`; when they wrap around, a label takes the next colour not yet
        used in its family, so two labels of one family never look alike (up to seven
        per family).
    """
    styles, used = {}, {}
    for index, label in enumerate(ordered(solvers)):
        family = family_of(solvers[label])
        taken = used.setdefault(family, set())
        colour = next((PALETTE[(index + k) % len(PALETTE)] for k in range(len(PALETTE))
                       if PALETTE[(index + k) % len(PALETTE)] not in taken),
                      PALETTE[index % len(PALETTE)])
        taken.add(colour)
        linestyle, marker = STYLES[family]
        styles[label] = {"color": colour, "linestyle": linestyle, "marker": marker}
    return styles
