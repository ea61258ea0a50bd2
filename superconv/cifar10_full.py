"""Caffe's ``cifar10_full`` network, which the CLR paper's CIFAR-10 runs trained (CLR Table 1).

As ``examples/cifar10/cifar10_full_train_test.prototxt`` in BVLC/caffe defines it: three 5x5
convolutions (32, 32, 64 channels, padding 2), each followed by a 3x3 stride-2 pooling (max after
the first, average after the others; Caffe rounds the output size up: 32 -> 16 -> 8 -> 4), ReLUs,
local response normalisation *within* each channel after the first two pools (3x3 window, alpha
5e-5, beta 0.75), and one fully connected layer, 1,024 -> 10. No BatchNorm. 89,578 parameters.

Fillers are the prototxt's Gaussians (std 1e-4 for the first convolution, 1e-2 elsewhere), biases
zero. The optimizer multipliers (:meth:`Cifar10Full.caffe_multipliers`): biases learn at x2, the
classifier's weights decay x250 and its bias not at all, everything else at Caffe's defaults.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _checks

__all__ = ["WithinChannelLRN", "Cifar10Full", "cifar10_full"]


class WithinChannelLRN(nn.Module):
    """Caffe's ``LRN`` with ``norm_region: WITHIN_CHANNEL``: ``x / (1 + alpha * mean(x^2))^beta``,
    the mean over a ``size`` x ``size`` window of the same channel, zero-padded and counted with
    its padding (Caffe's average pooling of the squares)."""

    def __init__(self, size: int = 3, alpha: float = 5e-5, beta: float = 0.75):
        super().__init__()
        self.size, self.alpha, self.beta = size, alpha, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in float32: under bf16 autocast 1 + alpha * mean(x^2) would round to 1 for most inputs
        xf = x.float()
        mean_sq = F.avg_pool2d(xf * xf, self.size, stride=1, padding=(self.size - 1) // 2, count_include_pad=True)
        return (xf * (1 + self.alpha * mean_sq).pow(-self.beta)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha:g}, beta={self.beta:g}"


class Cifar10Full(nn.Module):
    """``cifar10_full``; build it with :func:`cifar10_full`."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.name = "cifar10_full"
        self.conv1 = nn.Conv2d(in_channels, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.norm1, self.norm2 = WithinChannelLRN(), WithinChannelLRN()
        self.fc = nn.Linear(64 * 4 * 4, num_classes)
        for conv, std in ((self.conv1, 1e-4), (self.conv2, 1e-2), (self.conv3, 1e-2), (self.fc, 1e-2)):
            nn.init.normal_(conv.weight, std=std)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(F.relu(F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True)))
        x = self.norm2(F.avg_pool2d(F.relu(self.conv2(x)), 3, 2, ceil_mode=True))
        x = F.avg_pool2d(F.relu(self.conv3(x)), 3, 2, ceil_mode=True)
        return self.fc(torch.flatten(x, 1))

    def caffe_multipliers(self) -> list:
        """The prototxt's ``param`` blocks as optimizer groups: convolution weights x1/x1, their
        biases x2/x1 (conv3 states none: x1/x1), classifier weight x1/x250, bias x2/x0."""
        return [dict(params=[self.conv1.weight, self.conv2.weight, self.conv3.weight, self.conv3.bias],
                     lr_mult=1.0, decay_mult=1.0),
                dict(params=[self.conv1.bias, self.conv2.bias], lr_mult=2.0, decay_mult=1.0),
                dict(params=[self.fc.weight], lr_mult=1.0, decay_mult=250.0),
                dict(params=[self.fc.bias], lr_mult=2.0, decay_mult=0.0)]


def cifar10_full(num_classes: int = 10, in_channels: int = 3) -> Cifar10Full:
    """Caffe's ``cifar10_full`` for 32x32 inputs (the classifier expects a 4x4 map)."""
    _checks.positive_int("num_classes", num_classes)
    _checks.positive_int("in_channels", in_channels)
    return Cifar10Full(num_classes, in_channels)
