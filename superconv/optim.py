"""SGD in the two momentum conventions that matter for super-convergence.

PyTorch (and most frameworks today) keep the learning rate *outside* the momentum buffer::

    v <- m*v + (g + wd*w)          w <- w - lr*v

Caffe, which the paper's authors used, keeps it *inside* (FACTS §3)::

    v <- m*v + lr*(g + wd*w)       w <- w - v

With a constant LR the two are the same algorithm. When the LR changes every step, as in a
CLR or 1cycle run, they are not: after a jump of the LR, PyTorch applies the new LR to the whole
accumulated velocity at once, Caffe only to the new gradient. ``make_optimizer`` builds either.

The optimizers people use now beside SGD (:data:`OPTIMIZERS`, chapter 12): AdamW (torch's, decoupled
weight decay) and the *schedule-free* SGD and AdamW of Defazio et al. 2024 (the ``schedulefree``
package's own classes, used as they are). A schedule-free optimizer keeps two sequences: the
gradient is taken at an interpolation ``y`` and the model is evaluated at an average ``x``. It must
be told which one the model holds -- ``optimizer.train()`` before a step, ``optimizer.eval()``
before an evaluation -- and it warms up by itself (``warmup_steps``) at a constant LR:
:func:`use_weights` does the switching for ``fit``, and a no-op for every other optimizer.
"""

from __future__ import annotations

import schedulefree
import torch

from . import _checks

SGD_KINDS = ("torch", "caffe")

#: ``fit(optimizer=...)``: SGD with momentum (either convention of :data:`SGD_KINDS`), torch's
#: AdamW, and the ``schedulefree`` package's SGD and AdamW.
OPTIMIZERS = ("sgd", "adamw", "sgd_schedulefree", "adamw_schedulefree")
SCHEDULE_FREE = ("sgd_schedulefree", "adamw_schedulefree")
ADAM_BETA2 = 0.999  # torch's and schedulefree's default second-moment decay


class CaffeSGD(torch.optim.Optimizer):
    """SGD with Caffe's momentum semantics: the LR is applied when the gradient enters the buffer.

    ``nesterov=True`` follows Caffe's NesterovSolver:
    ``v_new = m*v + lr*(g + wd*w)``; ``w -= (1 + m)*v_new - m*v``.
    Weight decay is applied to every parameter it is given, as in the paper (BN and FC included).
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False):
        _checks.non_negative("lr", lr)
        _checks.fraction("momentum", momentum)
        _checks.non_negative("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            lr, m, wd = group["lr"], group["momentum"], group["weight_decay"]
            grads = [p.grad for p in params]
            bufs = []
            for p in params:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                bufs.append(state["momentum_buffer"])
            # d = lr * (g + wd*w), computed without touching .grad
            d = torch._foreach_add(grads, params, alpha=wd) if wd else [g.clone() for g in grads]
            torch._foreach_mul_(d, lr)
            if group["nesterov"]:
                # update = (1+m)*v_new - m*v_old = v_new + m*(v_new - v_old) = v_new + m*(m*v_old + d - v_old)
                old = [b.clone() for b in bufs]
                torch._foreach_mul_(bufs, m)
                torch._foreach_add_(bufs, d)
                upd = torch._foreach_sub(bufs, old)
                torch._foreach_mul_(upd, m)
                torch._foreach_add_(upd, bufs)
                torch._foreach_sub_(params, upd)
            else:
                torch._foreach_mul_(bufs, m)
                torch._foreach_add_(bufs, d)
                torch._foreach_sub_(params, bufs)
        return loss


def param_groups(model: torch.nn.Module, weight_decay: float) -> list:
    """The optimizer's parameter groups for ``model``: one group, or the model's own Caffe
    multipliers (``model.caffe_multipliers()``, e.g. ``caffe_resnet``) with each group's weight
    decay ``weight_decay * decay_mult`` and its ``lr_mult`` kept for :func:`set_hyperparameters`."""
    own = getattr(model, "caffe_multipliers", None)
    if own is None:
        return [dict(params=list(model.parameters()), lr_mult=1.0, weight_decay=weight_decay)]
    return [dict(params=g["params"], lr_mult=g["lr_mult"], weight_decay=weight_decay * g["decay_mult"])
            for g in own() if g["params"]]


def make_optimizer(params, kind: str = "torch", lr: float = 0.1, momentum: float = 0.9,
                   weight_decay: float = 0.0, nesterov: bool = False) -> torch.optim.Optimizer:
    """SGD with PyTorch's momentum semantics (``kind="torch"``) or Caffe's (``kind="caffe"``)."""
    _checks.choice("sgd", kind, SGD_KINDS)
    if kind == "caffe":
        return CaffeSGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                        nesterov=nesterov)
    # torch's SGD checks nesterov against the momentum given at construction; a schedule may
    # start at momentum 0, so construct with a placeholder and let fit set the real value.
    return torch.optim.SGD(params, lr=lr, momentum=momentum if momentum > 0 or not nesterov else 0.9,
                           weight_decay=weight_decay, nesterov=nesterov, foreach=True)


def build_optimizer(params, optimizer: str = "sgd", *, sgd: str = "torch", lr: float = 0.1, momentum: float = 0.9,
                    weight_decay: float = 0.0, nesterov: bool = False, warmup_steps: int = 0) -> torch.optim.Optimizer:
    """The optimizer ``fit`` trains with: :func:`make_optimizer`'s SGD, torch's AdamW (``momentum``
    is beta1, weight decay decoupled: ``w -= lr * wd * w``), or schedule-free SGD / AdamW
    (``momentum``: their interpolation constant, beta1 for AdamW; ``warmup_steps``: their own
    linear warmup). ``sgd`` and ``nesterov`` are SGD's only; ``warmup_steps`` schedule-free only."""
    _checks.choice("optimizer", optimizer, OPTIMIZERS)
    if optimizer != "sgd" and (sgd != "torch" or nesterov):
        raise _checks.ParameterError(f"sgd={sgd!r}, nesterov={nesterov!r} are SGD's settings; with "
                                     f"optimizer={optimizer!r} use sgd='torch', nesterov=False")
    if warmup_steps and optimizer not in SCHEDULE_FREE:
        raise _checks.ParameterError(f"warmup_steps={warmup_steps!r} is the schedule-free optimizers' own warmup; "
                                     f"with optimizer={optimizer!r} warm up in the LR schedule (warmup_steps=0)")
    if optimizer == "sgd":
        return make_optimizer(params, sgd, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(momentum, ADAM_BETA2), weight_decay=weight_decay, foreach=True)
    if optimizer == "sgd_schedulefree":
        return schedulefree.SGDScheduleFree(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                            warmup_steps=warmup_steps)
    return schedulefree.AdamWScheduleFree(params, lr=lr, betas=(momentum, ADAM_BETA2), weight_decay=weight_decay,
                                          warmup_steps=warmup_steps)


def schedule_free(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` keeps separate training and evaluation weights (``train()``/``eval()``)."""
    return callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))


def use_weights(optimizer: torch.optim.Optimizer, training: bool) -> None:
    """Put the weights a schedule-free optimizer trains at (``training``) or evaluates at (the
    average) into the model; nothing for any other optimizer."""
    if schedule_free(optimizer):
        (optimizer.train if training else optimizer.eval)()


def set_hyperparameters(optimizer: torch.optim.Optimizer, lr: float, momentum: float | None) -> None:
    """Set the LR (times the group's ``lr_mult``, if it has one) and the momentum (SGD's
    ``momentum`` or Adam's ``betas[0]``) of every group."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
        if momentum is None:
            continue
        if "momentum" in group:
            group["momentum"] = momentum
        elif "betas" in group:
            group["betas"] = (momentum, group["betas"][1])
