"""What a training run measured (:class:`History`) and what ``fit``'s callbacks see at each step
(:class:`StepContext`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from ._io import atomic_write_text, dumps, read_json, restore_floats

__all__ = ["History", "StepContext"]

# The measurements that are NaN or infinite when a run diverges: JSON stores those as strings.
_MEASURED = ("train_loss", "test_loss", "test_acc", "train_acc", "train_eval_loss")


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

    def add_eval_time(self, seconds: float) -> None:
        if self.eval_time is not None:  # None: resumed from a record that did not measure it
            self.eval_time += seconds

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs.setdefault("eval_time", None)  # older records: not measured, not zero
        return cls(**kwargs)

    @classmethod
    def from_json(cls, d: dict) -> "History":
        """:meth:`from_dict` of a dict read from JSON: the measurements stored as 'nan'/'inf'
        strings are floats again."""
        h = cls.from_dict(d)
        for name in _MEASURED:
            setattr(h, name, restore_floats(getattr(h, name)))
        return h

    def save(self, path) -> None:
        atomic_write_text(Path(path), dumps(self.to_dict()))

    @classmethod
    def load(cls, path) -> "History":
        return cls.from_json(read_json(Path(path), "history file"))


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
