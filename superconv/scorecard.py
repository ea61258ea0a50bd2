"""The reproduction scorecard: every claim of the papers beside our numbers, with a verdict.

Each study module (``superconv.studies.*``) knows how to judge the claims its chapter tests. It
exposes ``findings(profile, store=None) -> list[Finding]`` that reads the results store only
(never trains) and returns one :class:`~superconv.verdicts.Finding` per claim id of
:func:`superconv.paper.claims` it covers -- with verdict ``"not run"`` when the runs are not in the
store. The finding type, the verdicts and the commands are :mod:`superconv.verdicts` (re-exported
here for the chapter).
"""

from __future__ import annotations

import tempfile

from . import chapter, experiments, paper
from .results import RecordError, Store, canonical
from .studies import (base, batch_size, clr, datasets, depth, hessian_free, imagenet, less_data, one_cycle,
                      range_tests, regularization, schedules_today)
from .verdicts import COMPARED, VERDICTS, Finding, command, not_run

__all__ = ["VERDICTS", "Finding", "command", "not_run", "STUDIES", "NOTEBOOKS", "CHAPTER", "CHAPTERS",
           "UNTESTED_RULE", "UNREADABLE_RULE", "judged", "findings", "problems", "table", "counts", "POLICY_FIELDS", "policy_pairs", "speedup_table", "provenance"]


# --------------------------------------------------------------------------- collecting

#: The study module of each chapter, in book order; each has ``findings(profile, store)``.
_MODULES = (clr, range_tests, one_cycle, regularization, hessian_free, less_data, depth, batch_size, datasets,
            imagenet)
STUDIES = tuple(m.__name__.rsplit(".", 1)[1] for m in _MODULES)

#: The notebook that tests each claim topic (``paper.Claim.chapter``): its study's chapter.
NOTEBOOKS = {topic: module.CHAPTER.notebook for topic, module in {
    "clr": clr, "range-test": range_tests, "super-convergence": one_cycle, "cyclical-momentum": one_cycle,
    "regularization": regularization, "hessian-free": hessian_free, "limited-data": less_data, "depth": depth,
    "batch-size": batch_size, "one-cycle": datasets, "imagenet": imagenet}.items()}

#: The scorecard chapter: it trains nothing (no seeds) and reads the store at PROFILE.
CHAPTER = base.Chapter("chapters/11_scorecard.ipynb", seeds=None, modern=False,
                       knobs=dict(SHOW_PAPER_PROFILE=chapter.one_of(True, False)))

#: Every chapter's :class:`~superconv.studies.base.Chapter`, in book order (the CLI checks a
#: notebook's parameters with its chapter's before it launches it). Chapter 12 judges the claims of
#: later papers (``schedules_today.CLAIMS``), not the fact sheet's: it has no scorecard findings.
CHAPTERS = tuple(m.CHAPTER for m in _MODULES) + (CHAPTER, schedules_today.CHAPTER)

UNREADABLE_RULE = "a stored record this chapter reads cannot be trusted (the detail names it)"

UNTESTED_RULE = "no chapter of this book runs this claim's setting"


def judged(profile: str, store=None) -> dict:
    """``{claim id: (notebook, Finding)}`` at ``profile`` over every chapter's study (stored
    results only): the finding and the chapter whose study judged it. Claims no study covers get
    a "not run" finding that says how the paper tested them, under the chapter of their topic."""
    profile = experiments.resolve_profile(profile)
    out: dict = {}
    for module in _MODULES:
        try:
            found = module.findings(profile, store=store)
        except RecordError as e:  # a record the chapter needs cannot be trusted: say so on its claims
            found = [Finding(cid, profile, "—", "not run", UNREADABLE_RULE, _relative(str(e), store))
                     for cid in _claims_of(module, profile)]
        for f in found:
            out.setdefault(f.claim_id, (module.CHAPTER.notebook, f))
    for c in paper.claims():
        if c.id not in out:
            nb = NOTEBOOKS.get(c.chapter)
            how = f"not run in this book; the paper's setting: {c.how_to_test}"
            if nb and profile == "paper":
                how += f" (closest chapter: {command(nb, profile)})"
            out[c.id] = (nb, Finding(c.id, profile, "—", "not run", UNTESTED_RULE, how))
    return out


def findings(profile: str, store=None) -> dict:
    """``{claim id: Finding}`` at ``profile``: :func:`judged` without the chapters."""
    return {cid: f for cid, (_, f) in judged(profile, store).items()}


def _claims_of(module, profile: str) -> list:
    """The claim ids a study judges: its findings over an empty store (all "not run")."""
    with tempfile.TemporaryDirectory() as empty:
        return [f.claim_id for f in module.findings(profile, store=Store(empty))]


def _relative(text: str, store) -> str:
    """``text`` with the store's absolute folder left out (a reader's page shows no build path)."""
    root = str((store or Store()).root)
    return text.replace(root + "/", "").replace(root, ".")


def problems(profiles=("laptop", "paper"), store=None) -> list:
    """Every record of ``profiles`` that cannot be trusted (unreadable, truncated, edited):
    ``[{"profile", "file" (relative to the store), "why"}]``. The scorecard lists them; the
    verdicts never use them."""
    store = store or Store()
    return [dict(profile=p, file=_relative(str(path), store), why=_relative(why, store))
            for p in profiles for path, why in store.problems(p)]


def table(profiles=("laptop", "paper"), store=None):
    """The scorecard: one row per claim of :func:`superconv.paper.claims` with the paper's
    number(s) and confidence tags, and for each profile our number(s) and the verdict."""
    import pandas as pd  # an optional dependency (the book's); only the chapter makes tables
    per = {p: findings(p, store) for p in profiles}
    rows = []
    for c in paper.claims():
        row = {"claim": c.id, "chapter": c.chapter, "statement": c.statement,
               "paper": c.cite() if c.paper_value_keys else "—", "tags": "/".join(c.tags)}
        if c.missing:
            row["paper"] += " (figure numbers not found)"
        for p in profiles:
            f = per[p][c.id]
            verdict = f.verdict
            if c.missing and verdict in COMPARED:
                verdict = "no paper number"
            row[f"ours ({p})"] = f.ours
            row[f"verdict ({p})"] = verdict
            row[f"rule ({p})"] = f.rule
            row[f"detail ({p})"] = f.detail
        rows.append(row)
    return pd.DataFrame(rows)


def counts(scorecard) -> dict:
    """``{profile: {verdict: number of claims}}`` of a :func:`table`."""
    out = {}
    for col in scorecard.columns:
        if col.startswith("verdict ("):
            p = col[len("verdict ("):-1]
            out[p] = {v: int((scorecard[col] == v).sum()) for v in VERDICTS}
    return out


# --------------------------------------------------------------------------- time to accuracy

#: The fields in which a 1cycle run and its PC-LR partner differ; everything else must match.
POLICY_FIELDS = ("schedule", "iterations", "momentum", "bn_momentum", "eval_every")


def policy_pairs(profile: str, store=None) -> list:
    """Every stored 1cycle-vs-PC-LR comparison at ``profile``: groups of runs that are the
    profile's headline pair (``experiments.make_spec``) or a part-2 ladder pair
    (``experiments.ladder_spec``) with the same data, model, batch and WD, over all stored seeds.

    Returns dicts ``{"pair": "headline"|"ladder", "setting": dict, "one_cycle": [History],
    "pc_lr": [History], "seeds": {...}}`` for groups with at least one run of each policy.
    """
    store = store or Store()
    profile = experiments.resolve_profile(profile)
    makers = {"headline": experiments.make_spec, "ladder": experiments.ladder_spec}
    groups: dict = {}
    for rec in store.records(profile):
        spec = rec.get("spec")
        if not isinstance(spec, dict) or "schedule" not in spec or "history" not in rec:
            continue
        rest = {k: v for k, v in spec.items() if k not in POLICY_FIELDS}
        for pair, make in makers.items():
            for policy in ("one_cycle", "pc_lr"):
                try:
                    same = make(profile, policy, **rest) == spec
                except (ValueError, TypeError):
                    same = False
                if same:
                    setting = {k: v for k, v in rest.items() if k != "seed"}
                    g = groups.setdefault((pair, canonical(setting)), dict(pair=pair, setting=setting,
                                                                           one_cycle={}, pc_lr={}))
                    g[policy][spec["seed"]] = spec
    if experiments.LADDER_FRACTION[profile] == 1.0:  # ladder pair == headline pair: count once
        groups = {k: g for k, g in groups.items() if k[0] == "headline"}
    out = []
    for g in groups.values():
        if g["one_cycle"] and g["pc_lr"]:
            hist = {p: [store.get(g[p][s], profile) for s in sorted(g[p])] for p in ("one_cycle", "pc_lr")}
            out.append(dict(pair=g["pair"], setting=g["setting"], seeds={p: sorted(g[p]) for p in hist}, **hist))
    return sorted(out, key=lambda g: (g["pair"] != "headline", canonical(g["setting"])))


def speedup_table(profile: str, store=None):
    """Time to accuracy for every :func:`policy_pairs` group: the iterations (and wall time)
    1cycle needs to reach PC-LR's final test accuracy, on the seed-mean curves, as ratios
    PC-LR / 1cycle (the paper's headline: 80k / 10k = 8). "not reached" where it never did."""
    import pandas as pd  # an optional dependency (the book's); only the chapter makes tables
    rows = []
    for g in policy_pairs(profile, store):
        s = g["setting"]
        width = s.get("model_kwargs", {}).get("width")
        sp = one_cycle.speedup(g["one_cycle"], g["pc_lr"])
        a, b = (one_cycle.summarize(g[p], g["seeds"][p]) for p in ("one_cycle", "pc_lr"))
        reached = [r for r in sp["per_seed"] if r is not None]
        rows.append({
            "pair": g["pair"], "dataset": s["dataset"],
            "train size": s["train_size"] if s["train_size"] is not None else "all",
            "model": s["model"] + (f" w{width}" if width else ""), "batch": s["batch_size"],
            "1cycle it": a["iterations"], "PC-LR it": b["iterations"],
            "1cycle acc %": one_cycle.format_acc(a), "PC-LR acc %": one_cycle.format_acc(b),
            "iteration ratio": sp["iteration_ratio"], "training-time ratio": sp["time_ratio"],
            "seeds reaching": f"{len(reached)} of {len(sp['per_seed'])}",
        })
    return pd.DataFrame(rows)


def provenance(profile: str, store=None) -> dict:
    """What produced the stored results of ``profile``: number of runs, hardware, precision,
    package versions and git commits, summed training wall time (seconds)."""
    store = store or Store()
    recs = [r for r in store.records(profile) if "history" in r]
    cfgs = [r["history"].get("config", {}) for r in recs]
    return dict(
        runs=len(recs),
        hardware=sorted({c.get("device_name") or c.get("device") or "?" for c in cfgs}),
        precision=sorted({c.get("precision") or "?" for c in cfgs}),
        torch=sorted({c.get("torch") or "?" for c in cfgs}),
        superconv=sorted({r.get("superconv") or "?" for r in recs}),
        commits=sorted({(r.get("git_commit") or "?")[:12] for r in recs}),
        wall_time=sum(float(r["history"].get("wall_time") or 0.0) for r in recs),
    )
