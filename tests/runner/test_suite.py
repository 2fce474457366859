"""Suites and seeds: linear parsing, a sane limit, one clear line for each mistake."""

import time

import pytest

from ml2bench.errors import UserError
from ml2bench.runner.suite import MAX_SEED, MAX_SEEDS, parse_seeds, validate_suite


def test_seeds_parse_ranges_and_lists():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,2, 5") == [0, 2, 5]
    assert parse_seeds(f"0-{MAX_SEEDS - 1}") == list(range(MAX_SEEDS))


def test_a_million_seeds_is_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(UserError, match=rf"1000001 seeds; at most {MAX_SEEDS} per sweep"):
        parse_seeds("0-1000000")
    with pytest.raises(UserError, match=rf"from 0 to {MAX_SEED}"):
        parse_seeds("0-10000000000000000")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("text,needle", [
    ("1,1", "seed 1 is given twice"), ("0-500,400-600", "seed 400 is given twice"),
    ("a-b", "cannot parse"), ("5-3", "cannot parse"), ("-3", "cannot parse"),
    (f"{MAX_SEED + 1}", f"from 0 to {MAX_SEED}")])
def test_bad_seeds_name_what_is_valid(text, needle):
    with pytest.raises(UserError, match=needle):
        parse_seeds(text)


def test_a_suite_file_obeys_the_same_seed_limits():
    base = {"problems": ["peaks_resnet"], "solvers": ["adam"]}
    with pytest.raises(UserError, match=rf"at most {MAX_SEEDS}"):
        validate_suite({**base, "seeds": list(range(MAX_SEEDS + 1))}, "s.toml")
    with pytest.raises(UserError, match="seeds"):
        validate_suite({**base, "seeds": [2**40]}, "s.toml")
