"""ml2bench: a benchmark suite for multilevel and domain-decomposition training."""

__version__ = "0.1.0"
