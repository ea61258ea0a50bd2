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

The parts of a run, each in its own module (their public names are importable from here too):
``fit_config`` (the arguments, checked once), ``history`` (:class:`History`, :class:`StepContext`),
``evaluation`` (evaluation, precise BN, :class:`~superconv.evaluation.Evaluator`), ``checkpoint``
(save, read, resume), ``callbacks`` and ``devices`` (device, precision, autocast).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import __version__, distributed
from ._io import rng_state, set_rng_state
from .callbacks import Callbacks
from .checkpoint import Checkpointer
from .data import Batches, Split
from .devices import PRECISIONS, autocast, bf16_supported, device_name, resolve_device, resolve_precision
from .evaluation import (EVAL_BATCH, EVAL_BATCH_OTHER, Evaluator, evaluate, recompute_bn_stats, resolve_eval_batch,
                         set_bn_momentum, tracking_bns)
from .fit_config import DEFAULT_MOMENTUM, STREAMING_SOURCE, FitConfig
from .ghost_bn import use_ghost_batches
from .history import History, StepContext
from .optim import build_optimizer, param_groups, schedule_free, set_hyperparameters, use_weights
from .schedules import ScheduleEndWarning

__all__ = ["fit", "History", "StepContext", "evaluate", "recompute_bn_stats", "set_bn_momentum", "resolve_device",
           "resolve_precision", "resolve_eval_batch", "bf16_supported", "device_name", "rng_state", "set_rng_state",
           "EVAL_BATCH", "EVAL_BATCH_OTHER", "PRECISIONS", "DEFAULT_MOMENTUM", "STREAMING_SOURCE"]


def fit(model: nn.Module, train_data: Split, test_data: Split | None, lr, momentum=None,
        iterations: int = 1000, batch_size: int = 128, weight_decay: float = 1e-4, *,
        nesterov: bool = False, sgd: str = "torch", precision: str = "auto",
        channels_last: bool | None = None, bn_momentum: float | None = None,
        eval_every: int | None = None, eval_batch_size: int | None = None,
        train_eval_size: int | None = 10_000, seed: int = 0, flip: bool = True, crop_pad: int = 0,
        device=None, max_loss: float | None = None, log_every: int = 50, progress: bool = True,
        desc: str | None = None, checkpoint=None, checkpoint_every: int | None = None,
        callbacks: Sequence[Any] = (), compile: bool = False, sync_bn: bool = True,
        precise_bn: int | None = None, ghost_batch: int | None = None, data_order: str = "shuffle",
        test_reads: int | None = None, optimizer: str = "sgd", warmup_steps: int = 0) -> History:
    """Train ``model`` for ``iterations`` mini-batches (SGD unless ``optimizer`` says otherwise) and
    return its :class:`History`.

    Parameters (the ones that need words):
      lr, momentum: numbers or callables ``it -> value``; ``lr`` may be a schedule object with
        ``.lr(it)``/``.momentum(it)``. ``momentum=None``: the schedule's momentum if it has one,
        else 0.9 (constant, as in the paper's headline runs).
      batch_size: the total batch per iteration; under torchrun it is split evenly over the
        processes and must be a multiple of their number.
      sgd: ``"torch"`` (v = m·v + g; w -= lr·v) or ``"caffe"`` (v = m·v + lr·(g + wd·w); w -= v).
      weight_decay: L2 on every parameter, BN and biases included (as the paper's Caffe nets);
        decoupled (``w -= lr·wd·w``) for AdamW.
      optimizer: ``"sgd"``, ``"adamw"`` (torch's), ``"sgd_schedulefree"`` or ``"adamw_schedulefree"``
        (the ``schedulefree`` package's; ``superconv.optim``). ``momentum`` is AdamW's beta1 and the
        schedule-free interpolation constant. A schedule-free run needs a constant ``lr`` and
        ``momentum`` and warms up by itself over ``warmup_steps``; it is evaluated (and returned)
        at its averaged weights, with BN statistics recomputed for them when ``precise_bn`` is set.
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
      ghost_batch: BatchNorm normalises each slice of this many images of a process's batch by
        its own statistics, as the authors' GPUs did (125 images each; ``superconv.ghost_bn``);
        the moving averages follow the first slice. The model's BatchNorm2d layers are replaced
        in place. None: statistics over the process's whole batch.
      data_order: ``"shuffle"`` (a new permutation each epoch) or ``"file"`` (the training split's
        own order every epoch, as Caffe's Data layer; with ``ghost_batch`` each batch is dealt to
        its slices as Caffe deals an LMDB to the GPUs: ``data.Batches``).
      test_reads: each test evaluation scores this many images read in order, wrapping around
        the test split (the authors' ``test_iter`` x batch, 25,000 over CIFAR-10's 10,000); None:
        each test image once.
      sync_bn: under torchrun only: BatchNorm statistics over the whole global batch (True: the
        result of one process with the same total batch) or over each rank's shard (False).

    Under torchrun (see ``superconv.distributed``) every rank runs ``fit`` with the same
    arguments; callbacks run on every rank and see that rank's rows in ``ctx.x``/``ctx.y``, the
    averaged gradients in ``.grad``, and the same History. A checkpoint can only be resumed by
    as many processes as wrote it.
    """
    # every argument is checked before any work; the device resolves here, in this module's
    # namespace, so that a test (or a user) can replace train.resolve_device
    cfg = FitConfig(train_data, test_data, lr, momentum, iterations=iterations, batch_size=batch_size,
                    weight_decay=weight_decay, nesterov=nesterov, sgd=sgd, precision=precision,
                    channels_last=channels_last, bn_momentum=bn_momentum, eval_every=eval_every,
                    eval_batch_size=eval_batch_size, train_eval_size=train_eval_size, seed=seed, flip=flip,
                    crop_pad=crop_pad, device=resolve_device(device), max_loss=max_loss, log_every=log_every,
                    progress=progress, desc=desc, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                    compile=compile, sync_bn=sync_bn, precise_bn=precise_bn, ghost_batch=ghost_batch,
                    data_order=data_order, test_reads=test_reads, optimizer=optimizer, warmup_steps=warmup_steps)
    _warn_past_schedule_end(lr, cfg.iterations)
    dev, world = cfg.device, cfg.world
    if dev.type == "cuda":
        # fixed shapes every step: let cuDNN pick the fastest convolution algorithms once
        torch.backends.cudnn.benchmark = True
    if world > 1:
        distributed.setup(dev)
    rank = distributed.rank() if world > 1 else 0
    batches, train_eval_data = _training_batches(train_data, cfg, rank)
    test_data = test_data.to(dev) if isinstance(test_data, Split) else test_data
    config = cfg.record(model, train_data, test_data)
    provenance = _provenance(cfg)

    if cfg.ghost_batch is not None:
        use_ghost_batches(model, cfg.ghost_batch)
    model.to(dev)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if cfg.bn_momentum is not None:
        set_bn_momentum(model, cfg.bn_momentum)
    optimizer = build_optimizer(param_groups(model, cfg.weight_decay), cfg.optimizer, sgd=cfg.sgd, lr=cfg.lr(0),
                                momentum=cfg.momentum(0) or 0.0, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov,
                                warmup_steps=cfg.warmup_steps)
    calls = Callbacks(callbacks, dev)
    local_bn = world > 1 and not cfg.sync_bn  # per-rank BN statistics: averaged over ranks before each use
    # ghost BN keeps rank 0's statistics (the root GPU's): saved as they are, broadcast to evaluate
    checkpointer = Checkpointer(cfg.checkpoint, cfg.checkpoint_every, config, device=dev, rank=rank, world=world,
                                local_bn=local_bn and cfg.ghost_batch is None)
    state = checkpointer.read()
    if state is None:
        history = History(config={**config, **provenance})
        torch.manual_seed(cfg.seed)  # dropout and anything else drawing from the global RNG
    else:
        history = checkpointer.resume(state, model, optimizer, calls)
        if history.iterations >= cfg.iterations or history.diverged or history.stopped_by:
            return history  # finished before: nothing to do, nothing overwritten

    # ---- data parallel: synchronized BN (same tensors), DDP averages the gradients
    swaps = distributed.convert_sync_bn(model, dev) if world > 1 and cfg.sync_bn else []
    try:
        ddp_model = distributed.wrap_ddp(model, dev) if world > 1 else model
        train_model = torch.compile(ddp_model) if cfg.compile else ddp_model
        precise_steps = (-(-cfg.precise_bn // cfg.batch_size)
                         if cfg.precise_bn is not None and tracking_bns(model) else 0)  # whole batches
        evaluator = Evaluator(model, batches, precise_steps, precision=cfg.precision,
                              channels_last=cfg.channels_last, batch_size=cfg.eval_batch_size,
                              local_bn=local_bn, sharded=world > 1, test_reads=cfg.test_reads,
                              root_bn=cfg.ghost_batch is not None)
        bar = _progress(cfg.progress and rank == 0, cfg.iterations, history.iterations,
                        cfg.desc or config["model_name"] or "fit")
        try:
            _loop(cfg, model, train_model, optimizer, batches, test_data, train_eval_data, history, evaluator,
                  checkpointer, calls, bar)
        finally:
            bar.close()
        if world > 1:
            _slowest_rank_times(history, dev)
        checkpointer.save(model, optimizer, history, calls, finished=True)
    finally:
        distributed.restore_bn(swaps)  # the caller's model keeps its own BatchNorm modules
    return history


def _warn_past_schedule_end(lr, iterations: int) -> None:
    """One warning when a bounded schedule ends before the run: its last LR would be held, which
    is rarely what was meant (a schedule built for another run length)."""
    total = getattr(lr, "total_steps", None)
    if isinstance(total, int) and iterations > total:
        warnings.warn(f"fit(iterations={iterations}) trains past the schedule's end (total_steps={total}): "
                      f"batches {total}..{iterations - 1} hold its last LR {lr.lr(total - 1):.4g}; build the "
                      f"schedule for {iterations} iterations", ScheduleEndWarning, stacklevel=3)


def _loop(cfg: FitConfig, model, train_model, optimizer, batches, test_data, train_eval_data, history: History,
          evaluator: Evaluator, checkpointer: Checkpointer, calls: Callbacks, bar) -> None:
    """Train from ``history.iterations`` to the end (or a divergence, or a callback's stop), with
    host syncs every ``log_every`` steps and at every evaluation and checkpoint."""
    loss_fn = _loss_fn(cfg.device, cfg.precision)
    ctx = StepContext(it=history.iterations, model=model, optimizer=optimizer, history=history, loss_fn=loss_fn)
    losses = _Losses(cfg.log_every, cfg.device, cfg.max_loss, cfg.world)
    t0 = time.perf_counter()
    model.train()
    use_weights(optimizer, training=True)
    fixed_momentum = schedule_free(optimizer)  # its momentum also maps between its two weights: never changed
    it = history.iterations
    while it < cfg.iterations and not history.stopped_by:
        lr, momentum = cfg.lr(it), cfg.momentum(it)
        set_hyperparameters(optimizer, lr, None if fixed_momentum else momentum)
        x, y = batches.batch(it)
        loss = loss_fn(train_model, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.add(loss)
        history.lr.append(lr)
        history.momentum.append(momentum)
        it += 1
        calls.step(ctx, it - 1, x, y, loss, lr, momentum)

        evaluate_now = (cfg.eval_every is not None and it % cfg.eval_every == 0) or it == cfg.iterations
        checkpoint_now = checkpointer.due(it)
        if not (losses.full or evaluate_now or checkpoint_now):
            continue
        if losses.sync(history):
            break  # diverged
        if evaluate_now and test_data is not None:
            final = it == cfg.iterations
            use_weights(optimizer, training=False)  # a schedule-free run is evaluated at its average
            loss = evaluator.test(history, test_data, it, final=final)
            if not final:
                use_weights(optimizer, training=True)
            if not math.isfinite(loss):
                history.diverged, history.diverged_at = True, it
                break
        history.iterations = ctx.it = it
        history.stopped_by = calls.log(ctx)
        _update_bar(bar, history, it)
        if checkpoint_now:
            history.wall_time += time.perf_counter() - t0
            t0 = time.perf_counter()
            checkpointer.save(model, optimizer, history, calls, finished=False)
    losses.sync(history)
    history.iterations = it
    use_weights(optimizer, training=False)  # the model a schedule-free run returns: its average
    if not history.diverged:
        evaluator.train_accuracy(history, train_eval_data, it, cfg.train_eval_size)
    ctx.it = history.iterations
    calls.end(ctx)
    history.wall_time += time.perf_counter() - t0


def _slowest_rank_times(history: History, dev: torch.device) -> None:
    """Wall and evaluation time of the slowest rank, on every rank (so that all Histories agree)."""
    wall, ev = distributed.all_reduce(
        torch.tensor([history.wall_time, history.eval_time or 0.0], device=dev, dtype=torch.float64), "max").tolist()
    history.wall_time = wall
    history.eval_time = ev if history.eval_time is not None else None


def _training_batches(train_data, cfg: FitConfig, rank: int) -> tuple:
    """This rank's training batches, and the data the final train accuracy is measured on."""
    if isinstance(train_data, Split):
        # FitConfig: ghost_batch divides the batch, or is at least it (one slice)
        slices = max(1, cfg.batch_size // cfg.ghost_batch) if cfg.ghost_batch else 1
        batches = Batches(train_data.to(cfg.device), cfg.batch_size, seed=cfg.seed, flip=cfg.flip,
                          crop_pad=cfg.crop_pad, channels_last=cfg.channels_last, rank=rank, world_size=cfg.world,
                          order=cfg.data_order, interleave=slices if cfg.data_order == "file" else 1)
        return batches, batches.split
    # streaming: the source decodes this rank's rows of every global batch
    if cfg.data_order != "shuffle":
        raise ValueError(f"data_order={cfg.data_order!r} needs a Split; a streaming source shuffles")
    batches = train_data.batches(cfg.batch_size, seed=cfg.seed, flip=cfg.flip, crop_pad=cfg.crop_pad,
                                 channels_last=cfg.channels_last, rank=rank, world_size=cfg.world, device=cfg.device)
    return batches, train_data


def _provenance(cfg: FitConfig) -> dict:
    """Where and with what the run trained (rank 0's, so that every rank's History is the same)."""
    provenance = dict(device=str(cfg.device), device_name=device_name(cfg.device), torch=torch.__version__,
                      superconv=__version__, compile=cfg.compile)
    if cfg.world > 1:
        return distributed.from_main(lambda: {**provenance, "backend": str(torch.distributed.get_backend())})
    return provenance


def _loss_fn(device: torch.device, precision: str):
    """``loss_fn(model, x, y)``: the mean cross-entropy, forward under the run's precision."""
    def loss_fn(m, x, y):
        with autocast(device, precision):
            out = m(x)
        return F.cross_entropy(out.float(), y)
    return loss_fn


class _Losses:
    """Per-step losses, kept on the device and copied to the host only at sync points."""

    def __init__(self, size: int, device: torch.device, max_loss: float, world: int):
        self.values = torch.empty(size, device=device)
        self.pending = 0  # steps written into `values` but not yet synced
        self.max_loss, self.world = max_loss, world

    @property
    def full(self) -> bool:
        return self.pending == len(self.values)

    def add(self, loss: torch.Tensor) -> None:
        self.values[self.pending] = loss.detach()
        self.pending += 1

    def sync(self, history: History) -> bool:
        """Append the pending losses to ``history``; True if one is bad (then marked diverged).
        Under DDP the losses are first averaged over ranks: the global batch's loss, the same on
        every rank, so a NaN on one rank is a NaN on all of them and they stop together."""
        if not self.pending:
            return False
        pending, self.pending = self.values[:self.pending], 0
        vals = pending.tolist() if self.world == 1 else distributed.all_reduce(pending.clone(), "mean").tolist()
        first = len(history.train_loss)
        history.train_loss.extend(vals)
        for i, v in enumerate(vals):
            if not math.isfinite(v) or v > self.max_loss:
                history.diverged, history.diverged_at = True, first + i
                return True
        return False


# --------------------------------------------------------------------------- progress

def _progress(enabled: bool, total: int, initial: int, desc: str):
    if not enabled:
        return _NoBar()
    # here, not at the top: in a notebook kernel without ipywidgets, importing tqdm.auto writes a
    # warning to stderr, which would fail every chapter's -W book build (chapters show no bars)
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
