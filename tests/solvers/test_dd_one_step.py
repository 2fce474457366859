"""One step of the Schwarz-preconditioned L-BFGS solvers (``aspqn``, ``mspqn``) and of
``apts_d`` against a re-derivation written here from the algorithm's definition (SISC 46 (2024); module
docstring of :mod:`ml2bench.solvers.schwarz_lbfgs`), on a tiny float64 PINN.

The re-derivation shares nothing with the solver but the problem (loss and data), the
subdomains' index sets and torch's strong-Wolfe line search (``torch.optim.lbfgs``, the
reference routine the algorithm names): the objective and its gradient come from plain
autograd on a copy of the model, the local objectives ``f_d(z) = f(x with x[I_d] = z)``
are built by index assignment, and the additive correction
``c = Σ_d R_dᵀ(z_d − R_d x) / m`` with NumPy. With ``local_steps=1`` and fresh memories
every L-BFGS iteration is a steepest-descent step whose initial length is
``min(1, 1/‖g‖₁)`` (torch's rule for a first iteration).

``apts_d`` (end of the file): the shard objectives, their Hessian products (double
backward) and Steihaug–Toint CG are written here in NumPy, on a float64 regression.
(``test_apts.py`` checks one ``apts_p`` step against block Jacobi computed by hand
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


# -- apts_d ---------------------------------------------------------------------------------

REGRESSION64 = "poisson1d_regression[quick=true,dtype=float64]"


class PlainBatchObjective(PlainObjective):
    """``f_I(x)``, ``∇f_I(x)`` and ``∇²f_I(x)v`` on the training samples ``I`` by plain
    autograd (double backward) on a model copy."""

    def __init__(self, task, indices):
        super().__init__(task)
        self.batch = task.batch(indices)

    def hvp(self, x, v):
        load_vector(self.model, x)
        params = list(self.model.parameters())
        with torch.enable_grad():
            grads = torch.autograd.grad(self.task.objective(self.model, self.batch), params,
                                        create_graph=True)
            grads = torch.cat([g.reshape(-1) for g in grads])  # kept on the graph
            return flatten(torch.autograd.grad(grads @ v, params)).numpy()


def steihaug_numpy(g, matvec, radius, max_iter):
    """Steihaug–Toint CG (Nocedal & Wright 2006, Alg. 7.2) in NumPy, tolerance
    ``min(0.5, √‖g‖)·‖g‖``; returns the step and the model decrease ``−m(s)``."""
    s, r, p = np.zeros_like(g), g.copy(), -g
    eps = min(0.5, np.sqrt(np.linalg.norm(g))) * np.linalg.norm(g)

    def to_boundary(s, p):
        a, b, c = p @ p, 2 * s @ p, s @ s - radius**2
        return s + (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a) * p

    for _ in range(max_iter):
        Bp = matvec(p)
        kappa = p @ Bp
        if kappa <= 0 or np.linalg.norm(s + (r @ r / kappa) * p) >= radius:
            s = to_boundary(s, p)
            break
        alpha = r @ r / kappa
        s, r_new = s + alpha * p, r + alpha * Bp
        if np.linalg.norm(r_new) <= eps:
            break
        p, r = -r_new + (r_new @ r_new) / (r @ r) * p, r_new
    return s, -(g @ s + 0.5 * s @ matvec(s))


def apts_d_reference_step(task, shards, radius, eta1=0.25, eta2=0.75, shrink=0.9,
                          expand=1.2, max_radius=1.0, max_iter=3):
    """One APTS step with data shards (arXiv 2502.05133; Groß & Krause 2009), re-derived:
    local objectives ``f̃_d(θ) = f_d(θ) + ⟨g − ∇f_d(θ_k), θ − θ_k⟩`` (shard ``d``'s mean
    loss), one Steihaug-CG trust-region step each within ``Δ/D`` (kept if its own ratio
    exceeds η1), global step ``s = Σ_d s_d``, ``pred = Σ_d (f̃_d(θ_k) − f̃_d(θ_k + s_d))``,
    ratio ``ρ = (f(θ_k) − f(θ_k + s))/pred``, DD4ML's radius update."""
    full = PlainObjective(task)
    x = model_vector(task.model).clone()
    value, grad = full(x)
    g, D = grad.numpy(), len(shards)
    s, pred = np.zeros_like(g), 0.0
    for indices in shards:
        local = PlainBatchObjective(task, indices)
        value_d, grad_d = local(x)
        step, model_decrease = steihaug_numpy(g, lambda v: local.hvp(x, torch.as_tensor(v)),
                                              radius / D, max_iter)
        trial_d = local(x + torch.as_tensor(step))[0] + (g - grad_d.numpy()) @ step
        if (value_d - trial_d) / model_decrease > eta1:
            s, pred = s + step, pred + (value_d - trial_d)
    rho = (value - full(x + torch.as_tensor(s))[0]) / pred
    if rho > eta1:
        x = x + torch.as_tensor(s)
    radius = (min(expand * radius, max_radius) if rho > eta2
              else radius if rho > eta1 else shrink * radius)
    return x, pred, rho, radius


@pytest.mark.parametrize("label", [
    "apts_d[subdomains=2,overlap=0]",                 # boundary steps, accepted
    "apts_d[subdomains=3,overlap=0.33]",
    "apts_d[subdomains=2,overlap=0,radius=2,max_radius=100]",  # interior CG steps whose
    "apts_d[subdomains=3,overlap=0.33,radius=2,max_radius=100]",  # sum overshoots: rejected
])
def test_one_apts_d_step_matches_a_rederivation_from_the_definition(label):
    """Property: one ``apts_d`` step (one local CG step per shard, no global pass) equals
    the sum of the shards' first-order-consistent trust-region steps, judged by the
    global ratio of actual to summed local decrease — recomputed with NumPy CG on Hessian
    products by plain autograd, equal to 1e-9 (accepted and rejected steps)."""
    label = label[:-1] + ",local_steps=1,global_steps=0,subproblem=cg,cg_max_iter=3,tol=0]"
    task, solver, _ = bind(REGRESSION64, label)
    decomposition = solver.shards(task.num_train)
    shards = [torch.sort(shard).values for shard in decomposition.shards]
    h = solver.hparams
    x, pred, rho, new_radius = apts_d_reference_step(task, shards, h["radius"],
                                                     max_radius=h["max_radius"])
    info = solver.step()
    assert info["accepted"] == float(rho > 0.25)
    assert info["pred"] == pytest.approx(pred, rel=1e-9)
    assert info["rho"] == pytest.approx(rho, rel=1e-7)
    assert info["radius"] == pytest.approx(new_radius, rel=1e-12)
    assert torch.allclose(model_vector(task.model), x, rtol=1e-9, atol=1e-12)
