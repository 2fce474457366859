"""Looking solvers up by label (``sgd[lr=0.1,momentum=0.9]``).

Names resolve through the torch-free catalogue (:mod:`ml2bench.solvers.catalogue`)
plus any solver registered at run time with
:func:`~ml2bench.solvers.base.register_solver`; a solver's module is imported only when
the solver is built.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ml2bench.labels import parse_label, unknown_name_error
from ml2bench.solvers.catalogue import SOLVERS as CATALOGUE

if TYPE_CHECKING:
    from ml2bench.solvers.base import Solver


def _registered() -> dict:
    """Solvers registered so far (empty while the solver base module is not imported)."""
    base = sys.modules.get("ml2bench.solvers.base")
    return dict(base.SOLVERS) if base is not None else {}


def solver_descriptions() -> dict[str, str]:
    """Name → one-line description of every known solver, importing no solver module."""
    described = {name: entry.description for name, entry in CATALOGUE.items()}
    for name, cls in _registered().items():
        described.setdefault(name, cls.description)
    return described


def solver_class(name: str) -> type[Solver]:
    """The class of solver ``name`` (its module imported on first use)."""
    registered = _registered()
    if name in registered:
        return registered[name]
    if name not in CATALOGUE:
        raise unknown_name_error("solver", name, {*CATALOGUE, *registered})
    return CATALOGUE[name].load()


def available_solvers() -> dict[str, type[Solver]]:
    """All solvers, importing every catalogued solver module."""
    for name in CATALOGUE:
        solver_class(name)
    from ml2bench.solvers.base import SOLVERS
    return SOLVERS


def make_solver(label: str) -> Solver:
    """Construct the solver named by ``label`` with its parameters validated."""
    name, params = parse_label(label)
    return solver_class(name)(**params)
