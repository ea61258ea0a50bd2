"""1cycle bounds from an LR range test: the *plateau rule*.

CLR §3.3 (FACTS §1): ``max_lr`` is where the rise of the accuracy slows, turns ragged or falls.
On a linear ramp from 0 the accuracy climbs while the net learns, then levels off into a ragged
plateau (a net that can super-converge, Super-Convergence Fig. 3a) or peaks and falls (Fig. 3b).
Where a fall comes, a "drop below the running maximum" rule finds it; on a plateau it finds
nothing, and taking the LR of the highest point instead lets noise on the plateau pick any LR
along it. So the rule here reads the start of the plateau:

* ``peak``: the highest point of the (smoothed) accuracy curve;
* ``max_lr``: the LR of the **first** evaluation within ``tolerance`` points of the peak -- where
  the rise has stopped (on a curve that peaks and falls, that is at or just before the peak);
* ``min_lr = max_lr / ratio``; ``ratio`` 10 follows 1803.09820 for a single cycle ("max/10..20",
  FACTS §3) and the authors' own 1cycle runs (0.1 -> 1.0, 0.08 -> 0.8);
* the ramp was **long enough** when that plateau starts at most ``reach`` times the ramp's
  ``lr_max`` (default the lower half): the rest of the ramp then shows the accuracy holding or
  falling. Otherwise the accuracy was still rising into the top of the ramp, ``max_lr`` is only a
  lower bound, and the status says so (raise ``lr_max`` or lengthen the ramp);
* a curve whose peak is below ``min_peak`` (the net never learned) gives no bounds.

:func:`plateau_bounds` is pure: LRs and accuracies in, a :class:`Bounds` out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

__all__ = ["Bounds", "plateau_bounds", "TOLERANCE", "RATIO", "REACH", "STATUSES"]

TOLERANCE = 5.0   # points below the peak that still count as the plateau (the ragged band)
RATIO = 10.0      # min_lr = max_lr / RATIO
REACH = 0.5       # the plateau must start in this lower fraction of the ramp
STATUSES = ("plateau", "ramp too short", "never learned")


@dataclass(frozen=True)
class Bounds:
    max_lr: Optional[float]
    min_lr: Optional[float]
    peak_acc: float
    peak_lr: float
    plateau_acc: Optional[float]    # the (smoothed) accuracy at max_lr
    lr_max: float                   # the top of the ramp the test was meant to reach
    status: str                     # one of STATUSES
    tolerance: float = TOLERANCE
    ratio: float = RATIO
    reach: float = REACH

    @property
    def usable(self) -> bool:
        """True when the rule found a plateau inside the ramp (bounds, not a lower bound)."""
        return self.status == "plateau"

    def describe(self) -> str:
        if self.max_lr is None:
            return (f"no bounds: the accuracy peaked at only {self.peak_acc:.1f} % (lr {self.peak_lr:.3g}); "
                    "the net never learned in this test")
        text = (f"max_lr {self.max_lr:.3g} (the first LR within {self.tolerance:g} points of the peak "
                f"{self.peak_acc:.1f} %, at {self.plateau_acc:.1f} %), min_lr = max_lr / {self.ratio:g} = "
                f"{self.min_lr:.3g}")
        if self.usable:
            return text + f"; the plateau starts in the lower {self.reach:.0%} of the ramp to {self.lr_max:g}"
        return (text + f"; the accuracy was still rising above {self.reach:.0%} of the ramp to {self.lr_max:g}: "
                "the ramp is too short and max_lr only a lower bound")


def plateau_bounds(lrs: Sequence[float], acc: Sequence[float], lr_max: float, tolerance: float = TOLERANCE,
                   ratio: float = RATIO, reach: float = REACH, min_peak: float = 0.0) -> Bounds:
    """The plateau rule (module docstring) on one accuracy-vs-LR curve (already smoothed if wanted).
    ``lrs`` ascending, as many as ``acc``; ``lr_max`` the ramp's intended top."""
    if len(lrs) != len(acc) or not len(lrs):
        raise ValueError(f"need as many LRs as accuracies, at least one (got {len(lrs)} and {len(acc)})")
    if not tolerance >= 0 or not ratio > 1 or not 0 < reach <= 1 or not lr_max > 0:
        raise ValueError(f"tolerance={tolerance!r} must be >= 0, ratio={ratio!r} > 1, reach={reach!r} in (0, 1], "
                         f"lr_max={lr_max!r} > 0")
    k_peak = max(range(len(acc)), key=lambda k: acc[k])  # the first highest point
    peak, peak_lr = float(acc[k_peak]), float(lrs[k_peak])
    common = dict(peak_acc=peak, peak_lr=peak_lr, lr_max=float(lr_max), tolerance=tolerance, ratio=ratio,
                  reach=reach)
    if peak < min_peak:
        return Bounds(None, None, plateau_acc=None, status="never learned", **common)
    k = next(k for k in range(len(acc)) if acc[k] >= peak - tolerance)
    top = float(lrs[k])
    status = "plateau" if top <= reach * lr_max else "ramp too short"
    return Bounds(top, top / ratio, plateau_acc=float(acc[k]), status=status, **common)
