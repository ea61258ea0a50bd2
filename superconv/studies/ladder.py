"""What chapters 6 and 7 share: a *ladder* of 1cycle / PC-LR pairs over one varied setting
(chapter 6: the training-set size, chapter 7: the depth).

A study's runs are a ``spec_map``: ``{rung: {"one_cycle": [spec per seed], "pc_lr": [...]}}``.
It is a spec tree (:mod:`.base`: ``base.train_tree`` trains or loads it, ``base.stored_tree``
reads what the store holds). This module measures the trend over it (:func:`end_to_end`: how the gap 1cycle - PC-LR at the rung where the paper saw
the larger gain compares with the gap at the other end), and words a pair and its speed-up.
Each rung is summarized by :func:`make_point` (verdicts: ``one_cycle.gap_verdict``).
"""

from __future__ import annotations

import math
from typing import Callable

from .. import experiments, speedup, verdicts
from ..results import Store
from . import one_cycle

POLICIES = one_cycle.POLICIES


#: A ladder budget is *sufficient* for a policy when chapter 3's budget sweep puts that policy's
#: seed-mean accuracy at the budget within this many points of its best over the sweep.
SUFFICIENT_POINTS = 1.0
NOT_TESTABLE = "not testable at this budget"
BUDGET_RULE = (f"a ladder point is tested only where each policy's ladder budget is sufficient: chapter 3's "
               f"budget sweep (the headline setting) puts the policy within {SUFFICIENT_POINTS:g} point of its best "
               f"at that budget; otherwise its verdict is \"{NOT_TESTABLE}\"")


def budget_check(profile: str | None, store: Store | None = None) -> dict:
    """Can this profile's ladder budgets answer the question? ``testable`` (bool), ``sentence``,
    and per policy its ladder ``budget``, the sweep's seed-mean accuracy there (``acc_at``,
    log-interpolated; None outside the swept budgets), the sweep's ``best`` and ``sufficient``.

    At a profile whose ladders run the headline pair's full length (paper) they are testable by
    construction. Elsewhere the evidence is chapter 3's stored sweep, measured on the headline
    setting only (other rungs -- smaller sets, deeper nets -- are assumed to need no less); without
    it in the store the budgets are not known to suffice, and the ladder is not testable."""
    profile = experiments.resolve_profile(profile)
    if experiments.LADDER_FRACTION[profile] == 1.0:
        return dict(testable=True, policies={}, sentence="the ladder runs the headline pair at its full length")
    st = one_cycle.stored(profile, store)
    if st is None or st.speedup is None:
        return dict(testable=False, policies={}, sentence=(
            "chapter 3's budget sweep is not in the store, so nothing shows that the shortened ladder budgets "
            f"suffice (run {one_cycle.command(profile)})"))
    curves = {"one_cycle": st.speedup["fast_curve"], "pc_lr": st.speedup["slow_curve"]}
    out, parts = {}, []
    for p in POLICIES:
        b = experiments.ladder_spec(profile, p)["iterations"]
        acc = speedup.accuracy_at_budget(curves[p], b)
        best = max(a for _, a in curves[p])
        ok = acc is not None and acc >= best - SUFFICIENT_POINTS
        out[p] = dict(budget=b, acc_at=acc, best=best, sufficient=ok)
        parts.append(f"{one_cycle.LABELS[p]} at {b:,} iterations " +
                     (f"stands at {acc:.2f} % against its best {best:.2f} % in chapter 3's sweep"
                      if acc is not None else "lies outside chapter 3's swept budgets") +
                     (" (sufficient)" if ok else " (not sufficient)"))
    return dict(testable=all(v["sufficient"] for v in out.values()), policies=out, sentence="; ".join(parts))


def apply_budget(verdict: dict, check: dict | None) -> dict:
    """``verdict`` unchanged when the ladder is testable (or ``check`` is None), else the same dict
    with ``verdict`` = :data:`NOT_TESTABLE` and the reason under ``budget``."""
    if check is None or check["testable"]:
        return verdict
    return dict(verdict, verdict=NOT_TESTABLE, budget=check["sentence"], untested_verdict=verdict["verdict"])


def judged_by(verdict: dict, rule: str) -> tuple:
    """``(rule, note)`` for a finding: :data:`BUDGET_RULE` and why, when :func:`apply_budget` made
    the verdict "not testable"; else ``rule`` and ``""``."""
    if verdict.get("verdict") == NOT_TESTABLE:
        return BUDGET_RULE, f"; not testable: {verdict['budget']} (untested verdict: {verdict['untested_verdict']})"
    return rule, ""


def make_point(points_key: str, rung, specs_: dict, hists: dict, verdict_fn: Callable,
               gap_key: str, budget: dict | None = None) -> dict:
    """One rung: ``{points_key: rung}``, the policies' summaries (``one_cycle.summarize``; those
    without runs left out) and ``complete``; when both ran, ``verdict_fn(summary 1cycle, summary
    PC-LR)`` with its ``noise``, the gap under ``gap_key`` and ``one_cycle.speedup``. ``budget``:
    a :func:`budget_check`, applied to the verdict (:func:`apply_budget`)."""
    summary = {p: one_cycle.summarize(hists[p], [s["seed"] for s in specs_[p]]) for p in POLICIES if hists.get(p)}
    out = {points_key: rung, "summary": summary, "complete": len(summary) == len(POLICIES)}
    if out["complete"]:
        vd = apply_budget(verdict_fn(summary["one_cycle"], summary["pc_lr"]), budget)
        out.update({gap_key: vd[gap_key], "noise": vd["noise"], "verdict": vd,
                    "speedup": one_cycle.speedup(hists["one_cycle"], hists["pc_lr"])})
    return out


def end_to_end(points: dict, favoured, other, gap_key: str, floor: float) -> dict:
    """The trend over a ladder: ``difference`` = gap at ``favoured`` (the rung where the paper
    saw the larger gain) - gap at ``other``; ``threshold`` T = max(``floor``, root-sum-square of
    the seed stds of the four run groups at the two ends); the verdict is
    ``verdicts.excess_verdict(difference, T)``. ``toward`` counts the steps, walking the
    complete rungs from ``other`` to ``favoured``, at which the gap grew."""
    full = {k: p for k, p in points.items() if p.get("complete")}
    if favoured not in full or other not in full:
        raise ValueError("end_to_end needs complete points at both ends")
    difference = full[favoured][gap_key] - full[other][gap_key]
    sds = [one_cycle.seed_std(full[k]["summary"][p]) for k in (favoured, other) for p in POLICIES]
    threshold = max(floor, math.sqrt(math.fsum(x * x for x in sds)))  # fsum: the same in either order
    walk = sorted(full, reverse=other > favoured)
    steps = [full[b][gap_key] - full[a][gap_key] for a, b in zip(walk, walk[1:])]
    return dict(verdict=verdicts.excess_verdict(difference, threshold), difference=difference,
                threshold=threshold, toward=sum(d > 0 for d in steps), steps=len(steps))


def noise_clause(trend: dict) -> str:
    """How a trend's change compares with its noise threshold T, to end a sentence:
    ``", more than the noise threshold of T points"`` (reproduced), ``", by no more than ..."``
    (inconclusive), else ``" (noise threshold T points)"``."""
    how = {"reproduced": "more than", "inconclusive": "by no more than"}.get(trend["verdict"])
    t = trend["threshold"]
    return f", {how} the noise threshold of {t:.2f} points" if how else f" (noise threshold {t:.2f} points)"


def pair_text(point: dict, gap_key: str) -> str:
    """``"1cycle 88.12 ± 0.21 % (n=2) vs PC-LR 89.03 ± 0.00 % (n=1): −0.91 points"``."""
    s = point["summary"]
    return (f"1cycle {one_cycle.format_acc(s['one_cycle'])} vs PC-LR {one_cycle.format_acc(s['pc_lr'])}: "
            f"{point[gap_key]:+.2f} points")


def speedup_text(sp: dict) -> str:
    """Time to PC-LR's final accuracy in words (never a non-finite number)."""
    if sp["iteration_ratio"] is None:
        return "1cycle did not reach PC-LR's final accuracy within its run"
    t = "" if sp["time_ratio"] is None else f", {sp['time_ratio']:.1f}× less training time"
    return (f"1cycle reached PC-LR's final accuracy after {sp['fast_iterations']:,} iterations, "
            f"{sp['iteration_ratio']:.1f}× fewer{t}")


def shortened_note(profile: str | None) -> str:
    """``"; ladder runs shortened to 0.3 of the headline pair (same 1:8 ratio)"`` where the
    profile's ladder is shorter than its headline pair, else ``""`` (for scorecard details)."""
    frac = experiments.LADDER_FRACTION[experiments.resolve_profile(profile)]
    return f"; ladder runs shortened to {frac:g} of the headline pair (same 1:8 ratio)" if frac < 1 else ""


__all__ = ["POLICIES", "SUFFICIENT_POINTS", "NOT_TESTABLE", "BUDGET_RULE", "budget_check", "apply_budget", "judged_by",
           "make_point", "end_to_end", "noise_clause", "pair_text", "speedup_text", "shortened_note"]
