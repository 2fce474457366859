"""The nine standard problems: specs, determinism, objectives, hierarchies."""

import math

import numpy as np
import pytest
import torch

from ml2bench.errors import UserError
from ml2bench.problems.quadratic import exact_minimiser, poisson_eigenvalues, poisson_matrix
from ml2bench.problems.registry import load_specs, make_task, resolve_problem

NINE = ["quadratic_poisson1d", "peaks_resnet", "ellipses_resnet", "swissroll_resnet",
        "poisson1d_pinn", "poisson2d_pinn", "poisson1d_regression", "burgers_pinn", "digits_cnn"]
FAST = [p for p in NINE if p != "peaks_resnet"]


def test_all_nine_problems_have_versioned_specs():
    specs = load_specs()
    assert set(NINE) <= set(specs)
    for name in NINE:
        assert specs[name].version >= 1 and specs[name].description


@pytest.mark.parametrize("name", FAST)
def test_quick_task_is_deterministic_and_finite(name):
    a = make_task(f"{name}[quick=true]", seed=3)
    b = make_task(f"{name}[quick=true]", seed=3)
    for x, y in zip(a.train + a.test, b.train + b.test):
        assert torch.equal(x, y)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    metrics = a.evaluate()
    assert all(math.isfinite(v) for v in metrics.values())
    assert a.metric in metrics
    c = make_task(f"{name}[quick=true]", seed=4)
    assert any(not torch.equal(p, q) for p, q in zip(a.model.parameters(), c.model.parameters()))


def test_quadratic_objective_is_exactly_the_poisson_energy():
    task = make_task("quadratic_poisson1d[n=31,levels=2]")
    x = task.model.x.detach()
    A, h = poisson_matrix(31), 1 / 32
    b = math.pi**2 * np.sin(math.pi * np.arange(1, 32) * h)
    expected = 0.5 * x.numpy() @ A @ x.numpy() - b @ x.numpy()
    assert task.full_objective(task.model) == pytest.approx(expected, rel=1e-12)
    lam = poisson_eigenvalues(31)
    assert np.allclose(lam, np.linalg.eigvalsh(A), rtol=1e-10)
    assert lam[-1] == pytest.approx(4 / h**2 * math.sin(31 * math.pi * h / 2) ** 2)
    with torch.no_grad():
        task.model.x.copy_(torch.as_tensor(exact_minimiser(31)))
    metrics = task.evaluate()
    assert metrics["test_rel_l2"] < 1e-12 and metrics["grad_norm"] < 1e-9


def test_labels_override_spec_and_quick_defaults():
    spec, given, values = resolve_problem("peaks_resnet[levels=3,quick=true]")
    assert values["levels"] == 3 and values["blocks"] == 17 and values["quick"] is True
    _, _, full = resolve_problem("peaks_resnet")
    assert full["blocks"] == 65 and full["levels"] == 5


@pytest.mark.parametrize("label,match", [
    ("nope", "unknown problem 'nope'; valid problems: .*digits_cnn"),
    ("peaks_resnet[foo=1]", "unknown parameter 'foo'"),
    ("peaks_resnet[levels=0]", "levels=0 is invalid"),
])
def test_bad_problem_labels(label, match):
    with pytest.raises(UserError, match=match):
        resolve_problem(label)


def test_too_many_levels_is_a_user_error():
    with pytest.raises(UserError, match="cannot be coarsened"):
        make_task("swissroll_resnet[blocks=9,levels=5]")


def test_pinn_ansatz_satisfies_boundary_conditions_exactly():
    task = make_task("burgers_pinn[quick=true,dtype=float64]")
    from ml2bench.problems.pinn import EQUATIONS
    eq = EQUATIONS["burgers"]
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    x = torch.linspace(-1, 1, 9, dtype=torch.float64)
    boundary = torch.stack([torch.cat([-torch.ones(7), torch.ones(7)]), torch.cat([t, t])], 1)
    u = eq.ansatz(boundary, task.model(boundary))
    assert u.abs().max() < 1e-12
    initial = torch.stack([x, torch.zeros(9, dtype=torch.float64)], 1)
    u0 = eq.ansatz(initial, task.model(initial))
    assert torch.allclose(u0, -torch.sin(math.pi * x), atol=1e-12)


def test_poisson1d_pinn_residual_vanishes_at_the_exact_solution():
    from ml2bench.problems.pinn import _poisson1d_residual
    x = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)[:, None].requires_grad_(True)
    u = torch.sin(math.pi * x[:, 0]) + 0.1 * torch.sin(8 * math.pi * x[:, 0])
    assert _poisson1d_residual(x, u).abs().max() < 1e-9


# -- spec files are validated on loading, before any run (issue 17, point 6) -------------

def test_every_committed_spec_passes_the_spec_checks():
    from ml2bench.problems.registry import load_specs, resolve_problem
    for name, spec in load_specs().items():
        spec.check()
        resolve_problem(f"{name}[quick=true]")


def _spec_folder(tmp_path, monkeypatch, edit):
    """A problems folder holding a copy of peaks_resnet.toml changed by ``edit``."""
    from ml2bench.problems.registry import spec_directory
    text = (spec_directory() / "peaks_resnet.toml").read_text()
    folder = tmp_path / "problems"
    folder.mkdir()
    (folder / "peaks_resnet.toml").write_text(edit(text))
    monkeypatch.setenv("ML2BENCH_PROBLEMS", str(folder))
    return folder / "peaks_resnet.toml"


@pytest.mark.parametrize("edit,needles", [
    (lambda t: t.replace("width = 8", "widht = 32"),
     ["[params]: unknown parameter 'widht'", "valid parameters:", "did you mean 'width'?"]),
    (lambda t: t.replace("[quick]\n", "[quick]\nwidht = 4\n"),
     ["[quick]: unknown parameter 'widht'", "did you mean 'width'?"]),
    (lambda t: t.replace("description =", "descripton ="),
     ["unknown key 'descripton'", "valid keys: name, version", "did you mean 'description'?"]),
    (lambda t: t.replace("[quick]", "[quik]"), ["unknown key 'quik'", "did you mean 'quick'?"]),
    (lambda t: t.replace("width = 8", "width = -3"), ["[params]: width=-3 is invalid",
                                                      "width must be an int >= 1"]),
    (lambda t: t.replace("version = 2", 'version = "two"'), ["version = 'two' is invalid",
                                                             "positive integer"]),
    (lambda t: t.replace("levels = 3", "levels = 0"), ["[quick]: levels=0 is invalid"]),
])
def test_a_bad_spec_file_is_one_line_before_any_run(capsys, tmp_path, monkeypatch, edit, needles):
    from ml2bench.cli import main
    path = _spec_folder(tmp_path, monkeypatch, edit)
    out = tmp_path / "out"
    code = main(["run", "--problem", "peaks_resnet[quick=true]", "--solver", "adam",
                 "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0], err
    assert str(path) in err[0]
    for needle in needles:
        assert needle in err[0], (needle, err[0])
    assert not out.exists()  # refused before anything started
