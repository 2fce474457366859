"""``digits_cnn``: scikit-learn's bundled 8×8 handwritten digits with a small CNN.

1797 real images (UCI optical digits, shipped with scikit-learn, works offline); a fixed
seeded 80/20 split (1437 train / 360 test) independent of the run seed; pixels scaled
to [0, 1] and standardised with the training mean and standard deviation.
"""

from __future__ import annotations

import numpy as np
import torch

from ml2bench.hierarchy.base import Hierarchy
from ml2bench.labels import Param
from ml2bench.models.cnn import SmallCNN
from ml2bench.problems.base import Target, Task
from ml2bench.problems.classification import classification_metrics, cross_entropy
from ml2bench.problems.hierarchies import build_hierarchy
from ml2bench.problems.registry import BATCH_OVERLAP, ProblemFamily, register_family


def single_level(model, objective, sample) -> Hierarchy:
    """A one-level hierarchy with its measured costs."""
    return build_hierarchy([model], [], objective, sample, [{"layers": len(list(model.children()))}])


def standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel standardisation with the training set's mean and std (dims N, C, H, W)."""
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return (train - mean) / std, (test - mean) / std


@register_family
class DigitsCNN(ProblemFamily):
    family = "digits_cnn"
    omitted_at_default = ("batch_overlap",)  # added after results were stored
    metric = "test_acc"
    params = {
        "channels": Param(8, "channels of the first convolution (second: twice that)", low=1),
        "train_size": Param(1437, "training images (rest of the 1797 for test)", low=10, high=1787),
        "reg": Param(1e-4, "weight decay in the objective", low=0.0),
        "batch_overlap": BATCH_OVERLAP,
    }

    def make_task(self, name, values, seed, device):
        from sklearn.datasets import load_digits

        dtype = getattr(torch, values["dtype"])
        digits = load_digits()
        images = digits.images.astype(np.float64) / 16.0
        order = np.random.default_rng(0).permutation(len(images))
        cut = values["train_size"]
        x = torch.as_tensor(images[order][:, None], dtype=dtype, device=device)
        y = torch.as_tensor(digits.target[order], dtype=torch.long, device=device)
        x_train, x_test = standardise(x[:cut], x[cut:])
        train, test = (x_train, y[:cut]), (x_test, y[cut:])
        c = values["channels"]
        model = SmallCNN(1, 8, 10, (c, 2 * c), generator=torch.Generator().manual_seed(seed),
                         dtype=dtype, device=device)
        hierarchy = single_level(model, cross_entropy, tuple(t[:64] for t in train))
        return Task(problem=name, train=train, test=test, hierarchy=hierarchy,
                    data_loss=cross_entropy, test_metrics=classification_metrics,
                    metric=self.metric, batch_size=values["batch_size"], budget=values["budget"],
                    target=Target(self.metric, values["target"]), reg_weight=values["reg"],
                    device=device, dtype=dtype,
                    batch_overlap=self.value(values, "batch_overlap"))
