"""Issue 9, point 7: a sweep killed with SIGKILL at several points and rerun loses no
file, rewrites none, and ends with the numbers of an uninterrupted sweep.

The sweep runs in a real process (``python -m ml2bench run ... --jobs 2``) in its own
session, so that ``os.killpg`` kills it and its pool workers at once, as a power cut or
an out-of-memory kill of the job would.

Marked ``slow`` (about a minute of CPU, more wall time on a loaded machine) so that
``make test`` stays short; CI runs it explicitly (``make test-fault`` in ``.ci/run``).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

#: The fast quadratic runs first and the slower ResNet runs last (runs start in this
#: order), so that the later kill points land while a run is still going: a kill after
#: the sixth result would otherwise race the last two runs' few milliseconds.
ARGS = ["run", "--problem", "quadratic_poisson1d[quick=true]", "--problem",
        "swissroll_resnet[quick=true]", "--solver", "adam", "--solver", "sgd[lr=0.01]",
        "--seeds", "0-1", "--budget", "0.3", "--checkpoint-every", "0.05", "--jobs", "2",
        "--no-progress"]
RUNS = 8
#: Columns that must be equal to the uninterrupted sweep (not the time columns).
NUMBERS = ["run_id", "config_hash", "step", "work_units", "work_units_parallel", "comm_bytes",
           "grad_evals", "train_loss", "test_loss", "test_acc", "test_rel_l2", "grad_norm", "status"]
ROOT = Path(__file__).resolve().parents[2]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def command(out: Path) -> list[str]:
    """The sweep's command line, writing to ``out``."""
    return [sys.executable, "-m", "ml2bench", *ARGS, "--out", str(out)]


def start(out: Path) -> subprocess.Popen:
    """Start the sweep in its own session (to be killed by :func:`kill_when`)."""
    return subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=ENV, start_new_session=True)


def sweep(out: Path) -> subprocess.CompletedProcess:
    """Run the sweep to its end (one process: ``start(out).args`` would start a second,
    unwaited sweep into the same folder beside it)."""
    return subprocess.run(command(out), env=ENV, capture_output=True, text=True, timeout=600)


def results(out: Path) -> list[Path]:
    return sorted((out / "runs").glob("*.parquet"))


def snapshot(out: Path) -> dict[str, tuple[int, str]]:
    """Finished results files: name → (mtime in ns, SHA-256 of the content)."""
    return {p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in results(out)}


def kill_when(out: Path, proc: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    """SIGKILL the sweep's process group as soon as ``ready(out)`` holds."""
    deadline = time.monotonic() + timeout
    while not ready(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it finished first
        pass
    proc.wait(timeout=30)


def numbers(out: Path) -> pd.DataFrame:
    frame = pd.concat([pd.read_parquet(p) for p in results(out)], ignore_index=True)
    return frame[NUMBERS].sort_values(["run_id", "step"]).reset_index(drop=True)


@pytest.mark.slow
def test_sigkill_at_several_points_then_rerun(tmp_path):
    reference = tmp_path / "reference"
    first = sweep(reference)
    assert first.returncode == 0, first.stderr
    assert len(results(reference)) == RUNS

    out = tmp_path / "interrupted"
    points = [
        lambda o: any((o / "partial").glob("*.pt")),  # inside the first runs
        lambda o: len(results(o)) >= 1,
        lambda o: any((o / "partial").glob("*.pt")) and len(results(o)) >= 3,
        lambda o: len(results(o)) >= 6,
    ]
    kept: dict[str, tuple[int, str]] = {}
    counts = []
    for ready in points:
        kill_when(out, start(out), ready)
        now = snapshot(out)
        for name, stamp in kept.items():  # nothing lost, nothing rewritten
            assert now.get(name) == stamp, name
        kept = now
        counts.append(len(now))
    assert counts[-1] < RUNS, counts  # the kills did interrupt the sweep
    print("finished runs after each kill:", counts)
    final = sweep(out)
    assert final.returncode == 0, final.stderr
    now = snapshot(out)
    assert all(now[name] == stamp for name, stamp in kept.items())
    assert sorted(now) == [p.name for p in results(reference)]
    pd.testing.assert_frame_equal(numbers(out), numbers(reference))
    # no checkpoint, lock file or temporary file left (nor any *.failed: no run failed)
    assert not list((out / "partial").iterdir())
