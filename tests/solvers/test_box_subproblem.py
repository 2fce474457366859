"""The box-constrained quadratic subproblem solver of ``rmtr[region=box]``."""

import numpy as np
import pytest
import scipy.optimize
import torch

from ml2bench.solvers.box_subproblem import box_subproblem, projected_gradient


def random_problem(seed, convex=True):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 21))
    q = rng.standard_normal((n, n))
    a = q @ q.T + 0.1 * np.eye(n) if convex else q + q.T
    g = 3.0 * rng.standard_normal(n)
    lower, upper = -rng.uniform(0.05, 1.0, n), rng.uniform(0.05, 1.0, n)
    return a, g, lower, upper


def solve(a, g, lower, upper, **kwargs):
    a_t = torch.tensor(a)
    return box_subproblem(torch.tensor(g), lambda v: a_t @ v, torch.tensor(lower),
                          torch.tensor(upper), **kwargs)


@pytest.mark.parametrize("seed", range(30))
def test_exact_minimiser_of_strictly_convex_box_quadratics(seed):
    """Same minimiser as L-BFGS-B (tight tolerances) to 1e-6, n = 2..20."""
    a, g, lower, upper = random_problem(seed)
    result = solve(a, g, lower, upper, rtol=1e-12, max_iter=10_000)

    def model(s):
        return g @ s + 0.5 * s @ a @ s, g + a @ s

    reference = scipy.optimize.minimize(model, np.zeros(len(g)), jac=True, method="L-BFGS-B",
                                        bounds=list(zip(lower, upper)),
                                        options={"ftol": 1e-15, "gtol": 1e-12,
                                                 "maxiter": 10_000})
    s = result.step.numpy()
    assert np.all(s >= lower) and np.all(s <= upper)
    assert np.max(np.abs(s - reference.x)) <= 1e-6
    assert result.predicted_reduction == pytest.approx(-model(s)[0], rel=1e-10)
    assert result.predicted_reduction >= -reference.fun - 1e-9


@pytest.mark.parametrize("seed", range(40))
def test_truncated_and_indefinite_solves_are_feasible_descent_steps(seed):
    """One sweep or few products, indefinite ``B``: feasible, and at least the decrease
    of the projected Cauchy point's first segment."""
    a, g, lower, upper = random_problem(seed, convex=seed % 2 == 0)
    for kwargs in ({"max_sweeps": 1}, {"max_iter": 2}, {"rtol": 1e-10}):
        result = solve(a, g, lower, upper, **kwargs)
        s = result.step.numpy()
        assert np.all(s >= lower) and np.all(s <= upper)
        assert result.predicted_reduction == pytest.approx(-(g @ s + 0.5 * s @ a @ s),
                                                           rel=1e-9, abs=1e-12)
        assert result.predicted_reduction > 0.0
        assert result.num_matvecs <= kwargs.get("max_iter", 10 * len(g))


def test_projected_gradient_vanishes_exactly_at_a_bound_constrained_minimiser():
    r = torch.tensor([1.0, -1.0, 0.5, -2.0])
    s = torch.tensor([-1.0, 1.0, 0.0, 0.3])
    lower, upper = torch.full((4,), -1.0), torch.ones(4)
    assert torch.equal(projected_gradient(r, s, lower, upper),
                       torch.tensor([0.0, 0.0, 0.5, -2.0]))


def test_the_box_must_contain_zero():
    with pytest.raises(ValueError, match="contain s = 0"):
        box_subproblem(torch.ones(2), lambda v: v, torch.tensor([0.1, -1.0]), torch.ones(2))
