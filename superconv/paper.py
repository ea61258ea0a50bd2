"""The papers' own numbers: reference results, formulas, solver settings and claims, read from
the data files in ``superconv/facts/`` (TOML; their format: ``superconv/facts/README.md``).

Every number this book compares against comes from here, never from a literal in a chapter. The
files follow the sections of the reproduction's fact sheet (§1 CLR paper ... §6 the authors'
ResNet-56, §7 not found); the book page ``paper_facts.md`` ("The papers' numbers") shows them
all and is generated from them by :mod:`superconv.fact_sheet` (``python -m superconv.fact_sheet
--write paper_facts.md``).

**Confidence tags** (:data:`TAGS`): ``"D"`` the authors' own code or config, ``"P"`` the paper
text, ``"L"`` the authors' Caffe training logs (single runs of a later replication), ``"S"``
second-hand (approximate: the book says so). A fact may carry two (``("S", "L")``), and the fact sheet's
own wording in :attr:`Fact.tag_text` (``"S, logs agree"``); the book shows the tag beside every
paper number (:func:`cite`).

**Keys** are dotted and stable; the first part names the group: ``clr.*`` (§1), ``sc.*`` (§2),
``onecycle.*`` (§3), ``imagenet.*`` (§4), ``hf.*`` (§5), ``arch.*`` (§6). A key that continues
another (``sc.logs.wd.1e-3`` / ``sc.logs.wd.1e-3.max``) is a related number of the same run.
The settings of a result row (iterations, WD, epochs, ...) are its :attr:`Fact.context`;
standalone settings are :class:`Settings` mappings (``HEADLINE_CLR_SOLVER`` ...) whose every
leaf is also a fact under the mapping's prefix (``sc.solver.clr.max_lr``).

Values are ``float``/``int``/``bool``/``str``, a :class:`Range` for "a–b", a tuple for a list of
alternatives. Numbers that were not found are no facts: they are :func:`not_found` entries.

API: ``get(key)``, ``facts(prefix)``, ``keys(prefix)``, ``table(prefix)``, ``cite(fact)``; the
ready-made tables ``clr_table1()`` ... ``imagenet_table()`` (they import pandas); ``claims()``,
``claim(id)``, ``claims_table()`` for the scorecard; ``not_found()``; ``format_value(v)``;
``section_files()`` and ``layout()`` for the book page.
"""

from __future__ import annotations

import copyreg
import difflib
import math
import re
import types
from dataclasses import dataclass, field
from importlib import resources
from typing import (Any, Dict, Iterator, List, Mapping, NamedTuple, NoReturn, Optional, Sequence,
                    Tuple)

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

from . import _checks

__all__ = [
    "TAGS", "DESIGN", "PAPER", "LOGS", "SECOND_HAND", "SECTIONS", "PAPERS", "AUTHOR_REPOS",
    "CHAPTERS", "Range", "Fact", "Settings", "Claim", "NotFound", "get", "facts", "keys", "table",
    "cite", "clr_table1", "clr_table3", "reduced_data_table", "depth_table", "authors_logs",
    "one_cycle_table", "momentum_study", "imagenet_table", "claims", "claim", "claims_table",
    "not_found", "format_value", "section_files", "layout",
    "CLR_BASELINE_SOLVER", "CLR_TRIANGULAR2_SOLVER", "CLR_EXP_SOLVER", "HEADLINE_CLR_SOLVER",
    "HEADLINE_PC_SOLVER", "RANGE_TEST", "BN_MOVING_AVERAGE", "ONE_CYCLE_CAFFE_SHAPE",
    "CYCLICAL_MOMENTUM", "SGD_UPDATE_RULES", "IMAGENET", "HESSIAN_FREE", "ARCHITECTURE", "DATA",
    "TORCH_ONE_CYCLE_DEFAULTS", "REDUCED_DATA_SAMPLES", "ONE_CYCLE_NETS",
]

DESIGN, PAPER, LOGS, SECOND_HAND = "D", "P", "L", "S"
_WEAKEST_FIRST = (SECOND_HAND, LOGS, PAPER, DESIGN)


def _proxy(d: Dict[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(d)


# The read-only mappings must survive pickle, deepcopy and dataclasses.asdict (facts travel with
# results): a proxy pickles as a proxy of a copy of its dict.
copyreg.pickle(types.MappingProxyType, lambda m: (_proxy, (dict(m),)))


def _fail(where: str, msg: str) -> NoReturn:
    raise ValueError(f"superconv/facts/{where}: {msg}")


def _read(name: str) -> Dict[str, Any]:
    return tomllib.loads((resources.files("superconv") / "facts" / name).read_text("utf-8"))


_SOURCES = _read("sources.toml")
TAGS: Mapping[str, str] = types.MappingProxyType(dict(_SOURCES["tags"]))
if sorted(TAGS) != sorted(_WEAKEST_FIRST):
    _fail("sources.toml: tags", f"are {sorted(TAGS)}; the code knows {sorted(_WEAKEST_FIRST)}")
PAPERS: Mapping[str, Mapping[str, str]] = types.MappingProxyType(
    {k: types.MappingProxyType(v) for k, v in _SOURCES["papers"].items()})
AUTHOR_REPOS: Tuple[str, ...] = tuple(_SOURCES["author_repos"])
_SECTION_FILES = sorted((p.name for p in (resources.files("superconv") / "facts").iterdir()
                         if re.fullmatch(r"s\d+_\w+\.toml", p.name)),
                        key=lambda name: int(re.match(r"s(\d+)", name).group(1)))
_SECTION_DATA = {name: _read(name) for name in _SECTION_FILES}
SECTIONS: Mapping[str, str] = types.MappingProxyType(
    {d["section"]: d["title"] for d in _SECTION_DATA.values()})
_CLAIM_DATA = _read("claims.toml")
#: Topic slugs used in :attr:`Claim.chapter` (the chapter that tests the claim).
CHAPTERS: Mapping[str, str] = types.MappingProxyType(dict(_CLAIM_DATA["chapters"]))


# --------------------------------------------------------------------------------- value types


class Range(NamedTuple):
    """The fact sheet's "a–b": an interval (67.3–67.6) or a cycle's two ends (momentum 0.95–0.85).

    ``start``/``stop`` keep the printed order; :attr:`lo`/:attr:`hi` are min/max. It is a plain
    2-tuple too: ``Range(67.3, 67.6) == (67.3, 67.6)``.
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


def _check_tags(name: str, tags: Any) -> Tuple[str, ...]:
    tags = (tags,) if isinstance(tags, str) else tags
    return tuple(_checks.list_of(lambda n, t: _checks.choice(n, t, tuple(TAGS)))(name, tags))


def _frozen(v: Any) -> Any:
    """A TOML value as a fact value: ``{range = [a, b]}`` a Range, a table a read-only mapping,
    an array a tuple."""
    if isinstance(v, Mapping):
        if set(v) == {"range"}:
            return Range(*v["range"])
        return types.MappingProxyType({k: _frozen(x) for k, x in v.items()})
    if isinstance(v, (list, tuple)) and not isinstance(v, Range):
        return tuple(_frozen(x) for x in v)
    return v


@dataclass(frozen=True)
class Fact:
    """One number (or formula, or label) of the papers, with where it comes from.

    ``std``: the "±" of a mean over runs; ``approx``: the source says "~"; ``section``: the
    fact-sheet section ("§2"); ``tag_text``: the source's own wording of the confidence
    (defaults to the tags joined); ``context``: the settings of the run the number belongs to.
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
        object.__setattr__(self, "tags", _check_tags(f"{self.key}.tags", self.tags))
        object.__setattr__(self, "context", types.MappingProxyType(dict(self.context)))
        if self.section:
            _checks.choice(f"{self.key}.section", self.section, tuple(SECTIONS))

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
    comes from. Every leaf is also a :class:`Fact` under ``prefix + "." + dotted path``;
    ``item_tags`` overrides the tags of a top-level entry (and all below it), ``units`` /
    ``notes`` give units and notes by dotted path, ``approx`` the approximate paths.
    """

    def __init__(self, name: str, prefix: str, items: Mapping[str, Any], *, tags: Sequence[str],
                 source: str, section: str, note: str = "", tag_text: str = "",
                 item_tags: Optional[Mapping[str, Sequence[str]]] = None,
                 units: Optional[Mapping[str, str]] = None,
                 notes: Optional[Mapping[str, str]] = None, approx: Sequence[str] = ()) -> None:
        self.name, self.prefix, self.source, self.section = name, prefix, source, section
        self.note, self.tag_text = note, tag_text
        self._items = _frozen(dict(items))
        self.tags = _check_tags(f"{name}.tags", tags)
        self.item_tags = {k: _check_tags(f"{name}.item_tags.{k}", v)
                          for k, v in (item_tags or {}).items()}
        self.units, self.notes, self.approx = dict(units or {}), dict(notes or {}), frozenset(approx)
        paths = {p for p, _ in self.leaves()} | set(self._items)
        for path in [*self.item_tags, *self.units, *self.notes, *self.approx]:
            _checks.choice(f"{name} path", path, sorted(paths))

    def __getitem__(self, k: str) -> Any:
        return self._items[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Settings({self.name}, tags={self.tags}, {self.as_dict()!r})"

    def as_dict(self) -> Dict[str, Any]:
        """A plain (nested) ``dict`` copy."""
        def thaw(v: Any) -> Any:
            return {k: thaw(x) for k, x in v.items()} if isinstance(v, Mapping) else v
        return thaw(self._items)

    def leaves(self) -> List[Tuple[str, Any]]:
        """``[(dotted path, value), ...]`` of every leaf."""
        def walk(m: Mapping[str, Any], path: str) -> Iterator[Tuple[str, Any]]:
            for k, v in m.items():
                p = f"{path}.{k}" if path else k
                yield from walk(v, p) if isinstance(v, Mapping) else [(p, v)]
        return list(walk(self._items, ""))

    def tags_of(self, path: str) -> Tuple[str, ...]:
        return self.item_tags.get(path, self.item_tags.get(path.split(".")[0], self.tags))

    def facts(self) -> List[Fact]:
        """Its leaves as facts (what :func:`get` finds under :attr:`prefix`)."""
        out = []
        for path, v in self.leaves():
            tags = self.tags_of(path)
            out.append(Fact(f"{self.prefix}.{path}", v, self.units.get(path, ""), tags,
                            self.source, note=self.notes.get(path, ""), section=self.section,
                            approx=path in self.approx,
                            tag_text=self.tag_text if tags == self.tags else ""))
        return out


@dataclass(frozen=True)
class Claim:
    """A claim of the papers for the scorecard.

    ``paper_value_keys``: the facts that carry the paper's numbers; ``chapter``: the topic slug
    (:data:`CHAPTERS`) of the chapter that tests it; ``how_to_test``: what to run and compare;
    ``note``: caveats; ``missing``: keys of :func:`not_found` entries the claim would need.
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
        have = {t for f in self.facts() for t in f.tags}
        return tuple(t for t in _WEAKEST_FIRST if t in have)

    def cite(self) -> str:
        return "; ".join(cite(f) for f in self.facts())


@dataclass(frozen=True)
class NotFound:
    """Something the fact sheet says was not found; ``hint`` keeps any second-hand trace."""

    key: str
    what: str
    hint: str = ""
    related_keys: Tuple[str, ...] = ()


# --------------------------------------------------------------------------------- loading

_BLOCK_FIELDS = {"title", "source", "unit", "tags", "tag_text", "note", "approx", "context",
                 "columns"}
_FACT_FIELDS = {"key", "value", "std", "unit", "tags", "tag_text", "source", "note", "approx",
                "context"}
_SETTINGS_FIELDS = {"prefix", "tags", "tag_text", "source", "note", "item_tags", "units", "notes",
                    "approx", "items"}
_CLAIM_FIELDS = {"id", "chapter", "facts", "statement", "how_to_test", "note", "missing"}


def _blocks(where: str, table: Mapping[str, Any], fields: set, leaf: Tuple[str, ...],
            inherited: Mapping[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """``(where, fields)`` of every innermost block below ``table`` (one with a ``leaf`` field):
    a block's fields are defaults for the blocks inside it (a ``context`` adds to the
    inherited one); any other table in a block is an inner block."""
    own = {k: v for k, v in table.items() if k in fields or k in leaf}
    inner = {k: v for k, v in table.items() if k not in own}
    merged = {**inherited, **own}
    if "context" in fields:
        merged["context"] = {**inherited.get("context", {}), **own.get("context", {})}
    if inner and set(own) & set(leaf):
        _fail(where, f"has {leaf[0]!r} and inner blocks {sorted(inner)}; one or the other")
    for k, v in inner.items():
        if not isinstance(v, Mapping):
            _fail(where, f"unknown field {k!r}; known: {', '.join(sorted(fields | set(leaf)))}")
        yield from _blocks(f"{where}.{k}", v, fields, leaf, merged)
    if not inner:
        if not set(own) & set(leaf):
            _fail(where, f"a block needs {' or '.join(map(repr, leaf))} or inner blocks")
        yield where, merged


def _fact(where: str, block: Mapping[str, Any], entry: Mapping[str, Any], section: str) -> Fact:
    columns = list(block.get("columns", ()))
    unknown = set(entry) - _FACT_FIELDS - set(columns)
    if unknown:
        _fail(where, f"unknown field(s) {sorted(unknown)}; known: "
                     f"{', '.join(sorted(_FACT_FIELDS | set(columns)))}")
    d = {k: v for k, v in block.items() if k in _FACT_FIELDS}
    d.update((k, v) for k, v in entry.items() if k in _FACT_FIELDS)
    context = {**block["context"], **entry.get("context", {})}
    if columns:  # a row that leaves a column out does not state it
        extra = set(context) - set(columns)
        if extra:
            _fail(where, f"context {sorted(extra)} not among the columns {columns}")
        context = {c: entry.get(c, context.get(c)) for c in columns}
    for need in ("key", "value", "tags", "source"):
        if need not in d:
            _fail(where, f"a fact needs {need!r}")
    try:
        return Fact(d["key"], _frozen(d["value"]), d.get("unit", ""), tuple(d["tags"]),
                    d["source"], note=d.get("note", ""), std=d.get("std"),
                    approx=d.get("approx", False), section=section,
                    tag_text=d.get("tag_text", ""),
                    context={k: _frozen(v) for k, v in context.items()})
    except (TypeError, ValueError) as e:
        _fail(where, str(e))


#: One entry per table of the book page: (section, heading, its facts' keys, Settings or None).
_Layout = List[Tuple[str, str, Tuple[str, ...], Optional[Settings]]]


def _load_sections(files: Mapping[str, Mapping[str, Any]]) -> Tuple[
        Dict[str, Fact], Dict[str, Settings], Dict[str, Mapping], Tuple[NotFound, ...], _Layout]:
    """The facts, settings, untagged mappings, not-found entries and page layout of the section
    files (``{file name: parsed TOML}``), checked."""
    registry: Dict[str, Fact] = {}
    layout: _Layout = []
    settings: Dict[str, Settings] = {}
    untagged: Dict[str, Mapping] = {}
    missing: List[NotFound] = []

    def add(where: str, f: Fact) -> None:
        if f.key in registry:
            _fail(where, f"duplicate fact key {f.key!r}")
        registry[f.key] = f

    for fname, data in files.items():
        section = data["section"]
        for name, block in data.items():
            where = f"{fname}: {name}"
            if name in ("section", "title", "about"):
                continue
            if name == "untagged":
                untagged.update({k: _frozen(v) for k, v in block.items()})
            elif name == "not_found":
                missing += [NotFound(n["key"], n["what"], n.get("hint", ""),
                                     tuple(n.get("related_keys", ()))) for n in block]
            elif name.isupper():
                unknown = set(block) - _SETTINGS_FIELDS
                if unknown:
                    _fail(where, f"unknown field(s) {sorted(unknown)}; known: "
                                 f"{', '.join(sorted(_SETTINGS_FIELDS))}")
                try:
                    s = Settings(name, block["prefix"], block["items"], section=section,
                                 **{k: v for k, v in block.items() if k not in ("prefix", "items")})
                except (KeyError, TypeError, ValueError) as e:
                    _fail(where, f"{type(e).__name__}: {e}")
                settings[name] = s
                for f in s.facts():
                    add(where, f)
                layout.append((section, f"`{name}`", tuple(f.key for f in s.facts()), s))
            else:
                if "title" not in block:
                    _fail(where, "a top-level block needs a 'title' (the book page's heading)")
                for bwhere, b in _blocks(where, block, _BLOCK_FIELDS, ("facts",), {}):
                    fs = [_fact(f"{bwhere}: {entry.get('key', f'facts[{i}]')}", b, entry, section)
                          for i, entry in enumerate(b["facts"])]
                    for f in fs:
                        add(bwhere, f)
                    layout.append((section, block["title"], tuple(f.key for f in fs), None))
    for n in missing:
        if n.key in registry:
            _fail(f"s7: not_found: {n.key}", "is a fact, not a missing number")
        for k in n.related_keys:
            if k not in registry:
                _fail(f"s7: not_found: {n.key}", f"related key {k!r} is no fact")
    return registry, settings, untagged, tuple(missing), layout


_FACTS, _SETTINGS, _UNTAGGED, _NOT_FOUND, _LAYOUT = _load_sections(_SECTION_DATA)
_NOT_FOUND_KEYS = {n.key: n for n in _NOT_FOUND}


def section_files() -> Dict[str, Mapping[str, Any]]:
    """Each section's data file, in section order: ``{file name: its parsed TOML}``."""
    return dict(_SECTION_DATA)


def layout() -> _Layout:
    """How the book page groups the facts: ``(section, heading, fact keys, Settings or None)``
    per table, in the order of the data files."""
    return list(_LAYOUT)

CLR_BASELINE_SOLVER = _SETTINGS["CLR_BASELINE_SOLVER"]
CLR_TRIANGULAR2_SOLVER = _SETTINGS["CLR_TRIANGULAR2_SOLVER"]
CLR_EXP_SOLVER = _SETTINGS["CLR_EXP_SOLVER"]
HEADLINE_CLR_SOLVER = _SETTINGS["HEADLINE_CLR_SOLVER"]
HEADLINE_PC_SOLVER = _SETTINGS["HEADLINE_PC_SOLVER"]
RANGE_TEST = _SETTINGS["RANGE_TEST"]
BN_MOVING_AVERAGE = _SETTINGS["BN_MOVING_AVERAGE"]
ONE_CYCLE_CAFFE_SHAPE = _SETTINGS["ONE_CYCLE_CAFFE_SHAPE"]
CYCLICAL_MOMENTUM = _SETTINGS["CYCLICAL_MOMENTUM"]
SGD_UPDATE_RULES = _SETTINGS["SGD_UPDATE_RULES"]
IMAGENET = _SETTINGS["IMAGENET"]
HESSIAN_FREE = _SETTINGS["HESSIAN_FREE"]
ARCHITECTURE = _SETTINGS["ARCHITECTURE"]
DATA = _SETTINGS["DATA"]
#: torch's ``OneCycleLR`` defaults (they follow fastai): untagged, no claim of the papers.
TORCH_ONE_CYCLE_DEFAULTS: Mapping[str, Any] = _UNTAGGED["TORCH_ONE_CYCLE_DEFAULTS"]
#: The training-set sizes of Table 1 / Fig. 4a, largest first.
REDUCED_DATA_SAMPLES: Tuple[int, ...] = tuple(
    f.context["train_samples"] for k, f in _FACTS.items()
    if k.startswith("sc.reduced_data.") and k.endswith(".clr"))
#: The nets of the 1cycle table: key part -> the table's label.
ONE_CYCLE_NETS: Mapping[str, str] = types.MappingProxyType(
    {k.split(".")[2]: f.context["net"] for k, f in _FACTS.items()
     if k.startswith("onecycle.table.")})


# --------------------------------------------------------------------------------- lookup


def get(key: str) -> Fact:
    """The fact under ``key``; a ``KeyError`` names close matches (or says it was not found)."""
    if key in _FACTS:
        return _FACTS[key]
    if key in _NOT_FOUND_KEYS:
        n = _NOT_FOUND_KEYS[key]
        raise KeyError(f"{key!r}: the fact sheet says this was not found ({n.what}"
                       f"{'; ' + n.hint if n.hint else ''}); see paper.not_found()")
    below = [k for k in _FACTS if k.startswith(key + ".")]
    close = difflib.get_close_matches(key, list(_FACTS), n=5, cutoff=0.6)
    msg = f"no paper fact {key!r}"
    if below:
        msg += f"; it is a prefix of {len(below)} facts (use paper.facts({key!r}))"
    if close:
        msg += "; did you mean " + ", ".join(repr(c) for c in close) + "?"
    if not below and not close:
        msg += f"; keys start with one of {sorted({k.split('.')[0] for k in _FACTS})}"
    raise KeyError(msg)


def keys(prefix: str = "") -> List[str]:
    """The keys under ``prefix`` (whole dotted parts: ``"sc.depth"`` matches ``sc.depth.*``)."""
    if not prefix:
        return list(_FACTS)
    p = prefix.rstrip(".")
    out = [k for k in _FACTS if k == p or k.startswith(p + ".")]
    if not out:
        heads = sorted({".".join(k.split(".")[:n]) for k in _FACTS for n in (1, 2, 3)})
        close = difflib.get_close_matches(p, heads, n=5, cutoff=0.5)
        raise KeyError(f"no paper facts under {prefix!r}"
                       + (f"; did you mean {', '.join(map(repr, close))}?" if close else ""))
    return out


def facts(prefix: str = "") -> List[Fact]:
    """The facts under ``prefix``, in the data files' order (all of them for ``""``)."""
    return [_FACTS[k] for k in keys(prefix)]


def _pd():
    import pandas as pd  # noqa: PLC0415 - only the table functions need pandas
    return pd


def table(prefix: str = "") -> Any:
    """A DataFrame of the facts under ``prefix``: key, value, std, unit, tags, source, note."""
    df = _pd().DataFrame([f.as_dict() for f in facts(prefix)],
                         columns=["key", "value", "std", "unit", "tags", "source", "note"])
    df["std"] = df["std"].astype(float)
    return df


# --------------------------------------------------------------------------------- formatting


def _sci(v: float) -> str:
    m, e = f"{v:e}".split("e")
    return f"{m.rstrip('0').rstrip('.')}e{int(e)}"


def format_value(v: Any) -> str:
    """A fact's value as the book prints it (thousands separated, small numbers as 1e-4, ranges
    with an en dash, alternatives with slashes)."""
    if v is None:
        return "not found"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 1000 else str(v)
    if isinstance(v, float):
        if v != 0 and abs(v) < 1e-3:
            return _sci(v)
        return f"{int(v):,}" if v.is_integer() and abs(v) >= 1000 else repr(v)
    if isinstance(v, Range):
        return f"{format_value(v.start)}–{format_value(v.stop)}"
    if isinstance(v, tuple):
        if any(isinstance(x, tuple) for x in v):
            return "; ".join("(" + ", ".join(map(format_value, x)) + ")" if isinstance(x, tuple)
                             else format_value(x) for x in v)
        return " / ".join(map(format_value, v))
    return str(v)


def cite(fact: "Fact | str", *, source: bool = True) -> str:
    """A table-cell label: ``'92.4 % [S, logs agree] (Super-Convergence (headline run); paper facts §2)'``.

    ``fact`` may be a key. ``source=False`` drops the parenthesis.
    """
    f = get(fact) if isinstance(fact, str) else fact
    s = ("~" if f.approx else "") + format_value(f.value)
    if f.std is not None:
        s += f" ± {format_value(f.std)}"
    if f.unit and f.value is not None:
        s += f" {f.unit}"
    s += f" [{f.label}]"
    if source:
        where = f.source
        if f.section and f"paper facts {f.section}" not in where:
            where += f"; paper facts {f.section}"
        s += f" ({where})"
    return s


# A claim text names facts instead of retyping their numbers (superconv/facts/README.md):
# "{REF[sel]...:spec}" or "{REF - REF:spec}" / "{REF / REF:spec}".
_FIELD = re.compile(r"\{([^{}:]+)(?::([^{}]*))?\}")
_REF = re.compile(r"([^\[\]\s]+)((?:\[[^\[\]]+\])*)")


def _format(v: Any, spec: str) -> str:
    if not spec:
        return format_value(v)
    if isinstance(v, (Range, tuple)):
        return ("–" if isinstance(v, Range) else " / ").join(_format(x, spec) for x in v)
    if spec == "k":
        return f"{v / 1000:g}k"
    return _sci(v) if spec == "sci" else format(v, spec)


def _resolve(ref: str, claim_keys: Sequence[str]) -> Any:
    m = _REF.fullmatch(ref)
    if not m:
        raise KeyError(f"{ref!r} is no fact reference")
    head, selectors = m.group(1), re.findall(r"\[([^\[\]]+)\]", m.group(2))
    cur: Any = get(claim_keys[int(head)] if head.isdigit() else head)
    for s in selectors:
        try:
            if isinstance(cur, Fact):
                cur = (cur.value[int(s)] if s.isdigit() else getattr(cur, s)
                       if s in ("std", "note") else cur.context[s])
            else:
                cur = cur[int(s) if s.isdigit() else s]
        except (KeyError, IndexError, TypeError):
            raise KeyError(f"{ref!r}: no [{s}] there") from None
    return cur.value if isinstance(cur, Fact) else cur


def _render(template: str, claim_keys: Sequence[str]) -> str:
    def field_text(m: "re.Match[str]") -> str:
        parts = m.group(1).split()
        if len(parts) == 3 and parts[1] in ("-", "/"):
            a, b = _resolve(parts[0], claim_keys), _resolve(parts[2], claim_keys)
            return _format(a - b if parts[1] == "-" else a / b, m.group(2) or "")
        if len(parts) != 1:
            raise KeyError(f"{m.group(0)!r}: a field is one fact reference, or two with - or /")
        return _format(_resolve(parts[0], claim_keys), m.group(2) or "")
    return _FIELD.sub(field_text, template)


def _load_claims(data: Mapping[str, Any]) -> Tuple[Claim, ...]:
    """The claims of ``claims.toml`` (parsed), their texts filled in from the facts, checked."""
    out: Dict[str, Claim] = {}
    for name, block in data.items():
        if name == "chapters":
            continue
        for where, b in _blocks(f"claims.toml: {name}", block, _CLAIM_FIELDS - {"id"},
                                ("claims", "id"), {}):
            members = ([{"id": b["id"], "facts": b.get("facts", ())}] if "id" in b else
                       [{"id": c, "facts": [c]} if isinstance(c, str) else c for c in b["claims"]])
            for m in members:
                cw = f"{where}: {m.get('id')}"
                if set(m) - {"id", "facts"}:
                    _fail(cw, f"unknown field(s) {sorted(set(m) - {'id', 'facts'})}; known: id, facts")
                try:
                    ks = tuple(m["facts"])
                    for k in ks:
                        get(k)
                    for k in b.get("missing", ()):
                        _checks.choice("missing", k, tuple(_NOT_FOUND_KEYS))
                    c = Claim(m["id"], _render(b["statement"], ks), ks,
                              _checks.choice("chapter", b["chapter"], tuple(CHAPTERS)),
                              _render(b["how_to_test"], ks), _render(b.get("note", ""), ks),
                              tuple(b.get("missing", ())))
                except (KeyError, IndexError, TypeError, ValueError) as e:
                    _fail(cw, f"{type(e).__name__}: {e}")
                if not ks or c.id in out:
                    _fail(cw, "a claim needs facts" if not ks else "duplicate claim id")
                out[c.id] = c
    return tuple(out.values())


_CLAIMS = _load_claims(_CLAIM_DATA)
_CLAIM_IDS = {c.id: c for c in _CLAIMS}


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


def claims_table(chapter: Optional[str] = None) -> Any:
    """A DataFrame of :func:`claims`: id, chapter, statement, paper (cited), tags, how_to_test,
    note, missing."""
    return _pd().DataFrame([{"id": c.id, "chapter": c.chapter, "statement": c.statement,
                             "paper": "; ".join(cite(f, source=False) for f in c.facts()),
                             "tags": ", ".join(c.tags), "how_to_test": c.how_to_test,
                             "note": c.note, "missing": ", ".join(c.missing)}
                            for c in claims(chapter)],
                           columns=["id", "chapter", "statement", "paper", "tags", "how_to_test",
                                    "note", "missing"])


def not_found() -> List[NotFound]:
    """What the fact sheet says was not found (§7, and the batch-size figure of §2)."""
    return list(_NOT_FOUND)


# --------------------------------------------------------------------------------- ready-made tables


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def clr_table1() -> Any:
    """CLR Table 1: dataset/net, policy, iterations, acc %, tags, key (9 rows)."""
    return _pd().DataFrame([{"dataset/net": f.context["net"], "policy": f.context["policy"],
                             "iterations": f.context["iterations"], "acc %": f.value,
                             "tags": f.label, "key": f.key} for f in facts("clr.table1")])


def clr_table3() -> Any:
    """CLR Table 3 (CIFAR-10, adaptive optimizers; 'fixed' uses the lower LR bound), 12 rows:
    optimizer, LR range, policy, iterations (nullable: not stated for some rows), acc %, tags,
    key, note."""
    df = _pd().DataFrame([{"optimizer": f.context["optimizer"], "LR range": format_value(f.context["lr"]),
                           "policy": f.context["policy"], "iterations": f.context["iterations"],
                           "acc %": f.value, "tags": f.label, "key": f.key, "note": f.note}
                          for f in facts("clr.table3")])
    df["iterations"] = df["iterations"].astype("Int64")
    return df


def _pair_row(pc: Fact, clr: Fact) -> Dict[str, Any]:
    return {"PC-LR %": pc.value, "CLR %": clr.value, "gap": round(clr.value - pc.value, 1)}


def reduced_data_table() -> Any:
    """Super-Convergence Table 1 / Fig. 4a: samples, PC-LR %, CLR %, gap, tags, keys (5 rows)."""
    rows = []
    for n in REDUCED_DATA_SAMPLES:
        pc, clr = get(f"sc.reduced_data.{n}.pc"), get(f"sc.reduced_data.{n}.clr")
        rows.append({"samples": n, **_pair_row(pc, clr),
                     "tags": f"PC-LR: {pc.label}; CLR: {clr.label}",
                     "PC-LR key": pc.key, "CLR key": clr.key})
    return _pd().DataFrame(rows)


def depth_table(include_resnet56: bool = True) -> Any:
    """Super-Convergence Fig. 4b: net, PC-LR %, CLR %, gap, tags, keys, note; ResNet-56 (the
    headline run, §2) between -20 and -110 unless ``include_resnet56=False``."""
    spec = [("ResNet-20", "sc.depth.resnet20", "")]
    if include_resnet56:
        spec.append(("ResNet-56", "sc.headline", "the headline run (paper facts §2)"))
    spec.append(("ResNet-110", "sc.depth.resnet110", ""))
    rows = []
    for net, prefix, note in spec:
        kp, kc = ((f"{prefix}.pc_acc", f"{prefix}.clr_acc") if prefix == "sc.headline"
                  else (f"{prefix}.pc", f"{prefix}.clr"))
        pc, clr = get(kp), get(kc)
        rows.append({"net": net, **_pair_row(pc, clr), "tags": clr.label, "PC-LR key": kp,
                     "CLR key": kc, "note": note})
    return _pd().DataFrame(rows)


def authors_logs() -> Any:
    """The authors' Caffe logs [L] (ResNet-56; no paper table), one row per run (15 rows):
    experiment, setting, policy, acc % (NaN for the diverged run), max % (best during the run,
    where given), outcome ("final" / "diverged"), tags, key."""
    spec = [("CIFAR-100", "ResNet-56", "sc.logs.cifar100.clr", ""),
            ("CIFAR-100", "ResNet-56", "sc.logs.cifar100.pc", "")]
    spec += [("momentum", f"momentum {m}", f"sc.logs.momentum.{m}", "")
             for m in ("0.95", "0.9", "0.85", "0.8")]
    spec += [("weight decay", f"WD {wd}", f"sc.logs.wd.{wd}", "")
             for wd in ("1e-3", "1e-4", "1e-5", "1e-6")]
    spec += [("optimizer", "Nesterov", "sc.logs.nesterov.clr", ""),
             ("optimizer", "Nesterov", "sc.logs.nesterov.pc", "")]
    spec += [("optimizer", get(f"sc.logs.{o}").context["optimizer"], f"sc.logs.{o}", "not stated")
             for o in ("adam", "adagrad", "adadelta")]
    rows = []
    for exp, setting, key, policy in spec:
        f, mx = get(key), _FACTS.get(key + ".max")
        rows.append({"experiment": exp, "setting": setting,
                     "policy": policy or f.context.get("policy", ""), "acc %": _num(f.value),
                     "max %": mx.value if mx else math.nan,
                     "outcome": f.value if isinstance(f.value, str) else "final",
                     "tags": f.label, "key": key})
    df = _pd().DataFrame(rows)
    df["max %"] = df["max %"].astype(float)
    return df


def _lr_label(c: Mapping[str, Any], stepsize: str = "lr_stepsize_epochs", other: str = "") -> str:
    if c.get("lr_policy", c.get("policy")) == "1cycle":
        return f"{format_value(c['lr'])} / {c[stepsize]}"
    return f"{format_value(c['lr'])} {other or c['policy']}"


def one_cycle_table() -> Any:
    """The 1cycle table (SC v3 Table 2 = 1803.09820 Table 2; total batch 512), 22 rows:
    dataset/net, policy, policy/LR (as printed: "0.1–1.0 / 23" = LR range / stepsize in epochs,
    or "0.1 step"), CM ("0.95–0.85 / 23" or constant "0.9"), WD, epochs, acc %, std, tags, key.
    """
    rows = []
    for f in facts("onecycle.table"):
        c = f.context
        cm = (f"{format_value(c['momentum'])} / {c['cm_stepsize_epochs']}"
              if isinstance(c["momentum"], Range) else format_value(c["momentum"]))
        rows.append({"dataset/net": c["net"], "policy": c["policy"], "policy/LR": _lr_label(c),
                     "CM": cm, "WD": c["weight_decay"], "epochs": c["epochs"],
                     "acc %": f.value, "std": f.std, "tags": f.label, "key": f.key})
    return _pd().DataFrame(rows)


def momentum_study() -> Any:
    """1803.09820 Table 1 (ResNet-56, CIFAR-10, batch 512, 95 epochs), 10 rows: LR ("0.08–0.8
    / 41" 1cycle or "0.1 fixed"), momentum ("0.95–0.8" cyclical or constant), momentum policy,
    acc %, tags, key."""
    return _pd().DataFrame([{"LR": _lr_label(f.context, other="fixed"),
                             "momentum": format_value(f.context["momentum"]),
                             "momentum policy": f.context["momentum_policy"], "acc %": f.value,
                             "tags": f.label, "key": f.key}
                            for f in facts("onecycle.momentum_study")])


def imagenet_table() -> Any:
    """ImageNet (Fig. 7), 6 rows: net, run, epochs, WD, acc lo %, acc hi %, approx, outcome,
    tags, key, note. A single number has lo == hi; the unstable run has NaN accuracies."""
    rows = []
    for f in facts("imagenet.resnet50") + facts("imagenet.inception_resnet_v2"):
        c, v = f.context, f.value
        rows.append({"net": c["net"], "run": f.key.rsplit(".", 1)[1], "epochs": c.get("epochs"),
                     "WD": c.get("weight_decay"),
                     "acc lo %": v.lo if isinstance(v, Range) else _num(v),
                     "acc hi %": v.hi if isinstance(v, Range) else _num(v), "approx": f.approx,
                     "outcome": v if isinstance(v, str) else "final", "tags": f.label,
                     "key": f.key, "note": f.note})
    df = _pd().DataFrame(rows)
    df["epochs"] = df["epochs"].astype("Int64")
    df["WD"] = df["WD"].astype(float)
    return df
