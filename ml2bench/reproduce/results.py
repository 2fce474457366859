"""A claim's result: ``paper/results/<ID>.<scale>.json`` and the delimited block of the
manifest.

The manifest stays hand-written: :func:`update_manifest` rewrites only the block
between ``# >>> result <ID>`` and ``# <<< result <ID>`` of that claim (inserted at the
end of the claim's section the first time) and leaves every other byte of the file as
it was. The block holds one flat table per scale, ``[claim.result.<scale>]``, written
by :func:`format_table` (strings, numbers and booleans only).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ml2bench.errors import UserError
from ml2bench.files import atomic_save

#: The keys of a result that the manifest block and ``claims.md`` carry.
SUMMARY_KEYS = ("verdict", "reason", "ours", "scale", "date", "machine", "command")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def begin_marker(claim_id: str) -> str:
    """The line that opens the result block of ``claim_id``."""
    return f"# >>> result {claim_id} (written by `ml2bench reproduce`; edits here are overwritten)"


def end_marker(claim_id: str) -> str:
    """The line that closes the result block of ``claim_id``."""
    return f"# <<< result {claim_id}"


def format_value(value) -> str:
    """A TOML literal for a string, boolean, integer or float (``nan``/``inf`` too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"a flat TOML table holds strings and numbers, not {type(value).__name__}")


def format_table(header: str, values: dict) -> str:
    """``[header]`` and one ``key = value`` line per entry (a flat table)."""
    lines = [f"[{header}]"]
    for key, value in values.items():
        name = key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)
        lines.append(f"{name} = {format_value(value)}")
    return "\n".join(lines) + "\n"


def result_block(claim_id: str, results: dict[str, dict]) -> str:
    """The delimited block of ``claim_id`` with one table per scale of ``results``."""
    tables = "\n".join(format_table(f"claim.result.{scale}", values)
                       for scale, values in sorted(results.items()))
    return f"{begin_marker(claim_id)}\n{tables}{end_marker(claim_id)}\n"


def _section_end(lines: list[str], claim_id: str) -> int:
    """Index of the line before which the block of ``claim_id`` is inserted: the next
    ``[[claim]]`` after the claim's ``id = "..."`` line (before the comments and blank
    lines that lead up to it), else the end of the file."""
    id_line = re.compile(r'^\s*id\s*=\s*["\']' + re.escape(claim_id) + r'["\']\s*(#.*)?$')
    start = next((i for i, line in enumerate(lines) if id_line.match(line)), None)
    if start is None:
        raise UserError(f"claims manifest: no line id = \"{claim_id}\" to put its result after")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() == "[[claim]]"), len(lines))
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip()
                               .startswith("#")):
        end -= 1
    return end


def update_manifest_text(text: str, claim_id: str, results: dict[str, dict]) -> str:
    """``text`` with the result block of ``claim_id`` replaced (or inserted at the end
    of the claim's section); every other byte unchanged."""
    block = result_block(claim_id, results)
    begin, end = begin_marker(claim_id), end_marker(claim_id)
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == begin]
    if starts:
        first = starts[0]
        last = next((i for i in range(first, len(lines)) if lines[i].rstrip("\r\n") == end),
                    None)
        if last is None:
            raise UserError(f"claims manifest: the result block of {claim_id} has no end "
                            f"line {end!r}")
        return "".join(lines[:first]) + block + "".join(lines[last + 1:])
    at = _section_end(lines, claim_id)
    before = "".join(lines[:at])
    if before and not before.endswith("\n"):
        before += "\n"
    gap = "" if before.endswith("\n\n") or not before else "\n"
    after = "".join(lines[at:])
    return before + gap + block + ("\n" if after else "") + after


def update_manifest(path: str | Path, claim_id: str, results: dict[str, dict]) -> None:
    """Rewrite the result block of ``claim_id`` in the manifest file (atomically)."""
    path = Path(path)
    text = update_manifest_text(path.read_text(encoding="utf-8"), claim_id, results)
    atomic_save(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def result_path(paper: str | Path, claim_id: str, scale: str) -> Path:
    """``<paper>/results/<ID>.<scale>.json``."""
    return Path(paper) / "results" / f"{claim_id}.{scale}.json"


def write_result(paper: str | Path, result: dict) -> Path:
    """Write ``result`` (with ``id`` and ``scale``) as indented JSON; its path."""
    path = result_path(paper, result["id"], result["scale"])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=True) + "\n"
    atomic_save(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def read_result(paper: str | Path, claim_id: str, scale: str) -> dict | None:
    """The stored result of a claim at a scale, or None if there is none."""
    path = result_path(paper, claim_id, scale)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def summary(result: dict) -> dict:
    """The flat part of a result that goes into the manifest block."""
    return {key: result[key] for key in SUMMARY_KEYS if key in result}
