"""Parametrised labels (``name[k=v,...]``) and declared hyperparameters.

Problems and solvers are selected by labels in the benchopt style, e.g.
``sgd[lr=0.1,momentum=0.9]`` or ``peaks_resnet[levels=3,quick=true]``. Each
component declares its parameters as :class:`Param` objects; a label is parsed into
a name and a dict of raw values, which are then validated against the declaration.
The canonical label (only non-default values, sorted keys) is what tables show.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from ml2bench.errors import UserError

_LABEL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(.*)\])?\s*$")


def parse_label(label: str) -> tuple[str, dict[str, Any]]:
    """Split ``name[k=v,...]`` into the name and a dict of parsed values.

    Values are parsed as bool (``true``/``false``), int, float or string, in that order.
    A key given twice (``adam[lr=0.1,lr=0.002]``) is refused rather than silently
    keeping one of the values.
    """
    match = _LABEL.match(label)
    if match is None:
        raise UserError(f"cannot parse {label!r}: expected NAME or NAME[key=value,...]")
    name, body = match.group(1), match.group(2)
    params: dict[str, Any] = {}
    if body and body.strip():
        for item in body.split(","):
            if "=" not in item:
                raise UserError(f"cannot parse {item.strip()!r} in {label!r}: expected key=value")
            key, value = (part.strip() for part in item.split("=", 1))
            if not key:
                raise UserError(f"empty parameter name in {label!r}")
            if key in params:
                raise UserError(f"parameter {key!r} is given twice in {label!r} ({key}="
                                f"{format_value(params[key])} and {key}={value}); give each "
                                "parameter once")
            params[key] = parse_value(value)
    return name, params


def parse_value(text: str) -> Any:
    """Parse one label value: bool, int, float, or the string itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def format_value(value: Any) -> str:
    """Inverse of :func:`parse_value` for the values it produces."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def format_label(name: str, params: Mapping[str, Any]) -> str:
    """``name`` or ``name[k=v,...]`` with keys sorted."""
    if not params:
        return name
    body = ",".join(f"{k}={format_value(params[k])}" for k in sorted(params))
    return f"{name}[{body}]"


@dataclass(frozen=True)
class SearchSpace:
    """Tuning distribution of a hyperparameter (DeepOBS/AlgoPerf style).

    ``kind`` is ``"log_uniform"`` or ``"uniform"`` (on ``[low, high]``) or ``"choice"``.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    def grid(self, num: int) -> list:
        """``num`` points spread over the space (geometric for log-uniform)."""
        if self.kind == "choice":
            return list(self.choices)
        if num == 1:
            return [math.sqrt(self.low * self.high) if self.kind == "log_uniform"
                    else 0.5 * (self.low + self.high)]
        if self.kind == "log_uniform":
            ratio = (self.high / self.low) ** (1.0 / (num - 1))
            return [self.low * ratio**i for i in range(num)]
        step = (self.high - self.low) / (num - 1)
        return [self.low + step * i for i in range(num)]


@dataclass(frozen=True)
class Param:
    """A declared parameter: type, default, admissible range and tuning space.

    ``low``/``high`` bound numeric values (``low_open`` makes the lower bound strict);
    ``choices`` restricts to a set; ``search`` is the tuning distribution.
    """

    default: Any
    help: str = ""
    type: type | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple = ()
    search: SearchSpace | None = None
    nullable: bool = False

    @property
    def kind(self) -> type:
        """The value type: ``type`` if declared, else the type of the default."""
        return self.type if self.type is not None else type(self.default)

    def describe_range(self) -> str:
        """Human-readable admissible values."""
        if self.choices:
            return "one of " + ", ".join(format_value(c) for c in self.choices)
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {format_value(self.low)}")
        if self.high is not None:
            parts.append(f"<= {format_value(self.high)}")
        kind = self.kind.__name__
        article = "an" if kind[:1] in "aeiou" else "a"
        return f"{article} {kind}" + (" " + " and ".join(parts) if parts else "")

    def validate(self, owner: str, key: str, value: Any) -> Any:
        """Return ``value`` coerced to the declared type or raise :class:`UserError`."""
        if value is None and (self.nullable or self.default is None):
            return None
        given = format_value(value)
        value = self._coerce(owner, key, value)
        if self.choices and value not in self.choices:
            raise UserError(f"{owner}: {key}={given} is invalid, "
                            f"{key} must be {self.describe_range()}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            bad_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
            bad_high = self.high is not None and value > self.high
            if bad_low or bad_high or (isinstance(value, float) and not math.isfinite(value)):
                raise UserError(f"{owner}: {key}={given} is invalid, "
                                f"{key} must be {self.describe_range()}")
        return value

    def _coerce(self, owner: str, key: str, value: Any) -> Any:
        kind = self.kind
        if kind is bool:
            if isinstance(value, bool):
                return value
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif kind is str:
            if isinstance(value, str):
                return value
        elif kind is type(None):
            return value
        raise UserError(f"{owner}: {key}={format_value(value)} is invalid, "
                        f"{key} must be {self.describe_range()}")


@dataclass
class ParamSet:
    """Validated parameter values of a component with its declarations."""

    owner: str
    declared: Mapping[str, Param]
    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def validate(cls, owner: str, declared: Mapping[str, Param],
                 given: Mapping[str, Any]) -> "ParamSet":
        """Validate ``given`` against ``declared``; fill in defaults."""
        unknown = sorted(set(given) - set(declared))
        if unknown:
            valid = ", ".join(sorted(declared)) or "none"
            raise UserError(f"{owner}: unknown parameter {unknown[0]!r}; valid parameters: "
                            f"{valid}{did_you_mean(unknown[0], declared)}")
        values = {k: p.default for k, p in declared.items()}
        for key, value in given.items():
            values[key] = declared[key].validate(owner, key, value)
        return cls(owner, declared, values)

    def non_default(self) -> dict[str, Any]:
        """The values that differ from the declared defaults."""
        return {k: v for k, v in self.values.items() if v != self.declared[k].default}


def unknown_name_error(kind: str, name: str, valid: Sequence[str]) -> UserError:
    """The standard error for an unknown problem/solver/suite name."""
    return UserError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}"
                     f"{did_you_mean(name, valid)}")


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``valid`` to a misspelt ``name``
    (:func:`difflib.get_close_matches`), or ``""`` when none is close."""
    close = difflib.get_close_matches(name, sorted(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
