"""The results store: one parquet file per run, written atomically.

Layout under the output directory::

    runs/<run_id>.parquet       long format, one row per checkpoint (finished runs)
    partial/<run_id>.pt         resumable state of an unfinished run (SHA-256 checked)
    partial/<run_id>.prev.pt    the checkpoint before it (used if the last is damaged)
    partial/<run_id>.lock       held while a process executes the run (removed after)
    flatness/<run_id>.parquet   end-of-run metrics (second table, keyed by run_id)
    models/<run_id>.pt          final parameters and buffers of the finest model

Every file is written to a temporary name in the same directory and renamed into
place (``os.replace``), so an interrupted write never leaves a partial file under the
final name. One process at a time executes a run (:meth:`ResultsStore.run_lock`), so two
sweeps over the same folder never rename or remove each other's checkpoint files.
"""

from __future__ import annotations

import io
import math
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager, Sequence

from ml2bench.errors import UserError
from ml2bench.files import atomic_save as atomic_write
from ml2bench.files import remove_stale_temporaries
from ml2bench.runner.checked import DamagedFile, move_aside, read_checked, write_checked
from ml2bench.runner.lock import exclusive

if TYPE_CHECKING:
    import pandas as pd

IDENTITY = ["run_id", "config_hash", "problem", "problem_version", "problem_params", "solver",
            "solver_version", "solver_label", "solver_params", "seed", "setting_hash", "problem_label",
            "run_options", "precision"]
PROGRESS = ["step", "epoch", "work_units", "work_units_parallel", "comm_bytes", "grad_evals",
            "hvp_evals", "time_s", "eval_time_s", "peak_mem_mb"]
METRICS = ["train_loss", "test_loss", "test_acc", "test_rel_l2", "grad_norm", "grad_norm_rel"]
STATUS = ["status", "error"]
ENVIRONMENT = ["ml2bench_version", "git_commit", "torch_version", "device", "device_name",
               "num_threads", "numerics", "cpu_model", "cpu_isa", "cpu_capability", "blas",
               "onednn", "hostname", "started_at"]
COLUMNS = IDENTITY + PROGRESS + METRICS + STATUS + ENVIRONMENT
#: Columns that every file ml2bench writes in ``runs/`` (and, of them, ``run_id`` in
#: ``flatness/``) has: a parquet file without them there is other data, skipped and
#: named, never read as results (tables would fail on the missing columns).
IDENTIFYING = ["run_id", "problem", "solver", "seed", "status"]

#: The :data:`IDENTIFYING` columns per folder (flatness rows are keyed by ``run_id``).
_IDENTIFYING_IN = {"runs": IDENTIFYING, "flatness": ["run_id"]}
STATUSES = ("ok", "diverged", "failed", "timeout", "budget", "target", "stalled", "skipped")


def build_row(values: dict) -> dict:
    """A results row in the store's column order.

    Every column of :data:`COLUMNS` comes first, in order; a metric the problem does
    not have (e.g. ``test_acc`` of a regression) is NaN. Any further keys of ``values``
    (solver diagnostics ``info_*``, checkpoint metrics) follow.

    Raises
    ------
    KeyError
        If an identity, progress, status or environment column is missing.
    """
    missing = [c for c in COLUMNS if c not in values and c not in METRICS]
    if missing:
        raise KeyError(f"results row lacks the columns {missing}")
    row = {column: values.get(column, math.nan) for column in COLUMNS}
    row.update({k: v for k, v in values.items() if k not in row})
    return row


class ResultsStore:
    """Reads and writes the files of one output directory."""

    def __init__(self, root: str | Path) -> None:
        from ml2bench.parallel import world
        self.root = Path(root)
        #: Only rank 0 of a distributed run writes (the others compute the same numbers).
        self.writer = world()[0] == 0

    def check_writable(self) -> None:
        """Create the directory and make sure files can be written there."""
        if not self.writer:
            return
        try:
            (self.root / "runs").mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root / "runs", delete=True)
            probe.close()
        except OSError as error:
            raise UserError(f"output directory {self.root} is not writable: "
                            f"{error.strerror or error}") from None

    def run_path(self, run_id: str) -> Path:
        """``runs/<run_id>.parquet``: the rows of a finished run."""
        return self.root / "runs" / f"{run_id}.parquet"

    def partial_path(self, run_id: str) -> Path:
        """``partial/<run_id>.pt``: the resumable state of an unfinished run."""
        return self.root / "partial" / f"{run_id}.pt"

    def flatness_path(self, run_id: str) -> Path:
        """``flatness/<run_id>.parquet``: the end-of-run metrics row."""
        return self.root / "flatness" / f"{run_id}.parquet"

    def model_path(self, run_id: str) -> Path:
        """``models/<run_id>.pt``: the final parameters and buffers of the finest model."""
        return self.root / "models" / f"{run_id}.pt"

    def is_finished(self, run_id: str, digest: str, metrics: Sequence[str] = ()) -> bool:
        """Whether the run's results file exists with the same config hash and, when
        end-of-run ``metrics`` are requested, its flatness table holds all of them."""
        return self.is_trained(run_id, digest) and self.has_flatness(run_id, metrics)

    def is_trained(self, run_id: str, digest: str) -> bool:
        """Whether a results file with the same config hash exists."""
        path = self.run_path(run_id)
        if not path.exists():
            return False
        import pandas as pd

        try:
            hashes = pd.read_parquet(path, columns=["config_hash"])["config_hash"]
        except Exception:  # an unreadable file is treated as missing and rewritten
            return False
        return bool(len(hashes)) and hashes.iloc[0] == digest

    def final_status(self, run_id: str) -> str | None:
        """The status of a finished run's last row (None if unreadable or missing)."""
        import pandas as pd

        try:
            statuses = pd.read_parquet(self.run_path(run_id), columns=["status"])["status"]
        except Exception:
            return None
        return str(statuses.iloc[-1]) if len(statuses) else None

    def has_flatness(self, run_id: str, metrics: Sequence[str]) -> bool:
        """Whether the flatness table of ``run_id`` covers the metric names ``metrics``."""
        if not metrics:
            return True
        path = self.flatness_path(run_id)
        if not path.exists():
            return False
        import pandas as pd

        try:
            recorded = pd.read_parquet(path, columns=["metrics"])["metrics"].iloc[0]
        except Exception:
            return False
        return set(metrics) <= set(str(recorded).split(","))

    def write_run(self, run_id: str, rows: list[dict]) -> Path:
        """Write the rows of a finished run atomically; returns the file."""
        import pandas as pd

        frame = pd.DataFrame(rows)
        ordered = [c for c in COLUMNS if c in frame] + sorted(c for c in frame if c not in COLUMNS)
        path = self.run_path(run_id)
        if not self.writer:
            return path
        atomic_write(path, lambda tmp: frame[ordered].to_parquet(tmp, index=False))
        return path

    def write_flatness(self, run_id: str, rows: list[dict]) -> Path:
        """Write the end-of-run flatness row(s) atomically; returns the file."""
        import pandas as pd

        path = self.flatness_path(run_id)
        if not self.writer:
            return path
        atomic_write(path, lambda tmp: pd.DataFrame(rows).to_parquet(tmp, index=False))
        return path

    def save_model(self, run_id: str, state: dict) -> Path:
        """Save a finished run's final model (``state_dict`` and identity) atomically,
        with its SHA-256 (:mod:`ml2bench.runner.checked`)."""
        path = self.model_path(run_id)
        if not self.writer:
            return path
        return write_checked(path, _torch_bytes(state))

    def load_model(self, run_id: str, digest: str | None = None) -> dict | None:
        """The saved final model of ``run_id`` (None if missing or of another config).

        A damaged file is moved aside to ``*.damaged`` and named in one line on stderr;
        it counts as missing (the same ``ml2bench run`` command recreates it).
        """
        damaged: list[str] = []
        state = self._load_torch(self.model_path(run_id), damaged, map_location="cpu",
                                 weights_only=True)
        if damaged:
            print(f"ml2bench: warning: damaged final model {damaged[0]}; left out (the same "
                  "`ml2bench run` command recreates it)", file=sys.stderr)
        return state if state is not None and (digest is None
                                               or state.get("config_hash") == digest) else None

    def previous_partial_path(self, run_id: str) -> Path:
        """``partial/<run_id>.prev.pt``: the checkpoint before the last one."""
        return self.root / "partial" / f"{run_id}.prev.pt"

    def lock_path(self, run_id: str) -> Path:
        """``partial/<run_id>.lock``: held while a process executes the run."""
        return self.root / "partial" / f"{run_id}.lock"

    def run_lock(self, run_id: str) -> ContextManager[bool]:
        """Context manager: this process alone executes ``run_id`` (another process
        that holds it is waited for; :func:`~ml2bench.runner.lock.exclusive`). Only the
        writer (rank 0) locks: the other ranks of a distributed run write nothing."""
        if not self.writer:
            return nullcontext(False)

        def waiting() -> None:
            print(f"ml2bench: run {run_id} is being executed by another process (a second "
                  f"sweep into {self.root}?); waiting for it to finish", file=sys.stderr)

        return exclusive(self.lock_path(run_id), waiting)

    def save_partial(self, run_id: str, state: dict) -> None:
        """Save the resumable state of an unfinished run: atomically, with its SHA-256
        (:mod:`ml2bench.runner.checked`), the checkpoint it replaces kept as the previous
        generation (a rename: nothing copied)."""
        if not self.writer:
            return
        write_checked(self.partial_path(run_id), _torch_bytes(state),
                      previous=self.previous_partial_path(run_id))

    def load_partial(self, run_id: str, digest: str) -> dict | None:
        """The saved state of ``run_id`` if it belongs to configuration ``digest``, else ``None``.

        A damaged checkpoint (checksum mismatch, truncated, empty, unreadable) is moved
        aside to ``*.damaged`` and reported in one line on stderr; the previous
        generation is used if it is sound, else the run restarts from scratch.
        """
        damaged: list[str] = []
        state = None
        for path in (self.partial_path(run_id), self.previous_partial_path(run_id)):
            state = self._load_torch(path, damaged, weights_only=False)
            if state is not None:
                break
        if damaged:
            fallback = f"resuming from {path}" if state is not None else \
                "restarting the run from scratch"
            print(f"ml2bench: warning: damaged checkpoint {'; '.join(damaged)}; {fallback}",
                  file=sys.stderr)
        return state if state is not None and state.get("config_hash") == digest else None

    def _load_torch(self, path: Path, damaged: list[str], **load) -> dict | None:
        """The object ``torch.save`` wrote to ``path`` (None if missing), its checksum
        verified, read with ``torch.load(..., **load)``; a damaged file is moved aside and
        described in ``damaged``. A file written before checksums is damaged when torch
        cannot read it (nothing else can tell)."""
        import torch
        if not path.exists():
            return None
        try:
            payload = read_checked(path)
        except DamagedFile as error:
            return self._set_aside(path, str(error), damaged)
        if payload is not None:
            return torch.load(io.BytesIO(payload), **load)
        try:
            return torch.load(path, **load)
        except Exception as error:  # truncated, empty, not a torch file ...
            return self._set_aside(path, f"unreadable: {type(error).__name__}", damaged)

    def _set_aside(self, path: Path, reason: str, damaged: list[str]) -> None:
        """Move a damaged ``path`` to ``*.damaged`` (rank 0) and describe it in ``damaged``."""
        if self.writer:
            reason += f"; moved to {move_aside(path).name}"
        damaged.append(f"{path} ({reason})")

    def drop_partial(self, run_id: str) -> None:
        """Remove the resumable state, both generations (the run finished or failed; the
        older first, so that an interruption never leaves it alone)."""
        if not self.writer:
            return
        for path in (self.previous_partial_path(run_id), self.partial_path(run_id)):
            path.unlink(missing_ok=True)  # one that is already gone is dropped

    def remove_stale_lock(self, run_id: str) -> None:
        """Remove the lock file of ``run_id`` that a killed process left (the kernel
        released its lock); taken first, so a process that holds it is waited for and
        a held lock is never removed under its holder."""
        if self.writer and self.lock_path(run_id).exists():
            with self.run_lock(run_id):
                pass

    def set_aside_partial(self, run_id: str) -> list[Path]:
        """Keep the resumable state of a failed run as ``*.failed`` (both generations)
        instead of deleting it: the state it failed from is evidence, and nothing the
        user did not ask to delete is deleted. Returns the new names."""
        if not self.writer:
            return []
        kept = []
        for path in (self.previous_partial_path(run_id), self.partial_path(run_id)):
            try:
                kept.append(move_aside(path, "failed"))
            except FileNotFoundError:  # there is none (e.g. the run failed before its first)
                continue
        return kept

    def remove_stale_temporaries(self) -> list[Path]:
        """Remove the temporary files a killed sweep left in this folder's ``runs``,
        ``partial``, ``flatness`` and ``models`` (never a write in progress:
        :func:`~ml2bench.files.remove_stale_temporaries`); returns them."""
        if not self.writer:
            return []
        return [path for folder in ("runs", "partial", "flatness", "models")
                for path in remove_stale_temporaries(self.root / folder)]

    def load_runs(self, unreadable: list[str] | None = None) -> pd.DataFrame:
        """All finished runs' rows concatenated (empty frame if none).

        A file that cannot be read (e.g. corrupt) is skipped; if ``unreadable`` is a
        list, a description of each skipped file is appended to it, else the first one
        raises :class:`UserError`. A parquet file of other data (without the
        :data:`IDENTIFYING` columns) is skipped (:meth:`foreign_files` names them).
        """
        return _concat(sorted((self.root / "runs").glob("*.parquet")), unreadable,
                       _IDENTIFYING_IN["runs"])

    def load_flatness(self, unreadable: list[str] | None = None) -> pd.DataFrame:
        """All flatness rows concatenated (unreadable files are skipped and named in ``unreadable``)."""
        return _concat(sorted((self.root / "flatness").glob("*.parquet")), unreadable,
                       _IDENTIFYING_IN["flatness"])

    def foreign_files(self) -> list[Path]:
        """Parquet files in ``runs/`` and ``flatness/`` that hold other data (they lack the
        :data:`IDENTIFYING` columns, ``run_id`` in ``flatness/``; :meth:`load_runs` and
        :meth:`load_flatness` skip them). Only the schemas are read; unreadable files are
        not listed here."""
        import pyarrow.parquet as pq

        foreign = []
        for folder, required in _IDENTIFYING_IN.items():
            for path in sorted((self.root / folder).glob("*.parquet")):
                try:
                    names = set(pq.read_schema(path).names)
                except Exception:  # unreadable: load_runs names it
                    continue
                if not set(required) <= names:
                    foreign.append(path)
        return foreign


def _read(path: Path, unreadable: list[str] | None) -> pd.DataFrame | None:
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ...
        reason = (str(error).splitlines() or [""])[0].replace(f"'{path}'", "it")
        reason = reason if len(reason) <= 160 else reason[:159] + "…"
        text = f"{path} ({type(error).__name__}: {reason})"
        if unreadable is None:
            raise UserError(f"cannot read results file {text}; {REPAIR}") from None
        unreadable.append(text)
        return None


#: How to repair an unreadable results file (part of the error messages).
REPAIR = ("run the same `ml2bench run` command again to recompute that run (it replaces "
          "the file), or delete the file")


def _concat(paths: list[Path], unreadable: list[str] | None,
            required: list[str]) -> pd.DataFrame:
    """The readable files of ``paths`` that have the ``required`` columns, concatenated."""
    import pandas as pd

    frames = [_read(p, unreadable) for p in paths]
    frames = [f for f in frames if f is not None and len(f) and set(required) <= set(f.columns)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _torch_bytes(state: dict) -> bytes:
    """What ``torch.save(state)`` writes, as bytes."""
    import torch  # not at module level: reading results needs no torch
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
