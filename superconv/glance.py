"""The scorecard at a glance: the claims grouped into the experiments that judge them.

Several claims of the papers are judged from the same runs (at the laptop profile one ResNet-8
1cycle / PC-LR pair stands in for a row of the less-data ladder, the shallow end of the depth
ladder and two rows of the 1cycle table). Counting claims would count that pair many times, so the
scorecard's first screen counts *experiments*: findings with the same ``runs`` (the store keys of
what they read) are one experiment, whatever chapter judges them; findings without runs are
grouped by their chapter and experiment name. Each experiment has one verdict -- its claims'
verdict when they agree ("no paper number" does not vote), else "mixed" -- and a link to the
chapter section that states it (a MyST label each chapter declares: :func:`label`).

The same experiments give each chapter its "Result at this profile" box (:func:`result_markdown`)
and the introduction its findings (:func:`findings_html`), so a box, the scorecard and the
introduction cannot disagree.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from . import experiments, paper, scorecard
from .verdicts import COMPARED, VERDICTS

__all__ = ["MIXED", "GLANCE_VERDICTS", "COLORS", "Experiment", "experiments_of", "counts", "tally_text", "tally_sentence",
           "chapter_number", "label", "glance_markdown", "claims_html", "result_markdown", "findings_html"]

#: The verdict of an experiment whose claims' rules disagree (they judge the same runs differently).
MIXED = "mixed"

#: The verdicts an experiment can have, in the order the tally lists them.
GLANCE_VERDICTS = VERDICTS[:4] + (MIXED,) + VERDICTS[4:]

#: One colour per verdict (colour-blind-safe; the text says the verdict too).
COLORS = {"reproduced": "#029E73", "partly reproduced": "#ECE133", "not reproduced": "#D55E00",
          "inconclusive": "#CC78BC", MIXED: "#CA9161", "no paper number": "#949494", "not run": "#DDDDDD",
          "not testable at this budget": "#56B4E9"}


@dataclass(frozen=True)
class Experiment:
    """One experiment of the book at one profile, and the claims it judges.

    ``notebook``/``section``: where the first chapter (book order) that judges it states the
    verdict; ``notebooks``: every chapter that judges it; ``verdicts``: claim id -> verdict;
    ``rules``: the distinct rules, in claim order; ``catch_all``: not an experiment but a chapter's
    claims that no run of this profile judges (listed last, never counted as experiments)."""

    name: str
    profile: str
    notebook: str
    section: str
    notebooks: tuple
    claims: tuple
    verdict: str
    verdicts: dict
    seeds: tuple
    runs: int
    ours: str
    rules: tuple
    catch_all: bool = False


def _claim_verdict(claim, finding) -> str:
    """The verdict the scorecard shows: a comparison with a paper number that was not found
    says "no paper number" (as :func:`superconv.scorecard.table` does too)."""
    return "no paper number" if claim.missing and finding.verdict in COMPARED else finding.verdict


def _group_key(f, notebook: str) -> tuple:
    if f.runs:
        return ("runs", f.runs)
    if f.experiment:
        return ("name", notebook, f.experiment)
    if f.verdict == "not run":  # claims no experiment of this profile names: one row per chapter and reason
        return ("not run", notebook, f.rule == scorecard.UNTESTED_RULE)
    return ("claim", f.claim_id)


def _group_name(f, key: tuple, profile: str) -> str:
    if key[0] == "not run":
        if key[2]:
            return "claims no chapter of this book runs"
        return ("claims only the paper profile runs" if profile != "paper" and "PROFILE paper" in f.detail
                else "claims not run at this profile")
    return f.experiment or f.claim_id


def _one_verdict(words: list) -> str:
    voting = set(words) - {"no paper number"} or set(words)
    return voting.pop() if len(voting) == 1 else MIXED


def experiments_of(profile: str, store=None, found: dict | None = None) -> list:
    """The :class:`Experiment` list at ``profile``, in book order (``found``: the
    :func:`superconv.scorecard.judged` of that profile, if already computed)."""
    profile = experiments.resolve_profile(profile)
    found = scorecard.judged(profile, store) if found is None else found
    order = {nb: i for i, nb in enumerate(dict.fromkeys(scorecard.NOTEBOOKS.values()))}
    groups: dict = {}
    for c in paper.claims():
        nb, f = found[c.id]
        g = groups.setdefault(_group_key(f, nb), dict(claims=[], notebooks=[], rules=[]))
        g["claims"].append((c, f, nb))
        if nb not in g["notebooks"]:
            g["notebooks"].append(nb)
        if f.rule not in g["rules"]:
            g["rules"].append(f.rule)
    out = []
    for key, g in groups.items():
        words = {c.id: _claim_verdict(c, x) for c, x, _ in g["claims"]}
        nbs = tuple(sorted(g["notebooks"], key=order.get))
        first = nbs[0]
        lead = next(x for _, x, nb in g["claims"] if nb == first)
        out.append(Experiment(
            name=_group_name(lead, key, profile), profile=profile, notebook=first,
            section=lead.section,
            notebooks=nbs, claims=tuple(words), verdict=_one_verdict(list(words.values())), verdicts=words,
            seeds=tuple(sorted({s for _, x, _ in g["claims"] for s in x.seeds})),
            runs=len({r for _, x, _ in g["claims"] for r in x.runs}), ours=lead.ours, rules=tuple(g["rules"]),
            catch_all=key[0] == "not run"))
    # the experiments in book order (in a chapter, in claim order), then the groups of unrun claims
    return sorted(out, key=lambda e: (e.catch_all, order[e.notebook]))


def counts(exps: list) -> dict:
    """``{verdict: number of experiments}`` over :data:`GLANCE_VERDICTS` (catch-all rows left out)."""
    return {v: sum(e.verdict == v for e in exps if not getattr(e, "catch_all", False)) for v in GLANCE_VERDICTS}


def tally_sentence(profile: str, exps: list, where: str = "the last rows") -> str:
    """``"At the laptop profile, of the 14 experiments, 3 are reproduced, ...; 36 claims have no
    experiment at this profile (the last rows)."`` (``where`` they are listed)."""
    real = [e for e in exps if not e.catch_all]
    rest = sum(len(e.claims) for e in exps if e.catch_all)
    tail = (f"; {rest} claim{'s have' if rest != 1 else ' has'} no experiment at this profile ({where})"
            if rest else "")
    if not real:
        return f"At the {profile} profile there is no experiment{tail}."
    return f"At the {profile} profile, of the {len(real)} experiments, {tally_text(exps)}{tail}."


def tally_text(exps: list) -> str:
    """The experiments' verdicts in words: ``"2 are reproduced, 1 is inconclusive and 3 were
    not run"`` (verbs agreeing with their numbers; the verdicts that occur)."""
    words = {"reproduced": ("is reproduced", "are reproduced"), "partly reproduced": ("is partly reproduced",
             "are partly reproduced"), "not reproduced": ("is not reproduced", "are not reproduced"),
             "inconclusive": ("is inconclusive", "are inconclusive"),
             MIXED: ("has mixed verdicts (its claims' verdicts differ)", "have mixed verdicts (their claims' verdicts differ)"),
             "no paper number": ("has no paper number to compare with", "have no paper number to compare with"),
             "not testable at this budget": ("is not testable at this budget", "are not testable at this budget"),
             "not run": ("was not run", "were not run")}
    parts = [f"{n} {words[v][n != 1]}" for v, n in counts(exps).items() if n]  # catch-all rows left out
    if not parts:
        return "there is no experiment yet"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def chapter_number(notebook: str) -> int:
    """``chapters/03_one_cycle.ipynb`` -> 3."""
    return int(Path(notebook).name.split("_", 1)[0])


def label(notebook: str, section: str) -> str:
    """The MyST target of a chapter section, as the chapters declare it above the heading:
    ``(ch03-budget-sweep)=`` for ``label("chapters/03_one_cycle.ipynb", "budget-sweep")``.
    A ``{ref}`` to it resolves in the HTML book and in its single-page (PDF) build alike."""
    return f"ch{chapter_number(notebook):02d}-{section}"


def _swatch(verdict: str) -> str:
    return (f'<span class="sc-verdict" style="border-left: 0.8em solid {COLORS[verdict]}; padding-left: 0.3em" '
            f'aria-hidden="true"></span>')


def _badge(verdict: str) -> str:
    return (f'<span class="sc-verdict" style="border-left: 0.8em solid {COLORS[verdict]}; padding-left: 0.3em">'
            f"{html.escape(verdict)}</span>")


def _seeds_text(seeds: tuple, word: bool = False) -> str:
    """``"0, 1, 2"`` (``word``: ``"seeds 0, 1, 2"``, ``"seed 0"``); ``"—"`` for none."""
    if not seeds:
        return "—"
    text = ", ".join(map(str, seeds))
    return f"seed{'s' if len(seeds) > 1 else ''} {text}" if word else text


def _md(text: str) -> str:
    """``text`` safe inside Markdown: ``ε*`` and ``a_b`` stay literal."""
    return "".join("\\" + ch if ch in "\\*_`[]<>|${}" else ch for ch in text)


def _cell(text: str) -> str:
    """Text for a MyST table cell, inside inline HTML: HTML-escaped, Markdown markers escaped."""
    return _md(html.escape(text))


def glance_markdown(exps: list) -> str:
    """The one-screen scorecard, as MyST (``{glue:md}``): one row per experiment -- its name as
    a ``{ref}`` to the chapter section that states the verdict, the chapters, the number of
    claims, the verdict (the rule, our numbers and each claim's verdict in a dropdown) and the
    seeds."""
    rows = ["| experiment | ch. | claims | verdict (click) | seeds |", "|---|---|---|---|---|"]
    for e in exps:
        name = e.name.replace("<", "‹").replace(">", "›").replace("`", "'")
        link = f"{{ref}}`{name} <{label(e.notebook, e.section)}>`"
        chs = ", ".join(str(chapter_number(nb)) for nb in e.notebooks)
        per = "".join(f"<li>{_cell(c)}: {_cell(v)}</li>" for c, v in e.verdicts.items())
        rules = "".join(f"<p>{_cell(r)}</p>" for r in e.rules)
        detail = (f"<details><summary>{_badge(e.verdict)}</summary><div class=\"sc-rule\"><p><b>Ours:</b> "
                  f"{_cell(e.ours)}</p><p><b>Rule{'s' if len(e.rules) > 1 else ''}:</b></p>{rules}"
                  f"<ul>{per}</ul></div></details>")
        rows.append(f"| {link} | {chs} | {len(e.claims)} | {detail} | {_seeds_text(e.seeds)} |")
    return "\n".join(rows)


def claims_html(profiles, store=None) -> str:
    """Every claim, for researchers: per chapter topic a table of the claim (its statement; its
    id and the rule in a dropdown), the paper's number and, per profile, ours and the verdict."""
    card = scorecard.table(profiles, store)
    parts = []
    for topic, title in paper.CHAPTERS.items():
        part = card[card["chapter"] == topic]
        if part.empty:
            continue
        head = "<tr><th>claim</th><th>paper</th>" + "".join(
            f"<th>ours ({html.escape(p)})</th><th>verdict ({html.escape(p)})</th>" for p in profiles) + "</tr>"
        rows = []
        for _, r in part.iterrows():
            claim = (f"{html.escape(r['statement'])}<details><summary>id and rule</summary><code>"
                     f"{html.escape(r['claim'])}</code><p>{html.escape(r[f'rule ({profiles[0]})'])}</p>"
                     f"<p>{html.escape(r[f'detail ({profiles[0]})'])}</p></details>")
            cells = "".join(f"<td>{html.escape(str(r[f'ours ({p})']))}</td><td>{_badge(r[f'verdict ({p})'])}</td>"
                            for p in profiles)
            rows.append(f"<tr><td>{claim}</td><td>{html.escape(r['paper'])}</td>{cells}</tr>")
        parts.append(f"<h4>{html.escape(title)}</h4><table class=\"sc-claims\"><thead>{head}</thead>"
                     f"<tbody>{''.join(rows)}</tbody></table>")
    return "".join(parts)


def result_markdown(notebook: str, profile: str, store=None) -> str:
    """A chapter's "Result at this profile" box, as Markdown (``{glue:md}``): one line per
    experiment the chapter judges -- its verdict, our numbers and the seeds -- from the same
    :func:`experiments_of` the scorecard shows."""
    exps = [e for e in experiments_of(profile, store) if notebook in e.notebooks]
    if not exps:
        return f"This chapter judges no claim of the papers at the `{profile}` profile."
    lines = [f"At the `{profile}` profile, from the results store when this page was built (chapter 11 "
             "puts every chapter's side by side):", ""]
    for e in exps:
        if e.rules == (scorecard.UNTESTED_RULE,):
            lines.append(f"- **{_md(e.name)}** ({len(e.claims)}): the book has no run for "
                         f"{'them' if len(e.claims) > 1 else 'it'}; chapter 11 lists the paper's setting.")
            continue
        if e.verdict == "not run":
            lines.append(f"- **{_md(e.name)}**: not run at the `{profile}` profile (chapter 11 gives the command).")
            continue
        seeds = f" ({_seeds_text(e.seeds, word=True)})" if e.seeds else ""
        more = f"; shared with chapter {', '.join(str(chapter_number(nb)) for nb in e.notebooks if nb != notebook)}" \
            if len(e.notebooks) > 1 else ""
        lines.append(f"- **{_md(e.name)}: {e.verdict}**{seeds}{more}. {_md(e.ours)}.")
    return "\n".join(lines)


def findings_html(profile: str, store=None) -> str:
    """What the book found at ``profile``, for the introduction (glued across pages, so HTML
    without links; the chapters are named by number): the tally over experiments, then each
    experiment that has a verdict."""
    exps = experiments_of(profile, store)
    done = [e for e in exps if e.verdict != "not run" and not e.catch_all]
    items = "".join(
        f"<li>{_swatch(e.verdict)}<b>{html.escape(e.name)}</b>: {html.escape(e.verdict)} (chapter "
        f"{', '.join(str(chapter_number(nb)) for nb in e.notebooks)}"
        f"{'; ' + _seeds_text(e.seeds, word=True) if e.seeds else ''})</li>" for e in done)
    sentence = tally_sentence(profile, exps, where="chapter 11 lists them")
    return f"<p>{html.escape(sentence)}</p><ul class=\"sc-findings\">{items}</ul>"
