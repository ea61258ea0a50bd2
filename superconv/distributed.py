"""Process-group helpers for data-parallel training with ``torchrun``: who this process is, the
collectives ``fit`` uses, synchronized BatchNorm, and the DistributedDataParallel wrap.

How ``superconv.train.fit`` splits a run over ``W`` processes ("ranks") -- launched by
``torchrun``, it does this by itself; without ``torchrun`` (no ``WORLD_SIZE`` in the
environment) nothing here is used and a run is exactly what it was before:

* ``batch_size`` stays the *total* batch and must be a multiple of ``W``. Every rank holds the
  whole dataset on its device, draws the same global batch ``it`` from ``(seed, it)`` and trains
  on its ``batch_size / W`` rows of it (``data.Batches(rank=, world_size=)``), so the union over
  ranks is the one-process batch. DistributedDataParallel averages the gradients; the LR and
  momentum schedules are the same functions of ``it``.
* BatchNorm: with ``sync_bn=True`` (fit's default) every BN layer normalizes with the statistics
  of the whole global batch, so a run gives the result of one process with the same total batch
  (up to float rounding) and does not depend on the number of GPUs. With ``sync_bn=False`` each
  rank's BN sees only its shard (``batch_size / W`` samples: noisier statistics, a different
  regularization -- what Caffe's multi-GPU BatchNorm did in the paper's 8 x 125 runs) and the
  running statistics are averaged over ranks before every evaluation and checkpoint.
* The History is the same on every rank: per-step losses are averaged over ranks, evaluation is
  sharded and its sums all-reduced, divergence (NaN/inf/too large) and callbacks' stop requests
  are agreed on by all ranks, so a NaN on one rank stops them all at the same iteration.
* Only rank 0 shows a progress bar and writes checkpoints (then all ranks wait at a barrier);
  resuming, rank 0 reads the checkpoint and sends it to every rank (no shared disk needed).

The results store shares itself the same way (``results.Store(rank0=True)``), and
``superconv.launch`` is the command line that trains the book's run specs under ``torchrun``.
This module imports nothing of the package but its argument checks: the training loop and the
store stand on it.
"""

from __future__ import annotations

import atexit
import inspect
import os
import pickle
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from ._checks import fail

__all__ = ["launched", "active", "world_size", "rank", "local_rank", "is_main", "rank_device", "setup",
           "teardown", "barrier", "all_reduce", "any_each", "from_main", "average_bn_stats", "wrap_ddp",
           "SyncBatchNorm", "convert_sync_bn", "restore_bn"]


# --------------------------------------------------------------------------- who am I

def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        pass  # failed below, outside the handler: one line, no chained traceback
    fail(name, value, "an integer (torchrun sets it)", why="in the environment is not an integer")


def active() -> bool:
    """A process group with more than one rank is initialized."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes: the process group's, else ``$WORLD_SIZE`` (torchrun), else 1."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _env_int("WORLD_SIZE", 1)


def launched() -> bool:
    """This process is one of several (started by torchrun, or a group was initialized)."""
    return world_size() > 1


def rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0)


def local_rank() -> int:
    """The rank on this machine: which GPU this process uses."""
    return _env_int("LOCAL_RANK", 0)


def is_main() -> bool:
    return rank() == 0


def rank_device(device: torch.device) -> torch.device:
    """Under torchrun, a CUDA device without an index becomes ``cuda:LOCAL_RANK``."""
    device = torch.device(device)
    if launched() and device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank())
    return device


# --------------------------------------------------------------------------- the process group

def setup(device=None) -> int:
    """Join torchrun's process group (idempotent) and return the world size (1: not launched).

    The backend is NCCL for a CUDA ``device`` (None: CUDA when available), gloo otherwise;
    for CUDA the process's current device becomes ``cuda:LOCAL_RANK``. A group this function
    creates is destroyed at exit (or by :func:`teardown`).
    """
    if not dist.is_available():
        return 1
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = rank_device(device)
    if dist.is_initialized():
        if dev.type != "cuda" and "nccl" in str(dist.get_backend()):
            fail("device", str(dev), "a CUDA device (or initialize the group with backend='gloo')",
                 why="cannot train under the NCCL process group this process joined")
        return dist.get_world_size()
    if world_size() <= 1:
        return 1
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        dist.init_process_group("nccl", device_id=dev)
    else:
        dist.init_process_group("gloo")
    atexit.register(teardown)
    return dist.get_world_size()


def teardown() -> None:
    """Leave the process group (no-op when none is initialized)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# --------------------------------------------------------------------------- collectives
# Each is a no-op in a single process, so callers need no `if` of their own.

def barrier() -> None:
    if active():
        dist.barrier()


_OPS = {"sum": "SUM", "max": "MAX", "min": "MIN", "mean": "SUM"}


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Reduce ``tensor`` over ranks in place (``op``: sum, mean, max, min) and return it."""
    if op not in _OPS:
        fail("op", op, ", ".join(_OPS), why="is not a reduction")
    if active():
        dist.all_reduce(tensor, op=getattr(dist.ReduceOp, _OPS[op]))
        if op == "mean":
            tensor.div_(dist.get_world_size())
    return tensor


def any_each(flags: list, device=None) -> list:
    """Element-wise "any rank says True" of a list of booleans (one all-reduce)."""
    if not active() or not flags:
        return [bool(f) for f in flags]
    t = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    return [bool(v) for v in all_reduce(t, "max").tolist()]


def from_main(fn: Callable[[], Any]) -> Any:
    """``fn()`` run on rank 0 only; every rank returns its result, or raises its exception."""
    if not active():
        return fn()
    answer = None
    if dist.get_rank() == 0:
        try:
            answer = (True, fn())
        except Exception as e:  # sent to every rank, so no rank waits for an answer that never comes
            try:
                pickle.dumps(e)
            except Exception:
                e = RuntimeError(f"{type(e).__name__}: {e}")
            answer = (False, e)
    sent = [answer]  # broadcast_object_list fills the list in place on the other ranks
    dist.broadcast_object_list(sent, src=0)
    ok, value = sent[0]
    if not ok:
        raise value
    return value


def average_bn_stats(model: nn.Module) -> None:
    """Average every BatchNorm running mean/var over ranks (one all-reduce). Running statistics
    are linear in the batch statistics, so averaging at any time gives the same result."""
    _share_bn_stats(model, lambda flat: all_reduce(flat, "mean"))


def _share_bn_stats(model: nn.Module, combine: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Every BatchNorm running mean/var, flattened into one tensor, through ``combine`` (a
    collective) and back, on every rank; nothing outside a process group."""
    if not active():
        return
    bufs = [b for m in model.modules() if isinstance(m, _BatchNorm)
            for b in (m.running_mean, m.running_var) if b is not None]
    if not bufs:
        return
    flat = combine(torch.cat([b.reshape(-1).float() for b in bufs]))
    for b, v in zip(bufs, flat.split([b.numel() for b in bufs])):
        b.copy_(v.view_as(b))


def root_bn_stats(model: nn.Module) -> None:
    """Every rank takes rank 0's BatchNorm running mean/var (one broadcast): with ghost BatchNorm
    the statistics are the root GPU's slices', which Caffe's test net (on the root GPU) used."""
    def from_rank0(flat: torch.Tensor) -> torch.Tensor:
        torch.distributed.broadcast(flat, src=0)
        return flat
    _share_bn_stats(model, from_rank0)


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel. Buffers (BN running statistics) are not re-sent from
    rank 0 at every forward: with synchronized BN they are equal on all ranks anyway, without it
    each rank keeps its own and ``fit`` averages them (:func:`average_bn_stats`)."""
    ids = [torch.device(device).index] if torch.device(device).type == "cuda" else None
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters:  # torch >= 2.14
        return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)
    return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)


# --------------------------------------------------------------------------- synchronized BatchNorm

class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the gradients (each rank's loss
    depends on the total through every rank's normalization)."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over the union of every rank's batch, on any device and backend.

    torch's ``nn.SyncBatchNorm`` (used on CUDA) needs a GPU; this one does the same with plain
    tensor ops so that DDP on CPU processes (gloo) trains like one process: per-channel sums of
    ``x`` and ``x**2`` and the count, in float64, are summed over ranks in one all-reduce; the
    backward all-reduces their gradients. Outside training, or in one process, it is ``_BatchNorm``.
    """

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected an input with >= 2 dimensions (N, C, ...), got {x.dim()}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and active()):
            return super().forward(x)
        self._check_input_dim(x)
        c = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        xd = x.double()
        local = torch.cat([xd.sum(dims), (xd * xd).sum(dims), xd.new_full((1,), x.numel() // max(c, 1))])
        total = _AllReduceSum.apply(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.mul_(1 - f).add_(mean.to(self.running_mean.dtype), alpha=f)
                self.running_var.mul_(1 - f).add_(unbiased.to(self.running_var.dtype), alpha=f)
        # centred before scaling, as torch's kernels: the weight's gradient is then a sum of
        # g*(x - mean), not the difference of two large sums (which loses digits in float32)
        shape = [1, c] + [1] * (x.dim() - 2)
        scale = torch.rsqrt(var + self.eps).float()
        if self.weight is not None:
            scale = scale * self.weight
        y = (x.float() - mean.float().view(shape)) * scale.view(shape)
        if self.bias is not None:
            y = y + self.bias.view(shape)
        return y.to(x.dtype)


def convert_sync_bn(model: nn.Module, device: torch.device) -> list:
    """Replace every BatchNorm in ``model`` by a synchronized one that shares its parameters and
    buffers (so the optimizer and checkpoints see the same tensors): ``nn.SyncBatchNorm`` on
    CUDA, :class:`SyncBatchNorm` elsewhere. Returns what :func:`restore_bn` needs to undo it."""
    cls = nn.SyncBatchNorm if torch.device(device).type == "cuda" else SyncBatchNorm
    swaps = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _BatchNorm) and not isinstance(child, (nn.SyncBatchNorm, SyncBatchNorm)):
                ref = child.running_mean if child.running_mean is not None else child.weight
                new = cls(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats,
                          device=None if ref is None else ref.device)
                with torch.no_grad():
                    if child.affine:
                        new.weight, new.bias = child.weight, child.bias
                    if child.track_running_stats:
                        new.running_mean, new.running_var = child.running_mean, child.running_var
                        new.num_batches_tracked = child.num_batches_tracked
                new.train(child.training)
                setattr(parent, name, new)
                swaps.append((parent, name, child))
    return swaps


def restore_bn(swaps: list) -> None:
    """Put back the BatchNorm modules :func:`convert_sync_bn` replaced (they hold the trained
    values: the tensors were shared and updated in place)."""
    for parent, name, original in reversed(swaps):
        original.train(getattr(parent, name).training)
        setattr(parent, name, original)
