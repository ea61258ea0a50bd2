"""The seed-mean of a group of runs, as one ``History`` (what the studies compare curves with).

Chapters 1 and 3 (and every study built on chapter 3's ``speedup``) ask when one policy's curve
reaches another's final accuracy; over several seeds that is asked of the mean curve,
:func:`mean_history`, so that a single lucky seed does not decide it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import experiments
from ..history import History

__all__ = ["mean_history", "OVER"]

#: Which evaluations the mean covers: ``"shared"``, those all seeds reached (chapter 3's rule:
#: every point is a mean over every seed); ``"any"``, those any seed reached, each the mean of
#: the seeds that reached it (chapter 1's rule: a seed that diverged early leaves the later
#: points to the others).
OVER = ("shared", "any")


def mean_history(histories: Sequence[History], over: str = "shared") -> History:
    """One ``History`` whose evaluations are the seed-mean test accuracy over the evaluation
    points :data:`OVER` says, with the mean wall and evaluation times; for
    :func:`experiments.time_to_accuracy`.

    The mean is marked diverged if any seed diverged or a point lacks a finite mean (with
    ``over="any"``, also where some seed has no value): it must not count as "reaching" anything."""
    if not histories:
        raise ValueError("mean_history needs at least one History")
    if over not in OVER:
        raise ValueError(f"over={over!r} is not allowed; allowed: {', '.join(map(repr, OVER))}")
    if over == "shared":
        n = min(len(h.test_acc) for h in histories)
        grid = list(histories[0].eval_iters[:n])
        acc = [sum(h.test_acc[i] for h in histories) / len(histories) for i in range(n)]
        diverged = any(h.diverged for h in histories) or not bool(np.isfinite(acc).all())
    else:
        grid = list(max((h.eval_iters for h in histories), key=len))
        accs = np.full((len(histories), len(grid)), np.nan)
        for i, h in enumerate(histories):
            accs[i, :len(h.test_acc)] = h.test_acc[:len(grid)]
        diverged = any(h.diverged for h in histories) or bool(np.isnan(accs).any())
        acc = [float(a) for a in (np.nanmean(accs, axis=0) if not np.isnan(accs).all() else accs[0])]
    return History(eval_iters=grid, test_acc=acc,
                   iterations=max(h.iterations for h in histories),
                   wall_time=sum(h.wall_time for h in histories) / len(histories),
                   eval_time=experiments.mean_eval_time(histories), diverged=diverged)
