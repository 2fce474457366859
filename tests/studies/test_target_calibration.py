"""Targets by a written rule (``ml2bench calibrate``): the reference solvers' best metric
by half the budget, worst seed, best solver, rounded towards easier — so the solver that
sets a target reaches it in every calibration seed; written into the spec with its
provenance, comments kept."""

from __future__ import annotations

import math
import tomllib

import pandas as pd
import pytest

from ml2bench.cli import main
from ml2bench.studies.target_calibration import (Calibration, best_by, round_towards_easier,
                                                 write_target)


@pytest.mark.parametrize("value,higher,expected", [
    (0.86633, True, 0.866), (0.0945201, False, 0.0946), (0.9861, True, 0.986),
    (0.002921, False, 0.00293), (0.5, True, 0.5), (1e-8, False, 1e-8)])
def test_rounding_never_makes_a_target_harder(value, higher, expected):
    rounded = round_towards_easier(value, higher)
    assert rounded == expected
    assert (rounded <= value) if higher else (rounded >= value)


def test_best_by_reads_only_rows_within_the_fraction_of_the_budget():
    rows = pd.DataFrame({"work_units": [0.0, 5.0, 10.0, 20.0],
                         "test_acc": [0.1, 0.7, 0.6, 0.99]})
    assert best_by(rows, "test_acc", True, 10.0) == 0.7   # not the 0.99 bought later
    assert best_by(rows, "test_acc", False, 10.0) == 0.1
    assert math.isnan(best_by(rows.assign(test_acc=math.nan), "test_acc", True, 10.0))


def test_written_target_and_provenance_parse_and_keep_comments(tmp_path):
    spec = tmp_path / "p.toml"
    spec.write_text('name = "p"\n# a comment\n[params]\ntarget = 0.9\n\n[quick]\nn = 3\n'
                    '\n[calibration.quick]\nrule = 0\n')
    runs = pd.DataFrame({"solver": ["sgd"], "seed": [0], "best": [0.8]})
    calibration = Calibration("p", "quick", "test_acc", True, [0, 1], 0.5, 10.0, runs,
                              {"sgd": 0.8}, "sgd", 0.8, 0.8)
    write_target(spec, calibration)
    text = spec.read_text()
    data = tomllib.loads(text)
    assert "# a comment" in text and data["params"]["target"] == 0.9
    assert data["quick"] == {"n": 3, "target": 0.8}
    assert data["calibration"]["quick"]["reference"] == "sgd"
    assert data["calibration"]["quick"]["rule"] == 1 and text.count("[calibration.quick]") == 1


def test_calibrate_runs_the_references_and_every_seed_reaches_the_target(tmp_path, capsys):
    """The rule's promise, checked on its own output: the reference that set the target
    reaches it by half the budget in every seed."""
    out = tmp_path / "cal"
    argv = ["calibrate", "--problem", "quadratic_poisson1d", "--scale", "quick", "--seeds",
            "0-1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    line = next(l for l in text.splitlines() if l.startswith("target:"))
    threshold = float(line.split("<=")[1].split()[0])
    reference = line.split("set by ")[1].split(",")[0]
    from ml2bench.runner.store import ResultsStore
    df = ResultsStore(out).load_runs()
    rows = df[df["solver_label"] == reference]
    budget = 100.0
    for _, run in rows.groupby("seed"):
        assert (run.loc[run["work_units"] <= budget / 2, "grad_norm_rel"] <= threshold).any()
    assert set(df["solver"]) == {"sgd", "adam", "adamw", "lbfgs", "tr", "pgd"}
