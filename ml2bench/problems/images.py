"""Image classification on MNIST, Fashion-MNIST and CIFAR-10 (problems.md §D).

Two families:

* ``image_cnn`` — the LeNet-like :class:`~ml2bench.models.cnn.SmallCNN`
  (``conv 3×3 → ReLU → maxpool 2`` twice, then a linear classifier; LeCun et al. 1998),
  one level;
* ``image_resnet`` — the conv ResNet-ODE :class:`~ml2bench.models.conv_resnet_ode.ConvResNetODE`
  (opening conv, ``K`` residual conv blocks ``y ← y + h σ(W_k * y + b_k)`` at constant
  width, ``h = T/K``; Haber & Ruthotto 2018, Chang et al. 2018) with a depth hierarchy
  (cell-centred by default: ``K, K/2, K/4, …`` blocks).

Data
----
The files are read from the data directory (``--data-dir``, which the command line
exports as ``$ML2BENCH_DATA``, else ``~/.cache/ml2bench``; see
:mod:`ml2bench.data.datadir`) — never downloaded at run time. :meth:`check_available`
fails fast with one sentence naming the directory and the ``ml2bench data download``
command. ``train_size``/``test_size`` (0 = all) keep the *first* ``n`` images of each
split in file order: a fixed subset, independent of the run seed, and close to class
balanced for these data sets (MNIST, Fashion-MNIST and CIFAR-10 files are not sorted by
class). A size above the split's length keeps the whole split. Images are scaled to
``[0, 1]`` and standardised per channel with the statistics of the training images
used, ``x̂_c = (x_c − μ_c)/σ_c`` (Krizhevsky 2009 for CIFAR-10), then kept on the
task's device in its dtype; the task's seeded sampler does the shuffling.
"""

from __future__ import annotations

from typing import Any

import torch

from ml2bench.data.datadir import resolve_data_dir
from ml2bench.data.datasets import require_dataset
from ml2bench.data.loaders import ImageData, load_image_dataset, normalized_tensors
from ml2bench.errors import UserError
from ml2bench.hierarchy.base import Hierarchy
from ml2bench.labels import Param
from ml2bench.models.cnn import SmallCNN
from ml2bench.models.conv_resnet_ode import POOLINGS, ConvResNetODE
from ml2bench.models.resnet_ode import ACTIVATIONS
from ml2bench.problems.base import Target, Task
from ml2bench.problems.classification import classification_metrics, cross_entropy
from ml2bench.problems.digits import single_level
from ml2bench.problems.hierarchies import depth_hierarchy
from ml2bench.problems.registry import BATCH_OVERLAP, ProblemFamily, register_family
from ml2bench.problems.resnet_toy import ODE_MODEL_PARAMS, RESNET_PARAMS

#: ``(channels, image size, classes)`` of each data set.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (1, 28, 10), "fashion_mnist": (1, 28, 10), "cifar10": (3, 32, 10)}

#: Sample images used to measure the per-level FLOP costs.
COST_SAMPLE = 64

DATA_PARAMS = {
    "dataset": Param("mnist", "image data set", choices=tuple(IMAGE_SHAPES)),
    "train_size": Param(0, "training images: the first n of the file (0 = all)", low=0),
    "test_size": Param(0, "test images: the first n of the file (0 = all)", low=0),
    "batch_overlap": BATCH_OVERLAP,
}


def first(n: int, *arrays):
    """The first ``n`` entries of each array (all of them if ``n`` is 0 or too large)."""
    return tuple(a if n <= 0 else a[:n] for a in arrays)


def load_image_tensors(dataset: str, train_size: int, test_size: int,
                       device: torch.device, dtype: torch.dtype):
    """Training and test batches ``(images, labels)`` of ``dataset`` on ``device``.

    Parameters
    ----------
    dataset : {"mnist", "fashion_mnist", "cifar10"}
        Which data set (read from the resolved data directory).
    train_size, test_size : int
        Keep the first ``n`` images of each split (0: all).
    device : torch.device
        Where the tensors stay resident.
    dtype : torch.dtype
        Floating dtype of the images (labels are ``int64``).

    Returns
    -------
    train, test : tuple of torch.Tensor
        ``(N, C, H, W)`` images standardised per channel with the training statistics,
        and labels.
    info : dict
        The data directory and the per-channel mean and std (in the [0, 1] scale).

    Raises
    ------
    UserError
        If the files are missing (the message names the download command) or malformed.
    """
    raw = load_image_dataset(dataset, None)
    x_train, y_train = first(train_size, raw.x_train, raw.y_train)
    x_test, y_test = first(test_size, raw.x_test, raw.y_test)
    data = normalized_tensors(ImageData(x_train, y_train, x_test, y_test), device, dtype)
    info = {"dataset": dataset, "data_dir": str(resolve_data_dir(None)),
            "mean": list(data.mean), "std": list(data.std)}
    return (data.x_train, data.y_train), (data.x_test, data.y_test), info


class ImageFamily(ProblemFamily):
    """Shared parts of the image families: data, availability check, task assembly."""

    omitted_at_default = ("batch_overlap",)  # added after results were stored

    metric = "test_acc"

    def check_available(self, name: str, values: dict[str, Any]) -> None:
        """Raise :class:`UserError` (where it looked, how to fetch) if the files are missing."""
        require_dataset(values["dataset"], None)

    def build_hierarchy(self, name: str, values: dict[str, Any], generator: torch.Generator,
                        sample: tuple, device: torch.device,
                        dtype: torch.dtype) -> Hierarchy:  # pragma: no cover - abstract
        """The family's models on every level, transfers and measured costs."""
        raise NotImplementedError

    def make_task(self, name, values, seed, device):
        dtype = getattr(torch, values["dtype"])
        train, test, info = load_image_tensors(values["dataset"], values["train_size"],
                                               values["test_size"], device, dtype)
        generator = torch.Generator().manual_seed(seed)
        sample = tuple(t[:COST_SAMPLE] for t in train)
        hierarchy = self.build_hierarchy(name, values, generator, sample, device, dtype)
        return Task(problem=name, train=train, test=test, hierarchy=hierarchy,
                    data_loss=cross_entropy, test_metrics=classification_metrics,
                    metric=self.metric, batch_size=values["batch_size"], budget=values["budget"],
                    target=Target(self.metric, values["target"]), reg_weight=values["reg"],
                    device=device, dtype=dtype, info=info,
                    batch_overlap=self.value(values, "batch_overlap"))


@register_family
class ImageCNN(ImageFamily):
    """LeNet-like CNN ``conv(c) → pool → conv(2c) → pool → fc`` (one level)."""

    family = "image_cnn"
    params = {
        **DATA_PARAMS,
        "channels": Param(8, "channels of the first convolution (second: twice that)", low=1),
        "reg": Param(1e-4, "weight decay ½‖θ‖² in the objective", low=0.0),
    }

    def build_hierarchy(self, name, values, generator, sample, device, dtype):
        in_channels, size, classes = IMAGE_SHAPES[values["dataset"]]
        c = values["channels"]
        model = SmallCNN(in_channels, size, classes, (c, 2 * c), generator=generator,
                         dtype=dtype, device=device)
        return single_level(model, cross_entropy, sample)


@register_family
class ImageResNet(ImageFamily):
    """Conv ResNet-ODE with a depth hierarchy over its residual blocks."""

    family = "image_resnet"
    params = {
        **DATA_PARAMS,
        "channels": Param(8, "constant width C of the residual blocks", low=1),
        "blocks": Param(8, "residual blocks on the finest level", low=1),
        "levels": Param(3, "levels of the depth hierarchy", low=1),
        "T": Param(2.0, "final time of the ODE", low=0.0, low_open=True),
        "centering": Param("cell", "depth discretisation (cell: h = T/K)",
                           choices=("cell", "vertex")),
        "activation": Param("relu", "activation σ", choices=tuple(ACTIVATIONS)),
        "pooling": Param("avg2", "head: 2×2 average pool + flatten, or global average",
                         choices=POOLINGS),
        "restriction_scale": Param(1.0, "c in R = c·Pᵀ", low=0.0, low_open=True),
        "reg": Param(5e-6, "regulariser weight α", low=0.0),
        **{k: RESNET_PARAMS[k] for k in ODE_MODEL_PARAMS},
    }

    def build_hierarchy(self, name, values, generator, sample, device, dtype):
        in_channels, size, classes = IMAGE_SHAPES[values["dataset"]]

        def make_model(blocks: int) -> ConvResNetODE:
            return ConvResNetODE(in_channels, values["channels"], classes, blocks, values["T"],
                                 size, centering=values["centering"],
                                 activation=values["activation"], pooling=values["pooling"],
                                 generator=generator, dtype=dtype, device=device,
                                 **{k: values[k] for k in ODE_MODEL_PARAMS})

        try:
            return depth_hierarchy(make_model, values["blocks"], values["levels"],
                                   values["centering"], cross_entropy, sample,
                                   values["restriction_scale"])
        except ValueError as error:
            raise UserError(f"{name}: {error}") from None
