"""Learning-rate and momentum schedules as pure functions of the iteration.

Every schedule is a small frozen object with two methods, ``lr(it)`` and ``momentum(it)``:

* **Indexing rule (the only one).** ``it`` is the 0-based index of the mini-batch: batch ``it``
  is trained with ``lr(it)`` and ``momentum(it)``. Iteration 0 is the first batch. This is the
  convention of Caffe's logs ("Iteration N, lr = ...") and of torch's per-batch schedulers right
  after construction (the optimizer holds the value for batch 0; each ``scheduler.step()`` moves
  it to the next batch).
* **Past the end** (``it >= total_steps``) a bounded schedule *holds its final value*
  ``lr(total_steps - 1)``. (torch's ``OneCycleLR`` raises instead; holding is kinder to a loop
  that runs one batch too many and to plots.) Unbounded schedules (``total_steps is None``) are
  defined for every ``it >= 0``.
* ``it < 0`` raises ``ValueError``; a non-integer ``it`` raises ``TypeError``.
* ``momentum(it)`` returns ``None`` when the schedule does not touch momentum (then the
  optimizer keeps whatever momentum it was built with). "Momentum" means SGD's ``momentum``
  or, for Adam-like optimizers, ``beta1``.
* All arithmetic is Python ``float`` (float64).

Schedules (factory functions, each returning a :class:`Schedule`):

=====================  ==========================================================================
``clr``                the CLR paper's triangular / triangular2 / exp_range policies; equals
                       ``torch.optim.lr_scheduler.CyclicLR`` (optional cyclical momentum)
``one_cycle``          1cycle as the authors ran it in Caffe (Super-Convergence; FACTS §3), with
                       cyclical momentum 0.95 -> 0.85 -> 0.95
``headline``           the Super-Convergence headline run: one cycle 0.1 -> 3 -> 0.1, 10k iterations
``one_cycle_torch``    equals ``torch.optim.lr_scheduler.OneCycleLR`` (fastai's 1cycle)
``piecewise_constant`` step decay at milestones (the paper's PC-LR baseline); equals ``MultiStepLR``
``fixed``              a constant LR
``exponential``        ``base_lr * gamma**it``; equals ``ExponentialLR`` stepped per batch
``inv``                Caffe's ``inv`` policy (the MNIST LeNet baseline)
``cosine``             cosine decay after an optional linear warmup; equals ``CosineAnnealingLR``
``wsd``                warmup-stable-decay with a linear or (1 - sqrt) cooldown (Hägele et al. 2024)
``triangle``           airbench's 1cycle-shaped triangle (peak at 23 %, ends at 0.07 of the peak)
=====================  ==========================================================================

Each schedule also has ``sample()`` (numpy arrays for plots), ``describe()`` (a one-line caption)
and ``to_scheduler(optimizer)`` (a real ``torch.optim.lr_scheduler.LRScheduler`` that drives
any optimizer, with ``state_dict``/``load_state_dict`` for exact resumption)::

    sched = one_cycle(0.1, 1.0, step_size=2246, total_steps=4882)
    opt = torch.optim.SGD(model.parameters(), lr=sched.lr(0), momentum=0.9)
    scheduler = sched.to_scheduler(opt)    # optimizer now holds the values for batch 0
    for it in range(4882):
        loss_fn(model(x[it]), y[it]).backward()
        opt.step(); opt.zero_grad()
        scheduler.step()                   # optimizer now holds the values for batch it + 1

References: Smith, "Cyclical Learning Rates for Training Neural Networks" (arXiv 1506.01186,
"CLR paper"); Smith & Topin, "Super-Convergence" (arXiv 1708.07120); Smith, "A disciplined
approach to neural network hyper-parameters: Part 1" (arXiv 1803.09820). "FACTS" refers to the
reproduction's ``shared/paper/FACTS.md`` (formulas and the authors' settings and logs).
"""

from __future__ import annotations

import abc
import bisect
import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from . import _checks

__all__ = [
    "Schedule",
    "CLR",
    "OneCycle",
    "OneCycleTorch",
    "PiecewiseConstant",
    "Fixed",
    "Exponential",
    "Inv",
    "Cosine",
    "WSD",
    "Triangle",
    "ScheduledLR",
    "clr",
    "one_cycle",
    "headline",
    "one_cycle_torch",
    "piecewise_constant",
    "fixed",
    "exponential",
    "inv",
    "cosine",
    "wsd",
    "triangle",
    "CLR_MODES",
    "WSD_COOLDOWNS",
    "ScheduleEndWarning",
]

CLR_MODES = ("triangular", "triangular2", "exp_range")


class ScheduleEndWarning(UserWarning):
    """A run trains past its schedule's ``total_steps`` (the schedule holds its last value there)."""
MomentumSpec = Union[None, float, Tuple[float, float]]


# ----------------------------------------------------------------------------------------------
# validation helpers: every error names the parameter and the allowed values
# ----------------------------------------------------------------------------------------------

def _lr_value(name: str, value: Any) -> float:
    return _checks.real(name, value, "a finite learning rate >= 0", lambda v: v >= 0)


def _opt_total_steps(value: Any) -> Optional[int]:
    return None if value is None else _checks.positive_int("total_steps", value)


def _momentum_value(name: str, value: Any) -> float:
    # Adam's beta1 plays momentum's part, with the same range
    return _checks.real(name, value, "a momentum (or Adam beta1) in [0, 1)", lambda v: 0 <= v < 1)


def _momentum_spec(value: Any, *, allow_cycle: bool = True) -> MomentumSpec:
    """None, a constant float, or (momentum at the low LR, momentum at the peak LR)."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        if not allow_cycle:
            raise ValueError(f"momentum={value!r}: this schedule takes only a constant momentum "
                             "(a float) or None")
        if len(value) != 2:
            raise ValueError(f"momentum={value!r} must be a pair (momentum at the low LR, "
                             "momentum at the peak LR), a float, or None")
        return (_momentum_value("momentum[0]", value[0]), _momentum_value("momentum[1]", value[1]))
    return _momentum_value("momentum", value)


def _check_it(it: Any) -> int:
    if type(it) is not int:
        if isinstance(it, bool) or not isinstance(it, numbers.Integral):
            raise TypeError(f"it={it!r} must be an integer iteration index (0-based batch index)")
        it = int(it)
    if it < 0:
        raise ValueError(f"it={it} is negative; iterations are 0-based (it >= 0)")
    return it


def _g(x: float) -> str:
    return f"{x:g}"


def _mom_text(m: MomentumSpec, cyc: str = "\u2194") -> str:
    if m is None:
        return "momentum untouched"
    if isinstance(m, tuple):
        return f"momentum {_g(m[0])}{cyc}{_g(m[1])}"
    return f"momentum {_g(m)}"


# ----------------------------------------------------------------------------------------------
# the base class
# ----------------------------------------------------------------------------------------------

class Schedule(abc.ABC):
    """Base class: an LR (and optionally momentum) schedule as a pure function of the iteration.

    Subclasses are frozen dataclasses with a ``total_steps`` field (``None`` = unbounded) and
    implement ``_lr(it)`` / ``_momentum(it)`` for ``0 <= it < total_steps``; this class adds the
    argument checks, the hold-past-the-end rule, sampling, captions and the torch adapter.

    Calling a schedule, ``sched(it)``, is the same as ``sched.lr(it)`` (a learning rate, *not*
    a ``LambdaLR`` multiplier).
    """

    total_steps: Optional[int]

    # -- to implement -------------------------------------------------------------------------
    @abc.abstractmethod
    def _lr(self, it: int) -> float:
        """LR for ``0 <= it < total_steps`` (no checks)."""

    def _momentum(self, it: int) -> Optional[float]:
        """Momentum for ``0 <= it < total_steps`` (no checks); ``None`` = untouched."""
        return None

    @abc.abstractmethod
    def describe(self) -> str:
        """One-line human description, e.g. for a figure caption."""

    # -- public API ---------------------------------------------------------------------------
    def _clamp(self, it: int) -> int:
        n = self.total_steps
        return it if n is None or it < n else n - 1

    def lr(self, it: int) -> float:
        """Learning rate for batch ``it`` (0-based); holds the final value past ``total_steps``."""
        return float(self._lr(self._clamp(_check_it(it))))

    def momentum(self, it: int) -> Optional[float]:
        """Momentum (SGD) / beta1 (Adam) for batch ``it``; ``None`` if the schedule leaves it."""
        m = self._momentum(self._clamp(_check_it(it)))
        return None if m is None else float(m)

    def __call__(self, it: int) -> float:
        return self.lr(it)

    @property
    def has_momentum(self) -> bool:
        """Whether the schedule sets the momentum (``momentum(it)`` is not ``None``)."""
        return self._momentum(0) is not None

    def sample(self, start: int = 0, stop: Optional[int] = None, step: int = 1):
        """Sample the schedule for plots: ``(its, lrs, moms)`` as float64/int64 numpy arrays.

        ``its = range(start, stop, step)``; ``stop`` defaults to ``total_steps`` (required for an
        unbounded schedule). ``moms`` is all-NaN when the schedule does not set momentum
        (matplotlib draws nothing for NaN). Values are exactly those of ``lr``/``momentum``.
        """
        start = _check_it(start)
        if stop is None:
            if self.total_steps is None:
                raise ValueError("stop=None needs a bounded schedule; this one has total_steps="
                                 "None, so pass stop (an iteration count)")
            stop = self.total_steps
        if isinstance(stop, bool) or not isinstance(stop, numbers.Integral) or stop < 0:
            raise ValueError(f"stop={stop!r} must be an integer >= 0")
        step = _checks.positive_int("step", step)
        its = np.arange(start, int(stop), step, dtype=np.int64)
        n = self.total_steps
        clamp = (lambda i: i if i < n else n - 1) if n is not None else (lambda i: i)
        f_lr, f_m = self._lr, self._momentum
        lrs = np.fromiter((f_lr(clamp(i)) for i in range(start, int(stop), step)),
                          dtype=np.float64, count=len(its))
        if self.has_momentum:
            moms = np.fromiter((f_m(clamp(i)) for i in range(start, int(stop), step)),
                               dtype=np.float64, count=len(its))
        else:
            moms = np.full(len(its), np.nan)
        return its, lrs, moms

    def to_scheduler(self, optimizer: torch.optim.Optimizer,
                     lr_scales: Optional[Sequence[float]] = None) -> "ScheduledLR":
        """A ``torch.optim.lr_scheduler.LRScheduler`` driving ``optimizer`` with this schedule.

        At construction the optimizer's param groups get their LRs for batch 0 (and
        ``momentum(0)``); each ``scheduler.step()`` (after ``optimizer.step()``) sets the next
        batch's values. **Parameter groups** keep their ratio to the first group: group ``i``
        trains with ``lr(it) * lr_scales[i]``, and by default ``lr_scales[i]`` is group ``i``'s
        LR divided by group 0's as the optimizer was built (groups at 0.01 and 0.1 stay 1 : 10;
        equal groups all follow the schedule). That is torch's ``OneCycleLR`` with a list
        ``max_lr`` of the same ratios (tested), without a list per bound. Momentum is the same
        for every group: ``group["betas"][0]`` for optimizers with ``betas`` (Adam, AdamW,
        NAdam, ...), else ``group["momentum"]`` (SGD, RMSprop); an optimizer with neither raises
        ``ValueError`` if the schedule sets momentum.
        """
        return ScheduledLR(optimizer, self, lr_scales=lr_scales)

    def plot(self, ax=None, stop: Optional[int] = None, momentum: bool = True):
        """Draw the LR (and the momentum, on a right-hand axis, if the schedule sets it) against
        the iteration on ``ax`` (None: a new figure); ``stop`` as in :meth:`sample`. Returns ``ax``."""
        import matplotlib.pyplot as plt  # optional: matplotlib is in the book's extra

        its, lrs, moms = self.sample(stop=stop)
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        ax.plot(its, lrs, color="C0", label="learning rate")
        ax.set_xlabel("iteration")
        ax.set_ylabel("learning rate")
        ax.set_title(self.describe(), fontsize=10)  # the book's smallest legible size
        if momentum and self.has_momentum:
            right = ax.twinx()
            right.plot(its, moms, color="C1", ls="--", label="momentum")
            right.set_ylabel("momentum")
        return ax


# ----------------------------------------------------------------------------------------------
# CLR
# ----------------------------------------------------------------------------------------------

def _check_cycle_bounds(sched) -> None:
    """Validate and normalise ``base_lr < max_lr`` and a positive integer ``step_size`` (CLR, 1cycle)."""
    s = object.__setattr__
    s(sched, "base_lr", _lr_value("base_lr", sched.base_lr))
    s(sched, "max_lr", _lr_value("max_lr", sched.max_lr))
    if sched.base_lr >= sched.max_lr:
        raise ValueError(f"base_lr={sched.base_lr!r} must be < max_lr={sched.max_lr!r}")
    s(sched, "step_size", _checks.positive_int("step_size", sched.step_size))


@dataclass(frozen=True)
class CLR(Schedule):
    """Cyclical learning rate (CLR paper §3.1); see :func:`clr`."""

    base_lr: float
    max_lr: float
    step_size: int
    mode: str = "triangular"
    gamma: float = 1.0
    step_size_down: Optional[int] = None
    momentum_range: MomentumSpec = None
    exp_range_shrinks: str = "amplitude"
    total_steps: Optional[int] = None

    def __post_init__(self):
        s = object.__setattr__
        _check_cycle_bounds(self)
        s(self, "step_size_down", self.step_size if self.step_size_down is None
          else _checks.positive_int("step_size_down", self.step_size_down))
        _checks.choice("mode", self.mode, CLR_MODES, "a CLR mode")
        s(self, "gamma", _checks.positive("gamma", self.gamma))
        if self.mode != "exp_range" and self.gamma != 1.0:
            raise ValueError(f"gamma={self.gamma!r} only applies to mode='exp_range' "
                             f"(mode={self.mode!r}); leave gamma=1.0")
        _checks.choice("exp_range_shrinks", self.exp_range_shrinks, ("amplitude", "both"))
        if self.exp_range_shrinks == "both" and self.mode != "exp_range":
            raise ValueError("exp_range_shrinks='both' only applies to mode='exp_range'; "
                             "allowed with other modes: 'amplitude'")
        s(self, "momentum_range", _momentum_spec(self.momentum_range))
        s(self, "total_steps", _opt_total_steps(self.total_steps))
        # torch's arithmetic, so that values are bit-for-bit those of CyclicLR
        total = float(self.step_size) + float(self.step_size_down)
        s(self, "_total", total)
        s(self, "_ratio", float(self.step_size) / total)

    def _shape(self, it: int) -> Tuple[float, float]:
        """(position in the triangle in [0, 1], amplitude scale) -- torch's computation."""
        cycle = math.floor(1 + it / self._total)
        x = 1.0 + it / self._total - cycle
        if x <= self._ratio:
            tri = x / self._ratio
        else:
            tri = (x - 1) / (self._ratio - 1)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1 / (2.0 ** (cycle - 1))
        else:
            scale = self.gamma ** it
        return tri, scale

    def _lr(self, it: int) -> float:
        tri, scale = self._shape(it)
        if self.exp_range_shrinks == "both":
            return (self.base_lr + (self.max_lr - self.base_lr) * tri) * scale
        return self.base_lr + (self.max_lr - self.base_lr) * tri * scale

    def _momentum(self, it: int) -> Optional[float]:
        m = self.momentum_range
        if m is None or not isinstance(m, tuple):
            return m
        tri, scale = self._shape(it)
        hi, lo = m
        return hi - (hi - lo) * tri * scale

    def describe(self) -> str:
        steps = (f"step {self.step_size}" if self.step_size == self.step_size_down
                 else f"steps {self.step_size} up / {self.step_size_down} down")
        extra = ""
        if self.mode == "exp_range":
            extra = f", gamma {_g(self.gamma)}" + (" (both bounds shrink)"
                                                  if self.exp_range_shrinks == "both" else "")
        tail = f", {self.total_steps} its" if self.total_steps is not None else ""
        return (f"CLR {self.mode}: lr {_g(self.base_lr)}\u2194{_g(self.max_lr)}, {steps}{extra}; "
                f"{_mom_text(self.momentum_range)}{tail}")


def clr(base_lr: float, max_lr: float, step_size: int, mode: str = "triangular",
        gamma: float = 1.0, step_size_down: Optional[int] = None,
        momentum: MomentumSpec = None, *, exp_range_shrinks: str = "amplitude",
        total_steps: Optional[int] = None) -> CLR:
    r"""Cyclical learning rate (CLR paper, arXiv 1506.01186, §3.1).

    With ``stepsize`` = half a cycle (``step_size == step_size_down``), the paper's formula::

        cycle = floor(1 + it / (2 * stepsize))
        x     = |it / stepsize - 2 * cycle + 1|
        lr    = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale

    * ``mode="triangular"``: ``scale = 1``;
    * ``mode="triangular2"``: ``scale = 1 / 2**(cycle - 1)`` (the amplitude halves every cycle);
    * ``mode="exp_range"``: ``scale = gamma**it`` (``it`` = global iteration).

    The cycle starts at ``base_lr`` (``lr(0) = base_lr``), reaches ``max_lr`` at
    ``it = step_size`` and is back at ``base_lr`` at ``it = step_size + step_size_down``.
    ``step_size_down`` (default ``step_size``) makes the triangle asymmetric exactly as
    ``torch.optim.lr_scheduler.CyclicLR(step_size_up=step_size, step_size_down=...)`` does.
    Values equal ``CyclicLR``'s (we use its arithmetic; identical to the last bit with torch
    2.14, tested to rtol 1e-12): ``lr(it)`` is the LR the
    optimizer holds after ``it`` calls of ``CyclicLR.step()``.

    **exp_range, paper vs code.** The paper's wording says both boundaries decline by
    ``gamma**it``; the authors' Keras reference (bckenstler/CLR) and torch shrink only the
    amplitude, ``lr = base_lr + (max_lr - base_lr) * max(0, 1-x) * gamma**it``, so the LR decays
    towards ``base_lr``, not towards 0. We follow the code (``exp_range_shrinks="amplitude"``,
    equal to torch). ``exp_range_shrinks="both"`` gives the paper's wording,
    ``lr = (base_lr + (max_lr - base_lr) * max(0, 1-x)) * gamma**it`` (FACTS §1). The CLR paper
    used ``gamma = 0.99994`` on CIFAR-10.

    Args:
        base_lr, max_lr: the cycle's bounds, ``0 <= base_lr < max_lr``.
        step_size: iterations of the rising half cycle (the paper's ``stepsize``, 2-10 epochs).
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma: exp_range decay per iteration, ``> 0``; must stay 1.0 for the other modes.
        step_size_down: iterations of the falling half (default: ``step_size``).
        momentum: ``None`` (leave the optimizer's momentum), a constant float, or a pair
            ``(m_low_lr, m_peak_lr)``: cyclical momentum (1803.09820 §4) that moves opposite to
            the LR, ``m = m_low_lr - (m_low_lr - m_peak_lr) * max(0, 1-x) * scale`` -- with
            ``(0.9, 0.8)`` this is torch's ``cycle_momentum=True, max_momentum=0.9,
            base_momentum=0.8``. Values in ``[0, 1)``.
        exp_range_shrinks: ``"amplitude"`` (code/torch) or ``"both"`` (paper wording).
        total_steps: optional run length; past it the schedule holds ``lr(total_steps - 1)``.
            ``None`` (default): unbounded, cycles forever. The CLR paper advises stopping at
            the end of a cycle.
    """
    return CLR(base_lr, max_lr, step_size, mode, gamma, step_size_down, momentum,
               exp_range_shrinks, total_steps)


# ----------------------------------------------------------------------------------------------
# 1cycle, as the authors ran it in Caffe
# ----------------------------------------------------------------------------------------------

def _lerp(a: float, b: float, t: float) -> float:
    """Linear interpolation, exact at both ends (t = 0 gives a, t = 1 gives b)."""
    return (1.0 - t) * a + t * b


@dataclass(frozen=True)
class OneCycle(Schedule):
    """The authors' Caffe 1cycle (Super-Convergence §4, FACTS §3); see :func:`one_cycle`."""

    base_lr: float
    max_lr: float
    step_size: int
    total_steps: int
    tail_lr: Optional[float] = None
    momentum_range: MomentumSpec = (0.95, 0.85)
    descend_to: str = "zero"
    tail_momentum: str = "hold"

    def __post_init__(self):
        s = object.__setattr__
        _check_cycle_bounds(self)
        s(self, "total_steps", _checks.positive_int("total_steps", self.total_steps))
        if self.total_steps < 2 * self.step_size:
            raise ValueError(f"total_steps={self.total_steps} is shorter than the cycle; need "
                             f"total_steps >= 2 * step_size = {2 * self.step_size}")
        s(self, "tail_lr", self.base_lr / 1000.0 if self.tail_lr is None
          else _lr_value("tail_lr", self.tail_lr))
        s(self, "momentum_range", _momentum_spec(self.momentum_range))
        _checks.choice("descend_to", self.descend_to, ("zero", "base"))
        _checks.choice("tail_momentum", self.tail_momentum, ("hold", "caffe"))
        s(self, "_end", 0.0 if self.descend_to == "zero" else self.base_lr)

    def _lr(self, it: int) -> float:
        ss = self.step_size
        if it <= ss:
            return _lerp(self.base_lr, self.max_lr, it / ss)
        if it < 2 * ss:
            return _lerp(self.max_lr, self._end, (it - ss) / ss)
        return self.tail_lr

    def _momentum(self, it: int) -> Optional[float]:
        m = self.momentum_range
        if m is None or not isinstance(m, tuple):
            return m
        hi, lo = m
        ss = self.step_size
        if it <= ss:
            return _lerp(hi, lo, it / ss)
        if it < 2 * ss:
            return _lerp(lo, hi, (it - ss) / ss)
        if self.tail_momentum == "hold":
            return hi
        # Caffe: the momentum keeps cycling with step_size, the amplitude halving each cycle
        k = it - 2 * ss
        cyc, pos = divmod(k, 2 * ss)
        tri = 1.0 - abs(pos / ss - 1.0)
        return hi - (hi - lo) * tri * 0.5 ** (cyc + 1)

    def describe(self) -> str:
        end = "0" if self.descend_to == "zero" else _g(self.base_lr)
        tail = (f", then {_g(self.tail_lr)} to {self.total_steps} its"
                if self.total_steps > 2 * self.step_size else "")
        return (f"1cycle: lr {_g(self.base_lr)}\u2192{_g(self.max_lr)}\u2192{end} over "
                f"2\u00d7{self.step_size} its{tail}; "
                f"{_mom_text(self.momentum_range, cyc=chr(0x2192))}"
                + (f"\u2192{_g(self.momentum_range[0])}"
                   if isinstance(self.momentum_range, tuple) else ""))


def one_cycle(base_lr: float, max_lr: float, step_size: int, total_steps: int,
              tail_lr: Optional[float] = None, momentum: MomentumSpec = (0.95, 0.85), *,
              descend_to: str = "zero", tail_momentum: str = "hold") -> OneCycle:
    r"""The 1cycle policy as the authors ran it in Caffe (Super-Convergence §4; FACTS §3).

    Reconstructed from the authors' Caffe training logs (lnsmith54/hyperParam1, e.g. base 0.1,
    max 1.0, step 2246, 4882 iterations), which this formula reproduces to the 6 digits Caffe
    prints. With ``ss = step_size``::

        it <= ss:        lr = base_lr + (max_lr - base_lr) * it / ss          (rise)
        ss < it < 2 ss:  lr = max_lr + (end - max_lr) * (it - ss) / ss         (descent)
        it >= 2 ss:      lr = tail_lr                                          (tail)

    ``end = 0`` by default (``descend_to="zero"``): the logs show the descent heading to **0**
    with slope ``max_lr / ss`` (not back to ``base_lr``), then an abrupt drop to the flat tail
    ``tail_lr = base_lr / 1000`` (0.1 -> 1.0 -> 1e-4; 0.05 -> 1.0 -> 5e-5; 0.08 -> 0.8 -> 8e-5).
    The last descent value is ``max_lr / ss``, above the tail for every setting in the papers.
    ``descend_to="base"`` descends to ``base_lr`` instead (the CLR "triangular" cycle; with
    ``total_steps == 2 * step_size`` that is the paper's headline run, see :func:`headline`).

    Cyclical momentum (1803.09820 §4), ``momentum=(hi, lo)``: ``hi -> lo`` linearly while the LR
    rises, ``lo -> hi`` while it falls, ``hi`` on the tail (``tail_momentum="hold"``). Caffe's
    momentum actually keeps cycling on the tail with half the amplitude (a second dip,
    ``hi - (hi - lo)/2 * (it - 2 ss)/ss`` ...; FACTS §3); ``tail_momentum="caffe"`` reproduces
    that. ``momentum`` may also be a constant float or ``None`` (leave the optimizer's).

    Args:
        base_lr, max_lr: ``0 <= base_lr < max_lr``.
        step_size: iterations of the rise (and of the descent).
        total_steps: run length, ``>= 2 * step_size`` (equal: no tail).
        tail_lr: the flat LR after the cycle (default ``base_lr / 1000``).
        momentum: ``(hi, lo)`` in ``[0, 1)``, a float, or ``None``.
        descend_to: ``"zero"`` (the authors' Caffe 1cycle) or ``"base"``.
        tail_momentum: ``"hold"`` (momentum ``hi`` on the tail) or ``"caffe"`` (second dip).
    """
    return OneCycle(base_lr, max_lr, step_size, total_steps, tail_lr, momentum, descend_to,
                    tail_momentum)


def headline() -> OneCycle:
    """The Super-Convergence headline run (ResNet-56 / CIFAR-10, FACTS §2).

    One triangular cycle 0.1 -> 3.0 -> 0.1 with stepsize 5000 over 10,000 iterations, constant
    momentum 0.9 (the authors' ``clrsolver.prototxt``: Caffe ``lr_policy: "triangular"``).
    It *is* ``one_cycle(0.1, 3.0, 5000, 10000, momentum=0.9, descend_to="base")`` and equals
    ``clr(0.1, 3.0, 5000, momentum=0.9, total_steps=10000)`` to float rounding. Note that
    ``one_cycle``'s default ``descend_to="zero"`` (the authors' later Caffe 1cycle) would descend
    3.0 -> 0 instead: the headline run used Caffe's ``triangular`` policy, back to 0.1.
    """
    return one_cycle(0.1, 3.0, 5000, 10000, momentum=0.9, descend_to="base")


# ----------------------------------------------------------------------------------------------
# 1cycle, torch / fastai flavour
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OneCycleTorch(Schedule):
    """torch's ``OneCycleLR`` as a pure function; see :func:`one_cycle_torch`."""

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    cycle_momentum: bool = True

    def __post_init__(self):
        s = object.__setattr__
        s(self, "max_lr", _lr_value("max_lr", self.max_lr))
        s(self, "total_steps", _checks.positive_int("total_steps", self.total_steps))
        p = _checks.real("pct_start", self.pct_start)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"pct_start={self.pct_start!r} must be in [0, 1]")
        s(self, "pct_start", p)
        _checks.choice("anneal_strategy", self.anneal_strategy, ("cos", "linear"))
        s(self, "div_factor", _checks.positive("div_factor", self.div_factor))
        s(self, "final_div_factor", _checks.positive("final_div_factor", self.final_div_factor))
        s(self, "three_phase", bool(self.three_phase))
        s(self, "cycle_momentum", bool(self.cycle_momentum))
        if self.cycle_momentum:
            s(self, "base_momentum", _momentum_value("base_momentum", self.base_momentum))
            s(self, "max_momentum", _momentum_value("max_momentum", self.max_momentum))
        n = self.total_steps
        if float(p * n) == 1.0:
            # torch divides 0 by 0 at step 0 here
            raise ValueError(f"pct_start={p!r} with total_steps={n} gives a warm-up phase of "
                             "zero length (pct_start * total_steps == 1); choose another pct_start")
        init = self.max_lr / self.div_factor
        lrs = {"initial": init, "max": self.max_lr, "min": init / self.final_div_factor}
        if self.three_phase:
            phases = [(float(p * n) - 1, "initial", "max", "max_m", "base_m"),
                      (float(2 * p * n) - 2, "max", "initial", "base_m", "max_m"),
                      (n - 1, "initial", "min", "max_m", "max_m")]
        else:
            phases = [(float(p * n) - 1, "initial", "max", "max_m", "base_m"),
                      (n - 1, "max", "min", "base_m", "max_m")]
        moms = {"max_m": self.max_momentum, "base_m": self.base_momentum}
        # (end_step, start_lr, end_lr, start_m, end_m), torch's phase table
        s(self, "_phases", tuple((e, lrs[a], lrs[b], moms[c], moms[d])
                                 for e, a, b, c, d in phases))

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _locate(self, it: int):
        start = 0.0
        last = len(self._phases) - 1
        for i, ph in enumerate(self._phases):
            if it <= ph[0] or i == last:
                return ph, (it - start) / (ph[0] - start)
            start = ph[0]
        raise AssertionError  # pragma: no cover

    def _lr(self, it: int) -> float:
        ph, pct = self._locate(it)
        return self._anneal(ph[1], ph[2], pct)

    def _momentum(self, it: int) -> Optional[float]:
        if not self.cycle_momentum:
            return None
        ph, pct = self._locate(it)
        return self._anneal(ph[3], ph[4], pct)

    def describe(self) -> str:
        init = self.max_lr / self.div_factor
        mn = init / self.final_div_factor
        shape = "3-phase" if self.three_phase else "2-phase"
        mom = (f"momentum {_g(self.max_momentum)}\u2192{_g(self.base_momentum)}"
               f"\u2192{_g(self.max_momentum)}" if self.cycle_momentum else "momentum untouched")
        return (f"1cycle (torch OneCycleLR, {shape}, {self.anneal_strategy}): lr {_g(init)}"
                f"\u2192{_g(self.max_lr)}\u2192{_g(mn)} over {self.total_steps} its, warm-up "
                f"{_g(self.pct_start * 100)}%; {mom}")


def one_cycle_torch(max_lr: float, total_steps: int, pct_start: float = 0.3,
                    anneal_strategy: str = "cos", div_factor: float = 25.0,
                    final_div_factor: float = 1e4, three_phase: bool = False,
                    base_momentum: float = 0.85, max_momentum: float = 0.95,
                    cycle_momentum: bool = True) -> OneCycleTorch:
    r"""torch's ``OneCycleLR`` (fastai's 1cycle) as a pure function of the iteration.

    ``lr(it)`` equals the LR ``OneCycleLR(optimizer, max_lr, total_steps, ...)`` gives batch
    ``it`` for every ``0 <= it < total_steps`` (same arithmetic; identical to the last bit with
    torch 2.14, tested to rtol 1e-12), and the same for the momentum / beta1. Past the end we
    hold ``lr(total_steps - 1)`` (torch raises).

    With ``initial = max_lr / div_factor``, ``min = initial / final_div_factor``,
    ``p = pct_start * total_steps`` and ``T = total_steps``, the phases (end step, from -> to)::

        2 phases: (p - 1, initial -> max), (T - 1, max -> min)
        3 phases: (p - 1, initial -> max), (2p - 2, max -> initial), (T - 1, initial -> min)

    inside a phase ``pct = (it - phase_start) / (phase_end - phase_start)`` and
    ``anneal_strategy="cos"``: ``lr = to + (from - to) / 2 * (cos(pi * pct) + 1)``;
    ``"linear"``: ``lr = from + (to - from) * pct``. Momentum anneals ``max_momentum ->
    base_momentum`` during the rise and back during the descent (and stays ``max_momentum`` in
    the third phase) when ``cycle_momentum`` is true; otherwise it is untouched (``None``).

    This is the fastai shape (cosine, two phases), not the authors' Caffe shape -- for that use
    :func:`one_cycle`; ``three_phase=True`` is the paper-like variant (Super-Convergence §4,
    FACTS §3). ``pct_start * total_steps == 1`` is rejected (torch divides by zero there).
    """
    return OneCycleTorch(max_lr, total_steps, pct_start, anneal_strategy, div_factor,
                         final_div_factor, three_phase, base_momentum, max_momentum,
                         cycle_momentum)


# ----------------------------------------------------------------------------------------------
# simple baselines
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PiecewiseConstant(Schedule):
    """Step decay at milestones; see :func:`piecewise_constant`."""

    base_lr: float
    milestones: Tuple[int, ...]
    gamma: float = 0.1
    momentum_value: Optional[float] = None
    total_steps: Optional[int] = None

    def __post_init__(self):
        s = object.__setattr__
        s(self, "base_lr", _lr_value("base_lr", self.base_lr))
        try:
            ms = tuple(self.milestones)
        except TypeError:
            raise ValueError(f"milestones={self.milestones!r} must be a sequence of iteration "
                             "indices") from None
        for m in ms:
            if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
                raise ValueError(f"milestones={list(ms)!r}: each milestone must be an integer "
                                 ">= 1 (the first iteration at the new LR)")
        ms = tuple(int(m) for m in ms)
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise ValueError(f"milestones={list(ms)!r} must be strictly increasing")
        s(self, "milestones", ms)
        s(self, "gamma", _checks.positive("gamma", self.gamma))
        s(self, "momentum_value", _momentum_spec(self.momentum_value, allow_cycle=False))
        s(self, "total_steps", _opt_total_steps(self.total_steps))

    def _lr(self, it: int) -> float:
        return self.base_lr * self.gamma ** bisect.bisect_right(self.milestones, it)

    def _momentum(self, it: int) -> Optional[float]:
        return self.momentum_value

    def describe(self) -> str:
        ms = ", ".join(f"{m:,}" for m in self.milestones) or "no milestones"
        tail = f" ({self.total_steps:,} its)" if self.total_steps is not None else ""
        return (f"piecewise constant: lr {_g(self.base_lr)}, \u00d7{_g(self.gamma)} at "
                f"iteration {ms}{tail}; {_mom_text(self.momentum_value)}")


def piecewise_constant(base_lr: float, milestones: Sequence[int], gamma: float = 0.1,
                       momentum: Optional[float] = None, *,
                       total_steps: Optional[int] = None) -> PiecewiseConstant:
    """Piecewise-constant LR (step decay): ``lr = base_lr * gamma ** #{m in milestones: m <= it}``.

    The Super-Convergence PC-LR baseline (FACTS §2): ``piecewise_constant(0.35, [50_000,
    70_000], 0.1, momentum=0.9, total_steps=80_000)``. A milestone is the first iteration at the
    new LR. Equals ``torch.optim.lr_scheduler.MultiStepLR`` stepped once per batch (to float
    rounding: torch multiplies the current LR by ``gamma`` at each milestone, we use the power).
    ``milestones``: strictly increasing integers >= 1; ``gamma > 0``; ``momentum``: a constant
    in ``[0, 1)`` or ``None``.
    """
    return PiecewiseConstant(base_lr, milestones, gamma, momentum, total_steps)


@dataclass(frozen=True)
class Fixed(Schedule):
    """A constant LR; see :func:`fixed`."""

    value: float
    momentum_value: Optional[float] = None
    total_steps: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "value", _lr_value("lr", self.value))
        object.__setattr__(self, "momentum_value",
                           _momentum_spec(self.momentum_value, allow_cycle=False))
        object.__setattr__(self, "total_steps", _opt_total_steps(self.total_steps))

    def _lr(self, it: int) -> float:
        return self.value

    def _momentum(self, it: int) -> Optional[float]:
        return self.momentum_value

    def describe(self) -> str:
        return f"fixed lr {_g(self.value)}; {_mom_text(self.momentum_value)}"


def fixed(lr: float, momentum: Optional[float] = None, *,
          total_steps: Optional[int] = None) -> Fixed:
    """Constant LR ``lr(it) = lr`` (Caffe's ``fixed`` policy; the CLR paper's baseline, Table 1).

    ``momentum``: a constant in ``[0, 1)`` or ``None`` (untouched).
    """
    return Fixed(lr, momentum, total_steps)


@dataclass(frozen=True)
class Exponential(Schedule):
    """``base_lr * gamma**it``; see :func:`exponential`."""

    base_lr: float
    gamma: float
    momentum_value: Optional[float] = None
    total_steps: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "base_lr", _lr_value("base_lr", self.base_lr))
        object.__setattr__(self, "gamma", _checks.positive("gamma", self.gamma))
        object.__setattr__(self, "momentum_value",
                           _momentum_spec(self.momentum_value, allow_cycle=False))
        object.__setattr__(self, "total_steps", _opt_total_steps(self.total_steps))

    def _lr(self, it: int) -> float:
        return self.base_lr * self.gamma ** it

    def _momentum(self, it: int) -> Optional[float]:
        return self.momentum_value

    def describe(self) -> str:
        return f"exponential: lr {_g(self.base_lr)}\u00b7{_g(self.gamma)}^it; " \
               f"{_mom_text(self.momentum_value)}"


def exponential(base_lr: float, gamma: float, momentum: Optional[float] = None, *,
                total_steps: Optional[int] = None) -> Exponential:
    """Exponential decay per iteration: ``lr = base_lr * gamma**it`` (Caffe's ``exp`` policy).

    The CLR paper's ``exp`` baseline (Table 1, ``gamma = 0.99994``). Equals
    ``torch.optim.lr_scheduler.ExponentialLR`` stepped once per batch (to float rounding: torch
    multiplies repeatedly, we take the power). ``gamma > 0`` (``> 1`` grows, as in an
    exponential LR range test).
    """
    return Exponential(base_lr, gamma, momentum, total_steps)


@dataclass(frozen=True)
class Inv(Schedule):
    """Caffe's ``inv`` policy; see :func:`inv`."""

    base_lr: float
    gamma: float = 1e-4
    power: float = 0.75
    momentum_value: Optional[float] = None
    total_steps: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "base_lr", _lr_value("base_lr", self.base_lr))
        object.__setattr__(self, "gamma", _checks.positive("gamma", self.gamma))
        p = _checks.real("power", self.power)
        if p < 0:
            raise ValueError(f"power={self.power!r} must be >= 0")
        object.__setattr__(self, "power", p)
        object.__setattr__(self, "momentum_value",
                           _momentum_spec(self.momentum_value, allow_cycle=False))
        object.__setattr__(self, "total_steps", _opt_total_steps(self.total_steps))

    def _lr(self, it: int) -> float:
        return self.base_lr * (1.0 + self.gamma * it) ** (-self.power)

    def _momentum(self, it: int) -> Optional[float]:
        return self.momentum_value

    def describe(self) -> str:
        return (f"inv: lr {_g(self.base_lr)}\u00b7(1 + {_g(self.gamma)}\u00b7it)^-{_g(self.power)}"
                f"; {_mom_text(self.momentum_value)}")


def inv(base_lr: float, gamma: float = 1e-4, power: float = 0.75,
        momentum: Optional[float] = None, *, total_steps: Optional[int] = None) -> Inv:
    """Caffe's ``inv`` policy: ``lr = base_lr * (1 + gamma * it) ** (-power)``.

    The MNIST LeNet baseline of Super-Convergence Table 2 / 1803.09820 (Caffe's LeNet solver:
    ``base_lr 0.01, gamma 1e-4, power 0.75``, momentum 0.9). ``gamma > 0``, ``power >= 0``.
    """
    return Inv(base_lr, gamma, power, momentum, total_steps)


# ----------------------------------------------------------------------------------------------
# the schedules practice uses now (compared with 1cycle on equal terms)
# ----------------------------------------------------------------------------------------------

def _warmup_lr(peak: float, it: int, steps: int, start: float) -> float:
    """A linear warmup from ``start * peak`` at batch 0 towards ``peak`` at batch ``steps``
    (torch's ``LinearLR(start_factor=start, total_iters=steps)``)."""
    return peak * (start + (1.0 - start) * it / steps)


def _check_warmup(sched) -> None:
    s = object.__setattr__
    s(sched, "warmup_steps", _checks.integer("warmup_steps", sched.warmup_steps, minimum=0))
    s(sched, "warmup_from", _checks.fraction("warmup_from", sched.warmup_from))
    if sched.warmup_steps >= sched.total_steps:
        raise ValueError(f"warmup_steps={sched.warmup_steps} must be below total_steps={sched.total_steps}")


def _bounded(name: str, value: Any) -> int:
    n = _checks.positive_int(name, value)
    if n < 2:
        raise ValueError(f"{name}={value!r} must be at least 2")
    return n


@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine decay after an optional linear warmup; see :func:`cosine`."""

    max_lr: float
    total_steps: int
    min_lr: float = 0.0
    warmup_steps: int = 0
    warmup_from: float = 0.0
    momentum_value: Optional[float] = None

    def __post_init__(self):
        s = object.__setattr__
        s(self, "max_lr", _lr_value("max_lr", self.max_lr))
        s(self, "total_steps", _bounded("total_steps", self.total_steps))
        s(self, "min_lr", _checks.non_negative("min_lr", self.min_lr))
        if self.min_lr > self.max_lr:
            raise ValueError(f"min_lr={self.min_lr!r} must not exceed max_lr={self.max_lr!r}")
        _check_warmup(self)
        s(self, "momentum_value", _momentum_spec(self.momentum_value, allow_cycle=False))

    def _lr(self, it: int) -> float:
        w = self.warmup_steps
        if it < w:
            return _warmup_lr(self.max_lr, it, w, self.warmup_from)
        t = (it - w) / (self.total_steps - w)
        return self.min_lr + (self.max_lr - self.min_lr) * (1.0 + math.cos(math.pi * t)) / 2.0

    def _momentum(self, it: int) -> Optional[float]:
        return self.momentum_value

    def describe(self) -> str:
        warm = f"{self.warmup_steps:,} warmup its, then " if self.warmup_steps else ""
        return (f"cosine: {warm}lr {_g(self.max_lr)} -> {_g(self.min_lr)} over {self.total_steps:,} its; "
                f"{_mom_text(self.momentum_value)}")


def cosine(max_lr: float, total_steps: int, min_lr: float = 0.0, momentum: Optional[float] = None, *,
           warmup_steps: int = 0, warmup_from: float = 0.0) -> Cosine:
    """Cosine decay (Loshchilov & Hutter, SGDR, arXiv 1608.03983, one period without restarts):
    ``lr = min_lr + (max_lr - min_lr) * (1 + cos(pi * (it - W) / (total_steps - W))) / 2`` after
    ``W = warmup_steps`` batches of linear warmup from ``warmup_from * max_lr``.

    Equals ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=total_steps, eta_min=min_lr)``
    stepped per batch, and with a warmup ``SequentialLR([LinearLR(start_factor=warmup_from,
    total_iters=W), CosineAnnealingLR(T_max=total_steps - W)], milestones=[W])`` (tested; torch
    needs ``start_factor > 0``, we also allow a warmup from 0).
    """
    return Cosine(max_lr, total_steps, min_lr, warmup_steps, warmup_from, momentum)


#: The cooldowns of :func:`wsd`: linear to zero, or Hägele et al.'s (1 - sqrt).
WSD_COOLDOWNS = ("linear", "1-sqrt")


@dataclass(frozen=True)
class WSD(Schedule):
    """Warmup, a stable LR, then a short cooldown; see :func:`wsd`."""

    max_lr: float
    total_steps: int
    decay_fraction: float = 0.2
    cooldown: str = "1-sqrt"
    warmup_steps: int = 0
    warmup_from: float = 0.0
    momentum_value: Optional[float] = None

    def __post_init__(self):
        s = object.__setattr__
        s(self, "max_lr", _lr_value("max_lr", self.max_lr))
        s(self, "total_steps", _bounded("total_steps", self.total_steps))
        f = _checks.fraction("decay_fraction", self.decay_fraction)
        if f <= 0:
            raise ValueError(f"decay_fraction={self.decay_fraction!r} must be above 0 (a cooldown of at least one batch)")
        s(self, "decay_fraction", f)
        _checks.choice("cooldown", self.cooldown, WSD_COOLDOWNS)
        _check_warmup(self)
        if self.warmup_steps > self.decay_start:
            raise ValueError(f"warmup_steps={self.warmup_steps} must end before the cooldown starts at iteration "
                             f"{self.decay_start} (decay_fraction={f:g})")
        s(self, "momentum_value", _momentum_spec(self.momentum_value, allow_cycle=False))

    @property
    def decay_steps(self) -> int:
        """The batches of the cooldown: ``ceil(decay_fraction * total_steps)``, at least 1."""
        return max(1, math.ceil(self.decay_fraction * self.total_steps - 1e-9))

    @property
    def decay_start(self) -> int:
        return self.total_steps - self.decay_steps

    def _lr(self, it: int) -> float:
        if it < self.warmup_steps:
            return _warmup_lr(self.max_lr, it, self.warmup_steps, self.warmup_from)
        if it < self.decay_start:
            return self.max_lr
        x = (it - self.decay_start) / self.decay_steps
        return self.max_lr * (1.0 - (x if self.cooldown == "linear" else math.sqrt(x)))

    def _momentum(self, it: int) -> Optional[float]:
        return self.momentum_value

    def describe(self) -> str:
        warm = f"{self.warmup_steps:,} warmup its, " if self.warmup_steps else ""
        return (f"WSD: {warm}lr {_g(self.max_lr)} until iteration {self.decay_start:,}, then a {self.cooldown} "
                f"cooldown to 0 over {self.decay_steps:,} its; {_mom_text(self.momentum_value)}")


def wsd(max_lr: float, total_steps: int, decay_fraction: float = 0.2, cooldown: str = "1-sqrt",
        momentum: Optional[float] = None, *, warmup_steps: int = 0, warmup_from: float = 0.0) -> WSD:
    """Warmup-stable-decay (Hägele et al., arXiv 2405.18392): a linear warmup of ``warmup_steps``
    from ``warmup_from * max_lr``, ``max_lr`` held, and over the last ``D = ceil(decay_fraction
    * total_steps)`` batches a cooldown to 0 starting at ``s = total_steps - D``:
    ``lr = max_lr * (1 - x)`` ("linear") or ``max_lr * (1 - sqrt(x))`` ("1-sqrt", their best),
    ``x = (it - s) / D``. The linear form equals ``SequentialLR([LinearLR, ConstantLR,
    LinearLR(1 -> 0)])`` (tested). ``cooldown`` in :data:`WSD_COOLDOWNS`."""
    return WSD(max_lr, total_steps, decay_fraction, cooldown, warmup_steps, warmup_from, momentum)


@dataclass(frozen=True)
class Triangle(Schedule):
    """The triangle of the fastest CIFAR-10 trainers; see :func:`triangle`."""

    max_lr: float
    total_steps: int
    peak_at: float = 0.23
    start: float = 0.2
    end: float = 0.07
    momentum_value: Optional[float] = None

    def __post_init__(self):
        s = object.__setattr__
        s(self, "max_lr", _lr_value("max_lr", self.max_lr))
        s(self, "total_steps", _bounded("total_steps", self.total_steps))
        for name in ("peak_at", "start", "end"):
            s(self, name, _checks.fraction(name, getattr(self, name)))
        if not 0 < self.peak_step < self.total_steps:
            raise ValueError(f"peak_at={self.peak_at!r} puts the peak at iteration {self.peak_step}; it must fall "
                             f"inside the run (1 to {self.total_steps - 1})")
        s(self, "momentum_value", _momentum_spec(self.momentum_value, allow_cycle=False))

    @property
    def peak_step(self) -> int:
        """The batch at the peak: ``int(peak_at * total_steps)``, as airbench rounds it."""
        return int(self.peak_at * self.total_steps)

    def _lr(self, it: int) -> float:
        p, n = self.peak_step, self.total_steps
        if it <= p:
            return self.max_lr * _lerp(self.start, 1.0, it / p)
        return self.max_lr * _lerp(1.0, self.end, (it - p) / (n - p))

    def _momentum(self, it: int) -> Optional[float]:
        return self.momentum_value

    def describe(self) -> str:
        return (f"triangle: lr {_g(self.start * self.max_lr)} -> {_g(self.max_lr)} at iteration {self.peak_step:,} "
                f"-> {_g(self.end * self.max_lr)} at {self.total_steps:,}; {_mom_text(self.momentum_value)}")


def triangle(max_lr: float, total_steps: int, peak_at: float = 0.23, start: float = 0.2, end: float = 0.07,
             momentum: Optional[float] = None) -> Triangle:
    """The 1cycle-shaped triangle of airbench (Jordan, arXiv 2404.00498; ``airbench94.py``): the
    LR multiplier is piecewise linear through ``start`` at batch 0, 1 at batch
    ``int(peak_at * total_steps)`` and ``end`` at ``total_steps`` (its defaults: 0.2, 23 %, 0.07),
    times ``max_lr``. Equals airbench's ``LambdaLR`` over its ``triangle()`` table (tested)."""
    return Triangle(max_lr, total_steps, peak_at, start, end, momentum)


# ----------------------------------------------------------------------------------------------
# the torch adapter
# ----------------------------------------------------------------------------------------------

def _group_scales(optimizer: torch.optim.Optimizer, lr_scales: Optional[Sequence[float]]) -> list:
    """Each param group's LR factor: ``lr_scales`` as given (one finite number > 0 per group), or
    each group's LR as built (``initial_lr`` once a scheduler has run) over group 0's."""
    groups = optimizer.param_groups
    if lr_scales is not None:
        scales = _checks.list_of(_checks.positive)("lr_scales", lr_scales)
        if len(scales) != len(groups):
            _checks.fail("lr_scales", lr_scales, f"one number per param group ({len(groups)})")
        return scales
    built = [float(g.get("initial_lr", g["lr"])) for g in groups]
    if len(built) == 1:
        return [1.0]
    if not built[0] > 0:
        _checks.fail("lr_scales", None, "a list of one factor per param group",
                     why=f"cannot be read off groups whose first LR is {built[0]}")
    return [lr / built[0] for lr in built]


def set_momentum(optimizer: torch.optim.Optimizer, momentum: float) -> None:
    """Set every param group's momentum: ``betas[0]`` for optimizers with ``betas`` (Adam, AdamW,
    NAdam, ...), else ``momentum`` (SGD, RMSprop; a tensor momentum is filled in place). A group
    with neither is a ValueError naming the optimizer."""
    for group in optimizer.param_groups:
        if "betas" in group:
            group["betas"] = (float(momentum), *tuple(group["betas"])[1:])
        elif "momentum" not in group:
            raise ValueError(f"momentum={momentum!r} cannot be set: {type(optimizer).__name__} has neither "
                             "'momentum' nor 'betas' (use momentum=None to keep the optimizer's own)")
        elif isinstance(group["momentum"], torch.Tensor):
            group["momentum"].fill_(momentum)
        else:
            group["momentum"] = float(momentum)


class ScheduledLR(LRScheduler):
    """Drive a torch optimizer with a :class:`Schedule` (use ``schedule.to_scheduler(opt)``).

    Semantics are torch's per-batch schedulers': after construction every param group holds
    ``schedule.lr(0)`` (and ``momentum(0)``); after the k-th ``step()`` it holds ``lr(k)``.
    ``last_epoch`` is the index of the batch the optimizer is set up for.

    ``state_dict()`` holds only plain numbers and strings (it loads with
    ``torch.load(weights_only=True)``); ``load_state_dict()`` restores the position and
    re-applies that batch's LR and momentum to the optimizer, so loading the optimizer's and the
    scheduler's state dicts in either order resumes exactly. The schedule itself is not saved:
    build the same schedule again (``state_dict()["schedule"]`` records its description).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule,
                 last_epoch: int = -1, lr_scales: Optional[Sequence[float]] = None):
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule={schedule!r} must be a superconv.schedules.Schedule")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a torch.optim.Optimizer")
        self.schedule = schedule
        self.lr_scales = _group_scales(optimizer, lr_scales)
        self._momentum_key: Optional[str] = None
        if schedule.has_momentum:
            if "betas" in optimizer.defaults:
                self._momentum_key = "betas"
            elif "momentum" in optimizer.defaults:
                self._momentum_key = "momentum"
            else:
                raise ValueError(
                    f"optimizer={type(optimizer).__name__} has neither 'momentum' nor 'betas', "
                    f"but the schedule sets momentum ({schedule.describe()}); use momentum=None")
        super().__init__(optimizer, last_epoch)

    def _apply_momentum(self, it: int) -> None:
        if self._momentum_key is not None:
            set_momentum(self.optimizer, self.schedule.momentum(it))

    def get_lr(self):
        it = self.last_epoch
        self._apply_momentum(it)
        lr = self.schedule.lr(it)
        return [lr * scale for scale in self.lr_scales]

    def _get_closed_form_lr(self):
        return self.get_lr()

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule")}
        state["schedule"] = self.schedule.describe()
        state["schedule_repr"] = repr(self.schedule)  # every field, floats in full
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from ``state_dict``; a state saved by another schedule (or for another number
        of parameter groups, or other scales) is a ``ValueError`` that says what differs."""
        state = dict(state_dict)
        saved = state.pop("schedule_repr", None)
        described = state.pop("schedule", None)
        if (saved if saved is not None else described) != (repr(self.schedule) if saved is not None
                                                          else self.schedule.describe()):
            raise ValueError(f"state_dict was saved by another schedule ({described}); this scheduler runs "
                             f"{self.schedule.describe()}: build the schedule that saved it")
        scales = [float(x) for x in state.get("lr_scales", [1.0] * len(self.lr_scales))]
        if scales != self.lr_scales:
            raise ValueError(f"state_dict has lr_scales={scales} but this optimizer's groups have "
                             f"{self.lr_scales}: load it into an optimizer built like the saved one")
        state["lr_scales"] = scales
        self.__dict__.update(state)
        # put the optimizer on the restored batch, whatever order things were loaded in
        it = self.last_epoch
        if it >= 0:
            self._apply_momentum(it)
            lr = self.schedule.lr(it)
            for group, scale in zip(self.optimizer.param_groups, self.lr_scales):
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(lr * scale)
                else:
                    group["lr"] = lr * scale
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
