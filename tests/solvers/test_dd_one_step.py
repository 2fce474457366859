"""One step of the Schwarz-preconditioned L-BFGS solvers (``aspqn``, ``mspqn``) against
a re-derivation written here from the algorithm's definition (SISC 46 (2024); module
docstring of :mod:`ml2bench.solvers.schwarz_lbfgs`), on a tiny float64 PINN.

The re-derivation shares nothing with the solver but the problem (loss and data), the
subdomains' index sets and torch's strong-Wolfe line search (``torch.optim.lbfgs``, the
reference routine the algorithm names): the objective and its gradient come from plain
autograd on a copy of the model, the local objectives ``f_d(z) = f(x with x[I_d] = z)``
are built by index assignment, and the additive correction
``c = Σ_d R_dᵀ(z_d − R_d x) / m`` with NumPy. With ``local_steps=1`` and fresh memories
every L-BFGS iteration is a steepest-descent step whose initial length is
``min(1, 1/‖g‖₁)`` (torch's rule for a first iteration).

(APTS: ``test_apts.py`` checks one ``apts_p`` step against block Jacobi computed by hand
and ``apts_d``/``apts_p`` reduce to ``tr``; the first-order consistency of every local
model is checked there too.)
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.optim.lbfgs import _strong_wolfe

from ml2bench.parameters import flatten, load_vector, model_vector
from ml2bench.testing import bind

PINN64 = "poisson1d_pinn[quick=true,dtype=float64]"


class PlainObjective:
    """``f(x)`` and ``∇f(x)`` on the full training set by autograd on a model copy."""

    def __init__(self, task):
        self.task, self.model = task, copy.deepcopy(task.model)
        self.batch = task.batch(None)

    def __call__(self, x):
        load_vector(self.model, x)
        params = list(self.model.parameters())
        with torch.enable_grad():
            loss = self.task.objective(self.model, self.batch)
            grads = torch.autograd.grad(loss, params)
        return float(loss.detach()), flatten(grads)


def steepest_descent_wolfe(f, x, value, grad):
    """A first L-BFGS iteration: direction −g, initial length min(1, 1/‖g‖₁), strong Wolfe;
    the point is kept if the value does not decrease."""
    direction = -grad
    t0 = min(1.0, 1.0 / float(grad.abs().sum()))
    new_value, new_grad, t, _ = _strong_wolfe(lambda x_, t_, d_: f(x_ + t_ * d_), x, t0,
                                              direction, value, grad, -float(grad @ grad))
    if not float(new_value) < value:
        return x, value, grad
    return x + t * direction, float(new_value), new_grad


def local_objective(f, x, idx):
    """``f_d(z) = f(x with x[idx] = z)`` and its gradient ``R_d ∇f``."""
    def fd(z):
        full = x.clone()
        full[idx] = z
        value, grad = f(full)
        return value, grad[idx]
    return fd


def reference_step(task, dec, additive: bool):
    f = PlainObjective(task)
    x = model_vector(task.model).clone()
    value, grad = f(x)
    indices = [dec.indices[d] for d in range(dec.num_subdomains)]
    if additive:
        correction, multiplicity = np.zeros(x.numel()), np.zeros(x.numel())
        for idx in indices:
            z, _, _ = steepest_descent_wolfe(local_objective(f, x, idx), x[idx].clone(), value,
                                             grad[idx])
            correction[idx.numpy()] += (z - x[idx]).numpy()
            multiplicity[idx.numpy()] += 1
        c = torch.as_tensor(correction / np.maximum(multiplicity, 1))
        slope = float(grad @ c)
        if slope < 0:
            v, g, alpha, _ = _strong_wolfe(lambda x_, t_, d_: f(x_ + t_ * d_), x, 1.0, c,
                                           value, grad, slope)
            if float(v) < value:
                x, value, grad = x + alpha * c, float(v), g
    else:
        current = x.clone()
        for idx in indices:
            v, g = f(current)
            z, _, _ = steepest_descent_wolfe(local_objective(f, current, idx),
                                             current[idx].clone(), v, g[idx])
            current[idx] = z
        if not torch.equal(current, x):
            x = current
            value, grad = f(x)
    return steepest_descent_wolfe(f, x, value, grad)[0]  # the global L-BFGS iteration


@pytest.mark.parametrize("label", ["aspqn[subdomains=2,local_steps=1]",
                                   "aspqn[subdomains=3,overlap=1,local_steps=1]",
                                   "mspqn[subdomains=2,local_steps=1]"])
def test_one_schwarz_lbfgs_step_matches_a_rederivation_from_the_definition(label):
    """Property: one step = additive (sum of local steps divided by the multiplicity,
    strong-Wolfe along it) or multiplicative (local steps in sequence) correction, then
    one global L-BFGS iteration — recomputed independently, equal to 1e-10."""
    task, solver, _ = bind(PINN64, label)
    expected = reference_step(task, solver.decomposition, label.startswith("aspqn"))
    start = model_vector(task.model).clone()
    solver.step()
    got = model_vector(task.model)
    assert not torch.equal(got, start)
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)
