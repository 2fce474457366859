"""Imports every module that registers a built-in solver."""

from ml2bench.solvers import baselines, mgopt, nested, rmtr, trust_region  # noqa: F401
