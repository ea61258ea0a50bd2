"""The training loop: ``fit(model, train_data, test_data, lr, momentum, ...) -> History``.

One flat loop, written for speed on a laptop CPU and on a GPU alike:

* the whole dataset is a tensor on the training device; batches are gathered and augmented
  there (``superconv.data.Batches``), so there is no DataLoader and no per-image Python;
* bf16 autocast and channels_last where the device supports them (fp32 otherwise); weights,
  BN statistics and the loss stay fp32;
* no host synchronisation per step: per-step losses are written into a device tensor and copied
  to the host every ``log_every`` steps, where divergence is checked and the progress bar moves.

The LR and momentum are callables of the iteration (``superconv.schedules`` objects plug in
directly): batch ``it`` (0-based) trains with ``lr(it)`` and ``momentum(it)``.

A run that diverges (NaN/inf, or a loss above ``max_loss``) stops and is recorded as diverged;
it does not raise. With ``checkpoint=path`` a run saves itself every ``checkpoint_every``
iterations and, started again, resumes to exactly the result of an uninterrupted run (the batch
of iteration ``it`` is a pure function of ``(seed, it)``, and RNG states are checkpointed).

Data that cannot live on the device as one tensor (ImageNet) is *streamed*: ``fit`` accepts, in
place of a ``data.Split``, any object with the :data:`STREAMING_SOURCE` methods --
``superconv.imagefolder.ImageFolderSource`` is one. Its ``batches(...)`` returns an object whose
``batch(it)`` keeps the ``data.Batches.batch`` contract (a pure function of ``(seed, it)``), so
resuming, seeding and data parallelism work as for tensors; ``eval_batches(...)`` replaces
``data.eval_batches`` for evaluation. A ``data.Split`` takes exactly the path it always took.

Launched by ``torchrun`` (``WORLD_SIZE`` > 1), ``fit`` trains data-parallel with
DistributedDataParallel, one process per GPU (or CPU processes with gloo): ``batch_size`` stays
the total batch, split evenly over the processes; see ``superconv.distributed`` for what is
shared and how. Without ``torchrun`` nothing of that runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import __version__
from . import distributed
from .data import Batches, Split, eval_batches
from .optim import SGD_KINDS, make_optimizer, set_hyperparameters

PRECISIONS = ("auto", "bf16", "fp32")
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


def _check_source(param: str, value) -> None:
    if isinstance(value, Split):
        return
    missing = [a for a in STREAMING_SOURCE if not hasattr(value, a)]
    if missing:
        raise ValueError(f"{param} must be a data.Split or a streaming source (has {', '.join(STREAMING_SOURCE)}); "
                         f"{type(value).__name__} lacks {', '.join(missing)}")


@dataclass
class History:
    """Everything a run measured. Iterations are counted as *completed* batches."""

    lr: list = field(default_factory=list)            # lr used by batch it, per iteration
    momentum: list = field(default_factory=list)      # momentum used by batch it (None: none)
    train_loss: list = field(default_factory=list)    # mini-batch loss of batch it (before its step)
    eval_iters: list = field(default_factory=list)    # completed iterations at each evaluation
    test_loss: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    train_acc: float | None = None                    # final accuracy on (a subset of) train, no augmentation
    train_eval_loss: float | None = None
    moving_average_test_acc: float | None = None      # with precise_bn: final test acc with the BN
                                                      # moving averages as trained (what it repaired)
    wall_time: float = 0.0                            # seconds spent in fit, summed over resumes
    eval_time: float | None = 0.0                     # of which in evaluations (and precise BN);
                                                      # None: a record from before it was measured
    diverged: bool = False
    diverged_at: int | None = None                    # first iteration whose loss was bad
    stopped_by: str | None = None                     # a callback that stopped the run early
    iterations: int = 0                               # iterations completed
    config: dict = field(default_factory=dict)        # what produced this history (provenance)
    extra: dict = field(default_factory=dict)         # callbacks' records (e.g. Hessian-free estimate)

    @property
    def final_test_acc(self) -> float | None:
        return self.test_acc[-1] if self.test_acc else None

    @property
    def best_test_acc(self) -> float | None:
        return max(self.test_acc) if self.test_acc else None

    @property
    def train_time(self) -> float:
        """Seconds spent training: wall time minus evaluations (a record from before
        ``eval_time`` was measured counts its evaluations as training)."""
        return self.wall_time - (self.eval_time or 0.0)

    @property
    def generalization_gap(self) -> float | None:
        """Train minus test accuracy at the end of the run (the paper's Fig. 5b)."""
        if self.train_acc is None or not self.test_acc:
            return None
        return self.train_acc - self.test_acc[-1]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs.setdefault("eval_time", None)  # older records: not measured, not zero
        return cls(**kwargs)

    def save(self, path) -> None:
        _atomic_write_bytes(Path(path), json.dumps(_jsonable(self.to_dict()), indent=1).encode())

    @classmethod
    def load(cls, path) -> "History":
        return cls.from_dict(json.loads(Path(path).read_text()))


@dataclass
class StepContext:
    """What callbacks see. ``x``/``y`` are the batch just trained on; ``loss`` a device tensor."""

    it: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    x: torch.Tensor | None = None
    y: torch.Tensor | None = None
    loss: torch.Tensor | None = None
    lr: float = 0.0
    momentum: float | None = None
    loss_fn: Callable | None = None      # loss_fn(model, x, y) -> loss, with the run's precision


# --------------------------------------------------------------------------- helpers

def resolve_device(device) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def bf16_supported(device: torch.device) -> bool:
    """bf16 autocast pays off on CUDA GPUs with bf16 and CPUs with AVX512-BF16/AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not a precision; allowed: 'auto', 'bf16', 'fp32'")
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


# Evaluation batch per device type. On CPU, batches that fit the cache are faster: on the 2-core
# dev machine, evaluations of ResNet-8 on the 10k Fashion-MNIST test images inside fit took 0.79 s
# in batches of 256 vs 1.17 s of 1000 (bf16; fp32 1.60 vs 4.63 s; benchmarks/eval_batch.py).
# GPUs want large batches.
EVAL_BATCH = {"cpu": 256}
EVAL_BATCH_OTHER = 1000


def resolve_eval_batch(device: torch.device, batch_size: int | None = None) -> int:
    """``batch_size`` if given, else the device's default evaluation batch (:data:`EVAL_BATCH`)."""
    if batch_size is None:
        return EVAL_BATCH.get(torch.device(device).type, EVAL_BATCH_OTHER)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"eval batch_size={batch_size!r} is not allowed; allowed: None or an integer >= 1")
    return batch_size


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _as_schedule(value, name: str) -> Callable[[int], float | None]:
    """A float becomes a constant; a schedule object gives its bound method; callables pass."""
    if value is None:
        return lambda it: None
    if isinstance(value, (int, float)):
        v = float(value)
        return lambda it: v
    if callable(value):
        return value
    raise ValueError(f"{name}={value!r} must be a number or a callable of the iteration")


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


def _fingerprint_points(iterations: int) -> list[int]:
    return sorted({0, 1, iterations // 7, iterations // 3, iterations // 2, (2 * iterations) // 3,
                   max(iterations - 1, 0)})


def _jsonable(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)  # 'nan' / 'inf': JSON has no literal for them
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _atomic_torch_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    """PyTorch convention: running = (1-momentum)*running + momentum*batch.
    Caffe's ``moving_average_fraction`` f corresponds to ``momentum = 1 - f``."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def _tracking_bns(model: nn.Module) -> list:
    """The model's BatchNorm layers that keep running statistics (those precise BN recomputes)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def _bn_buffers(model: nn.Module) -> list:
    return [(b.running_mean.clone(), b.running_var.clone(), b.num_batches_tracked.clone())
            for b in _tracking_bns(model)]


@torch.no_grad()
def _restore_bn_buffers(model: nn.Module, saved: list) -> None:
    for b, (mean, var, n) in zip(_tracking_bns(model), saved):
        b.running_mean.copy_(mean)
        b.running_var.copy_(var)
        b.num_batches_tracked.copy_(n)


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, batches, steps: int, precision: str = "auto") -> int:
    """*Precise BN*: replace every BatchNorm's running statistics by their plain average over
    ``batches.batch(0 .. steps-1)`` (training batches, augmentation included), computed with the
    current weights in train mode and no gradients. Returns how many BN layers were refreshed.

    Why: evaluation normalizes with running statistics, and a slow moving average (the paper's
    PC-LR fraction 0.999, i.e. ``bn_momentum=0.001``, a window of ~1,000 iterations) still mixes
    in activations of much older weights when a run is short -- its test accuracy then measures
    stale statistics, not the weights. Recomputing them from the current weights removes that
    (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm"). The global RNG (dropout) is forked,
    so the training run draws exactly what it would without this. Under DDP every rank must call
    it with its own shard of the same batches (synchronized BN then sees the global batch).
    """
    bns = _tracking_bns(model)
    if not bns:
        return 0
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device)
    momenta = [m.momentum for m in bns]
    was_training = model.training
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # None: cumulative (equal-weight) average over the batches
            model.train()
            for i in range(steps):
                x, _ = batches.batch(i)
                with _autocast(device, precision):
                    model(x)
        finally:
            for m, mom in zip(bns, momenta):
                m.momentum = mom
            model.train(was_training)
    return len(bns)


@torch.no_grad()
def evaluate(model: nn.Module, data: Split, batch_size: int | None = None, precision: str = "auto",
             channels_last: bool | None = None, limit: int | None = None,
             sharded: bool = False) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (in %) of ``model`` on ``data`` (first ``limit`` samples).

    ``data`` may also be a streaming source (:data:`STREAMING_SOURCE`); ``limit`` then means the
    source's choice of that many samples (an image folder takes evenly spaced ones).
    ``sharded=True`` under DDP: each rank evaluates a contiguous share of the samples and the sums
    are all-reduced, so every rank returns the same numbers (call it on every rank).
    ``batch_size=None``: the device's default (:func:`resolve_eval_batch`)."""
    device = next(model.parameters()).device
    batch_size = resolve_eval_batch(device, batch_size)
    precision = resolve_precision(precision, device)
    if channels_last is None:
        channels_last = precision == "bf16"
    was_training = model.training
    model.eval()
    shard = sharded and distributed.active()
    if isinstance(data, Split):
        if limit is not None and limit < len(data):
            data = data.subset(torch.arange(limit))
        n = len(data)
        if shard:
            data = data.subset(torch.arange(n).tensor_split(distributed.world_size())[distributed.rank()])
        batches = eval_batches(data.to(device), batch_size, channels_last=channels_last)
    else:  # a streaming source: it decodes (and shards) the samples itself
        n = len(data) if limit is None else min(limit, len(data))
        batches = data.eval_batches(batch_size, device=device, channels_last=channels_last, limit=limit,
                                    rank=distributed.rank() if shard else 0,
                                    world_size=distributed.world_size() if shard else 1)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for x, y in batches:
        with _autocast(device, precision):
            out = model(x)
        out = out.float()
        loss_sum += F.cross_entropy(out, y, reduction="sum").double()
        correct += (out.argmax(1) == y).sum()
    model.train(was_training)
    if shard:
        loss_sum, correct = distributed.all_reduce(torch.stack([loss_sum, correct.double()]), "sum").unbind()
    return float(loss_sum) / n, 100.0 * float(correct) / n


# --------------------------------------------------------------------------- fit

def fit(model: nn.Module, train_data: Split, test_data: Split | None, lr, momentum=None,
        iterations: int = 1000, batch_size: int = 128, weight_decay: float = 1e-4, *,
        nesterov: bool = False, sgd: str = "torch", precision: str = "auto",
        channels_last: bool | None = None, bn_momentum: float | None = None,
        eval_every: int | None = None, eval_batch_size: int | None = None,
        train_eval_size: int | None = 10_000, seed: int = 0, flip: bool = True, crop_pad: int = 0,
        device=None, max_loss: float | None = None, log_every: int = 50, progress: bool = True,
        desc: str | None = None, checkpoint=None, checkpoint_every: int | None = None,
        callbacks: Sequence[Any] = (), compile: bool = False, sync_bn: bool = True,
        precise_bn: int | None = None) -> History:
    """Train ``model`` with SGD for ``iterations`` mini-batches and return its :class:`History`.

    Parameters (the ones that need words):
      lr, momentum: numbers or callables ``it -> value``; ``lr`` may be a schedule object with
        ``.lr(it)``/``.momentum(it)``. ``momentum=None``: the schedule's momentum if it has one,
        else 0.9 (constant, as in the paper's headline runs).
      batch_size: the total batch per iteration; under torchrun it is split evenly over the
        processes and must be a multiple of their number.
      sgd: ``"torch"`` (v = m·v + g; w -= lr·v) or ``"caffe"`` (v = m·v + lr·(g + wd·w); w -= v).
      weight_decay: L2 on every parameter, BN and biases included (as the paper's Caffe nets).
      precision: ``"auto"`` (bf16 autocast where supported), ``"bf16"`` or ``"fp32"``.
      bn_momentum: PyTorch convention; Caffe's moving-average fraction f is ``1 - f``
        (paper: 0.95 → 0.05 for CLR runs, 0.999 → 0.001 for PC-LR).
      eval_every: evaluate on ``test_data`` every this many iterations (and always at the end).
      train_data, test_data: ``data.Split`` (tensors, moved to the device) or streaming sources
        (:data:`STREAMING_SOURCE`, e.g. ``imagefolder.ImageFolderSource``: decoded on workers).
      eval_batch_size: batch of every evaluation; None: the device's default (256 on CPU, where
        cache-sized batches are faster, else 1000; :data:`EVAL_BATCH`).
      train_eval_size: final train accuracy is measured on the first this-many training samples
        (None: all), without augmentation, for the generalization gap.
      flip, crop_pad: on-device augmentation (the paper used flips only).
      max_loss: a mini-batch loss above this counts as divergence (default 10·ln(classes)).
      log_every: host synchronisation period (progress bar, divergence check, callbacks' on_log).
      checkpoint, checkpoint_every: path of a resumable checkpoint and its period in iterations.
      compile: run the training forward/backward through ``torch.compile`` (worth it for long runs
        on a GPU; compilation costs tens of seconds). Evaluation and callbacks use the eager model.
      callbacks: objects with optional ``on_step(ctx)`` (after every step), ``on_log(ctx)``
        (at every sync point; return True to stop the run), ``on_end(ctx)``, and
        ``state_dict()``/``load_state_dict()`` to be checkpointed with the run.
      precise_bn: before every evaluation, recompute the BN running statistics from this many
        training samples with the current weights (:func:`recompute_bn_stats`; rounded up to
        whole batches; a model without BatchNorm ignores it). None: evaluate with the moving
        averages as trained (the paper's way). A streaming source restarts its workers for
        these batches and again for the next training batch, at every evaluation.
        The moving averages go on untouched between evaluations; the returned model keeps the
        recomputed statistics of its final evaluation, and ``History.moving_average_test_acc``
        the final test accuracy the moving averages would have given.
      sync_bn: under torchrun only: BatchNorm statistics over the whole global batch (True: the
        result of one process with the same total batch) or over each rank's shard (False).

    Under torchrun (see ``superconv.distributed``) every rank runs ``fit`` with the same
    arguments; callbacks run on every rank and see that rank's rows in ``ctx.x``/``ctx.y``, the
    averaged gradients in ``.grad``, and the same History. A checkpoint can only be resumed by
    as many processes as wrote it.
    """
    # ---- validate everything before any work
    _check_source("train_data", train_data)
    if test_data is not None:
        _check_source("test_data", test_data)
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations={iterations!r} must be a positive integer")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    if batch_size > len(train_data):
        raise ValueError(f"batch_size={batch_size} is larger than the training data "
                         f"({len(train_data)} samples); allowed: 1..{len(train_data)}")
    world = distributed.world_size()
    if batch_size % world:
        raise ValueError(f"batch_size={batch_size} is the total batch and must split evenly over the "
                         f"{world} processes; allowed: a multiple of {world}")
    if not isinstance(sync_bn, bool):
        raise ValueError(f"sync_bn={sync_bn!r} must be True or False")
    if weight_decay < 0:
        raise ValueError(f"weight_decay={weight_decay} must be >= 0")
    if sgd not in SGD_KINDS:
        raise ValueError(f"sgd={sgd!r} is not an SGD kind; allowed: 'torch', 'caffe'")
    if eval_every is not None and (not isinstance(eval_every, int) or eval_every < 1):
        raise ValueError(f"eval_every={eval_every!r} must be a positive integer or None")
    if checkpoint_every is not None and (not isinstance(checkpoint_every, int) or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every={checkpoint_every!r} must be a positive integer or None")
    if checkpoint_every is not None and checkpoint is None:
        raise ValueError("checkpoint_every is set but checkpoint (a file path) is None")
    if not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every={log_every!r} must be a positive integer")
    if bn_momentum is not None and not 0.0 <= bn_momentum <= 1.0:
        raise ValueError(f"bn_momentum={bn_momentum} must be in [0, 1] (PyTorch convention)")
    if precise_bn is not None and (isinstance(precise_bn, bool) or not isinstance(precise_bn, int)
                                   or precise_bn < 1):
        raise ValueError(f"precise_bn={precise_bn!r} is not allowed; allowed: None or a number of "
                         "training samples >= 1")
    dev = resolve_device(device)
    if world > 1:
        dev = distributed.rank_device(dev)
    precision = resolve_precision(precision, dev)
    eval_batch_size = resolve_eval_batch(dev, eval_batch_size)
    if channels_last is None:
        channels_last = precision == "bf16"
    if dev.type == "cuda":
        # fixed shapes every step: let cuDNN pick the fastest convolution algorithms once
        torch.backends.cudnn.benchmark = True
    lr_fn, mom_fn = _split_lr_momentum(lr, momentum)
    points = _fingerprint_points(iterations)
    for it in points:
        v = lr_fn(it)
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"lr({it})={v!r}: the learning rate must be a finite number >= 0")
        m = mom_fn(it)
        if m is not None and not 0.0 <= m < 1.0:
            raise ValueError(f"momentum({it})={m!r} must be in [0, 1)")
    if max_loss is None:
        max_loss = 10.0 * math.log(max(train_data.num_classes, 2))
    if world > 1:
        world = distributed.setup(dev)
    rank = distributed.rank() if world > 1 else 0
    if isinstance(train_data, Split):
        batches = Batches(train_data.to(dev), batch_size, seed=seed, flip=flip, crop_pad=crop_pad,
                          channels_last=channels_last, rank=rank, world_size=world)
        train_eval_data = batches.split
    else:  # streaming: the source decodes this rank's rows of every global batch
        batches = train_data.batches(batch_size, seed=seed, flip=flip, crop_pad=crop_pad,
                                     channels_last=channels_last, rank=rank, world_size=world, device=dev)
        train_eval_data = train_data
    test_data = test_data.to(dev) if isinstance(test_data, Split) else test_data

    config = dict(
        iterations=iterations, batch_size=batch_size, weight_decay=weight_decay, nesterov=nesterov,
        sgd=sgd, precision=precision, channels_last=channels_last, bn_momentum=bn_momentum,
        eval_every=eval_every, train_eval_size=train_eval_size, seed=seed, flip=flip,
        crop_pad=crop_pad, max_loss=max_loss,
        **({"precise_bn": precise_bn} if precise_bn is not None else {}),  # absent: older checkpoints resume
        lr_at=[[it, lr_fn(it)] for it in points], momentum_at=[[it, mom_fn(it)] for it in points],
        model=type(model).__name__, model_name=getattr(model, "name", None),
        parameters=sum(p.numel() for p in model.parameters()),
        train_data=getattr(train_data, "description", train_data.name), train_size=len(train_data),
        test_data=getattr(test_data, "description", None) if test_data is not None else None,
    )
    if world > 1:  # only then, so that a one-process History is what it always was
        config.update(world_size=world, sync_bn=sync_bn)
    provenance = dict(device=str(dev), device_name=device_name(dev), torch=torch.__version__,
                      superconv=__version__, compile=compile)
    if world > 1:  # rank 0's, so that every rank's History is the same
        provenance = distributed.from_main(lambda: {**provenance, "backend": str(torch.distributed.get_backend())})

    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if bn_momentum is not None:
        set_bn_momentum(model, bn_momentum)
    optimizer = make_optimizer(model.parameters(), sgd, lr=lr_fn(0), momentum=mom_fn(0) or 0.0,
                               weight_decay=weight_decay, nesterov=nesterov)

    history = History(config={**config, **provenance})
    start = 0
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    state = _read_checkpoint(ckpt_path, dev, world) if ckpt_path is not None else None
    if state is not None:
        start, history = _resume(state, ckpt_path, config, model, optimizer, callbacks)
        if history.iterations >= iterations or history.diverged or history.stopped_by:
            return history  # finished before: nothing to do, nothing overwritten
    else:
        torch.manual_seed(seed)  # dropout and anything else drawing from the global RNG

    def loss_fn(m, x, y):
        with _autocast(dev, precision):
            out = m(x)
        return F.cross_entropy(out.float(), y)

    # ---- data parallel: synchronized BN (same tensors), DDP averages the gradients
    swaps = distributed.convert_sync_bn(model, dev) if world > 1 and sync_bn else []
    local_bn = world > 1 and not sync_bn  # per-rank BN statistics: averaged over ranks before each use
    try:
        if world > 1:
            ddp_model = distributed.wrap_ddp(model, dev)
        else:
            ddp_model = model
        train_model = torch.compile(ddp_model) if compile else ddp_model

        def save(finished: bool) -> None:
            if local_bn:
                distributed.average_bn_stats(model)
            if rank == 0:
                _save_checkpoint(ckpt_path, config, model, optimizer, history, callbacks, finished=finished)
            distributed.barrier()  # nobody goes on (or returns) before the file is complete

        ctx = StepContext(it=start, model=model, optimizer=optimizer, history=history, loss_fn=loss_fn)
        precise_steps = -(-precise_bn // batch_size) if precise_bn is not None and _tracking_bns(model) else 0
        fresh_at = [-1]      # the iteration whose BN statistics were last recomputed
        moving = [None]      # the moving averages set aside while precise ones are evaluated

        def prepare_eval(at: int, final: bool) -> None:
            """Make the BN statistics the evaluation uses (precise, averaged over ranks)."""
            if precise_steps and fresh_at[0] != at:
                if not final:  # mid-run: the moving averages go on as if never replaced
                    moving[0] = _bn_buffers(model)
                recompute_bn_stats(model, batches, precise_steps, precision)
                fresh_at[0] = at
            if local_bn:  # per-rank statistics (moving or recomputed): the ranks' average
                distributed.average_bn_stats(model)

        def after_eval() -> None:
            if moving[0] is not None:
                _restore_bn_buffers(model, moving[0])
                moving[0] = None
                fresh_at[0] = -1  # a run stopped here must recompute for its final evaluation

        step_cbs = [cb for cb in callbacks if hasattr(cb, "on_step")]
        log_cbs = [cb for cb in callbacks if hasattr(cb, "on_log")]
        losses = torch.empty(log_every, device=dev)  # per-step losses, copied to host at sync points
        pending = 0                                  # steps written into `losses` but not yet synced

        bar = _progress(progress and rank == 0, iterations, start, desc or config["model_name"] or "fit")
        t0 = time.perf_counter()
        model.train()
        it = start
        stop = False
        try:
            while it < iterations and not stop:
                cur_lr, cur_m = lr_fn(it), mom_fn(it)
                set_hyperparameters(optimizer, cur_lr, cur_m)
                x, y = batches.batch(it)
                loss = loss_fn(train_model, x, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses[pending] = loss.detach()
                pending += 1
                history.lr.append(cur_lr)
                history.momentum.append(cur_m)
                it += 1
                if step_cbs:
                    ctx.it, ctx.x, ctx.y, ctx.loss, ctx.lr, ctx.momentum = it - 1, x, y, loss, cur_lr, cur_m
                    for cb in step_cbs:
                        cb.on_step(ctx)

                evaluate_now = (eval_every is not None and it % eval_every == 0) or it == iterations
                ckpt_now = checkpoint_every is not None and it % checkpoint_every == 0
                if pending == log_every or evaluate_now or ckpt_now:
                    bad = _sync_losses(history, losses, pending, max_loss, world)
                    pending = 0
                    if bad is not None:
                        history.diverged, history.diverged_at = True, bad
                        break
                    if evaluate_now and test_data is not None:
                        te = time.perf_counter()
                        if precise_steps and it == iterations:  # the accuracy precise BN replaces
                            if local_bn:
                                distributed.average_bn_stats(model)
                            history.moving_average_test_acc = evaluate(
                                model, test_data, eval_batch_size, precision, channels_last, sharded=world > 1)[1]
                        prepare_eval(it, final=it == iterations)
                        tl, ta = evaluate(model, test_data, eval_batch_size, precision, channels_last,
                                          sharded=world > 1)
                        after_eval()
                        _add_eval_time(history, time.perf_counter() - te)
                        history.eval_iters.append(it)
                        history.test_loss.append(tl)
                        history.test_acc.append(ta)
                        if not math.isfinite(tl):
                            history.diverged, history.diverged_at = True, it
                            break
                    history.iterations = it
                    ctx.it = it
                    stops = [bool(cb.on_log(ctx)) for cb in log_cbs]
                    if world > 1:  # a stop on any rank stops every rank
                        stops = distributed.any_each(stops, device=dev)
                    for cb, s in zip(log_cbs, stops):
                        if s:
                            history.stopped_by, stop = type(cb).__name__, True
                    _update_bar(bar, history, it)
                    if ckpt_now and ckpt_path is not None:
                        history.wall_time += time.perf_counter() - t0
                        t0 = time.perf_counter()
                        save(finished=False)
            if pending:
                bad = _sync_losses(history, losses, pending, max_loss, world)
                if bad is not None:
                    history.diverged, history.diverged_at = True, bad
            history.iterations = it
            if not history.diverged:
                te = time.perf_counter()
                prepare_eval(it, final=True)
                history.train_eval_loss, history.train_acc = evaluate(
                    model, train_eval_data, eval_batch_size, precision, channels_last, limit=train_eval_size,
                    sharded=world > 1)
                _add_eval_time(history, time.perf_counter() - te)
            ctx.it = history.iterations
            for cb in callbacks:
                if hasattr(cb, "on_end"):
                    cb.on_end(ctx)
        finally:
            bar.close()
        history.wall_time += time.perf_counter() - t0
        if world > 1:  # the slowest rank's, on every rank
            wall, ev = distributed.all_reduce(
                torch.tensor([history.wall_time, history.eval_time or 0.0], device=dev, dtype=torch.float64),
                "max").tolist()
            history.wall_time = wall
            history.eval_time = ev if history.eval_time is not None else None
        if ckpt_path is not None:
            save(finished=True)
    finally:
        distributed.restore_bn(swaps)  # the caller's model keeps its own BatchNorm modules
    return history


def _add_eval_time(history: History, seconds: float) -> None:
    if history.eval_time is not None:  # None: resumed from a record that did not measure it
        history.eval_time += seconds


def _sync_losses(history: History, losses: torch.Tensor, n: int, max_loss: float,
                 world: int = 1) -> int | None:
    """Copy ``n`` pending losses to the host; return the first bad iteration, if any.
    Under DDP the losses are first averaged over ranks: the global batch's loss, the same on
    every rank, so a NaN on one rank is a NaN on all of them and they stop together."""
    vals = losses[:n].tolist() if world == 1 else distributed.all_reduce(losses[:n].clone(), "mean").tolist()
    first = len(history.train_loss)
    history.train_loss.extend(vals)
    for i, v in enumerate(vals):
        if not math.isfinite(v) or v > max_loss:
            return first + i
    return None


def device_name(dev: torch.device) -> str:
    """A human name of the training device, for provenance (GPU model, or CPU model and threads)."""
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    name = ""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    import platform
    return f"{name or platform.machine()} ({os.cpu_count()} logical CPUs, {torch.get_num_threads()} threads)"


# --------------------------------------------------------------------------- progress

def _progress(enabled: bool, total: int, initial: int, desc: str):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True)


class _NoBar:
    def update(self, n=1): pass
    def set_postfix(self, *a, **k): pass
    def close(self): pass
    n = 0


def _update_bar(bar, history: History, it: int) -> None:
    bar.update(it - bar.n)
    post = dict(lr=f"{history.lr[-1]:.3g}", loss=f"{history.train_loss[-1]:.3f}")
    if history.test_acc:
        post["acc"] = f"{history.test_acc[-1]:.2f}"
    bar.set_postfix(post, refresh=False)


# --------------------------------------------------------------------------- checkpoints

def rng_state() -> dict:
    """The global torch RNG states (CPU and every CUDA device), to restore with :func:`set_rng_state`."""
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_state(states: dict) -> None:
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _save_checkpoint(path: Path, config: dict, model, optimizer, history: History, callbacks,
                     finished: bool) -> None:
    _atomic_torch_save(dict(
        format="superconv-checkpoint-1", config=config, finished=finished,
        model=model.state_dict(), optimizer=optimizer.state_dict(), history=history.to_dict(),
        rng=rng_state(),
        callbacks=[cb.state_dict() if hasattr(cb, "state_dict") else None for cb in callbacks],
    ), path)


def _read_checkpoint(path: Path, dev, world: int = 1) -> dict | None:
    """The checkpoint at ``path`` (None: no file). Under DDP rank 0 reads it and every rank gets
    it (or rank 0's error), so all ranks resume from the same state without a shared disk."""
    if world > 1:
        return distributed.from_main(lambda: _read_checkpoint(path, "cpu"))
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=dev, weights_only=False)
    except Exception as e:  # truncated or foreign file: say which and what to do
        raise ValueError(f"checkpoint={str(path)!r} cannot be read ({type(e).__name__}: {e}); "
                         "delete it to start afresh or pass another path") from e
    if not isinstance(state, dict) or state.get("format") != "superconv-checkpoint-1":
        raise ValueError(f"checkpoint={str(path)!r} is not a superconv checkpoint")
    return state


def _resume(state: dict, path: Path, config: dict, model, optimizer, callbacks) -> tuple[int, History]:
    saved = state["config"]
    diff = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if diff:
        raise ValueError(f"checkpoint={str(path)!r} was written by a different run (differs in: "
                         f"{', '.join(diff)}); delete it or pass another path")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    for cb, cb_state in zip(callbacks, state.get("callbacks", [])):
        if cb_state is not None and hasattr(cb, "load_state_dict"):
            cb.load_state_dict(cb_state)
    history = History.from_dict(state["history"])
    return history.iterations, history
