"""The runner: schema, skip-if-finished, resume, determinism, statuses, process pool."""

import pandas as pd
import pytest

from ml2bench.runner.loop import execute
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import COLUMNS, ResultsStore
from ml2bench.runner.sweep import expand, run_sweep
from ml2bench.solvers.baselines import Adam

PROBLEM = "swissroll_resnet[quick=true]"


def runs(out):
    return ResultsStore(out).load_runs()


def test_results_have_the_schema_columns_and_a_second_sweep_does_nothing(tmp_path, capsys):
    specs = expand([PROBLEM], ["adam"], [0], budget=1.0)
    first = run_sweep(specs, tmp_path, progress=False)
    assert first.statuses == {"budget": 1}
    frame = runs(tmp_path)
    assert set(COLUMNS) <= set(frame.columns)
    assert frame["step"].is_monotonic_increasing and frame["step"].iloc[0] == 0
    # the budget is a hard limit: the run ends within one step of it, never past it
    step_cost = frame["work_units"].diff().max()
    assert 1.0 - step_cost <= frame["work_units"].iloc[-1] <= 1.0
    assert (frame["comm_bytes"] == 0).all()  # a single-process solver communicates nothing
    assert (frame["status"].iloc[:-1] == "ok").all() and frame["status"].iloc[-1] == "budget"
    assert frame["info_lr"].notna().iloc[1:].all()
    mtime = ResultsStore(tmp_path).run_path(frame.run_id.iloc[0]).stat().st_mtime_ns
    capsys.readouterr()
    second = run_sweep(specs, tmp_path, progress=False)
    assert second.up_to_date == 1 and second.statuses == {}
    assert "1 up to date, 0 to run" in capsys.readouterr().err
    assert ResultsStore(tmp_path).run_path(frame.run_id.iloc[0]).stat().st_mtime_ns == mtime


def test_fresh_runs_with_the_same_seed_are_identical(tmp_path):
    specs = expand([PROBLEM], ["sgd"], [3], budget=1.0)
    run_sweep(specs, tmp_path / "a", progress=False)
    run_sweep(specs, tmp_path / "b", progress=False)
    a, b = runs(tmp_path / "a"), runs(tmp_path / "b")
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert a["work_units"].tolist() == b["work_units"].tolist()


def test_interrupted_run_resumes_without_recomputing(tmp_path, monkeypatch):
    spec = RunSpec(problem=PROBLEM, solver="adam", seed=1, budget=2.0, checkpoint_every=0.25)
    run_sweep([spec], tmp_path / "full", progress=False)
    reference = runs(tmp_path / "full")

    calls = {"n": 0}
    original = Adam.step

    def interrupted(self):
        calls["n"] += 1
        if calls["n"] == 14:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Adam, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep([spec], tmp_path / "resumed", progress=False)
    store = ResultsStore(tmp_path / "resumed")
    prepared = prepare(spec)
    assert store.partial_path(prepared.run_id).exists()
    assert not store.run_path(prepared.run_id).exists()
    calls["n"] = -10**9  # no more interruptions
    steps_before = calls["n"]
    run_sweep([spec], tmp_path / "resumed", progress=False)
    resumed = runs(tmp_path / "resumed")
    for column in ("step", "work_units", "train_loss", "test_acc", "grad_norm", "epoch"):
        assert resumed[column].tolist() == reference[column].tolist(), column
    # only the steps after the last checkpoint before the interruption were executed again
    last_saved = max(s for s in reference["step"] if s < 14)
    assert calls["n"] - steps_before == reference["step"].iloc[-1] - last_saved
    assert not store.partial_path(prepared.run_id).exists()


def test_divergence_is_recorded_and_the_sweep_goes_on(tmp_path):
    specs = expand(["quadratic_poisson1d[quick=true]"], ["sgd[lr=0.1]", "lbfgs"], [0], budget=3.0)
    report = run_sweep(specs, tmp_path, progress=False)
    frame = runs(tmp_path)
    final = frame.groupby("solver").tail(1).set_index("solver")["status"]
    assert final["sgd"] == "diverged"
    assert final["lbfgs"] in ("budget", "target")
    assert report.statuses.get("diverged") == 1


def test_a_failing_run_is_recorded_as_failed(tmp_path, monkeypatch):
    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(Adam, "step", broken)
    specs = expand([PROBLEM], ["adam", "sgd"], [0], budget=0.5)
    report = run_sweep(specs, tmp_path, progress=False)
    frame = runs(tmp_path)
    failed = frame[frame.solver == "adam"].iloc[-1]
    assert failed["status"] == "failed" and "RuntimeError: boom" in failed["error"]
    assert frame[frame.solver == "sgd"]["status"].iloc[-1] == "budget"
    assert report.failed and report.statuses["failed"] == 1
    assert not list((tmp_path / "runs").glob("*.tmp"))


def test_target_and_time_caps_stop_runs(tmp_path):
    low_target = "swissroll_resnet[quick=true,target=0.3]"
    run_sweep(expand([low_target], ["adam"], [0], budget=5.0), tmp_path / "t", progress=False)
    assert runs(tmp_path / "t")["status"].iloc[-1] == "target"
    # an accuracy above 1 cannot be reached, so only the time cap can stop this run
    unreachable = "swissroll_resnet[quick=true,target=1.5]"
    run_sweep(expand([unreachable], ["adam"], [0], budget=1000.0, max_time=0.2),
              tmp_path / "m", progress=False)
    frame = runs(tmp_path / "m")
    assert frame["status"].iloc[-1] == "timeout" and frame["time_s"].iloc[-1] >= 0.2


def test_skipped_combination_is_recorded(tmp_path):
    report = run_sweep(expand(["digits_cnn[quick=true]"], ["nested"], [0], budget=1.0),
                       tmp_path, progress=False)
    assert report.statuses == {"skipped": 1}
    row = runs(tmp_path).iloc[-1]
    assert row["status"] == "skipped" and row["error"] == "skip: needs >= 2 levels"


def test_process_pool_gives_the_same_numbers(tmp_path):
    specs = expand([PROBLEM], ["adam", "sgd"], [0], budget=0.5)
    run_sweep(specs, tmp_path / "serial", progress=False)
    run_sweep(specs, tmp_path / "pool", jobs=2, progress=False)
    key = ["solver", "step"]
    a = runs(tmp_path / "serial").sort_values(key).reset_index(drop=True)
    b = runs(tmp_path / "pool").sort_values(key).reset_index(drop=True)
    pd.testing.assert_series_equal(a["train_loss"], b["train_loss"])


def test_execute_reports_up_to_date(tmp_path):
    prepared = prepare(RunSpec(problem=PROBLEM, solver="adam", budget=0.25))
    store = ResultsStore(tmp_path)
    assert execute(prepared, store) == "budget"
    assert execute(prepared, store) == "up-to-date"


def test_a_run_whose_steps_do_no_work_stops_as_stalled(tmp_path, monkeypatch):
    """A step that evaluates nothing cannot move the iterate: after STALL_STEPS such steps
    the run ends with status ``stalled`` instead of never reaching its budget."""
    from ml2bench.runner import loop

    real_step, calls = Adam.step, []

    def step(self):
        calls.append(1)
        if len(calls) <= 3:
            return real_step(self)
        return {"batch_loss": 1.0}  # a solver stuck at a point where it evaluates nothing

    monkeypatch.setattr(Adam, "step", step)
    prepared = prepare(RunSpec(problem=PROBLEM, solver="adam", budget=0.5))
    assert execute(prepared, ResultsStore(tmp_path)) == "stalled"
    assert len(calls) == 3 + loop.STALL_STEPS
    frame = runs(tmp_path)
    assert frame.iloc[-1]["status"] == "stalled" and frame["work_units"].max() < 0.5


def test_epoch_cap_stops_every_solver_at_the_same_epochs(tmp_path):
    problem = "digits_cnn[quick=true,batch_size=239,batch_overlap=0.05]"
    specs = expand([problem], ["adam[batch_size=239]", "sgd[batch_size=239]"], [0],
                   budget=1000.0, max_epochs=2.0)
    run_sweep(specs, tmp_path, progress=False)
    frame = runs(tmp_path)
    for _, rows in frame.groupby("solver"):
        last = rows.iloc[-1]
        # 6 batches of 239 per epoch: the 13th step (13·239/1437 ≥ 2) is the last
        assert last["status"] == "budget" and last["step"] == 13
        assert 2.0 <= last["epoch"] < 2.0 + 239 / 1437
    # the epoch budget is part of the run's identity only when set
    (plain,) = expand([problem], ["adam"], [0], budget=1.0)
    assert "max_epochs" not in plain.identity(1, {}, {})
    assert specs[0].identity(1, {}, {})["max_epochs"] == 2.0
