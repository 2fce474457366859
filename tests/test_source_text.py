"""Source and documentation files hold text only: no control characters (a ``\\b`` or
``\\t`` written through a non-raw string into a LaTeX formula, e.g. ``\\begin`` or
``\\tfrac``, turns into a backspace or a tab and breaks the rendered formula)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTROL = re.compile(r"[\x00-\x0c\x0e-\x1f\x7f]")  # tabs too: none are indentation here
FOLDERS = ("ml2bench", "tests", "docs", "paper", "benchmarks", "tools", "examples")


def test_no_control_characters_in_sources():
    bad = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".md", ".toml", ".rst", ".txt") or "_build" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if CONTROL.search(line):
                    bad.append(f"{path.relative_to(ROOT)}:{number}")
    assert not bad, bad
