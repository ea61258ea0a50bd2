"""Chapter 6, super-convergence with less training data (Super-Convergence Table 1 / Fig. 4a).

The question (FACTS §2 "Reduced training data"): does the advantage of one large-LR cycle over
the piecewise-constant schedule (PC-LR) grow as the training set shrinks? The paper trained its
headline pair (ResNet-56, CIFAR-10; CLR 10k vs PC-LR 80k iterations) on 50k .. 10k images and
saw the gap grow from 1.2 to 9.2 points.

Runs: at every training-set size ``n`` the part-2 ladder pair
``experiments.ladder_spec(profile, "one_cycle" | "pc_lr", train_size=n, seed=s)`` -- a
class-balanced subset (``data.balanced_subset``, data seed 0), the same iterations at every
size (so a smaller set means more epochs, as in the paper). The profile's own training-set size
(laptop 10k, paper: all 50k of CIFAR-10, smoke 500) is passed as ``train_size=None``, so that
point *is* the shared ladder pair of chapters 7-9 (and, where the ladder is not shortened, the
headline pair of chapter 3).

API::

    study = run_study("laptop")              # trains (or loads) every run, returns a Study
    study.points[2000]["gap"]                # 1cycle mean - PC-LR mean, points
    study.points[2000]["speedup"]            # time to PC-LR's final accuracy (one_cycle.speedup)
    study.points[2000]["verdict"]            # size_verdict(...)
    study.trend                              # trend_verdict(...)
    stored("paper")                          # paper-profile results already in the store, or None
    findings("laptop")                       # scorecard: sc.reduced_data.<n>, sc.limited_data_trend

Verdict rules (fixed before any result was seen):

* one size (:func:`size_verdict`): ``gap`` = 1cycle's mean final test accuracy - PC-LR's;
  ``noise`` = max(:data:`NOISE_FLOOR`, root-sum-square of the two policies' seed stds).
  *reproduced* if gap > noise (1cycle clearly better, as in the paper at every size);
  *partly reproduced* if |gap| <= noise (a tie within noise: 1cycle matches PC-LR with 8x fewer
  iterations but shows no advantage); *not reproduced* if gap < -noise.
* the trend (:func:`trend_verdict`): ``growth`` = gap at the smallest size - gap at the largest;
  ``T`` = max(:data:`NOISE_FLOOR`, root-sum-square of the seed stds of all four run groups at
  those two sizes). *reproduced* if growth > T; *inconclusive* if 0 < growth <= T (grows,
  but within noise: the runs cannot decide); *not reproduced* if growth <= 0.

Absolute accuracies are never compared with the paper's (different dataset, model, budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .. import _checks, data, experiments, models, paper
from ..results import Store
from ..verdicts import Finding
from . import base, ladder, one_cycle

POLICIES = one_cycle.POLICIES
LABELS = one_cycle.LABELS

#: Training-set sizes per profile, largest first. Laptop: the profile's 10k, then 1/2 and 1/5
#: of it; the paper: Table 1's sizes (50k = all of CIFAR-10's training split).
DEFAULT_SIZES: dict = {
    "smoke": [500, 250],
    "laptop": [10_000, 5_000, 2_000],
    "paper": list(paper.REDUCED_DATA_SAMPLES),
}

NOISE_FLOOR = 0.5  # points: the smallest difference the verdicts treat as more than noise

SIZE_RULE = (f"reproduced if 1cycle's mean final test accuracy exceeds PC-LR's by more than the "
             f"noise (the larger of {NOISE_FLOOR:g} points and the root-sum-square of the two "
             "policies' seed stds); partly reproduced if the two are within the noise of each "
             "other; not reproduced if 1cycle is below PC-LR by more than the noise")
TREND_RULE = (f"reproduced if the gap (1cycle − PC-LR) at the smallest training set exceeds the "
              f"gap at the largest by more than T = the larger of {NOISE_FLOOR:g} points and the "
              "root-sum-square of the seed stds of the four run groups at those two sizes; "
              "inconclusive if the gap grows but by at most T (within the noise); not reproduced if it does not grow")


# --------------------------------------------------------------------------- configs

def base_spec(profile: str | None) -> dict:
    """The profile's ladder 1cycle spec (seed 0): what every size starts from."""
    return experiments.ladder_spec(profile, "one_cycle")


def full_size(profile: str | None) -> int:
    """The profile's own training-set size (laptop 10,000; paper 50,000 = all of CIFAR-10)."""
    return experiments.train_images(base_spec(profile))


def default_sizes(profile: str | None) -> list:
    return list(DEFAULT_SIZES[experiments.resolve_profile(profile)])


def check_sizes(profile: str | None, sizes: Sequence[int], name: str = "TRAIN_SIZES") -> list:
    """Sizes sorted largest first, or a ``ParameterError`` naming ``name`` and what is allowed:
    at least two distinct integers, multiples of the class count, at most the training split."""
    s = base_spec(profile)
    k, top = data.NUM_CLASSES[s["dataset"]], data.TRAIN_SPLIT_SIZES[s["dataset"]]
    allowed = (f"a list of at least 2 distinct integers, multiples of {k} (class-balanced "
               f"subsets), between {k} and {top:,} ({data.title(s['dataset'])} "
               "training split)")
    ok = isinstance(sizes, (list, tuple)) and len(sizes) >= 2 and all(
        isinstance(n, int) and not isinstance(n, bool) and k <= n <= top and n % k == 0 for n in sizes)
    if not ok or len(set(sizes)) != len(sizes):
        _checks.fail(name, sizes, allowed)
    return sorted(sizes, reverse=True)


#: The chapter, with its seeds per profile and policy. PC-LR is the expensive run (8x longer),
#: and the authors ran one per size; at the laptop profile 3 sizes x (2 x 240 + 1,920
#: iterations) took 7.3 minutes.
CHAPTER = base.Chapter("chapters/06_less_training_data.ipynb", seeds_policy="one_cycle", seeds={
    "smoke": {"one_cycle": [0, 1], "pc_lr": [0]},
    "laptop": {"one_cycle": [0, 1], "pc_lr": [0]},
    "paper": {"one_cycle": [0, 1, 2], "pc_lr": [0]},
}, knobs=dict(PC_SEEDS=one_cycle.check_seeds, TRAIN_SIZES=lambda name, value: value),  # sizes: with the profile
    validate=lambda profile, v: {"TRAIN_SIZES": None if v["TRAIN_SIZES"] is None
                                 else check_sizes(profile, v["TRAIN_SIZES"])})
default_seeds, command = CHAPTER.default_seeds, CHAPTER.command


def spec(profile: str | None, policy: str, n: int, seed: int = 0) -> dict:
    """The ladder spec of one point: the profile's own size is ``train_size=None`` (so it is the
    shared ladder run), any other a class-balanced ``train_size=n`` subset."""
    size = None if n == full_size(profile) else n
    return experiments.ladder_spec(profile, policy, train_size=size, seed=seed)


def specs(profile: str | None, sizes: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
          pc_seeds: Sequence[int] | None = None) -> dict:
    """``{n: {"one_cycle": [spec per seed], "pc_lr": [spec per seed]}}``, largest n first."""
    profile = experiments.resolve_profile(profile)
    sizes = check_sizes(profile, default_sizes(profile) if sizes is None else list(sizes), "sizes")
    chosen = {"one_cycle": seeds, "pc_lr": pc_seeds}
    seed_map = {p: CHAPTER.seeds_or_default(profile, chosen[p], p, f"{p} seeds") for p in POLICIES}
    return {n: {p: [spec(profile, p, n, s) for s in seed_map[p]] for p in POLICIES} for n in sizes}


def fraction(profile: str | None, n: int) -> float:
    """``n`` as a fraction of the profile's own training-set size."""
    return n / full_size(profile)


def paper_mapping(profile: str | None, sizes: Sequence[int] | None = None) -> dict:
    """``{paper size: our size}``: each of Table 1's sizes goes to our size with the nearest
    fraction of the full set (paper: of CIFAR-10's 50k; ours: of the profile's own size; a
    tie goes to the smaller size). At the paper profile this is the identity."""
    sizes = default_sizes(profile) if sizes is None else list(sizes)
    full_paper = paper.REDUCED_DATA_SAMPLES[0]
    out = {}
    for pn in paper.REDUCED_DATA_SAMPLES:
        f = pn / full_paper
        out[pn] = min(sizes, key=lambda n: (abs(fraction(profile, n) - f), n))
    return out


def paper_gaps() -> dict:
    """Table 1's CLR - PC-LR gap (points) per training-set size, largest first."""
    v = lambda k: paper.get(k).value  # noqa: E731
    return {n: v(f"sc.reduced_data.{n}.clr") - v(f"sc.reduced_data.{n}.pc")
            for n in paper.REDUCED_DATA_SAMPLES}


def ladder_is_shortened(profile: str | None) -> bool:
    """True where the ladder pair is shorter than the headline pair (the laptop profile)."""
    return experiments.LADDER_FRACTION[experiments.resolve_profile(profile)] < 1


def describe_setup(profile: str | None, subsets: bool = True) -> str:
    """Dataset, model, batch and the ladder lengths, for captions (``subsets``: say that the
    training sets are our class-balanced subsets)."""
    s = base_spec(profile)
    pc = experiments.ladder_spec(profile, "pc_lr")
    model = models.label(s["model"])
    width = s["model_kwargs"].get("width")
    if width:
        model += f" (width {width})"
    test = f"{s['test_size']:,} test images" if s["test_size"] else "full test split"
    sub = "class-balanced train subsets, " if subsets else ""
    return (f"{data.title(s['dataset'])} ({sub}{test}), "
            f"{model}, batch {s['batch_size']}, WD {s['weight_decay']:g}; "
            f"1cycle {s['iterations']:,} vs PC-LR {pc['iterations']:,} iterations")


# --------------------------------------------------------------------------- verdicts

def size_verdict(s1: dict, spc: dict, floor: float = NOISE_FLOOR) -> dict:
    """One size: gap = 1cycle mean - PC-LR mean, noise = max(floor, rss of the seed stds);
    reproduced / partly (|gap| <= noise) / not reproduced (see the module doc)."""
    word, gap, noise = one_cycle.gap_verdict(s1, spc, floor)
    return dict(verdict=word, gap=gap, noise=noise, rule=SIZE_RULE)


def trend_verdict(points: dict, floor: float = NOISE_FLOOR) -> dict:
    """The trend over sizes (``points``: ``{n: point}`` with summaries): growth of the gap from
    the largest to the smallest size against the noise T (see the module doc)."""
    full = {n: p for n, p in points.items() if p.get("complete")}
    if len(full) < 2:
        raise ValueError("trend_verdict needs complete points at two sizes at least")
    big, small = max(full), min(full)
    e = ladder.end_to_end(full, small, big, "gap", floor)
    return dict(verdict=e["verdict"], largest=big, smallest=small, gap_largest=full[big]["gap"],
                gap_smallest=full[small]["gap"], growth=e["difference"], threshold=e["threshold"],
                increases=e["toward"], steps=e["steps"], rule=TREND_RULE)


def trend_sentence(trend: dict) -> str:
    """The trend verdict in words, for the prose."""
    g = trend["growth"]
    change = (f"grew by {g:.2f} points" if g > 0 else f"shrank by {abs(g):.2f} points" if g < 0
              else "did not change")
    return (f"from {trend['largest']:,} to {trend['smallest']:,} training images the gap "
            f"(1cycle − PC-LR) went from {trend['gap_largest']:+.2f} to {trend['gap_smallest']:+.2f} "
            f"points: it {change}{ladder.noise_clause(trend)}")


# --------------------------------------------------------------------------- the study

def make_point(n: int, specs_: dict, hists: dict, budget: dict | None = None) -> dict:
    """Summaries, gap, speed-up and verdict of one size (policies without runs are left out);
    ``budget``: ``ladder.budget_check``, which can make the verdict "not testable at this budget"."""
    return ladder.make_point("n", n, specs_, hists, size_verdict, "gap", budget)


@dataclass
class Study:
    """What :func:`run_study` / :func:`stored` return (plain data plus the runs' histories)."""

    profile: str
    sizes: list                      # largest first
    specs: dict                      # n -> policy -> [spec per seed]
    histories: dict                  # n -> policy -> [History per seed]
    points: dict                     # n -> make_point(...)
    trend: dict | None               # trend_verdict(...) (None: fewer than 2 complete sizes)
    full_size: int = 0               # the profile's own training-set size
    setup: str = ""
    notes: list = field(default_factory=list)
    budget: dict | None = None       # ladder.budget_check(...): can these budgets answer?

    def series(self, policy: str) -> dict:
        """``{"n": [...], "mean": [...], "std": [...], "count": [...]}`` over complete sizes,
        largest first: what the accuracy-vs-samples plot draws."""
        ns = [n for n in self.sizes if policy in self.points[n]["summary"]]
        ss = [self.points[n]["summary"][policy] for n in ns]
        return dict(n=ns, mean=[s["final_mean"] for s in ss], std=[s["final_std"] for s in ss],
                    count=[s["n"] for s in ss])


def _assemble(profile: str, spec_map: dict, hist_map: dict, budget: dict | None = None) -> Study:
    points = {n: make_point(n, spec_map[n], hist_map[n], budget) for n in spec_map}
    complete = {n: p for n, p in points.items() if p["complete"]}
    trend = ladder.apply_budget(trend_verdict(complete), budget) if len(complete) >= 2 else None
    return Study(profile=profile, sizes=sorted(spec_map, reverse=True), specs=spec_map,
                 histories=hist_map, points=points, trend=trend, full_size=full_size(profile),
                 setup=describe_setup(profile), budget=budget)


def run_study(profile: str | None, device: str = "auto", sizes: Sequence[int] | None = None,
              seeds: Sequence[int] | None = None, pc_seeds: Sequence[int] | None = None,
              store: Store | None = None, progress: bool = False) -> Study:
    """Train (or load from the results store) every point and summarize; arguments are checked
    before any training. Runs go smallest size first (cheap evidence early)."""
    profile = experiments.resolve_profile(profile)
    spec_map = specs(profile, sizes, seeds, pc_seeds)
    hists = base.train_tree({n: spec_map[n] for n in sorted(spec_map)}, profile, device, store, progress)
    hist_map = {n: hists[n] for n in spec_map}
    return _assemble(profile, spec_map, hist_map, ladder.budget_check(profile, store))


def stored(profile: str = "paper", store: Store | None = None, sizes: Sequence[int] | None = None,
           seeds: Sequence[int] | None = None, pc_seeds: Sequence[int] | None = None) -> Study | None:
    """The study's results already in the store for ``profile`` (nothing is trained), or None.
    Seeds and sizes without a stored record are left out."""
    profile = experiments.resolve_profile(profile)
    got = base.stored_tree(specs(profile, sizes, seeds, pc_seeds), profile, store)
    if got is None:
        return None
    found, hist_map = got
    study = _assemble(profile, found, hist_map, ladder.budget_check(profile, store))
    study.notes.append(base.hardware(hist_map))
    return study


def full_length_pair(profile: str | None, store: Store | None = None) -> dict | None:
    """Chapter 3's full-length headline pair at the profile's own size, if it is in the store:
    ``{"one_cycle": summary, "pc_lr": summary, "iterations": {policy: n}}`` (None: not stored,
    or a policy missing)."""
    st = one_cycle.stored(experiments.resolve_profile(profile), store=store)
    if st is None or any(p not in st.summary for p in POLICIES):
        return None
    return {"one_cycle": st.summary["one_cycle"], "pc_lr": st.summary["pc_lr"],
            "iterations": {p: st.summary[p]["iterations"] for p in POLICIES}}


# --------------------------------------------------------------------------- text

def point_text(point: dict) -> str:
    """``"1cycle 88.12 ± 0.21 % (n=2) vs PC-LR 89.03 ± 0.00 % (n=1): −0.91 points"``."""
    return ladder.pair_text(point, "gap")


speedup_text = ladder.speedup_text


def full_length_sentence(study: Study, store: Store | None = None) -> str:
    """How the largest point compares with chapter 3's full-length pair (at the laptop profile the
    ladder is shortened; elsewhere the largest point *is* chapter 3's pair)."""
    top = study.points[study.sizes[0]]
    if not ladder_is_shortened(study.profile):
        return ("at this profile the ladder pair is the headline pair itself, so the largest point "
                "is chapter 3's run, shared through the results store")
    if study.sizes[0] != study.full_size:
        return (f"chapter 3's full-length pair was trained on {study.full_size:,} images, which is "
                "not one of the sizes run here")
    fl = full_length_pair(study.profile, store)
    if fl is None:
        return ("chapter 3's full-length pair is not in the results store yet (run chapter 3 "
                "first to compare)")
    a, b = fl["one_cycle"], fl["pc_lr"]
    ours = f"{top['gap']:+.2f} points here" if top.get("complete") else "no complete pair here"
    return (f"at the same {study.full_size:,} images chapter 3's full-length pair "
            f"({fl['iterations']['one_cycle']:,} vs {fl['iterations']['pc_lr']:,} iterations) gave "
            f"1cycle {one_cycle.format_acc(a)} vs PC-LR {one_cycle.format_acc(b)}, "
            f"{a['final_mean'] - b['final_mean']:+.2f} points, against {ours} with the shortened pair")


def comparison_rows(study: Study) -> list:
    """The chapter's "Paper vs ours" rows: one per Table 1 size (judged at the mapped size of
    ours), then the trend. Keys: quantity, paper, ours, verdict."""
    P = paper.get
    mapping = paper_mapping(study.profile, study.sizes)
    rows = []
    for pn, n in mapping.items():
        pt = study.points.get(n, {})
        clr, pc = f"sc.reduced_data.{pn}.clr", f"sc.reduced_data.{pn}.pc"
        ours = point_text(pt) if pt.get("complete") else "not run"
        mapped = "" if study.profile == "paper" else f" (at {n:,} = {fraction(study.profile, n):.0%})"
        rows.append({"quantity": f"{pn:,} samples{mapped}",
                     "paper": f"CLR {paper.cite(clr, source=False)} vs PC-LR {paper.cite(pc, source=False)}: "
                              f"{P(clr).value - P(pc).value:+.1f} points",
                     "ours": ours,
                     "verdict": pt["verdict"]["verdict"] if pt.get("complete") else "not run"})
    g = paper_gaps()
    big, small = max(g), min(g)
    tr = study.trend
    rows.append({"quantity": "gap growth, largest → smallest set",
                 "paper": f"{g[big]:+.1f} → {g[small]:+.1f} points ({big:,} → {small:,})",
                 "ours": ("not run" if tr is None else
                          f"{tr['gap_largest']:+.2f} → {tr['gap_smallest']:+.2f} points "
                          f"({tr['largest']:,} → {tr['smallest']:,}; T = {tr['threshold']:.2f})"),
                 "verdict": "not run" if tr is None else tr["verdict"]})
    return rows


# --------------------------------------------------------------------------- scorecard

TREND_EXPERIMENT = "the gain's trend over training-set sizes"


def findings(profile: str | None, store: Store | None = None) -> list:
    """One :class:`~superconv.verdicts.Finding` per ``sc.reduced_data.<n>`` claim and one for
    ``sc.limited_data_trend``; reads the store only (never trains).

    Below the paper profile our sizes differ from Table 1's: each paper size is judged at our
    size with the nearest fraction of the full training set (:func:`paper_mapping`), and
    ``detail`` says which.
    """
    profile = experiments.resolve_profile(profile)
    study = stored(profile, store=store)
    mapping = paper_mapping(profile)
    dataset = data.title(base_spec(profile)["dataset"])
    short = ladder.shortened_note(profile)
    planned = specs(profile)  # what the findings will read, stored or not (one experiment either way)
    out = []
    for pn, n in mapping.items():
        cid = f"sc.reduced_data.{pn}"
        point = study.points.get(n) if study else None
        name = f"1cycle vs PC-LR on {n:,} training images"
        if not point or not point["complete"]:
            out.append(CHAPTER.not_run(cid, profile, SIZE_RULE, experiment=name,
                                       runs=base.evidence(planned[n])["runs"]))
            continue
        where = (f"{n:,} {dataset} images" if profile == "paper" else
                 f"paper's {pn:,} = {pn / paper.REDUCED_DATA_SAMPLES[0]:.0%} of CIFAR-10's 50k, judged at our "
                 f"{n:,} = {fraction(profile, n):.0%} of this profile's {full_size(profile):,} {dataset} images "
                 "(nearest fraction)")
        rule, why = ladder.judged_by(point["verdict"], SIZE_RULE)
        out.append(Finding(cid, profile, f"{point_text(point)} at {n:,} images",
                           point["verdict"]["verdict"], rule,
                           f"{where}; {speedup_text(point['speedup'])}{short}{why}", name,
                           **base.evidence(study.specs[n])))
    ends = (max(mapping.values()), min(mapping.values()))  # the trend needs both ends of the ladder
    if study is None or study.trend is None or not all(study.points[n]["complete"] for n in ends):
        out.append(CHAPTER.not_run("sc.limited_data_trend", profile, TREND_RULE, experiment=TREND_EXPERIMENT,
                                   runs=base.evidence(*(planned[n] for n in ends))["runs"]))
    else:
        tr = study.trend
        gaps = ", ".join(f"{n:,}: {study.points[n]['gap']:+.2f}" for n in study.sizes
                         if study.points[n]["complete"])
        rule, why = ladder.judged_by(tr, TREND_RULE)
        out.append(Finding("sc.limited_data_trend", profile,
                           f"gap {tr['gap_largest']:+.2f} → {tr['gap_smallest']:+.2f} points "
                           f"({tr['largest']:,} → {tr['smallest']:,} images; T = {tr['threshold']:.2f})",
                           tr["verdict"], rule,
                           f"{dataset}, gap per size {gaps}; the gap grew at {tr['increases']} of "
                           f"{tr['steps']} steps{short}{why}", TREND_EXPERIMENT,
                           **base.evidence(*(study.specs[n] for n in ends))))
    return out


__all__ = ["POLICIES", "LABELS", "CHAPTER", "DEFAULT_SIZES", "NOISE_FLOOR", "SIZE_RULE",
           "TREND_RULE", "base_spec", "full_size", "default_sizes", "default_seeds", "check_sizes",
           "spec", "specs", "fraction", "paper_mapping", "paper_gaps",
           "ladder_is_shortened", "describe_setup", "size_verdict", "trend_verdict",
           "trend_sentence", "make_point", "Study", "run_study", "stored", "full_length_pair",
           "command", "point_text", "speedup_text", "full_length_sentence",
           "comparison_rows", "findings"]


#: The chapter's verdict rules as data: printed before the chapter trains, quoted by the scorecard.
RULES = {"each training-set size": SIZE_RULE, "the trend over sizes": TREND_RULE,
         "the ladder's budgets": ladder.BUDGET_RULE}

__all__ += ["RULES"]
