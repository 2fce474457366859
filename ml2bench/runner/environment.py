"""Environment columns recorded with every run (constant per run)."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

import ml2bench
from ml2bench.numerics import environment_columns


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The repository's HEAD commit (``unknown`` outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(device: torch.device) -> str:
    """The GPU's name for a CUDA device, else ``cpu``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def environment(device: torch.device) -> dict:
    """``ml2bench_version, git_commit, torch_version, device, device_name, num_threads``,
    what decides the numbers on this CPU (:func:`ml2bench.numerics.environment_columns`:
    ``numerics, cpu_model, cpu_isa, cpu_capability, blas, onednn``), ``hostname,
    started_at``."""
    return {"ml2bench_version": ml2bench.__version__, "git_commit": git_commit(),
            "torch_version": torch.__version__, "device": str(device),
            "device_name": device_name(device), "num_threads": torch.get_num_threads(),
            **environment_columns(device.type),
            "hostname": socket.gethostname(),
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
