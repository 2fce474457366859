"""Claims computed by another part's study (M2: ``ml2bench.studies.depth_scaling``):
``not run`` with the reason while the study is not installed; judged once it is."""

import sys
import types
from pathlib import Path

from ml2bench.reproduce.claims.external import compute
from ml2bench.reproduce.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
STUDY = "ml2bench.studies.depth_scaling"


def m2():
    return next(c for c in load_manifest(ROOT / "paper" / "claims.toml") if c.id == "M2")


def test_missing_study_is_not_run_with_its_reason(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, STUDY, None)  # import fails as if not installed
    outcome = compute(m2(), "quick", tmp_path)
    assert outcome.verdict == "not run"
    assert outcome.reason == f"{STUDY} is not installed"


def test_installed_study_is_judged_by_the_manifest_tolerance(monkeypatch, tmp_path):
    calls = []

    def run_study(scale, out, jobs=1):
        calls.append((scale, out, jobs))
        return {"exponents": {"rmtr": 0.1, "nested": 0.3, "tr": 1.0, "adam": 0.9},
                "wu": {"rmtr": {8: 2.0, 16: 2.1}, "tr": {8: 2.0, 16: 4.0}}}

    monkeypatch.setitem(sys.modules, STUDY, types.SimpleNamespace(run_study=run_study))
    outcome = compute(m2(), "quick", tmp_path, jobs=2)
    assert calls == [("quick", tmp_path, 2)]
    assert outcome.verdict == "reproduced"
    assert outcome.values["wu"]["tr"] == {"8": 2.0, "16": 4.0}

    def flat(scale, out, jobs=1):
        return {"exponents": {"rmtr": 0.9, "tr": 1.0}, "wu": {}}
    monkeypatch.setitem(sys.modules, STUDY, types.SimpleNamespace(run_study=flat))
    assert compute(m2(), "quick", tmp_path).verdict == "not reproduced"
