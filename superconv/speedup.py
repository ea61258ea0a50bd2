"""A speed-up measured as a factor with an interval, from budget sweeps.

A *budget sweep* trains complete schedules of one policy at several budgets (iterations), each
with a few seeds, and keeps each run's final accuracy: ``{budget: [accuracy per seed]}``. The
speed-up of a fast policy over a slow one is read from the two budget -> accuracy curves:

1. the **target** is the slow policy's best seed-mean accuracy over its budgets, minus a small
   ``margin`` (so that noise at the top of a flat curve does not pick the budget);
2. each policy's **budget to the target** is where its seed-mean curve first reaches it,
   interpolated linearly in log(budget) between the two budgets around the crossing;
3. the **factor** is slow budget / fast budget. When the fast policy never reaches the target
   within its largest budget, there is no factor ("not reached within N iterations"). When a
   policy's *smallest* budget already reaches the target, its own budget may be smaller than we
   can see: the fast side at its floor makes the factor a lower bound, the slow side at its floor
   an upper bound, both at once leave it undetermined (``bound``: "at least", "at most", "none").

A run without a finite accuracy (it diverged, or was never evaluated) counts as 0 %: it reached
nothing.

The **interval** resamples the seeds: every resample draws each (policy, budget) cell's seeds
with replacement and repeats steps 1-3; the interval is the percentile range of the factors. A
resample in which the fast policy does not reach the target counts as factor 0, so an interval
whose lower end is 0 says "with these seeds, 1cycle may not reach the target at all". With two or
three seeds per cell it shows how much the seeds we have move the factor; it is not guaranteed to
cover the true factor at its nominal level, and with one seed in a cell there is no interval.

Everything here is pure: numbers in, numbers out (``measure``, ``bootstrap``, ``sweep``).
"""

from __future__ import annotations

import math
import random
from typing import Mapping, Sequence

__all__ = ["Cells", "curve", "budget_to_reach", "accuracy_at_budget", "measure", "seeds_per_cell", "bootstrap",
           "sweep", "describe", "time_to_target",
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


def measure(fast: Cells, slow: Cells, margin: float = 0.0) -> dict:
    """Steps 1-3 of the module docstring on one set of cells. Keys: ``target``, ``slow_best``,
    ``slow_budget``, ``fast_budget`` (None: not reached), ``factor`` (None: not reached),
    ``bound`` (None: a measured factor; "at least", "at most" or "none": see the docstring),
    ``fast_best`` (the fast policy's best seed-mean accuracy), ``fast_max_budget`` and the curves."""
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0 accuracy points, got {margin!r}")
    fc, sc = curve(fast), curve(slow)
    if not fc or not sc:
        raise ValueError("both policies need at least one budget with runs")
    slow_best = max(acc for _, acc in sc)
    target = slow_best - margin
    slow_budget, slow_floor = budget_to_reach(sc, target)
    fast_budget, fast_floor = budget_to_reach(fc, target)
    factor = slow_budget / fast_budget if fast_budget else None
    bound = None
    if factor is not None and (fast_floor or slow_floor):
        bound = "none" if fast_floor and slow_floor else "at least" if fast_floor else "at most"
    return dict(target=target, slow_best=slow_best, margin=margin, slow_budget=slow_budget,
                fast_budget=fast_budget, factor=factor, bound=bound, fast_best=max(acc for _, acc in fc),
                fast_max_budget=fc[-1][0], fast_curve=fc, slow_curve=sc)


def _resample(cells: Cells, rng: random.Random) -> dict:
    return {b: [rng.choice(v) for _ in v] for b, v in ((b, _clean(v)) for b, v in cells.items()) if v}


def _percentile(sorted_vals: list, q: float) -> float:
    # Linear interpolation between order statistics (numpy's default "linear" method).
    # An infinite order statistic (a budget never reached) wins wherever it has weight.
    pos = q * (len(sorted_vals) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    if math.isinf(sorted_vals[hi]) and pos > lo or math.isinf(sorted_vals[lo]):
        return math.inf
    return sorted_vals[lo] + (pos - lo) * (sorted_vals[hi] - sorted_vals[lo])


def seeds_per_cell(fast: Cells, slow: Cells) -> int:
    """The fewest seeds in any (policy, budget) cell: an interval needs at least 2."""
    return min(len(v) for cells in (fast, slow) for v in cells.values() if len(v)) if fast and slow else 0


def bootstrap(fast: Cells, slow: Cells, margin: float = 0.0, resamples: int = RESAMPLES,
              level: float = LEVEL, seed: int = 0) -> dict:
    """The percentile interval of :func:`measure`'s factor over seed resamples. Keys: ``low``,
    ``high`` (0: not reached in that tail; None: no interval, a cell has one seed), ``not_reached``
    (fraction of resamples without a factor), ``resamples``, ``level``, ``min_seeds``."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    n_min = seeds_per_cell(fast, slow)
    if n_min < 2:
        f = measure(fast, slow, margin)["factor"]
        return dict(low=None, high=None, not_reached=0.0 if f else 1.0, resamples=0, level=level, min_seeds=n_min)
    rng = random.Random(seed)
    factors = []
    for _ in range(int(resamples)):
        f = measure(_resample(fast, rng), _resample(slow, rng), margin)["factor"]
        factors.append(0.0 if f is None else f)
    factors.sort()
    tail = (1 - level) / 2
    return dict(low=_percentile(factors, tail), high=_percentile(factors, 1 - tail),
                not_reached=sum(f == 0.0 for f in factors) / len(factors), resamples=int(resamples),
                level=level, min_seeds=n_min)


def sweep(fast: Cells, slow: Cells, margin: float = 0.0, resamples: int = RESAMPLES, level: float = LEVEL) -> dict:
    """:func:`measure` with its :func:`bootstrap` interval under ``interval``, and the cells."""
    out = measure(fast, slow, margin)
    out["interval"] = bootstrap(fast, slow, margin, resamples=resamples, level=level)
    out["cells"] = {"fast": {int(b): list(v) for b, v in fast.items()},
                    "slow": {int(b): list(v) for b, v in slow.items()}}
    return out


def time_to_target(cells: Cells, target: float, resamples: int = RESAMPLES, level: float = LEVEL,
                   seed: int = 0) -> dict:
    """The budget at which one policy's seed-mean curve first reaches a fixed ``target`` (step 2 of
    the module docstring), with the percentile interval of that budget over seed resamples of its
    cells. Keys: ``budget`` (None: not reached within ``max_budget``), ``at_floor`` (reached at
    the smallest budget: the true budget may be lower), ``low``/``high`` (None: no interval, a cell
    has one seed; ``math.inf``: not reached in that tail), ``not_reached`` (fraction of
    resamples), ``resamples``, ``level``, ``min_seeds``, ``max_budget``."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    points = curve(cells)
    if not points:
        raise ValueError("the policy needs at least one budget with runs")
    budget, floor = budget_to_reach(points, target)
    n_min = min(len(v) for v in cells.values() if len(v))
    out = dict(budget=budget, at_floor=floor, low=None, high=None, not_reached=0.0 if budget else 1.0,
               resamples=0, level=level, min_seeds=n_min, max_budget=points[-1][0], target=target)
    if n_min < 2:
        return out
    rng = random.Random(seed)
    found = []
    for _ in range(int(resamples)):
        b, _ = budget_to_reach(curve(_resample(cells, rng)), target)
        found.append(math.inf if b is None else b)
    found.sort()
    tail = (1 - level) / 2
    out.update(low=_percentile(found, tail), high=_percentile(found, 1 - tail),
               not_reached=sum(math.isinf(b) for b in found) / len(found), resamples=int(resamples))
    return out


def _x(v: float) -> str:
    return "not reached" if v == 0 else f"{v:.1f}×"


def describe(result: dict, fast: str = "1cycle", slow: str = "PC-LR") -> str:
    """The headline sentence of a :func:`sweep` result, e.g. ``"1cycle reached PC-LR's best
    accuracy less 0.5 points (88.70 %) 3.1× faster (95 % seed-resampling interval 2.4× to 4.0×; PC-LR
    6,400 vs 1cycle 2,070 iterations, log-interpolated between budgets)"``."""
    iv = result["interval"]
    less = f" less {result['margin']:g} points" if result.get("margin") else ""
    target = f"{slow}'s best seed-mean accuracy{less} ({result['target']:.2f} %)"
    if result["factor"] is None:
        return (f"{fast} did not reach {target} within {result['fast_max_budget']:,} iterations "
                f"(its best: {result['fast_best']:.2f} %)")
    bound = result.get("bound")
    if bound == "none":
        speed = (f"{fast} reached {target} at its smallest budget, as {slow} did: the factor is not "
                 f"determined by these budgets ({result['slow_budget']:,.0f} / {result['fast_budget']:,.0f} = "
                 f"{result['factor']:.1f}× is neither a lower nor an upper bound)")
        return speed
    how = {"at least": "at least ", "at most": "at most "}.get(bound, "")
    if iv["low"] is None:
        interval = f"no interval: a budget has only {iv['min_seeds']} seed"
    else:
        interval = f"{iv['level'] * 100:.0f} % seed-resampling interval {_x(iv['low'])} to {_x(iv['high'])}"
    where = ("log-interpolated between budgets" if bound is None else
             f"{fast if bound == 'at least' else slow} already there at its smallest budget")
    return (f"{fast} reached {target} {how}{result['factor']:.1f}× faster ({interval}; {slow} "
            f"{result['slow_budget']:,.0f} vs {fast} {result['fast_budget']:,.0f} iterations, {where})")
