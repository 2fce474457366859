"""A fast command line: building the parser, ``--help``, ``list`` and argument errors
import neither torch nor matplotlib (issue 8, point 4); the catalogues behind ``list``."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "matplotlib", "numpy", "pandas", "scipy")

PROBE = """
import json, sys
from ml2bench.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}), file=sys.stderr)
""" % (HEAVY,)


def probe(*argv):
    """Run the command line in a fresh interpreter; its exit code and heavy modules."""
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], report["heavy"], done.stdout


def test_building_the_parser_imports_no_torch():
    code = ("import ml2bench.cli as c, sys; c.build_parser(); "
            "assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


@pytest.mark.parametrize("what", ["problems", "solvers", "suites"])
def test_list_imports_neither_torch_nor_matplotlib(what):
    code, heavy, out = probe("list", what)
    assert code == 0 and heavy == []
    assert len(out.strip().splitlines()) >= 2


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["landscape", "--help"],
                                  ["data", "--help"], ["profile", "--help"],
                                  ["list", "things"],
                                  ["run", "--jobs", "x"], ["run", "--threads", "-2"],
                                  ["run", "--problem", "p", "--solver", "s", "--jobs", "0"]])
def test_help_and_argument_errors_import_neither_torch_nor_matplotlib(argv):
    code, heavy, _ = probe(*argv)
    assert code in (0, 2) and heavy == []


def test_every_catalogued_solver_loads_with_its_description():
    from ml2bench.solvers.catalogue import SOLVERS
    from ml2bench.solvers.registry import available_solvers, solver_descriptions

    classes = available_solvers()
    for name, entry in SOLVERS.items():
        cls = entry.load()
        assert cls.name == name and classes[name] is cls
        assert cls.description == entry.description != ""
    assert list(solver_descriptions())[:len(SOLVERS)] == list(SOLVERS)


def test_every_catalogued_family_loads():
    from ml2bench.problems.catalogue import FAMILIES
    from ml2bench.problems.registry import family_class, load_specs

    for name, entry in FAMILIES.items():
        assert entry.load().family == name and family_class(name) is entry.load()
    assert {spec.family for spec in load_specs().values()} <= set(FAMILIES)


def test_a_solver_registered_at_run_time_is_listed_and_built():
    from ml2bench.solvers.base import SOLVERS, Solver, register_solver
    from ml2bench.solvers.registry import make_solver, solver_descriptions

    @register_solver
    class Plugin(Solver):
        name = "plugin_test"
        description = "a solver registered by a test"

    try:
        assert solver_descriptions()["plugin_test"] == "a solver registered by a test"
        assert isinstance(make_solver("plugin_test"), Plugin)
    finally:
        del SOLVERS["plugin_test"]


def test_an_unknown_solver_lists_the_catalogue():
    from ml2bench.errors import UserError
    from ml2bench.solvers.registry import make_solver

    with pytest.raises(UserError, match="unknown solver 'bfgs'.*adam.*rmtr"):
        make_solver("bfgs")


def test_a_second_listing_reads_the_plugin_index_not_the_installed_metadata(tmp_path):
    """The entry points are indexed in the cache directory: a second ``list`` with an
    unchanged ``sys.path`` does not import importlib.metadata; a changed path is seen."""
    import os

    env = {**os.environ, "ML2BENCH_CACHE": str(tmp_path / "cache")}
    code = ("import sys; from ml2bench.cli import main; main(['list', 'solvers']); "
            "print('metadata' if 'importlib.metadata' in sys.modules else 'index')")

    def listing(extra_path=None):
        run_env = dict(env, PYTHONPATH=str(extra_path)) if extra_path else env
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=run_env,
                              capture_output=True, text=True, timeout=120, check=True)
        return done.stdout.splitlines()

    first, second = listing(), listing()
    assert first[-1] == "metadata" and second[-1] == "index"
    assert first[:-1] == second[:-1] and any(line.startswith("sgd") for line in second)
    (tmp_path / "site").mkdir()
    assert listing(tmp_path / "site")[-1] == "metadata"  # another sys.path: read again
    (tmp_path / "cache" / "entry-points.idx").write_text("{broken")
    assert listing()[-1] == "metadata"  # a corrupt index is rebuilt, never an error
