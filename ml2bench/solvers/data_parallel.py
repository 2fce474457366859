r"""The global objective of a batch split over disjoint data shards (data parallelism).

A batch ``B`` of ``n`` samples is cut into ``D`` disjoint chunks ``C_1 … C_D`` (sizes
``n_d``). Because every task's data loss is mean-reduced
(:class:`~ml2bench.problems.base.Task`) and the regularisation does not depend on the
batch,

.. math::

    f_B(θ) = \sum_{d=1}^{D} \frac{n_d}{n} f_{C_d}(θ),\qquad
    ∇f_B(θ) = \sum_{d=1}^{D} \frac{n_d}{n} ∇f_{C_d}(θ),\qquad
    ∇^2 f_B(θ)v = \sum_{d=1}^{D} \frac{n_d}{n} ∇^2 f_{C_d}(θ)v

(``Σ_d n_d/n = 1`` carries the regularisation). This is what data-parallel training
computes (PyTorch's ``DistributedDataParallel``: each rank its part of the batch, the
gradients all-reduced). DD4ML's APTS evaluates its global loss and gradient so
(``glob_closure_main`` in ``src/dd4ml/optimizers/apts_base.py``, read at commit
``fa3027f``, January 2026: each rank's loss and gradient on its part of the batch,
all-reduced and divided by the number of ranks, which assumes equal parts); here the
parts are weighted by ``n_d/n``, so that unequal parts (``n`` not divisible by ``D``)
give the batch objective exactly. :class:`ShardedObjective` evaluates it so:

* **one process** (simulated): the ``D`` weighted chunk contributions, each inside
  ``ledger.subdomain(d)`` of one parallel phase, summed in chunk order
  (:func:`~ml2bench.parallel.sum_subdomains`);
* **distributed** (one process per chunk): rank ``r`` evaluates chunk ``r`` only, the
  contributions are all-reduced (SUM), and the charges are exchanged and replayed
  (:func:`~ml2bench.parallel.map_subdomains`), so every rank's ledger equals the
  simulated one.

The two agree bit for bit for ``D = 2`` (a sum of two numbers does not depend on its
order) and to a few units in the last place for larger ``D`` (the all-reduce may add in
another order). The ledger: the evaluation of chunk ``d`` is charged at its size,
``(n_d/n)·cost``, so ``work_units`` is that of one evaluation on ``B`` and
``work_units_parallel`` adds the largest chunk's share only — what the slowest rank
does. Each evaluation with ``D > 1`` counts one all-reduce of its payload in
``comm_bytes`` (``[∇f; f]``: ``P + 1`` entries; a value: 1; a Hessian product: ``P``).
A whole evaluation is refused by the budget before any chunk is evaluated
(:meth:`~ml2bench.accounting.ledger.WorkLedger.require`), the same decision on every
rank.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ml2bench.accounting.ledger import payload_bytes
from ml2bench.parallel import map_subdomains, owned, sum_subdomains
from ml2bench.parameters import flatten, load_vector, model_vector, unflatten
from ml2bench.solvers.level_objective import LevelObjective, PointObjective


class ShardedObjective(PointObjective):
    """``f_B`` as the size-weighted sum of its chunks' objectives (module docstring);
    the interface of :class:`~ml2bench.solvers.level_objective.LevelObjective` that the
    trust-region kernel uses (``value``, ``value_and_grad``, ``hessian``).

    Parameters
    ----------
    oracle : Oracle
        The counted oracle.
    level : int
        Hierarchy level.
    batch : tuple
        The batch ``B``.
    chunks : sequence of LongTensor
        Disjoint positions in ``B`` covering it (``C_d``), one per subdomain.
    """

    def __init__(self, oracle, level: int, batch: tuple, chunks) -> None:
        self.oracle, self.level, self.batch = oracle, level, batch
        n = int(batch[0].shape[0])
        sizes = [int(c.numel()) for c in chunks]
        if sum(sizes) != n:
            raise ValueError(f"the chunks hold {sum(sizes)} positions, the batch {n}")
        self.sizes = sizes
        self.weights = [size / n for size in sizes]
        self.count = len(sizes)
        self.pieces = {d: LevelObjective(oracle, level, tuple(t[chunks[d]] for t in batch))
                       for d in owned(self.count)}

    @property
    def model(self):
        """The level's model."""
        return self.oracle.model(self.level)

    def _reduce(self, kind: str, contribution) -> Tensor:
        """``Σ_d contribution(d)`` over the chunks (one parallel phase; distributed: the
        own chunk, all-reduced), after checking that the ``D`` evaluations of ``kind``
        fit in the budget."""
        ledger = self.oracle.ledger
        ledger.require(sum(ledger.cost(self.level, kind, size) for size in self.sizes))
        own, _ = map_subdomains(ledger, self.count, contribution, share=lambda _: None,
                                budget_shares=False)
        reduced = sum_subdomains(torch.stack(own))
        if self.count > 1:
            ledger.communicate(payload_bytes(reduced), "allreduce")
        return reduced

    def value(self, x: Tensor) -> float:
        """``f_B(x)``; each chunk charged as a forward pass on its samples."""
        def contribution(d: int) -> Tensor:
            return torch.tensor([self.weights[d] * self.pieces[d].value(x)],
                                dtype=x.dtype, device=x.device)
        return float(self._reduce("forward", contribution)[0])

    def value_and_grad(self, x: Tensor) -> tuple[float, Tensor]:
        """``(f_B(x), ∇f_B(x))``; each chunk charged as a gradient on its samples."""
        def contribution(d: int) -> Tensor:
            value, grad = self.pieces[d].value_and_grad(x)
            weight = self.weights[d]
            return torch.cat([grad * weight, torch.tensor([weight * value], dtype=grad.dtype,
                                                          device=grad.device)])
        reduced = self._reduce("grad", contribution)
        return float(reduced[-1]), reduced[:-1]

    def hessian(self, x: Tensor):
        """``v ↦ Σ_d (n_d/n) ∇²f_{C_d}(x) v``; the chunks' first products linearise
        (charged ``hvp``), the following ones reuse the linearisations (``hvp_more``),
        as :meth:`LevelObjective.hessian`."""
        operators = {d: self.oracle.hessian(piece.batch, self.level)
                     for d, piece in self.pieces.items()}
        params = list(self.model.parameters())

        def matvec(vector: Tensor) -> Tensor:
            current = all(op.is_current for op in operators.values())
            if not current and not torch.equal(model_vector(self.model), x):
                load_vector(self.model, x)  # (re)linearise every chunk at x

            def contribution(d: int) -> Tensor:
                product = flatten(operators[d](unflatten(vector, params)))
                return product * self.weights[d]
            return self._reduce("hvp_more" if current else "hvp", contribution)

        return matvec
