"""``ml2bench reproduce M3 --scale quick`` runs, regenerates the committed numbers
bit-for-bit on CPU (cycles and work units against n) and gives its verdict."""

import json
import shutil
from pathlib import Path

from ml2bench.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_reproduce_m3_quick_reports_cycles_against_n(tmp_path, capsys):
    paper = tmp_path / "paper"
    paper.mkdir()
    shutil.copy(ROOT / "paper" / "claims.toml", paper / "claims.toml")
    status = main(["reproduce", "M3", "--scale", "quick", "--out", str(tmp_path / "runs"),
                   "--paper", str(paper), "--no-progress"])
    assert status == 0
    assert "M3: reproduced" in capsys.readouterr().out
    ours = json.loads((paper / "results" / "M3.quick.json").read_text())
    committed = json.loads((ROOT / "paper" / "results" / "M3.quick.json").read_text())
    assert ours["values"] == committed["values"]
    cycles = ours["values"]["cycles"]
    assert set(cycles["mmg"]) == {"63", "127", "255", "511", "1023"}
    assert max(cycles["mmg"].values()) - min(cycles["mmg"].values()) <= 3
    assert cycles["pgd"]["1023"] is None  # the single-level baseline does not get there
    assert (paper / "figures" / "M3.quick.png").stat().st_size > 10_000
