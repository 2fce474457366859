"""The claims manifest: it parses, every claim is complete and runnable, a malformed
manifest is one line; ``reproduce --list`` and a bad claim id on the command line."""

from pathlib import Path

import pytest

from ml2bench.cli import main
from ml2bench.errors import UserError
from ml2bench.reproduce.manifest import KINDS, SCALES, SOURCES, check_runnable, \
    load_manifest, parse_manifest

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "paper" / "claims.toml"
IDS = ["T1", "T2", "T3", "T4", "T5", "M1", "M2"]

MINIMAL = '''
[[claim]]
id = "X1"
kind = "speedup"
title = "t"
authors = "A. B."
venue = "V"
year = 2020
location = "Fig. 1"
claim = "c"
source = "not read"
metric = "m"
verdict_rule = "r"
[[claim.published]]
quantity = "q"
value = 3.0
[claim.quick]
problems = ["quadratic_poisson1d"]
solvers = ["tr"]
[claim.full]
problems = ["quadratic_poisson1d"]
solvers = ["tr"]
'''


def test_committed_manifest_has_every_claim_complete():
    claims = load_manifest(MANIFEST)
    assert [c.id for c in claims] == ["M1", "T1", "T1-wu", "T2", "T2-lsr1", "T2-wu", "T3", "T3-fo", "T4",
                                      "T4-wu", "T5", "M2", "M3"]
    ids = {c.id: c for c in claims}
    for claim in claims:
        assert claim.protocol == "paper" or claim.id in ("M2",) or claim.id.endswith("-wu")
        if claim.id.endswith("-wu"):  # a stricter reading sits beside its paper's claim
            assert claim.protocol == "ml2bench" and ids[claim.family].protocol == "paper"
        if claim.family != claim.id or claim.family in {c.family for c in claims
                                                         if c.id != c.family}:
            assert claim.protocol_text, claim.id
        assert claim.kind in KINDS and claim.source in SOURCES
        assert claim.authors and claim.venue and claim.year and claim.location
        assert claim.published and claim.metric and claim.verdict_rule
        for scale in SCALES:
            config = claim.scales[scale]
            assert config.cost, (claim.id, scale)
            if claim.kind == "external":
                assert config.study
            else:
                assert config.problems and config.solvers


@pytest.mark.parametrize("scale", SCALES)
def test_every_configuration_resolves_with_the_registries(scale):
    for claim in load_manifest(MANIFEST):
        if claim.kind != "external":
            check_runnable(claim, scale)  # raises UserError naming the claim otherwise


def test_unread_published_values_say_so_rather_than_guess():
    for claim in load_manifest(MANIFEST):
        for item in claim.published:
            assert isinstance(item.value, (int, float)) or "not read" in item.value \
                or item.value.startswith("qualitative"), (claim.id, item)


def test_minimal_manifest_parses():
    (claim,) = parse_manifest(MINIMAL)
    assert claim.id == "X1" and claim.published_value("speedup") is None
    assert claim.scales["quick"].seeds == (0,)


@pytest.mark.parametrize("text, message", [
    (MINIMAL.replace('kind = "speedup"', 'kind = "magic"'), "unknown kind 'magic'"),
    (MINIMAL.replace('title = "t"\n', ''), "missing key(s) ['title']"),
    (MINIMAL.replace('source = "not read"', 'source = "heard"'), "source must be one of"),
    (MINIMAL.replace('[claim.full]', '[claim.fulll]'), "no [claim.full] configuration"),
    (MINIMAL.replace('solvers = ["tr"]\n[claim.full]', 'solver = ["tr"]\n[claim.full]'),
     "unknown key(s) ['solver']"),
    (MINIMAL + MINIMAL, "repeated claim id(s) ['X1']"),
    ("[[claim]\n", "not valid TOML"),
    ("x = 1\n", "no [[claim]] entries"),
])
def test_bad_manifest_is_one_line(text, message):
    with pytest.raises(UserError) as error:
        parse_manifest(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unresolvable_solver_names_the_claim():
    (claim,) = parse_manifest(MINIMAL.replace('solvers = ["tr"]\n[claim.full]',
                                              'solvers = ["nosuch"]\n[claim.full]'))
    with pytest.raises(UserError, match="claim X1 \\(quick\\)"):
        check_runnable(claim, "quick")


def test_reproduce_list_shows_every_claim_with_published_values(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for claim_id in IDS:
        assert f"\n{claim_id} " in "\n" + out
    assert "published speedup multilevel over single-level at equal validation accuracy: 3.0" \
        in out
    assert "published L-BFGS relative L2 error, Burgers: not read" in out


def test_bad_claim_id_is_exit_2_one_line(capsys):
    assert main(["reproduce", "T9", "--scale", "quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown claim 'T9'" in err and "Traceback" not in err


def test_bad_scale_is_exit_2(capsys):
    assert main(["reproduce", "M1", "--scale", "huge"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_papers_id_selects_its_stricter_reading_and_list_shows_protocols(capsys):
    from ml2bench.reproduce.manifest import select
    claims = load_manifest(MANIFEST)
    assert [c.id for c in select(claims, ["t2"])] == ["T2", "T2-lsr1", "T2-wu"]
    assert [c.id for c in select(claims, ["T2-wu"])] == ["T2-wu"]
    assert main(["reproduce", "T4", "--list"]) == 0
    out = capsys.readouterr().out
    assert "protocol: paper — the paper's" in out and "protocol: ml2bench — " in out
