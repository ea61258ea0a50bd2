"""SGD in the two momentum conventions that matter for super-convergence.

PyTorch (and most frameworks today) keep the learning rate *outside* the momentum buffer::

    v <- m*v + (g + wd*w)          w <- w - lr*v

Caffe, which the paper's authors used, keeps it *inside* (FACTS §3)::

    v <- m*v + lr*(g + wd*w)       w <- w - v

With a constant LR the two are the same algorithm. When the LR changes every step, as in a
CLR or 1cycle run, they are not: after a jump of the LR, PyTorch applies the new LR to the whole
accumulated velocity at once, Caffe only to the new gradient. ``make_optimizer`` builds either.
"""

from __future__ import annotations

import torch

from . import _checks

SGD_KINDS = ("torch", "caffe")


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
