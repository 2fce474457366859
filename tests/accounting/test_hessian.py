"""One HVP kernel (ml2bench.hessian): a linearised gradient reused by every product of a
Krylov solve, charged ``hvp`` for the first product and ``hvp_more`` for the others."""

import dataclasses
import weakref

import pytest
import torch

from ml2bench.accounting.ledger import WorkLedger
from ml2bench.accounting.oracle import Oracle
from ml2bench.hessian import LinearisedGradient, hessian_vector_product
from ml2bench.hierarchy.base import LevelCost
from ml2bench.parameters import flatten, load_vector, model_vector
from ml2bench.problems.registry import make_task
from ml2bench.solvers.level_objective import LevelObjective
from ml2bench.solvers.tr_subproblem import steihaug_cg
from ml2bench.testing import bind

RESNET = "peaks_resnet[blocks=9,levels=2,num_points=300,train_size=200,dtype=float64]"
PINN = "poisson1d_pinn[quick=true,dtype=float64]"


def counted(task):
    ledger = WorkLedger([lv.cost for lv in task.hierarchy.levels], task.num_train)
    return Oracle(task, ledger), ledger


def random_like(params, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]


@pytest.mark.parametrize("problem", [RESNET, PINN])
@pytest.mark.parametrize("level", [0, 1])
def test_reused_products_equal_one_shot_products(problem, level):
    task = make_task(problem)
    oracle, ledger = counted(task)
    params = oracle.params(level)
    vectors = [random_like(params, seed) for seed in range(3)]
    operator = oracle.hessian(task.train, level)
    reused = [operator(v) for v in vectors] + [operator(vectors[0])]
    assert operator.num_linearisations == 1 and operator.num_products == 4
    assert ledger.count("hvp", level) == 1 and ledger.count("hvp_more", level) == 3
    for v, hv in zip(vectors, reused):
        one_shot = oracle.hvp(task.train, v, level)
        scale = float(flatten(one_shot).abs().max())
        assert scale > 0
        assert float((flatten(hv) - flatten(one_shot)).abs().max()) <= 1e-12 * scale
    assert all(torch.equal(a, b) for a, b in zip(reused[0], reused[3]))  # same graph, same v
    # symmetry of the operator, <u, H v> = <v, H u>: a check that it is a Hessian
    u, v = (flatten(x) for x in vectors[:2])
    assert float(u @ flatten(reused[1])) == pytest.approx(float(v @ flatten(reused[0])),
                                                          rel=1e-10)


def test_kernel_matches_the_dense_hessian_of_a_small_function():
    theta = torch.tensor([0.3, -1.2, 0.7], dtype=torch.float64, requires_grad=True)

    def objective():
        return torch.sin(theta).prod() + (theta ** 4).sum()

    dense = torch.autograd.functional.hessian(lambda t: torch.sin(t).prod() + (t ** 4).sum(),
                                              theta.detach())
    linear = LinearisedGradient(objective, [theta])
    for j in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[j] = 1.0
        assert torch.allclose(linear.product([e])[0], dense[:, j], rtol=1e-14, atol=1e-14)
    assert torch.allclose(hessian_vector_product(objective, [theta], [torch.ones(3).double()])[0],
                          dense.sum(dim=1), rtol=1e-14, atol=1e-14)
    assert float(linear.value) == pytest.approx(float(objective().detach()))


def test_linearisation_refuses_moved_parameters_and_release():
    theta = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    linear = LinearisedGradient(lambda: (theta ** 3).sum(), [theta])
    assert linear.is_current
    with torch.no_grad():
        theta.add_(1.0)
    assert not linear.is_current
    with pytest.raises(RuntimeError, match="changed"):
        linear.product([torch.ones(2, dtype=torch.float64)])
    other = LinearisedGradient(lambda: (theta ** 3).sum(), [theta])
    other.release()
    with pytest.raises(RuntimeError, match="released"):
        other.product([torch.ones(2, dtype=torch.float64)])


def test_gradient_independent_of_a_parameter_gives_zero_rows():
    a = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([5.0], dtype=torch.float64, requires_grad=True)  # unused
    linear = LinearisedGradient(lambda: (a ** 2).sum() + 4.0 * b.sum(), [a, b, c])
    hv = linear.product([torch.ones(1, dtype=torch.float64)] * 3)
    assert [float(h) for h in hv] == [2.0, 0.0, 0.0]


def test_one_cg_solve_charges_one_hvp_and_then_hvp_more():
    task = make_task(RESNET)
    oracle, ledger = counted(task)
    objective = LevelObjective(oracle, 0, task.train)
    point = objective.evaluate(model_vector(objective.model))
    before, wu_before = dict(ledger.evaluations), ledger.work_units
    result = steihaug_cg(point.grad, objective.hessian(point.x), radius=1e6, rtol=1e-12,
                         max_iter=6)
    n = result.num_matvecs  # stops early at negative curvature
    assert n >= 2
    assert ledger.count("hvp") == 1 and ledger.count("hvp_more") == n - 1
    assert ledger.hvp_count() == n
    assert ledger.count("grad") == before[(0, "grad")]
    cost = task.hierarchy.levels[0].cost
    assert ledger.work_units - wu_before == pytest.approx(cost.hvp + (n - 1) * cost.hvp_more,
                                                          rel=1e-12)
    # the same solve with one-shot products (the old accounting) costs more
    assert ledger.work_units - wu_before < n * cost.hvp


def test_moved_model_is_relinearised_and_charged_hvp():
    task = make_task(RESNET)
    oracle, ledger = counted(task)
    objective = LevelObjective(oracle, 0, task.train)
    x = model_vector(objective.model)
    matvec = objective.hessian(x)
    v = torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype)
    first = matvec(v)
    load_vector(objective.model, x + 0.1)  # e.g. a trial point evaluated in between
    again = matvec(v)  # back to x, linearised again
    assert ledger.count("hvp") == 2 and ledger.count("hvp_more") == 0
    assert torch.allclose(first, again, rtol=1e-12, atol=0)
    assert torch.equal(model_vector(objective.model), x)
    matvec(v)
    assert ledger.count("hvp_more") == 1


def test_linearisation_is_dropped_when_the_step_ends():
    task, solver, ledger = bind(RESNET, "tr[cg_max_iter=4]")
    oracle = solver.oracle
    operators = []
    original = oracle.hessian

    def recording(batch, level=0):
        operator = original(batch, level)
        operators.append(weakref.ref(operator))
        return operator

    oracle.hessian = recording
    solver.step()
    solver.step()
    assert operators and ledger.count("hvp_more") > 0
    assert all(ref() is None for ref in operators)  # no graph kept alive across steps


@pytest.mark.parametrize("problem", [RESNET, "ellipses_resnet[quick=true,num_points=200]",
                                     "digits_cnn[quick=true]", PINN])
def test_measured_costs_of_both_hvp_kinds(problem):
    task = make_task(problem)
    for level in task.hierarchy.levels:
        cost = level.cost
        assert 0.0 < cost.hvp_more < cost.hvp
        # the first product is the linearisation (a gradient's FLOPs) plus one product
        assert cost.hvp - cost.hvp_more == pytest.approx(cost.grad, rel=1e-2)
    assert "cost_hvp_more" in task.hierarchy.table()[0]
    assert [row["cost_hvp_more"] for row in task.hierarchy.table()] == \
        [lv.cost.hvp_more for lv in task.hierarchy.levels]


def test_level_cost_stays_a_plain_dataclass_of_floats():
    cost = LevelCost(0.5, 1.0, 3.0, 2.0)
    assert LevelCost(**dataclasses.asdict(cost)) == cost
    assert cost.of("hvp_more") == 2.0
    old = LevelCost(0.5, 1.0, 3.0)  # without a measured further product: charged as a first
    assert old.hvp_more == 3.0
    ledger = WorkLedger([cost], num_train=10)
    ledger.charge(0, "hvp", 10)
    ledger.charge(0, "hvp_more", 5)
    assert ledger.work_units == pytest.approx(3.0 + 1.0)
    assert ledger.count(("hvp", "hvp_more")) == ledger.hvp_count() == 2
