"""A run killed between writing its results file and removing its partial checkpoint
leaves a stale partial file; the next sweep counts the run as up to date and drops it
(found by the SIGKILL fault test, ``tests/runner/test_fault.py``)."""

from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import expand, run_sweep


def test_a_finished_runs_stale_partial_checkpoint_is_dropped_by_the_next_sweep(tmp_path):
    specs = expand(["quadratic_poisson1d[quick=true]"], ["sgd[lr=0.001]"], [0], budget=0.3)
    run_sweep(specs, tmp_path, progress=False)
    store = ResultsStore(tmp_path)
    (run_id,) = store.load_runs()["run_id"].unique()
    stale = store.partial_path(run_id)
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"left by a kill after the results were written")
    report = run_sweep(specs, tmp_path, progress=False)
    assert report.up_to_date == 1 and report.statuses == {}
    assert not stale.exists()
