"""Caffe's weight fillers, which the authors' prototxts name, in PyTorch.

``msra`` is He-normal and ``xavier`` a uniform of variance 1 / fan_in: both normalise by fan-in
(Caffe's default ``variance_norm``), unlike PyTorch's ``xavier_uniform_``, which averages fan-in
and fan-out. :func:`caffe_init_` initialises a whole network in module order, as Caffe does
layer by layer; every CIFAR network of the book uses it.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

__all__ = ["FILLERS", "caffe_msra_", "caffe_xavier_", "caffe_init_"]


def caffe_msra_(weight: torch.Tensor) -> None:
    """Caffe "msra": He normal with std sqrt(2 / fan_in), fan_in = C_in * k * k."""
    nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")


def caffe_xavier_(weight: torch.Tensor) -> None:
    """Caffe "xavier": U(-a, a) with a = sqrt(3 / fan_in), i.e. variance 1 / fan_in."""
    fan_in = weight[0].numel()
    bound = math.sqrt(3.0 / fan_in)
    nn.init.uniform_(weight, -bound, bound)


#: The filler of each Caffe name.
FILLERS = {"msra": caffe_msra_, "xavier": caffe_xavier_}


def caffe_init_(model: nn.Module, conv: str = "msra", linear: str = "xavier") -> None:
    """Caffe-style init of every layer, in module order: convolutions with the ``conv`` filler,
    Linear layers with the ``linear`` filler, zero biases (Caffe's constant filler), BN 1 / 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            FILLERS[conv if isinstance(m, nn.Conv2d) else linear](m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
