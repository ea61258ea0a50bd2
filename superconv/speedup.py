"""A speed-up measured as a factor with an interval, from budget sweeps.

A *budget sweep* trains complete schedules of one policy at several budgets (iterations), each
with a few seeds, and keeps each run's final accuracy: ``{budget: [accuracy per seed]}``. The
speed-up of a fast policy over a slow one is read from the two budget -> accuracy curves:

1. the **target** is the slow policy's best seed-mean accuracy over its budgets;
2. each policy's **budget to the target** is where its seed-mean curve first reaches it,
   interpolated linearly in log(budget) between the two budgets around the crossing;
3. the **factor** is slow budget / fast budget. When the fast policy never reaches the target
   within its largest budget, there is no factor ("not reached within N iterations"); when its
   *smallest* budget already reaches it, the factor is a lower bound (we cannot interpolate
   below the smallest budget we trained).

The **interval** is a percentile bootstrap over seeds: every resample draws each (policy,
budget) cell's seeds with replacement and repeats steps 1-3. A resample in which the fast policy
does not reach the target counts as factor 0, so an interval whose lower end is 0 says "within
this interval, 1cycle may not reach the target at all".

Everything here is pure: numbers in, numbers out (``measure``, ``bootstrap``, ``sweep``).
"""

from __future__ import annotations

import math
import random
from typing import Mapping, Sequence

__all__ = ["Cells", "curve", "budget_to_reach", "accuracy_at_budget", "measure", "bootstrap", "sweep", "describe",
           "RESAMPLES", "LEVEL"]

#: ``{budget: [final accuracy per seed]}`` of one policy.
Cells = Mapping[int, Sequence[float]]

RESAMPLES = 2000   # bootstrap resamples (a fixed RNG seed: the interval is reproducible)
LEVEL = 0.95       # two-sided percentile interval


def _clean(values: Sequence[float]) -> list:
    # A run without a finite accuracy (diverged, no evaluation) reached nothing: it counts as 0.
    return [float(v) if v is not None and math.isfinite(v) else 0.0 for v in values]


def curve(cells: Cells) -> list:
    """``[(budget, seed-mean accuracy), ...]`` in increasing budget (cells without runs left out)."""
    out = []
    for b in sorted(cells):
        vals = _clean(cells[b])
        if vals:
            out.append((int(b), sum(vals) / len(vals)))
    return out


def budget_to_reach(points: Sequence[tuple], target: float) -> tuple:
    """``(budget, at_floor)``: the budget at which the curve ``points`` first reaches ``target``,
    log-interpolated between the budgets around the crossing; ``(None, False)`` if it never does.
    ``at_floor`` is True when the smallest budget already reaches it (the true budget may be lower)."""
    prev = None
    for b, acc in points:
        if acc >= target:
            if prev is None:
                return float(b), True
            b0, a0 = prev
            if acc == target or acc == a0:
                return float(b), False
            frac = (target - a0) / (acc - a0)
            return math.exp(math.log(b0) + frac * (math.log(b) - math.log(b0))), False
        prev = (b, acc)
    return None, False


def accuracy_at_budget(points: Sequence[tuple], budget: float) -> float | None:
    """The seed-mean accuracy a curve ``points`` gives at ``budget``, log-interpolated between the
    budgets around it; None outside the budgets trained (no extrapolation)."""
    for (b0, a0), (b1, a1) in zip(points, points[1:]):
        if b0 <= budget <= b1:
            frac = (math.log(budget) - math.log(b0)) / (math.log(b1) - math.log(b0))
            return a0 + frac * (a1 - a0)
    if len(points) and points[0][0] == budget:
        return points[0][1]
    return None


def measure(fast: Cells, slow: Cells) -> dict:
    """Steps 1-3 of the module docstring on one set of cells. Keys: ``target``, ``slow_budget``,
    ``fast_budget`` (None: not reached), ``factor`` (None: not reached), ``lower_bound`` (the
    fast policy reached the target at its smallest budget), ``fast_best`` (the fast policy's best
    seed-mean accuracy) and the two curves."""
    fc, sc = curve(fast), curve(slow)
    if not fc or not sc:
        raise ValueError("both policies need at least one budget with runs")
    target = max(acc for _, acc in sc)
    slow_budget, _ = budget_to_reach(sc, target)
    fast_budget, floor = budget_to_reach(fc, target)
    factor = slow_budget / fast_budget if fast_budget else None
    return dict(target=target, slow_budget=slow_budget, fast_budget=fast_budget, factor=factor,
                lower_bound=bool(floor), fast_best=max(acc for _, acc in fc), fast_max_budget=fc[-1][0],
                fast_curve=fc, slow_curve=sc)


def _resample(cells: Cells, rng: random.Random) -> dict:
    return {b: [rng.choice(v) for _ in v] for b, v in ((b, _clean(v)) for b, v in cells.items()) if v}


def _percentile(sorted_vals: list, q: float) -> float:
    # Linear interpolation between order statistics (numpy's default "linear" method).
    pos = q * (len(sorted_vals) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (pos - lo) * (sorted_vals[hi] - sorted_vals[lo])


def bootstrap(fast: Cells, slow: Cells, resamples: int = RESAMPLES, level: float = LEVEL,
              seed: int = 0) -> dict:
    """The percentile interval of :func:`measure`'s factor over seed resamples. Keys: ``low``,
    ``high`` (0: not reached in that tail), ``not_reached`` (fraction of resamples without a
    factor), ``resamples``, ``level``. With one seed per cell every resample is the data itself."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = random.Random(seed)
    factors = []
    for _ in range(int(resamples)):
        f = measure(_resample(fast, rng), _resample(slow, rng))["factor"]
        factors.append(0.0 if f is None else f)
    factors.sort()
    tail = (1 - level) / 2
    return dict(low=_percentile(factors, tail), high=_percentile(factors, 1 - tail),
                not_reached=sum(f == 0.0 for f in factors) / len(factors), resamples=int(resamples),
                level=level)


def sweep(fast: Cells, slow: Cells, resamples: int = RESAMPLES, level: float = LEVEL) -> dict:
    """:func:`measure` with its :func:`bootstrap` interval under ``interval``, and the cells."""
    out = measure(fast, slow)
    out["interval"] = bootstrap(fast, slow, resamples=resamples, level=level)
    out["cells"] = {"fast": {int(b): list(v) for b, v in fast.items()},
                    "slow": {int(b): list(v) for b, v in slow.items()}}
    return out


def describe(result: dict, fast: str = "1cycle", slow: str = "PC-LR") -> str:
    """The headline sentence of a :func:`sweep` result, e.g. ``"1cycle reached PC-LR's best
    accuracy (89.20 %) 3.1× faster (95 % interval 2.4–4.0×; PC-LR 6,400 vs 1cycle 2,070 iterations)"``."""
    iv = result["interval"]
    pct = f"{iv['level'] * 100:.0f} %"
    target = f"{slow}'s best seed-mean accuracy ({result['target']:.2f} %)"
    if result["factor"] is None:
        return (f"{fast} did not reach {target} within {result['fast_max_budget']:,} iterations "
                f"(its best: {result['fast_best']:.2f} %; {iv['not_reached'] * 100:.0f} % of seed "
                "resamples did not reach it either)")
    low = ("not reached" if iv["low"] == 0 else f"{iv['low']:.1f}×")
    bound = "at least " if result["lower_bound"] else ""
    return (f"{fast} reached {target} {bound}{result['factor']:.1f}× faster ({pct} interval over seeds: "
            f"{low} to {iv['high']:.1f}×; {slow} {result['slow_budget']:,.0f} vs {fast} "
            f"{result['fast_budget']:,.0f} iterations, log-interpolated between budgets)")
