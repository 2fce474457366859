"""Imports every module that registers a built-in solver."""

from ml2bench.solvers import baselines, nested  # noqa: F401
