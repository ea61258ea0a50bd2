"""The networks of the super-convergence experiments.

Smith & Topin (arXiv 1708.07120) train CIFAR ResNets (ResNet-20/56/110, He et al. 2016, §4.2)
and, for the MNIST rows, Caffe's MNIST LeNet. This module builds both in PyTorch:

* :func:`cifar_resnet` -- the ResNet-(6n+2) for 32x32 inputs, with the parameter-free
  shortcut "A" (downsample, then zero-pad channels) or the projection shortcut "B".
* :func:`lenet5` -- Caffe's ``lenet_train_test.prototxt`` network (20/50 conv channels,
  500 hidden units), not LeCun's original LeNet-5.
* :func:`build` -- a name -> model registry (``"resnet56"``, ``"lenet5"``, ...).
* :func:`count_parameters` -- trainable parameter count.

Initialisation follows the authors' Caffe prototxts: convolutions use Caffe's ``msra`` filler
and the classifier uses Caffe's ``xavier`` filler; both normalise by fan-in (Caffe's default
``variance_norm``), which is what :func:`_caffe_msra_` and :func:`_caffe_xavier_` reproduce.

Note on fidelity. He et al.'s option A (what this module implements, and what gives the
well-known 0.27M / 0.85M / 1.7M parameter counts) widens the residual branch at the first
block of a stage. The authors' Caffe ResNets (``architectures/Resnet*Cifar.prototxt`` in
lnsmith54/super-convergence) differ in details: their convolutions carry biases, the first
block of stages 2 and 3 computes at the *old* width and the zero channels are concatenated
after the block, and the shortcut pools with a 3x3 stride-2 average. ``downsample="avgpool"``
approximates that shortcut with the 2x2 stride-2 average that keeps shapes exact.
"""

from __future__ import annotations

import math
import re
from functools import partial
from typing import Callable, Dict, List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "BasicBlock",
    "CifarResNet",
    "LeNet5",
    "ZeroPadShortcut",
    "available_models",
    "build",
    "cifar_resnet",
    "count_parameters",
    "lenet5",
]

SHORTCUTS = ("A", "B")
DOWNSAMPLES = ("subsample", "avgpool")


# --------------------------------------------------------------------------- validation


def _check_positive_int(name: str, value: object) -> int:
    # bool is an int subclass; depth=True is a bug, not a request for depth 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is not a positive int; allowed: 1, 2, 3, ...")
    return value


def _check_depth(depth: object) -> int:
    allowed = "8, 14, 20, 32, 44, 56, 110, ... (6n+2 with n >= 1)"
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise ValueError(f"depth={depth!r} is not an int; allowed: {allowed}")
    if depth < 8 or (depth - 2) % 6 != 0:
        raise ValueError(f"depth={depth} is not 6n+2; allowed: {allowed}")
    return depth


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; allowed: {', '.join(map(repr, allowed))}")
    return value


# ------------------------------------------------------------------------ initialisation


def _caffe_msra_(weight: torch.Tensor) -> None:
    # Caffe "msra" = He normal with std sqrt(2 / fan_in), fan_in = C_in * k * k. Fan-in keeps
    # the forward activations' variance constant, and matches the authors' Caffe default.
    nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")


def _caffe_xavier_(weight: torch.Tensor) -> None:
    # Caffe "xavier" is U(-a, a) with a = sqrt(3 / fan_in), i.e. variance 1 / fan_in. PyTorch's
    # xavier_uniform_ averages fan_in and fan_out instead, so it is written out here.
    fan_in = weight[0].numel()
    bound = math.sqrt(3.0 / fan_in)
    nn.init.uniform_(weight, -bound, bound)


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
        _check_choice("mode", mode, DOWNSAMPLES)
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
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                _caffe_msra_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        _caffe_xavier_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

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
    _check_depth(depth)
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("in_channels", in_channels)
    _check_positive_int("width", width)
    _check_choice("shortcut", shortcut, SHORTCUTS)
    _check_choice("downsample", downsample, DOWNSAMPLES)
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
            _caffe_xavier_(m.weight)
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
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("in_channels", in_channels)
    sizes = (input_size, input_size) if isinstance(input_size, int) and not isinstance(input_size, bool) \
        else tuple(input_size) if isinstance(input_size, (tuple, list)) else None
    if (sizes is None or len(sizes) != 2
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 13 for s in sizes)):
        raise ValueError(f"input_size={input_size!r} is not supported; allowed: an int >= 13 "
                         f"or an (H, W) pair of ints >= 13 (e.g. 28 for MNIST, 32 for CIFAR)")
    return LeNet5(num_classes, in_channels, sizes)


# --------------------------------------------------------------------------- utilities


def count_parameters(model: nn.Module) -> int:
    """Number of trainable (``requires_grad``) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# Name -> factory. Adding a network is one line here, e.g. ``"wrn16_8": partial(wide_resnet, 16, 8)``.
_REGISTRY: Dict[str, Callable[..., nn.Module]] = {
    "resnet20": partial(cifar_resnet, 20),
    "resnet56": partial(cifar_resnet, 56),
    "resnet110": partial(cifar_resnet, 110),
    "lenet5": lenet5,
}

# Families addressed by a number in the name; "resnet32" -> cifar_resnet(32).
_PATTERNS: Dict[str, Tuple["re.Pattern[str]", Callable[..., nn.Module]]] = {
    "resnet{depth}": (re.compile(r"resnet(\d+)"), lambda m, **kw: cifar_resnet(int(m.group(1)), **kw)),
}


def available_models() -> List[str]:
    """Names :func:`build` accepts: the fixed names, then the numbered families."""
    return sorted(_REGISTRY) + list(_PATTERNS)


def build(name: str, **kwargs) -> nn.Module:
    """Build a model by name: ``"resnet20"``, ``"resnet56"``, ``"resnet110"``, ``"resnet{6n+2}"``,
    ``"lenet5"``. Case and hyphens are ignored (``"ResNet-56"`` works). ``kwargs`` go to the
    factory (e.g. ``build("resnet20", width=8, num_classes=100)``).
    """
    if not isinstance(name, str):
        raise ValueError(f"name={name!r} is not a string; allowed: {', '.join(available_models())}")
    # Registry keys are lowercase without hyphens ("_" separates numbers, e.g. "wrn16_8").
    key = name.strip().lower().replace("-", "")
    if key in _REGISTRY:
        return _REGISTRY[key](**kwargs)
    for pattern, factory in _PATTERNS.values():
        match = pattern.fullmatch(key)
        if match:
            return factory(match, **kwargs)
    raise ValueError(f"name={name!r} is not a known model; allowed: {', '.join(available_models())}")
