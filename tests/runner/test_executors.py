"""Sweeps through submitit (issue 12, point 5): ``--executor local`` gives the numbers of
an in-process sweep, a cancelled job's runs resume on the next sweep, bad choices fail
with one line. submitit's local executor starts a subprocess per job: budgets are tiny."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from ml2bench.cli import main
from ml2bench.runner.executors import (UNFINISHED, Executor, SubmititBackend, as_executor,
                                       chunks, job_outcome)
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import SweepReport, expand, prepare_all, run_sweep

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "swissroll_resnet[quick=true]"
SOLVERS, SEEDS, BUDGET, EVERY = ["adam", "sgd"], [0, 1], 30.0, 3.0
#: Columns that differ between two executions of the same run (clocks, memory, host).
TIMING = {"time_s", "eval_time_s", "peak_mem_mb", "started_at", "hostname"}

needs_submitit = pytest.mark.skipif(
    importlib.util.find_spec("submitit") is None,
    reason="submitit is not installed (CI installs it with the test extra: "
           "pip install -e '.[test]')")


def specs():
    return expand([PROBLEM], SOLVERS, SEEDS, budget=BUDGET, checkpoint_every=EVERY,
                  stop_at_target=False)


def cli_args(out, *extra):
    return ["run", "--problem", PROBLEM, *(a for s in SOLVERS for a in ("--solver", s)),
            "--seeds", ",".join(map(str, SEEDS)), "--budget", str(BUDGET), "--checkpoint-every",
            str(EVERY), "--no-target-stop", "--no-progress", "--out", str(out), *extra]


def numbers(out) -> pd.DataFrame:
    frame = ResultsStore(out).load_runs()
    frame = frame.drop(columns=[c for c in frame.columns if c in TIMING])
    return frame.sort_values(["run_id", "step"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("in_process")
    report = run_sweep(specs(), out, progress=False)
    assert report.statuses == {"budget": 4}
    return numbers(out)


@needs_submitit
def test_a_local_executor_sweep_completes_with_the_in_process_numbers(tmp_path, in_process,
                                                                      capsys):
    out = tmp_path / "local"
    assert main(cli_args(out, "--executor", "local", "--jobs", "2", "--chunk", "2")) == 0
    captured = capsys.readouterr()
    assert "4 runs: 0 up to date; 4 budget" in captured.out
    assert "2 local job(s) of up to 2 run(s)" in captured.err
    pd.testing.assert_frame_equal(numbers(out), in_process)
    logs = sorted((out / "submitit").glob("*_0_log.out"))
    assert len(logs) == 2  # a log per job, a line per run
    assert all(log.read_text().count("]: budget (") == 2 for log in logs)
    assert not list((out / "partial").glob("*.pt"))
    # the results store is the meeting point: the same sweep again submits nothing
    assert main(cli_args(out, "--executor", "local")) == 0
    assert "4 runs: 4 up to date; nothing new" in capsys.readouterr().out
    assert len(sorted((out / "submitit").glob("*_0_log.out"))) == 2


#: Loaded at start-up by the test's job processes (PYTHONPATH): Adam's steps sleep, so
#: that the test cancels a job surely before its run ends, whatever the machine's load.
SLOW_ADAM = """
import os, time
if os.environ.get("ML2BENCH_TEST_SLOW_ADAM"):
    from ml2bench.solvers.baselines import Adam
    _step = Adam.step
    def step(self):
        time.sleep(float(os.environ["ML2BENCH_TEST_SLOW_ADAM"]))
        return _step(self)
    Adam.step = step
"""


@needs_submitit
def test_a_cancelled_job_leaves_checkpoints_and_the_next_sweep_resumes(tmp_path, in_process,
                                                                       monkeypatch):
    out = tmp_path / "resumed"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SLOW_ADAM)
    path = os.pathsep.join(filter(None, [str(tmp_path / "site"), str(ROOT),
                                         os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("ML2BENCH_TEST_SLOW_ADAM", "0.1")  # 241 steps: 24 s for a run
    runs = prepare_all(specs(), jobs=2)
    backend = SubmititBackend(Executor("local", chunk=2), str(out), jobs=2)
    groups = chunks(runs, 2)
    # job.cancel() of a local job is a SIGINT, which a process started with SIGINT ignored
    # (e.g. pytest in a background job of a script) passes on ignored to its children
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        jobs = backend.submit(backend.make(runs), groups)
    finally:
        signal.signal(signal.SIGINT, previous)
    store = ResultsStore(out)
    victim, group = jobs[0], groups[0]
    first = group[0]
    assert first.spec.solver == "adam"  # the slowed solver
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:  # cancel once the first run has passed a checkpoint
        state = store.load_partial(first.run_id, first.config_hash) \
            if store.partial_path(first.run_id).exists() else None
        if state is not None and len(state["loop"]["rows"]) >= 2:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the first run of the job never passed a checkpoint")
    victim.cancel()
    monkeypatch.delenv("ML2BENCH_TEST_SLOW_ADAM")  # the next jobs run at full speed
    for job in jobs:
        job.wait()
    assert not store.run_path(first.run_id).exists()
    assert store.partial_path(first.run_id).exists()
    outcome = job_outcome(victim, group, str(out))
    assert [status for status, _ in outcome.values()] == [UNFINISHED, UNFINISHED]
    assert "cancelled" in outcome[first.run_id][1] and "log" in outcome[first.run_id][1]
    assert {s for s, _ in job_outcome(jobs[1], groups[1], str(out)).values()} == {"budget"}
    report = SweepReport()
    for run in group:
        report.add(run.label, *outcome[run.run_id])
    assert len(report.unfinished) == 2 and report.statuses == {UNFINISHED: 2}

    again = run_sweep(specs(), out, jobs=2, progress=False, executor=Executor("local", chunk=2))
    assert again.up_to_date == 2 and again.statuses == {"budget": 2}
    pd.testing.assert_frame_equal(numbers(out), in_process)
    resumed = store.load_runs()
    resumed = resumed[resumed.run_id == first.run_id]
    # rows up to the last checkpoint come from the cancelled job, the rest from the rerun
    assert resumed["started_at"].nunique() == 2
    assert not store.partial_path(first.run_id).exists()


def test_an_unknown_executor_names_the_valid_ones(tmp_path, capsys):
    assert main(cli_args(tmp_path, "--executor", "spark")) == 2
    err = capsys.readouterr().err.strip()
    assert err == "ml2bench: error: unknown executor 'spark'; valid executors: pool, local, slurm"


def test_submitit_missing_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    assert main(cli_args(tmp_path, "--executor", "local")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs the submitit package" in err[0] and "pip install" in err[0]


@needs_submitit
def test_slurm_without_sbatch_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(cli_args(tmp_path, "--executor", "slurm", "--slurm-partition", "gpu")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ml2bench: error: --executor slurm needs SLURM's sbatch and srun commands, "
                   "not on PATH; run on a SLURM login node, or use --executor local"]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("options, message", [
    ({"chunk": 0}, "--chunk must be a positive integer"),
    ({"slurm_time": -5.0}, "--slurm-time must be a positive number of minutes"),
    ({"slurm_gpus": -1}, "--slurm-gpus must be a non-negative integer")])
def test_bad_executor_options_are_one_line(options, message):
    from ml2bench.errors import UserError

    with pytest.raises(UserError, match=message):
        as_executor(Executor("pool", **options))


@needs_submitit
def test_slurm_options_map_to_submitit_parameters(tmp_path):
    runs = prepare_all(expand([PROBLEM], ["adam"], [0], budget=1.0, threads=3))
    executor = Executor("slurm", chunk=2, slurm_partition="gpu", slurm_time=59.5, slurm_gpus=1)
    params = SubmititBackend(executor, str(tmp_path), jobs=8).parameters(runs)
    assert params == {"timeout_min": 60, "gpus_per_node": 1, "nodes": 1, "tasks_per_node": 1,
                      "name": "ml2bench", "cpus_per_task": 3, "slurm_partition": "gpu",
                      "slurm_array_parallelism": 8}
    import submitit

    auto = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="debug")
    auto.update_parameters(**params)  # every name is one submitit knows
    local = SubmititBackend(Executor("local"), str(tmp_path)).parameters(runs)
    assert local["timeout_min"] == 7 * 24 * 60 and "slurm_partition" not in local
    if not torch.cuda.is_available():
        assert local["gpus_per_node"] == 0


@needs_submitit
def test_a_slurm_sweep_is_one_job_array_with_the_slurm_options(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"  # a stand-in sbatch: accepts the script, prints a job id
    bin_dir.mkdir()
    for tool, text in (("sbatch", "echo 'Submitted batch job 4242'"), ("srun", "exit 1")):
        (bin_dir / tool).write_text(f"#!/bin/sh\n{text}\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    executor = as_executor(Executor("slurm", slurm_partition="gpu", slurm_time=60,
                                    slurm_gpus=1))
    runs = prepare_all(specs(), jobs=3, remote=True)
    backend = SubmititBackend(executor, str(tmp_path / "out"), jobs=3)
    jobs = backend.submit(backend.make(runs), chunks(runs, executor.chunk))  # a job per run
    assert [job.job_id for job in jobs] == ["4242_0", "4242_1", "4242_2", "4242_3"]
    script = next((tmp_path / "out" / "submitit").glob("*submission.sh")).read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=60", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --array=0-3%3", "#SBATCH --cpus-per-task=1",
                 "#SBATCH --output=" + str(tmp_path / "out" / "submitit" / "%A_%a_0_log.out")):
        assert line in script, line
    # "auto" is decided for the node, not the login node; cuda is checked on the node
    adapted = executor.adapt(expand([PROBLEM], ["adam"], [0], device="auto"))
    assert adapted[0].device == "cuda"
    assert Executor("slurm").adapt(adapted[:1])[0].device == "cuda"
    assert Executor("slurm").adapt(expand([PROBLEM], ["adam"], [0], device="auto"))[0].device \
        == "cpu"
    assert prepare_all(adapted, remote=True)[0].run_id != runs[0].run_id


def test_the_parser_imports_neither_torch_nor_submitit():
    code = ("import sys; from ml2bench.cli import main; "
            "code = main(['run', '--problem', 'p', '--solver', 's', '--executor', 'nope']); "
            "print(json.dumps([code, [m for m in ('torch', 'submitit') if m in sys.modules]]))")
    done = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2, []]
