"""Declared hyperparameters of every registered solver, checked as a contract."""

import pytest

from ml2bench.errors import UserError
from ml2bench.solvers.registry import available_solvers, make_solver, solver_class


def test_no_solver_accepts_a_negative_count():
    """Property: every integer hyperparameter of every registered solver (iteration,
    step and history counts, sizes, subdomains) refuses −1 with a user error."""
    checked = 0
    for name in available_solvers():
        for key, param in solver_class(name).params.items():
            if param.kind is int:
                with pytest.raises(UserError):
                    make_solver(f"{name}[{key}=-1]")
                checked += 1
    assert checked > 20
