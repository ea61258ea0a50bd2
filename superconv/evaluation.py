"""Evaluation: loss and accuracy of a model on a split (sharded over ranks under DDP), *precise
BN* (BatchNorm statistics recomputed from the current weights), and :class:`Evaluator`, what
``fit`` evaluates with: the BN statistics each evaluation uses, and the time it takes."""

from __future__ import annotations

import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import distributed
from ._checks import optional, positive_int
from .data import Split, eval_batches
from .devices import autocast, resolve_precision
from .history import History

__all__ = ["EVAL_BATCH", "EVAL_BATCH_OTHER", "resolve_eval_batch", "set_bn_momentum", "tracking_bns",
           "recompute_bn_stats", "read_counts", "evaluate", "Evaluator"]

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
    return optional(positive_int, "eval batch_size", batch_size, "an integer >= 1")


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    """PyTorch convention: running = (1-momentum)*running + momentum*batch.
    Caffe's ``moving_average_fraction`` f corresponds to ``momentum = 1 - f``."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def tracking_bns(model: nn.Module) -> list:
    """The model's BatchNorm layers that keep running statistics (those precise BN recomputes)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def _bn_buffers(model: nn.Module) -> list:
    return [(b.running_mean.clone(), b.running_var.clone(), b.num_batches_tracked.clone())
            for b in tracking_bns(model)]


@torch.no_grad()
def _restore_bn_buffers(model: nn.Module, saved: list) -> None:
    for b, (mean, var, n) in zip(tracking_bns(model), saved):
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
    bns = tracking_bns(model)
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
                with autocast(device, precision):
                    model(x)
        finally:
            for m, mom in zip(bns, momenta):
                m.momentum = mom
            model.train(was_training)
    return len(bns)


def read_counts(n: int, images: int) -> torch.Tensor:
    """How often each of ``n`` test images is scored when an evaluation reads ``images`` in
    order from the first, wrapping around (the authors' ``test_iter`` x batch: 25,000 reads of
    CIFAR-10's 10,000 count the first 5,000 three times and the rest twice). float64 (n,).

    Caffe's test cursor goes on between tests, so with 25,000 reads its tests start alternately at
    image 0 and 5,000; the final tests of the authors' runs (iterations 10,000 and 80,000, even
    multiples of their ``test_interval`` 100, with the test at iteration 0) start at 0, as here."""
    counts = torch.full((n,), float(images // n), dtype=torch.float64)
    counts[:images % n] += 1
    return counts


@torch.no_grad()
def evaluate(model: nn.Module, data: Split, batch_size: int | None = None, precision: str = "auto",
             channels_last: bool | None = None, limit: int | None = None,
             sharded: bool = False, reads: int | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (in %) of ``model`` on ``data`` (first ``limit`` samples).

    ``reads``: score ``reads`` images read in order from the first, wrapping around the split (or
    its first ``limit`` images; Caffe's ``test_iter`` x batch), as :func:`read_counts` weights;
    None: each image once. In eval mode a network's output for an image does not depend on its
    batch, so each image runs once.

    ``data`` may also be a streaming source (``train.STREAMING_SOURCE``); ``limit`` then means the
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
    if reads is not None:
        positive_int("reads", reads)
    weights = None
    if isinstance(data, Split):
        if limit is not None and limit < len(data):
            data = data.subset(torch.arange(limit))
        n = len(data)
        if reads is not None:
            weights, n = read_counts(n, reads).to(device), reads
        if shard:
            part = torch.arange(len(data)).tensor_split(distributed.world_size())[distributed.rank()]
            data = data.subset(part)
            weights = None if weights is None else weights[part.to(device)]
        batches = eval_batches(data.to(device), batch_size, channels_last=channels_last)
    else:  # a streaming source: it decodes (and shards) the samples itself
        if reads is not None:
            raise ValueError("reads= needs a Split (a streaming source reads each sample once)")
        n = len(data) if limit is None else min(limit, len(data))
        batches = data.eval_batches(batch_size, device=device, channels_last=channels_last, limit=limit,
                                    rank=distributed.rank() if shard else 0,
                                    world_size=distributed.world_size() if shard else 1)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.float64 if weights is not None else torch.int64)
    start = 0
    for x, y in batches:
        with autocast(device, precision):
            out = model(x)
        out = out.float()
        if weights is None:
            loss_sum += F.cross_entropy(out, y, reduction="sum").double()
            correct += (out.argmax(1) == y).sum()
        else:
            w = weights[start:start + len(y)]
            loss_sum += (F.cross_entropy(out, y, reduction="none").double() * w).sum()
            correct += ((out.argmax(1) == y).double() * w).sum()
        start += len(y)
    model.train(was_training)
    if shard:
        loss_sum, correct = distributed.all_reduce(torch.stack([loss_sum, correct.double()]), "sum").unbind()
    return float(loss_sum) / n, 100.0 * float(correct) / n


class Evaluator:
    """``fit``'s evaluations of one run: which BatchNorm statistics each one uses, and its time.

    With ``precise_steps`` > 0 (precise BN), every evaluation first recomputes the statistics
    from that many training batches; mid-run, the moving averages are set aside and put back
    afterwards, so training goes on as if they had never been replaced (a final evaluation keeps
    the recomputed ones). With ``local_bn`` (DDP without synchronized BN) the statistics the
    evaluation uses are the ranks' average. ``sharded``: evaluations are split over the ranks.
    """

    def __init__(self, model: nn.Module, batches, precise_steps: int, *, precision: str, channels_last: bool,
                 batch_size: int, local_bn: bool, sharded: bool, test_reads: int | None = None,
                 root_bn: bool = False):
        self.model, self.batches, self.precise_steps = model, batches, precise_steps
        self.test_reads = test_reads  # Caffe's test_iter x batch (evaluate's reads), test evaluations only
        self.precision, self.channels_last, self.batch_size = precision, channels_last, batch_size
        self.local_bn, self.sharded = local_bn, sharded
        self.root_bn = root_bn  # per-rank statistics: rank 0's (ghost BN, the root GPU's), else the average
        self.fresh_at = -1       # the iteration whose BN statistics were last recomputed
        self.moving = None       # the moving averages set aside while precise ones are evaluated

    def test(self, history: History, data, at: int, final: bool) -> float:
        """Evaluate on ``data`` at iteration ``at``, record it in ``history``; the test loss."""
        start = time.perf_counter()
        if self.precise_steps and final:  # the accuracy that precise BN replaces
            self._average_ranks()
            history.moving_average_test_acc = self._evaluate(data, reads=self.test_reads)[1]
        self._prepare(at, final)
        loss, acc = self._evaluate(data, reads=self.test_reads)
        self._put_back()
        history.add_eval_time(time.perf_counter() - start)
        history.eval_iters.append(at)
        history.test_loss.append(loss)
        history.test_acc.append(acc)
        return loss

    def train_accuracy(self, history: History, data, at: int, limit: int | None) -> None:
        """The final accuracy on (``limit`` samples of) the training data, into ``history``."""
        start = time.perf_counter()
        self._prepare(at, final=True)
        history.train_eval_loss, history.train_acc = self._evaluate(data, limit)
        history.add_eval_time(time.perf_counter() - start)

    def _evaluate(self, data, limit: int | None = None, reads: int | None = None) -> tuple[float, float]:
        return evaluate(self.model, data, self.batch_size, self.precision, self.channels_last, limit=limit,
                        sharded=self.sharded, reads=reads)

    def _prepare(self, at: int, final: bool) -> None:
        """Make the BN statistics the evaluation uses (precise, averaged over ranks)."""
        if self.precise_steps and self.fresh_at != at:
            if not final:  # mid-run: the moving averages go on as if never replaced
                self.moving = _bn_buffers(self.model)
            recompute_bn_stats(self.model, self.batches, self.precise_steps, self.precision)
            self.fresh_at = at
        self._average_ranks()

    def _put_back(self) -> None:
        if self.moving is not None:
            _restore_bn_buffers(self.model, self.moving)
            self.moving = None
            self.fresh_at = -1  # a run stopped here must recompute for its final evaluation

    def _average_ranks(self) -> None:
        if self.local_bn:  # per-rank statistics (moving or recomputed): rank 0's, or the ranks' average
            (distributed.root_bn_stats if self.root_bn else distributed.average_bn_stats)(self.model)
