"""asv as a user runs it: ``asv run --quick --python=same --set-commit-hash <commit>`` and
``asv publish`` on a scratch repository holding this checkout's ``benchmarks/`` and
``asv.conf.json`` (one commit on branch ``main``), measuring this checkout's ml2bench
(``ASV_PYTHONPATH``, asv's way to put a source tree first). The published JSON (the data
behind the site's graphs; the site's own scripts come from a CDN, not loadable offline)
must hold a value for every benchmark.

The fast test runs a time and a track benchmark on one case (under a minute);
the slow one (``-m slow``) every benchmark on every parameter (several minutes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MACHINE = "ml2bench-test"
#: Every benchmark asv should collect — nothing else (a helper collected as a benchmark
#: fails every run).
BENCHMARKS = {
    "bench_results.TrackWorkUnitsToTarget.track_wu_to_target",
    "bench_results.TrackFinalAccuracy.track_final_accuracy",
    "bench_results.TrackFinalRelativeError.track_final_rel_l2",
    "bench_solver_steps.TimeSolverStep.time_step",
    "bench_solver_steps.TrackWorkUnitsPerStep.track_work_units",
    "bench_solver_steps.TrackSolverStateMemory.track_state_mb",
    "bench_solver_steps.PeakMemSolverSteps.peakmem_steps",
}
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="asv needs git")


def run(command: list[str], cwd: Path, env: dict, timeout: int) -> str:
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (command, proc.stdout[-4000:], proc.stderr[-4000:])
    return proc.stdout


def scratch_repository(tmp_path: Path) -> tuple[Path, dict, str]:
    """A git repository with the benchmarks and asv config, its environment and commit."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "benchmarks", repo / "benchmarks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "asv.conf.json", repo / "asv.conf.json")
    env = {**os.environ, "HOME": str(tmp_path), "ASV_PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("PYTHONPATH", None)
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "."],
                    ["git", "commit", "-q", "-m", "benchmarks"]):
        run(command, repo, env, 60)
    commit = run(["git", "rev-parse", "HEAD"], repo, env, 60).strip()
    return repo, env, commit


def asv_publish(tmp_path: Path, bench: str, timeout: int) -> tuple[dict, dict[str, list]]:
    """Run the benchmarks matching ``bench`` and publish; the site's ``index.json`` and,
    per benchmark, the values of its graph files."""
    repo, env, commit = scratch_repository(tmp_path)
    asv = [sys.executable, "-m", "asv"]
    run([*asv, "machine", "--yes", "--machine", MACHINE], repo, env, 120)
    run([*asv, "run", "--quick", "--python=same", "--set-commit-hash", commit,
         "--machine", MACHINE, "--bench", bench, "--show-stderr"], repo, env, timeout)
    run([*asv, "publish"], repo, env, 300)
    site = repo / ".asv" / "html"
    index = json.loads((site / "index.json").read_text("utf-8"))
    values: dict[str, list] = {}
    for path in (site / "graphs").rglob("*.json"):
        if path.stem.startswith("summary") or path.parent.name == "summary":
            continue
        points = json.loads(path.read_text("utf-8"))
        values.setdefault(path.stem, []).extend(value for _, value in points)
    return index, values


def flat(values: list) -> list:
    out = []
    for value in values:
        out.extend(flat(value) if isinstance(value, list) else [value])
    return out


FAST = ("bench_solver_steps.TimeSolverStep.time_step",
        "bench_solver_steps.TrackSolverStateMemory.track_state_mb")


def test_asv_publishes_a_value_for_a_time_and_a_track_benchmark(tmp_path):
    pattern = "|".join(rf"{name}\('peaks_resnet\[quick=true\] sgd'\)" for name in FAST)
    index, values = asv_publish(tmp_path, pattern.replace(".", r"\."), 600)
    assert set(index["benchmarks"]) == BENCHMARKS  # only benchmarks are collected
    ran = set(FAST)
    assert ran <= set(values), set(values)
    for name in ran:
        assert any(v is not None for v in flat(values[name])), (name, values[name])


@pytest.mark.slow
def test_asv_publishes_a_value_for_every_benchmark_and_parameter(tmp_path):
    index, values = asv_publish(tmp_path, ".", 3000)
    assert set(index["benchmarks"]) == BENCHMARKS
    assert set(values) >= BENCHMARKS
    for name in BENCHMARKS:
        points = flat(values[name])
        assert points and all(v is not None for v in points), (name, values[name])
