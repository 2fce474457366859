"""The thread count of a run: decided before it starts, part of its identity, the same
alone and in a sweep, kept on resume (issue 9, point 1; issue 8, point 4)."""

import dataclasses

import pandas as pd
import pytest
import torch

from ml2bench.cli import main
from ml2bench.runner.loop import RunLoop, execute
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.threads import default_threads
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import run_sweep

PROBLEM = "digits_cnn[quick=true]"
#: Columns that legitimately differ between two executions of the same run.
VOLATILE = {"time_s", "eval_time_s", "peak_mem_mb", "hostname", "started_at"}


def test_the_house_policy_gives_one_thread_per_job_unless_threads_pay():
    assert default_threads(False, jobs=1, cores=2) == 1
    assert default_threads(False, jobs=4, cores=64) == 1
    assert default_threads(True, jobs=1, cores=2) == 2
    assert default_threads(True, jobs=2, cores=2) == 1
    assert default_threads(True, jobs=3, cores=16) == 5
    assert default_threads(True, jobs=8, cores=2) == 1


def test_prepare_fixes_the_thread_count_and_hashes_it():
    policy = prepare(RunSpec(problem=PROBLEM, solver="sgd", seed=1))
    explicit = prepare(RunSpec(problem=PROBLEM, solver="sgd", seed=1, threads=1))
    two = prepare(RunSpec(problem=PROBLEM, solver="sgd", seed=1, threads=2))
    assert policy.spec.threads == 1 and policy.config_hash == explicit.config_hash
    assert two.spec.threads == 2 and two.config_hash != policy.config_hash
    assert two.run_id != policy.run_id  # a 2-thread result never counts as the 1-thread one
    assert prepare(RunSpec(problem=PROBLEM, solver="sgd"), jobs=2).spec.threads == 1


def test_a_problem_whose_threads_pay_gets_cores_over_jobs(monkeypatch):
    from ml2bench.problems import registry
    from ml2bench.runner import prepare as prepare_module

    spec, given, values = registry.resolve_problem(PROBLEM)
    paying = dataclasses.replace(spec, threads_pay=True)
    monkeypatch.setattr(prepare_module, "resolve_problem", lambda label: (paying, given, values))
    monkeypatch.setattr("ml2bench.runner.threads.available_cores", lambda: 6)
    assert prepare(RunSpec(problem=PROBLEM, solver="sgd")).spec.threads == 6
    assert prepare(RunSpec(problem=PROBLEM, solver="sgd"), jobs=2).spec.threads == 3
    assert prepare(RunSpec(problem=PROBLEM, solver="sgd", threads=1), jobs=2).spec.threads == 1


@pytest.mark.parametrize("threads", [0, -2, 1.5, True])
def test_a_bad_thread_count_is_a_user_error(threads):
    from ml2bench.errors import UserError
    with pytest.raises(UserError, match="threads must be a positive integer"):
        prepare(RunSpec(problem=PROBLEM, solver="sgd", threads=threads))


def test_negative_threads_on_the_command_line_is_one_line(capsys, tmp_path):
    code = main(["run", "--problem", PROBLEM, "--solver", "sgd", "--threads", "-2",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == ["ml2bench: error: --threads must be a positive integer, "
                                        "got -2"]


def test_a_run_alone_and_in_a_two_job_sweep_gives_bit_identical_numbers(tmp_path):
    torch.set_num_threads(2)  # what the caller's process has must not matter
    try:
        alone = RunSpec(problem=PROBLEM, solver="sgd", seed=1, budget=0.5)
        other = RunSpec(problem=PROBLEM, solver="adam", seed=1, budget=0.5)
        run_sweep([alone], tmp_path / "alone", jobs=1, progress=False)
        assert torch.get_num_threads() == 2  # restored after the in-process run
        run_sweep([alone, other], tmp_path / "sweep", jobs=2, progress=False)
    finally:
        torch.set_num_threads(1)
    rid = prepare(alone).run_id
    a = pd.read_parquet(ResultsStore(tmp_path / "alone").run_path(rid))
    b = pd.read_parquet(ResultsStore(tmp_path / "sweep").run_path(rid))
    assert len(a) > 2 and (a["num_threads"] == 1).all() and (b["num_threads"] == 1).all()
    columns = [c for c in a.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(a[columns], b[columns], check_exact=True)


def test_the_partial_state_keeps_the_thread_count_and_a_mismatch_restarts(tmp_path, monkeypatch):
    prepared = prepare(RunSpec(problem=PROBLEM, solver="sgd", seed=1, budget=0.5,
                               checkpoint_every=0.1))
    store = ResultsStore(tmp_path)
    saved = []
    original = RunLoop.save_state

    def save_and_stop(self):
        original(self)
        saved.append(store.load_partial(prepared.run_id, prepared.config_hash))
        if len(saved) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunLoop, "save_state", save_and_stop)
    with pytest.raises(KeyboardInterrupt):
        execute(prepared, store)
    assert saved[-1]["loop"]["num_threads"] == 1
    monkeypatch.setattr(RunLoop, "save_state", original)
    # a partial state written with another thread count is not resumed: the run restarts
    state = store.load_partial(prepared.run_id, prepared.config_hash)
    state["loop"]["num_threads"] = 2
    state["loop"]["rows"] = [dict(state["loop"]["rows"][0], train_loss=-1.0)]
    store.save_partial(prepared.run_id, state)
    assert execute(prepared, store) == "budget"
    fresh = pd.read_parquet(store.run_path(prepared.run_id))
    reference = tmp_path / "reference"
    execute(prepared, ResultsStore(reference))
    expected = pd.read_parquet(ResultsStore(reference).run_path(prepared.run_id))
    assert (fresh["train_loss"] != -1.0).all()
    assert fresh["train_loss"].tolist() == expected["train_loss"].tolist()


def test_the_specs_declare_threads_pay_only_where_measured():
    from ml2bench.problems.registry import load_specs
    paying = sorted(name for name, spec in load_specs().items() if spec.threads_pay)
    assert paying == ["fashion_mnist_resnet", "mnist_resnet"]


def test_threads_pay_must_be_a_boolean(tmp_path, monkeypatch):
    from ml2bench.errors import UserError
    from ml2bench.problems.registry import load_specs
    (tmp_path / "p.toml").write_text('name = "p"\nversion = 1\nfamily = "digits_cnn"\n'
                                     'threads_pay = "yes"\n')
    with pytest.raises(UserError, match="threads_pay must be true or false"):
        load_specs(tmp_path)


def test_absurd_thread_counts_are_refused_and_oversubscription_is_one_warning():
    from ml2bench.errors import UserError
    from ml2bench.runner.threads import MAX_THREADS, THREADS_PER_CORE, check_threads
    with pytest.raises(UserError, match=rf"--threads 100000 .*use at most {MAX_THREADS}"):
        check_threads(100000, 1, local=False)
    with pytest.raises(UserError, match=r"--threads 500 is far above the 2 cores .*use at most 2"):
        check_threads(500, 1, cores=2)
    with pytest.raises(UserError, match=r"--jobs 64 is far above the 2 cores"):
        check_threads(None, 64, cores=2)
    assert check_threads(None, 2, cores=2) is None and check_threads(2, 1, cores=2) is None
    assert check_threads(5000 // 8, 1, local=False) is None  # SLURM: the node's cores decide
    assert check_threads(3, 1, cores=2) == (
        "--threads 3 = 3 threads on 2 cores: the runs share cores, so their times are "
        "inflated (work units and metrics are not); use --threads 2")
    assert "--jobs 3 × --threads 1 = 3 threads on 2 cores" in check_threads(None, 3, cores=2)
    assert check_threads(THREADS_PER_CORE * 2, 1, cores=2).endswith("use --threads 2")


def test_the_command_line_refuses_100000_threads_before_torch_sees_them(capsys, tmp_path):
    code = main(["run", "--problem", PROBLEM, "--solver", "sgd", "--threads", "100000",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--threads 100000" in err[0]
    assert not (tmp_path / "runs").exists()
