"""The papers' own numbers, as data: reference results, formulas, solver settings, claims.

Every number this book compares against comes from here, never from a literal in a chapter.
The source is the reproduction's ``shared/paper/FACTS.md``, whose sections are

==  ==========================================================================================
§1  cyclical learning rates (CLR paper, Smith, arXiv 1506.01186): formulas, range test,
    CLR Tables 1 and 3, the CLR paper's CIFAR-10 solvers
§2  super-convergence headline runs (Smith & Topin, arXiv 1708.07120; ResNet-56, CIFAR-10):
    solvers, range test, BN, reduced data (Table 1 / Fig. 4a), depth (Fig. 4b), authors' logs
§3  the 1cycle policy and cyclical momentum: the Caffe 1cycle shape, the 1cycle results table
    (Super-Convergence v3 Table 2 = 1803.09820 Table 2), the momentum and batch-size studies
    of Smith, arXiv 1803.09820
§4  ImageNet (Fig. 7)
§5  the simplified Hessian-free optimal-LR estimate
§6  architecture and data pipeline of the authors' ResNet-56
§7  what was not found anywhere reachable
==  ==========================================================================================

**Confidence tags.** Every fact carries one or more of

* ``"D"`` – read in the authors' own code or config (lnsmith54/super-convergence,
  lnsmith54/hyperParam1, bckenstler/CLR);
* ``"P"`` – read in the paper text;
* ``"L"`` – the authors' own Caffe training logs (single runs of a later replication, *not*
  the paper's table);
* ``"S"`` – second-hand (notes or reproductions by others): approximate, and the book says so.

Some facts carry two (``("S", "L")`` for "second-hand, the authors' logs agree"); FACTS's own
wording is kept in :attr:`Fact.tag_text` (e.g. ``"S, logs agree"``). **The book shows the tag
beside every paper number** – :func:`cite` does it for a table cell.

Key scheme
----------
Keys are dotted, lower-case and stable; the first part names the group:

=================  ====================================================================
``clr.*``          CLR paper (§1): ``clr.formula.*``, ``clr.range_test.*``,
                   ``clr.table1.<net>.<policy>``, ``clr.table3.<optimizer>.<policy>[.<iters>]``,
                   ``clr.solver.<name>.*`` (settings)
``sc.*``           Super-Convergence, ResNet-56/CIFAR-10 (§2): ``sc.headline.*``,
                   ``sc.fig1b.*``, ``sc.reduced_data.<samples>.<pc|clr>``,
                   ``sc.depth.<net>.<pc|clr>``, ``sc.logs.<study>.<setting>``,
                   ``sc.batch_size.*``, ``sc.solver.<clr|pc>.*``, ``sc.range_test.*``,
                   ``sc.bn_moving_average.*``
``onecycle.*``     §3: ``onecycle.definition.*``, ``onecycle.caffe_shape.*``,
                   ``onecycle.cyclical_momentum.*``, ``onecycle.sgd_update.*``,
                   ``onecycle.table.<dataset_net>.<row>`` (the 1cycle table; a 1cycle row is
                   ``<lr_lo>-<lr_hi>/<stepsize in epochs>`` as printed, e.g. ``0.1-1.0/23``;
                   a baseline row is ``<policy><lr>.<epochs>ep``, e.g. ``step0.1.100ep``),
                   ``onecycle.momentum_study.lr<...>.<cm<a>-<b>|m<const>>``,
                   ``onecycle.batch_study.*``
``imagenet.*``     §4: ``imagenet.<net>.<run>``, ``imagenet.solver.*``
``hf.*``           §5: ``hf.reported.*``, ``hf.method.*``
``arch.*``         §6: ``arch.resnet.*``, ``arch.data.*``
=================  ====================================================================

A key that continues another (``sc.logs.wd.1e-3`` / ``sc.logs.wd.1e-3.max``) is a related number
of the same run. Settings of a result row (iterations, WD, epochs, ...) sit in
:attr:`Fact.context`; standalone settings are :class:`Settings` mappings (``HEADLINE_CLR_SOLVER``
and friends) whose every entry is also registered as a fact under the mapping's prefix.

API
---
``get(key)`` one :class:`Fact`; ``facts(prefix)`` / ``table(prefix)`` many; ``cite(fact)`` a
table-cell label; ready-made tables ``clr_table1()``, ``clr_table3()``, ``reduced_data_table()``,
``depth_table()``, ``authors_logs()``, ``one_cycle_table()``, ``momentum_study()``,
``imagenet_table()``; ``claims()`` / ``claims_table()`` the numbered claims for the scorecard;
``not_found()`` what FACTS §7 could not find. pandas is imported only by the table functions.

Values are ``float``/``int``/``bool``/``str``, a :class:`Range` ``(start, stop)`` for FACTS's
"a–b" (an interval such as 67.3–67.6, or a cycle such as momentum 0.95–0.85), a plain tuple for
a list of alternatives (batch 256 / 512 / 1000 / 1536). ``Fact.approx`` marks FACTS's "~".
Numbers FACTS could not find are not facts (no ``None`` values): they are :class:`NotFound`
entries of :func:`not_found`, and ``get`` on their key says so.

Settings (read-only mappings with ``.tags``/``.source``; ``dict(x)`` for a copy):
``CLR_BASELINE_SOLVER``, ``CLR_TRIANGULAR2_SOLVER``, ``CLR_EXP_SOLVER`` (§1);
``HEADLINE_CLR_SOLVER``, ``HEADLINE_PC_SOLVER``, ``RANGE_TEST``, ``BN_MOVING_AVERAGE`` (§2);
``ONE_CYCLE_CAFFE_SHAPE``, ``CYCLICAL_MOMENTUM``, ``SGD_UPDATE_RULES`` (§3; plus the untagged,
unregistered ``TORCH_ONE_CYCLE_DEFAULTS``); ``IMAGENET`` (§4); ``HESSIAN_FREE`` (§5);
``ARCHITECTURE``, ``DATA`` (§6).
"""

from __future__ import annotations

import difflib
import math
import types
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

__all__ = [
    "TAGS",
    "DESIGN",
    "PAPER",
    "LOGS",
    "SECOND_HAND",
    "SECTIONS",
    "PAPERS",
    "AUTHOR_REPOS",
    "CHAPTERS",
    "Range",
    "Fact",
    "Settings",
    "Claim",
    "NotFound",
    "get",
    "facts",
    "keys",
    "table",
    "cite",
    "clr_table1",
    "clr_table3",
    "reduced_data_table",
    "depth_table",
    "authors_logs",
    "one_cycle_table",
    "momentum_study",
    "imagenet_table",
    "claims",
    "claim",
    "claims_table",
    "not_found",
    # settings
    "CLR_BASELINE_SOLVER",
    "CLR_TRIANGULAR2_SOLVER",
    "CLR_EXP_SOLVER",
    "HEADLINE_CLR_SOLVER",
    "HEADLINE_PC_SOLVER",
    "RANGE_TEST",
    "BN_MOVING_AVERAGE",
    "ONE_CYCLE_CAFFE_SHAPE",
    "CYCLICAL_MOMENTUM",
    "SGD_UPDATE_RULES",
    "IMAGENET",
    "HESSIAN_FREE",
    "ARCHITECTURE",
    "DATA",
    "TORCH_ONE_CYCLE_DEFAULTS",
    "REDUCED_DATA_SAMPLES",
    "ONE_CYCLE_NETS",
]

# ---------------------------------------------------------------------------------------------
# Tags, sections, papers
# ---------------------------------------------------------------------------------------------

DESIGN = "D"
PAPER = "P"
LOGS = "L"
SECOND_HAND = "S"

TAGS: Mapping[str, str] = types.MappingProxyType({
    DESIGN: "read in the authors' own code/config (lnsmith54/super-convergence, "
            "lnsmith54/hyperParam1, bckenstler/CLR)",
    PAPER: "read in the paper text",
    LOGS: "the authors' own Caffe training logs (single runs of their later replication, "
          "not the paper's table)",
    SECOND_HAND: "second-hand (notes/reproductions by others): approximate, say so",
})

SECTIONS: Mapping[str, str] = types.MappingProxyType({
    "§1": "Cyclical learning rates (CLR paper)",
    "§2": "Super-convergence: the headline runs (ResNet-56, CIFAR-10)",
    "§3": "The 1cycle policy and cyclical momentum",
    "§4": "ImageNet (Fig. 7)",
    "§5": "The simplified Hessian-free optimal-LR estimate",
    "§6": "Architecture and data of the authors' ResNet-56",
    "§7": "Not found anywhere reachable",
})

PAPERS: Mapping[str, Mapping[str, str]] = types.MappingProxyType({
    "clr": types.MappingProxyType({
        "authors": "Smith", "title": "Cyclical Learning Rates for Training Neural Networks",
        "arxiv": "1506.01186", "venue": "WACV 2017", "short": "CLR"}),
    "sc": types.MappingProxyType({
        "authors": "Smith & Topin",
        "title": "Super-Convergence: very fast training of neural networks using large "
                 "learning rates",
        "arxiv": "1708.07120", "version": "v3", "short": "Super-Convergence"}),
    "hp1803": types.MappingProxyType({
        "authors": "Smith",
        "title": "A disciplined approach to neural network hyper-parameters: Part 1",
        "arxiv": "1803.09820", "short": "1803.09820"}),
})

AUTHOR_REPOS: Tuple[str, ...] = (
    "lnsmith54/super-convergence", "lnsmith54/hyperParam1", "bckenstler/CLR")

#: Topic slugs used in :attr:`Claim.chapter` (the chapter that tests the claim).
CHAPTERS: Mapping[str, str] = types.MappingProxyType({
    "clr": "Cyclical learning rates (CLR paper tables)",
    "range-test": "The LR range test",
    "super-convergence": "The headline run: 10k vs 80k iterations",
    "limited-data": "Super-convergence with less training data",
    "depth": "Depth: ResNet-20 / -56 / -110",
    "batch-size": "Batch size",
    "regularization": "Large learning rates regularize",
    "one-cycle": "The 1cycle policy across datasets and nets",
    "cyclical-momentum": "Cyclical momentum",
    "hessian-free": "The Hessian-free optimal-LR estimate",
    "imagenet": "ImageNet",
})

# ---------------------------------------------------------------------------------------------
# Value types
# ---------------------------------------------------------------------------------------------


class Range(NamedTuple):
    """FACTS's "a–b": an interval (67.3–67.6) or a cycle's two ends (momentum 0.95–0.85).

    ``start``/``stop`` keep the order FACTS prints; :attr:`lo`/:attr:`hi` are min/max. It is a
    plain 2-tuple too: ``Range(67.3, 67.6) == (67.3, 67.6)``.
    """

    start: float
    stop: float

    @property
    def lo(self) -> float:
        return min(self.start, self.stop)

    @property
    def hi(self) -> float:
        return max(self.start, self.stop)

    @property
    def mid(self) -> float:
        return (self.start + self.stop) / 2

    def __contains__(self, x: object) -> bool:  # 67.4 in Range(67.3, 67.6)
        try:
            return self.lo <= x <= self.hi  # type: ignore[operator]
        except TypeError:
            return False


class _FrozenDict(dict):
    """A ``dict`` that refuses changes (still picklable, JSON-able and ``asdict``-able)."""

    def _refuse(self, *a: Any, **k: Any) -> None:
        raise TypeError("paper facts are read-only; copy with dict(...) first")

    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> "_FrozenDict":
        return self

    def __deepcopy__(self, memo: Any) -> "_FrozenDict":
        return self


def _freeze(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return _FrozenDict({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj


def _check_tags(tags: Sequence[str], where: str) -> Tuple[str, ...]:
    tags = (tags,) if isinstance(tags, str) else tuple(tags)
    if not tags:
        raise ValueError(f"{where}: at least one confidence tag is needed")
    bad = [t for t in tags if t not in TAGS]
    if bad:
        raise ValueError(f"{where}: unknown tag(s) {bad}; known: {sorted(TAGS)}")
    return tags


@dataclass(frozen=True)
class Fact:
    """One number (or formula, or label) from FACTS.md, with where it comes from.

    ``value``: float / int / bool / str / :class:`Range` / tuple / ``None``; ``std``: the "±" of
    a mean over runs; ``approx``: FACTS says "~"; ``section``: the FACTS section ("§2");
    ``tag_text``: FACTS's own wording of the confidence (defaults to the tags joined);
    ``context``: the settings of the run the number belongs to (iterations, WD, epochs, ...).
    """

    key: str
    value: Any
    unit: str
    tags: Tuple[str, ...]
    source: str
    note: str = ""
    std: Optional[float] = None
    approx: bool = False
    section: str = ""
    tag_text: str = ""
    context: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _check_tags(self.tags, self.key))
        object.__setattr__(self, "context", _freeze(dict(self.context)))
        if self.section and self.section not in SECTIONS:
            raise ValueError(f"{self.key}: unknown section {self.section!r}")

    @property
    def label(self) -> str:
        """The confidence as the book prints it, e.g. ``"S, logs agree"``."""
        return self.tag_text or ", ".join(self.tags)

    @property
    def is_number(self) -> bool:
        return isinstance(self.value, (int, float)) and not isinstance(self.value, bool)

    def as_dict(self) -> Dict[str, Any]:
        return {"key": self.key, "value": self.value, "std": self.std, "unit": self.unit,
                "tags": self.label, "source": self.source, "note": self.note}


class Settings(Mapping):
    """A read-only, possibly nested mapping of solver/architecture settings with provenance.

    Use it like a dict (``HEADLINE_CLR_SOLVER["max_lr"]``, ``dict(HEADLINE_CLR_SOLVER)``);
    ``.tags``, ``.tag_text``, ``.source``, ``.section``, ``.note`` and ``.prefix`` say where it
    comes from. Every leaf is also registered as a :class:`Fact` under ``prefix + "." +
    dotted path`` (e.g. ``sc.solver.clr.max_lr``). ``item_tags`` overrides the tags of a
    top-level entry (and everything below it); ``units`` gives units by dotted path.
    """

    def __init__(self, name: str, prefix: str, items: Mapping[str, Any], *, tags: Sequence[str],
                 source: str, section: str, note: str = "", tag_text: str = "",
                 item_tags: Optional[Mapping[str, Sequence[str]]] = None,
                 units: Optional[Mapping[str, str]] = None,
                 notes: Optional[Mapping[str, str]] = None,
                 approx: Sequence[str] = ()) -> None:
        self.name = name
        self.prefix = prefix
        self._items = _freeze(dict(items))
        self.tags = _check_tags(tags, name)
        self.tag_text = tag_text
        self.source = source
        self.section = section
        self.note = note
        self.item_tags = {k: _check_tags(v, f"{name}.{k}") for k, v in (item_tags or {}).items()}
        self.units = dict(units or {})
        self.notes = dict(notes or {})
        self.approx = frozenset(approx)
        for path in list(self.item_tags) + list(self.units) + list(self.notes) + list(self.approx):
            if path not in dict(self.leaves()) and path not in self._items:
                raise KeyError(f"{name}: no entry {path!r}")

    def __getitem__(self, k: str) -> Any:
        return self._items[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Settings({self.name}, tags={self.tags}, {dict(self._items)!r})"

    def as_dict(self) -> Dict[str, Any]:
        """A plain (nested) ``dict`` copy."""
        def thaw(v: Any) -> Any:
            return {k: thaw(x) for k, x in v.items()} if isinstance(v, Mapping) else v
        return thaw(self._items)

    def leaves(self) -> List[Tuple[str, Any]]:
        """``[(dotted path, value), ...]`` of every leaf."""
        out: List[Tuple[str, Any]] = []

        def walk(m: Mapping[str, Any], path: str) -> None:
            for k, v in m.items():
                p = f"{path}.{k}" if path else k
                if isinstance(v, Mapping):
                    walk(v, p)
                else:
                    out.append((p, v))
        walk(self._items, "")
        return out

    def tags_of(self, path: str) -> Tuple[str, ...]:
        top = path.split(".")[0]
        return self.item_tags.get(path, self.item_tags.get(top, self.tags))

    def _facts(self) -> List[Fact]:
        out = []
        for path, v in self.leaves():
            tags = self.tags_of(path)
            out.append(Fact(
                key=f"{self.prefix}.{path}", value=v, unit=self.units.get(path, ""), tags=tags,
                source=self.source, note=self.notes.get(path, ""), section=self.section,
                approx=path in self.approx,
                tag_text=self.tag_text if tags == self.tags else ""))
        return out


@dataclass(frozen=True)
class Claim:
    """A claim of the papers for the scorecard.

    ``paper_value_keys``: the facts that carry the paper's numbers; ``chapter``: the topic slug
    (:data:`CHAPTERS`) of the chapter that tests it; ``how_to_test``: what to run and compare;
    ``note``: caveats; ``missing``: keys of :func:`not_found` entries the claim would need
    (e.g. the batch-size figure's accuracies), so a scorecard can say "paper numbers not found".
    """

    id: str
    statement: str
    paper_value_keys: Tuple[str, ...]
    chapter: str
    how_to_test: str
    note: str = ""
    missing: Tuple[str, ...] = ()

    def facts(self) -> List[Fact]:
        return [get(k) for k in self.paper_value_keys]

    @property
    def tags(self) -> Tuple[str, ...]:
        """The union of the tags of its facts, weakest first (S, L, P, D)."""
        order = [SECOND_HAND, LOGS, PAPER, DESIGN]
        have = {t for f in self.facts() for t in f.tags}
        return tuple(t for t in order if t in have)

    def cite(self) -> str:
        return "; ".join(cite(f) for f in self.facts())


@dataclass(frozen=True)
class NotFound:
    """Something FACTS §7 (or §2) says was not found; ``hint`` keeps any second-hand trace."""

    key: str
    what: str
    hint: str = ""
    related_keys: Tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------

_FACTS: Dict[str, Fact] = {}


def _add(key: str, value: Any, unit: str, tags: Sequence[str], source: str, section: str,
         **kw: Any) -> Fact:
    if key in _FACTS:
        raise ValueError(f"duplicate paper fact key {key!r}")
    f = Fact(key, value, unit, tags, source, section=section, **kw)
    _FACTS[key] = f
    return f


def _register(settings: Settings) -> Settings:
    for f in settings._facts():
        if f.key in _FACTS:
            raise ValueError(f"duplicate paper fact key {f.key!r}")
        _FACTS[f.key] = f
    return settings


P, D, L, S = PAPER, DESIGN, LOGS, SECOND_HAND

# ---- §1 Cyclical learning rates (CLR paper) -------------------------------------------------

_CLR = "CLR paper"
_add("clr.formula.cycle", "floor(1 + it / (2*stepsize))", "", P, _CLR, "§1",
     note="it = iteration, stepsize = half a cycle")
_add("clr.formula.x", "|it/stepsize - 2*cycle + 1|", "", P, _CLR, "§1")
_add("clr.formula.lr", "base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale", "", P, _CLR, "§1")
_add("clr.formula.scale.triangular", "1", "", P, _CLR, "§1")
_add("clr.formula.scale.triangular2", "1 / 2**(cycle-1)", "", P, _CLR, "§1",
     note="the amplitude halves every cycle")
_add("clr.formula.scale.exp_range", "gamma**it", "", (P, D), _CLR + "; bckenstler/CLR", "§1",
     note="it = global iteration. The paper's wording shrinks both bounds; the Keras reference "
          "(bckenstler/CLR) shrinks only the amplitude: pick one and document it")
_add("clr.torch_equivalence", "torch.optim.lr_scheduler.CyclicLR, step_size_up == step_size_down",
     "", D, "torch", "§1", note="computes the same values as the formulas above")
_add("clr.stepsize", Range(2, 10), "× iterations per epoch", P, _CLR, "§1",
     note="stop training at the end of a cycle")
_add("clr.range_test.max_over_base", Range(3, 4), "", P, _CLR, "§1",
     note="alternative rule: base_lr = max_lr / 3..4. Otherwise base_lr = where accuracy starts "
          "to rise, max_lr = where the rise slows, turns ragged or falls (plot accuracy vs LR)")
_add("clr.range_test.cifar10.epochs", 8, "epochs", P, _CLR, "§1",
     note="LR rises linearly from low to high during the test")
_add("clr.range_test.cifar10.lr", Range(0.001, 0.006), "", P, _CLR, "§1",
     note="base_lr .. max_lr read off the CIFAR-10 range test")

_CLR_T1 = "CLR Table 1"
for _net, _label, _pol, _iters, _acc in [
    ("cifar10", "CIFAR-10 (Caffe cifar10_full)", "fixed", 70_000, 81.4),
    ("cifar10", "CIFAR-10 (Caffe cifar10_full)", "triangular2", 25_000, 81.4),
    ("cifar10", "CIFAR-10 (Caffe cifar10_full)", "decay", 25_000, 78.5),
    ("cifar10", "CIFAR-10 (Caffe cifar10_full)", "exp", 70_000, 79.1),
    ("cifar10", "CIFAR-10 (Caffe cifar10_full)", "exp_range", 42_000, 82.2),
    ("alexnet", "AlexNet (ImageNet)", "fixed", 400_000, 58.0),
    ("alexnet", "AlexNet (ImageNet)", "triangular2", 400_000, 58.4),
    ("googlenet", "GoogLeNet (ImageNet)", "fixed", 420_000, 63.0),
    ("googlenet", "GoogLeNet (ImageNet)", "triangular2", 420_000, 64.4),
]:
    _add(f"clr.table1.{_net}.{_pol}", _acc, "%", P, _CLR_T1, "§1",
         context={"net": _label, "policy": _pol, "iterations": _iters})

_CLR_T3 = "CLR Table 3"
_T3_LR = {"nesterov": ("Nesterov", Range(0.001, 0.006)), "adam": ("Adam", Range(0.0005, 0.002)),
          "rmsprop": ("RMSprop", Range(0.0001, 0.0003)), "adagrad": ("AdaGrad", Range(0.003, 0.035)),
          "adadelta": ("AdaDelta", Range(0.01, 0.1))}
_RMS_NOTE = ("FACTS lists RMSprop as '75.2 / 72.8 / 75.1' without labels; read in the order of "
             "the Adam row (fixed 70k, triangular 25k, triangular 70k)")
_ADADELTA_NOTE = ("FACTS lists AdaDelta as '67.3 / 67.3' without labels or iterations; read as "
                  "fixed / triangular")
for _opt, _pol, _iters, _acc, _note in [
    ("nesterov", "fixed", 70_000, 82.1, ""),
    ("nesterov", "triangular", 25_000, 81.3, ""),
    ("adam", "fixed", 70_000, 81.4, ""),
    ("adam", "triangular", 25_000, 79.8, ""),
    ("adam", "triangular", 70_000, 81.1, ""),
    ("rmsprop", "fixed", 70_000, 75.2, _RMS_NOTE),
    ("rmsprop", "triangular", 25_000, 72.8, _RMS_NOTE),
    ("rmsprop", "triangular", 70_000, 75.1, _RMS_NOTE),
    ("adagrad", "fixed", None, 74.6, "iterations not stated in FACTS"),
    ("adagrad", "triangular", 25_000, 76.0, ""),
    ("adadelta", "fixed", None, 67.3, _ADADELTA_NOTE),
    ("adadelta", "triangular", None, 67.3, _ADADELTA_NOTE),
]:
    _name, _lr = _T3_LR[_opt]
    _suffix = f".{_iters // 1000}k" if _iters is not None else ""
    _add(f"clr.table3.{_opt}.{_pol}{_suffix}", _acc, "%", P, _CLR_T3, "§1", note=_note,
         context={"optimizer": _name, "lr": _lr, "policy": _pol, "iterations": _iters,
                  "dataset": "CIFAR-10"})

CLR_BASELINE_SOLVER = _register(Settings(
    "CLR_BASELINE_SOLVER", "clr.solver.baseline",
    {"net": "Caffe cifar10_full", "policy": "multistep", "base_lr": 0.001, "momentum": 0.9,
     "weight_decay": 0.004, "gamma": 0.1, "steps": (60_000, 65_000), "max_iter": 70_000},
    tags=P, source=_CLR_T1, section="§1",
    note="CIFAR-10 baseline ('fixed' row of CLR Table 1): ÷10 at 60k and 65k, stop at 70k",
    units={"steps": "iterations", "max_iter": "iterations"}))

CLR_TRIANGULAR2_SOLVER = _register(Settings(
    "CLR_TRIANGULAR2_SOLVER", "clr.solver.triangular2",
    {"policy": "triangular2",
     "stage1": {"base_lr": 0.001, "max_lr": 0.005, "stepsize": 2000, "until_iter": 16_000},
     "stage2": {"base_lr": 0.0001, "max_lr": 0.0005, "stepsize": 1000, "until_iter": 22_000},
     "stage3": {"base_lr": 0.00001, "max_lr": 0.00005, "stepsize": 500, "until_iter": 25_000}},
    tags=P, source=_CLR_T1, section="§1",
    note="the CIFAR-10 triangular2 run of CLR Table 1 (25k iterations), in three stages",
    units={f"stage{i}.{k}": "iterations" for i in (1, 2, 3) for k in ("stepsize", "until_iter")}))

CLR_EXP_SOLVER = _register(Settings(
    "CLR_EXP_SOLVER", "clr.solver.exp", {"gamma": 0.99994, "policies": ("exp", "exp_range")},
    tags=P, source=_CLR_T1, section="§1", note="gamma of the exp and exp_range rows of CLR Table 1"))

# ---- §2 Super-convergence: headline runs ----------------------------------------------------

_SC = "Super-Convergence"
_CFG = "authors' config (super-convergence repo)"
HEADLINE_CLR_SOLVER = _register(Settings(
    "HEADLINE_CLR_SOLVER", "sc.solver.clr",
    {"policy": "triangular", "cycles": 1, "base_lr": 0.1, "max_lr": 3.0, "final_lr": 0.1,
     "stepsize": 5000, "max_iter": 10_000, "momentum": 0.9, "momentum_policy": "constant",
     "weight_decay": 1e-4, "optimizer": "SGD", "batch_size": 1000, "gpus": 8,
     "batch_per_gpu": 125, "bn_moving_average_fraction": 0.95},
    tags=D, source=_CFG, section="§2",
    note="ResNet-56 on CIFAR-10: one triangular cycle 0.1 → 3.0 → 0.1",
    units={"stepsize": "iterations", "max_iter": "iterations", "batch_size": "images"}))

HEADLINE_PC_SOLVER = _register(Settings(
    "HEADLINE_PC_SOLVER", "sc.solver.pc",
    {"policy": "multistep", "base_lr": 0.35, "gamma": 0.1, "steps": (50_000, 70_000),
     "max_iter": 80_000, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 1000,
     "bn_moving_average_fraction": 0.999},
    tags=D, source=_CFG, section="§2",
    note="ResNet-56 on CIFAR-10, piecewise-constant LR (PC-LR): 0.35, ×0.1 at 50k and 70k; "
         "FACTS does not name the optimizer of this run",
    units={"steps": "iterations", "max_iter": "iterations", "batch_size": "images"}))

RANGE_TEST = _register(Settings(
    "RANGE_TEST", "sc.range_test",
    {"policy": "linear", "lr_start": 0.0, "lr_end": 3.0, "iterations": (5000, 20_000, 100_000),
     "test_interval": 100, "bn_moving_average_fraction": 0.95},
    tags=D, source=_CFG, section="§2",
    note="LR range test: linear 0 → 3 over 5k, 20k or 100k iterations, accuracy every 100",
    units={"iterations": "iterations", "test_interval": "iterations"}))

BN_MOVING_AVERAGE = _register(Settings(
    "BN_MOVING_AVERAGE", "sc.bn_moving_average",
    {"pc_lr": 0.999, "clr": 0.95, "range_test": 0.95},
    tags=D, source=_CFG, section="§2", note="Caffe BatchNorm moving_average_fraction"))

_SC_HEAD = "Super-Convergence (headline run)"
_LOGS_AGREE = "S, logs agree"
_add("sc.headline.clr_acc", 92.4, "%", (S, L), _SC_HEAD, "§2", tag_text=_LOGS_AGREE,
     context={"policy": "CLR", "iterations": 10_000})
_add("sc.headline.pc_acc", 91.2, "%", (S, L), _SC_HEAD, "§2", tag_text=_LOGS_AGREE,
     context={"policy": "PC-LR", "iterations": 80_000})
_add("sc.headline.clr_iters", 10_000, "iterations", (S, L), _SC_HEAD, "§2", tag_text=_LOGS_AGREE)
_add("sc.headline.pc_iters", 80_000, "iterations", (S, L), _SC_HEAD, "§2", tag_text=_LOGS_AGREE,
     approx=True)

_FIG1B = "Super-Convergence Fig. 1b"
_add("sc.fig1b.acc_6k", 92.1, "%", S, _FIG1B, "§2",
     note="one cycle up to LR 3 in 6k iterations", context={"max_lr": 3.0, "iterations": 6000})
_add("sc.fig1b.iterations", Range(2000, 20_000), "iterations", S, _FIG1B, "§2",
     note="cycle lengths tried; they give sc.fig1b.acc")
_add("sc.fig1b.acc", Range(89.7, 92.7), "%", S, _FIG1B, "§2",
     note="final accuracy over cycle lengths 2k..20k iterations")

_RD = "Super-Convergence Table 1 / Fig. 4a"
REDUCED_DATA_SAMPLES: Tuple[int, ...] = (50_000, 40_000, 30_000, 20_000, 10_000)
for _n, _pc, _clr in [(50_000, 91.2, 92.4), (40_000, 89.1, 91.1), (30_000, 85.7, 89.6),
                      (20_000, 82.7, 87.9), (10_000, 71.4, 80.6)]:
    _add(f"sc.reduced_data.{_n}.pc", _pc, "%", S, _RD, "§2",
         context={"train_samples": _n, "policy": "PC-LR"})
    _add(f"sc.reduced_data.{_n}.clr", _clr, "%", (S, L), _RD, "§2", tag_text="S; logs L agree",
         context={"train_samples": _n, "policy": "CLR"})

_DEPTH = "Super-Convergence Fig. 4b"
for _net, _clr, _pc in [("resnet20", 90.4, 88.6), ("resnet110", 92.1, 91.0)]:
    _add(f"sc.depth.{_net}.clr", _clr, "%", (S, L), _DEPTH, "§2", tag_text="S; logs L agree",
         context={"policy": "CLR"})
    _add(f"sc.depth.{_net}.pc", _pc, "%", (S, L), _DEPTH, "§2", tag_text="S; logs L agree",
         context={"policy": "PC-LR"})

_LOGS = "authors' Caffe logs (no paper table found)"
_add("sc.logs.cifar100.clr", 68.2, "%", L, _LOGS, "§2",
     context={"dataset": "CIFAR-100", "net": "ResNet-56", "policy": "CLR"})
_add("sc.logs.cifar100.pc", 59.3, "%", L, _LOGS, "§2",
     context={"dataset": "CIFAR-100", "net": "ResNet-56", "policy": "PC-LR"})
for _m, _acc in [("0.95", 90.74), ("0.9", 92.44), ("0.85", 92.29), ("0.8", 91.86)]:
    _add(f"sc.logs.momentum.{_m}", _acc, "%", L, _LOGS, "§2",
         context={"policy": "CLR", "momentum": float(_m)})
_add("sc.logs.wd.1e-3", "diverged", "", L, _LOGS, "§2",
     note="the run diverged; its best accuracy is sc.logs.wd.1e-3.max",
     context={"policy": "CLR", "weight_decay": 1e-3})
_add("sc.logs.wd.1e-3.max", 65.9, "%", L, _LOGS, "§2", note="best accuracy before diverging",
     context={"policy": "CLR", "weight_decay": 1e-3})
for _wd, _acc in [("1e-4", 92.44), ("1e-5", 88.28), ("1e-6", 87.25)]:
    _add(f"sc.logs.wd.{_wd}", _acc, "%", L, _LOGS, "§2",
         context={"policy": "CLR", "weight_decay": float(_wd)})
_add("sc.logs.nesterov.clr", 92.47, "%", L, _LOGS, "§2",
     context={"optimizer": "Nesterov", "policy": "CLR"})
_add("sc.logs.nesterov.pc", 90.33, "%", L, _LOGS, "§2",
     context={"optimizer": "Nesterov", "policy": "PC-LR"})
_OPT_NOTE = "FACTS does not say which LR policy this run used (listed after the CLR runs)"
_add("sc.logs.adam", 87.15, "%", L, _LOGS, "§2", note=_OPT_NOTE + "; best 90.72",
     context={"optimizer": "Adam"})
_add("sc.logs.adam.max", 90.72, "%", L, _LOGS, "§2", note="best accuracy during the run",
     context={"optimizer": "Adam"})
_add("sc.logs.adagrad", 83.74, "%", L, _LOGS, "§2", note=_OPT_NOTE,
     context={"optimizer": "AdaGrad"})
_add("sc.logs.adadelta", 70.97, "%", L, _LOGS, "§2", note=_OPT_NOTE,
     context={"optimizer": "AdaDelta"})
_add("sc.batch_size.total_batches", (256, 512, 1000, 1536), "images", D,
     "authors' config (batch-size runs, Fig. 5)", "§2",
     note="no accuracy numbers were found for the batch-size figure (Fig. 5): the book reports "
          "its own")

# ---- §3 The 1cycle policy and cyclical momentum --------------------------------------------

_add("onecycle.definition.min_lr_ratio.superconv", Range(3, 4), "", S,
     "Super-Convergence (1cycle definition)", "§3",
     note="min LR ≈ max LR / this; one cycle shorter than the run, and for the remaining "
          "iterations the LR falls several orders of magnitude below the initial LR")
_add("onecycle.definition.min_lr_ratio.1803", Range(10, 20), "", S,
     "1803.09820 (1cycle definition)", "§3", note="min LR ≈ max LR / this, for a single cycle")

ONE_CYCLE_CAFFE_SHAPE = _register(Settings(
    "ONE_CYCLE_CAFFE_SHAPE", "onecycle.caffe_shape",
    {"phase1": "linear base_lr -> max_lr over ss iterations",
     "phase2": "linear max_lr -> 0 over the next ss iterations",
     "phase3": "flat at base_lr / 1000 until the end",
     "tail_divisor": 1000,
     "seen": ((0.1, 1.0, 1e-4), (0.05, 1.0, 5e-5), (0.08, 0.8, 8e-5))},
    tags=(D, L), tag_text="D/L", source="authors' Caffe 1cycle, reconstructed from logs",
    section="§3",
    notes={"seen": "(base_lr, max_lr, tail_lr) triples seen in the logs; the 0.05 one is ImageNet"}))

CYCLICAL_MOMENTUM = _register(Settings(
    "CYCLICAL_MOMENTUM", "onecycle.cyclical_momentum",
    {"max_momentum": 0.95, "min_momentum": 0.85,
     "shape": "0.95 -> 0.85 while the LR rises, back to 0.95 while it falls",
     "caffe_tail": "the tail starts a half-amplitude second dip",
     "sensitivity": "results barely depend on the minimum"},
    tags=(S, L), tag_text="S, confirmed by logs L", source="Super-Convergence / 1803.09820",
    section="§3"))

SGD_UPDATE_RULES = _register(Settings(
    "SGD_UPDATE_RULES", "onecycle.sgd_update",
    {"caffe": "v = m*v + lr*(g + wd*w); w -= v", "pytorch": "v = m*v + g; w -= lr*v"},
    tags=D, source="Caffe / PyTorch source", section="§3",
    note="Caffe puts the LR inside the momentum buffer, PyTorch does not: they differ while "
         "the LR changes every step"))

#: torch's ``OneCycleLR`` defaults (they follow fastai). FACTS §3 gives them without a tag and
#: they are no claim of the papers, so they are not registered as facts; ``three_phase=True``
#: is the paper-like shape but not the Caffe shape (:data:`ONE_CYCLE_CAFFE_SHAPE`).
TORCH_ONE_CYCLE_DEFAULTS: Mapping[str, Any] = types.MappingProxyType({
    "phases": 2, "anneal_strategy": "cos", "div_factor": 25.0, "final_div_factor": 1e4,
    "pct_start": 0.3, "base_momentum": 0.85, "max_momentum": 0.95, "three_phase": False})

_1C = "Super-Convergence v3 Table 2 = 1803.09820 Table 2"
ONE_CYCLE_NETS: Mapping[str, str] = types.MappingProxyType({
    "cifar10_wrn": "CIFAR-10 wide ResNet", "cifar10_densenet": "CIFAR-10 DenseNet",
    "mnist_lenet": "MNIST LeNet", "cifar100_resnet56": "CIFAR-100 ResNet-56"})
# (net, row id, policy, lr, lr stepsize [epochs], momentum, CM stepsize [epochs], WD, epochs,
#  acc, std)
_ONE_CYCLE_ROWS = [
    ("cifar10_wrn", "step0.1.100ep", "step", 0.1, None, 0.9, None, 1e-4, 100, 86.7, 0.6),
    ("cifar10_wrn", "step0.1.200ep", "step", 0.1, None, 0.9, None, 1e-4, 200, 88.7, 0.6),
    ("cifar10_wrn", "step0.1.800ep", "step", 0.1, None, 0.9, None, 1e-4, 800, 90.3, 1.0),
    ("cifar10_wrn", "0.1-0.5/12", "1cycle", Range(0.1, 0.5), 12, Range(0.95, 0.85), 12, 1e-4, 25,
     87.3, 0.8),
    ("cifar10_wrn", "0.1-1.0/23", "1cycle", Range(0.1, 1.0), 23, Range(0.95, 0.85), 23, 1e-4, 50,
     91.3, 0.1),
    ("cifar10_wrn", "0.1-1.0/45", "1cycle", Range(0.1, 1.0), 45, Range(0.95, 0.85), 45, 1e-4, 100,
     91.9, 0.2),
    ("cifar10_densenet", "step0.1.100ep", "step", 0.1, None, 0.9, None, 1e-4, 100, 91.3, 0.2),
    ("cifar10_densenet", "step0.1.200ep", "step", 0.1, None, 0.9, None, 1e-4, 200, 92.1, 0.2),
    ("cifar10_densenet", "step0.1.400ep", "step", 0.1, None, 0.9, None, 1e-4, 400, 92.7, 0.2),
    ("cifar10_densenet", "0.1-4/22", "1cycle", Range(0.1, 4), 22, Range(0.9, 0.85), 22, 1e-6,
     50, 91.7, 0.3),
    ("cifar10_densenet", "0.1-4/45", "1cycle", Range(0.1, 4), 45, Range(0.9, 0.85), 45, 1e-6,
     100, 92.2, 0.2),
    ("cifar10_densenet", "0.1-4/70", "1cycle", Range(0.1, 4), 70, Range(0.9, 0.85), 70, 1e-6,
     150, 92.8, 0.1),
    ("mnist_lenet", "inv0.01.85ep", "inv", 0.01, None, 0.9, None, 5e-4, 85, 99.03, 0.04),
    ("mnist_lenet", "step0.01.85ep", "step", 0.01, None, 0.9, None, 5e-4, 85, 99.00, 0.04),
    ("mnist_lenet", "0.01-0.1/5", "1cycle", Range(0.01, 0.1), 5, Range(0.95, 0.8), 5, 5e-4, 12,
     99.25, 0.03),
    ("mnist_lenet", "0.02-0.2/40", "1cycle", Range(0.02, 0.2), 40, Range(0.95, 0.8), 40, 5e-4, 85,
     99.35, 0.03),
    ("cifar100_resnet56", "step0.005.100ep", "step", 0.005, None, 0.9, None, 1e-4, 100, 60.8, 0.4),
    ("cifar100_resnet56", "step0.005.200ep", "step", 0.005, None, 0.9, None, 1e-4, 200, 61.6, 0.9),
    ("cifar100_resnet56", "step0.005.400ep", "step", 0.005, None, 0.9, None, 1e-4, 400, 61.0, 0.2),
    ("cifar100_resnet56", "0.1-0.5/12", "1cycle", Range(0.1, 0.5), 12, Range(0.95, 0.85), 12,
     1e-4, 25, 65.4, 0.2),
    ("cifar100_resnet56", "0.1-0.5/23", "1cycle", Range(0.1, 0.5), 23, Range(0.95, 0.85), 23,
     1e-4, 50, 66.4, 0.6),
    ("cifar100_resnet56", "0.09-0.9/45", "1cycle", Range(0.09, 0.9), 45, Range(0.95, 0.85), 45,
     1e-4, 100, 69.0, 0.4),
]
for (_net, _row, _pol, _lr, _lss, _m, _mss, _wd, _ep, _acc, _std) in _ONE_CYCLE_ROWS:
    _add(f"onecycle.table.{_net}.{_row}", _acc, "%", S, _1C, "§3", std=_std,
         context={"net": ONE_CYCLE_NETS[_net], "policy": _pol, "lr": _lr,
                  "lr_stepsize_epochs": _lss, "momentum": _m, "cm_stepsize_epochs": _mss,
                  "weight_decay": _wd, "epochs": _ep, "batch_size": 512},
         note="SS = stepsize in epochs (two steps make the cycle); ± over runs")

_MS = "1803.09820 Table 1"
_MS_CTX = {"net": "ResNet-56", "dataset": "CIFAR-10", "batch_size": 512, "epochs": 95}
for _lrid, _lr, _lss, _rows in [
    ("lr0.08-0.8/41", Range(0.08, 0.8), 41,
     [("cm0.95-0.8", Range(0.95, 0.8), 92.0), ("cm0.9-1.0", Range(0.9, 1.0), 91.4),
      ("m0.85", 0.85, 90.8), ("m0.9", 0.9, 91.4), ("m0.95", 0.95, 92.1)]),
    ("lr0.1", 0.1, None,
     [("cm0.95-0.85", Range(0.95, 0.85), 89.1), ("cm0.9-1.0", Range(0.9, 1.0), 88.1),
      ("m0.85", 0.85, 87.8), ("m0.9", 0.9, 88.1), ("m0.95", 0.95, 88.8)]),
]:
    for _mid, _m, _acc in _rows:
        _add(f"onecycle.momentum_study.{_lrid}.{_mid}", _acc, "%", S, _MS, "§3",
             context=dict(_MS_CTX, lr=_lr, lr_policy="1cycle" if _lss else "fixed",
                          lr_stepsize_epochs=_lss, momentum=_m,
                          momentum_policy="cyclical" if isinstance(_m, Range) else "constant"))

_BS = "1803.09820 (batch-size study)"
for _b, _ep in [(128, 48), (256, 70), (512, 95), (1024, 116)]:
    _add(f"onecycle.batch_study.{_b}.epochs", _ep, "epochs", S, _BS, "§3",
         note="epochs chosen for about equal wall time", context={"batch_size": _b})
_add("onecycle.batch_study.recommended_batch", 512, "images", S, _BS, "§3",
     note="total batch size recommended")

# ---- §4 ImageNet ----------------------------------------------------------------------------

_IN = "Super-Convergence Fig. 7"
IMAGENET = _register(Settings(
    "IMAGENET", "imagenet.solver",
    {"one_cycle": {"base_lr": 0.05, "max_lr": 1.0, "tail_lr": 5e-5},
     "epochs": 20, "momentum": Range(0.95, 0.85), "nesterov": True, "weight_decay": 3e-6,
     "baseline": {"policy": "step", "gamma": 0.94, "step_epochs": 2, "epochs": 130},
     "resnet50_log": {"stepsize": 95_000, "max_iter": 200_000, "batch_size": 128},
     "inception_resnet_v2_log": {"stepsize": 108_000, "max_iter": 220_000, "batch_size": 112}},
    tags=S, tag_text="S", source=_IN, section="§4",
    item_tags={"one_cycle": (D, L), "resnet50_log": (D, L), "inception_resnet_v2_log": (D, L)},
    note="1cycle 0.05 → 1.0 → 5e-5 in ~20 epochs with Nesterov momentum 0.95–0.85 and WD "
         "reduced to 3e-6; the baseline multiplies the LR by 0.94 every 2 epochs for 130 "
         "epochs. Tags: the LR shape and the log settings are D/L, the rest S",
    approx=("epochs",),
    units={"epochs": "epochs", "baseline.epochs": "epochs", "baseline.step_epochs": "epochs",
           "resnet50_log.stepsize": "iterations", "resnet50_log.max_iter": "iterations",
           "resnet50_log.batch_size": "images", "inception_resnet_v2_log.stepsize": "iterations",
           "inception_resnet_v2_log.max_iter": "iterations",
           "inception_resnet_v2_log.batch_size": "images"}))

_add("imagenet.resnet50.baseline", 63.7, "%", S, _IN, "§4",
     context={"net": "ResNet-50", "epochs": 130, "policy": "step ×0.94 every 2 epochs"})
_add("imagenet.resnet50.1cycle", Range(67.3, 67.6), "%", S, _IN, "§4", approx=True,
     context={"net": "ResNet-50", "epochs": 20, "policy": "1cycle", "weight_decay": 3e-6})
_add("imagenet.inception_resnet_v2.baseline", Range(67.6, 68.0), "%", S, _IN, "§4",
     context={"net": "Inception-ResNet-v2", "policy": "baseline"})
_add("imagenet.inception_resnet_v2.1cycle", Range(73.8, 74.0), "%", S, _IN, "§4", approx=True,
     context={"net": "Inception-ResNet-v2", "policy": "1cycle"},
     note="WD of this run not stated separately (the 1cycle runs reduced WD to 3e-6)")
_add("imagenet.inception_resnet_v2.1cycle_wd1e-6", Range(72.3, 73.0), "%", S, _IN, "§4",
     approx=True, context={"net": "Inception-ResNet-v2", "policy": "1cycle",
                           "weight_decay": 1e-6})
_add("imagenet.inception_resnet_v2.1cycle_wd1e-5", "unstable", "", S, _IN, "§4",
     context={"net": "Inception-ResNet-v2", "policy": "1cycle", "weight_decay": 1e-5})

# ---- §5 Hessian-free estimate ---------------------------------------------------------------

_HF = "Super-Convergence (simplified Hessian-free estimate)"
HESSIAN_FREE = _register(Settings(
    "HESSIAN_FREE", "hf.method",
    {"secant": "eps* ≈ (θ_{i+1} - θ_i) / (∇f(θ_{i+1}) - ∇f(θ_i))",
     "sgd_gradient_difference": "∇f(θ_{i+1}) - ∇f(θ_i) = (2θ_{i+1} - θ_i - θ_{i+2}) / eps",
     "per_weight": "eps* = eps * (θ_{i+1} - θ_i) / (2θ_{i+1} - θ_i - θ_{i+2})",
     "global": "eps* = eps * Σ|θ2 - θ1| / Σ|2θ2 - θ1 - θ3|",
     "parameters": "all (weights and biases)", "snapshots": 3, "inc": (1, 10),
     "smoothing": "m ← 0.9·m + 0.1·eps*", "smoothing_beta": 0.9, "m0": 0.1,
     "ignores": "momentum (0.9) and weight decay",
     "scripts": ("L2TermComputation3.py", "L2TermComputation4.py"),
     "cross_check": "top Hessian eigenvalue by power iteration (as PyHessian does): GD "
                    "stability bound 2/λ_max"},
    tags=D, source="authors' code (L2TermComputation3/4.py)", section="§5",
    item_tags={"secant": S, "sgd_gradient_difference": (S, D), "per_weight": (S, D),
               "cross_check": S},
    units={"inc": "iterations"},
    notes={"inc": "snapshots 1 or 10 iterations apart",
           "per_weight": "eps = the LR actually used",
           "cross_check": "a natural cross-check none of the public tools does (FACTS §5, "
                          "untagged: our suggestion, not the authors')"}))

_add("hf.reported.range", Range(2, 6), "", S, _HF, "§5", approx=True,
     note="i.e. large LRs are 'optimal' ⇒ small curvature ⇒ flat, wide minima",
     context={"net": "ResNet-56", "dataset": "CIFAR-10", "lr": Range(0.1, 3.0),
              "lr_ramp_iterations": 5000})
_add("hf.reported.iterations", 300, "iterations", S, _HF, "§5", approx=True,
     note="the estimate lies around 2–6 during the first ~300 iterations")

# ---- §6 Architecture and data ---------------------------------------------------------------

ARCHITECTURE = _register(Settings(
    "ARCHITECTURE", "arch.resnet",
    {"stem": {"kernel": 3, "channels": 16, "stride": 1},
     "stages": 3, "widths": (16, 32, 64),
     "blocks_per_stage": {"resnet20": 3, "resnet56": 9, "resnet110": 18},
     "block": "conv-BN-ReLU-conv-BN, add shortcut, ReLU",
     "shortcut": "stride-2 average pooling, then zero-channel concatenation "
                 "(parameter-free, 'option A'-like)",
     "head": "global average pool + FC", "num_classes": 10,
     "init_conv": "He (msra)", "init_fc": "Xavier", "weight_decay_on_bn_and_fc": True},
    tags=D, source="authors' Caffe prototxt (super-convergence repo)", section="§6",
    note="ResNet-56: 3×3 stem with 16 channels, 3 stages × 9 basic blocks (16/32/64), GAP + FC-10"))

DATA = _register(Settings(
    "DATA", "arch.data",
    {"augmentation": "random horizontal flip only", "pad_and_crop": False,
     "normalization": "input minus the mean image", "shuffle": False},
    tags=D, source="authors' Caffe prototxt (super-convergence repo)", section="§6",
    notes={"shuffle": "Caffe read the data in a fixed order without shuffling"}))

# ---- §7 Not found ---------------------------------------------------------------------------

_NOT_FOUND = (
    NotFound("sc.v3_text", "the primary Super-Convergence v3 text"),
    NotFound("sc.batch_size.fig5", "accuracy numbers of the batch-size figure (Fig. 5)",
             hint="the runs used total batch 256 / 512 / 1000 / 1536 [D]",
             related_keys=("sc.batch_size.total_batches",)),
    NotFound("sc.dropout", "the numbers of the dropout runs"),
    NotFound("onecycle.table.cifar10_wrn.step0.1.400ep",
             "the wide-ResNet 400-epoch baseline value of the 1cycle table",
             hint="a second-hand copy says 98.8, surely a typo (do not use)",
             related_keys=("onecycle.table.cifar10_wrn.step0.1.200ep",
                           "onecycle.table.cifar10_wrn.step0.1.800ep")),
    NotFound("sc.logs.paper_table", "a paper table for the CIFAR-100, momentum, weight-decay and "
             "optimizer runs (only the authors' logs [L] have them)",
             related_keys=("sc.logs.cifar100.clr", "sc.logs.momentum.0.9", "sc.logs.wd.1e-4")),
)
_NOT_FOUND_KEYS = {n.key: n for n in _NOT_FOUND}

del P, D, L, S

# ---------------------------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------------------------


def get(key: str) -> Fact:
    """The fact under ``key``; a ``KeyError`` names close matches (or says it was not found)."""
    try:
        return _FACTS[key]
    except KeyError:
        pass
    if key in _NOT_FOUND_KEYS:
        n = _NOT_FOUND_KEYS[key]
        raise KeyError(f"{key!r}: FACTS says this was not found ({n.what}"
                       f"{'; ' + n.hint if n.hint else ''}); see paper.not_found()")
    below = [k for k in _FACTS if k.startswith(key + ".")]
    close = difflib.get_close_matches(key, list(_FACTS), n=5, cutoff=0.6)
    msg = f"no paper fact {key!r}"
    if below:
        msg += f"; it is a prefix of {len(below)} facts (use paper.facts({key!r}))"
    if close:
        msg += "; did you mean " + ", ".join(repr(c) for c in close) + "?"
    if not below and not close:
        groups = sorted({k.split(".")[0] for k in _FACTS})
        msg += f"; keys start with one of {groups}"
    raise KeyError(msg)


def keys(prefix: str = "") -> List[str]:
    """The keys under ``prefix`` (whole dotted parts: ``"sc.depth"`` matches ``sc.depth.*``)."""
    if not prefix:
        return list(_FACTS)
    p = prefix.rstrip(".")
    out = [k for k in _FACTS if k == p or k.startswith(p + ".")]
    if not out:
        close = difflib.get_close_matches(p, sorted({".".join(k.split(".")[:n]) for k in _FACTS
                                                     for n in (1, 2, 3)}), n=5, cutoff=0.5)
        raise KeyError(f"no paper facts under {prefix!r}"
                       + (f"; did you mean {', '.join(map(repr, close))}?" if close else ""))
    return out


def facts(prefix: str = "") -> List[Fact]:
    """The facts under ``prefix``, in FACTS.md order (all of them for ``""``)."""
    return [_FACTS[k] for k in keys(prefix)]


def _pd():
    import pandas as pd  # noqa: PLC0415 - only the table functions need pandas
    return pd


def table(prefix: str = "") -> "Any":
    """A DataFrame of the facts under ``prefix``: key, value, std, unit, tags, source, note."""
    pd = _pd()
    rows = [f.as_dict() for f in facts(prefix)]
    df = pd.DataFrame(rows, columns=["key", "value", "std", "unit", "tags", "source", "note"])
    df["std"] = df["std"].astype(float)
    return df


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if v is None:
        return "not found"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 1000 else str(v)
    if isinstance(v, float):
        if v != 0 and abs(v) < 1e-3:
            m, e = f"{v:e}".split("e")
            m = m.rstrip("0").rstrip(".")
            return f"{m}e{int(e)}"
        if v.is_integer() and abs(v) >= 1000:
            return f"{int(v):,}"
        return repr(v)
    if isinstance(v, Range):
        return f"{_fmt(v.start)}–{_fmt(v.stop)}"
    if isinstance(v, tuple):
        if any(isinstance(x, tuple) for x in v):
            return "; ".join("(" + ", ".join(_fmt(y) for y in x) + ")" if isinstance(x, tuple)
                             else _fmt(x) for x in v)
        return " / ".join(_fmt(x) for x in v)
    return str(v)


def cite(fact: "Fact | str", *, source: bool = True) -> str:
    """A table-cell label: ``'92.4 % [S, logs agree] (Super-Convergence (headline run); FACTS §2)'``.

    ``fact`` may be a key. ``source=False`` drops the parenthesis.
    """
    f = get(fact) if isinstance(fact, str) else fact
    s = ("~" if f.approx else "") + _fmt(f.value)
    if f.std is not None:
        s += f" ± {_fmt(f.std)}"
    if f.unit and f.value is not None:
        s += f" {f.unit}"
    s += f" [{f.label}]"
    if source:
        where = f.source
        if f.section and f"FACTS {f.section}" not in where:
            where += f"; FACTS {f.section}"
        s += f" ({where})"
    return s


# ---------------------------------------------------------------------------------------------
# Ready-made tables
# ---------------------------------------------------------------------------------------------


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def clr_table1() -> "Any":
    """CLR Table 1: dataset/net, policy, iterations, acc %, tags, key (9 rows)."""
    pd = _pd()
    rows = [{"dataset/net": f.context["net"], "policy": f.context["policy"],
             "iterations": f.context["iterations"], "acc %": f.value, "tags": f.label,
             "key": f.key} for f in facts("clr.table1")]
    return pd.DataFrame(rows)


def clr_table3() -> "Any":
    """CLR Table 3 (CIFAR-10, adaptive optimizers; 'fixed' uses the lower LR bound).

    Columns optimizer, LR range, policy, iterations (nullable: not stated for some rows),
    acc %, tags, key, note (12 rows).
    """
    pd = _pd()
    rows = [{"optimizer": f.context["optimizer"], "LR range": _fmt(f.context["lr"]),
             "policy": f.context["policy"], "iterations": f.context["iterations"],
             "acc %": f.value, "tags": f.label, "key": f.key, "note": f.note}
            for f in facts("clr.table3")]
    df = pd.DataFrame(rows)
    df["iterations"] = df["iterations"].astype("Int64")
    return df


def reduced_data_table() -> "Any":
    """Super-Convergence Table 1 / Fig. 4a: samples, PC-LR %, CLR %, gap, tags, keys (5 rows)."""
    pd = _pd()
    rows = []
    for n in REDUCED_DATA_SAMPLES:
        pc, clr = get(f"sc.reduced_data.{n}.pc"), get(f"sc.reduced_data.{n}.clr")
        rows.append({"samples": n, "PC-LR %": pc.value, "CLR %": clr.value,
                     "gap": round(clr.value - pc.value, 1),
                     "tags": f"PC-LR: {pc.label}; CLR: {clr.label}",
                     "PC-LR key": pc.key, "CLR key": clr.key})
    return pd.DataFrame(rows)


def depth_table(include_resnet56: bool = True) -> "Any":
    """Super-Convergence Fig. 4b: net, PC-LR %, CLR %, tags, keys, note.

    ResNet-56 (the headline run, §2) is added between -20 and -110 unless
    ``include_resnet56=False``.
    """
    pd = _pd()
    spec = [("ResNet-20", "sc.depth.resnet20.pc", "sc.depth.resnet20.clr", "")]
    if include_resnet56:
        spec.append(("ResNet-56", "sc.headline.pc_acc", "sc.headline.clr_acc",
                     "the headline run (FACTS §2)"))
    spec.append(("ResNet-110", "sc.depth.resnet110.pc", "sc.depth.resnet110.clr", ""))
    rows = []
    for net, kp, kc, note in spec:
        pc, clr = get(kp), get(kc)
        rows.append({"net": net, "PC-LR %": pc.value, "CLR %": clr.value,
                     "gap": round(clr.value - pc.value, 1), "tags": clr.label,
                     "PC-LR key": kp, "CLR key": kc, "note": note})
    return pd.DataFrame(rows)


def authors_logs() -> "Any":
    """The authors' Caffe logs [L] (ResNet-56; no paper table): one row per run.

    Columns experiment, setting, policy, acc % (NaN for the diverged run), max % (best during
    the run, where FACTS gives it), outcome ("final" / "diverged"), tags, key (15 rows).
    """
    pd = _pd()
    rows = []

    def row(exp: str, setting: str, key: str, policy: str = "") -> None:
        f = get(key)
        mx = _FACTS.get(key + ".max")
        rows.append({"experiment": exp, "setting": setting,
                     "policy": policy or f.context.get("policy", ""),
                     "acc %": _num(f.value), "max %": mx.value if mx else math.nan,
                     "outcome": f.value if isinstance(f.value, str) else "final",
                     "tags": f.label, "key": key})

    row("CIFAR-100", "ResNet-56", "sc.logs.cifar100.clr")
    row("CIFAR-100", "ResNet-56", "sc.logs.cifar100.pc")
    for m in ("0.95", "0.9", "0.85", "0.8"):
        row("momentum", f"momentum {m}", f"sc.logs.momentum.{m}")
    for wd in ("1e-3", "1e-4", "1e-5", "1e-6"):
        row("weight decay", f"WD {wd}", f"sc.logs.wd.{wd}")
    row("optimizer", "Nesterov", "sc.logs.nesterov.clr")
    row("optimizer", "Nesterov", "sc.logs.nesterov.pc")
    for opt in ("adam", "adagrad", "adadelta"):
        row("optimizer", get(f"sc.logs.{opt}").context["optimizer"], f"sc.logs.{opt}",
            policy="not stated")
    df = pd.DataFrame(rows)
    df["max %"] = df["max %"].astype(float)
    return df


def _lr_label(c: Mapping[str, Any]) -> str:
    if c["policy"] == "1cycle":
        return f"{_fmt(c['lr'])} / {c['lr_stepsize_epochs']}"
    return f"{_fmt(c['lr'])} {c['policy']}"


def one_cycle_table() -> "Any":
    """The 1cycle table (SC v3 Table 2 = 1803.09820 Table 2; total batch 512), 22 rows.

    Columns dataset/net, policy, policy/LR (as printed: "0.1–1.0 / 23" = LR range / stepsize
    in epochs, or "0.1 step"), CM ("0.95–0.85 / 23" or constant "0.9"), WD, epochs, acc %,
    std, tags, key.
    """
    pd = _pd()
    rows = []
    for f in facts("onecycle.table"):
        c = f.context
        cm = (f"{_fmt(c['momentum'])} / {c['cm_stepsize_epochs']}"
              if isinstance(c["momentum"], Range) else _fmt(c["momentum"]))
        rows.append({"dataset/net": c["net"], "policy": c["policy"], "policy/LR": _lr_label(c),
                     "CM": cm, "WD": c["weight_decay"], "epochs": c["epochs"],
                     "acc %": f.value, "std": f.std, "tags": f.label, "key": f.key})
    return pd.DataFrame(rows)


def momentum_study() -> "Any":
    """1803.09820 Table 1 (ResNet-56, CIFAR-10, batch 512, 95 epochs), 10 rows.

    Columns LR ("0.08–0.8 / 41" 1cycle or "0.1 fixed"), momentum ("0.95–0.8" cyclical or
    constant), momentum policy, acc %, tags, key.
    """
    pd = _pd()
    rows = []
    for f in facts("onecycle.momentum_study"):
        c = f.context
        lr = (f"{_fmt(c['lr'])} / {c['lr_stepsize_epochs']}" if c["lr_policy"] == "1cycle"
              else f"{_fmt(c['lr'])} fixed")
        rows.append({"LR": lr, "momentum": _fmt(c["momentum"]),
                     "momentum policy": c["momentum_policy"], "acc %": f.value,
                     "tags": f.label, "key": f.key})
    return pd.DataFrame(rows)


def imagenet_table() -> "Any":
    """ImageNet (Fig. 7): net, run, epochs, WD, acc lo %, acc hi %, approx, outcome, tags, key.

    A single number has lo == hi; the unstable WD 1e-5 run has NaN accuracies (6 rows).
    """
    pd = _pd()
    rows = []
    for f in facts("imagenet.resnet50") + facts("imagenet.inception_resnet_v2"):
        c, v = f.context, f.value
        lo = v.lo if isinstance(v, Range) else _num(v)
        hi = v.hi if isinstance(v, Range) else _num(v)
        rows.append({"net": c["net"], "run": f.key.rsplit(".", 1)[1],
                     "epochs": c.get("epochs"), "WD": c.get("weight_decay"),
                     "acc lo %": lo, "acc hi %": hi, "approx": f.approx,
                     "outcome": v if isinstance(v, str) else "final",
                     "tags": f.label, "key": f.key, "note": f.note})
    df = pd.DataFrame(rows)
    df["epochs"] = df["epochs"].astype("Int64")
    df["WD"] = df["WD"].astype(float)
    return df


# ---------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------


def _build_claims() -> Tuple[Claim, ...]:
    C: List[Claim] = []
    add = C.append
    v = lambda k: get(k).value  # noqa: E731
    ratio = v("sc.headline.pc_iters") / v("sc.headline.clr_iters")
    add(Claim(
        "sc.headline",
        f"ResNet-56 on CIFAR-10: one CLR cycle 0.1 → 3 → 0.1 reaches {v('sc.headline.clr_acc')} % "
        f"in {v('sc.headline.clr_iters'):,} iterations, better than PC-LR's "
        f"{v('sc.headline.pc_acc')} % after ~{v('sc.headline.pc_iters'):,} – the same accuracy "
        f"or better in {ratio:g}× fewer iterations (super-convergence).",
        ("sc.headline.clr_acc", "sc.headline.pc_acc", "sc.headline.clr_iters",
         "sc.headline.pc_iters", "sc.solver.clr.max_lr", "sc.solver.pc.base_lr"),
        "super-convergence",
        "Train HEADLINE_CLR_SOLVER (10k it.) and HEADLINE_PC_SOLVER (80k it.) with several "
        "seeds; compare final test accuracy (mean ± std) and iterations to reach the PC-LR "
        "accuracy."))
    add(Claim(
        "sc.fig1b",
        "One cycle up to LR 3 reaches 92.1 % in 6k iterations; cycles of 2k..20k iterations give "
        "89.7..92.7 %.",
        ("sc.fig1b.acc_6k", "sc.fig1b.iterations", "sc.fig1b.acc"), "super-convergence",
        "Sweep the cycle length (e.g. 2k, 6k, 10k, 20k iterations, max_lr 3) and plot final "
        "accuracy vs length."))
    add(Claim(
        "clr.range_test",
        "An LR range test (accuracy vs linearly rising LR) gives the CLR bounds; CIFAR-10 "
        "cifar10_full over 8 epochs: 0.001 .. 0.006; base_lr ≈ max_lr / 3..4.",
        ("clr.range_test.cifar10.epochs", "clr.range_test.cifar10.lr",
         "clr.range_test.max_over_base", "sc.range_test.lr_end"), "range-test",
        "Run the range test (RANGE_TEST for ResNet-56: 0 → 3); read base/max LR off the "
        "accuracy curve; for ResNet-56 accuracy should stay high up to large LRs."))
    for n in REDUCED_DATA_SAMPLES:
        pc, clr = get(f"sc.reduced_data.{n}.pc"), get(f"sc.reduced_data.{n}.clr")
        add(Claim(
            f"sc.reduced_data.{n}",
            f"With {n:,} CIFAR-10 training samples, CLR (super-convergence) reaches "
            f"{clr.value} % vs PC-LR {pc.value} %.",
            (pc.key, clr.key), "limited-data",
            f"Train both headline solvers on a fixed {n:,}-image subset; compare final test "
            "accuracy."))
    add(Claim(
        "sc.limited_data_trend",
        "The advantage of super-convergence grows as training data shrinks (CLR − PC-LR gap "
        + " → ".join(f"{v(f'sc.reduced_data.{n}.clr') - v(f'sc.reduced_data.{n}.pc'):.1f}"
                     for n in REDUCED_DATA_SAMPLES)
        + " points from 50k down to 10k samples).",
        tuple(f"sc.reduced_data.{n}.{p}" for n in REDUCED_DATA_SAMPLES for p in ("pc", "clr")),
        "limited-data",
        "Plot CLR − PC-LR accuracy vs number of training samples; check it increases as the "
        "data shrinks."))
    for net, label in (("resnet20", "ResNet-20"), ("resnet110", "ResNet-110")):
        pc, clr = get(f"sc.depth.{net}.pc"), get(f"sc.depth.{net}.clr")
        add(Claim(
            f"sc.depth.{net}",
            f"{label} on CIFAR-10: CLR {clr.value} % vs PC-LR {pc.value} %.",
            (pc.key, clr.key, f"arch.resnet.blocks_per_stage.{net}"), "depth",
            f"Train the headline solvers with {label}; compare final accuracy (and with "
            "ResNet-56 for the trend over depth)."))
    add(Claim(
        "sc.batch_size",
        "Fig. 5 compares super-convergence runs at total batch sizes 256 / 512 / 1000 / 1536.",
        ("sc.batch_size.total_batches",), "batch-size",
        "Run the CLR headline solver at each batch size (LR schedule per the authors' config) "
        "and report our own accuracies.",
        note="no accuracy numbers of Fig. 5 were found (FACTS §2, §7): the book reports its own "
             "and says so", missing=("sc.batch_size.fig5",)))
    add(Claim(
        "sc.cifar100_logs",
        "On CIFAR-100 (ResNet-56) CLR beats PC-LR: 68.2 % vs 59.3 % (authors' logs).",
        ("sc.logs.cifar100.clr", "sc.logs.cifar100.pc"), "super-convergence",
        "Train both headline solvers on CIFAR-100; compare final accuracy.",
        note="single runs from the authors' logs [L]; no paper table"))
    add(Claim(
        "sc.regularization",
        "Large LRs regularize, so other regularization must be reduced: with the CLR run, WD "
        "1e-3 diverges and 1e-4 is best (WD sweep 92.44 / 88.28 / 87.25 for 1e-4 / 1e-5 / 1e-6); "
        "DenseNet 1cycle uses WD 1e-6 and ImageNet 1cycle WD 3e-6.",
        ("sc.logs.wd.1e-3", "sc.logs.wd.1e-3.max", "sc.logs.wd.1e-4", "sc.logs.wd.1e-5",
         "sc.logs.wd.1e-6", "onecycle.table.cifar10_densenet.0.1-4/22",
         "imagenet.solver.weight_decay"), "regularization",
        "Sweep WD (1e-3 .. 1e-6) under the CLR headline solver and under PC-LR; the best WD "
        "should be smaller (or equal) with the large LR.",
        note="the momentum sweep of the same logs (sc.logs.momentum.*) shows 0.9 best"))
    add(Claim(
        "hf.range",
        "The simplified Hessian-free estimate of the optimal LR lies around 2–6 during the first "
        "~300 iterations of the 0.1 → 3 ramp: large LRs fit the small curvature (flat, wide "
        "minima).",
        ("hf.reported.range", "hf.reported.iterations", "hf.method.global", "hf.method.m0"),
        "hessian-free",
        "Compute eps* (HESSIAN_FREE, global form, smoothed) during the first 300–500 iterations "
        "of the headline CLR run; cross-check with 2/λ_max by power iteration."))
    for f in facts("onecycle.table"):
        c = f.context
        kind = "1cycle" if c["policy"] == "1cycle" else "baseline"
        add(Claim(
            f.key,
            f"{c['net']}, {kind} {_lr_label(c)}, WD {_fmt(c['weight_decay'])}, {c['epochs']} "
            f"epochs (batch 512): {f.value} ± {_fmt(f.std)} %.",
            (f.key,), "one-cycle",
            "Train with the row's LR/momentum schedule (ONE_CYCLE_CAFFE_SHAPE for 1cycle), WD and "
            "epochs over several seeds; compare mean ± std."))
    ms = "onecycle.momentum_study"
    add(Claim(
        "onecycle.cyclical_momentum",
        "Cyclical momentum (decreasing while the LR rises, e.g. 0.95 → 0.85 → 0.95) is about as "
        "good as the best constant momentum and better than the others: with 1cycle 0.08–0.8, "
        f"CM 0.95–0.8 gives {v(f'{ms}.lr0.08-0.8/41.cm0.95-0.8')} % vs constant 0.95 / 0.9 / "
        f"0.85 {v(f'{ms}.lr0.08-0.8/41.m0.95')} / {v(f'{ms}.lr0.08-0.8/41.m0.9')} / "
        f"{v(f'{ms}.lr0.08-0.8/41.m0.85')} %; with a fixed LR 0.1, CM 0.95–0.85 gives "
        f"{v(f'{ms}.lr0.1.cm0.95-0.85')} % vs {v(f'{ms}.lr0.1.m0.95')} / "
        f"{v(f'{ms}.lr0.1.m0.9')} / {v(f'{ms}.lr0.1.m0.85')} %. Results barely depend on "
        "the minimum momentum.",
        tuple(k for k in keys("onecycle.momentum_study"))
        + ("onecycle.cyclical_momentum.max_momentum", "onecycle.cyclical_momentum.min_momentum"),
        "cyclical-momentum",
        "ResNet-56/CIFAR-10, batch 512, 95 epochs: 1cycle 0.08–0.8 with cyclical momentum vs "
        "constant 0.85 / 0.9 / 0.95, and a fixed LR 0.1; compare final accuracy."))
    add(Claim(
        "imagenet.resnet50",
        "ResNet-50 on ImageNet: 1cycle (0.05 → 1.0 → 5e-5, WD 3e-6) reaches ~67.3–67.6 % in 20 "
        "epochs vs 63.7 % for the 130-epoch step baseline.",
        ("imagenet.resnet50.1cycle", "imagenet.resnet50.baseline",
         "imagenet.solver.one_cycle.max_lr", "imagenet.solver.weight_decay"), "imagenet",
        "Out of this book's budget at full scale; if run, train IMAGENET settings for 20 epochs "
        "and compare.", note="second-hand numbers [S]"))
    add(Claim(
        "imagenet.inception_resnet_v2",
        "Inception-ResNet-v2 on ImageNet: 1cycle ~73.8–74.0 % vs baseline 67.6–68.0 %; WD 1e-6 "
        "gives ~72.3–73.0 %, WD 1e-5 is unstable.",
        ("imagenet.inception_resnet_v2.1cycle", "imagenet.inception_resnet_v2.baseline",
         "imagenet.inception_resnet_v2.1cycle_wd1e-6",
         "imagenet.inception_resnet_v2.1cycle_wd1e-5"), "imagenet",
        "Out of this book's budget; reported for completeness.", note="second-hand numbers [S]"))
    for f in facts("clr.table1"):
        c = f.context
        add(Claim(
            f.key,
            f"CLR Table 1, {c['net']}: {c['policy']} for {c['iterations']:,} iterations reaches "
            f"{f.value} %.",
            (f.key,), "clr",
            "Train the row's net with the row's policy (CLR_BASELINE_SOLVER / "
            "CLR_TRIANGULAR2_SOLVER / CLR_EXP_SOLVER) and compare final accuracy; triangular2 "
            "should match fixed in far fewer iterations."))
    for f in facts("clr.table3"):
        c = f.context
        it = f" for {c['iterations']:,} iterations" if c["iterations"] else ""
        add(Claim(
            f.key,
            f"CLR Table 3, CIFAR-10 with {c['optimizer']} (LR {_fmt(c['lr'])}): {c['policy']}{it} "
            f"reaches {f.value} %.",
            (f.key,), "clr",
            "Train cifar10_full with the optimizer, fixed at the lower LR bound or triangular "
            "between the bounds; compare final accuracy.", note=f.note))
    return tuple(C)


_CLAIMS = _build_claims()
_CLAIM_IDS = {c.id: c for c in _CLAIMS}
if len(_CLAIM_IDS) != len(_CLAIMS):  # pragma: no cover - a bug in this module
    raise RuntimeError("duplicate claim ids")


def claims(chapter: Optional[str] = None) -> List[Claim]:
    """The papers' claims for the scorecard (all, or those of one :data:`CHAPTERS` slug)."""
    if chapter is not None and chapter not in CHAPTERS:
        raise KeyError(f"unknown chapter {chapter!r}; known: {sorted(CHAPTERS)}")
    return [c for c in _CLAIMS if chapter is None or c.chapter == chapter]


def claim(claim_id: str) -> Claim:
    """One claim by id; ``KeyError`` with close matches."""
    try:
        return _CLAIM_IDS[claim_id]
    except KeyError:
        close = difflib.get_close_matches(claim_id, list(_CLAIM_IDS), n=5, cutoff=0.6)
        raise KeyError(f"no claim {claim_id!r}"
                       + (f"; did you mean {', '.join(map(repr, close))}?" if close else ""))


def claims_table(chapter: Optional[str] = None) -> "Any":
    """A DataFrame of :func:`claims`: id, chapter, statement, paper (cited), tags, how_to_test,
    note, missing."""
    pd = _pd()
    return pd.DataFrame([{"id": c.id, "chapter": c.chapter, "statement": c.statement,
                          "paper": "; ".join(cite(f, source=False) for f in c.facts()),
                          "tags": ", ".join(c.tags), "how_to_test": c.how_to_test,
                          "note": c.note, "missing": ", ".join(c.missing)}
                         for c in claims(chapter)],
                        columns=["id", "chapter", "statement", "paper", "tags", "how_to_test",
                                 "note", "missing"])


def not_found() -> List[NotFound]:
    """What FACTS says was not found (§7, and the batch-size figure of §2)."""
    return list(_NOT_FOUND)
