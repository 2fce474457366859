"""The full-scale configurations of the claims start: every run of a claim's
``[claim.full]`` resolves, builds its task and takes its first step.

The real MNIST/CIFAR-10 files cannot be downloaded here, so the image claims run on the
small synthetic files in the official formats (``ml2bench.data.testing``, as the data
tests make them); the runs stop after their first step through the run option
``max_epochs`` (a tiny epoch budget), so each check costs one step.
"""

import dataclasses

import pytest

from ml2bench.data.testing import make_fake_cifar, make_fake_mnist
from ml2bench.reproduce.manifest import load_manifest
from ml2bench.reproduce.runs import claim_specs, collect
from ml2bench.runner.sweep import run_sweep
from tests.reproduce.test_manifest import MANIFEST

#: Claims whose full scale needs the image files (T2: seconds with the synthetic ones;
#: T4's conv ResNet hierarchies: minutes, so slow).
IMAGE_CLAIMS = ["T2", pytest.param("T4", marks=pytest.mark.slow)]
#: The other sweep claims (full-size PINNs and 65-block ResNets: slower).
OTHER_CLAIMS = ["T1", "T3", "T3-fo", "T5"]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    root = tmp_path / "data"
    make_fake_mnist(root, n_train=60, n_test=20, kind="mnist", seed=1)
    make_fake_cifar(root, n_per_batch=12, n_test=20, seed=3)
    monkeypatch.setenv("ML2BENCH_DATA", str(root))
    return root


def start_every_run(claim_id, out):
    """Run each (problem, solver) of the claim's full scale for one step (seed 0)."""
    (claim,) = [c for c in load_manifest(MANIFEST) if c.id == claim_id]
    specs = [dataclasses.replace(s, max_epochs=1e-9, checkpoint_every=0.0)
             for s in claim_specs(claim, "full") if s.seed == claim.scales["full"].seeds[0]]
    report = run_sweep(specs, str(out), jobs=1, progress=False)
    assert not report.failed and not report.unfinished, (report.failed, report.unfinished)
    runs = collect(specs, out)
    assert len(runs) == len(claim.scales["full"].problems) * len(claim.scales["full"].solvers)
    for run in runs:
        assert run.rows is not None, (run.problem, run.solver)
        last = run.rows.iloc[-1]
        assert last["step"] >= 1 and last["status"] == "budget", (run.problem, run.solver)
        assert last["work_units"] > 0
    return runs


@pytest.mark.parametrize("claim_id", IMAGE_CLAIMS)
def test_image_claims_full_scale_starts_on_synthetic_files(claim_id, data_dir, tmp_path):
    runs = start_every_run(claim_id, tmp_path / "runs")
    if claim_id == "T2":  # the authors' batching reaches the task: full batch on 60 images
        assert {r.rows["epoch"].iloc[-1] >= 1.0 for r in runs} == {True}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", OTHER_CLAIMS)
def test_other_claims_full_scale_starts(claim_id, tmp_path):
    start_every_run(claim_id, tmp_path / "runs")
