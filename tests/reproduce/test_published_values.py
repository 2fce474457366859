"""Published values come from the authors' files, and every verdict rule says
"reproduced" on the authors' own numbers.

``tests/reproduce/data/authors_values.csv`` is a copy of the few numbers needed (the
epoch-100 rows of the authors' result files, with repository, commit, path and git blob
of each; see its header), not the files themselves.
"""

import csv
from pathlib import Path

import pytest

from ml2bench.reproduce.claims.accuracy import parity
from ml2bench.reproduce.claims.schedule import judge
from ml2bench.reproduce.claims.speedup import judge as judge_speedup
from ml2bench.reproduce.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
AUTHORS = Path(__file__).parent / "data" / "authors_values.csv"
COMMIT = "40e03096965b3a612e097d99d878df7e634e9d9e"


def authors_rows() -> list[dict]:
    lines = [line for line in AUTHORS.read_text(encoding="utf-8").splitlines()
             if not line.startswith("#")]
    return list(csv.DictReader(lines))


def claim(claim_id):
    return next(c for c in load_manifest(ROOT / "paper" / "claims.toml") if c.id == claim_id)


def groups():
    """Authors' accuracies (fractions) per (dataset, batch): label -> mean."""
    out = {}
    for row in authors_rows():
        group = out.setdefault(row["key"].split(".")[0], {})
        group[row["key"].split(".")[1]] = float(row["mean"]) / 100
    return out


def test_the_copy_names_its_source_and_is_self_consistent():
    header = AUTHORS.read_text(encoding="utf-8")
    assert "github:cruzas/ML_APTS" in header and COMMIT in header
    rows = authors_rows()
    assert len(rows) == 22
    for row in rows:
        assert row["path"].startswith("results_csv/") and len(row["blob"]) == 40
        assert float(row["min"]) <= float(row["mean"]) <= float(row["max"])


def test_manifest_values_equal_the_authors_files():
    t2 = claim("T2")
    published = {p.key: p.value for p in t2.published if p.key}
    rows = {f"acc.{row['key']}": float(row["mean"]) for row in authors_rows()}
    assert published.keys() == rows.keys()  # no number without its file, no file unused
    for key, value in rows.items():
        assert published[key] == pytest.approx(value, abs=5e-5), key
    for item in t2.published:
        assert COMMIT[:7] in item.text and "results_csv/" in item.text


def test_published_toml_records_repository_commit_and_path_for_every_value():
    text = (ROOT / "paper" / "published.toml").read_text(encoding="utf-8")
    for row in authors_rows():
        assert row["path"] in text, row["path"]
    assert COMMIT in text and "backup_development_parallel" in text


def test_t2_tolerance_is_the_authors_largest_gap():
    gaps = []
    for labels in groups().values():
        adam = labels.get("adam_005", labels["adam"])  # the Adam run at the same overlap
        gaps += [adam - acc for label, acc in labels.items() if label.startswith("apts_d")]
    gap = claim("T2").tolerance["accuracy_gap"]
    assert max(gaps) <= gap < max(gaps) + 1e-3
    assert claim("T2-wu").tolerance["accuracy_gap"] == gap


@pytest.mark.parametrize("group, adam", [("mnist_10000", "adam"), ("mnist_60000", "adam"),
                                         ("cifar10_10000", "adam"),
                                         ("cifar10_10000", "adam_005")])
def test_t2_rule_reproduces_the_authors_own_numbers(group, adam):
    labels = groups()[group]
    methods = [label for label in labels if label.startswith("apts_d")]
    checks, failures = parity(labels, methods, [adam], claim("T2").tolerance["accuracy_gap"])
    assert len(checks) == 6 and all(checks) and not failures


def test_the_former_tolerance_would_fail_the_authors():
    labels = groups()["mnist_60000"]
    checks, failures = parity(labels, ["apts_d_6_o1"], ["adam"], 0.02)
    assert checks == [False] and "apts_d_6_o1 0.941" in failures[0]


def test_t4_rule_reproduces_the_published_statement_at_its_bound():
    tol = claim("T4").tolerance
    published = claim("T4").published_value("reduction")
    assert published == tol["min_reduction"] == 0.40
    # 'more than 40 % less time with superior or on-par accuracy'
    assert judge(0.93, 0.93, published, tol["min_reduction"], tol["accuracy_gap"])[0] == \
        "reproduced"
    assert judge(0.95, 0.93, 0.5, tol["min_reduction"], tol["accuracy_gap"])[0] == "reproduced"
    assert judge(0.93, 0.93, 0.39, tol["min_reduction"], tol["accuracy_gap"])[0] == "partly"
    assert judge(0.90, 0.93, 0.10, tol["min_reduction"], tol["accuracy_gap"])[0] == \
        "not reproduced"


@pytest.mark.parametrize("claim_id", ["T3", "T3-fo", "T4-wu"])
def test_speedup_rules_reproduce_the_published_factor(claim_id):
    c = claim(claim_id)
    published = c.published_value("speedup")
    assert published == c.tolerance["min_speedup"]
    assert judge_speedup(published, True, c.tolerance["min_speedup"]) == "reproduced"
    assert judge_speedup(published * 0.9, True, c.tolerance["min_speedup"]) == "partly"
    assert judge_speedup(published, False, c.tolerance["min_speedup"]) == "partly"
    assert judge_speedup(None, True, c.tolerance["min_speedup"]) == "not reproduced"


def test_t1_rule_asks_what_the_abstract_states():
    # 'significantly improve the convergence': no factor was read, so the rule asks for a
    # speedup of at least 1 in the paper's unit, and no published L-BFGS error is used
    t1 = claim("T1")
    assert t1.tolerance["min_speedup"] == 1.0 and t1.analysis["x"] == "work_units_parallel"
    assert all(t1.published_value(p.key) is None for p in t1.published if p.key)
    assert claim("T1-wu").analysis.get("x", "work_units") == "work_units"
