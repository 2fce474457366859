"""Level costs are measured once per problem, version, parameters and device type and
cached on disk (issue 8, point 4)."""

import dataclasses
import json

import pytest

from ml2bench.hierarchy import cost, cost_cache
from ml2bench.hierarchy.base import LevelCost
from ml2bench.problems.registry import make_task

PROBLEM = "swissroll_resnet[quick=true]"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ML2BENCH_CACHE", str(tmp_path / "costs"))
    return tmp_path / "costs"


@pytest.fixture
def counted(monkeypatch):
    """Counts calls of the FLOP-counting measurement."""
    calls = []
    original = cost.measure_level_costs

    def measure(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(cost, "measure_level_costs", measure)
    return calls


def costs_of(task):
    return [level.cost for level in task.hierarchy.levels]


def forbid_measuring(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("costs were measured although they are cached")
    monkeypatch.setattr(cost, "measure_level_costs", fail)


def test_the_second_build_reads_the_cache(cache, monkeypatch, counted):
    first = costs_of(make_task(PROBLEM, seed=0))
    assert len(counted) == 1
    files = list(cache.glob("swissroll_resnet-v2-*.json"))
    assert len(files) == 1
    forbid_measuring(monkeypatch)
    assert costs_of(make_task(PROBLEM, seed=3)) == first  # the seed does not change FLOPs


def test_deleting_or_corrupting_the_entry_measures_again(cache, counted):
    first = costs_of(make_task(PROBLEM))
    (path,) = cache.glob("*.json")
    path.unlink()
    assert costs_of(make_task(PROBLEM)) == first and len(counted) == 2
    for broken in ("{not json", json.dumps({"key": {}, "costs": []}), "[]",
                   path.read_text().replace('"grad"', '"gradient"')):
        path.write_text(broken)
        assert costs_of(make_task(PROBLEM)) == first
    assert len(counted) == 6
    assert json.loads(path.read_text())["costs"][0]["grad"] == 1.0  # rewritten whole


def test_other_parameters_are_another_entry(cache, counted):
    make_task(PROBLEM)
    make_task("swissroll_resnet[quick=true,levels=2]")
    assert len(counted) == 2 and len(list(cache.glob("*.json"))) == 2


def test_the_key_holds_the_cost_fields_and_format(cache, monkeypatch, counted):
    make_task(PROBLEM)
    (path,) = cache.glob("*.json")
    key = json.loads(path.read_text())["key"]
    assert key["fields"] == [f.name for f in dataclasses.fields(LevelCost)]
    assert key["format"] == cost_cache.FORMAT and key["device_type"] == "cpu"
    assert key["problem"] == "swissroll_resnet" and key["version"] == 2
    monkeypatch.setattr(cost_cache, "FORMAT", cost_cache.FORMAT + 1)
    make_task(PROBLEM)
    assert len(counted) == 2 and len(list(cache.glob("*.json"))) == 2


def test_an_unwritable_cache_only_skips_caching(tmp_path, monkeypatch, counted):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ML2BENCH_CACHE", str(blocker / "costs"))
    first = costs_of(make_task(PROBLEM))
    assert costs_of(make_task(PROBLEM)) == first and len(counted) == 2


def test_a_run_builds_its_task_with_the_cache(cache, tmp_path, monkeypatch):
    from ml2bench.runner.spec import RunSpec
    from ml2bench.runner.sweep import run_sweep

    spec = RunSpec(problem=PROBLEM, solver="adam", budget=0.25)
    run_sweep([spec], tmp_path / "a", progress=False)
    assert len(list(cache.glob("*.json"))) == 1
    forbid_measuring(monkeypatch)
    assert run_sweep([spec], tmp_path / "b", progress=False).statuses == {"budget": 1}


def test_tests_never_write_to_home():
    assert cost_cache.cache_directory() != cost_cache.Path.home() / ".cache/ml2bench/costs"
