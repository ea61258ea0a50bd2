"""The super-convergence potential of an LR range test, read at the top of the ramp.

Super-Convergence §4, Fig. 3: on a range test whose LR climbs linearly to a large value (3 for
ResNet-56 on CIFAR-10), a net that can super-converge keeps its accuracy high over the *upper*
part of the ramp (Fig. 3a); one that cannot peaks at a small LR and collapses (Fig. 3b). So the
measure is anchored at the top of the ramp, not at the peak:

* ``peak``: the best accuracy of the test, and its LR;
* the **upper part** of the ramp: evaluations at LRs of at least ``top`` times the largest LR the
  ramp was meant to reach (``lr_max``; default ``top = 0.5``, the upper half of a linear ramp);
* ``retention``: the mean accuracy over the upper part divided by the peak (0 when the run stopped
  before it got there: nothing was retained);
* ``collapse_lr``: the first LR at which accuracy falls below ``(1 - collapse)`` times the best
  accuracy reached so far (default: below 80 % of it) -- a dip that later recovers still counts --
  or where the run stopped early; None if neither;
* a net that never learns (peak below ``min_peak``, e.g. chance level plus a margin) shows no
  potential, however flat its curve.

The verdict (:func:`verdict`): *potential shown* when retention >= ``retain`` (0.9) and nothing
collapses up to the end of the ramp; *no potential* when the accuracy collapses before the upper
part begins, or the net never learned; *partly* otherwise (it holds into the upper part, then
collapses or sags).

An earlier measure -- the log-width of the LR range within a few points of the peak -- inverted
Fig. 3 on a linear ramp from 0: the small LRs dominate a log width, so a curve high from 0.075 to
0.75 that then collapses scored "wide", and one high from 0.9 to 3 scored "narrow".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

__all__ = ["Potential", "potential", "verdict", "TOP", "COLLAPSE", "RETAIN", "VERDICTS"]

TOP = 0.5        # the upper part of the ramp starts at this fraction of lr_max
COLLAPSE = 0.2   # accuracy below (1 - COLLAPSE) x peak has collapsed
RETAIN = 0.9     # retention needed for "potential shown"
VERDICTS = ("potential shown", "partly", "no potential")


@dataclass(frozen=True)
class Potential:
    peak_acc: float
    peak_lr: float
    top_from: float                 # LR where the upper part of the ramp starts
    top_acc: Optional[float]        # mean accuracy over the upper part (None: never got there)
    retention: float                # top_acc / peak_acc (0 when the upper part was never reached)
    collapse_lr: Optional[float]    # first LR below (1 - collapse) x the best so far, or the stop
    n_top: int                      # evaluations in the upper part
    verdict: str
    top: float = TOP
    collapse: float = COLLAPSE
    retain: float = RETAIN

    def describe(self) -> str:
        top = ("never reached" if self.top_acc is None else
               f"{self.top_acc:.1f} % on average ({self.retention * 100:.0f} % of the peak, {self.n_top} evaluations)")
        fall = ("no collapse up to the end of the ramp" if self.collapse_lr is None
                else f"collapses at LR {self.collapse_lr:.3g}")
        return (f"peak {self.peak_acc:.1f} % at LR {self.peak_lr:.3g}; upper part of the ramp (LR ≥ "
                f"{self.top_from:.3g}): {top}; {fall} → {self.verdict}")


def verdict(retention: float, collapse_lr: Optional[float], top_from: float, retain: float = RETAIN,
            learned: bool = True) -> str:
    """The rule of the module docstring."""
    if not learned or (collapse_lr is not None and collapse_lr < top_from):
        return "no potential"
    if collapse_lr is None and retention >= retain:
        return "potential shown"
    return "partly"


def potential(lrs: Sequence[float], accs: Sequence[Optional[float]], lr_max: Optional[float] = None,
              stopped_lr: Optional[float] = None, top: float = TOP, collapse: float = COLLAPSE,
              retain: float = RETAIN, min_peak: Optional[float] = None) -> Potential:
    """The potential of one range test: evaluation LRs (increasing) and accuracies (%; None or NaN
    count as 0).

    ``lr_max``: where the ramp was meant to end (default: the last evaluated LR); ``stopped_lr``:
    the LR at which the run stopped early (diverged), if it did -- it counts as a collapse;
    ``min_peak``: the accuracy a net must reach to have learned at all (None: no check)."""
    if len(lrs) != len(accs) or not len(lrs):
        raise ValueError(f"need as many LRs as accuracies, at least one (got {len(lrs)} and {len(accs)})")
    for name, v, lo, hi in (("top", top, 0.0, 1.0), ("collapse", collapse, 0.0, 1.0), ("retain", retain, 0.0, 1.0)):
        if not lo < v <= hi:
            raise ValueError(f"{name} must be in ({lo:g}, {hi:g}], got {v!r}")
    lrs = [float(x) for x in lrs]
    accs = [float(a) if a is not None and math.isfinite(a) else 0.0 for a in accs]
    lr_max = float(lr_max) if lr_max is not None else lrs[-1]
    p = max(range(len(accs)), key=accs.__getitem__)
    peak = accs[p]
    top_from = top * lr_max
    upper = [a for lr, a in zip(lrs, accs) if lr >= top_from]
    top_acc = sum(upper) / len(upper) if upper else None
    retention = (top_acc / peak) if (top_acc is not None and peak > 0) else 0.0
    collapse_lr, best = None, accs[0]
    for lr, a in zip(lrs, accs):
        if a < (1 - collapse) * best:
            collapse_lr = lr
            break
        best = max(best, a)
    if collapse_lr is None and stopped_lr is not None:
        collapse_lr = float(stopped_lr)
    learned = min_peak is None or peak >= min_peak
    return Potential(peak_acc=peak, peak_lr=lrs[p], top_from=top_from, top_acc=top_acc, retention=retention,
                     collapse_lr=collapse_lr, n_top=len(upper),
                     verdict=verdict(retention, collapse_lr, top_from, retain, learned), top=top, collapse=collapse,
                     retain=retain)
