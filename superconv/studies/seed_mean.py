"""The seed-mean of a group of runs, as one ``History`` (what the studies compare curves with).

Chapters 1 and 3 (and every study built on chapter 3's ``speedup``) ask when one policy's curve
reaches another's final accuracy; over several seeds that is asked of the mean curve,
:func:`mean_history`, so that a single lucky seed does not decide it.
"""

from __future__ import annotations

import math
from typing import Sequence

from .. import experiments
from ..train import History

__all__ = ["mean_history"]


def mean_history(histories: Sequence[History]) -> History:
    """One ``History`` whose evaluations are the seed-mean test accuracy over the evaluation
    points all seeds share, with the mean wall and evaluation times; for
    :func:`experiments.time_to_accuracy`.

    If any seed diverged (or a shared evaluation is not finite) the mean is marked diverged: it
    must not count as "reaching" anything."""
    if not histories:
        raise ValueError("mean_history needs at least one History")
    n = min(len(h.test_acc) for h in histories)
    grid = list(histories[0].eval_iters[:n])
    acc = [sum(h.test_acc[i] for h in histories) / len(histories) for i in range(n)]
    diverged = any(h.diverged for h in histories) or not all(math.isfinite(a) for a in acc)
    return History(eval_iters=grid, test_acc=acc,
                   iterations=max(h.iterations for h in histories),
                   wall_time=sum(h.wall_time for h in histories) / len(histories),
                   eval_time=experiments.mean_eval_time(histories), diverged=diverged)
