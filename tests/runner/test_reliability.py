"""Issue 9, points 2–6: one identity per configuration, one line and exit 2 for every bad
input, nothing created before a sweep is valid, exit 1 when runs failed."""

import json

import pandas as pd
import pytest

from ml2bench.cli import main
from ml2bench.problems.registry import load_specs
from ml2bench.report.leaderboard import leaderboard
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.solvers.baselines import Adam

QUAD = "quadratic_poisson1d[quick=true]"
SWISS = "swissroll_resnet[quick=true]"


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("ml2bench: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# -- point 2: one configuration, one identity -------------------------------------------

#: ``peaks_resnet``'s quick overrides spelled out (blocks, levels, budget, target).
PEAKS_QUICK = ",".join(f"{k}={v}" for k, v in load_specs()["peaks_resnet"].quick.items())


@pytest.mark.parametrize("a,b", [
    ((QUAD, "sgd"), (QUAD, "sgd[lr=0.1]")),
    ((QUAD, "sgd[lr=1]"), (QUAD, "sgd[lr=1.0]")),
    ((QUAD, "sgd"), ("quadratic_poisson1d[quick=true,dtype=float64,n=63]",
                     "sgd[momentum=0.9,weight_decay=0]")),
    (("peaks_resnet[quick=true]", "sgd"), (f"peaks_resnet[{PEAKS_QUICK}]", "sgd")),
    (("peaks_resnet[quick=true]", "sgd"), ("peaks_resnet[quick=true,levels=3]", "sgd")),
])
def test_equal_configurations_have_one_identity(a, b):
    first, second = prepare(RunSpec(*a)), prepare(RunSpec(*b))
    assert first.run_id == second.run_id and first.config_hash == second.config_hash


def test_budget_given_or_default_is_one_identity_and_options_are_in_it():
    default = prepare(RunSpec(QUAD, "sgd"))
    budget = json.loads(default.identity_columns["problem_params"])["budget"]
    assert prepare(RunSpec(QUAD, "sgd", budget=budget)).config_hash == default.config_hash
    for change in ({"max_time": 5.0}, {"checkpoint_every": 0.5}, {"stop_at_target": False},
                   {"seed": 1}, {"budget": budget / 2}):
        assert prepare(RunSpec(QUAD, "sgd", **change)).config_hash != default.config_hash


def test_two_spellings_run_once_and_the_table_counts_each_seed_once(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "run", "--problem", QUAD, "--solver", "sgd[lr=0.001]",
                           "--solver", "sgd[lr=1e-3]", "--seeds", "0", "--budget", "2",
                           "--out", tmp_path, "--no-progress")
    assert code == 0 and "1 runs:" in out
    assert len(list((tmp_path / "runs").glob("*.parquet"))) == 1
    code, out, _ = run_cli(capsys, "table", "--out", tmp_path, "--format", "csv")
    board = pd.read_csv(pd.io.common.StringIO(out))
    assert list(board["seeds"]) == [1] and list(board["solver"]) == ["sgd[lr=0.001]"]


def _rows(run_id, seed, setting="s", options='{"max_time": null}', started="2026-01-01"):
    return [{"run_id": run_id, "config_hash": run_id, "problem": "toy", "problem_version": 1,
             "problem_params": '{"target": 0.9}', "solver": "sgd", "solver_label": "sgd",
             "solver_params": "{}", "seed": seed, "step": 0, "work_units": 1.0, "time_s": 1.0,
             "train_loss": 1.0, "test_acc": 0.5, "test_rel_l2": float("nan"),
             "status": "budget", "error": "", "setting_hash": setting, "run_options": options,
             "started_at": started}]


def test_table_never_counts_a_seed_twice_and_splits_settings():
    old = pd.DataFrame(_rows("a", 0, setting=None, options=None, started="2025")
                       + _rows("b", 0, setting=None, options=None, started="2026"))
    board = leaderboard(old)
    assert list(board["seeds"]) == [1]
    mixed = pd.DataFrame(_rows("a", 0) + _rows("b", 1)
                         + _rows("c", 0, setting="t", options='{"max_time": 5.0}'))
    board = leaderboard(mixed).set_index("solver")
    assert board.loc["sgd (max_time=none)", "seeds"] == 2
    assert board.loc["sgd (max_time=5)", "seeds"] == 1
    # an older file of the same run (no setting columns, non-canonical id) counts once
    legacy = pd.DataFrame(_rows("a", 0) + _rows("old", 0, setting=None, options=None,
                                                started="2025"))
    assert list(leaderboard(legacy)["seeds"]) == [1]


# -- points 3 and 4: one line, exit 2, nothing created ------------------------------------

@pytest.mark.parametrize("argv,needles", [
    (["--problem", QUAD, "--solver", "sgd", "--max-time", "-3"], ["--max-time", "-3"]),
    (["--problem", QUAD, "--solver", "sgd", "--checkpoint-every", "-1"], ["--checkpoint-every"]),
    (["--problem", QUAD, "--solver", "sgd", "--budget", "nan"], ["--budget"]),
    (["--problem", QUAD, "--solver", "sgd", "--seeds", "0,0"], ["seed 0 is given twice"]),
    (["--problem", SWISS, "--problem", "peaks_resnet[quick=true]", "--solver", "sgd",
      "--solver", "rmtr[levels=9]"], ["rmtr", "levels=9", "3 levels"]),
    (["--problem", "peaks_resnt", "--solver", "sgd"], ["unknown problem 'peaks_resnt'"]),
    (["--problem", QUAD, "--solver", "sdg"], ["unknown solver 'sdg'"]),
])
def test_invalid_sweep_is_refused_before_anything_is_created(capsys, tmp_path, argv, needles):
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", *argv, "--out", out, "--no-progress")
    assert_one_line_error(code, err, *needles)
    assert not out.exists()


@pytest.mark.parametrize("line,needles", [
    ('seeds = "0-1"', ['seeds = "0-1"', "list of distinct non-negative integers"]),
    ("seeds = 3", ["seeds = 3", "list"]),
    ("seeds = [0, -1]", ["seeds = [0, -1]"]),
    ("seeds = [0, 0]", ["distinct"]),
    ("budget = \"abc\"", ['budget = "abc"', "positive number"]),
    ("budget = 0", ["budget = 0", "positive number"]),
    ("budget = true", ["budget = true"]),
    ('quick = "yes"', ['quick = "yes"', "true or false"]),
    ("metrics = 1", ["metrics = 1"]),
    ("description = 2", ["description = 2"]),
    ("colour = 1", ["unknown key 'colour'"]),
])
def test_suite_fields_are_validated(capsys, tmp_path, line, needles):
    suite = tmp_path / "bad.toml"
    suite.write_text(f'problems = ["{QUAD}"]\nsolvers = ["sgd"]\n{line}\n')
    code, _, err = run_cli(capsys, "run", suite, "--out", tmp_path / "o")
    assert_one_line_error(code, err, str(suite), *needles)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("line", ['problems = [1, 2]', 'problems = []', 'problems = "x"'])
def test_suite_problem_lists_are_validated(capsys, tmp_path, line):
    suite = tmp_path / "bad.toml"
    suite.write_text(f'{line}\nsolvers = ["sgd"]\n')
    code, _, err = run_cli(capsys, "run", suite, "--out", tmp_path / "o")
    assert_one_line_error(code, err, str(suite), "problems", "non-empty list of problem labels")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    assert main(["run", "--problem", QUAD, "--solver", "lbfgs", "--solver", "sgd[lr=0.001]",
                 "--budget", "2", "--out", str(out), "--no-progress"]) == 0
    return out


def _copy(results, tmp_path):
    import shutil
    target = tmp_path / "copy"
    shutil.copytree(results, target)
    return target


@pytest.mark.parametrize("command", ["table", "plot", "report"])
def test_corrupt_results_file_is_named_skipped_and_exit_2(capsys, tmp_path, results, command):
    out = _copy(results, tmp_path)
    bad = sorted((out / "runs").glob("*.parquet"))[0]
    bad.write_bytes(b"PAR1 this is not parquet")
    code, stdout, err = run_cli(capsys, command, "--out", out)
    assert_one_line_error(code, err, str(bad), "recompute", "ml2bench run")
    assert stdout.strip()  # the readable runs are still shown / drawn
    if command == "table":
        assert "lbfgs" in stdout or "sgd" in stdout


def _write_other_data(path):
    pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]}).to_parquet(path)


@pytest.mark.parametrize("command", ["table", "report", "profile", "plot"])
def test_a_folder_of_other_parquet_data_is_one_line_naming_the_file(capsys, tmp_path, command):
    (tmp_path / "runs").mkdir()
    other = tmp_path / "runs" / "measurements.parquet"
    _write_other_data(other)
    code, _, err = run_cli(capsys, command, "--out", tmp_path)
    assert_one_line_error(code, err, "no ml2bench results", str(other),
                          "is not an ml2bench results file", "the columns run_id")
    assert other.exists()


@pytest.mark.parametrize("command", ["table", "report", "profile"])
def test_other_parquet_data_among_results_is_named_and_skipped(capsys, tmp_path, results,
                                                                command):
    out = _copy(results, tmp_path)
    others = [out / "runs" / "zz_other.parquet", out / "flatness" / "notes.parquet"]
    others[1].parent.mkdir(exist_ok=True)
    for path in others:
        _write_other_data(path)
    code, stdout, err = run_cli(capsys, command, "--out", out)
    lines = err.strip().splitlines()
    warning = [line for line in lines if line.startswith("ml2bench: warning: skipped")]
    assert code == 0 and "Traceback" not in err, err
    assert len(warning) == 1 and all(str(p) in warning[0] for p in others), err
    assert "are not ml2bench results files" in warning[0]
    if command == "table":
        assert "lbfgs" in stdout and "sgd" in stdout


@pytest.mark.parametrize("command,folder", [("plot", "plots"), ("report", "report")])
def test_unwritable_plot_or_report_folder(capsys, tmp_path, results, command, folder):
    out = _copy(results, tmp_path)
    (out / folder).write_text("a file where the folder should be")
    code, _, err = run_cli(capsys, command, "--out", out)
    assert_one_line_error(code, err, "cannot write", str(out / folder), "--out")


# -- point 5: exit status ----------------------------------------------------------------

def test_failed_runs_give_exit_1_and_a_summary_diverged_does_not(capsys, tmp_path, monkeypatch):
    code, _, _ = run_cli(capsys, "run", "--problem", QUAD, "--solver", "sgd[lr=0.1]",
                         "--budget", "2", "--out", tmp_path / "d", "--no-progress")
    assert code == 0  # diverged is a result

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(Adam, "step", broken)
    argv = ["run", "--problem", QUAD, "--solver", "adam", "--solver", "lbfgs", "--budget", "1",
            "--out", tmp_path / "f", "--no-progress"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 1 and "1 of 2 runs failed" in err and "Traceback" not in err
    code, out, err = run_cli(capsys, *argv)  # nothing reruns, the failure is still reported
    assert code == 1 and "2 up to date" in out and "earlier sweep" in err
    # the state the run failed from is kept (as *.failed), not deleted
    assert [p.name.endswith(".failed") for p in (tmp_path / "f" / "partial").iterdir()] == [True]


# -- point 6: the target of a problem whose runs all failed --------------------------------

def test_target_of_a_failed_classification_run_is_its_accuracy():
    rows = _rows("a", 0)
    rows[0].update(problem="peaks_resnet", test_acc=float("nan"), status="failed")
    board = leaderboard(pd.DataFrame(rows))
    assert board["target"].iloc[0] == "test_acc >= 0.9"
