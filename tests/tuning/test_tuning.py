"""Tuning under equal budgets (issue 12, point 1): quasi-random search over the declared
spaces, the same trials for every solver, the median-of-studies score, resumable trials,
the record and the marked leaderboard."""

import csv as csv_module
import json
import math

import numpy as np
import pytest

from ml2bench.cli import main
from ml2bench.errors import UserError
from ml2bench.labels import parse_label
from ml2bench.report.tuned import (final_marks, header_lines, header_text, load_record,
                                   trial_runs)
from ml2bench.tuning import (choose_trial, median_best, sample_configurations,
                             search_dimensions, trial_labels, write_record)
from ml2bench.solvers.catalogue import SOLVERS
from ml2bench.solvers.registry import make_solver, solver_class


def test_sampling_is_deterministic_and_inside_the_declared_spaces():
    first = sample_configurations("sgd", 8, seed=0)
    assert first == sample_configurations("sgd", 8, seed=0)
    assert first != sample_configurations("sgd", 8, seed=1)
    declared = solver_class("sgd").params
    for config in first:
        assert set(config) == {"lr", "momentum"}
        assert 1e-3 <= config["lr"] <= 1.0
        assert config["momentum"] in declared["momentum"].search.choices
    assert {c["momentum"] for c in first} == {0.0, 0.9}  # both choices drawn


def test_log_uniform_points_cover_both_halves_of_the_log_range():
    lrs = np.log10([c["lr"] for c in sample_configurations("adam", 4, seed=0)])
    middle = 0.5 * (np.log10(1e-4) + np.log10(1e-1))
    assert (lrs < middle).sum() == 2 and (lrs > middle).sum() == 2
    assert len(set(lrs)) == 4


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_every_solver_gets_the_same_number_of_valid_trials(name):
    _, _, dims = search_dimensions(name)
    free = [d for d in dims if not d.constant]
    labels = trial_labels(name, 5, seed=0)
    assert len(labels) == (5 if free else 1)  # nothing to tune: one trial, its defaults
    for label in labels:
        make_solver(label)  # every sampled value passes the declared checks
        _, params = parse_label(label)
        for dim in dims:
            value = params.get(dim.name, dim.value(0.0))
            if dim.space.kind == "choice":
                assert value in dim.space.choices
            else:
                assert dim.space.low <= value <= dim.space.high
                assert isinstance(value, int) == dim.integer


def test_parameters_fixed_in_the_label_are_not_searched():
    labels = trial_labels("sgd[momentum=0.5]", 3, seed=0)
    assert len(labels) == 3
    assert all(parse_label(label)[1]["momentum"] == 0.5 for label in labels)
    with pytest.raises(UserError, match="unknown solver"):
        sample_configurations("bfgs", 3)
    with pytest.raises(UserError, match="--trials"):
        sample_configurations("sgd", 0)


def test_score_is_the_median_over_studies_of_the_best_trial():
    inf = math.inf
    wu = [[3.0, inf, 5.0],   # trial 0
           [4.0, 2.0, inf],  # trial 1
           [inf, inf, 1.0]]  # trial 2
    # per study the best trial: 3, 2, 1 -> median 2
    assert median_best(wu) == 2.0
    # per trial the median over studies: 5, 4, inf -> trial 1 is chosen
    assert choose_trial(wu) == 1
    assert median_best([[inf, inf], [inf, 1.0]]) == inf  # median of (inf, 1)
    assert median_best([[np.nan, 2.0]]) == inf  # NaN: not reached
    # nothing reached: the final metric (lower is better) decides, then the order
    assert choose_trial([[inf], [inf], [inf]], tie_break=[[0.5], [0.2], [0.2]]) == 1
    assert choose_trial([[inf], [inf]], tie_break=[[np.nan], [0.9]]) == 1


def test_record_merges_entries_and_names_trials_and_final_runs(tmp_path):
    entry = {"problem": "p", "solver": "adam", "search_space": "lr ~ log-uniform[0.0001, 0.1]",
             "search_seed": 0, "trials": 2, "studies": [0, 1], "budget": 1.0,
             "configurations": [{"label": "adam[lr=0.01]", "runs": ["a0", "a1"]},
                                {"label": "adam[lr=0.001]", "runs": ["b0", "b1"]}],
             "chosen": "adam[lr=0.01]", "final_seeds": [100], "final_runs": ["f100"]}
    write_record(tmp_path, [entry])
    write_record(tmp_path, [{**entry, "solver": "sgd", "search_space": "lr ~ x",
                             "final_runs": ["g100"]}])
    entries = load_record(tmp_path)
    assert [e["solver"] for e in entries] == ["adam", "sgd"]
    assert trial_runs(entries) == {"a0", "a1", "b0", "b1"}
    assert final_marks(entries) == {"f100": "2×2", "g100": "2×2"}
    lines = header_lines(entries)
    assert "median over studies" in lines[0] and "seeds 100" in lines[0]
    assert lines[1].startswith("- adam: 2×2") and lines[1].endswith("log-uniform[0.0001, 0.1]")
    assert header_text(entries, "csv") == ""
    assert header_text(entries, "latex").startswith("% Tuned entries")
    (tmp_path / "tuning.json").write_text("{not json")
    with pytest.raises(UserError, match="tuning record"):
        load_record(tmp_path)


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tune_runs_eight_trials_then_none_and_the_table_marks_them(capsys, tmp_path):
    args = ["tune", "--problem", "peaks_resnet[quick=true]", "--solver", "adam", "--solver",
            "sgd", "--trials", "4", "--seeds", "0", "--final-seeds", "100", "--budget", "0.25",
            "--out", str(tmp_path), "--no-progress"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0, out
    assert "trials: 8 runs (8 run now, 0 up to date)" in out
    assert "final: 2 runs (2 run now, 0 up to date)" in out
    code, again, _ = run_cli(capsys, *args)
    assert code == 0
    assert "trials: 8 runs (0 run now, 8 up to date)" in again
    assert "final: 2 runs (0 run now, 2 up to date)" in again

    record = json.loads((tmp_path / "tuning.json").read_text())["entries"]
    assert [(e["solver"], e["trials"], e["studies"]) for e in record] == \
        [("adam", 4, [0]), ("sgd", 4, [0])]
    for entry in record:
        assert entry["chosen"] in [c["label"] for c in entry["configurations"]]
        assert len(entry["final_runs"]) == 1 and "__s100__" in entry["final_runs"][0]

    code, table, _ = run_cli(capsys, "table", "--out", str(tmp_path))
    assert code == 0
    assert "AlgoPerf" in table and "trials×studies" in table
    assert "- adam: 4×1" in table and "lr ~ log-uniform[0.0001, 0.1]" in table
    assert "- sgd: 4×1" in table and "momentum ∈ {0.0, 0.9}" in table
    rows = [line for line in table.splitlines() if line.startswith("| peaks_resnet")]
    assert len(rows) == 2  # the final runs only, not the eight trials
    chosen = {e["chosen"] for e in record}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] in chosen and cells[3] == "4×1" and cells[4] == "1"
    code, csv, _ = run_cli(capsys, "table", "--out", str(tmp_path), "--format", "csv")
    assert code == 0 and csv.startswith("problem,target,solver,tuned,seeds")
    # the profiles rank the same entries: the chosen configurations, not the trials
    code, scores, _ = run_cli(capsys, "profile", "--out", str(tmp_path), "--format", "csv")
    assert code == 0
    solvers = [row[0] for row in csv_module.reader(scores.strip().splitlines()[1:])]
    assert sorted(solvers) == sorted(chosen)


@pytest.mark.parametrize("argv,needle", [
    (["--solver", "adam", "--trials", "0"], "--trials must be a positive integer"),
    (["--solver", "adam", "--trials", "1000000"], "--trials must be a positive integer at "
                                                  "most 1000"),
    (["--solver", "bfgs", "--trials", "2"], "unknown solver 'bfgs'"),
    (["--solver", "adam[lr=-1]", "--trials", "2"], "lr=-1 is invalid"),
    (["--solver", "adam", "--trials", "2", "--seeds", "0,100"], "both a study seed"),
    (["--solver", "adam", "--trials", "2", "--executor", "cloud"], "pool, local, slurm"),
])
def test_bad_tuning_input_is_one_line_and_exit_2(capsys, tmp_path, argv, needle):
    code, out, err = run_cli(capsys, "tune", "--problem", "peaks_resnet[quick=true]", *argv,
                             "--out", str(tmp_path))
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "runs").exists()
