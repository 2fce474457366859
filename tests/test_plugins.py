"""Plugins (issue 12, point 3): ``examples/my_optimizer`` installed for real (pip, offline,
into a temporary target) is listed, runs and is ranked like a built-in; a problem plugin
adds a family and its spec; broken and clashing plugins are one line naming their
distribution, and the built-ins still work."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ml2bench import plugins
from ml2bench.errors import UserError
from ml2bench.problems.registry import FAMILIES
from ml2bench.solvers.base import SOLVERS
from ml2bench.testing import all_params, bind, finest_loss, restore, run_steps, snapshot

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my_optimizer"
HEAVY = ("torch", "matplotlib", "numpy", "pandas", "scipy")


def dist_info(site: Path, name: str, summary: str, entry_points: str) -> None:
    """A minimal installed distribution: METADATA and entry_points.txt, as pip writes them."""
    folder = site / f"{name.replace('-', '_')}-0.1.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n"
                                     f"Summary: {summary}\n")
    (folder / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder holding what an install puts in site-packages: the example (installed by
    pip from a copy, so that the source tree gets no build folder), a problem plugin, a
    plugin whose module is missing, one whose class is not a solver, one clashing with
    a built-in."""
    if importlib.util.find_spec("setuptools") is None:  # the `test` extra installs it
        pytest.skip("building the example offline needs setuptools in this environment")
    tmp = tmp_path_factory.mktemp("plugins")
    source, site = tmp / "my_optimizer", tmp / "site"
    shutil.copytree(EXAMPLE, source)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "--disable-pip-version-check", "--target",
                    str(site), str(source)], check=True, timeout=120, capture_output=True)

    package = site / "toy_problems"
    (package / "problems").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from ml2bench.problems.digits import DigitsCNN\n\n\n"
        "class SmallDigits(DigitsCNN):\n    family = 'small_digits'\n")
    (package / "problems" / "small_digits.toml").write_text(
        'name = "small_digits"\nversion = 1\nfamily = "small_digits"\n'
        'description = "the digits CNN on 300 training images"\n\n'
        "[params]\nchannels = 4\ntrain_size = 300\nbatch_size = 50\n\n[quick]\nbudget = 5.0\n")
    (package / "problems" / "digits_cnn.toml").write_text(
        'name = "digits_cnn"\nversion = 1\nfamily = "small_digits"\n')
    dist_info(site, "toy-problems", "a problem plugin", """
        [ml2bench.problems]
        small_digits = toy_problems:SmallDigits
        """)
    dist_info(site, "family-clash", "a family taking a built-in's name", """
        [ml2bench.problems]
        digits_cnn = toy_problems:SmallDigits
        """)
    dist_info(site, "broken-plugin", "a plugin whose module is missing", """
        [ml2bench.solvers]
        broken_sgd = no_such_module:Solver
        """)
    dist_info(site, "not-a-solver", "a plugin naming a function", """
        [ml2bench.solvers]
        dumps = json:dumps
        """)
    dist_info(site, "clash", "a plugin taking a built-in's name", """
        [ml2bench.solvers]
        sgd = my_optimizer:PolyakSGD
        """)
    return site


PROBE = """
import json, sys
from ml2bench.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}), file=sys.stderr)
""" % (HEAVY,)


def cli(site, *argv, probe=False):
    """The command line in a fresh interpreter that sees the plugins installed in ``site``
    (as an install into site-packages would make them visible)."""
    command = ["-c", PROBE] if probe else ["-m", "ml2bench"]
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *command, *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_installed_plugins_are_listed_without_importing_them(site):
    done = cli(site, "list", "solvers", probe=True)
    *warnings, report = done.stderr.strip().splitlines()
    assert json.loads(report) == {"code": 0, "heavy": []}
    lines = dict(line.split(None, 1) for line in done.stdout.strip().splitlines())
    assert lines["my_sgd"] == ("SGD with the stochastic Polyak step size SPS_max (Loizou et al., "
                               "AISTATS 2021)  [plugin ml2bench-my-optimizer]")
    assert lines["sgd"].startswith("stochastic gradient descent")  # the built-in keeps it
    assert "broken_sgd" not in lines and "dumps" in lines  # known broken only once imported
    assert sorted(warnings) == [
        "ml2bench: warning: plugin broken-plugin (broken_sgd = no_such_module:Solver) is "
        "broken: no module named 'no_such_module'",
        "ml2bench: warning: plugin clash (sgd = my_optimizer:PolyakSGD) is refused: 'sgd' is "
        "a built-in solver, which keeps the name"]

    done = cli(site, "list", "problems", probe=True)
    *warnings, report = done.stderr.strip().splitlines()
    assert json.loads(report) == {"code": 0, "heavy": []}
    assert sorted(warnings) == [
        "ml2bench: warning: plugin family-clash (digits_cnn = toy_problems:SmallDigits) is "
        "refused: 'digits_cnn' is a built-in problem family, which keeps the name",
        "ml2bench: warning: plugin toy-problems (small_digits = toy_problems:SmallDigits) is "
        "refused: problem 'digits_cnn' exists already, which keeps the name"]
    assert [line for line in done.stdout.splitlines() if line.startswith("digits_cnn ")] == [
        line for line in cli(ROOT, "list", "problems").stdout.splitlines()
        if line.startswith("digits_cnn ")]
    assert any(line.split()[:2] == ["small_digits", "v1"]
               and line.endswith("the digits CNN on 300 training images  [plugin toy-problems]")
               for line in done.stdout.splitlines())


def test_the_plugins_run_and_are_ranked_next_to_the_built_ins(site, tmp_path):
    out = str(tmp_path / "runs")
    done = cli(site, "run", "--problem", "digits_cnn[quick=true]", "--problem",
               "small_digits[quick=true]", "--solver", "my_sgd[c=0.2]", "--solver", "sgd",
               "--budget", "1", "--out", out, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "4 runs" in done.stdout
    table = cli(site, "table", "--out", out, "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = {(r.split(",")[0], r.split(",")[2]) for r in table.stdout.splitlines()[1:] if r}
    assert rows == {("digits_cnn", "my_sgd[c=0.2]"), ("digits_cnn", "sgd"),
                    ("small_digits", "my_sgd[c=0.2]"), ("small_digits", "sgd")}


@pytest.mark.parametrize("solver, message", [
    ("broken_sgd", "plugin broken-plugin (broken_sgd = no_such_module:Solver) is broken: "
                   "no module named 'no_such_module'"),
    ("dumps", "plugin not-a-solver (dumps = json:dumps) is broken: json:dumps is not a "
              "subclass of ml2bench.solvers.base.Solver"),
])
def test_a_run_of_a_broken_plugin_is_one_error_line(site, tmp_path, solver, message):
    done = cli(site, "run", "--problem", "digits_cnn[quick=true]", "--solver", solver,
               "--budget", "1", "--out", str(tmp_path), "--no-progress")
    assert done.returncode == 2
    assert done.stderr.strip() == f"ml2bench: error: {message}"


@pytest.fixture
def in_process(site, monkeypatch):
    """The plugins of ``site`` visible in this process; forgotten afterwards."""
    monkeypatch.syspath_prepend(str(site))
    plugins.refresh()
    yield
    plugins.refresh()
    SOLVERS.pop("my_sgd", None)
    FAMILIES.pop("small_digits", None)
    for module in ("my_optimizer", "toy_problems"):
        sys.modules.pop(module, None)


def test_the_example_keeps_the_solver_contract(in_process):
    from ml2bench.solvers.registry import available_solvers, make_solver

    cls = available_solvers()["my_sgd"]
    assert cls.__module__ == "my_optimizer" and cls.reference
    assert cls.description.startswith("SGD with the stochastic Polyak step size")
    assert "broken_sgd" not in available_solvers() and "dumps" not in available_solvers()
    for key, param in cls.params.items():
        assert param.help
        for value in (param.search.grid(3) if param.search else []):
            make_solver(f"my_sgd[{key}={value}]")
    with pytest.raises(UserError, match="my_sgd: c=-1 is invalid"):
        make_solver("my_sgd[c=-1]")

    problem = "swissroll_resnet[quick=true]"
    # the quick swiss roll's gradients are small: the Polyak step is capped at gamma_max,
    # and 12 mini-batch steps of length 1 are noise; 0.1 decreases the loss as sgd's does
    task, solver, ledger = bind(problem, "my_sgd[gamma_max=0.1]")
    before = finest_loss(task, solver)
    infos = run_steps(solver, 12)
    assert finest_loss(task, solver) < before and ledger.work_units > 0
    assert all(isinstance(v, float) for info in infos for v in info.values())

    task, solver, ledger = bind(problem, "my_sgd")
    run_steps(solver, 3)
    saved = snapshot(task, solver, ledger)
    run_steps(solver, 3)
    task2, solver2, ledger2 = bind(problem, "my_sgd")
    restore(task2, solver2, saved, ledger2)
    assert solver2.state.steps == 3
    run_steps(solver2, 3)
    assert all(torch.equal(a, b) for a, b in zip(all_params(task), all_params(task2)))
    assert ledger2.work_units == pytest.approx(ledger.work_units, rel=1e-12)


def test_plugins_that_break_the_contract_are_refused_in_one_line(in_process, site):
    from ml2bench.problems.registry import family_class
    from ml2bench.solvers.registry import make_solver

    (site / "my_optimizer" / "wrong.py").write_text(
        "from my_optimizer import PolyakSGD\n\n\n"
        "class Renamed(PolyakSGD):\n    name = 'other'\n\n\n"
        "class BadParams(PolyakSGD):\n    name = 'bad_params'\n    params = {'c': 0.5}\n")
    dist_info(site, "wrong", "two broken solvers", """
        [ml2bench.solvers]
        renamed = my_optimizer.wrong:Renamed
        bad_params = my_optimizer.wrong:BadParams
        """)
    plugins.refresh()
    try:
        with pytest.raises(UserError, match=r"^plugin wrong \(renamed = my_optimizer.wrong:"
                           r"Renamed\) is broken: its class declares the name 'other'"):
            make_solver("renamed")
        with pytest.raises(UserError, match=r"bad_params.* is broken: params must map"):
            make_solver("bad_params")
        assert make_solver("sgd").name == "sgd"  # the built-ins still work
        assert family_class("small_digits").family == "small_digits"
    finally:
        shutil.rmtree(site / "wrong-0.1.dist-info")
        (site / "my_optimizer" / "wrong.py").unlink()
        sys.modules.pop("my_optimizer.wrong", None)
