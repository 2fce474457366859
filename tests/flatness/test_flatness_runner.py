"""Flatness through the real path: ``ml2bench run --metrics`` → flatness table →
``ml2bench table --flatness``; resume rules, cost accounting, M8 columns, and the
``ml2bench landscape`` figures."""

import math

import numpy as np
import pandas as pd
import pytest

from ml2bench.cli import main
from ml2bench.runner.store import ResultsStore

PROBLEM = "quadratic_poisson1d[n=63]"
METRICS = "hess_max,hess_min,hess_trace"
H = 1.0 / 64
N = 63


def run_args(out, metrics=METRICS, *extra):
    args = ["run", "--problem", PROBLEM, "--solver", "adam", "--seeds", "0", "--budget", "2",
            "--out", str(out), "--no-progress", *extra]
    return args + (["--metrics", metrics] if metrics else [])


@pytest.fixture(scope="module")
def quadratic_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("flat")
    assert main(run_args(out)) == 0
    return out


@pytest.fixture(scope="module")
def plain_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    assert main(run_args(out, metrics=None)) == 0
    return out


def test_acceptance_poisson_spectrum_through_the_cli(quadratic_out):
    flat = ResultsStore(quadratic_out).load_flatness()
    assert len(flat) == 1
    row = flat.iloc[0]
    lam_max = 4 / H**2 * math.sin(N * math.pi * H / 2) ** 2
    lam_min = 4 / H**2 * math.sin(math.pi * H / 2) ** 2
    assert abs(row["hess_max"] / lam_max - 1) < 1e-3
    assert abs(row["hess_min"] / lam_min - 1) < 1e-3
    assert abs(row["hess_trace"] - 2 * N / H**2) < 3 * row["hess_trace_se"]
    runs = ResultsStore(quadratic_out).load_runs()
    for key in ("run_id", "config_hash", "problem", "solver", "solver_label", "seed"):
        assert row[key] == runs.iloc[-1][key]
    assert row["flatness_error"] == ""


def test_costs_are_recorded_and_not_solver_work(quadratic_out, plain_out):
    row = ResultsStore(quadratic_out).load_flatness().iloc[0]
    for name in METRICS.split(","):
        assert row[f"{name}_hvps"] > 0 and row[f"{name}_seconds"] > 0
    assert row["total_hvps"] >= 100
    with_metrics = ResultsStore(quadratic_out).load_runs()
    without = ResultsStore(plain_out).load_runs()
    for column in ("train_loss", "work_units", "grad_evals", "hvp_evals", "step"):
        assert np.array_equal(with_metrics[column].to_numpy(), without[column].to_numpy()), column
    assert ResultsStore(plain_out).load_flatness().empty
    assert with_metrics["config_hash"].iloc[0] == without["config_hash"].iloc[0]


def test_table_shows_the_flatness_columns(quadratic_out, capsys):
    assert main(["table", "--flatness", "--out", str(quadratic_out)]) == 0
    assert "hess_max" in capsys.readouterr().out


def test_unknown_metric_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(run_args(tmp_path, metrics="hess_max,hess_maxx")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown flatness metric 'hess_maxx'" in err and "hess_trace" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_rerun_is_up_to_date_and_missing_flatness_is_rebuilt_without_training(
        tmp_path, capsys):
    assert main(run_args(tmp_path)) == 0
    store = ResultsStore(tmp_path)
    run_file = next((tmp_path / "runs").glob("*.parquet"))
    flat_file = next((tmp_path / "flatness").glob("*.parquet"))
    stamps = run_file.stat().st_mtime_ns, flat_file.stat().st_mtime_ns
    first = store.load_flatness()
    capsys.readouterr()
    assert main(run_args(tmp_path)) == 0
    assert "1 up to date" in capsys.readouterr().out
    assert (run_file.stat().st_mtime_ns, flat_file.stat().st_mtime_ns) == stamps
    flat_file.unlink()  # interrupted after training: only the flatness is recomputed
    assert main(run_args(tmp_path)) == 0
    assert "1 flatness" in capsys.readouterr().out
    assert run_file.stat().st_mtime_ns == stamps[0]
    again = store.load_flatness()
    assert again["hess_max"].iloc[0] == first["hess_max"].iloc[0]
    assert store.is_finished(first["run_id"].iloc[0], first["config_hash"].iloc[0])


def test_dynamics_columns_are_logged_at_checkpoints(tmp_path, plain_out):
    assert main(run_args(tmp_path, "eos,noise_scale")) == 0
    runs = ResultsStore(tmp_path).load_runs()
    assert {"eos_hess_max", "eos_threshold", "eos_ratio", "noise_b_simple"} <= set(runs)
    assert np.isfinite(runs["eos_hess_max"]).all()
    assert np.isfinite(runs["eos_threshold"].iloc[1:]).all()  # lr known after step 1
    assert runs["eos_threshold"].iloc[-1] == pytest.approx(2 / runs["info_lr"].iloc[-1])
    without = ResultsStore(plain_out).load_runs()
    assert np.array_equal(runs["work_units"].to_numpy(), without["work_units"].to_numpy())
    assert np.array_equal(runs["train_loss"].to_numpy(), without["train_loss"].to_numpy())
    assert ResultsStore(tmp_path).load_flatness().empty  # dynamics only: no end-of-run table


def test_landscape_figures_for_two_solvers(tmp_path, capsys):
    assert main(["landscape", "--out", str(tmp_path)]) == 2
    assert "no runs in" in capsys.readouterr().err
    assert main(["run", "--problem", "peaks_resnet[quick=true]", "--solver", "sgd",
                 "--solver", "adam", "--seeds", "0", "--budget", "0.05", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["landscape", "--out", str(tmp_path), "--points", "5", "--subset", "64",
                 "--slq-steps", "6"]) == 0
    paths = capsys.readouterr().out.split()
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert len(names) == 7
    for solver in ("sgd", "adam"):
        for kind in ("slice1d", "slice2d", "density"):
            assert f"peaks_resnet_budget=0.05_quick=true__{solver}__s0__{kind}.png" in names
    assert any(n.endswith("__interpolate.png") for n in names)
    for path in paths:
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert main(["landscape", "--out", str(tmp_path), "--solvers", "lbfgs"]) == 2
    err = capsys.readouterr().err
    assert "no saved runs of solver 'lbfgs'; valid solvers: adam, sgd" in err
    assert main(["landscape", "--out", str(tmp_path), "--problem", "digits_cnn"]) == 2
    for model in (tmp_path / "models").iterdir():
        model.unlink()
    assert main(["landscape", "--out", str(tmp_path)]) == 2
    assert "no saved final models" in capsys.readouterr().err


def test_store_flags(tmp_path):
    store = ResultsStore(tmp_path)
    store.write_run("r", [{"run_id": "r", "config_hash": "h"}])
    assert store.is_finished("r", "h") and store.is_trained("r", "h")
    assert not store.is_finished("r", "other") and not store.is_trained("r", "other")
    assert not store.is_finished("r", "h", ["hess_max"])
    store.write_flatness("r", [{"run_id": "r", "metrics": "hess_max,hess_trace", "hess_max": 1.0}])
    assert store.is_finished("r", "h", ["hess_max"])
    assert store.is_finished("r", "h", ["hess_trace", "hess_max"])
    assert not store.is_finished("r", "h", ["sharp_avg"])
    store.write_run("s", [{"run_id": "s", "config_hash": "h"}])
    store.save_model("s", {"config_hash": "h", "state_dict": {}})
    assert store.load_model("s", "h") == {"config_hash": "h", "state_dict": {}}
    assert store.load_model("s", "other") is None and store.load_model("t") is None
    assert isinstance(store.load_flatness(), pd.DataFrame)


def test_metrics_added_to_a_finished_run_are_computed_without_retraining(tmp_path, capsys):
    assert main(run_args(tmp_path, metrics=None)) == 0
    run_file = next((tmp_path / "runs").glob("*.parquet"))
    stamp = run_file.stat().st_mtime_ns
    capsys.readouterr()
    assert main(run_args(tmp_path, metrics="hess_max")) == 0
    assert "1 flatness" in capsys.readouterr().out
    assert run_file.stat().st_mtime_ns == stamp
    assert main(run_args(tmp_path, metrics="hess_max")) == 0
    assert "1 up to date" in capsys.readouterr().out
    assert main(run_args(tmp_path, metrics="hess_max,hess_trace")) == 0
    assert "1 flatness" in capsys.readouterr().out
    flat = ResultsStore(tmp_path).load_flatness()
    assert len(flat) == 1 and {"hess_max", "hess_trace"} <= set(flat)
