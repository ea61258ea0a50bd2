"""Chapter 7, depth: is the gain of super-convergence larger for shallower ResNets?

The question (Super-Convergence Fig. 4b; FACTS §2 "Depth"): the paper trained its headline pair
(CIFAR-10; one CLR cycle 0.1 -> 3 -> 0.1 over 10k iterations vs PC-LR over 80k) on ResNet-20,
-56 and -110. CLR won at every depth, by 1.8 / 1.2 / 1.1 points (90.4 vs 88.6, 92.4 vs 91.2,
92.1 vs 91.0): the gain shrinks as the net gets deeper.

Runs: at every depth ``d`` the part-2 ladder pair ``experiments.ladder_spec(profile, "one_cycle" |
"pc_lr", model=f"resnet{d}", seed=s)`` -- everything else (data, width, batch, schedules) is the
profile's. The profile's own depth therefore *is* the shared ladder pair of chapters 6, 8 and 9
(laptop: ResNet-8, 1cycle 240 vs PC-LR 1,920 iterations, the headline pair shortened to 0.3); at
the paper profile ResNet-56 is chapter 3's headline pair itself. Smoke shortens both runs further
(:data:`SMOKE_ITERATIONS`) so that two depths fit its 30-second budget.

API::

    study = run_study("laptop")              # trains (or loads) every run, returns a Study
    study.points[14]["gain"]                 # 1cycle mean - PC-LR mean at ResNet-14, points
    study.points[14]["speedup"]              # time to PC-LR's final accuracy (one_cycle.speedup)
    study.points[14]["verdict"]              # depth_verdict(...)
    study.trend                              # trend_verdict(...): is the gain larger when shallow?
    parameter_counts("laptop")               # rows: depth, blocks, parameters (here and in the paper)
    stored("paper")                          # paper-profile results already in the store, or None
    findings("laptop")                       # scorecard: sc.depth.resnet20, sc.depth.resnet110

Verdict rules (fixed before any result was seen; the same shape as chapter 6's):

* one depth (:func:`depth_verdict`): ``gain`` = 1cycle's mean final test accuracy - PC-LR's;
  ``noise`` = max(:data:`NOISE_FLOOR`, root-sum-square of the two policies' seed stds).
  *reproduced* if gain > noise (1cycle clearly better, as in the paper at every depth);
  *partly reproduced* if |gain| <= noise (1cycle matches PC-LR in 8x fewer iterations but shows
  no advantage); *not reproduced* if gain < -noise.
* the trend (:func:`trend_verdict`): ``excess`` = gain at the shallowest depth - gain at the
  deepest; ``T`` = max(:data:`NOISE_FLOOR`, root-sum-square of the seed stds of the four run
  groups at those two depths). *reproduced* if excess > T; *inconclusive* if
  0 < excess <= T (larger when shallow, but within noise: the runs cannot decide); *not reproduced* if excess <= 0.

Absolute accuracies are never compared with the paper's (different dataset, nets and budget).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from .. import _checks, conventions, data, experiments, models, paper
from ..results import Store
from ..verdicts import Finding
from . import base, ladder, one_cycle

POLICIES = one_cycle.POLICIES
LABELS = one_cycle.LABELS

#: ResNet depths (6n+2) per profile, shallowest first. Laptop: the shared ResNet-8 ladder and
#: ResNet-14 (about 1.8x the cost per iteration); the paper: Fig. 4b's 20 / 56 / 110.
DEFAULT_DEPTHS: dict = {"smoke": [8, 14], "laptop": [8, 14], "paper": [20, 56, 110]}

#: The paper's depths (FACTS §2 "Depth" and the headline ResNet-56).
PAPER_DEPTHS = (20, 56, 110)

#: Smoke only: the ladder pair shortened to these lengths (same 1 : 8 ratio), so two depths
#: train in a few seconds. Other profiles use the ladder's own lengths.
SMOKE_ITERATIONS = {"one_cycle": 6, "pc_lr": 48}

#: Which of our depths stands in for each paper claim: the shallowest for ResNet-20, the
#: deepest for ResNet-110 (identical at the paper profile).
CLAIMS = {"sc.depth.resnet20": ("shallowest", 20), "sc.depth.resnet110": ("deepest", 110)}

NOISE_FLOOR = 0.5  # points: the smallest difference the verdicts treat as more than noise

CHANNELS = data.CHANNELS  # input channels of each dataset, to build a model without loading data

DEPTH_RULE = (f"reproduced if 1cycle's mean final test accuracy exceeds PC-LR's by more than the "
              f"noise (the larger of {NOISE_FLOOR:g} points and the root-sum-square of the two "
              "policies' seed stds); partly reproduced if the two are within the noise of each "
              "other; not reproduced if 1cycle is below PC-LR by more than the noise")
TREND_RULE = (f"reproduced if the gain (1cycle − PC-LR) at the shallowest net exceeds the gain at "
              f"the deepest by more than T = the larger of {NOISE_FLOOR:g} points and the "
              "root-sum-square of the seed stds of the four run groups at those two depths; "
              "inconclusive if it is larger but by at most T (within the noise); not reproduced if it is not larger")


# --------------------------------------------------------------------------- configs

def default_depths(profile: str | None) -> list:
    return list(DEFAULT_DEPTHS[experiments.resolve_profile(profile)])


def check_depths(depths: Any, name: str = "DEPTHS") -> list:
    """Depths sorted shallowest first, or a ``ParameterError`` naming ``name`` and what is allowed."""
    ok = (isinstance(depths, (list, tuple)) and len(depths) >= 2
          and all(isinstance(d, int) and not isinstance(d, bool) and d >= 8 and (d - 2) % 6 == 0
                  for d in depths)
          and len(set(depths)) == len(depths))
    if not ok:
        _checks.fail(name, depths, "a list of at least 2 distinct ResNet depths 6n+2 (8, 14, 20, 32, 44, 56, 110, ...)")
    return sorted(depths)


check_seeds = one_cycle.check_seeds  # a chapter.setup checker for PC_SEEDS


def depths_checker(name: str, value: Any) -> list:
    """A ``chapter.setup`` checker for DEPTHS (a ``ParameterError`` on a bad value)."""
    return check_depths(value, name)


#: The chapter, with its seeds per profile and policy. PC-LR is the expensive run (8x longer) and
#: the authors ran one per depth; at the laptop profile ResNet-14 adds 2 x 240 + 1,920 iterations
#: (4.3 minutes measured).
CHAPTER = base.Chapter("chapters/07_depth.ipynb", seeds_policy="one_cycle", seeds={
    "smoke": {"one_cycle": [0], "pc_lr": [0]},
    "laptop": {"one_cycle": [0, 1], "pc_lr": [0]},
    "paper": {"one_cycle": [0, 1, 2], "pc_lr": [0]},
}, knobs=dict(PC_SEEDS=check_seeds, DEPTHS=depths_checker))
default_seeds, command = CHAPTER.default_seeds, CHAPTER.command


def model_name(profile: str | None, depth: int) -> str:
    """The profile's ResNet family at ``depth``: ``resnet{depth}`` (He et al.'s option A), or at
    the paper profile the authors' ``caffe_resnet{depth}``."""
    return re.sub(r"\d+$", str(depth), experiments.make_spec(profile)["model"])


def spec(profile: str | None, policy: str, depth: int, seed: int = 0, **overrides) -> dict:
    """The ladder spec of one run: the profile's ladder pair with its ResNet at ``depth``
    (:func:`model_name`) and any further ``overrides`` (e.g. ``model_kwargs`` for the exercises).
    At the paper profile a depth the authors ran at another batch runs at theirs
    (:data:`superconv.conventions.DEPTH_BATCHES`: ResNet-110, 8 GPUs x 100, 20,000 test reads)."""
    profile = experiments.resolve_profile(profile)
    _checks.choice("policy", policy, POLICIES)
    if profile == "smoke":
        overrides.setdefault("iterations", SMOKE_ITERATIONS[policy])
    if profile == "paper":
        for name, value in conventions.DEPTH_BATCHES.get(depth, {}).items():
            overrides.setdefault(name, value)
    return experiments.ladder_spec(profile, policy, model=model_name(profile, depth), seed=seed, **overrides)


def specs(profile: str | None, depths: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
          pc_seeds: Sequence[int] | None = None, **overrides) -> dict:
    """``{depth: {"one_cycle": [spec per seed], "pc_lr": [spec per seed]}}``, shallowest first."""
    profile = experiments.resolve_profile(profile)
    depths = check_depths(default_depths(profile) if depths is None else list(depths), "depths")
    seed_map = {p: CHAPTER.seeds_or_default(profile, ch, p, f"{p} seeds")
                for p, ch in (("one_cycle", seeds), ("pc_lr", pc_seeds))}
    return {d: {p: [spec(profile, p, d, s, **overrides) for s in seed_map[p]] for p in POLICIES}
            for d in depths}


def ladder_is_shortened(profile: str | None) -> bool:
    """True where the ladder pair is shorter than the profile's headline pair (laptop, smoke)."""
    profile = experiments.resolve_profile(profile)
    return spec(profile, "pc_lr", 8)["iterations"] < experiments.make_spec(profile, "pc_lr")["iterations"]


epochs = experiments.epochs  # passes over its training set that a run makes


def describe_setup(profile: str | None, depths: Sequence[int] | None = None) -> str:
    """Dataset, nets, batch and the ladder lengths, for captions."""
    profile = experiments.resolve_profile(profile)
    depths = default_depths(profile) if depths is None else list(depths)
    s, pc = spec(profile, "one_cycle", depths[0]), spec(profile, "pc_lr", depths[0])
    size = f"{s['train_size']:,} train images" if s["train_size"] else "full train split"
    test = f"{s['test_size']:,} test images" if s["test_size"] else "full test split"
    width = s["model_kwargs"].get("width", 16)
    nets = "/".join(map(str, depths))
    return (f"{data.title(s['dataset'])} ({size}, {test}), ResNet-{nets} "
            f"(width {width}), batch {s['batch_size']}, WD {s['weight_decay']:g}; "
            f"1cycle {s['iterations']:,} vs PC-LR {pc['iterations']:,} iterations")


def parameter_counts(profile: str | None, depths: Sequence[int] | None = None) -> list:
    """One row per depth (the profile's and the paper's, shallowest first): blocks per stage,
    weighted layers, trainable parameters as this profile builds the net (its width, the
    dataset's channels and classes) and as the paper does (width 16, CIFAR-10). Computed by
    building the models, never typed."""
    profile = experiments.resolve_profile(profile)
    depths = default_depths(profile) if depths is None else list(depths)
    s = spec(profile, "one_cycle", depths[0])
    kw = dict(s["model_kwargs"], in_channels=data.CHANNELS[s["dataset"]], num_classes=data.NUM_CLASSES[s["dataset"]])
    rows = []
    for d in sorted(set(depths) | set(PAPER_DEPTHS)):
        here = models.build(model_name(profile, d), **kw)
        # the paper's: the authors' net, width 16, CIFAR-10 (whatever $SUPERCONV_MODERN switches)
        there = models.build(re.sub(r"\d+$", str(d), experiments.BASE["paper"]["model"]))
        rows.append(dict(depth=d, blocks_per_stage=here.blocks_per_stage, layers=6 * here.blocks_per_stage + 2,
                         params=models.count_parameters(here), paper_params=models.count_parameters(there),
                         in_profile=d in depths, in_paper=d in PAPER_DEPTHS))
    return rows


def paper_gains() -> dict:
    """Fig. 4b's (and the headline's) CLR - PC-LR gain in points per depth, from ``paper``."""
    return {int(r["net"].split("-")[1]): float(r["gap"])  # the gap as FACTS gives it, 1 decimal
            for r in paper.depth_table().to_dict("records")}


# --------------------------------------------------------------------------- verdicts

def depth_verdict(s1: dict, spc: dict, floor: float = NOISE_FLOOR) -> dict:
    """One depth: gain = 1cycle mean - PC-LR mean, noise = max(floor, rss of the seed stds);
    reproduced / partly (|gain| <= noise) / not reproduced (see the module doc)."""
    word, gain, noise = one_cycle.gap_verdict(s1, spc, floor)
    return dict(verdict=word, gain=gain, noise=noise, rule=DEPTH_RULE)


def trend_verdict(points: dict, floor: float = NOISE_FLOOR) -> dict:
    """The trend over depth (``points``: ``{depth: point}`` with summaries and gains): how much
    larger the gain is at the shallowest depth than at the deepest, against T (module doc)."""
    full = {d: p for d, p in points.items() if p.get("complete")}
    if len(full) < 2:
        raise ValueError("trend_verdict needs complete points at two depths at least")
    shallow, deep = min(full), max(full)
    e = ladder.end_to_end(full, shallow, deep, "gain", floor)
    return dict(verdict=e["verdict"], shallowest=shallow, deepest=deep, gain_shallowest=full[shallow]["gain"],
                gain_deepest=full[deep]["gain"], excess=e["difference"], threshold=e["threshold"],
                decreases=e["toward"], steps=e["steps"], rule=TREND_RULE)


def paper_trend() -> dict:
    """:func:`trend_verdict`'s numbers for the paper's own gains (single runs: T = the floor)."""
    g = paper_gains()
    points = {d: dict(complete=True, gain=v, summary={p: {"final_std": 0.0} for p in POLICIES})
              for d, v in g.items()}
    return trend_verdict(points)


def trend_sentence(trend: dict) -> str:
    """The trend verdict in words, for the prose."""
    x = trend["excess"]
    change = (f"was {x:.2f} points larger at the shallower net" if x > 0 else
              f"was {abs(x):.2f} points smaller at the shallower net" if x < 0 else
              "was the same at both depths")
    return (f"the gain (1cycle − PC-LR) went from {trend['gain_shallowest']:+.2f} points at "
            f"ResNet-{trend['shallowest']} to {trend['gain_deepest']:+.2f} at ResNet-{trend['deepest']}: "
            f"it {change}{ladder.noise_clause(trend)}")


# --------------------------------------------------------------------------- the study

def make_point(depth: int, specs_: dict, hists: dict, budget: dict | None = None) -> dict:
    """Summaries, gain, speed-up and verdict of one depth (policies without runs left out)."""
    return ladder.make_point("depth", depth, specs_, hists, depth_verdict, "gain", budget)


@dataclass
class Study:
    """What :func:`run_study` / :func:`stored` return (plain data plus the runs' histories)."""

    profile: str
    depths: list                     # shallowest first
    specs: dict                      # depth -> policy -> [spec per seed]
    histories: dict                  # depth -> policy -> [History per seed]
    points: dict                     # depth -> make_point(...)
    trend: dict | None               # trend_verdict(...) (None: fewer than 2 complete depths)
    setup: str = ""
    notes: list = field(default_factory=list)
    budget: dict | None = None       # ladder.budget_check(...): can these budgets answer?

    def series(self, key: str = "gain") -> dict:
        """Over complete depths, shallowest first: ``{"depth": [...], "mean": [...], "std": [...]}``
        of a policy's final accuracy (``key`` = "one_cycle" / "pc_lr") or of the gain (its std:
        the rss of the two policies' seed stds)."""
        ds = [d for d in self.depths if self.points[d]["complete"]]
        if key == "gain":
            mean = [self.points[d]["gain"] for d in ds]
            std = [math.hypot(*(one_cycle.seed_std(self.points[d]["summary"][p]) for p in POLICIES)) for d in ds]
        else:
            mean = [self.points[d]["summary"][key]["final_mean"] for d in ds]
            std = [one_cycle.seed_std(self.points[d]["summary"][key]) for d in ds]
        return dict(depth=ds, mean=mean, std=std)


def _assemble(profile: str, spec_map: dict, hist_map: dict, budget: dict | None = None) -> Study:
    points = {d: make_point(d, spec_map[d], hist_map[d], budget) for d in spec_map}
    complete = {d: p for d, p in points.items() if p["complete"]}
    trend = ladder.apply_budget(trend_verdict(complete), budget) if len(complete) >= 2 else None
    return Study(profile=profile, depths=sorted(spec_map), specs=spec_map, histories=hist_map,
                 points=points, trend=trend, setup=describe_setup(profile, sorted(spec_map)), budget=budget)


def run_study(profile: str | None, device: str = "auto", depths: Sequence[int] | None = None,
              seeds: Sequence[int] | None = None, pc_seeds: Sequence[int] | None = None,
              store: Store | None = None, progress: bool = False) -> Study:
    """Train (or load from the results store) every run and summarize; arguments are checked
    before any training. Shallow (cheap) depths run first, 1cycle before PC-LR."""
    profile = experiments.resolve_profile(profile)
    spec_map = specs(profile, depths, seeds, pc_seeds)
    return _assemble(profile, spec_map, base.train_tree(spec_map, profile, device, store, progress),
                     ladder.budget_check(profile, store))


def run_point(profile: str | None, depth: int, device: str = "auto", seeds: Sequence[int] | None = None,
              pc_seeds: Sequence[int] | None = None, store: Store | None = None, progress: bool = False,
              **overrides) -> dict:
    """One depth's pair with spec ``overrides`` (e.g. ``model_kwargs={"width": 24}``), trained
    or loaded: :func:`make_point`'s dict plus ``histories``. For the exercises."""
    profile = experiments.resolve_profile(profile)
    check_depths([depth, depth + 6], "depth")  # one depth: 6n+2, n >= 1
    sp = {p: [spec(profile, p, depth, s, **overrides) for s in CHAPTER.seeds_or_default(profile, ch, p, f"{p} seeds")]
          for p, ch in (("one_cycle", seeds), ("pc_lr", pc_seeds))}
    hists = base.train_tree(sp, profile, device, store, progress)
    return dict(make_point(depth, sp, hists, ladder.budget_check(profile, store)), histories=hists, specs=sp)


def stored(profile: str = "paper", store: Store | None = None, depths: Sequence[int] | None = None,
           seeds: Sequence[int] | None = None, pc_seeds: Sequence[int] | None = None) -> Study | None:
    """The study's results already in the store for ``profile`` (nothing is trained), or None.
    Seeds and depths without a stored record are left out."""
    profile = experiments.resolve_profile(profile)
    got = base.stored_tree(specs(profile, depths, seeds, pc_seeds), profile, store)
    if got is None:
        return None
    found, hist_map = got
    study = _assemble(profile, found, hist_map, ladder.budget_check(profile, store))
    study.notes.append(base.hardware(hist_map))
    return study


# --------------------------------------------------------------------------- text

def point_text(point: dict) -> str:
    """``"1cycle 88.12 ± 0.21 % (n=2) vs PC-LR 89.03 ± 0.00 % (n=1): −0.91 points"``."""
    return ladder.pair_text(point, "gain")


speedup_text = ladder.speedup_text


def claim_depths(profile: str | None, depths: Sequence[int] | None = None) -> dict:
    """``{claim id: our depth}``: the shallowest stands in for ResNet-20, the deepest for -110."""
    depths = check_depths(default_depths(profile) if depths is None else list(depths), "depths")
    return {cid: (depths[0] if which == "shallowest" else depths[-1]) for cid, (which, _) in CLAIMS.items()}


def stand_ins(depths: Sequence[int]) -> dict:
    """``{paper depth: our depth or None}`` for the paper-vs-ours table: ResNet-20 -> our
    shallowest, ResNet-110 -> our deepest, ResNet-56 -> 56 if we ran it (else None)."""
    depths = check_depths(list(depths), "depths")
    return {20: depths[0], 56: 56 if 56 in depths else None, 110: depths[-1]}


# --------------------------------------------------------------------------- scorecard

def findings(profile: str | None, store: Store | None = None) -> list:
    """One :class:`~superconv.verdicts.Finding` for ``sc.depth.resnet20`` and one for
    ``sc.depth.resnet110``; reads the store only (never trains). Below the paper profile our
    shallowest net stands in for ResNet-20 and our deepest for ResNet-110 (``detail`` says so,
    and gives the trend over depth)."""
    profile = experiments.resolve_profile(profile)
    study = stored(profile, store=store)
    setup = describe_setup(profile)
    short = ladder.shortened_note(profile)
    trend = ""
    if study is not None and study.trend is not None:
        trend = f"; trend ({study.trend['verdict']}): {trend_sentence(study.trend)}"
    planned = specs(profile)  # what the findings will read, stored or not (one experiment either way)
    out = []
    for cid, d in claim_depths(profile).items():
        which, paper_depth = CLAIMS[cid]
        point = study.points.get(d) if study else None
        name = f"1cycle vs PC-LR on ResNet-{d}"
        if not point or not point["complete"]:
            out.append(CHAPTER.not_run(cid, profile, DEPTH_RULE, experiment=name, runs=base.evidence(planned[d])["runs"]))
            continue
        where = (f"ResNet-{d}" if d == paper_depth else
                 f"our {which} net, ResNet-{d}, stands in for the paper's ResNet-{paper_depth}")
        rule, why = ladder.judged_by(point["verdict"], DEPTH_RULE)
        out.append(Finding(cid, profile, f"{point_text(point)} (ResNet-{d})", point["verdict"]["verdict"],
                           rule, f"{where}; {setup}; {speedup_text(point['speedup'])}{short}{trend}{why}", name,
                           **base.evidence(study.specs[d])))
    return out


__all__ = ["POLICIES", "LABELS", "CHAPTER", "DEFAULT_DEPTHS", "PAPER_DEPTHS",
           "SMOKE_ITERATIONS", "CLAIMS", "NOISE_FLOOR", "DEPTH_RULE", "TREND_RULE", "default_depths",
           "default_seeds", "check_depths", "depths_checker", "spec", "specs", "ladder_is_shortened",
           "epochs", "describe_setup", "parameter_counts", "paper_gains", "depth_verdict",
           "trend_verdict", "paper_trend", "trend_sentence", "make_point", "Study", "run_study",
           "run_point", "stored", "command", "point_text", "speedup_text",
           "claim_depths", "stand_ins", "check_seeds", "findings"]


#: The chapter's verdict rules as data: printed before the chapter trains, quoted by the scorecard.
RULES = {"each depth": DEPTH_RULE, "the trend over depths": TREND_RULE,
         "the ladder's budgets": ladder.BUDGET_RULE}

__all__ += ["RULES"]
