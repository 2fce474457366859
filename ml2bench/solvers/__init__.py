"""Solvers: first-order and quasi-Newton baselines, trust region, multilevel (RMTR,
MG/OPT, nested iteration); the contract is :mod:`ml2bench.solvers.base`."""
