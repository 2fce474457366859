"""The command line: listings, describe, run, and one clear line for every bad input."""

import subprocess
import sys

import pandas as pd
import pytest

from ml2bench.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *needles):
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("ml2bench: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_list_problems_shows_the_nine(capsys):
    code, out, _ = run_cli(capsys, "list", "problems")
    assert code == 0
    for name in ["quadratic_poisson1d", "peaks_resnet", "ellipses_resnet", "swissroll_resnet",
                 "poisson1d_pinn", "poisson2d_pinn", "poisson1d_regression", "burgers_pinn",
                 "digits_cnn"]:
        assert name in out


def test_list_solvers_and_suites(capsys):
    code, out, _ = run_cli(capsys, "list", "solvers")
    assert code == 0 and "sgd" in out and "lbfgs" in out and "nested" in out
    code, out, _ = run_cli(capsys, "list", "suites")
    assert code == 0 and "quick" in out and "standard" in out


def test_describe_peaks_shows_the_five_levels_with_measured_costs(capsys):
    code, out, _ = run_cli(capsys, "describe", "peaks_resnet")
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [int(r[1]) for r in rows] == [65, 33, 17, 9, 5]
    grad, hvp, hvp_more = ([float(r[k]) for r in rows] for k in (-3, -2, -1))
    assert "cost grad  cost hvp  cost hvp more" in out
    assert grad[0] == 1.0 and grad == sorted(grad, reverse=True)
    # a further product through a linearisation costs one gradient less than the first
    assert all(abs(h - m - g) < 2e-3 for g, h, m in zip(grad, hvp, hvp_more))


def test_run_twice_then_table_and_plot(capsys, tmp_path):
    args = ["run", "--problem", "swissroll_resnet[quick=true]", "--solver", "adam",
            "--solver", "sgd[lr=0.05]", "--seeds", "0-1", "--budget", "0.5",
            "--out", str(tmp_path), "--no-progress"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "4 runs: 0 up to date" in out
    code, out, err = run_cli(capsys, *args)
    assert code == 0 and "4 runs: 4 up to date" in out
    assert len(list((tmp_path / "runs").glob("*.parquet"))) == 4
    code, out, _ = run_cli(capsys, "table", "--out", str(tmp_path))
    assert code == 0 and "adam" in out and "sgd[lr=0.05]" in out
    code, out, _ = run_cli(capsys, "table", "--out", str(tmp_path), "--format", "csv")
    assert code == 0 and out.count("\n") >= 3
    code, out, _ = run_cli(capsys, "plot", "--out", str(tmp_path))
    assert code == 0
    pngs = list((tmp_path / "plots").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 10_000


@pytest.mark.parametrize("argv,needles", [
    (["run", "--problem", "nope", "--solver", "adam"], ["unknown problem 'nope'", "peaks_resnet"]),
    (["run", "--problem", "peaks_resnet", "--solver", "bfgs"], ["unknown solver 'bfgs'", "adam"]),
    (["run", "--problem", "peaks_resnet", "--solver", "sgd[lr=-1]"], ["lr=-1", "lr must be"]),
    (["run", "--problem", "peaks_resnet", "--solver", "sgd[foo=1]"], ["unknown parameter 'foo'"]),
    (["run", "--problem", "peaks_resnet[levels=9]", "--solver", "sgd"], ["levels"]),
    (["run", "--problem", "peaks_resnet", "--solver", "sgd", "--seeds", "a-b"], ["seeds"]),
    (["run", "--problem", "peaks_resnet", "--solver", "sgd", "--budget", "-1"], ["--budget"]),
    (["run", "--problem", "peaks_resnet", "--solver", "sgd", "--device", "tpu"], ["tpu"]),
    (["run", "nosuchsuite"], ["unknown suite 'nosuchsuite'", "quick"]),
    (["run"], ["nothing to run"]),
    (["describe", "nope"], ["unknown problem"]),
    (["list", "things"], ["invalid choice"]),
    (["table", "--out", "/nonexistent/dir"], ["no results"]),
])
def test_bad_input_is_one_clear_line(capsys, argv, needles, tmp_path):
    code, _, err = run_cli(capsys, *argv, *(["--out", str(tmp_path)] if argv[0] == "run" else []))
    assert_one_line_error(code, err, *needles)


def test_cuda_without_cuda_is_a_clear_error(capsys, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run_cli(capsys, "run", "--problem", "swissroll_resnet", "--solver", "adam",
                           "--device", "cuda", "--out", str(tmp_path))
    assert_one_line_error(code, err, "CUDA is not available", "--device cpu")


def test_malformed_suite_toml_names_file_and_line(capsys, tmp_path):
    suite = tmp_path / "bad.toml"
    suite.write_text('problems = ["peaks_resnet"]\nsolvers = ["adam"\nseeds = [0]\n')
    code, _, err = run_cli(capsys, "run", str(suite), "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "malformed TOML", str(suite), "line 3")


def test_unwritable_output_directory(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = run_cli(capsys, "run", "--problem", "swissroll_resnet[quick=true]",
                           "--solver", "adam", "--out", str(blocker / "sub"))
    assert_one_line_error(code, err, "not writable", str(blocker / "sub"))


def test_a_real_process_exits_non_zero_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "ml2bench", "run", "--problem", "nope",
                           "--solver", "adam"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]


def test_results_parquet_round_trips_through_pandas(capsys, tmp_path):
    run_cli(capsys, "run", "--problem", "quadratic_poisson1d[quick=true]", "--solver", "lbfgs",
            "--budget", "6", "--out", str(tmp_path), "--no-progress")  # one 6-WU step
    frame = pd.read_parquet(next((tmp_path / "runs").glob("*.parquet")))
    assert frame["problem_version"].iloc[0] == 1
    assert frame["grad_norm_rel"].iloc[0] == 1.0
    assert frame["grad_norm_rel"].iloc[-1] < 0.1


# -- bad input tried as a new user would (issue 17, point 6) ---------------------------
SMALL = "peaks_resnet[quick=true]"


def test_a_tiny_budget_and_spacing_with_rmtr_finish_at_once(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ml2bench", "run", "--problem", SMALL,
                           "--solver", "rmtr", "--budget", "1e-9", "--checkpoint-every", "1e-12",
                           "--out", str(tmp_path), "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "1 budget" in proc.stdout


@pytest.mark.parametrize("argv,needles", [
    (["--checkpoint-every", "1e-12"], ["--checkpoint-every 1e-12 WU is finer than budget",
                                       "use 0 (after every step) or a spacing >="]),
    (["--seeds", "0-1000000"], ["1000001 seeds; at most 1000 per sweep"]),
    (["--threads", "100000"], ["--threads 100000", "use at most 1024"]),
    (["--solver", "adam[lr=0.1,lr=0.002]"], ["'lr' is given twice", "give each parameter once"]),
])
def test_absurd_run_options_are_one_line(capsys, tmp_path, argv, needles):
    solver = [] if "--solver" in argv else ["--solver", "rmtr"]
    code, _, err = run_cli(capsys, "run", "--problem", SMALL, *solver, *argv,
                           "--out", str(tmp_path))
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("command", [["run", "--problem", SMALL, "--solver", "adam"], ["table"],
                                     ["report"], ["landscape"]])
def test_an_empty_or_file_out_is_one_line(capsys, tmp_path, command):
    code, _, err = run_cli(capsys, *command, "--out", "")
    assert_one_line_error(code, err, "--out", "needs a folder, got an empty string")
    afile = tmp_path / "afile"
    afile.write_text("mine")
    code, _, err = run_cli(capsys, *command, "--out", str(afile))
    assert_one_line_error(code, err, "--out", f"{afile} is a file, not a folder")
    assert afile.read_text() == "mine"


def test_empty_seeds_are_refused_not_read_as_the_default(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--problem", SMALL, "--solver", "adam", "--seeds", "",
                           "--out", str(tmp_path))
    assert_one_line_error(code, err, "cannot parse seeds ''")
