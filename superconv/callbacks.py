"""``fit``'s callbacks, called as one: objects with any of ``on_step(ctx)`` (after every step),
``on_log(ctx)`` (at every host sync; True stops the run), ``on_end(ctx)``, and
``state_dict()``/``load_state_dict(state)`` (checkpointed with the run). Under DDP every rank
calls its own callbacks, and a stop requested on any rank stops every rank."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from . import distributed
from .history import StepContext

__all__ = ["Callbacks"]


class Callbacks:
    def __init__(self, callbacks: Sequence[Any], device: torch.device):
        self.all = list(callbacks)
        self.stepping = [cb for cb in self.all if hasattr(cb, "on_step")]
        self.logging = [cb for cb in self.all if hasattr(cb, "on_log")]
        self.device = device

    def step(self, ctx: StepContext, it: int, x, y, loss, lr: float, momentum) -> None:
        """After batch ``it`` (0-based) trained on ``x, y`` with ``lr``/``momentum`` and gave ``loss``."""
        if self.stepping:
            ctx.it, ctx.x, ctx.y, ctx.loss, ctx.lr, ctx.momentum = it, x, y, loss, lr, momentum
            for cb in self.stepping:
                cb.on_step(ctx)

    def log(self, ctx: StepContext) -> str | None:
        """Every ``on_log``; the name of the (last) callback that asks to stop, on any rank."""
        stops = distributed.any_each([bool(cb.on_log(ctx)) for cb in self.logging], device=self.device)
        stopped = None
        for cb, stop in zip(self.logging, stops):
            if stop:
                stopped = type(cb).__name__
        return stopped

    def end(self, ctx: StepContext) -> None:
        for cb in self.all:
            if hasattr(cb, "on_end"):
                cb.on_end(ctx)

    def state_dicts(self) -> list:
        return [cb.state_dict() if hasattr(cb, "state_dict") else None for cb in self.all]

    def load_state_dicts(self, states: list) -> None:
        for cb, state in zip(self.all, states):
            if state is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(state)
