"""What every chapter's study repeats, written once: its notebook, its default seeds, the command
that computes it, its "not run" findings, and walking its runs through the results store.

Each study module declares one :class:`Chapter` and takes its seed and command helpers from it::

    CHAPTER = base.Chapter("chapters/06_less_training_data.ipynb",
                           seeds={"laptop": {"one_cycle": [0, 1], "pc_lr": [0]}, ...})
    default_seeds, command = CHAPTER.default_seeds, CHAPTER.command

so that the notebook's ``SEEDS = None``, the scorecard's findings and the printed commands all
read the same table. A study's runs are a *spec tree*: a list of run specs (one per seed), or a
dict whose values are spec trees (``{policy: [...]}``, ``{rung: {policy: [...]}}``, ...).
:func:`train_tree` and :func:`stored_tree` turn one into the same shape of ``History`` lists
(trained or loaded, or only those the store holds); :func:`hardware` names what trained them.
The ladders of part 2 (pairs over one varied setting) build on these in :mod:`.ladder`; the
verdict words and shared rules are :mod:`superconv.verdicts`.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from .. import chapter, experiments, verdicts
from ..results import Store, spec_key
from ..verdicts import Finding

__all__ = ["Chapter", "notebook_globals", "check_plan", "train_tree", "stored_tree", "histories", "hardware",
           "evidence"]


#: A notebook parameter's name: upper case (papermill injects every ``-p NAME`` as a global).
_PARAMETER = re.compile(r"^[A-Z][A-Z0-9_]*$")
#: Where :meth:`Chapter.setup` notes the names the namespace held when it first ran, so that a
#: re-run of the setup cell does not take the constants the notebook bound since for parameters.
_SEEN = "_superconv_setup_names"


def _plain(value: Any) -> bool:
    return not callable(value) and not isinstance(value, types.ModuleType)


def _candidates(namespace: Mapping[str, Any]) -> dict:
    """The globals bound to plain values (an imported ``HTML`` class or a module is not a
    parameter); on a re-run of the setup cell, only those it saw the first time."""
    seen = namespace.get(_SEEN)
    return {k: v for k, v in namespace.items() if _plain(v) and (seen is None or k in seen)}


def notebook_globals(namespace: Mapping[str, Any]) -> dict:
    """The parameter-like globals of a notebook's namespace: upper-case names of
    :func:`_candidates`."""
    return {k: v for k, v in _candidates(namespace).items() if _PARAMETER.match(k)}


@dataclass(frozen=True)
class Chapter:
    """One chapter's fixed facts: its notebook; ``seeds``, which maps each profile to its
    default seeds, either one list (every run) or ``{policy: list}`` (None: the chapter trains
    nothing); and its parameters beyond PROFILE, DEVICE, SEEDS (and MODERN where ``modern``):
    ``knobs`` maps each name to its ``chapter`` checker, and ``validate(profile, values)`` checks
    what one value alone cannot (BASE_LR < MAX_LR), returning normalised values or None.
    ``seeds_policy``: where seeds differ by policy, the one whose seeds SEEDS sets.

    :meth:`setup` is the notebook's first step, and the CLI runs the same checks before it
    launches the notebook (:meth:`check`)."""

    notebook: str
    seeds: Mapping[str, Any] | None
    knobs: Mapping[str, Callable[[str, Any], Any]] = field(default_factory=dict)
    validate: Callable[[str, dict], Mapping | None] | None = None
    seeds_policy: str | None = None
    modern: bool = True

    def __post_init__(self):
        if self.seeds is None:
            return
        missing = set(experiments.PROFILES) - set(self.seeds)
        if missing:
            raise ValueError(f"{self.notebook}: seeds for profile(s) {', '.join(sorted(missing))} are missing")

    @property
    def parameters(self) -> tuple:
        """Every parameter of the chapter's ``parameters`` cell, in its order."""
        return ("PROFILE", "DEVICE", "SEEDS") + (("MODERN",) if self.modern else ()) + tuple(self.knobs)

    def setup(self, namespace: Mapping[str, Any], apply: bool = True) -> chapter.Context:
        """The notebook's first step (``study.CHAPTER.setup(globals())``): every parameter
        checked before any work, one line naming it and what is allowed on a bad value
        (``chapter.ParameterError``), and an upper-case name the chapter does not declare (a
        misspelled ``papermill -p MAX_LRR 3``) refused with the valid names. ``apply=False``
        changes nothing in the process (the CLI's check before launch)."""
        given = notebook_globals(namespace)
        unknown = [n for n in given if n not in self.parameters]
        # papermill -p max_lr 3 injects a lower-case max_lr, which no cell would read
        unknown += [k for k in _candidates(namespace) if k != k.upper() and k.upper() in self.parameters]
        if unknown:
            raise chapter.ParameterError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} of "
                f"{Path(self.notebook).stem}; allowed: {', '.join(self.parameters)} (upper case)")
        missing = [n for n in self.parameters if n not in given]
        if missing:
            raise TypeError(f"{self.notebook}: its parameters cell lacks {', '.join(missing)}")
        ctx = chapter.setup(given["PROFILE"], given["DEVICE"], given["SEEDS"],
                            default_seeds=None if self.seeds is None else self.seed_table(self.seeds_policy),
                            modern=given.get("MODERN"), apply=apply,
                            **{n: (given[n], check) for n, check in self.knobs.items()})
        if self.validate is not None:
            ctx.knobs.update(self.validate(ctx.profile, dict(ctx.knobs)) or {})
        if apply and _SEEN not in namespace and isinstance(namespace, dict):
            namespace[_SEEN] = frozenset(namespace)
        return ctx

    def check(self, values: Mapping[str, Any]) -> None:
        """:meth:`setup`'s checks of a full set of parameter values, changing nothing: what the
        CLI runs before it launches the notebook. DEVICE is the CLI's to check (a job may run
        on another machine)."""
        self.setup({**values, "DEVICE": "cpu"}, apply=False)

    @property
    def per_policy(self) -> bool:
        """True where the seeds differ by policy (``{policy: [...]}`` per profile)."""
        if self.seeds is None:
            return False
        return isinstance(next(iter(self.seeds.values())), Mapping)

    def default_seeds(self, profile: str | None, policy: str | None = None) -> list:
        """The seeds a run group takes at ``profile`` when the notebook leaves them None;
        ``policy`` is required where the seeds differ by policy, and refused where they do not."""
        if self.seeds is None:
            raise ValueError(f"{self.notebook} trains nothing: it has no seeds")
        table = self.seeds[experiments.resolve_profile(profile)]
        if not self.per_policy:
            if policy is not None:
                raise ValueError(f"{self.notebook}: the same seeds serve every policy; policy={policy!r} "
                                 "is not allowed here (leave it None)")
            return list(table)
        if policy not in table:
            raise ValueError(f"policy={policy!r} is not allowed; allowed: {', '.join(map(repr, table))}")
        return list(table[policy])

    def seed_table(self, policy: str | None = None) -> dict:
        """``{profile: seeds}`` of one policy (or of every run): ``chapter.setup``'s ``default_seeds``."""
        if self.seeds is None:
            raise ValueError(f"{self.notebook} trains nothing: it has no seeds")
        return {p: self.default_seeds(p, policy) for p in self.seeds}

    def seeds_text(self, policy: str | None = None) -> str:
        """The default seeds in words, as a chapter's parameters cell states them:
        ``"smoke [0], laptop [0, 1, 2], paper [0, 1, 2]"`` (``"[0] at every profile"``)."""
        table = self.seed_table(policy)
        if len({tuple(v) for v in table.values()}) == 1:
            return f"{next(iter(table.values()))} at every profile"
        return ", ".join(f"{p} {v}" for p, v in table.items())

    def seeds_or_default(self, profile: str | None, seeds: Sequence[int] | None, policy: str | None = None,
                         name: str = "seeds") -> list:
        """``seeds`` checked (``experiments.check_seeds``, naming ``name``), or the default if None."""
        return experiments.check_seeds(self.default_seeds(profile, policy) if seeds is None else seeds, name)

    def command(self, profile: str | None = "paper", **params: Any) -> str:
        """The papermill command that computes the chapter's runs at ``profile`` (paper: on a
        GPU), with further notebook parameters ``params``."""
        return verdicts.command(self.notebook, profile, **params)

    def not_run(self, claim_id: str, profile: str | None, rule: str, run_at: str | None = None,
                experiment: str = "", section: str = "paper-vs-ours", runs: tuple = ()) -> Finding:
        """The finding for a claim of this chapter whose runs are not in the store: the rule it
        will be judged by, and the command that computes it at ``run_at`` (default ``profile``;
        "paper" for a claim only the paper profile runs); ``experiment``/``section`` as when run."""
        profile = experiments.resolve_profile(profile)
        return verdicts.not_run(claim_id, profile, rule, self.command(run_at or profile), experiment, section, runs)


def check_plan(build: Callable[[], Any], names: Mapping[str, str] | Sequence[str] = ()) -> None:
    """Build a chapter's run specs from its parameters (cheap: no data, no training) and turn a
    ``ValueError`` of the combination into the ``chapter.ParameterError`` a chapter's
    ``validate`` raises. A message that starts with a setting (``every=6 ...``) names the
    notebook parameter: ``names`` maps the setting to it (a sequence: the setting in upper case,
    ``EVERY=6 ...``; another name is put in front, ``BATCH_SIZES: batch_size=5000 ...``)."""
    try:
        build()
    except ValueError as e:
        text = str(e)
        table = names if isinstance(names, Mapping) else {n.lower(): n for n in names}
        head = re.match(r"^([a-z_]+)(?==)", text)
        param = table.get(head.group(1)) if head else None
        if param and param == head.group(1).upper():
            text = param + text[head.end():]
        elif param:
            text = f"{param}: {text}"
        raise chapter.ParameterError(text) from None


# --------------------------------------------------------------------------- spec trees

def _map(tree: Any, leaf: Callable[[list], Any]) -> Any:
    """``tree`` with every list of specs replaced by ``leaf(list)``, in the tree's key order."""
    if isinstance(tree, Mapping):
        return {k: _map(v, leaf) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return leaf(list(tree))
    raise TypeError(f"a spec tree holds dicts and lists of run specs, not {type(tree).__name__}")


def train_tree(tree: Any, profile: str, device: str = "auto", store: Store | None = None,
               progress: bool = False) -> Any:
    """Every run of ``tree`` trained, or loaded from the store (``experiments.run``), in the
    tree's order: the same shape with a ``History`` per spec."""
    store = store or Store()
    return _map(tree, lambda specs: [experiments.run(s, profile, device=device, store=store, progress=progress)
                                     for s in specs])


def stored_tree(tree: Any, profile: str, store: Store | None = None) -> tuple | None:
    """What the store holds of ``tree`` (nothing trains): ``(found specs, histories)``, both in
    ``tree``'s shape with the specs that have no record left out; None if none has one."""
    store = store or Store()
    pairs = _map(tree, lambda specs: experiments.stored_runs(specs, profile, store))
    found, hists = _unzip(pairs, 0), _unzip(pairs, 1)
    return (found, hists) if histories(hists) else None


def _unzip(tree: Any, i: int) -> Any:
    """Item ``i`` of every ``(specs, histories)`` leaf of ``tree``."""
    return {k: _unzip(v, i) for k, v in tree.items()} if isinstance(tree, Mapping) else tree[i]


def _leaves(tree: Any) -> Iterator[list]:
    if isinstance(tree, Mapping):
        for v in tree.values():
            yield from _leaves(v)
    else:
        yield tree


def histories(tree: Any) -> list:
    """Every ``History`` of a tree of histories, flattened in the tree's order (None left out)."""
    return [h for hs in _leaves(tree) for h in hs if h is not None]


def hardware(tree: Any) -> str:
    """``"hardware: AMD EPYC (...)"``: the devices that trained a tree of histories (a study's note)."""
    return "hardware: " + experiments.device_names(histories(tree))


def evidence(*trees: Any) -> dict:
    """What a finding's verdict reads, for :class:`~superconv.verdicts.Finding`'s ``runs`` and
    ``seeds``: the settings of every run spec in ``trees`` (spec trees, or lists of specs) as
    store keys of the spec without its seed, and the seeds, each sorted. Two findings with the
    same ``runs`` judge the same experiment (the seeds are its replicates, whichever each used)."""
    specs = [s for t in trees for leaf in _leaves(t) for s in leaf]
    settings = {spec_key({k: v for k, v in s.items() if k != "seed"}) for s in specs}
    return dict(runs=tuple(sorted(settings)), seeds=tuple(sorted({s["seed"] for s in specs})))
