"""The mini-batch sampler: disjoint batches by default, the authors' overlapping
batches of APTS_D with ``overlap`` (Power_DL of github:cruzas/ML_APTS)."""

import pytest
import torch

from ml2bench.problems.base import BatchSampler
from ml2bench.problems.registry import resolve_problem


def batches(sampler, n):
    return [sampler.next_indices() for _ in range(n)]


def test_disjoint_batches_cover_an_epoch_without_repetition():
    sampler = BatchSampler(60, 10, torch.Generator().manual_seed(0))
    epoch = torch.cat(batches(sampler, 6))
    assert sorted(epoch.tolist()) == list(range(60)) and sampler.epoch == 1.0


def test_each_overlapping_batch_adds_r_b_samples_of_every_other_batch():
    sampler = BatchSampler(60, 10, torch.Generator().manual_seed(0), overlap=0.2)
    drawn = batches(sampler, 6)
    blocks = [set(sampler.permutation[i:i + 10].tolist()) for i in range(0, 60, 10)]
    for b, indices in enumerate(drawn):
        own, extra = indices[:10].tolist(), indices[10:].tolist()
        assert set(own) == blocks[b] and len(indices) == 10 + 5 * 2
        for other in range(6):  # two from each other batch, none repeated, none of its own
            taken = [i for i in extra if i in blocks[other]]
            assert len(taken) == (0 if other == b else 2) and len(set(taken)) == len(taken)
    assert sampler.epoch == 1.0  # the overlap is not counted as epochs


def test_no_overlap_draws_the_same_batches_as_before():
    plain = batches(BatchSampler(50, 8, torch.Generator().manual_seed(3)), 14)
    zero = batches(BatchSampler(50, 8, torch.Generator().manual_seed(3), overlap=0.0), 14)
    assert all(torch.equal(a, b) for a, b in zip(plain, zero))
    small = batches(BatchSampler(50, 8, torch.Generator().manual_seed(3), overlap=0.1), 14)
    assert all(len(s) == 8 for s in small)  # ⌊0.1·8⌋ = 0 shared samples


def test_overlapping_batches_are_reproducible_and_full_batch_ignores_overlap():
    one = batches(BatchSampler(60, 10, torch.Generator().manual_seed(1), overlap=0.3), 9)
    two = batches(BatchSampler(60, 10, torch.Generator().manual_seed(1), overlap=0.3), 9)
    assert all(torch.equal(a, b) for a, b in zip(one, two))
    assert BatchSampler(60, 100, torch.Generator(), overlap=0.5).next_indices() is None
    with pytest.raises(ValueError, match="overlap must be in"):
        BatchSampler(60, 10, torch.Generator(), overlap=1.0)


@pytest.mark.parametrize("problem", ["digits_cnn", "mnist_cnn", "cifar10_resnet"])
def test_batch_overlap_at_its_default_is_left_out_of_the_identity(problem):
    """Runs stored before ``batch_overlap`` existed keep their identity: at its default
    (0, disjoint batches, the sampler's old behaviour) it is not a resolved value."""
    assert "batch_overlap" not in resolve_problem(f"{problem}[quick=true]")[2]
    assert resolve_problem(f"{problem}[batch_overlap=0.05]")[2]["batch_overlap"] == 0.05
