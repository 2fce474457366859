"""The manifest's result block: written in place, the rest of the file byte-for-byte."""

import math
import tomllib
from pathlib import Path

import pytest

from ml2bench.reproduce.results import begin_marker, end_marker, format_table, \
    update_manifest, update_manifest_text

ROOT = Path(__file__).resolve().parents[2]

TEXT = '''# header comment
[[claim]]
id = "A"   # first
title = "a"
[claim.quick]
x = 1

# comment before B
[[claim]]
id = "B"
title = "b"
'''


def strip_block(text: str, claim_id: str) -> str:
    lines = text.splitlines(keepends=True)
    first = lines.index(begin_marker(claim_id) + "\n")
    last = lines.index(end_marker(claim_id) + "\n")
    return "".join(lines[:first] + lines[last + 1:])


def is_insertion(original: str, updated: str) -> bool:
    """``updated`` is ``original`` with one contiguous piece of text inserted."""
    i = 0
    while i < len(original) and original[i] == updated[i]:
        i += 1
    return updated[len(updated) - (len(original) - i):] == original[i:]


def test_formatter_round_trips_through_tomllib():
    values = {"verdict": "not reproduced", "reason": 'a "quoted" — ünicode\nline',
              "n": 7, "x": 0.1 + 0.2, "tiny": 1e-300, "big": 1e300, "flag": True,
              "key with space": "v"}
    parsed = tomllib.loads(format_table("t", values))["t"]
    assert parsed == values
    assert math.isnan(tomllib.loads(format_table("t", {"v": math.nan}))["t"]["v"])


@pytest.mark.parametrize("claim_id", ["A", "B"])
def test_insert_then_replace_keeps_every_other_byte(claim_id):
    once = update_manifest_text(TEXT, claim_id, {"quick": {"verdict": "partly", "v": 1.5}})
    data = tomllib.loads(once)
    entry = next(c for c in data["claim"] if c["id"] == claim_id)
    assert entry["result"]["quick"] == {"verdict": "partly", "v": 1.5}
    assert is_insertion(TEXT, once)
    twice = update_manifest_text(once, claim_id, {"quick": {"verdict": "reproduced"},
                                                  "full": {"verdict": "not run"}})
    assert strip_block(twice, claim_id) == strip_block(once, claim_id)
    entry = next(c for c in tomllib.loads(twice)["claim"] if c["id"] == claim_id)
    assert entry["result"] == {"quick": {"verdict": "reproduced"},
                               "full": {"verdict": "not run"}}
    # the other claim's text is untouched, the comment before B stays before B
    assert twice.index("# comment before B") < twice.index('id = "B"')


def test_update_of_the_committed_manifest_touches_only_its_block(tmp_path):
    original = (ROOT / "paper" / "claims.toml").read_text(encoding="utf-8")
    assert begin_marker("T3") in original  # committed with the quick results
    path = tmp_path / "claims.toml"
    path.write_text(original, encoding="utf-8")
    update_manifest(path, "T3", {"quick": {"verdict": "partly", "reason": "test"}})
    updated = path.read_text(encoding="utf-8")
    assert updated != original
    assert strip_block(updated, "T3") == strip_block(original, "T3")
