"""Run specifications and their identity (config hash, run id)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

#: The values of ``--precision`` (:attr:`RunSpec.precision`).
PRECISIONS = ("fp64", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class RunSpec:
    """One run: problem + params, solver + params, seed, budget and device.

    ``budget`` is in work units (None: the problem's default); ``max_time`` caps the
    solver's wall time in seconds; ``checkpoint_every`` spaces evaluations in WU;
    ``metrics`` names end-of-run flatness metrics (empty: none). ``threads``: the
    intra-op torch threads the run executes with (None: the house policy of
    :mod:`ml2bench.runner.threads`, fixed by :func:`~ml2bench.runner.prepare.prepare`
    before the run starts); part of the run's identity, since results depend on it.
    ``precision``: ``None`` (native: the problem's dtype, no autocast), ``fp32``/``fp64``
    (the problem's ``dtype`` parameter: :func:`~ml2bench.runner.prepare.prepare` turns them
    into ``dtype=float32/float64`` and ``None``, so they are the same runs as
    ``problem[dtype=...]``) or ``bf16``/``fp16`` (float32 parameters, autocast evaluations,
    :mod:`ml2bench.accounting.precision`). It enters the identity only when not ``None``,
    so runs without it keep their config hashes.
    ``numerics``: ``portable`` or ``native`` CPU kernels (:mod:`ml2bench.numerics`; None:
    the process's mode, fixed by :func:`~ml2bench.runner.prepare.prepare`; ``native`` on
    a GPU, where the mode pins nothing); part of the identity, since results depend on it.
    ``max_epochs``: a second budget in passes over the training data (the solver's
    sampler's ``epoch``; None: none), for protocols that fix the epochs (e.g. the APTS_D
    papers' 100 epochs); it enters the identity only when set.
    """

    problem: str
    solver: str
    seed: int = 0
    budget: float | None = None
    device: str = "cpu"
    max_time: float | None = None
    checkpoint_every: float | None = None
    stop_at_target: bool = True
    metrics: tuple[str, ...] = field(default_factory=tuple)
    threads: int | None = None
    precision: str | None = None
    numerics: str | None = None
    max_epochs: float | None = None

    def identity(self, problem_version: int, problem_params: dict, solver_params: dict) -> dict:
        """Everything that determines the numbers of the run (hashed into ``config_hash``).

        :func:`ml2bench.runner.prepare.prepare` passes canonical values (resolved problem
        parameters without ``quick``, hyperparameters with defaults) and replaces the
        labels, budget and device by their canonical forms, so that equal
        configurations spelled differently hash equally.

        Checkpoint (dynamics) metrics add columns to the rows and belong to the identity;
        end-of-run metrics do not change the run: adding them to a finished run computes
        them from its saved final model, without retraining.
        """
        from ml2bench.flatness.names import dynamics_names

        data = asdict(self)
        data["metrics"] = list(dynamics_names(self.metrics))
        if data["precision"] is None:  # native: the identity of runs before the option
            del data["precision"]
        if data["max_epochs"] is None:  # the identity of runs before the option
            del data["max_epochs"]
        data.update(problem_version=problem_version, problem_params=problem_params,
                    solver_params=solver_params)
        return data


def config_hash(identity: dict) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of a run's identity."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: Longest run id: the files named after it (``.<id>.parquet.<pid>@<host>.tmp``,
#: ``<id>.lock``, checkpoints) must stay under the 255-byte name limit of common file
#: systems.
MAX_RUN_ID = 160


def run_id(problem_label: str, solver_label: str, seed: int, digest: str) -> str:
    """A file-name-safe id: ``problem__solver__s<seed>__<hash>``.

    The labels are the canonical ones (:func:`ml2bench.runner.prepare.prepare`), so that
    equal configurations spelled differently (``sgd`` and ``sgd[lr=0.1]``) share one id.
    An id longer than :data:`MAX_RUN_ID` characters (labels with many parameters) keeps
    the head of each label, shares the length between them, and stays unique by the hash
    of the whole identity; shorter ids are unchanged.
    """
    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")
    problem, solver, tail = slug(problem_label), slug(solver_label), f"__s{seed}__{digest[:10]}"
    room = MAX_RUN_ID - len(tail) - 2
    if len(problem) + len(solver) > room:
        keep = max(room // 2, room - len(solver))
        problem = problem[:keep].rstrip("_")
        solver = solver[:room - len(problem)].rstrip("_")
    return f"{problem}__{solver}{tail}"
