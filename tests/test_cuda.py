"""GPU checks (skipped cleanly without CUDA): the same run on CUDA matches the CPU run."""

import pytest
import torch

from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import expand, run_sweep

pytestmark = pytest.mark.cuda


def test_quick_run_on_cuda_tracks_the_cpu_run(tmp_path):
    problem = "swissroll_resnet[quick=true,dtype=float64]"
    for device in ("cpu", "cuda"):
        run_sweep(expand([problem], ["adam"], [0], budget=1.0, device=device),
                  tmp_path / device, progress=False)
    cpu = ResultsStore(tmp_path / "cpu").load_runs()
    gpu = ResultsStore(tmp_path / "cuda").load_runs()
    assert gpu["device"].iloc[0].startswith("cuda")
    assert gpu["work_units"].tolist() == cpu["work_units"].tolist()
    assert gpu["train_loss"].to_numpy() == pytest.approx(cpu["train_loss"].to_numpy(), rel=1e-6)


def test_same_seed_same_numbers_on_cuda(tmp_path):
    for name in ("a", "b"):
        run_sweep(expand(["digits_cnn[quick=true]"], ["sgd"], [0], budget=1.0, device="cuda"),
                  tmp_path / name, progress=False)
    a = ResultsStore(tmp_path / "a").load_runs()["train_loss"].tolist()
    b = ResultsStore(tmp_path / "b").load_runs()["train_loss"].tolist()
    assert a == b


def test_auto_device_picks_cuda():
    from ml2bench.runner.prepare import resolve_device
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
