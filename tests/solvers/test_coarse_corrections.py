"""Direct checks of the multilevel coarse corrections (issue 24, point 2).

Not "the loss went down": the coarse model that MG/OPT and RMTR actually build during a
cycle is checked against its defining formula, and on the quadratic the two-level
correction against the Galerkin coarse-grid correction computed by hand with NumPy.

First-order coherence (Nash 2000; Gratton, Sartenaer & Toint 2008): with ``z₀ = Πx``,

    h_{l+1}(z) = f_{l+1}(z) + ⟨R∇h_l(x) − ∇f_{l+1}(z₀), z − z₀⟩,

so ``h_{l+1}(z₀) = f_{l+1}(z₀)`` and ``∇h_{l+1}(z₀) = R∇h_l(x)`` to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml2bench.parameters import model_vector
from ml2bench.solvers import level_objective, mgopt, rmtr
from ml2bench.solvers.level_objective import LevelObjective, coherent_objective, flat_transfers
from ml2bench.testing import bind

SMALL_NN = "ellipses_resnet[quick=true,num_points=200,dtype=float64]"
QUADRATIC = "quadratic_poisson1d[n=31,levels=3]"


def spy_on_coarse_objectives(monkeypatch, module) -> list[tuple]:
    """Record every ``(fine objective, fine point, transfer, coarse objective, start)``
    the solver module builds through :func:`coherent_objective`."""
    built = []

    def recording(fine, point, transfer):
        coarse, start = level_objective.coherent_objective(fine, point, transfer)
        built.append((fine, point, transfer, coarse, start))
        return coarse, start

    monkeypatch.setattr(module, "coherent_objective", recording)
    return built


def assert_first_order_coherent(fine, point, transfer, coarse, start):
    """The coarse model's value and gradient at ``Πx`` and at a second point against
    the defining formula, with ``f_{l+1}`` and ``∇f_{l+1}`` evaluated independently."""
    g_fine = fine.value_and_grad(point.x)[1]
    scale = float(torch.linalg.vector_norm(g_fine)) + 1.0
    assert torch.allclose(point.grad, g_fine, rtol=1e-10, atol=1e-12 * scale)
    restricted = transfer.restrict(g_fine)
    z0 = transfer.project(point.x)
    assert torch.equal(start.x, z0)
    plain = LevelObjective(fine.oracle, fine.level + 1, fine.batch)  # f_{l+1}, no shift
    f0, df0 = plain.value_and_grad(z0)
    # at the restricted point: h(z₀) = f(z₀), ∇h(z₀) = R∇h_l(x)
    h0, dh0 = coarse.value_and_grad(z0)
    assert h0 == pytest.approx(f0, rel=1e-12, abs=1e-14)
    assert torch.allclose(dh0, restricted, rtol=1e-10, atol=1e-12 * scale)
    assert torch.allclose(start.grad, restricted, rtol=1e-10, atol=1e-12 * scale)
    # away from it: h(z) = f(z) + ⟨R g − ∇f(z₀), z − z₀⟩ and ∇h(z) = ∇f(z) + R g − ∇f(z₀)
    d = 1e-2 * torch.cos(torch.arange(z0.numel(), dtype=z0.dtype)) * (1 + z0.abs().max())
    f1, df1 = plain.value_and_grad(z0 + d)
    h1, dh1 = coarse.value_and_grad(z0 + d)
    expected = f1 + float(torch.dot(restricted - df0, d))
    assert h1 == pytest.approx(expected, rel=1e-10, abs=1e-12 * scale)
    assert torch.allclose(dh1, df1 + restricted - df0, rtol=1e-10, atol=1e-12 * scale)


@pytest.mark.parametrize("problem", [QUADRATIC, SMALL_NN])
def test_coherent_objective_is_first_order_coherent_at_the_restricted_point(problem):
    """∇h_{l+1}(Πx) = R∇h_l(x) and h_{l+1}(Πx) = f_{l+1}(Πx), also with a shifted fine
    objective (the middle level of a three-level cycle)."""
    task, solver, _ = bind(problem, "mgopt")
    transfers = flat_transfers(task.hierarchy, 3)
    fine = LevelObjective(solver.oracle, 0, task.train)
    point = fine.evaluate(model_vector(task.model))
    assert_first_order_coherent(fine, point, transfers[0], *coherent_objective(fine, point,
                                                                               transfers[0]))
    middle, start = coherent_objective(fine, point, transfers[0])
    moved = middle.evaluate(start.x + 0.01 * torch.sin(torch.arange(start.x.numel(),
                                                                      dtype=start.x.dtype)))
    assert_first_order_coherent(middle, moved, transfers[1],
                                *coherent_objective(middle, moved, transfers[1]))


@pytest.mark.parametrize("problem", [QUADRATIC, SMALL_NN])
@pytest.mark.parametrize("module,label", [(mgopt, "mgopt[smoother=lbfgs]"),
                                          (mgopt, "mgopt"),
                                          (rmtr, "rmtr")])
def test_every_coarse_model_built_in_a_cycle_is_first_order_coherent(monkeypatch, problem,
                                                                     module, label):
    """The coarse models MG/OPT and RMTR build during two cycles satisfy
    ∇h_{l+1}(Πx) = R∇h_l(x) (and the value/gradient formula away from Πx)."""
    built = spy_on_coarse_objectives(monkeypatch, module)
    _, solver, _ = bind(problem, label)
    solver.step()
    solver.step()
    assert {fine.level for fine, *_ in built} == {0, 1}  # both coarse levels were built
    for record in built[:4]:
        assert_first_order_coherent(*record)


# -- the two-level correction on the quadratic against the Galerkin correction -----------

def poisson(n: int) -> np.ndarray:
    """``A = tridiag(−1, 2, −1)/h²``, ``h = 1/(n+1)``, written out by hand."""
    h = 1.0 / (n + 1)
    A = np.zeros((n, n))
    for i in range(n):
        A[i, i] = 2.0
        if i > 0:
            A[i, i - 1] = -1.0
        if i < n - 1:
            A[i, i + 1] = -1.0
    return A / h**2


def interpolation(n_coarse: int) -> np.ndarray:
    """Linear interpolation, coarse point ``j`` at fine point ``2j+1``, zero boundaries."""
    P = np.zeros((2 * n_coarse + 1, n_coarse))
    for j in range(n_coarse):
        P[2 * j, j] = 0.5
        P[2 * j + 1, j] = 1.0
        P[2 * j + 2, j] = 0.5
    return P


def test_rediscretised_coarse_poisson_matrix_is_the_galerkin_product():
    """R A_h P = A_2h with R = ½Pᵀ: the coarse level is the Galerkin coarse operator."""
    P = interpolation(7)
    assert np.allclose(0.5 * P.T @ poisson(15) @ P, poisson(7), rtol=1e-12, atol=1e-9)


def test_two_level_mgopt_correction_is_the_exact_galerkin_coarse_grid_correction():
    """Without smoothing on the fine level and with the coarse problem solved to rounding
    (L-BFGS, 7 unknowns), one MG/OPT cycle maps x to x + P(PᵀAP)⁻¹Pᵀ(b − Ax), the
    Galerkin coarse-grid correction (computed with NumPy)."""
    label = "mgopt[smoother=lbfgs,pre_smooth=0,post_smooth=0,coarse_steps=60]"
    task, solver, _ = bind("quadratic_poisson1d[n=15,levels=2]", label)
    x = model_vector(task.model).numpy().copy()
    A, P = poisson(15), interpolation(7)
    grid = np.arange(1, 16) / 16
    b = np.pi**2 * np.sin(np.pi * grid)
    expected = x + P @ np.linalg.solve(P.T @ A @ P, P.T @ (b - A @ x))
    info = solver.step()
    assert info["alpha_l1"] == 1.0
    got = model_vector(task.model).numpy()
    assert np.allclose(got, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())


@pytest.mark.parametrize("region", ["prolongated", "ball", "box"])
def test_two_level_rmtr_correction_is_the_exact_galerkin_coarse_grid_correction(region):
    """Without smoothing and with a trust region too large to bind, the coarse TR steps
    minimise the coherent coarse model ``½eᵀA_H e + (Rg)ᵀe`` (A_H = RAP, R = ½Pᵀ), so one
    RMTR cycle maps x to x + P(PᵀAP)⁻¹Pᵀ(b − Ax) (NumPy). Its ratio ρ compares the fine
    decrease with the coarse model's (GST 2008, eq. 2.5): on this quadratic
    f(x + Pe) − f(x) = 2·(coarse model decrease) exactly, so ρ = 1/σ = 2 for R = σPᵀ."""
    label = (f"rmtr[levels=2,pre_smooth=0,post_smooth=0,coarse_steps=4,radius=1000,"
             f"max_radius=10000,cg_rtol=1e-14,region={region}]")
    task, solver, _ = bind("quadratic_poisson1d[n=15,levels=2]", label)
    x = model_vector(task.model).numpy().copy()
    A, P = poisson(15), interpolation(7)
    b = np.pi**2 * np.sin(np.pi * np.arange(1, 16) / 16)
    expected = x + P @ np.linalg.solve(P.T @ A @ P, P.T @ (b - A @ x))
    info = solver.step()
    solver.export_iterate()
    assert info["coarse_accepted_l1"] == 1.0
    assert info["coarse_rho_l1"] == pytest.approx(2.0, rel=1e-12)
    got = model_vector(task.model).numpy()
    assert np.allclose(got, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


@pytest.mark.parametrize("label", ["rmtr[subproblem=lsr1]", "rmtr[subproblem=lsr1,cycle=F]"])
def test_rmtr_lsr1_pairs_are_exact_secant_pairs_on_the_quadratic(label):
    """Property: on ½xᵀAx − bᵀx every pair (s, y) an RMTR level stores — from its own
    steps and from the prolongated coarse corrections — satisfies y = A_l s (the linear
    terms of the coarse objectives do not change y), A_l written out by hand."""
    task, solver, _ = bind(QUADRATIC, label)
    for _ in range(4):
        solver.step()
    stored = 0
    for level, memory in enumerate(solver.memories):
        state = memory.state_dict()
        if state["S"] is None:
            continue
        A = torch.as_tensor(poisson(task.hierarchy.levels[level].model.x.numel()))
        for s, y in zip(state["S"], state["Y"]):
            assert torch.allclose(y, A @ s, rtol=1e-9, atol=1e-9 * float(A.abs().max() * s.abs().max()))
            stored += 1
    assert stored >= 4


def test_rmtr_stores_the_accepted_coarse_correction_as_a_secant_pair():
    """Property: with no smoothing, an accepted two-level correction is the only move of
    the fine iterate, and the fine L-SR1 memory's newest pair is (x₁ − x₀, A(x₁ − x₀))."""
    task, solver, _ = bind("quadratic_poisson1d[n=15,levels=2]",
                           "rmtr[subproblem=lsr1,pre_smooth=0,post_smooth=0]")
    x0 = model_vector(task.model).clone()
    info = solver.step()
    assert info["coarse_accepted_l1"] == 1.0
    solver.export_iterate()
    step = model_vector(task.model) - x0
    assert float(step.abs().max()) > 0
    state = solver.memories[0].state_dict()
    assert state["S"] is not None
    assert torch.allclose(state["S"][-1], step, rtol=1e-12, atol=1e-14)
    A = torch.as_tensor(poisson(15))
    assert torch.allclose(state["Y"][-1], A @ step, rtol=1e-9, atol=1e-9 * float((A @ step).abs().max()))
