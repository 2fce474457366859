"""Mutation testing of the numerical core with cosmic-ray (``make mutation``).

Each mutant (one small change of the source: an operator swapped, a constant or a
comparison changed, a loop skipped...) is applied to a *scratch copy* of the repository
(``.mutation/tree-<package>``; the working tree is never touched, a killed run leaves nothing
mutated) and the tests that exercise its package run against it (``pytest -x``, the
default markers). A mutant the tests fail on is *killed*; one they pass is *surviving*.
Score of a package = killed / (killed + surviving − listed equivalent mutants).

* ``--packages accounting solvers`` — which packages (default: all of ``PACKAGES``);
* ``--max-mutants N`` — a deterministic sample of N mutants per package: the mutants
  ordered by the SHA-256 of ``path:operator:occurrence`` (stable across machines and
  runs while the source is unchanged), the first N taken;
* resuming — results live in one cosmic-ray work database per package
  (``.mutation/<package>-<source hash>.sqlite``); a rerun skips mutants already tested.
  A changed source gives a new hash, hence a fresh database. ``--rerun-survivors``
  tests the surviving mutants again, and nothing else (after tests were added);
* ``--report results/mutation.md`` — the committed report: scores, survivors (with
  their diff) and the equivalent mutants of ``tools/mutation_equivalent.toml`` with
  their reasons. The report describes the mutants tested so far, sample or not.

Why cosmic-ray (not mutmut 3): it mutates the source file itself and runs an arbitrary
test command, so the tests see the library exactly as it is imported normally (mutmut 3
rewrites every function into a trampoline, which changes signatures and ``inspect``
results that the docstring/contract tests read, and needs a full instrumented test run
first); its work database makes runs resumable for free and its Python API lets this
script take a deterministic sample and map each package to the tests that exercise it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"

#: Package → the test files/folders that exercise it (run per mutant, ``pytest -x``).
PACKAGES: dict[str, list[str]] = {
    "accounting": ["tests/accounting", "tests/runner/test_budget.py"],
    # the direct checks and the fingerprints first: with -x a killed mutant stops early
    "solvers": ["tests/solvers/test_coarse_corrections.py",
                "tests/solvers/test_solver_versions.py", "tests/solvers"],
    "hierarchy": ["tests/hierarchy", "tests/solvers/test_coarse_corrections.py"],
    "decomposition": ["tests/decomposition", "tests/solvers/test_apts.py",
                      "tests/solvers/test_schwarz_lbfgs.py", "tests/solvers/test_dd_one_step.py"],
    "flatness": ["tests/flatness"],
}

#: Operators never used: NoOp does not change the code; the variable operators need
#: hand-given cause/effect variables.
SKIPPED_OPERATORS = ("core/NoOp", "core/VariableReplacer", "core/VariableInserter")

EQUIVALENT_FILE = ROOT / "tools" / "mutation_equivalent.toml"


def sources(package: str, root: Path = ROOT) -> list[Path]:
    """The package's modules (relative paths, sorted)."""
    return sorted(p.relative_to(root) for p in (root / "ml2bench" / package).rglob("*.py"))


def source_hash(package: str) -> str:
    digest = hashlib.sha256()
    for path in sources(package):
        digest.update(str(path).encode() + b"\0" + (ROOT / path).read_bytes())
    return digest.hexdigest()[:12]


def sample_key(path: str, operator: str, occurrence: int) -> str:
    """The deterministic order of the sample."""
    return hashlib.sha256(f"{path}:{operator}:{occurrence}".encode()).hexdigest()


def make_scratch(package: str) -> Path:
    """A fresh copy of the tracked and untracked-not-ignored files of the repository
    (one per package, so that runs of different packages may go on side by side)."""
    tree = WORK / f"tree-{package}"
    if tree.exists():
        shutil.rmtree(tree)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = tree / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return tree


def operators() -> list[str]:
    import cosmic_ray.plugins
    return [n for n in cosmic_ray.plugins.operator_names() if n not in SKIPPED_OPERATORS]


def db_path(package: str) -> Path:
    """The package's work database for its current source."""
    return WORK / f"{package}-{source_hash(package)}.sqlite"


def open_db(package: str):
    """The package's work database (created with every mutant on first use)."""
    from cosmic_ray.commands.init import init
    from cosmic_ray.work_db import WorkDB, use_db
    WORK.mkdir(exist_ok=True)
    path = db_path(package)
    fresh = not path.exists()
    db = use_db(str(path), WorkDB.Mode.create).__enter__()
    if fresh:
        cfg = {name: () for name in ()}  # no operator takes arguments here
        with _cwd(ROOT):
            init([Path(p) for p in sources(package)], db, cfg)
        skipped = [item.job_id for item in db.work_items
                   if item.mutations[0].operator_name in SKIPPED_OPERATORS]
        _delete(db, skipped)
    return db


def _delete(db, job_ids):
    if not job_ids:
        return
    from cosmic_ray.work_db import MutationSpecStorage, WorkItemStorage
    with db._session_maker.begin() as session:
        session.query(MutationSpecStorage).filter(
            MutationSpecStorage.job_id.in_(job_ids)).delete(synchronize_session=False)
        session.query(WorkItemStorage).filter(
            WorkItemStorage.job_id.in_(job_ids)).delete(synchronize_session=False)


class _cwd:
    def __init__(self, path):
        self.path, self.old = path, None

    def __enter__(self):
        self.old = os.getcwd()
        os.chdir(self.path)

    def __exit__(self, *exc):
        os.chdir(self.old)


def key_of(item) -> str:
    m = item.mutations[0]
    return f"{m.module_path}:{m.operator_name}:{m.occurrence}"


def sampled(db, max_mutants: int | None) -> list:
    items = sorted(db.work_items, key=lambda it: sample_key(
        str(it.mutations[0].module_path), it.mutations[0].operator_name,
        it.mutations[0].occurrence))
    return items if max_mutants is None else items[:max_mutants]


def test_command(package: str) -> str:
    tests = " ".join(PACKAGES[package])
    return (f"{sys.executable} -m pytest -x -q -p no:cacheprovider -p no:randomly "
            f"--no-header {tests}")


def run_package(package: str, max_mutants: int | None, rerun_survivors: bool,
                tree: Path, time_limit: float | None) -> None:
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.testing import run_tests
    from cosmic_ray.work_item import TestOutcome
    db = open_db(package)
    results = dict(db.results)
    if rerun_survivors:  # only the survivors (of the sample, if one is given)
        todo = [it for it in sampled(db, max_mutants) if it.job_id in results
                and results[it.job_id].test_outcome == TestOutcome.SURVIVED]
    else:
        todo = [it for it in sampled(db, max_mutants) if it.job_id not in results]
    print(f"[{package}] {db.num_work_items} mutants, sample {len(sampled(db, max_mutants))}, "
          f"to test now {len(todo)}", flush=True)
    if not todo:
        return
    command = test_command(package)
    with _cwd(tree):
        start = time.monotonic()
        outcome, output = run_tests(command, 1800)
        baseline = time.monotonic() - start
        if outcome != TestOutcome.SURVIVED:  # the unmutated code must pass
            raise SystemExit(f"[{package}] the tests fail on the unmutated code:\n{output[-3000:]}")
        timeout = max(60.0, 4.0 * baseline)
        print(f"[{package}] baseline {baseline:.0f} s; timeout per mutant {timeout:.0f} s", flush=True)
        began = time.monotonic()
        for number, item in enumerate(todo, 1):
            if time_limit is not None and time.monotonic() - began > time_limit:
                print(f"[{package}] time limit reached; rerun to resume", flush=True)
                break
            result = mutate_and_test(item.mutations, command, timeout)
            db.set_result(item.job_id, result)
            print(f"[{package}] {number}/{len(todo)} {key_of(item)}: "
                  f"{result.test_outcome or result.worker_outcome}", flush=True)


def equivalents() -> dict[str, str]:
    if not EQUIVALENT_FILE.exists():
        return {}
    data = tomllib.loads(EQUIVALENT_FILE.read_text())
    return {f"{e['module']}:{e['operator']}:{e['occurrence']}": e["reason"]
            for e in data.get("mutant", [])}


def summarise(package: str) -> dict:
    from cosmic_ray.work_item import TestOutcome
    db = open_db(package)
    results = dict(db.results)
    equal = equivalents()
    rows = {"killed": [], "survived": [], "equivalent": [], "incompetent": []}
    for item in sampled(db, None):  # every tested mutant (samples are prefixes of one order)
        result = results.get(item.job_id)
        if result is None or result.test_outcome is None:
            continue
        key = key_of(item)
        if result.test_outcome == TestOutcome.KILLED:
            rows["killed"].append((key, result))
        elif result.test_outcome == TestOutcome.INCOMPETENT:
            rows["incompetent"].append((key, result))
        elif key in equal:
            rows["equivalent"].append((key, result, equal[key]))
        else:
            rows["survived"].append((key, result))
    killed, survived = len(rows["killed"]), len(rows["survived"])
    score = killed / (killed + survived) if killed + survived else float("nan")
    return {"package": package, "total": db.num_work_items, "rows": rows, "score": score,
            "tested": killed + survived + len(rows["equivalent"]) + len(rows["incompetent"])}


def report(summaries: list[dict], path: Path, note: str) -> None:
    lines = ["# Mutation testing of the numerical core", "",
             "Written by `python tools/mutation.py --report` (`make mutation`); see docs/extending/testing.md,",
             "section *Mutation testing* for the tool, the package → tests mapping and how to",
             "resume. Score = killed / (killed + surviving), equivalent mutants excluded.", "",
             note, "",
             "| package | mutants | tested | killed | surviving | equivalent | incompetent | score |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        r = s["rows"]
        lines.append(f"| {s['package']} | {s['total']} | {s['tested']} | {len(r['killed'])} | "
                     f"{len(r['survived'])} | {len(r['equivalent'])} | {len(r['incompetent'])} | "
                     f"{100 * s['score']:.1f} % |")
    for s in summaries:
        lines += ["", f"## {s['package']}: surviving mutants", ""]
        if not s["rows"]["survived"]:
            lines.append("None.")
        for key, result in s["rows"]["survived"]:
            lines += [f"- `{key}`", "", "  ```diff"]
            lines += ["  " + l for l in (result.diff or "").splitlines()[2:]]
            lines += ["  ```"]
        lines += ["", f"## {s['package']}: equivalent mutants", ""]
        if not s["rows"]["equivalent"]:
            lines.append("None found in the sample.")
        for key, result, reason in s["rows"]["equivalent"]:
            lines.append(f"- `{key}` — {reason}")
    path.write_text("\n".join(lines) + "\n")
    print(f"report written to {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", nargs="+", choices=sorted(PACKAGES), default=list(PACKAGES))
    parser.add_argument("--max-mutants", type=int, default=None,
                        help="deterministic sample of N mutants per package (default: all)")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="test only the surviving mutants again (after adding tests)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="stop starting new mutants after this many seconds per package")
    parser.add_argument("--report", type=Path, default=None, help="write the markdown report")
    parser.add_argument("--report-only", action="store_true", help="summarise, test nothing")
    parser.add_argument("--note", default="", help="a line for the report (what was run, where)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not args.report_only:
        for package in args.packages:
            tree = make_scratch(package)
            os.environ["PYTHONPATH"] = str(tree)
            run_package(package, args.max_mutants, args.rerun_survivors, tree, args.time_limit)
    # the report covers every package tested so far, whichever this run narrowed to
    shown = [p for p in PACKAGES if p in args.packages or db_path(p).exists()]
    summaries = [summarise(p) for p in shown]
    for s in summaries:
        r = s["rows"]
        print(f"{s['package']:14s} tested {s['tested']:4d} of {s['total']:5d}  killed "
              f"{len(r['killed']):4d}  surviving {len(r['survived']):3d}  equivalent "
              f"{len(r['equivalent']):3d}  score {100 * s['score']:5.1f} %")
    if args.report is not None:
        report(summaries, args.report, args.note)


if __name__ == "__main__":
    main()
