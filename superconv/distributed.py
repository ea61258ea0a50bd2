"""Data-parallel training with ``torchrun``: one process per GPU (or CPU processes with gloo).

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

Running a run spec of the book (see ``experiments``) on 8 GPUs; the record lands in the results
store (``$SUPERCONV_RESULTS``), written by rank 0 only, under the same key as a one-process run::

    torchrun --standalone --nproc_per_node 8 -m superconv.distributed --profile paper --policy one_cycle
    torchrun --standalone --nproc_per_node 8 -m superconv.distributed --profile paper --spec specs.json

``specs.json`` holds a spec, a list of specs, or ``{name: [specs]}`` as the studies' ``specs()``
return them.
"""

from __future__ import annotations

import argparse
import atexit
import inspect
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["launched", "active", "world_size", "rank", "local_rank", "is_main", "rank_device", "setup",
           "teardown", "barrier", "all_reduce", "any_each", "from_main", "average_bn_stats", "wrap_ddp",
           "SyncBatchNorm", "convert_sync_bn", "restore_bn", "DistributedStore", "main"]


# --------------------------------------------------------------------------- who am I

def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        raise ValueError(f"{name}={value!r} in the environment must be an integer (torchrun sets it)") from None


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
            raise ValueError(f"device={str(dev)!r} cannot train under the NCCL process group this process "
                             "joined; allowed: a CUDA device (or initialize the group with backend='gloo')")
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
        raise ValueError(f"op={op!r} is not a reduction; allowed: {', '.join(_OPS)}")
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
    box: list = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = (True, fn())
        except Exception as e:  # sent to every rank, so no rank waits for an answer that never comes
            try:
                pickle.dumps(e)
            except Exception:
                e = RuntimeError(f"{type(e).__name__}: {e}")
            box[0] = (False, e)
    dist.broadcast_object_list(box, src=0)
    ok, value = box[0]
    if not ok:
        raise value
    return value


def average_bn_stats(model: nn.Module) -> None:
    """Average every BatchNorm running mean/var over ranks (one all-reduce). Running statistics
    are linear in the batch statistics, so averaging at any time gives the same result."""
    if not active():
        return
    bufs = [b for m in model.modules() if isinstance(m, _BatchNorm)
            for b in (m.running_mean, m.running_var) if b is not None]
    if not bufs:
        return
    flat = all_reduce(torch.cat([b.reshape(-1).float() for b in bufs]), "mean")
    for b, v in zip(bufs, flat.split([b.numel() for b in bufs])):
        b.copy_(v.view_as(b))


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel. Buffers (BN running statistics) are not re-sent from
    rank 0 at every forward: with synchronized BN they are equal on all ranks anyway, without it
    each rank keeps its own and ``fit`` averages them (:func:`average_bn_stats`)."""
    from torch.nn.parallel import DistributedDataParallel as DDP
    ids = [torch.device(device).index] if torch.device(device).type == "cuda" else None
    if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters:  # torch >= 2.14
        return DDP(model, device_ids=ids, forward_sync_buffers=False)
    return DDP(model, device_ids=ids, broadcast_buffers=False)


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


# --------------------------------------------------------------------------- results store

class DistributedStore:
    """The results store (``superconv.results.Store``) as the ranks of one job share it: rank 0
    reads and writes records and checkpoints, every rank gets rank 0's answers. Pass it to
    ``experiments.run(..., store=)``; in one process it behaves exactly like ``Store``."""

    def __init__(self, root=None):
        from .results import Store  # here, not at the top: results imports train, which imports us
        self.store = Store(root)

    @property
    def root(self) -> Path:
        return self.store.root

    def path(self, spec: dict, profile: str) -> Path:
        return self.store.path(spec, profile)

    def checkpoint_path(self, spec: dict, profile: str) -> Path:
        return self.store.checkpoint_path(spec, profile)

    def get(self, spec: dict, profile: str):
        return from_main(lambda: self.store.get(spec, profile))

    def put(self, spec: dict, profile: str, history, overwrite: bool = False) -> Path:
        return from_main(lambda: self.store.put(spec, profile, history, overwrite=overwrite))

    def records(self, profile: str | None = None) -> list:
        return from_main(lambda: self.store.records(profile))

    def run(self, spec: dict, profile: str, train: Callable, retrain: bool = False):
        """``Store.run`` with the file operations on rank 0 and ``train(checkpoint)`` on all ranks."""
        if not retrain:
            cached = self.get(spec, profile)
            if cached is not None:
                return cached
        ckpt = self.checkpoint_path(spec, profile)
        if retrain:
            from_main(lambda: ckpt.unlink(missing_ok=True))
        history = train(ckpt)
        self.put(spec, profile, history, overwrite=retrain)
        from_main(lambda: ckpt.unlink(missing_ok=True))
        return history


# --------------------------------------------------------------------------- command line

def _load_specs(path: str) -> list:
    """A spec, a list of specs, or ``{name: spec or [specs]}`` from a JSON file, as a list."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"--spec {path!r} cannot be read as JSON ({e})") from e
    items = obj if isinstance(obj, list) else [obj] if "schedule" in obj else list(obj.values())
    specs = []
    for item in items:
        specs.extend(item if isinstance(item, list) else [item])
    if not specs or not all(isinstance(s, dict) for s in specs):
        raise ValueError(f"--spec {path!r} must hold a run spec, a list of them, or {{name: [specs]}}")
    return specs


def main(argv=None) -> int:
    """``torchrun ... -m superconv.distributed --profile P (--policy NAME | --spec FILE)``."""
    from . import experiments  # imports the whole package: only the command line needs it

    p = argparse.ArgumentParser(prog="python -m superconv.distributed",
                                description="Train run specs of the book with DDP under torchrun; "
                                            "rank 0 writes the results store ($SUPERCONV_RESULTS).")
    p.add_argument("--profile", required=True, choices=experiments.PROFILES)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--policy", help="a profile policy (experiments.make_spec(profile, policy))")
    what.add_argument("--spec", help="JSON file: a run spec, a list of specs, or {name: [specs]}")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="with --policy: one run per seed")
    p.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK when available), cpu, cuda")
    p.add_argument("--retrain", action="store_true", help="train again although a record exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on rank 0")
    args = p.parse_args(argv)

    # everything is validated before the process group and any training
    if args.policy is not None:
        seeds = args.seeds if args.seeds is not None else [None]
        specs = [experiments.make_spec(args.profile, args.policy, seed=s) for s in seeds]
    else:
        if args.seeds is not None:
            p.error("--seeds goes with --policy; a --spec file says its seeds itself")
        specs = _load_specs(args.spec)
    for s in specs:
        experiments.build_schedule(s["schedule"])

    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    setup(device)
    try:
        store = DistributedStore()
        for s in specs:
            h = experiments.run(s, args.profile, device=device, store=store, progress=not args.no_progress,
                                retrain=args.retrain)
            if is_main():
                print(f"{experiments.describe(s)}: final test acc {h.final_test_acc}, "
                      f"{h.iterations} it, {h.wall_time:.1f} s on {world_size()} process(es) "
                      f"-> {store.path(s, args.profile)}", flush=True)
    finally:
        teardown()
    return 0


if __name__ == "__main__":
    # run the package's copy of this module, so that fit and the command line share one set of globals
    from superconv.distributed import main as _main
    sys.exit(_main())
