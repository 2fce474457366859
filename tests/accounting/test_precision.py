"""Reduced precision as a run option (issue 12, point 6): ``--precision`` autocasts the
oracle's model evaluations (fp16 with dynamic loss scaling) while parameters, gradients
and every quantity that decides a step stay in float32 or above; the run records it."""

import math

import pandas as pd
import pytest
import torch

from ml2bench.accounting.ledger import WorkLedger
from ml2bench.accounting.oracle import Oracle
from ml2bench.accounting.precision import Precision
from ml2bench.cli import main
from ml2bench.errors import UserError
from ml2bench.problems.registry import make_task
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.solvers import rmtr, tr_kernel
from ml2bench.testing import bind, run_steps

CNN = "digits_cnn[quick=true]"
RESNET = "peaks_resnet[quick=true]"
REDUCED = (torch.bfloat16, torch.float16)


def counted(problem, precision):
    task = make_task(problem)
    ledger = WorkLedger([lv.cost for lv in task.hierarchy.levels], task.num_train)
    return task, Oracle(task, ledger, precision), ledger


def random_like(params, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]


def test_the_check_command_runs_on_cpu_and_records_the_precision(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--problem", "digits_cnn", "--solver", "adam", "--precision", "bf16",
                 "--budget", "0.5", "--out", str(out), "--no-progress"]) == 0
    [path] = (out / "runs").glob("*.parquet")
    rows = pd.read_parquet(path)
    assert set(rows["precision"]) == {"bf16"}
    assert '"precision": "bf16"' in rows["run_options"].iloc[0]
    assert rows["status"].iloc[-1] in ("budget", "target") and rows["train_loss"].notna().all()


def test_bad_precision_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["run", "--problem", "digits_cnn", "--solver", "adam", "--precision", "bf8",
                 "--out", str(tmp_path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    with pytest.raises(UserError, match="unknown precision"):
        prepare(RunSpec(CNN, "adam", precision="int8", threads=1))


def test_identity_native_unchanged_fp_dtypes_are_the_dtype_parameter():
    native = prepare(RunSpec(CNN, "adam", threads=1))
    assert "precision" not in RunSpec(CNN, "adam").identity(1, {}, {})  # hashes kept
    assert native.identity_columns["precision"] == "fp32"
    assert prepare(RunSpec(CNN, "adam", precision="fp32", threads=1)).run_id == native.run_id
    fp64 = prepare(RunSpec(CNN, "adam", precision="fp64", threads=1))
    spelled = prepare(RunSpec("digits_cnn[quick=true,dtype=float64]", "adam", threads=1))
    assert fp64.run_id == spelled.run_id
    assert fp64.identity_columns["precision"] == "fp64" and fp64.spec.precision is None
    bf16 = prepare(RunSpec(CNN, "adam", precision="bf16", threads=1))
    assert bf16.run_id != native.run_id and bf16.identity_columns["precision"] == "bf16"
    # autocast keeps float32 master weights: a float64 problem is converted
    quad = prepare(RunSpec("quadratic_poisson1d", "tr", precision="bf16", threads=1))
    assert quad.problem_values["dtype"] == "float32"


@pytest.mark.parametrize("dtype", REDUCED)
def test_forward_is_reduced_parameters_gradients_and_products_are_not(dtype):
    name = {torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    task, oracle, ledger = counted(CNN, Precision(name))
    seen = []
    convs = [m for m in task.model.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.dtype)) for m in convs]
    batch = task.batch(torch.arange(64))
    loss, grads = oracle.loss_and_grad(batch)
    for hook in hooks:
        hook.remove()
    assert seen and set(seen) == {dtype}
    assert loss.dtype == torch.float32 and oracle.loss(batch).dtype == torch.float32
    params = oracle.params()
    assert {p.dtype for p in params} == {g.dtype for g in grads} == {torch.float32}
    assert all(torch.isfinite(g).all() for g in grads)
    # reduced precision, not a no-op: the gradient differs from the float32 one, slightly
    task32, oracle32, _ = counted(CNN, None)
    _, exact = oracle32.loss_and_grad(task32.batch(torch.arange(64)))
    error = max(float((g - e).norm() / e.norm()) for g, e in zip(grads, exact))
    assert 0 < error < 0.2


@pytest.mark.parametrize("problem", [CNN, RESNET])
def test_double_backward_under_bf16_autocast(problem):
    """HVPs (one-shot and the linearised operator) work under bf16 autocast on CPU for
    the CNN and the ResNet and return float32 products close to the float32 ones."""
    task, oracle, ledger = counted(problem, Precision("bf16"))
    batch = task.batch(torch.arange(64))
    v = random_like(oracle.params())
    one_shot = oracle.hvp(batch, v)
    operator = oracle.hessian(batch)
    first, again = operator(v), operator(v)
    assert {h.dtype for h in one_shot + first} == {torch.float32}
    assert all(torch.isfinite(h).all() for h in one_shot)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    _, native, _ = counted(problem, None)
    exact = native.hvp(make_task(problem).batch(torch.arange(64)), v)
    num = math.sqrt(sum(float((a - b).pow(2).sum()) for a, b in zip(one_shot, exact)))
    den = math.sqrt(sum(float(b.pow(2).sum()) for b in exact))
    assert 0 < num / den < 0.25  # reduced (not a no-op), yet close
    assert ledger.count("hvp") == 2 and ledger.count("hvp_more") == 1


def _record_ratio_arguments(monkeypatch, module):
    seen = []
    original = module.reduction_ratio

    def spy(value, trial_value, predicted, eps):
        seen.append((value, trial_value, predicted, eps))
        rho = original(value, trial_value, predicted, eps)
        seen.append((rho,))
        return rho
    monkeypatch.setattr(module, "reduction_ratio", spy)
    return seen


def _at_least_fp32(x):
    if isinstance(x, torch.Tensor):
        return x.dtype in (torch.float32, torch.float64)
    return isinstance(x, (float, int))  # Python floats are doubles


@pytest.mark.parametrize("solver", ["tr[subproblem=lsr1]", "rmtr[subproblem=lsr1]"])
def test_step_deciding_quantities_stay_fp32_under_bf16(monkeypatch, solver):
    seen = _record_ratio_arguments(monkeypatch, tr_kernel)
    seen_rmtr = _record_ratio_arguments(monkeypatch, rmtr)
    task, solver_obj, _ = bind(RESNET, solver, precision="bf16")
    run_steps(solver_obj, 2)
    quantities = [q for args in seen + seen_rmtr for q in args]
    assert quantities and all(_at_least_fp32(q) for q in quantities)
    memories = [solver_obj.memory] if hasattr(solver_obj, "memory") else solver_obj.memories
    stored = [m for m in memories if m is not None and m._S is not None]
    assert stored
    for memory in stored:
        assert memory._S.dtype == memory._Y.dtype == torch.float32
        assert memory._middle.dtype in (torch.float32, torch.float64)
        assert isinstance(memory.gamma, float)
    assert {p.dtype for p in task.model.parameters()} == {torch.float32}


def test_mgopt_line_search_and_lbfgs_memory_stay_fp32_under_bf16():
    task, solver, _ = bind(RESNET, "mgopt[smoother=lbfgs]", precision="bf16")
    run_steps(solver, 2)
    pairs = [t for state in solver.state.smoothers for t in state.pairs_s + state.pairs_y]
    assert pairs and {t.dtype for t in pairs} == {torch.float32}
    assert all(isinstance(log.get("alpha", 0.0), float) for log in solver.logs)


def test_torch_lbfgs_memory_is_in_the_master_weights_dtype():
    _, solver, _ = bind(CNN, "lbfgs[max_iter=3]", precision="bf16")
    run_steps(solver, 1)
    state = solver.optimizer.state[solver.optimizer._params[0]]
    assert {t.dtype for t in state["old_dirs"] + state["old_stps"]} == {torch.float32}


def test_fp16_loss_scaling_discards_an_overflowed_evaluation():
    precision = Precision("fp16", init_scale=2.0 ** 40)  # 2^40 overflows fp16 (max 65504)
    task, oracle, ledger = counted(CNN, precision)
    batch = task.batch(torch.arange(64))
    loss, grads = oracle.loss_and_grad(batch)
    assert all(torch.isfinite(g).all() for g in grads) and torch.isfinite(loss)
    assert precision.skipped >= 1 and precision.scale < 2.0 ** 40
    assert ledger.count("grad") == 1 + precision.skipped  # discarded work stays charged
    # the scale no longer overflows: the next evaluation is not repeated
    skipped = precision.skipped
    oracle.loss_and_grad(batch)
    assert precision.skipped == skipped
    # products too, one-shot and linearised
    precision.scale = 2.0 ** 40
    v = random_like(oracle.params())
    assert all(torch.isfinite(h).all() for h in oracle.hvp(batch, v))
    precision.scale = 2.0 ** 40
    assert all(torch.isfinite(h).all() for h in oracle.hessian(batch)(v))
    assert precision.skipped > skipped + 1


def test_fp16_an_adam_step_never_uses_an_overflowed_gradient():
    """The step of a solver with an overflowing scale is the step of a fitting scale
    (GradScaler skips the optimizer step; the oracle repeats the evaluation instead)."""
    _, solver, ledger = bind(CNN, "adam", precision="fp16")
    solver.oracle.precision.scale = 2.0 ** 40
    run_steps(solver, 2)
    assert all(torch.isfinite(p).all() for p in solver.oracle.params())
    assert solver.oracle.precision.skipped >= 1


def test_precision_scale_rules():
    p = Precision("fp16", init_scale=8.0, growth_interval=2)
    finite, inf = [torch.ones(2)], [torch.tensor([1.0, math.inf])]
    assert p.accept(torch.tensor(1.0), finite) and p.scale == 8.0
    assert p.accept(torch.tensor(1.0), finite) and p.scale == 16.0  # grows after 2
    assert not p.accept(torch.tensor(1.0), inf) and p.scale == 8.0 and p.skipped == 1
    assert p.accept(torch.tensor(math.inf), inf)  # a non-finite loss: scaling cannot help
    state = p.state_dict()
    q = Precision("fp16")
    q.load_state_dict(state)
    assert q.state_dict() == state
    assert Precision("bf16").scale == 1.0 and Precision("bf16").accept(torch.tensor(1.0), inf)


@pytest.mark.parametrize("solver", ["adam", "tr"])
def test_same_seed_same_numbers_in_bf16(solver):
    def losses():
        _, s, ledger = bind(CNN, solver, precision="bf16")
        return [d["batch_loss"] if "batch_loss" in d else d.get("loss") for d in
                run_steps(s, 3)], [p.clone() for p in s.oracle.params()], ledger.work_units
    first, second = losses(), losses()
    assert first[0] == second[0] and first[2] == second[2]
    assert all(torch.equal(a, b) for a, b in zip(first[1], second[1]))


def test_double_backward_of_the_conv_resnet_under_bf16():
    """The convolutional ResNet-ODE of the image problems (built directly: no data
    download) also has a bf16 double backward on CPU."""
    from ml2bench.hessian import hessian_vector_product
    from ml2bench.models.conv_resnet_ode import ConvResNetODE

    model = ConvResNetODE(1, 4, 10, 2, 1.0, 12, generator=torch.Generator().manual_seed(0))
    x, y = torch.randn(4, 1, 12, 12), torch.arange(4)
    params = list(model.parameters())
    v = random_like(params)

    def objective():
        with Precision("bf16").autocast():
            return torch.nn.functional.cross_entropy(model(x), y).float()
    products = hessian_vector_product(objective, params, v)
    assert {h.dtype for h in products} == {torch.float32}
    assert all(torch.isfinite(h).all() for h in products)
