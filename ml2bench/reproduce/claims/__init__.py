"""Our value of each kind of claim: pure functions of the runs' results rows.

Every kind's ``compute(claim, runs, scale)`` returns an :class:`Outcome`: the numbers
(``values``, JSON-able, deterministic: work units and step counts, never wall time
unless the claim is about time), the one-line ``ours``, and the verdict with its reason,
decided by the rule and the tolerance the manifest states.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """A claim's evaluation: ``values`` (numbers), ``ours`` (one line), ``verdict``
    and ``reason`` (one line), ``series`` (curves for the figure, not stored)."""

    values: dict
    ours: str
    verdict: str
    reason: str
    series: dict = field(default_factory=dict)


def compute(claim, runs, scale: str) -> Outcome:
    """The :class:`Outcome` of ``claim`` from its ``runs`` at ``scale`` (by its kind).

    Parameters
    ----------
    claim : ml2bench.reproduce.manifest.Claim
        The claim (its analysis, tolerance and published values).
    runs : list of ml2bench.reproduce.runs.Run
        Its runs with their rows.
    scale : str
        ``quick`` or ``full`` (a stand-in scale caps the verdict at ``partly``).

    Returns
    -------
    Outcome
    """
    from ml2bench.reproduce.claims import accuracy, mesh, pinn, schedule, speedup
    kinds = {"mesh_independence": mesh.compute, "pinn_schwarz": pinn.compute,
             "accuracy_parity": accuracy.compute, "speedup": speedup.compute,
             "fixed_schedule": schedule.compute}
    outcome = kinds[claim.kind](claim, runs)
    return stand_in(outcome, claim.scales[scale].stand_in)


def stand_in(outcome: Outcome, note: str) -> Outcome:
    """A ``reproduced`` verdict on a stand-in configuration becomes ``partly``: the
    paper's setting was not run (``note`` says what stood in for it)."""
    if note and outcome.verdict == "reproduced":
        outcome.verdict = "partly"
        outcome.reason = f"{outcome.reason}; but only on a stand-in: {note}"
    elif note:
        outcome.reason = f"{outcome.reason} (stand-in: {note})"
    return outcome
