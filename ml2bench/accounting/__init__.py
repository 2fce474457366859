"""Work accounting, part of the solver contract.

The counted :class:`~ml2bench.accounting.oracle.Oracle` is the only way a solver
evaluates its objective; every evaluation is charged to the
:class:`~ml2bench.accounting.ledger.WorkLedger`, which converts counts to work units
with the per-level costs that :mod:`ml2bench.hierarchy.cost` measures with the FLOP
counter when a problem builds its hierarchy.
"""
