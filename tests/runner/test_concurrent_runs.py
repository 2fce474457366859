"""Two processes on one run, and the bookkeeping after a run's results are written.

A sweep into a folder where another sweep executes the same runs (the fault test once
started its reference sweep twice: "1 of 8 runs failed" while the run's results file
was complete) must neither fail a run nor damage a results file: one process at a time
executes a run (``ResultsStore.run_lock``), and a step after the results file is
written (removing the checkpoint, end-of-run metrics) that fails is a warning, never a
``failed`` row.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from ml2bench.runner.loop import execute
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import ResultsStore

PROBLEM = "swissroll_resnet[quick=true]"
ROOT = Path(__file__).resolve().parents[2]


def spec(**options) -> RunSpec:
    return RunSpec(problem=PROBLEM, solver="adam", seed=0, budget=0.1, stop_at_target=False,
                   **options)


def obstruct(path: Path) -> None:
    """A non-empty folder where a file is to be written: the rename onto it fails for
    every user (root included), a real failure of the write."""
    path.mkdir(parents=True)
    (path / "in the way").write_text("")


def test_a_failing_step_after_the_results_are_written_leaves_the_run_done(tmp_path, capfd):
    prepared = prepare(spec(metrics=("hess_max",)))
    store = ResultsStore(tmp_path)
    obstruct(store.flatness_path(prepared.run_id))  # the end-of-run metrics cannot be written
    assert execute(prepared, store) == "budget"
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ml2bench: warning: run ") and \
        "results are written, but computing its end-of-run metrics failed" in err[0], err
    assert prepared.run_id in err[0] and "Traceback" not in err[0]
    rows = pd.read_parquet(store.run_path(prepared.run_id))
    assert list(rows["status"])[-1] == "budget" and "failed" not in set(rows["status"])
    assert not any(store.partial_path(prepared.run_id).parent.iterdir())  # dropped, none .failed
    # the same command retries the missing step, from the saved final model
    (store.flatness_path(prepared.run_id) / "in the way").unlink()
    store.flatness_path(prepared.run_id).rmdir()
    assert execute(prepared, store) == "flatness"
    assert store.has_flatness(prepared.run_id, ["hess_max"])
    pd.testing.assert_frame_equal(pd.read_parquet(store.run_path(prepared.run_id)), rows)


def test_end_of_run_metrics_failing_on_a_finished_run_keep_its_results(tmp_path, capfd):
    store = ResultsStore(tmp_path)
    assert execute(prepare(spec()), store) == "budget"
    prepared = prepare(spec(metrics=("hess_max",)))  # the same run, now with a metric
    results = store.run_path(prepared.run_id).read_bytes()
    obstruct(store.flatness_path(prepared.run_id))
    capfd.readouterr()
    assert execute(prepared, store) == "up-to-date"  # nothing new could be computed
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "computing its end-of-run metrics failed (IsADirectoryError" \
        in err[0], err
    assert store.run_path(prepared.run_id).read_bytes() == results  # not rewritten
    assert not list(store.partial_path(prepared.run_id).parent.glob("*"))


def test_the_run_lock_waits_for_its_holder_and_leaves_no_file(tmp_path, capfd):
    store = ResultsStore(tmp_path)
    lock = store.lock_path("r")
    entered = []

    def second():
        with store.run_lock("r") as held:
            entered.append((held, time.monotonic()))

    with store.run_lock("r") as held:
        assert held and lock.exists()
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        assert not entered  # waits for the holder
        released = time.monotonic()
    waiter.join(10)
    assert entered and entered[0][0] and entered[0][1] >= released
    assert not lock.exists()  # removed by the last holder
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [f"ml2bench: run r is being executed by another process (a second sweep "
                   f"into {tmp_path}?); waiting for it to finish"], err


#: A process that prepares the run, says it is ready, waits for the start signal, then
#: executes the run and prints its status: two of them start the run within milliseconds.
WORKER = """
import sys, time
from pathlib import Path
from ml2bench.runner.loop import execute
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import ResultsStore
out, ready, go = sys.argv[1:]
prepared = prepare(RunSpec(problem=%r, solver="adam", seed=0, budget=0.1, stop_at_target=False))
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.005)
print(execute(prepared, ResultsStore(out)))
""" % PROBLEM


def test_two_processes_started_on_one_run_execute_it_once(tmp_path):
    out, go = tmp_path / "out", tmp_path / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(out), str(r), str(go)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in ready]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    statuses = sorted(o.strip().splitlines()[-1] for o, _ in outputs)
    assert statuses == ["budget", "up-to-date"], outputs  # executed once, the other waited
    waited = next(e for o, e in outputs if o.strip().endswith("up-to-date"))
    assert "is being executed by another process" in waited, outputs
    store = ResultsStore(out)
    run_id = prepare(spec()).run_id
    assert list(pd.read_parquet(store.run_path(run_id))["status"])[-1] == "budget"
    assert not list((out / "partial").iterdir())  # no checkpoint, no *.failed, no lock
