"""Truly parallel DD runs (issue 11.4): ``ml2bench run ... --nproc 2`` starts two gloo
ranks under torchrun; their results equal the one-process simulation (iterates to
1e-6 relative, work-unit and communication columns exactly), and a ``kill -9`` of the
process group followed by the same command resumes without loss."""

from __future__ import annotations

import glob
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ml2bench.accounting.ledger import WorkLedger
from ml2bench.cli import free_port, main
from ml2bench.hierarchy.base import LevelCost
from ml2bench.runner.checked import read_checked
from ml2bench.testing import bind

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "poisson1d_regression[quick=true]"
SOLVER = "apts_p[subdomains=2]"

gloo = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available")


def args(out, budget: float, solver: str = SOLVER) -> list[str]:
    return ["run", "--problem", PROBLEM, "--solver", solver, "--budget", str(budget),
            "--checkpoint-every", "0", "--out", str(out), "--no-progress"]


def command(out, budget: float, solver: str = SOLVER) -> list[str]:
    return [sys.executable, "-m", "ml2bench", *args(out, budget, solver), "--nproc", "2"]


def environment() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def rows(out) -> pd.DataFrame:
    (path,) = glob.glob(f"{out}/runs/*.parquet")
    return pd.read_parquet(path)


def assert_same_run(simulated: pd.DataFrame, parallel: pd.DataFrame) -> None:
    assert len(simulated) == len(parallel) > 2
    assert list(parallel["status"]) == list(simulated["status"])
    for column in ("step", "work_units", "work_units_parallel", "comm_bytes", "grad_evals"):
        assert np.array_equal(simulated[column].values, parallel[column].values), column
    for column in ("train_loss", "test_loss", "grad_norm", "info_radius", "info_pred",
                   "info_local_decrease_d0", "info_local_decrease_d1"):
        np.testing.assert_allclose(parallel[column].values, simulated[column].values,
                                   rtol=1e-6, atol=0, equal_nan=True, err_msg=column)


@gloo
@pytest.mark.parametrize("solver", [SOLVER, "apts_d[subdomains=2]",
                                    "apts_d[subdomains=2,subproblem=cg]",
                                    "apts_d[subdomains=2,local_solver=adam,local_lr=0.001]"])
def test_two_gloo_ranks_give_the_simulated_run(tmp_path, solver):
    """``apts_p`` replicates its global phase; ``apts_d`` shares it (each rank its half
    of the batch, all-reduced; with ``subproblem=cg`` the Hessian products too; with
    ``local_solver=adam`` each rank keeps its own subdomain's moments): with two ranks
    the sums have one order, so every column is bit for bit the simulated one."""
    assert main(args(tmp_path / "sim", 40, solver)) == 0
    done = subprocess.run(command(tmp_path / "par", 40, solver), env=environment(),
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    simulated, parallel = rows(tmp_path / "sim"), rows(tmp_path / "par")
    assert_same_run(simulated, parallel)
    for column in ("train_loss", "test_loss", "grad_norm", "info_radius", "info_pred"):
        assert np.array_equal(simulated[column].values, parallel[column].values,
                              equal_nan=True), column
    # the budget ends inside an outer step (the subdomains' shares of it, then the global
    # trial point refused): the ranks made the simulation's decisions, within the budget
    assert rows(tmp_path / "par")["info_budget_cut"].iloc[-1] == 1.0
    assert (rows(tmp_path / "par")["work_units"] <= 40).all()
    assert not list((tmp_path / "par" / "partial").glob("*"))  # rank 0 dropped it


@gloo
@pytest.mark.parametrize("solver", [
    SOLVER,
    # each rank checkpoints its own subdomain's Adam moments (gathered on rank 0)
    pytest.param("apts_d[subdomains=2,local_solver=adam,local_lr=0.001]",
                 marks=pytest.mark.slow)])
def test_kill_of_the_process_group_then_the_same_command_resumes(tmp_path, solver):
    budget, out = 160, tmp_path / "par"
    process = subprocess.Popen(command(out, budget, solver), env=environment(), cwd=tmp_path,
                               start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline, step = time.monotonic() + 90, 0
    try:
        while step < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
            for path in (out / "partial").glob("*.pt"):
                try:
                    state = io.BytesIO(read_checked(path))  # the payload under its SHA-256
                    step = torch.load(state, weights_only=False)["loop"]["step"]
                except Exception:  # replaced while reading
                    pass
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert step >= 3, "the run ended (or never checkpointed) before the kill"
    time.sleep(2)  # ranks (own sessions under torchrun) die with their parent, none goes on
    assert not list((out / "runs").glob("*.parquet"))
    done = subprocess.run(command(out, budget, solver), env=environment(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "0 up to date; 1 budget" in done.stdout  # resumed, not found finished
    assert main(args(tmp_path / "sim", budget, solver)) == 0
    assert_same_run(rows(tmp_path / "sim"), rows(out))


def test_nproc_needs_a_matching_distributed_solver(tmp_path, capsys):
    base = ["run", "--problem", PROBLEM, "--budget", "1", "--out", str(tmp_path)]
    assert main([*base, "--solver", "apts_p[subdomains=3]", "--nproc", "2"]) == 2
    assert "subdomains=2" in capsys.readouterr().err
    assert main([*base, "--solver", "sgd", "--nproc", "2"]) == 2
    assert "does not run distributed" in capsys.readouterr().err
    assert main([*base, "--solver", SOLVER, "--solver", "apts_d[subdomains=4]",
                 "--nproc", "2"]) == 2
    assert "subdomains=2, got subdomains=4" in capsys.readouterr().err


@gloo
def test_a_sweep_of_runs_starts_the_process_group_once(tmp_path):
    """Two seeds and two solvers under one ``--nproc 2``: one torchrun, whose two ranks
    run the four runs in turn (each rank reports the sweep once), each equal to its
    simulated run."""
    sweep = ["--solver", "apts_d[subdomains=2]", "--seeds", "0,1"]
    base = args(tmp_path / "par", 12)
    done = subprocess.run([sys.executable, "-m", "ml2bench", *base, *sweep, "--nproc", "2"],
                          env=environment(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("4 runs: 0 up to date, 4 to run") == 2  # once per rank
    assert main([*args(tmp_path / "sim", 12), *sweep]) == 0
    for simulated in sorted((tmp_path / "sim" / "runs").glob("*.parquet")):
        parallel = tmp_path / "par" / "runs" / simulated.name
        assert_same_run(pd.read_parquet(simulated), pd.read_parquet(parallel))


def test_recorded_charges_replay_to_the_same_ledger():
    costs = [LevelCost(forward=0.3, grad=1.0, hvp=2.0, hvp_more=1.5)]
    direct, replayed = WorkLedger(costs, 10), WorkLedger(costs, 10)
    charges = [(0, "grad", 7, 1.0), (0, "grad_subdomain", 10, 0.37), (0, "forward", 3, 1.0)]
    with direct.parallel_phase():
        for d in range(2):
            with direct.subdomain(d):
                for charge in charges[d:]:
                    direct.charge(*charge)
    records = []
    for d in range(2):
        with replayed.recording() as recorded:
            for charge in charges[d:]:
                replayed.charge(*charge)
        assert replayed.work_units == 0.0
        records.append(recorded)
    with replayed.parallel_phase():
        for d in range(2):
            with replayed.subdomain(d):
                replayed.replay(records[d])
    assert replayed.state_dict() == direct.state_dict()


OWN_STATE_SCRIPT = r'''
import sys
import torch
from ml2bench.parallel import init_from_env, shutdown, world
from ml2bench.testing import bind

def memories(solver):
    if solver.name == "aspqn":
        return [m.pairs_s for m in solver.state.local_memories]
    return [[] if m._S is None else list(m._S) for m in solver.local_memories]

init_from_env("cpu")
rank = world()[0]
label, reference = sys.argv[1], torch.load(sys.argv[2])
_, solver, _ = bind("swissroll_resnet[quick=true]", label)
for _ in range(2):
    solver.step()
held = memories(solver)
assert len(held[rank]) > 0 and len(held[1 - rank]) == 0, (rank, [len(h) for h in held])
with solver.whole_state():
    inside = memories(solver)
    if rank == 0:  # rank 0 holds both, equal to the one-process run's
        for mine, theirs in zip(inside, reference):
            assert len(mine) == len(theirs) > 0
            assert all(torch.equal(a, b) for a, b in zip(mine, theirs))
    else:
        assert len(inside[0]) == 0
after = memories(solver)
assert len(after[rank]) > 0 and len(after[1 - rank]) == 0
print(f"rank {rank} ok")
shutdown()
'''


@gloo
@pytest.mark.parametrize("solver", ["apts_p[subdomains=2,local_steps=2]",
                                    "aspqn[subdomains=2,local_steps=2]"])
def test_each_rank_holds_only_its_own_subdomain_state(tmp_path, solver):
    """Between checkpoints rank r holds only subdomain r's local memory; for a checkpoint
    rank 0 gathers the other's (equal to the simulated run's) and drops it after."""
    _, simulated, _ = bind("swissroll_resnet[quick=true]", solver)
    for _ in range(2):
        simulated.step()
    memories = ([m.pairs_s for m in simulated.state.local_memories] if simulated.name == "aspqn"
                else [list(m._S) for m in simulated.local_memories])
    torch.save(memories, tmp_path / "reference.pt")
    script = tmp_path / "own_state.py"
    script.write_text(OWN_STATE_SCRIPT)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                           "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                           "--master-port", str(free_port()), str(script), solver,
                           str(tmp_path / "reference.pt")],
                          env=environment(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[:3000]
    assert "rank 0 ok" in done.stdout and "rank 1 ok" in done.stdout
