"""Shared pieces of classification problems: loss and test metrics."""

from __future__ import annotations

import torch
from torch import nn

from ml2bench.problems.base import chunks


def cross_entropy(model: nn.Module, batch: tuple) -> torch.Tensor:
    """Mean softmax cross-entropy of ``model(inputs)`` against integer labels."""
    inputs, labels = batch
    return nn.functional.cross_entropy(model(inputs), labels)


def classification_metrics(model: nn.Module, data: tuple) -> dict:
    """``test_loss`` (mean cross-entropy) and ``test_acc`` over ``data``, chunked."""
    total, loss, correct = data[0].shape[0], 0.0, 0
    with torch.no_grad():
        for inputs, labels in chunks(data):
            logits = model(inputs)
            loss += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
            correct += int((logits.argmax(dim=1) == labels).sum())
    return {"test_loss": loss / total, "test_acc": correct / total}
