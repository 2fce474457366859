import pytest

from ml2bench.errors import UserError
from ml2bench.labels import Param, ParamSet, SearchSpace, format_label, parse_label


def test_parse_and_format_round_trip():
    name, params = parse_label("rmtr[levels=3,cycle=V,eta=0.25,deterministic=true]")
    assert name == "rmtr"
    assert params == {"levels": 3, "cycle": "V", "eta": 0.25, "deterministic": True}
    assert parse_label(format_label(name, params)) == (name, params)
    assert parse_label("sgd") == ("sgd", {})
    assert format_label("sgd", {}) == "sgd"


@pytest.mark.parametrize("label", ["", "sgd[lr]", "1abc", "sgd[=3]", "sgd[lr=1"])
def test_malformed_labels_are_user_errors(label):
    with pytest.raises(UserError):
        parse_label(label)


def test_validation_names_key_and_reason():
    declared = {"lr": Param(0.1, low=0.0, low_open=True), "nesterov": Param(False),
                "cycle": Param("V", choices=("V", "F"))}
    with pytest.raises(UserError, match=r"lr=-1 .*lr must be a float > 0"):
        ParamSet.validate("sgd", declared, {"lr": -1})
    with pytest.raises(UserError, match=r"unknown parameter 'foo'; valid parameters: cycle, lr, nesterov"):
        ParamSet.validate("sgd", declared, {"foo": 1})
    with pytest.raises(UserError, match=r"cycle must be one of V, F"):
        ParamSet.validate("x", declared, {"cycle": "W"})
    with pytest.raises(UserError, match="nesterov"):
        ParamSet.validate("x", declared, {"nesterov": 3})
    values = ParamSet.validate("sgd", declared, {"lr": 1})
    assert values.values["lr"] == 1.0 and isinstance(values.values["lr"], float)
    assert values.non_default() == {"lr": 1.0}


def test_search_space_grids():
    assert SearchSpace("log_uniform", 1e-3, 1e-1).grid(3) == pytest.approx([1e-3, 1e-2, 1e-1])
    assert SearchSpace("uniform", 0.0, 1.0).grid(3) == pytest.approx([0.0, 0.5, 1.0])
    assert SearchSpace("choice", choices=(1, 2)).grid(5) == [1, 2]


@pytest.mark.parametrize("label", ["adam[lr=0.1,lr=0.002]", "rmtr[levels=3, levels = 3]"])
def test_a_key_given_twice_is_refused(label):
    with pytest.raises(UserError, match=r"parameter '(lr|levels)' is given twice .*give each "
                       r"parameter once"):
        parse_label(label)
