"""The networks of the super-convergence experiments.

Smith & Topin (arXiv 1708.07120) train CIFAR ResNets (ResNet-20/56/110, He et al. 2016, §4.2)
and, for the MNIST rows, Caffe's MNIST LeNet; the 1cycle table (v3 Table 2 = Smith, arXiv
1803.09820, Table 2) adds a wide ResNet and a DenseNet on CIFAR-10, and §4 an ImageNet ResNet-50.
This module builds them all in PyTorch:

* :func:`cifar_resnet` -- the ResNet-(6n+2) for 32x32 inputs, with the parameter-free
  shortcut "A" (downsample, then zero-pad channels) or the projection shortcut "B".
* :func:`lenet5` -- Caffe's ``lenet_train_test.prototxt`` network (20/50 conv channels,
  500 hidden units), not LeCun's original LeNet-5.
* :func:`wide_resnet` -- Zagoruyko & Komodakis' WRN-d-k (pre-activation, d = 6n+4).
* :func:`smith_wide_resnet` -- the "wide ResNet" Smith actually trained (a widened ResNet-32,
  not a WRN-d-k; see ``PAPER_WIDE_RESNET`` below).
* :func:`densenet`, :func:`densenet_bc` -- Huang et al.'s CIFAR DenseNet and DenseNet-BC.
* :func:`imagenet_resnet50` -- torchvision's ResNet-50 (``"imagenet_resnet50"``; ``"resnet50"``
  is the CIFAR ResNet-50 = 6*8+2 of the ``resnet{depth}`` family).
* ``caffe_resnet{depth}`` -- the authors' own Caffe ResNet (:mod:`superconv.caffe_resnet`).
* :func:`build` -- a name -> model registry (``"resnet56"``, ``"wrn28_10"``, ``"densenet40"``, ...).
* :func:`count_parameters` -- trainable parameter count.

Initialisation follows the authors' Caffe prototxts: convolutions use Caffe's ``msra`` filler
and the classifier uses Caffe's ``xavier`` filler; both normalise by fan-in (Caffe's default
``variance_norm``), which is what :func:`superconv.fillers.caffe_msra_` and :func:`~superconv.fillers.caffe_xavier_` reproduce.
Every CIFAR family here uses them (:func:`~superconv.fillers.caffe_init_`), so the families differ only in their
architecture; the exceptions the prototxts call for are documented where they apply. The
ImageNet ResNet-50 keeps torchvision's own initialisation.

Note on fidelity. He et al.'s option A (what this module implements, and what gives the
well-known 0.27M / 0.85M / 1.7M parameter counts) widens the residual branch at the first
block of a stage. The authors' Caffe ResNets (``architectures/Resnet*Cifar.prototxt`` in
lnsmith54/super-convergence) differ in details: their convolutions carry biases, the first
block of stages 2 and 3 computes at the *old* width and the zero channels are concatenated
after the block, and the shortcut pools with a 3x3 stride-2 average. ``downsample="avgpool"``
approximates that shortcut with the 2x2 stride-2 average that keeps shapes exact.

One module, not a package of them: the families share the validation, the Caffe initialisation
and the registry, and splitting would need either an import cycle (registry <-> families) or a
third module for those helpers; sections below keep the file navigable.
"""

from __future__ import annotations

import math
import re
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import resnet50

from . import _checks, fillers
from .caffe_resnet import caffe_resnet
from .cifar10_full import cifar10_full

__all__ = [
    "BasicBlock",
    "CifarResNet",
    "DenseNet",
    "LeNet5",
    "PAPER_DENSENET",
    "PAPER_DENSENET_KWARGS",
    "PAPER_WIDE_RESNET",
    "SmithWideResNet",
    "WideBasicBlock",
    "WideResNet",
    "ZeroPadShortcut",
    "available_models",
    "build",
    "cifar_resnet",
    "count_parameters",
    "densenet",
    "densenet_bc",
    "imagenet_resnet50",
    "lenet5",
    "smith_wide_resnet",
    "wide_resnet",
]

SHORTCUTS = ("A", "B")
DOWNSAMPLES = ("subsample", "avgpool")
CONV_INITS = ("msra", "xavier")  # Caffe filler names


# --------------------------------------------------------------------------- validation


def _check_dropout(dropout: object) -> float:
    return _checks.real("dropout", dropout, "a float in [0, 1)", lambda p: 0 <= p < 1)


# ----------------------------------------------------------------------------- ResNet


class ZeroPadShortcut(nn.Module):
    """He et al.'s option-A shortcut: downsample spatially, then append zero channels.

    Parameter-free. ``mode="subsample"`` keeps every other pixel (``x[:, :, ::2, ::2]``);
    ``mode="avgpool"`` averages 2x2 windows. Both give ``ceil(H / 2)`` rows, the output size of
    the stride-2, padding-1 3x3 convolution on the residual branch, so odd inputs line up.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, mode: str = "subsample"):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"out_channels={out_channels} < in_channels={in_channels}; zero padding only widens")
        _checks.choice("mode", mode, DOWNSAMPLES)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.mode = stride, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            if self.mode == "subsample":
                x = x[:, :, ::2, ::2]
            else:
                # ceil_mode keeps the last, partial window on odd sizes (averaged over what exists).
                x = F.avg_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)
        extra = self.out_channels - self.in_channels
        if extra:
            # F.pad's tuple runs from the last dim backwards: (W, W, H, H, C_front, C_back).
            x = F.pad(x, (0, 0, 0, 0, 0, extra))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}->{self.out_channels}, stride={self.stride}, mode={self.mode!r}"


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU (He et al. 2016, Fig. 2)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, shortcut: str = "A",
                 downsample: str = "subsample"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride, downsample)
        else:  # "B": projection only where the shape changes, identity elsewhere.
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """The CIFAR ResNet-(6n+2): a 3x3 stem, three stages of n basic blocks, GAP, Linear.

    Build it with :func:`cifar_resnet`, which validates its arguments first.
    """

    def __init__(self, depth: int, num_classes: int, in_channels: int, shortcut: str, width: int,
                 downsample: str):
        super().__init__()
        n = (depth - 2) // 6
        self.depth = depth
        self.blocks_per_stage = n
        self.block_count = 3 * n
        self.width = width
        self.shortcut = shortcut
        self.downsample = downsample
        self.num_classes = num_classes
        self.name = _resnet_name(depth, width, shortcut, downsample)

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        )
        stages: List[nn.Module] = []
        channels = width
        for i, stage_width in enumerate((width, 2 * width, 4 * width)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BasicBlock(channels, stage_width, stride, shortcut, downsample))
                channels = stage_width
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        # Adaptive pooling: any input size ends in one vector per image (8x8 for CIFAR, 7x7 for MNIST).
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fillers.caffe_init_(self)  # msra convs, xavier fc (the last module, so the RNG order is unchanged)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, depth={self.depth}, width={self.width}, "
                f"shortcut={self.shortcut!r}, downsample={self.downsample!r}")


def _resnet_name(depth: int, width: int, shortcut: str, downsample: str) -> str:
    # Short, log-friendly; only non-default choices are spelled out.
    name = f"ResNet-{depth}"
    if width != 16:
        name += f"-w{width}"
    if shortcut != "A":
        name += f"-{shortcut}"
    if downsample != "subsample":
        name += f"-{downsample}"
    return name


def cifar_resnet(depth: int, num_classes: int = 10, in_channels: int = 3, shortcut: str = "A",
                 width: int = 16, downsample: str = "subsample") -> CifarResNet:
    """The CIFAR ResNet-``depth`` of He et al. (2016), §4.2, as trained by Smith & Topin.

    Args:
        depth: 6n+2 (8, 14, 20, 32, 44, 56, 110, ...); n basic blocks per stage.
        num_classes: outputs of the final Linear layer.
        in_channels: input image channels (3 for CIFAR, 1 for (Fashion-)MNIST).
        shortcut: ``"A"`` (parameter-free zero padding, the paper's) or ``"B"`` (1x1 conv + BN
            projection where the shape changes).
        width: channels of stage 1 (stages 2 and 3 use 2x and 4x); 16 in the paper, smaller for
            quick CPU runs.
        downsample: how shortcut A halves the resolution: ``"subsample"`` (He et al.) or
            ``"avgpool"`` (2x2 stride-2 average, closer to the authors' Caffe nets).

    With the defaults the counts are 269,722 (ResNet-20), 853,018 (ResNet-56) and
    1,727,962 (ResNet-110) trainable parameters. Any input size works (adaptive pooling).
    The model carries ``depth``, ``blocks_per_stage``, ``block_count`` and ``name``
    (e.g. ``"ResNet-20"``).
    """
    _checks.depth(depth)
    _checks.positive_int("num_classes", num_classes)
    _checks.positive_int("in_channels", in_channels)
    _checks.positive_int("width", width)
    _checks.choice("shortcut", shortcut, SHORTCUTS)
    _checks.choice("downsample", downsample, DOWNSAMPLES)
    if shortcut == "B" and downsample != "subsample":
        # The projection downsamples by its own stride; silently ignoring the request would mislead.
        raise ValueError(f"downsample={downsample!r} only applies to shortcut='A'; "
                         f"allowed with shortcut='B': 'subsample'")
    return CifarResNet(depth, num_classes, in_channels, shortcut, width, downsample)


# ------------------------------------------------------------------------------ LeNet


class LeNet5(nn.Module):
    """Caffe's MNIST LeNet: conv5x5(20)-maxpool2-conv5x5(50)-maxpool2-fc500-ReLU-fc.

    Build it with :func:`lenet5`. There is no nonlinearity after the convolutions; that is
    how Caffe's ``lenet_train_test.prototxt`` is written.
    """

    def __init__(self, num_classes: int, in_channels: int, input_size: Tuple[int, int]):
        super().__init__()
        self.name = "LeNet-5"
        self.num_classes = num_classes
        self.input_size = input_size
        self.conv1 = nn.Conv2d(in_channels, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        h, w = (_lenet_feature_size(s) for s in input_size)
        self.fc1 = nn.Linear(50 * h * w, 500)
        self.fc2 = nn.Linear(500, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Caffe's LeNet uses the xavier filler for every weight and constant-0 biases.
        for m in (self.conv1, self.conv2, self.fc1, self.fc2):
            fillers.caffe_xavier_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ceil_mode mirrors Caffe's pooling arithmetic; for 28x28 and 32x32 it changes nothing.
        x = F.max_pool2d(self.conv1(x), 2, 2, ceil_mode=True)
        x = F.max_pool2d(self.conv2(x), 2, 2, ceil_mode=True)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_size={self.input_size}"


def _lenet_feature_size(size: int) -> int:
    # conv5 (no padding) -> maxpool 2/2 (ceil) -> conv5 -> maxpool 2/2 (ceil)
    size = size - 4
    size = math.ceil(size / 2)
    size = size - 4
    return math.ceil(size / 2)


def lenet5(num_classes: int = 10, in_channels: int = 1,
           input_size: Union[int, Tuple[int, int]] = 28) -> LeNet5:
    """The LeNet of Smith & Topin's MNIST rows: Caffe's ``lenet_train_test.prototxt``.

    Layers: conv 5x5, 20 channels -> max-pool 2 -> conv 5x5, 50 channels -> max-pool 2 ->
    fc 500 -> ReLU -> fc ``num_classes``. For 28x28x1 input and 10 classes that is 431,080
    parameters. ``input_size`` (an int or ``(H, W)``, at least 13) sets the flatten size, so
    32x32x3 CIFAR images work too (1,250 features into fc1 instead of 800).

    This is *not* LeCun et al.'s (1998) LeNet-5, which has 6 and 16 convolution channels,
    fully connected layers of 120 and 84 units, tanh-like squashing and about 60k parameters.
    The name is kept because the paper (following Caffe's examples) uses it.
    """
    _checks.positive_int("num_classes", num_classes)
    _checks.positive_int("in_channels", in_channels)
    sizes = (input_size, input_size) if isinstance(input_size, int) and not isinstance(input_size, bool) \
        else tuple(input_size) if isinstance(input_size, (tuple, list)) else None
    if (sizes is None or len(sizes) != 2
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 13 for s in sizes)):
        raise ValueError(f"input_size={input_size!r} is not supported; allowed: an int >= 13 "
                         f"or an (H, W) pair of ints >= 13 (e.g. 28 for MNIST, 32 for CIFAR)")
    return LeNet5(num_classes, in_channels, sizes)


# ------------------------------------------------------------------------ Wide ResNet


class WideBasicBlock(nn.Module):
    """Pre-activation block of Zagoruyko & Komodakis (2016), Fig. 1(d):
    BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3, plus the shortcut; no activation after the sum.

    Where the shape changes, the first BN-ReLU is shared: the 1x1 projection shortcut sees the
    activated input, as in the authors' Torch code; elsewhere the identity carries the raw input.
    Dropout sits right before the second convolution (the authors' placement).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.shortcut: Optional[nn.Conv2d] = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = F.relu(self.bn1(x))
        out = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(act)))))
        return out + (x if self.shortcut is None else self.shortcut(act))


class WideResNet(nn.Module):
    """WRN-d-k: a 3x3 stem (16 channels), three stages of n = (d-4)/6 :class:`WideBasicBlock`
    of widths 16k, 32k, 64k, then BN-ReLU, global average pool, Linear.

    Build it with :func:`wide_resnet`, which validates its arguments first.
    """

    def __init__(self, depth: int, k: int, num_classes: int, in_channels: int, dropout: float):
        super().__init__()
        n = (depth - 4) // 6
        self.depth, self.k, self.dropout = depth, k, dropout
        self.blocks_per_stage = n
        self.num_classes = num_classes
        self.name = f"WRN-{depth}-{k}"
        self.stem = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        stages: List[nn.Module] = []
        channels = 16
        for i, stage_width in enumerate((16 * k, 32 * k, 64 * k)):
            blocks = []
            for j in range(n):
                blocks.append(WideBasicBlock(channels, stage_width, 2 if (i > 0 and j == 0) else 1, dropout))
                channels = stage_width
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.bn = nn.BatchNorm2d(channels)  # pre-activation nets end with their own BN-ReLU
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        fillers.caffe_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(F.relu(self.bn(x))), 1))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, dropout={self.dropout}"


def wide_resnet(depth: int, k: int, num_classes: int = 10, in_channels: int = 3,
                dropout: float = 0.0) -> WideResNet:
    """Zagoruyko & Komodakis' (2016) wide ResNet WRN-``depth``-``k`` for CIFAR.

    Args:
        depth: 6n+4 (10, 16, 22, 28, 40, ...); n blocks per stage.
        k: widening factor; the stages have 16k, 32k and 64k channels (k=1 is a pre-activation
            ResNet with projection shortcuts).
        num_classes, in_channels: as for :func:`cifar_resnet`; any input size works.
        dropout: dropout probability between the two convolutions of a block (0.3 in the
            paper's "wide-dropout" rows, 0 by default).

    Counts for 10 classes: 36,479,194 (WRN-28-10, the paper's 36.5M) and 10,961,370 (WRN-16-8,
    11.0M). Initialisation is this module's Caffe msra/xavier (the authors' Torch code uses He
    normal by fan-out); the model carries ``depth``, ``k``, ``blocks_per_stage`` and ``name``.
    """
    _checks.depth(depth, 6, 4, "10, 16, 22, 28, 40")
    _checks.positive_int("k", k)
    _checks.positive_int("num_classes", num_classes)
    _checks.positive_int("in_channels", in_channels)
    return WideResNet(depth, k, num_classes, in_channels, _check_dropout(dropout))


# ------------------------------------------------------------------ Smith's "wide ResNet"


class SmithWideBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, with no ReLU after the sum; the
    convolutions carry biases; the projection is a 2x2 stride-2 conv + BN (wide32cifar.prototxt).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.stride = stride
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            # Kernel = stride: one 2x2 window per output pixel (1x1 if only the width changes).
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, stride, stride=stride),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.stride == 2 and (x.shape[-1] % 2 or x.shape[-2] % 2):
            # Odd sizes (Caffe needs none): pad right/bottom so the 2x2 windows give ceil(H/2),
            # the 3x3 branch's output size.
            x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return out + self.shortcut(x)


class SmithWideResNet(nn.Module):
    """The CIFAR-10 "wide ResNet" of Smith's 1cycle table (Caffe ``wide32cifar.prototxt``):
    a conv3x3-BN-ReLU stem (16 channels), three stages of n = (depth-2)/6 :class:`SmithWideBlock`
    of ``widths`` (16, 64, 256), global average pool, Linear. Build it with
    :func:`smith_wide_resnet`.
    """

    def __init__(self, depth: int, widths: Tuple[int, int, int], num_classes: int, in_channels: int):
        super().__init__()
        n = (depth - 2) // 6
        self.depth, self.widths, self.blocks_per_stage = depth, widths, n
        self.num_classes = num_classes
        self.name = f"Smith-Wide-{depth}"
        if widths != (16, 64, 256):
            self.name += "-" + "-".join(map(str, widths))
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, stride=1, padding=1),
                                  nn.BatchNorm2d(16), nn.ReLU())
        stages: List[nn.Module] = []
        channels = 16
        for i, stage_width in enumerate(widths):
            blocks = []
            for j in range(n):
                blocks.append(SmithWideBlock(channels, stage_width, 2 if (i > 0 and j == 0) else 1))
                channels = stage_width
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        fillers.caffe_init_(self, conv="msra", linear="msra")  # the prototxt's fc filler is msra too

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, widths={self.widths}"


def smith_wide_resnet(depth: int = 32, num_classes: int = 10, in_channels: int = 3,
                      widths: Sequence[int] = (16, 64, 256)) -> SmithWideResNet:
    """The wide ResNet Smith trained for the 1cycle table ("widenet32 with k=4"), registry
    name ``"smith_wide32"``; see ``PAPER_WIDE_RESNET`` for the evidence.

    It is a ResNet-32 layout (depth 6n+2, 5 blocks per stage) with stage widths 16, 64, 256 --
    *not* Zagoruyko & Komodakis' WRN-d-k (pre-activation, 6n+4, widths 16k/32k/64k): post-
    activation blocks without a ReLU after the sum, conv biases, 2x2 stride-2 projection
    shortcuts, no final BN. 5,903,626 parameters for 10 classes. ``widths`` (three ints) shrinks
    it for CPU runs, e.g. ``(4, 16, 64)``; the stem stays at 16 channels as in the prototxt.
    """
    _checks.depth(depth, 6, 2, "8, 14, 20, 32, 44, 56, 110")
    _checks.positive_int("num_classes", num_classes)
    _checks.positive_int("in_channels", in_channels)
    ws = tuple(widths) if isinstance(widths, (tuple, list)) else ()
    if len(ws) != 3 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in ws):
        raise ValueError(f"widths={widths!r} is not supported; allowed: three positive ints, "
                         f"e.g. (16, 64, 256)")
    return SmithWideResNet(depth, ws, num_classes, in_channels)


# ---------------------------------------------------------------------------- DenseNet


class DenseLayer(nn.Module):
    """One DenseNet layer; its ``growth_rate`` new channels are concatenated after its input.

    Plain: BN-ReLU-conv3x3. Bottleneck ("B"): BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3. Dropout
    follows every convolution (Huang et al.'s code, and Smith's Caffe DenseNet).
    """

    def __init__(self, in_channels: int, growth_rate: int, bottleneck: bool, dropout: float):
        super().__init__()
        self.bottleneck = bottleneck
        self.norm1 = nn.BatchNorm2d(in_channels)
        if bottleneck:
            self.conv1 = nn.Conv2d(in_channels, 4 * growth_rate, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(4 * growth_rate)
            self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.conv1(F.relu(self.norm1(x))))
        if self.bottleneck:
            out = self.dropout(self.conv2(F.relu(self.norm2(out))))
        return torch.cat([x, out], 1)


class Transition(nn.Module):
    """BN-ReLU-conv1x1-(dropout)-avgpool 2x2: between dense blocks, halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.dropout(self.conv(F.relu(self.norm(x)))), 2)


class DenseNet(nn.Module):
    """Huang et al.'s (2017) CIFAR DenseNet: a 3x3 stem, three dense blocks of n layers joined
    by two transitions, then BN-ReLU, global average pool, Linear. Build it with
    :func:`densenet` or :func:`densenet_bc`.
    """

    def __init__(self, depth: int, growth_rate: int, bottleneck: bool, compression: float,
                 num_classes: int, in_channels: int, dropout: float, conv_init: str):
        super().__init__()
        # A bottleneck layer holds two convolutions, so depth counts it twice.
        n = (depth - 4) // (6 if bottleneck else 3)
        self.depth, self.growth_rate, self.layers_per_block = depth, growth_rate, n
        self.bottleneck, self.compression, self.dropout = bottleneck, compression, dropout
        self.num_classes = num_classes
        bc = "-BC" if bottleneck else ""
        self.name = f"DenseNet{bc}-{depth} (k={growth_rate})"
        channels = 2 * growth_rate if bottleneck else 16  # the paper's stem widths
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        features: List[nn.Module] = []
        for i in range(3):
            layers = []
            for _ in range(n):
                layers.append(DenseLayer(channels, growth_rate, bottleneck, dropout))
                channels += growth_rate
            features.append(nn.Sequential(*layers))
            if i < 2:
                out = int(math.floor(compression * channels))
                features.append(Transition(channels, out, dropout))
                channels = out
        self.features = nn.Sequential(*features)
        self.norm = nn.BatchNorm2d(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        fillers.caffe_init_(self, conv=conv_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stem(x))
        return self.fc(torch.flatten(self.pool(F.relu(self.norm(x))), 1))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, compression={self.compression}, dropout={self.dropout}"


def densenet(depth: int, growth_rate: int = 12, num_classes: int = 10, in_channels: int = 3,
             dropout: float = 0.0, conv_init: str = "msra") -> DenseNet:
    """The original CIFAR DenseNet (no bottleneck, no compression): depth 3n+4 (40, 100, ...),
    n BN-ReLU-conv3x3 layers of ``growth_rate`` channels per block, a 16-channel stem.

    1,019,722 parameters for DenseNet-40 (k=12) and 10 classes (the paper's 1.0M). Huang et al.
    use ``dropout=0.2`` only without data augmentation; Smith's Caffe DenseNet-40 keeps it with
    flips. ``conv_init``: Caffe filler of the convolutions, ``"msra"`` (this module's default) or
    ``"xavier"`` (what Smith's logged DenseNet runs used; see ``PAPER_DENSENET``).
    """
    _checks.depth(depth, 3, 4, "40, 100")
    return _densenet(depth, growth_rate, False, 1.0, num_classes, in_channels, dropout, conv_init)


def densenet_bc(depth: int, growth_rate: int = 12, num_classes: int = 10, in_channels: int = 3,
                dropout: float = 0.0, conv_init: str = "msra", compression: float = 0.5) -> DenseNet:
    """DenseNet-BC: bottleneck layers (1x1 conv to 4k channels before each 3x3) and transitions
    that keep ``compression`` of the channels; depth 6n+4 (100, 190, 250, ...), stem 2k channels.

    769,162 parameters for DenseNet-BC-100 (k=12) and 10 classes (the paper's 0.8M).
    Other arguments as for :func:`densenet`.
    """
    _checks.depth(depth, 6, 4, "100, 190, 250")
    compression = _checks.real("compression", compression, "a float in (0, 1]", lambda c: 0 < c <= 1)
    return _densenet(depth, growth_rate, True, compression, num_classes, in_channels, dropout, conv_init)


def _densenet(depth, growth_rate, bottleneck, compression, num_classes, in_channels, dropout,
              conv_init) -> DenseNet:
    _checks.positive_int("growth_rate", growth_rate)
    _checks.positive_int("num_classes", num_classes)
    _checks.positive_int("in_channels", in_channels)
    _checks.choice("conv_init", conv_init, CONV_INITS)
    return DenseNet(depth, growth_rate, bottleneck, compression, num_classes, in_channels,
                    _check_dropout(dropout), conv_init)


# ------------------------------------------------------------------- ImageNet ResNet-50


def imagenet_resnet50(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> nn.Module:
    """torchvision's ResNet-50 (He et al. 2016, ImageNet), untrained: registry name
    ``"imagenet_resnet50"`` (``"resnet50"`` is the CIFAR ResNet-50 of ``resnet{depth}``).

    25,557,032 parameters for 1000 classes. ``in_channels`` other than 3 replaces the 7x7 stem
    convolution (He-initialised like torchvision's); other ``kwargs`` go to
    ``torchvision.models.resnet50`` (e.g. ``zero_init_residual=True``). Initialisation is
    torchvision's. Smith's §4 Caffe ResNet-50 (``Imagenet/architectures/resnet50.prototxt`` in
    lnsmith54/hyperParam1) differs: conv biases, xavier fillers, and the stride-2 on the first
    1x1 convolution of a stage (torchvision's "v1.5" puts it on the 3x3).
    """
    _checks.positive_int("num_classes", num_classes)
    _checks.positive_int("in_channels", in_channels)
    model = resnet50(weights=None, num_classes=num_classes, **kwargs)
    if in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.name = "ResNet-50 (ImageNet)"
    return model


# --------------------------------------------------------------------------- utilities


def count_parameters(model: nn.Module) -> int:
    """Number of trainable (``requires_grad``) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ------------------------------------------------------------- the paper's 1cycle-table nets
#
# Which wide ResNet and DenseNet are the "CIFAR-10 wide ResNet" and "CIFAR-10 DenseNet" rows of
# the 1cycle table (Super-Convergence v3 Table 2 = Smith, arXiv 1803.09820, Table 2)? Neither
# paper names them beyond that. The author's repository lnsmith54/hyperParam1 ("the Caffe files
# of ... 1803.09820"; snapshot at commit c5dd3de) answers it:
#
# * Cifar/jsub.sh launches exactly the table's runs: "x4.sh a Wide1Cyc wide32cifar 1 50 23 1e-4"
#   (1cycle 0.1-1.0, stepsize 23 epochs, 50 epochs), "Wide1Cyc wide32cifar 0.5 25 12",
#   "WideOrig wide32cifar 0.1 100|200|400|800", "DenOrig genDensenet40 0.1 100|200|400",
#   "Den1Cyc genDensenet40 4 50 22 1e-6 | 100 45 | 150 70" (argument 3 = architecture file).
# * Cifar/architectures/wide32cifar.prototxt, named "widenet32 with k=4-cifar10": a ResNet-32
#   layout (stem + 3 stages x 5 blocks x 2 convs + fc) with stage widths 16, 64, 256, post-
#   activation blocks without a ReLU after the sum, conv biases, 2x2 stride-2 conv+BN
#   projections, msra fillers (fc included), no final BN. Not a WRN-d-k (depth 32 is not 6n+4;
#   WRN-32-4 would have 64/128/256 channels), hence :func:`smith_wide_resnet`.
# * Cifar/results/wide32cifar_Wide1CycLR.1001CM0.95.85WD1e-4Epoch50BS128a_1, the Caffe log of
#   the 50-epoch row: 4 GPUs x 128 = batch 512, 4882 iterations, stepsize 2246, net
#   "widenet32 with k=4-cifar10" with top shapes 16x32x32 / 64x16x16 / 256x8x8, msra fillers;
#   final test accuracy 0.91375 (the table: 91.3 +- 0.1).
# * Cifar/architectures/genDensenet40.prototxt, "Cifar-Densenet": Huang et al.'s DenseNet
#   (L=40, k=12) exactly -- 16-channel stem, 3 x 12 BN-ReLU-conv3x3(12)-dropout(0.2) layers,
#   transitions BN-ReLU-conv1x1(160 / 304)-dropout-avgpool, BN-ReLU-global pool-fc; no conv
#   biases. The logs genDensenet40_DenOrigLR0.10.1M0.9WD1e-4Epoch400BS128c_1 (0.9303 after 400
#   epochs; table 92.7 +- 0.2) and genDensenet40_Den1CycLR.1004M0.9WD1e-6Epoch50BS128c_1
#   (0.9153 after 50; table 91.7 +- 0.3) show 160 / 304 channels, dropout 0.2 and *xavier*
#   conv fillers: Cifar/x4.sh rewrites msra -> xavier for each experiment's run _1 (and keeps
#   msra for run _2), so the table's 4-run means may mix both initialisations.
#
# How sure: DenseNet-40 (k=12), dropout 0.2 -- high (architecture file, launch lines and logs
# agree; only the conv filler of runs _2.._4 is unknown). The wide net -- high that it is
# wide32cifar (launch lines + a log that reproduces the table's 91.3), and the architecture is
# read from both the prototxt and the log's layer shapes. Not modelled: Caffe's BN moving-
# average fractions (0.9 wide, 0.999 DenseNet; PyTorch's momentum 0.1 corresponds to 0.9).
PAPER_WIDE_RESNET = "smith_wide32"
PAPER_DENSENET = "densenet40"
# What the logged DenseNet runs used beyond the defaults (growth_rate 12 is the default).
PAPER_DENSENET_KWARGS: Dict[str, object] = {"dropout": 0.2, "conv_init": "xavier"}


# ------------------------------------------------------------------------------ registry

# Name -> factory. Adding a network is one line here, e.g. ``"wrn16_8": partial(wide_resnet, 16, 8)``.
_REGISTRY: Dict[str, Callable[..., nn.Module]] = {
    "resnet20": partial(cifar_resnet, 20),
    "resnet56": partial(cifar_resnet, 56),
    "resnet110": partial(cifar_resnet, 110),
    "lenet5": lenet5,
    "cifar10_full": cifar10_full,  # Caffe's, the CLR paper's CIFAR-10 net (superconv.cifar10_full)
    # Not "resnet50": that name is the CIFAR ResNet-50 (6*8+2) of the resnet{depth} family.
    "imagenet_resnet50": imagenet_resnet50,
}

# Families addressed by numbers in the name; "resnet32" -> cifar_resnet(32), "wrn28_10" ->
# wide_resnet(28, 10). Patterns must fullmatch, so no family swallows another's names.
_PATTERNS: Dict[str, Tuple["re.Pattern[str]", Callable[..., nn.Module]]] = {
    "resnet{depth}": (re.compile(r"resnet(\d+)"), lambda m, **kw: cifar_resnet(int(m.group(1)), **kw)),
    "caffe_resnet{depth}": (re.compile(r"caffe_?resnet(\d+)"), lambda m, **kw: caffe_resnet(int(m.group(1)), **kw)),
    "wrn{depth}_{k}": (re.compile(r"wrn(\d+)_(\d+)"),
                       lambda m, **kw: wide_resnet(int(m.group(1)), int(m.group(2)), **kw)),
    "smith_wide{depth}": (re.compile(r"smith_?wide(\d+)"),
                          lambda m, **kw: smith_wide_resnet(int(m.group(1)), **kw)),
    "densenet{depth}": (re.compile(r"densenet(\d+)"), lambda m, **kw: densenet(int(m.group(1)), **kw)),
    "densenet_bc{depth}": (re.compile(r"densenet_?bc(\d+)"),
                           lambda m, **kw: densenet_bc(int(m.group(1)), **kw)),
}


def label(name: str) -> str:
    """A model name as captions print it: ``"resnet56"`` -> ``"ResNet-56"``, ``"caffe_resnet56"``
    -> ``"Caffe ResNet-56"`` (the authors' net), ``"lenet5"`` -> ``"LeNet (Caffe)"``; other names as given."""
    m = re.fullmatch(r"(caffe_?)?resnet(\d+)", name.lower())
    if m:
        return ("Caffe " if m.group(1) else "") + f"ResNet-{m.group(2)}"
    return {"lenet5": "LeNet (Caffe)"}.get(name.lower(), name)


def available_models() -> List[str]:
    """Names :func:`build` accepts: the fixed names, then the numbered families."""
    return sorted(_REGISTRY) + list(_PATTERNS)


def build(name: str, **kwargs) -> nn.Module:
    """Build a model by name. ``kwargs`` go to the factory (e.g. ``build("resnet20", width=8,
    num_classes=100)``, ``build("wrn16_8", dropout=0.3)``, ``build("densenet40", growth_rate=24)``).

    Names: ``"resnet{6n+2}"`` (CIFAR ResNet, :func:`cifar_resnet`; ``"resnet50"`` is the CIFAR
    ResNet-50), ``"caffe_resnet{6n+2}"`` (the authors' prototxt ResNet,
    :func:`superconv.caffe_resnet.caffe_resnet`), ``"cifar10_full"`` (Caffe's, the CLR paper's),
    ``"lenet5"``, ``"wrn{6n+4}_{k}"`` (:func:`wide_resnet`), ``"smith_wide{6n+2}"``
    (:func:`smith_wide_resnet`), ``"densenet{3n+4}"`` and ``"densenet_bc{6n+4}"``
    (:func:`densenet`, :func:`densenet_bc`), ``"imagenet_resnet50"`` (torchvision's). Case is
    ignored; a hyphen between two numbers reads as ``"_"`` and other hyphens are dropped, so
    ``"ResNet-56"``, ``"WRN-28-10"`` and ``"DenseNet-BC-100"`` work.
    """
    if not isinstance(name, str):
        raise ValueError(f"name={name!r} is not a string; allowed: {', '.join(available_models())}")
    key = re.sub(r"(?<=\d)-(?=\d)", "_", name.strip().lower()).replace("-", "")
    if key in _REGISTRY:
        return _REGISTRY[key](**kwargs)
    for pattern, factory in _PATTERNS.values():
        match = pattern.fullmatch(key)
        if match:
            return factory(match, **kwargs)
    raise ValueError(f"name={name!r} is not a known model; allowed: {', '.join(available_models())}")
