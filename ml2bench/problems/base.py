"""Problems and tasks: everything a solver may see.

A *problem* is a named, versioned, deterministic recipe (a TOML spec plus a Python
family). Instantiating it with a seed and a device gives a :class:`Task`: data resident
on the device, the objective, test metrics, the hierarchy, and defaults for batch size,
budget and target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ml2bench.hierarchy.base import Hierarchy

Batch = tuple[torch.Tensor, ...]
DataLoss = Callable[[nn.Module, Batch], torch.Tensor]
TestMetrics = Callable[[nn.Module, Batch], dict]

#: Chunk size for evaluation passes over a whole data set.
EVAL_CHUNK = 8192


@dataclass(frozen=True)
class Target:
    """Time-to-target threshold: ``test_acc >= threshold`` or ``test_rel_l2 <= threshold``."""

    metric: str
    threshold: float

    @property
    def higher_is_better(self) -> bool:
        """Accuracies are maximised, errors minimised."""
        return self.metric.endswith("acc")

    def reached(self, metrics: dict) -> bool:
        """Whether ``metrics`` (a results row) meets the threshold (NaN: no)."""
        value = metrics.get(self.metric)
        if value is None or value != value:
            return False
        return value >= self.threshold if self.higher_is_better else value <= self.threshold


class BatchSampler:
    r"""Mini-batches drawn without replacement, reshuffled every epoch, optionally
    overlapping.

    The permutation comes from an explicit ``torch.Generator`` so that the sequence of
    batches is a function of the seed only; the sampler's state (generator state,
    current permutation and position) round-trips through ``state_dict``.
    A batch size of at least ``num_samples`` means full batch (no shuffling).

    ``overlap`` ``r ∈ [0, 1)``: the authors' overlapping mini-batches of APTS_D
    (Cruz Alegría et al., arXiv 2502.05133; code ``Power_DL(overlapping_samples=r)``,
    ``github:cruzas/ML_APTS`` branch ``backup_development_parallel``,
    ``src/data_loaders/Power_DL.py``): an epoch is cut into ``k = ⌈N/B⌉`` batches of
    ``B`` samples of the permutation, and batch ``b`` is extended by ``⌊r·B⌋`` samples
    drawn at random from **each other** batch ``i ≠ b`` of the same epoch, so it has
    ``B + (k−1)⌊r·B⌋`` samples (the source's ``i != self.iter`` compares with the
    already incremented counter, so it skips batch ``b+1`` and draws from ``b`` itself:
    we take the stated intent, the other batches; its draws are ``randint``, with
    repetition — ours are without repetition within a batch). ``epoch`` counts the
    batches' own samples only, so ``k`` batches make one epoch as in the source.
    """

    def __init__(self, num_samples: int, batch_size: int, generator: torch.Generator,
                 overlap: float = 0.0) -> None:
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"batch overlap must be in [0, 1), got {overlap!r}")
        self.num_samples = num_samples
        self.batch_size = min(batch_size, num_samples)
        self.generator = generator
        self.overlap = float(overlap)
        self.permutation: torch.Tensor | None = None
        self.position = 0
        self.samples_drawn = 0

    @property
    def full_batch(self) -> bool:
        """Whether every batch is the whole training set."""
        return self.batch_size >= self.num_samples

    @property
    def epoch(self) -> float:
        """Samples drawn so far, in passes over the training set (overlap not counted)."""
        return self.samples_drawn / self.num_samples

    def next_indices(self) -> torch.Tensor | None:
        """Indices of the next batch (``None`` means the whole training set)."""
        self.samples_drawn += self.batch_size
        if self.full_batch:
            return None
        if self.permutation is None or self.position + self.batch_size > self.num_samples:
            self.permutation = torch.randperm(self.num_samples, generator=self.generator)
            self.position = 0
        start = self.position
        indices = self.permutation[start:start + self.batch_size]
        self.position += self.batch_size
        shared = int(self.overlap * self.batch_size)
        if shared:
            extra = []
            for other in range(0, self.num_samples, self.batch_size):
                if other == start:
                    continue
                block = self.permutation[other:other + self.batch_size]
                pick = torch.randperm(len(block), generator=self.generator)[:shared]
                extra.append(block[pick])
            indices = torch.cat([indices, *extra])
        return indices

    def state_dict(self) -> dict:
        """Generator state, permutation, position and samples drawn."""
        return {"generator": self.generator.get_state(), "permutation": self.permutation,
                "position": self.position, "samples_drawn": self.samples_drawn,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output (the same batches follow)."""
        self.generator.set_state(state["generator"])
        self.permutation = state["permutation"]
        self.position = state["position"]
        self.samples_drawn = state["samples_drawn"]
        self.batch_size = state["batch_size"]


def chunks(data: Batch, size: int = EVAL_CHUNK):
    """Consecutive slices of a data set, each a batch of at most ``size`` samples."""
    total = data[0].shape[0]
    for start in range(0, total, size):
        yield tuple(t[start:start + size] for t in data)


@dataclass
class Task:
    """A problem instantiated with a seed on a device.

    The objective minimised is ``data_loss(model, batch) + reg_weight ·
    model.regularization()``; ``data_loss`` is mean-reduced so that losses of batches of
    different sizes are comparable. ``loss_needs_grad`` marks objectives that
    differentiate the network with respect to its inputs (PINNs).

    ``lower``/``upper`` are bound constraints ``lower ≤ θ ≤ upper`` on the finest model's
    parameters (one tensor per parameter, in ``parameters()`` order; ``None``: no bound
    on that side), e.g. the obstacle of :mod:`ml2bench.problems.obstacle`. Solvers that
    cannot keep iterates feasible refuse a bounded task (:meth:`has_bounds`).

    ``batch_overlap``: the overlap ratio of consecutive mini-batches (see
    :class:`BatchSampler`; 0: disjoint batches), a problem parameter of the families
    whose papers use it (:data:`ml2bench.problems.registry.BATCH_OVERLAP`).
    """

    problem: str
    train: Batch
    test: Batch
    hierarchy: Hierarchy
    data_loss: DataLoss
    test_metrics: TestMetrics
    metric: str
    batch_size: int
    budget: float
    target: Target
    reg_weight: float = 0.0
    loss_needs_grad: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    checkpoint_every: float | None = None
    info: dict = field(default_factory=dict)
    lower: list[torch.Tensor] | None = None
    upper: list[torch.Tensor] | None = None
    batch_overlap: float = 0.0

    @property
    def has_bounds(self) -> bool:
        """Whether the problem constrains its parameters (``lower`` or ``upper`` set)."""
        return self.lower is not None or self.upper is not None

    @property
    def num_train(self) -> int:
        """Number of training samples ``N``."""
        return int(self.train[0].shape[0])

    @property
    def model(self) -> nn.Module:
        """The finest-level model (whose parameters are the iterate that is evaluated)."""
        return self.hierarchy.levels[0].model

    def objective(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """``data_loss + reg_weight · regularization`` on ``batch``."""
        loss = self.data_loss(model, batch)
        if self.reg_weight:
            loss = loss + self.reg_weight * model.regularization()
        return loss

    def batch(self, indices: torch.Tensor | None) -> Batch:
        """The training batch at ``indices`` (``None``: the whole training set)."""
        if indices is None:
            return self.train
        return tuple(t[indices] for t in self.train)

    def sampler(self, batch_size: int | None, generator: torch.Generator) -> BatchSampler:
        """A deterministic sampler over the training set (task default batch size if None),
        its batches overlapping by the task's ``batch_overlap`` (:class:`BatchSampler`)."""
        return BatchSampler(self.num_train, batch_size or self.batch_size, generator,
                            self.batch_overlap)

    def full_objective(self, model: nn.Module, with_grad: bool = False):
        """Objective over the whole training set, chunked; optionally with its gradient.

        Chunks are weighted by their size, so the value equals the unchunked mean.
        Used for logging only: it does not go through the ledger.
        """
        params = list(model.parameters())
        total = self.num_train
        value = 0.0
        grads = [torch.zeros_like(p) for p in params] if with_grad else None
        for chunk in chunks(self.train):
            weight = chunk[0].shape[0] / total
            with torch.set_grad_enabled(with_grad or self.loss_needs_grad):
                loss = self.data_loss(model, chunk) * weight
                if with_grad:
                    for acc, g in zip(grads, torch.autograd.grad(loss, params)):
                        acc += g
            value += float(loss.detach())
        if self.reg_weight:
            with torch.set_grad_enabled(with_grad):
                reg = self.reg_weight * model.regularization()
                if with_grad and reg.requires_grad:
                    for acc, g in zip(grads, torch.autograd.grad(reg, params, allow_unused=True)):
                        if g is not None:
                            acc += g
            value += float(reg.detach())
        return (value, grads) if with_grad else value

    def evaluate(self, model: nn.Module | None = None) -> dict:
        """Logging metrics: ``train_loss``, ``grad_norm`` and the test metrics."""
        model = self.model if model is None else model
        was_training = model.training
        model.eval()
        try:
            train_loss, grads = self.full_objective(model, with_grad=True)
            grad_norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
            with torch.set_grad_enabled(self.loss_needs_grad):
                metrics = self.test_metrics(model, self.test)
        finally:
            model.train(was_training)
        return {"train_loss": train_loss, "grad_norm": grad_norm, **metrics}
