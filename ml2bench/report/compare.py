"""Compare a leaderboard with a committed reference in every number but times.

``make quick`` ends with ``ml2bench table --compare results/quick_leaderboard.md``: in
the portable numerics (:mod:`ml2bench.numerics`) the quick suite's numbers are the same
bits on every x86-64-v3 machine, so every cell must match except the wall-clock ones,
which depend on the machine and its load.
"""

from __future__ import annotations

#: A column whose header contains one of these words holds wall-clock times.
TIME_WORDS = ("time",)


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """The pipe tables of a Markdown text as ``(header, rows)`` (cells stripped)."""
    tables, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if _is_row(lines[i]) and i + 1 < len(lines) and _is_separator(lines[i + 1]):
            header, rows, i = _cells(lines[i]), [], i + 2
            while i < len(lines) and _is_row(lines[i]):
                rows.append(_cells(lines[i]))
                i += 1
            tables.append((header, rows))
        else:
            i += 1
    return tables


def _is_row(line: str) -> bool:
    return line.strip().startswith("|")


def _is_separator(line: str) -> bool:
    return _is_row(line) and set(line.replace("|", "").strip()) <= set("-: ")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def without_times(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """The table without its wall-clock columns (:data:`TIME_WORDS`)."""
    keep = [i for i, name in enumerate(header)
            if not any(word in name.lower() for word in TIME_WORDS)]
    return [header[i] for i in keep], [[row[i] if i < len(row) else "" for i in keep]
                                       for row in rows]


def differences(reference: str, text: str) -> list[str]:
    """Human-readable differences between two leaderboards in every cell but times
    (empty: they agree)."""
    ours, theirs = markdown_tables(text), markdown_tables(reference)
    if len(ours) != len(theirs):
        return [f"{len(ours)} tables against {len(theirs)} in the reference"]
    found = []
    for k, ((h1, r1), (h2, r2)) in enumerate(zip(theirs, ours)):
        (h1, r1), (h2, r2) = without_times(h1, r1), without_times(h2, r2)
        if h1 != h2:
            found.append(f"table {k + 1}: columns {h2} against the reference's {h1}")
            continue
        for row in [r for r in r2 if r not in r1]:
            found.append(f"table {k + 1}: | {' | '.join(row)} |  (not in the reference)")
        for row in [r for r in r1 if r not in r2]:
            found.append(f"table {k + 1}: | {' | '.join(row)} |  (reference only)")
        if not found and r1 != r2:
            found.append(f"table {k + 1}: the same rows in another order")
    return found
