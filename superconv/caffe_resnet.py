"""The authors' own CIFAR ResNet, as their Caffe prototxts define it.

``architectures/Resnet56Cifar.prototxt`` (and ``Resnet20Cifar`` / ``Resnet110Cifar``) in
lnsmith54/super-convergence differ from He et al.'s option-A ResNet (``models.cifar_resnet``):

* the first block of stages 2 and 3 computes at the *old* width: its two 3x3 convolutions keep
  16 (32) channels, the first with stride 2;
* its shortcut is a 3x3 stride-2 *average pool* without padding (Caffe rounds the output size up,
  so 32x32 -> 16x16, the last window averaging what lies inside the image);
* after the sum and its ReLU, zero channels are concatenated (``DummyData`` + ``Concat``) to
  reach the stage's width; the remaining blocks compute at 32 (64) channels;
* every convolution has a bias (Caffe's default ``bias_term``), with ``lr_mult: 2`` and
  ``decay_mult: 0``; BatchNorm's ``Scale`` layer (gamma, beta) and the classifier use Caffe's
  defaults (learning rate x1 and weight decay x1; the classifier's bias ``lr_mult: 2``).

ResNet-56 then has 808,682 learnable parameters (ResNet-20: 224,042; ResNet-110: 1,685,642),
not option A's 853,018. Fillers: ``msra`` convolutions, ``xavier`` classifier.
:meth:`CaffeResNet.caffe_multipliers` gives the optimizer its per-group learning-rate and
weight-decay multipliers (``optim.param_groups``).
"""

from __future__ import annotations

from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _checks, fillers

__all__ = ["CaffeBlock", "CaffeResNet", "caffe_resnet"]


class CaffeBlock(nn.Module):
    """conv-BN-ReLU-conv-BN + shortcut, ReLU; at ``stride`` 2 the convolutions keep the input
    width, the shortcut is a 3x3 stride-2 average pool, and zeros double the channels after."""

    def __init__(self, channels: int, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.stride == 1:
            return F.relu(out + x)
        # Caffe's pooling rounds the output size up; without padding, PyTorch's ceil_mode then
        # averages the last window over the pixels inside the image, as Caffe does.
        out = F.relu(out + F.avg_pool2d(x, kernel_size=3, stride=2, ceil_mode=True))
        return F.pad(out, (0, 0, 0, 0, 0, out.shape[1]))  # the concatenated zero channels

    def extra_repr(self) -> str:
        return f"stride={self.stride}" + (", zeros double the channels" if self.stride == 2 else "")


class CaffeResNet(nn.Module):
    """``Resnet{depth}Cifar.prototxt``: a 3x3 stem with bias, three stages of n blocks, global
    average pool, fully connected. Build it with :func:`caffe_resnet`."""

    def __init__(self, depth: int, num_classes: int, in_channels: int, width: int):
        super().__init__()
        n = (depth - 2) // 6
        self.depth, self.width, self.num_classes = depth, width, num_classes
        self.blocks_per_stage, self.block_count = n, 3 * n
        self.name = f"Caffe-ResNet-{depth}" + (f"-w{width}" if width != 16 else "")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=True),
                                  nn.BatchNorm2d(width), nn.ReLU())
        stages: List[nn.Module] = []
        channels = width
        for i in range(3):
            stride = 1 if i == 0 else 2
            blocks = [CaffeBlock(channels, stride)]
            channels *= stride
            blocks += [CaffeBlock(channels) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        fillers.caffe_init_(self)  # msra convolutions, xavier classifier, zero biases

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))

    def caffe_multipliers(self) -> list:
        """The prototxt's ``param { lr_mult decay_mult }`` as optimizer groups: ``[{"params",
        "lr_mult", "decay_mult"}, ...]`` -- convolution weights x1/x1, convolution biases x2/x0,
        BatchNorm scale and shift x1/x1 (Caffe's defaults), classifier weight x1/x1 and bias x2/x1."""
        conv_b = [m.bias for m in self.modules() if isinstance(m, nn.Conv2d)]
        fc_b = [self.fc.bias]
        special = {id(p) for p in conv_b + fc_b}
        rest = [p for p in self.parameters() if id(p) not in special]
        return [dict(params=rest, lr_mult=1.0, decay_mult=1.0), dict(params=conv_b, lr_mult=2.0, decay_mult=0.0),
                dict(params=fc_b, lr_mult=2.0, decay_mult=1.0)]

    def extra_repr(self) -> str:
        return f"name={self.name!r}, depth={self.depth}, width={self.width}"


def caffe_resnet(depth: int, num_classes: int = 10, in_channels: int = 3, width: int = 16) -> CaffeResNet:
    """The authors' Caffe ResNet-``depth`` (6n+2: 20, 56, 110, ...); ``width`` channels in stage 1
    (16 in the prototxts), 2x and 4x in stages 2 and 3."""
    _checks.depth(depth)
    _checks.positive_int("num_classes", num_classes)
    _checks.positive_int("in_channels", in_channels)
    _checks.positive_int("width", width)
    return CaffeResNet(depth, num_classes, in_channels, width)
