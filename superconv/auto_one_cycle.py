"""One call from a model and its data to a 1cycle schedule: range test, bounds, schedule.

fastai needs two steps (``learn.lr_find()``, then ``fit_one_cycle(n, lr_max)`` with a number
read off the plot); torch's ``OneCycleLR`` needs the bounds given. :func:`auto_one_cycle` runs
:func:`superconv.range_test.lr_range_test` on the user's model and data, chooses the bounds by a
written rule, and returns the 1cycle schedule (:func:`superconv.schedules.one_cycle`, ready for
``schedule.to_scheduler(optimizer)``) with a report of what was chosen and why.

The rule (the book's, chapter 2):

* with validation data, the **plateau rule** (:func:`superconv.bounds.plateau_bounds`) on the
  accuracy curve, smoothed over ``smooth`` evaluations: ``max_lr`` is the first LR within 5
  points of the peak, ``min_lr = max_lr / 10``; a ramp whose accuracy is still rising in its upper
  half is reported as too short (the bounds are then a lower bound, ``report.usable`` False);
* without validation data there is no accuracy to read, so the loss-based ``valley`` suggestion
  (fastai's default) gives ``max_lr``, ``min_lr = max_lr / 10``.

The cycle: the authors' shape (a linear rise over ``step_size``, a descent over as many steps,
then a tail at ``min_lr / 1000``), cyclical momentum 0.95 -> 0.85 -> 0.95 (1803.09820), and
``step_size = 0.45 * total_steps`` (the authors' logged run: 2,246 of 4,882 iterations, 0.46).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import bounds as bounds_lib
from . import schedules
from .range_test import RangeTestResult, lr_range_test

__all__ = ["AutoOneCycle", "auto_one_cycle", "STEP_FRACTION", "SMOOTH"]

STEP_FRACTION = 0.45  # step_size / total_steps
SMOOTH = 5            # evaluations in the accuracy's centred moving average (chapter 2's)


@dataclass
class AutoOneCycle:
    """What :func:`auto_one_cycle` chose: the ``schedule``, its ``max_lr`` and ``min_lr``, the
    ``rule`` that chose them ("plateau" or "loss valley"), ``why`` in words, whether the bounds
    are ``usable`` (False: a lower bound or none), and the range test itself (``test``)."""

    schedule: Optional[schedules.OneCycle]
    max_lr: Optional[float]
    min_lr: Optional[float]
    rule: str
    why: str
    usable: bool
    test: RangeTestResult

    def report(self) -> str:
        sched = self.schedule.describe() if self.schedule is not None else "no schedule"
        flag = "" if self.usable else " -- check the plot before training with these bounds"
        return f"{self.rule} rule: {self.why}{flag}\nschedule: {sched}"

    def __str__(self) -> str:
        return self.report()

    def plot(self, ax=None):
        """The range test (:meth:`RangeTestResult.plot`) with the chosen bounds shaded."""
        ax = self.test.plot(ax=ax, suggestions=())
        if self.max_lr is not None:
            ax.axvspan(self.min_lr, self.max_lr, color="C2", alpha=0.15,
                       label=f"chosen {self.min_lr:.3g} - {self.max_lr:.3g}")
            ax.legend(fontsize=10)
        ax.set_title(f"auto_one_cycle: {self.rule} rule", fontsize=10)
        return ax


def auto_one_cycle(model, train, val=None, total_steps: int = 1000, *, smooth: int = SMOOTH,
                   min_peak: float = 0.0, momentum=(0.95, 0.85), **range_test_kwargs) -> AutoOneCycle:
    """Range-test ``model`` on ``train`` (evaluating on ``val``), choose 1cycle bounds by the
    rule in the module docstring, and return them with a ``total_steps`` 1cycle schedule.

    ``range_test_kwargs`` go to :func:`~superconv.range_test.lr_range_test` (``lr_min``,
    ``lr_max``, ``iterations``, ``mode``, ``optimizer``, ``criterion``, ``eval_every``, ...;
    ``train``/``val`` may be ``data.Split``\\ s or DataLoaders, as there). ``min_peak``: the
    accuracy (%) below which the net counts as never having learned (no bounds). Model,
    optimizer and RNG are left as they were. Bad arguments are a ValueError naming them, before
    the range test runs.
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 3:
        raise ValueError(f"total_steps={total_steps!r} must be an integer >= 3 (the 1cycle run's length)")
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth={smooth!r} must be a positive integer (evaluations averaged)")
    step_size = max(1, round(STEP_FRACTION * total_steps))
    schedules.one_cycle(0.1, 1.0, step_size, total_steps, momentum=momentum)  # bad momentum fails here, first
    test = lr_range_test(model, train, val, **range_test_kwargs)
    if test.eval_acc:
        b = test.plateau_bounds(smooth=smooth, min_peak=min_peak)
        rule, max_lr, min_lr, why, usable = "plateau", b.max_lr, b.min_lr, b.describe(), b.usable
    else:
        valley = test.valley()
        rule, max_lr, usable = "loss valley", valley.lr, valley.lr is not None
        min_lr = None if max_lr is None else max_lr / bounds_lib.RATIO
        why = (f"no validation accuracy; {valley.reason}" + (f"; min_lr = max_lr / {bounds_lib.RATIO:g}"
                                                            if max_lr is not None else ""))
    schedule = None
    if max_lr is not None and max_lr > 0:
        schedule = schedules.one_cycle(min_lr, max_lr, step_size, total_steps, momentum=momentum)
    return AutoOneCycle(schedule, max_lr, min_lr, rule, why, usable and schedule is not None, test)
