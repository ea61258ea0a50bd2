"""``fit``'s arguments, checked together before any work (:class:`FitConfig`), and what a run
records of them: the identity a checkpoint must match and the History's ``config``.

Training data is a ``data.Split`` (tensors) or a *streaming source* (:data:`STREAMING_SOURCE`),
which decodes batches itself: ``superconv.imagefolder.ImageFolderSource`` is one.
"""

from __future__ import annotations

import math
from dataclasses import InitVar, dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

from . import distributed
from ._checks import (ParameterError, boolean, choice, fail, fraction, integer, non_negative, optional, positive_int,
                      real)
from .data import ORDERS, Split
from .devices import resolve_precision
from .evaluation import resolve_eval_batch
from .optim import OPTIMIZERS, SCHEDULE_FREE, SGD_KINDS

__all__ = ["DEFAULT_MOMENTUM", "STREAMING_SOURCE", "check_source", "FitConfig"]

DEFAULT_MOMENTUM = 0.9

#: What ``fit`` needs from training data that is not a ``data.Split`` (a streaming source):
#: ``len(src)``, ``src.num_classes``, ``src.name``, ``src.description``,
#: ``src.batches(batch_size, *, seed, flip, crop_pad, channels_last, rank, world_size, device)``
#: -> an object with ``batch(it) -> (x, y)`` (``data.Batches.batch``'s contract; ``batch_size`` is
#: the global batch, the object yields this rank's rows), and
#: ``src.eval_batches(batch_size, *, device, channels_last, limit, rank, world_size)`` -> an
#: iterator of normalized ``(x, y)`` over ``limit`` (None: all) of its samples, this rank's
#: contiguous share of them. Test data may be a Split or such a source.
STREAMING_SOURCE = ("__len__", "num_classes", "name", "description", "batches", "eval_batches")


def check_source(param: str, value) -> None:
    if isinstance(value, Split):
        return
    missing = [a for a in STREAMING_SOURCE if not hasattr(value, a)]
    if missing:
        raise ParameterError(f"{param} must be a data.Split or a streaming source (has {', '.join(STREAMING_SOURCE)}); "
                             f"{type(value).__name__} lacks {', '.join(missing)}")


def _as_schedule(value, name: str) -> Callable[[int], float | None]:
    """A float becomes a constant; a schedule object gives its bound method; callables pass."""
    if value is None:
        return lambda it: None
    if isinstance(value, (int, float)):
        v = float(value)
        return lambda it: v
    if callable(value):
        return value
    fail(name, value, "a number or a callable of the iteration")


def _split_lr_momentum(lr, momentum):
    """``lr`` may be a schedule object with ``.lr``/``.momentum``; an explicit momentum wins."""
    sched_mom = None
    if hasattr(lr, "lr") and callable(getattr(lr, "lr")):
        sched_mom = getattr(lr, "momentum", None)
        lr = lr.lr
    lr_fn = _as_schedule(lr, "lr")
    if momentum is None:
        mom_fn = sched_mom if callable(sched_mom) and sched_mom(0) is not None else _as_schedule(DEFAULT_MOMENTUM, "momentum")
    else:
        mom_fn = _as_schedule(momentum, "momentum")
    return lr_fn, mom_fn


def _sample_points(iterations: int) -> list[int]:
    """Iterations at which the LR and momentum are checked and recorded (the run's identity)."""
    return sorted({0, 1, iterations // 7, iterations // 3, iterations // 2, (2 * iterations) // 3,
                   max(iterations - 1, 0)})


@dataclass
class FitConfig:
    """Every argument of ``fit`` but the model and the callbacks, checked once, before any work,
    and resolved for this process: ``lr``/``momentum`` become functions of the iteration,
    ``device`` this rank's device, ``precision``, ``channels_last``, ``eval_batch_size`` and
    ``max_loss`` their values for it; ``world`` is the number of processes (1 without torchrun).
    ``device`` comes resolved (``train.resolve_device``). A bad value is a one-line
    ``ParameterError`` that names the argument and says what is allowed."""

    train_data: InitVar[Any]
    test_data: InitVar[Any]
    lr: Callable[[int], float]
    momentum: Callable[[int], float | None]
    iterations: int
    batch_size: int
    weight_decay: float
    nesterov: bool
    sgd: str
    precision: str
    channels_last: bool | None
    bn_momentum: float | None
    eval_every: int | None
    eval_batch_size: int | None
    train_eval_size: int | None
    seed: int
    flip: bool
    crop_pad: int
    device: torch.device
    max_loss: float | None
    log_every: int
    progress: bool
    desc: str | None
    checkpoint: Any
    checkpoint_every: int | None
    compile: bool
    sync_bn: bool
    precise_bn: int | None
    ghost_batch: int | None = None
    data_order: str = "shuffle"
    test_reads: int | None = None
    optimizer: str = "sgd"
    warmup_steps: int = 0
    world: int = field(init=False)

    def __post_init__(self, train_data, test_data):
        check_source("train_data", train_data)
        if test_data is not None:
            check_source("test_data", test_data)
        self.iterations = positive_int("iterations", self.iterations)  # NumPy integers become ints
        self.batch_size = positive_int("batch_size", self.batch_size)
        n = len(train_data)
        if self.batch_size > n:
            fail("batch_size", self.batch_size, f"1..{n}", why=f"is larger than the training data ({n} samples)")
        self.world = distributed.world_size()
        if self.batch_size % self.world:
            fail("batch_size", self.batch_size, f"a multiple of {self.world}",
                 why=f"is the total batch and must split evenly over the {self.world} processes")
        boolean("sync_bn", self.sync_bn)
        non_negative("weight_decay", self.weight_decay)
        choice("sgd", self.sgd, SGD_KINDS)
        choice("optimizer", self.optimizer, OPTIMIZERS)
        self.warmup_steps = integer("warmup_steps", self.warmup_steps, minimum=0)
        if self.optimizer != "sgd" and (self.sgd != "torch" or self.nesterov):
            fail("sgd", self.sgd, "'torch' and nesterov=False", why=f"and nesterov={self.nesterov!r} are SGD's "
                 f"settings, not {self.optimizer!r}'s")
        if self.warmup_steps and self.optimizer not in SCHEDULE_FREE:
            fail("warmup_steps", self.warmup_steps, "0 (warm up in the LR schedule)",
                 why=f"is the schedule-free optimizers' own warmup, and optimizer is {self.optimizer!r}")
        self.eval_every = optional(positive_int, "eval_every", self.eval_every, "an integer >= 1")
        self.checkpoint_every = optional(positive_int, "checkpoint_every", self.checkpoint_every, "an integer >= 1")
        if self.checkpoint_every is not None and self.checkpoint is None:
            fail("checkpoint_every", self.checkpoint_every, "None without checkpoint= (the file to save to)",
                 why="is set but checkpoint is None")
        self.log_every = positive_int("log_every", self.log_every)
        optional(lambda name, v: real(name, v, ok=lambda v: 0.0 <= v <= 1.0), "bn_momentum", self.bn_momentum,
                 "a number in [0, 1] (PyTorch convention)")
        self.precise_bn = optional(positive_int, "precise_bn", self.precise_bn, "a number of training samples >= 1")
        self.ghost_batch = optional(positive_int, "ghost_batch", self.ghost_batch, "a number of images >= 1")
        choice("data_order", self.data_order, ORDERS)
        self.test_reads = optional(positive_int, "test_reads", self.test_reads, "a number of test images read >= 1")
        if self.test_reads is not None and test_data is not None and not isinstance(test_data, Split):
            fail("test_reads", self.test_reads, "None with a streaming test source", why="needs a Split")
        local = self.batch_size // self.world
        if self.ghost_batch is not None and self.ghost_batch < local and local % self.ghost_batch:
            fail("ghost_batch", self.ghost_batch, f"a divisor of each process's batch ({local}), or at least it",
                 why="would leave a smaller last slice (the authors' GPUs each had the same share)")
        if self.ghost_batch is not None and self.world > 1 and self.sync_bn:
            fail("ghost_batch", self.ghost_batch, "None with sync_bn=True",
                 why="asks for per-slice BN statistics, sync_bn for statistics over the whole batch")
        if self.world > 1:
            self.device = distributed.rank_device(self.device)
        self.precision = resolve_precision(self.precision, self.device)
        self.eval_batch_size = resolve_eval_batch(self.device, self.eval_batch_size)
        if self.channels_last is None:
            self.channels_last = self.precision == "bf16"
        self.lr, self.momentum = _split_lr_momentum(self.lr, self.momentum)
        for it in _sample_points(self.iterations):
            non_negative(f"lr({it})", self.lr(it))
            m = self.momentum(it)
            if m is not None:
                fraction(f"momentum({it})", m)
        if self.optimizer in SCHEDULE_FREE:
            self._check_constant()
        if self.max_loss is None:
            self.max_loss = 10.0 * math.log(max(train_data.num_classes, 2))

    def _check_constant(self) -> None:
        """A schedule-free optimizer runs at one LR and one momentum (it warms up by itself, and
        switches between its weights with the momentum it was built with)."""
        for name, fn in (("lr", self.lr), ("momentum", self.momentum)):
            vals = {fn(it) for it in _sample_points(self.iterations)}
            if len(vals) > 1:
                fail(name, f"a schedule ({', '.join(f'{v:.4g}' for v in sorted(vals))})",
                     "a constant with a schedule-free optimizer (warmup_steps= warms it up)",
                     why=f"changes during the run, and optimizer is {self.optimizer!r}")
        if not 0 < self.momentum(0) < 1:
            fail("momentum", self.momentum(0), "a number in (0, 1)",
                 why=f"is the interpolation constant of {self.optimizer!r}")

    def record(self, model: nn.Module, train_data, test_data) -> dict:
        """What identifies the run (a checkpoint must match it) and goes into ``History.config``."""
        points = _sample_points(self.iterations)
        config = dict(
            iterations=self.iterations, batch_size=self.batch_size, weight_decay=self.weight_decay,
            nesterov=self.nesterov, sgd=self.sgd, precision=self.precision, channels_last=self.channels_last,
            bn_momentum=self.bn_momentum, eval_every=self.eval_every, train_eval_size=self.train_eval_size,
            seed=self.seed, flip=self.flip, crop_pad=self.crop_pad, max_loss=self.max_loss,
            **({"precise_bn": self.precise_bn} if self.precise_bn is not None else {}),  # absent: older checkpoints resume
            **({"ghost_batch": self.ghost_batch} if self.ghost_batch is not None else {}),
            **({"data_order": self.data_order} if self.data_order != "shuffle" else {}),
            **({"test_reads": self.test_reads} if self.test_reads is not None else {}),
            **({"optimizer": self.optimizer} if self.optimizer != "sgd" else {}),
            **({"warmup_steps": self.warmup_steps} if self.warmup_steps else {}),
            lr_at=[[it, self.lr(it)] for it in points], momentum_at=[[it, self.momentum(it)] for it in points],
            model=type(model).__name__, model_name=getattr(model, "name", None),
            parameters=sum(p.numel() for p in model.parameters()),
            train_data=getattr(train_data, "description", train_data.name), train_size=len(train_data),
            test_data=getattr(test_data, "description", None) if test_data is not None else None,
        )
        if self.world > 1:  # only then, so that a one-process History is what it always was
            config.update(world_size=self.world, sync_bn=self.sync_bn)
        return config
