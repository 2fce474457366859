"""``ml2bench reproduce M1 --scale quick`` regenerates the committed numbers
bit-for-bit on CPU, its figure, its row of claims.md and its manifest block."""

import json
import shutil
from pathlib import Path

from ml2bench.cli import main
from ml2bench.reproduce.results import begin_marker, end_marker

ROOT = Path(__file__).resolve().parents[2]


def outside_block(text: str, claim_id: str) -> str:
    head, rest = text.split(begin_marker(claim_id))
    return head + rest.split(end_marker(claim_id), 1)[1]


def test_reproduce_m1_quick_regenerates_the_committed_numbers(tmp_path, capsys):
    paper = tmp_path / "paper"
    paper.mkdir()
    shutil.copy(ROOT / "paper" / "claims.toml", paper / "claims.toml")
    status = main(["reproduce", "M1", "--scale", "quick", "--out", str(tmp_path / "runs"),
                   "--paper", str(paper), "--no-progress"])
    assert status == 0
    assert "M1: reproduced" in capsys.readouterr().out
    committed = json.loads((ROOT / "paper" / "results" / "M1.quick.json").read_text())
    ours = json.loads((paper / "results" / "M1.quick.json").read_text())
    assert ours["values"] == committed["values"]  # bit-for-bit: counts and work units
    assert (ours["verdict"], ours["reason"], ours["ours"]) == \
        (committed["verdict"], committed["reason"], committed["ours"])
    assert (paper / "figures" / "M1.quick.png").stat().st_size > 10_000
    table = (paper / "claims.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| **M1**"))
    assert "**reproduced**" in row and "| quick |" in row
    original = (ROOT / "paper" / "claims.toml").read_text()
    assert outside_block((paper / "claims.toml").read_text(), "M1") == \
        outside_block(original, "M1")
    # a second run is cached: nothing recomputed, the same numbers
    assert main(["reproduce", "M1", "--out", str(tmp_path / "runs"), "--paper", str(paper),
                 "--no-progress"]) == 0
    again = json.loads((paper / "results" / "M1.quick.json").read_text())
    assert again["values"] == committed["values"]
