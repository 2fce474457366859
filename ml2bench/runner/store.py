"""The results store: one parquet file per run, written atomically.

Layout under the output directory::

    runs/<run_id>.parquet       long format, one row per checkpoint (finished runs)
    partial/<run_id>.pt         resumable state of an unfinished run
    flatness/<run_id>.parquet   end-of-run metrics (second table, keyed by run_id)

Every file is written to a temporary name in the same directory and renamed into
place (``os.replace``), so an interrupted write never leaves a partial file under the
final name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from ml2bench.errors import UserError

IDENTITY = ["run_id", "config_hash", "problem", "problem_version", "problem_params", "solver",
            "solver_label", "solver_params", "seed"]
PROGRESS = ["step", "epoch", "work_units", "work_units_parallel", "grad_evals", "hvp_evals",
            "time_s", "eval_time_s", "peak_mem_mb"]
METRICS = ["train_loss", "test_loss", "test_acc", "test_rel_l2", "grad_norm", "grad_norm_rel"]
STATUS = ["status", "error"]
ENVIRONMENT = ["ml2bench_version", "git_commit", "torch_version", "device", "device_name",
               "num_threads", "hostname", "started_at"]
COLUMNS = IDENTITY + PROGRESS + METRICS + STATUS + ENVIRONMENT
STATUSES = ("ok", "diverged", "failed", "timeout", "budget", "target", "skipped")


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ResultsStore:
    """Reads and writes the files of one output directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def check_writable(self) -> None:
        """Create the directory and make sure files can be written there."""
        try:
            (self.root / "runs").mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root / "runs", delete=True)
            probe.close()
        except OSError as error:
            raise UserError(f"output directory {self.root} is not writable: "
                            f"{error.strerror or error}") from None

    def run_path(self, run_id: str) -> Path:
        return self.root / "runs" / f"{run_id}.parquet"

    def partial_path(self, run_id: str) -> Path:
        return self.root / "partial" / f"{run_id}.pt"

    def flatness_path(self, run_id: str) -> Path:
        return self.root / "flatness" / f"{run_id}.parquet"

    def is_finished(self, run_id: str, digest: str) -> bool:
        """Whether a results file with the same config hash exists."""
        path = self.run_path(run_id)
        if not path.exists():
            return False
        try:
            hashes = pd.read_parquet(path, columns=["config_hash"])["config_hash"]
        except Exception:  # an unreadable file is treated as missing and rewritten
            return False
        return bool(len(hashes)) and hashes.iloc[0] == digest

    def write_run(self, run_id: str, rows: list[dict]) -> Path:
        frame = pd.DataFrame(rows)
        ordered = [c for c in COLUMNS if c in frame] + sorted(c for c in frame if c not in COLUMNS)
        path = self.run_path(run_id)
        atomic_write(path, lambda tmp: frame[ordered].to_parquet(tmp, index=False))
        return path

    def write_flatness(self, run_id: str, rows: list[dict]) -> Path:
        path = self.flatness_path(run_id)
        atomic_write(path, lambda tmp: pd.DataFrame(rows).to_parquet(tmp, index=False))
        return path

    def save_partial(self, run_id: str, state: dict) -> None:
        atomic_write(self.partial_path(run_id), lambda tmp: torch.save(state, tmp))

    def load_partial(self, run_id: str, digest: str) -> dict | None:
        path = self.partial_path(run_id)
        if not path.exists():
            return None
        state = torch.load(path, weights_only=False)
        return state if state.get("config_hash") == digest else None

    def drop_partial(self, run_id: str) -> None:
        path = self.partial_path(run_id)
        if path.exists():
            path.unlink()

    def load_runs(self) -> pd.DataFrame:
        """All finished runs' rows concatenated (empty frame if none)."""
        return _concat(sorted((self.root / "runs").glob("*.parquet")))

    def load_flatness(self) -> pd.DataFrame:
        return _concat(sorted((self.root / "flatness").glob("*.parquet")))


def _concat(paths: list[Path]) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
