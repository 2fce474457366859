"""Small LeNet-like convolutional networks for image classification."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """``conv(c→c1, 3×3) → ReLU → maxpool 2 → conv(c1→c2, 3×3) → ReLU → maxpool 2 → fc``.

    Parameters
    ----------
    in_channels, image_size, num_classes : int
        Input shape ``(in_channels, image_size, image_size)`` and number of classes.
    channels : tuple of int
        ``(c1, c2)``.
    generator : torch.Generator
        Seeds the initialisation (PyTorch's default fan-in uniform scheme).
    """

    def __init__(self, in_channels: int, image_size: int, num_classes: int,
                 channels: tuple[int, int] = (8, 16), *, generator: torch.Generator,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> None:
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * (image_size // 4) ** 2, num_classes)
        self._seeded_init(generator)
        self.to(dtype=dtype, device=device)

    def _seeded_init(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            for module in (self.conv1, self.conv2, self.fc):
                fan_in = module.weight[0].numel()
                bound = fan_in ** -0.5
                for param in (module.weight, module.bias):
                    param.copy_(torch.rand(param.shape, generator=generator) * 2 * bound - bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))

    def regularization(self) -> torch.Tensor:
        """``½‖θ‖²`` (plain weight decay)."""
        return 0.5 * sum(p.pow(2).sum() for p in self.parameters())
