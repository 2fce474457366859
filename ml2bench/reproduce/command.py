"""``ml2bench reproduce``: run what the claims need, judge them, draw and tabulate.

For each selected claim at ``--scale``: resolve its configuration, run it through the
ordinary runner into ``--out`` (default ``runs/reproduce/<scale>``; finished runs are
skipped, interrupted ones resume), compute our value and the verdict, draw the figure
into ``<paper>/figures/<ID>.<scale>.png``, write ``<paper>/results/<ID>.<scale>.json``
and the claim's result block of ``<paper>/claims.toml``; finally regenerate
``<paper>/claims.md`` from the manifest and every stored result.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from ml2bench.errors import UserError
from ml2bench.reproduce.manifest import SCALES, Claim, load_manifest, select


def default_paper() -> Path:
    """The ``paper/`` folder beside the package (a checkout), else ``./paper``."""
    beside = Path(__file__).resolve().parents[2] / "paper"
    return beside if (beside / "claims.toml").is_file() else Path("paper")


def list_claims(claims: list[Claim]) -> str:
    """``reproduce --list``: per claim its id, title, citation, source, protocol and
    published values (one indented line each)."""
    lines = []
    for claim in claims:
        lines.append(f"{claim.id:<3} {claim.title}")
        lines.append(f"    {claim.citation}; {claim.location} [{claim.source}]")
        lines.append(f"    protocol: {claim.protocol}" +
                     (f" — {claim.protocol_text}" if claim.protocol_text else ""))
        for item in claim.published:
            lines.append(f"    published {item.quantity}: {item.value}")
        for scale in SCALES:
            config = claim.scales[scale]
            what = config.study or f"{len(config.problems)} problem(s) × " \
                f"{len(config.solvers)} solver(s) × {len(config.seeds)} seed(s)"
            extra = f"; stand-in: {config.stand_in}" if config.stand_in else ""
            lines.append(f"    {scale}: {what}{extra}")
    return "\n".join(lines)


def machine(runs) -> tuple[str, dict]:
    """A one-line description of where the runs ran, and its fields (from the results'
    environment columns and this machine's core count)."""
    from ml2bench.report.environment import KEYS
    rows = next((r.rows for r in runs if r.rows is not None), None)
    env = {}
    if rows is not None:
        env = {key: (str(rows[key].iloc[0]) if key in rows else "—") for key in KEYS}
    else:
        import socket

        import torch

        import ml2bench
        from ml2bench.runner.environment import git_commit
        env = {"ml2bench_version": ml2bench.__version__, "git_commit": git_commit(),
               "torch_version": torch.__version__, "device": "cpu", "device_name": "cpu",
               "num_threads": str(torch.get_num_threads()), "hostname": socket.gethostname()}
    env["cpu_count"] = str(os.cpu_count())
    if rows is not None:  # what decides the bits on a CPU
        env.update({key: str(rows[key].iloc[0]) for key in ("numerics", "cpu_model", "cpu_isa")
                    if key in rows})
    numerics = (f", {env['numerics']} numerics on {env.get('cpu_model', '—')} "
                f"({env.get('cpu_isa', '—')})" if "numerics" in env else "")
    text = (f"{env['device_name']}, {env['cpu_count']} cores, {env['num_threads']} "
            f"thread(s)/run{numerics}, torch {env['torch_version']}, ml2bench "
            f"{env['ml2bench_version']} @ {env['git_commit'][:8]}, host {env['hostname']}")
    return text, env


def reproduce_claim(claim: Claim, scale: str, out: Path, paper: Path, jobs: int,
                    executor, command: str, progress: bool, device: str = "cpu") -> dict:
    """Run, judge, draw and store one claim; returns its result dict."""
    from ml2bench.reproduce import figures
    from ml2bench.reproduce.claims import compute, stand_in
    from ml2bench.reproduce.manifest import check_runnable
    from ml2bench.reproduce.results import summary, update_manifest, write_result

    start = time.perf_counter()
    runs = []
    if claim.kind == "external":
        from ml2bench.reproduce.claims import external
        outcome = stand_in(external.compute(claim, scale, out / claim.id, jobs=jobs),
                           claim.scales[scale].stand_in)
    else:
        check_runnable(claim, scale)
        from ml2bench.reproduce.runs import execute
        runs, report = execute(claim, scale, out, jobs=jobs, executor=executor,
                               progress=progress, device=device)
        if report.failed or report.unfinished:
            print(f"{claim.id}: {len(report.failed)} failed, {len(report.unfinished)} "
                  "unfinished run(s); judged on the finished ones", file=sys.stderr)
        outcome = compute(claim, runs, scale)
    text, env = machine(runs)
    result = {"id": claim.id, "scale": scale, "verdict": outcome.verdict,
              "reason": outcome.reason, "ours": outcome.ours,
              "date": dt.date.today().isoformat(), "machine": text, "command": command,
              "environment": env, "seconds": round(time.perf_counter() - start, 1),
              "values": outcome.values}
    figure = figures.draw(claim, runs, outcome, scale,
                          paper / "figures" / f"{claim.id}.{scale}.png")
    if figure is not None:
        result["figure"] = f"figures/{figure.name}"
    write_result(paper, result)
    blocks = {s: dict(v) for s, v in claim.result.items() if isinstance(v, dict)}
    blocks[scale] = summary(result)
    update_manifest(paper / "claims.toml", claim.id, blocks)
    return result


def run_reproduce(args, executor=None) -> int:
    """The ``reproduce`` sub-command with the parsed ``args`` and the runs' ``executor``
    (:func:`ml2bench.cli.executor_args.executor_from_args`; None: the pool); exit 0."""
    paper = Path(args.paper) if args.paper else default_paper()
    claims = load_manifest(paper / "claims.toml")
    chosen = select(claims, args.claims)
    if args.list:
        print(list_claims(chosen))
        return 0
    if args.jobs < 1:
        raise UserError(f"--jobs must be a positive integer, got {args.jobs}")
    out = Path(args.out or f"runs/reproduce/{args.scale}")
    command = "ml2bench reproduce " + " ".join(
        [*(c.id for c in chosen)] if args.claims else []) + \
        f"{' ' if args.claims else ''}--scale {args.scale}"
    total = time.perf_counter()
    for claim in chosen:
        result = reproduce_claim(claim, args.scale, out, paper, args.jobs, executor,
                                 command, not args.no_progress, args.device)
        print(f"{claim.id}: {result['verdict']} — {result['reason']} "
              f"[{result['seconds']:.0f} s]")
    from ml2bench.reproduce import markdown
    path = markdown.write(load_manifest(paper / "claims.toml"), paper)
    print(f"{len(chosen)} claim(s) in {time.perf_counter() - total:.0f} s; table: {path}; "
          f"runs in {out}")
    return 0
