"""Property-based tests (Hypothesis) of the small contracts everything else relies on:
label parsing and the canonical run identity, the checkpoint schedule, the seed parser
and the work ledger's sums.

Properties, not messages: only the kind of error (``UserError``) is checked, never its
wording. Settings are modest and derandomised (``derandomize=True``: the same examples
on every machine, so CI is reproducible).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml2bench.accounting.ledger import WorkLedger
from ml2bench.errors import UserError
from ml2bench.hierarchy.base import LevelCost
from ml2bench.labels import format_label, format_value, parse_label
from ml2bench.runner.checkpoint import CheckpointSchedule
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.suite import parse_seeds

MODEST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
#: For the properties that prepare whole runs (a few ms each).
FEWER = settings(MODEST, max_examples=30)

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)
#: Strings that stay strings: not a number, not a bool, no label syntax.
WORDS = st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True).filter(
    lambda s: s not in ("true", "false", "inf", "nan", "infinity") and not s.startswith(("e", "n", "i")))
VALUES = st.one_of(st.booleans(), st.integers(-10**6, 10**6),
                   st.floats(allow_nan=False, allow_infinity=False, width=64), WORDS)


# -- labels ---------------------------------------------------------------------------

@MODEST
@given(NAMES, st.dictionaries(KEYS, VALUES, max_size=5))
def test_format_then_parse_label_is_the_identity(name, params):
    """parse_label(format_label(name, p)) == (name, p) for bool/int/float/word values."""
    parsed_name, parsed = parse_label(format_label(name, params))
    assert parsed_name == name
    assert parsed == params
    assert {k: type(v) for k, v in parsed.items()} == {k: type(v) for k, v in params.items()}


@MODEST
@given(NAMES, st.dictionaries(KEYS, VALUES, min_size=1, max_size=5), st.randoms(use_true_random=False),
       st.sampled_from(["", " "]))
def test_label_parsing_ignores_item_order_and_spaces(name, params, rng, pad):
    """Any order of the items and spaces around keys and values parse to the same dict,
    and the formatted label is canonical (the same for every spelling)."""
    canonical = format_label(name, params)
    items = [f"{pad}{k}{pad}={pad}{format_value(v)}{pad}" for k, v in params.items()]
    rng.shuffle(items)
    spelled = f"{name}[{','.join(items)}]"
    parsed_name, parsed = parse_label(spelled)
    assert (parsed_name, parsed) == (name, params)
    assert format_label(parsed_name, parsed) == canonical


# -- canonical run identity -------------------------------------------------------------

SGD_DEFAULTS = {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0}
SGD_VALUES = {"lr": st.sampled_from([0.1, 0.05, 0.2, 1e-3]),
              "momentum": st.sampled_from([0.9, 0.0, 0.5]),
              "nesterov": st.booleans(),
              "weight_decay": st.sampled_from([0.0, 1e-4])}


def spellings(config: dict):
    """Strategies of labels that all denote ``config`` (a full sgd setting): defaults
    given or left out, keys in any order, floats written in several ways."""
    def spell(value):
        if isinstance(value, bool):
            return st.sampled_from(["true", "True", "TRUE"] if value else ["false", "False"])
        if value == 0.0:
            return st.sampled_from(["0", "0.0", "0e0"])
        return st.sampled_from([repr(value), f"{value:.6e}", f"{value:g}"])

    @st.composite
    def label(draw):
        items = []
        for key, value in config.items():
            if value == SGD_DEFAULTS[key] and draw(st.booleans()):
                continue  # a default may be left out
            items.append(f"{key}={draw(spell(value))}")
        items = draw(st.permutations(items))
        return "sgd" if not items else f"sgd[{','.join(items)}]"
    return label()


CONFIGS = st.fixed_dictionaries(SGD_VALUES).filter(
    lambda c: not (c["nesterov"] and c["momentum"] == 0.0))  # an invalid setting
PROBLEM = "quadratic_poisson1d[quick=true]"


def identity(solver: str, seed: int = 0, problem: str = PROBLEM) -> tuple[str, str]:
    run = prepare(RunSpec(problem=problem, solver=solver, seed=seed, threads=1))
    return run.config_hash, run.run_id


@FEWER
@given(st.data())
def test_every_spelling_of_a_configuration_hashes_equally(data):
    """Two spellings of one sgd setting give one config hash and one run id."""
    config = data.draw(CONFIGS)
    first, second = data.draw(spellings(config)), data.draw(spellings(config))
    assert identity(first) == identity(second)


@FEWER
@given(CONFIGS, CONFIGS, st.integers(0, 3), st.integers(0, 3))
def test_distinct_configurations_never_share_a_hash(a, b, seed_a, seed_b):
    """Different settings (or seeds) never collide; equal ones always agree."""
    ha = identity(format_label("sgd", a), seed_a)
    hb = identity(format_label("sgd", b), seed_b)
    assert (ha[0] == hb[0]) == (a == b and seed_a == seed_b)
    assert (ha[1] == hb[1]) == (a == b and seed_a == seed_b)


def test_problem_spellings_of_one_configuration_hash_equally():
    """``quick=true`` and the explicit values it stands for are one run; another size is
    another run."""
    quick = identity("sgd", problem="quadratic_poisson1d[quick=true]")
    assert identity("sgd", problem="quadratic_poisson1d[levels=3,n=63,quick=true]") == quick
    assert identity("sgd", problem="quadratic_poisson1d[quick=true,n=31]") != quick


# -- checkpoint schedule ---------------------------------------------------------------

#: Exact binary fractions (multiples of 1/64), so that marks are compared without rounding.
SIXTY_FOURTHS = st.integers(1, 64).map(lambda k: k / 64)


@MODEST
@given(SIXTY_FOURTHS, st.lists(st.integers(0, 40).map(lambda k: k / 64), min_size=1, max_size=60))
def test_checkpoint_schedule_evaluates_at_the_first_step_past_every_mark(every, increments):
    """With ``every > 0``: an evaluation at 0, then one exactly at each step that is the
    first to reach a new multiple of ``every`` (several marks passed in one step give one
    evaluation); ``next`` is always the first multiple above the last evaluation."""
    schedule = CheckpointSchedule(every)
    work, evaluated = 0.0, []
    for inc in [0.0, *increments]:
        work += inc
        if schedule.due(work):
            evaluated.append(work)
            schedule.advance(work)
        assert schedule.next > work
        assert Fraction(schedule.next) % Fraction(every) == 0
    expected, previous_mark = [], -1
    work = 0.0
    for inc in [0.0, *increments]:
        work += inc
        mark = math.floor(Fraction(work) / Fraction(every))  # marks reached so far
        if mark > previous_mark:
            expected.append(work)
            previous_mark = mark
    assert evaluated == expected


@MODEST
@given(st.sampled_from([0.0, -1.0]), st.lists(st.integers(0, 5).map(lambda k: k / 8), max_size=20))
def test_checkpoint_schedule_without_spacing_evaluates_after_every_step(every, increments):
    """``every ≤ 0``: due at every step, whatever the work."""
    schedule, work = CheckpointSchedule(every), 0.0
    for inc in increments:
        work += inc
        assert schedule.due(work)
        schedule.advance(work)


# -- seed parser -----------------------------------------------------------------------

@st.composite
def seed_texts(draw):
    """Comma-separated singletons and ranges of distinct non-negative seeds, and the
    seeds they denote (in order)."""
    starts = draw(st.lists(st.integers(0, 500), min_size=1, max_size=6, unique=True))
    parts, seeds, used = [], [], set()
    for start in starts:
        length = draw(st.integers(1, 4))
        block = [s for s in range(start, start + length) if s not in used]
        if not block or block != list(range(block[0], block[0] + len(block))):
            continue
        used.update(block)
        seeds += block
        parts.append(str(block[0]) if len(block) == 1 and draw(st.booleans())
                     else f"{block[0]}-{block[-1]}")
    if not parts:
        parts, seeds = ["0"], [0]
    return ",".join(parts), seeds


@MODEST
@given(seed_texts())
def test_parse_seeds_expands_ranges_in_order(case):
    """``a-b`` is ``a..b`` inclusive, parts concatenate in the given order."""
    text, seeds = case
    assert parse_seeds(text) == seeds


@MODEST
@given(seed_texts(), st.data())
def test_parse_seeds_rejects_a_repeated_seed(case, data):
    """A seed given twice (alone or inside a range) is a user error."""
    text, seeds = case
    repeated = data.draw(st.sampled_from(seeds))
    with pytest.raises(UserError):
        parse_seeds(f"{text},{repeated}")


@MODEST
@given(st.integers(0, 100), st.integers(1, 50))
def test_parse_seeds_rejects_a_decreasing_range(low, gap):
    with pytest.raises(UserError):
        parse_seeds(f"{low + gap}-{low}")


# -- work ledger -----------------------------------------------------------------------

COSTS = st.lists(st.tuples(*[st.floats(0.01, 2.0)] * 3), min_size=1, max_size=3).map(
    lambda rows: [LevelCost(forward=f, grad=g, hvp=h) for f, g, h in rows])
KIND = st.sampled_from(["forward", "grad", "hvp", "hvp_more", "grad_subdomain"])


@st.composite
def ledger_cases(draw):
    costs = draw(COSTS)
    n = draw(st.integers(1, 1000))
    charge = st.tuples(st.integers(0, len(costs) - 1), KIND, st.integers(0, n),
                       st.floats(0.05, 1.0))
    # phases: None = serial charges; else a list of charges per subdomain
    blocks = draw(st.lists(st.one_of(
        st.tuples(st.none(), st.lists(charge, max_size=4)),
        st.tuples(st.just("phase"), st.lists(st.lists(charge, max_size=3), min_size=1,
                                             max_size=3))), max_size=5))
    return costs, n, blocks


def expected_wu(costs, n, level, kind, samples, scale):
    base = costs[level].grad * scale if kind == "grad_subdomain" else getattr(costs[level], kind)
    return samples / n * base


@MODEST
@given(ledger_cases())
def test_ledger_sums_serial_and_parallel_work(case):
    """work_units = Σ (b/N)·cost over every charge; work_units_parallel = serial work +
    Σ over phases of the max over subdomains; the per-level work adds up to the total;
    counts are the numbers of charges."""
    costs, n, blocks = case
    ledger = WorkLedger(costs, n)
    total = parallel = 0.0
    per_level = [0.0] * len(costs)
    counts: dict = {}

    def charge(level, kind, samples, scale):
        scale = scale if kind == "grad_subdomain" else 1.0
        got = ledger.charge(level, kind, samples, scale)
        wu = expected_wu(costs, n, level, kind, samples, scale)
        assert got == pytest.approx(wu, rel=1e-12, abs=1e-15)
        per_level[level] += wu
        counts[(level, kind)] = counts.get((level, kind), 0) + 1
        return wu

    for mode, content in blocks:
        if mode is None:
            for c in content:
                wu = charge(*c)
                total += wu
                parallel += wu
        else:
            with ledger.parallel_phase():
                sums = []
                for index, charges in enumerate(content):
                    with ledger.subdomain(index):
                        sums.append(sum(charge(*c) for c in charges))
            total += sum(sums)
            parallel += max(sums)
    assert ledger.work_units == pytest.approx(total, rel=1e-12, abs=1e-12)
    assert ledger.work_units_parallel == pytest.approx(parallel, rel=1e-12, abs=1e-12)
    assert ledger.work_units_parallel <= ledger.work_units + 1e-12
    assert ledger.work_units_by_level() == pytest.approx(per_level, rel=1e-12, abs=1e-12)
    assert sum(ledger.work_units_by_level()) == pytest.approx(ledger.work_units, rel=1e-12,
                                                              abs=1e-12)
    for (level, kind), number in counts.items():
        assert ledger.count(kind, level) == number
    assert ledger.count(["forward", "grad", "hvp", "hvp_more", "grad_subdomain"]) == \
        sum(counts.values())


@MODEST
@given(ledger_cases())
def test_recorded_then_replayed_charges_equal_direct_charges(case):
    """Recording charges then replaying them gives the ledger of charging them directly."""
    costs, n, blocks = case
    charges = [c for mode, content in blocks if mode is None for c in content]
    direct, replayed = WorkLedger(costs, n), WorkLedger(costs, n)
    for level, kind, samples, scale in charges:
        scale = scale if kind == "grad_subdomain" else 1.0
        direct.charge(level, kind, samples, scale)
        with replayed.recording() as records:
            replayed.charge(level, kind, samples, scale)
        assert replayed.work_units == 0.0 or len(records) == 1
        replayed.replay(records)
    assert replayed.state_dict() == direct.state_dict()
