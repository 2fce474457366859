"""The T1 analysis (``kind = "pinn_schwarz"``) on constructed runs: speedups in either
cost unit, the verdict, and the notes that say a comparison is weak or at a plateau."""

from pathlib import Path

import pandas as pd
import pytest

from ml2bench.reproduce.claims import pinn
from ml2bench.reproduce.manifest import load_manifest
from ml2bench.reproduce.runs import Run

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "allen_cahn_pinn[quick=true]"


def _rows(errors, wu_step=10.0, parallel_share=1.0):
    n = len(errors)
    return pd.DataFrame({"step": range(n), "work_units": [wu_step * i for i in range(n)],
                         "work_units_parallel": [wu_step * parallel_share * i for i in range(n)],
                         "test_rel_l2": errors})


def _claim(claim_id="T1"):
    return next(c for c in load_manifest(ROOT / "paper" / "claims.toml") if c.id == claim_id)


def _runs(lbfgs, aspqn, mspqn, share=0.5):
    return [Run(PROBLEM, "lbfgs", "lbfgs", 0, _rows(lbfgs)),
            Run(PROBLEM, "aspqn", "aspqn", 0, _rows(aspqn, parallel_share=share)),
            Run(PROBLEM, "mspqn", "mspqn", 0, _rows(mspqn))]


def test_speedups_in_the_paper_unit_and_serial_beside_it():
    # L-BFGS reaches its final 0.1 at 40 WU; aspqn at 20 serial WU (10 parallel: D = 2),
    # mspqn at 80 WU; L-BFGS still improves late (0.2 at 3/4 of 60 WU = 45 → 0.1).
    runs = _runs([1.0, 0.5, 0.3, 0.2, 0.1, 0.1, 0.1],
                 [1.0, 0.5, 0.1, 0.05, 0.05, 0.05, 0.05],
                 [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.1])
    # make the baseline's late error above its final one: improving at 3/4
    runs[0].rows.loc[4, "test_rel_l2"] = 0.15
    out = pinn.compute(_claim("T1"), runs)
    entry = out.values["allen_cahn_pinn"]
    assert entry["unit"] == "work_units_parallel"
    assert entry["lbfgs_error"] == 0.1
    # aspqn: L-BFGS first at 0.1 after 50 parallel WU (the run at share 1), aspqn at 10
    assert entry["speedup"]["aspqn"] == pytest.approx(50 / 10)
    assert entry["speedup_other"]["aspqn"] == pytest.approx(50 / 20)
    assert entry["speedup"]["mspqn"] == pytest.approx(50 / 80)
    assert out.verdict == "partly"
    assert "mspqn speedup 0.62×" in out.reason and "plateau" not in out.reason


def test_plateau_and_no_progress_are_said():
    flat = [1.0, 0.5, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
    out = pinn.compute(_claim("T1-wu"), _runs(flat, flat, flat, share=1.0))
    assert "no longer improves over the last 25% of its budget (0.2 → 0.2)" in out.reason
    worse = [0.5, 0.7, 0.9, 1.1]
    out = pinn.compute(_claim("T1-wu"), _runs(worse, worse, worse))
    assert "L-BFGS does not reduce the error (0.5 → 1.1)" in out.reason
    assert "plateau" not in out.reason and out.verdict == "not reproduced"
