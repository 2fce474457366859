"""Results never silently stale: every built-in solver declares a ``version`` (part of
each run's identity), and its first steps on a tiny problem are fingerprinted against a
committed value per version, computed in the portable numerics
(:func:`ml2bench.testing.solver_fingerprint`). A change of a solver's
numbers without a version bump fails here.

Regenerate after bumping a version (``version`` of the solver class):
``OMP_NUM_THREADS=1 .venv/bin/python tests/solvers/test_solver_versions.py --write``.
"""

import json
import sys
from pathlib import Path

if __name__ == "__main__":  # the script mode: portable numerics before torch is imported
    from ml2bench import numerics
    numerics.configure(numerics.PORTABLE)

import pytest  # noqa: E402

from ml2bench.solvers.registry import available_solvers, make_solver  # noqa: E402
from ml2bench.testing import FINGERPRINT_STEPS, fingerprint_problem, solver_fingerprint  # noqa: E402,E501

COMMITTED = Path(__file__).with_name("solver_fingerprints.json")
BUILT_IN = sorted(available_solvers())
HOW = "regenerate with `OMP_NUM_THREADS=1 .venv/bin/python tests/solvers/test_solver_versions.py --write`"


def committed() -> dict:
    return json.loads(COMMITTED.read_text())


def test_every_built_in_solver_has_a_committed_fingerprint():
    missing = sorted(set(BUILT_IN) - set(committed()["solvers"]))
    assert not missing, f"no committed fingerprint for {missing}: {HOW}"


@pytest.mark.parametrize("name", BUILT_IN)
def test_numbers_change_only_with_the_version(name):
    entry = committed()["solvers"][name]
    version = type(make_solver(name)).version
    assert entry["version"] == version, (
        f"{name} is version {version} but the committed fingerprint is of version "
        f"{entry['version']}: {HOW}")
    assert entry["sha256"] is not None, f"{name} supports none of the fingerprint problems"
    assert solver_fingerprint(name, entry["problem"]) == entry["sha256"], (
        f"{name}'s first {FINGERPRINT_STEPS} steps on {entry['problem']} changed "
        f"without a version bump: bump {name}'s `version` (stored results of the old "
        f"numbers would otherwise pass as current) and {HOW}")


def test_a_fingerprint_sees_a_one_bit_change():
    """The fingerprint is of the numbers: the same solver with a learning rate 0.1 %
    larger (a change in the last digits of its float32 steps) fingerprints differently."""
    assert solver_fingerprint("sgd") != solver_fingerprint("sgd[lr=0.1001]")


def write() -> None:
    import torch

    torch.set_num_threads(1)
    solvers = {}
    for name in BUILT_IN:
        problem = fingerprint_problem(name)
        solvers[name] = {"version": type(make_solver(name)).version, "problem": problem,
                         "sha256": solver_fingerprint(name, problem)}
    COMMITTED.write_text(json.dumps({"steps": FINGERPRINT_STEPS, "numerics": "portable",
                                     "threads": 1, "solvers": solvers}, indent=2) + "\n")
    print(f"wrote {COMMITTED}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: test_solver_versions.py --write")
    write()
