"""Looking solvers up by label (``sgd[lr=0.1,momentum=0.9]``)."""

from __future__ import annotations

from ml2bench.labels import parse_label, unknown_name_error
from ml2bench.solvers.base import SOLVERS, Solver


def available_solvers() -> dict[str, type[Solver]]:
    """All registered solvers, importing the built-in modules first."""
    from ml2bench.solvers import builtin  # noqa: F401
    return SOLVERS


def make_solver(label: str) -> Solver:
    """Construct the solver named by ``label`` with its parameters validated."""
    name, params = parse_label(label)
    solvers = available_solvers()
    if name not in solvers:
        raise unknown_name_error("solver", name, solvers)
    return solvers[name](**params)
