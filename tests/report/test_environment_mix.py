"""A results folder that mixes environments is flagged (``ml2bench table`` on stderr, the
report in a warning box): :func:`ml2bench.report.environment.mixed_environments`."""

import pandas as pd

from ml2bench.cli import main
from ml2bench.report.environment import NUMERICS_KEYS, mixed_environments, mixed_warning
from ml2bench.runner.store import ResultsStore


def runs(**columns):
    """Two runs of two checkpoints each; ``columns``: name → (value run 0, value run 1)."""
    rows = []
    for index in range(2):
        for step in range(2):
            rows.append({"run_id": f"r{index}", "problem": "peaks", "problem_version": 1,
                         "problem_params": '{"target": 0.9}', "solver": "sgd",
                         "solver_label": "sgd", "solver_params": "{}", "seed": index,
                         "step": step, "work_units": float(step), "time_s": 1.0 * step,
                         "test_acc": 0.5, "train_loss": 1.0, "status": "ok" if step == 0
                         else "budget", "error": "",
                         **{k: v[index] for k, v in columns.items()}})
    return pd.DataFrame(rows)


def test_one_environment_is_not_flagged():
    frame = runs(torch_version=("2.13.0", "2.13.0"), cpu_capability=("AVX512",) * 2,
                 numerics=("portable", "portable"), num_threads=(1, 1))
    assert mixed_environments(frame) == [] and mixed_warning(frame) is None


def test_differences_in_numerics_columns_are_flagged_one_line_each():
    frame = runs(cpu_capability=("AVX2", "AVX512"), numerics=("portable", "native"),
                 blas=("mkl", "mkl"))
    lines = mixed_environments(frame)
    assert lines == ["cpu_capability: AVX2 (1 run), AVX512 (1 run)",
                     "numerics: native (1 run), portable (1 run)"]
    assert "\n" not in mixed_warning(frame)


def test_host_time_and_commit_are_not_numerics():
    frame = runs(hostname=("a", "b"), started_at=("t0", "t1"), git_commit=("c0", "c1"))
    assert mixed_environments(frame) == []
    assert not {"hostname", "started_at", "git_commit"} & set(NUMERICS_KEYS)


def test_absent_columns_and_missing_values_are_tolerated():
    assert mixed_environments(runs()) == []  # old results: none of the columns
    frame = runs(cpu_model=(None, "AMD EPYC"), onednn=(float("nan"), "3.7"))
    assert mixed_environments(frame) == []
    assert mixed_environments(pd.DataFrame()) == []


def test_table_warns_on_stderr_in_one_line(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    frame = runs(cpu_capability=("AVX2", "AVX512"))
    for run_id, rows in frame.groupby("run_id"):
        store.write_run(run_id, rows.to_dict("records"))
    assert main(["table", "--out", str(tmp_path), "--format", "csv"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ml2bench: warning: results mix environments")
    assert "cpu_capability: AVX2 (1 run), AVX512 (1 run)" in err[0]


def test_portable_runs_on_intel_and_amd_are_one_environment_native_ones_are_not():
    """The portable numerics give the same bits on every x86-64-v3 CPU or newer: the CPU
    model and level do not split them; natively computed runs on two CPUs do differ."""
    cpus = {"cpu_model": ("Intel(R) Xeon(R) Platinum 8480+", "AMD EPYC"),
            "cpu_isa": ("x86-64-v4", "x86-64-v3")}
    assert mixed_environments(runs(numerics=("portable",) * 2, **cpus)) == []
    native = mixed_environments(runs(numerics=("native",) * 2, **cpus))
    assert [line.split(":")[0] for line in native] == ["cpu_model", "cpu_isa"]
    old_cpu = mixed_environments(runs(numerics=("portable",) * 2,
                                      cpu_isa=("x86-64-v2", "x86-64-v4")))
    assert old_cpu == ["cpu_isa: x86-64-v2 (1 run), x86-64-v3 or newer (1 run)"]
