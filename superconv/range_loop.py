"""The range test's training loop for any model, data, optimizer and loss.

:func:`superconv.range_test.lr_range_test` trains a :class:`superconv.data.Split` with
:func:`superconv.train.fit`, the fast path (data resident on the device, augmentation there, bf16).
A user's own training set-up is usually a ``DataLoader`` (or any iterable of ``(x, y)`` batches),
an optimizer and a loss function: :func:`ramp_loop` is the plain PyTorch loop for that case, as
torch-lr-finder runs it (one optimizer step per batch, the LR of every parameter group set before
the batch, the loss read back every step so the stop criterion can act at once).

What it leaves behind: the model's parameters, gradients, buffers and ``training`` flags
(:class:`ModelSnapshot`), the optimizer's state and hyperparameters (``state_dict`` round trip),
and the global torch RNG state, exactly as they were, also after an exception.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Iterable, Optional

import torch
import torch.nn as nn

from ._io import rng_state, set_rng_state
from .schedules import set_momentum

__all__ = ["ModelSnapshot", "ramp_loop", "group_scales"]


class ModelSnapshot:
    """Every parameter (value, device, dtype, strides) and its ``.grad``, every buffer, every
    module's ``training`` flag and every BatchNorm's ``momentum`` -- restored in place, so the
    Parameter objects (and any outside references to them, e.g. an optimizer's) stay the same."""

    def __init__(self, model: nn.Module):
        self.modules = list(model.modules())
        self.params = []
        self.buffers = []
        for m in self.modules:
            for name, p in m._parameters.items():
                if p is not None:
                    grad = None if p.grad is None else p.grad.detach().clone()
                    self.params.append((m, name, p, p.detach().clone(), grad))
            for name, b in m._buffers.items():
                self.buffers.append((m, name, b, None if b is None else b.detach().clone()))
        self.training = [m.training for m in self.modules]
        self.bn_momentum = [(m, m.momentum) for m in self.modules
                            if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    @torch.no_grad()
    def restore(self) -> None:
        for m, name, p, saved, grad in self.params:
            if m._parameters.get(name) is not p:  # replaced by a conversion: put the original back
                m._parameters[name] = p
            p.data = saved
            p.grad = grad
        for m, name, b, saved in self.buffers:
            if saved is None:
                m._buffers[name] = None
            elif m._buffers.get(name) is b:
                b.data = saved
            else:
                m._buffers[name] = saved
        for m, t in zip(self.modules, self.training):
            m.training = t
        for m, mom in self.bn_momentum:
            m.momentum = mom


def group_scales(optimizer: torch.optim.Optimizer) -> list:
    """Each parameter group's LR over group 0's, as the optimizer was built: the ramp drives
    group 0 and the others keep their ratio to it (as ``Schedule.to_scheduler`` does). Groups
    whose first LR is 0 all follow the ramp."""
    lrs = [float(g["lr"]) for g in optimizer.param_groups]
    if len(lrs) == 1 or not lrs[0] > 0:
        return [1.0] * len(lrs)
    return [lr / lrs[0] for lr in lrs]


def _endless(batches: Iterable) -> Iterable:
    """The batches again and again (a DataLoader is re-iterated, reshuffling as it is built to);
    an iterable that yields nothing is a ValueError."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("data yielded no batches")
        if iter(batches) is batches:  # a one-shot iterator: it cannot be repeated
            return


def _to(x, device):
    return x.to(device, non_blocking=True) if isinstance(x, torch.Tensor) else x


def _xy(batch, what: str):
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError(f"{what} must yield (inputs, targets) batches; got {type(batch).__name__}")
    return batch[0], batch[1]


def _is_classification(out, y) -> bool:
    return (isinstance(out, torch.Tensor) and isinstance(y, torch.Tensor) and out.ndim == 2
            and y.ndim == 1 and not y.is_floating_point() and len(out) == len(y))


@torch.no_grad()
def _evaluate(model: nn.Module, batches: Iterable, criterion: Callable, device) -> tuple:
    """(accuracy % or None, mean loss) over one pass of ``batches``, in eval mode. Accuracy only
    when the outputs are ``(N, C)`` scores and the targets ``(N,)`` integer classes."""
    was_training = model.training
    model.eval()
    n, loss_sum, correct, classify = 0, 0.0, 0, True
    try:
        for batch in batches:
            x, y = _xy(batch, "eval_data")
            x, y = _to(x, device), _to(y, device)
            out = model(x)
            k = len(y) if hasattr(y, "__len__") else 1
            loss_sum += float(criterion(out, y)) * k
            n += k
            if classify and _is_classification(out, y):
                correct += int((out.argmax(dim=1) == y).sum())
            else:
                classify = False
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("eval_data yielded no batches")
    return (100.0 * correct / n if classify else None), loss_sum / n


def ramp_loop(model: nn.Module, batches: Iterable, ramp: Callable[[int], float], iterations: int,
              optimizer: torch.optim.Optimizer, criterion: Callable, *, momentum: Optional[float] = None,
              stop: Optional[Callable[[list], bool]] = None, eval_batches: Optional[Iterable] = None,
              eval_every: int = 1, device=None, seed: Optional[int] = None) -> dict:
    """Train ``model`` on ``batches`` for up to ``iterations`` steps, batch ``it`` at LR
    ``ramp(it)`` (group ``i`` at ``ramp(it) * group_scales[i]``), then restore model, optimizer
    and RNG. ``momentum`` (None: the optimizer's own) is held constant. After every step the
    loss is read back and ``stop(losses)`` may end the test; a non-finite loss ends it too.
    ``eval_batches`` are evaluated every ``eval_every`` steps and after the last one. ``seed``
    (None: leave it as it is) seeds torch's global RNG first, e.g. for a shuffling DataLoader.

    Returns ``lrs`` and ``losses`` per step, ``eval_iters``, ``eval_acc`` (empty unless every
    evaluation was a classification) and ``eval_loss``, and ``reason``: None, ``"stop"`` or
    ``"non-finite"``.
    """
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    scales = group_scales(optimizer)
    model_state, opt_state, rng = ModelSnapshot(model), copy.deepcopy(optimizer.state_dict()), rng_state()
    lrs, losses, eval_iters, eval_acc, eval_loss, reason = [], [], [], [], [], None
    try:
        if seed is not None:
            torch.manual_seed(seed)
        if momentum is not None:
            set_momentum(optimizer, momentum)
        model.train()
        feed = iter(_endless(batches))
        for it in range(iterations):
            batch = next(feed, None)
            if batch is None:
                break
            x, y = _xy(batch, "data")
            lr = float(ramp(it))
            for g, s in zip(optimizer.param_groups, scales):
                g["lr"] = lr * s
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(_to(x, device)), _to(y, device))
            loss.backward()
            optimizer.step()
            lrs.append(lr)
            losses.append(float(loss.detach()))
            done = it + 1 == iterations
            if not math.isfinite(losses[-1]):
                reason = "non-finite"
            elif stop is not None and stop(losses):
                reason = "stop"
            if eval_batches is not None and reason is None and ((it + 1) % eval_every == 0 or done):
                acc, el = _evaluate(model, eval_batches, criterion, device)
                eval_iters.append(it + 1)
                eval_acc.append(acc)
                eval_loss.append(el)
            if reason is not None:
                break
    finally:
        model_state.restore()
        optimizer.load_state_dict(opt_state)
        set_rng_state(rng)
    if any(a is None for a in eval_acc):
        eval_acc = []
    return dict(lrs=lrs, losses=losses, eval_iters=eval_iters, eval_acc=eval_acc, eval_loss=eval_loss,
                reason=reason)
