"""The book page "The papers' numbers" (``paper_facts.md``), generated from the facts' data files.

``python -m superconv.fact_sheet --write paper_facts.md`` regenerates it; ``tests/test_fact_sheet.py``
keeps the committed page equal to what this module renders.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ._pages import md_table, page_main
from .paper import (AUTHOR_REPOS, PAPERS, SECTIONS, TAGS, Fact, claims, format_value, get, layout,
                    not_found, section_files)

__all__ = ["fact_sheet_markdown", "main"]

_MD_SPECIAL = re.compile(r"([*|$<`\\])|(?<![^\W_])_|_(?![^\W_])")


def _md(x: Any) -> str:
    """Text for a markdown table cell: MyST's special characters escaped (an underscore inside
    a word is plain text already)."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), x if isinstance(x, str) else format_value(x))


def _shown(f: Fact) -> str:
    s = ("~" if f.approx else "") + _md(f.value)
    s += f" ± {format_value(f.std)}" if f.std is not None else ""
    return s + (f" {_md(f.unit)}" if f.unit else "")


def _columns(group: Sequence[Fact]) -> Dict[str, List[str]]:
    cols = {"key": [f"`{f.key}`" for f in group], "value": [_shown(f) for f in group],
            "source": [_md(f.source) for f in group], "tag": [_md(f.label) for f in group]}
    for name in dict.fromkeys(k for f in group for k in f.context):
        cols[name] = [_md(f.context[name]) if f.context.get(name) is not None else "—"
                      for f in group]
    cols["note"] = [_md(f.note) for f in group]
    return cols


def _same(cols: Mapping[str, List[str]]) -> Dict[str, str]:
    """The columns (but key and value) whose every row says the same: said once, not per row."""
    return {k: v[0] for k, v in cols.items() if k not in ("key", "value") and len(set(v)) == 1}


def _caption(said: Mapping[str, str]) -> List[str]:
    parts = [f"[{v}]" if k == "tag" else f"{'Source' if k == 'source' else k}: {v}"
             for k, v in said.items()
             if k != "note" and v not in ("", "—")]
    note = said.get("note", "")
    text = " · ".join(parts) + (". " if parts and note else "") + (f"Note: {note}." if note else "")
    return [text, ""] if text else []


def _facts_md(group: Sequence[Fact], known: Mapping[str, str]) -> List[str]:
    """One table; what every row shares (but what the heading's caption said) goes above it."""
    cols = _columns(group)
    same = _same(cols)
    keep = [k for k in cols if k not in same]
    return (_caption({k: v for k, v in same.items() if known.get(k) != v})
            + md_table(keep, list(zip(*(cols[k] for k in keep)))))


def _section_md(files: Mapping[str, Mapping[str, Any]], fname: str) -> List[str]:
    data, sid = files[fname], files[fname]["section"]
    lines = [f"(facts-s{sid[1:]})=", f"## {sid} {SECTIONS[sid]}", "", data["about"], ""]
    tables = [e for e in layout() if e[0] == sid]
    for i, (_, heading, ks, settings) in enumerate(tables):
        if i == 0 or heading != tables[i - 1][1]:
            whole = [get(k) for e in tables if e[1] == heading for k in e[2]]
            known = {k: v for k, v in _same(_columns(whole)).items() if k in ("source", "tag")}
            if settings is not None:
                known["tag"] = _md(settings.tag_text or ", ".join(settings.tags))
                known["note"] = _md(settings.note)
            lines += [f"### {heading}", "", *_caption(known)]
        lines += _facts_md([get(k) for k in ks], known)
    if sid == "§7":
        lines += md_table(["key", "not found", "hint", "related facts"],
                           [[f"`{n.key}`", _md(n.what), _md(n.hint) or "—",
                             ", ".join(f"`{k}`" for k in n.related_keys) or "—"]
                            for n in not_found()])
    return lines


def fact_sheet_markdown() -> str:
    """The book page "The papers' numbers" (MyST markdown): the tags, every fact and setting by
    section (targets ``facts-s1`` ... ``facts-s7``), and the scorecard's claims (``facts-claims``)."""
    papers = [f"* {p['authors']}, *{_md(p['title'])}*, [arXiv {p['arxiv']}]"
              f"(https://arxiv.org/abs/{p['arxiv']}){' ' + p['version'] if 'version' in p else ''}"
              f"{', ' + p['venue'] if 'venue' in p else ''}" for p in PAPERS.values()]
    files = section_files()
    lines = [
        "# The papers' numbers", "",
        "Every number, formula and setting of the papers that this book compares against: the",
        "book's fact sheet. Chapters, tables and the code cite its sections as *paper facts §n*",
        "(§1 to §7 below). The package reads them from the data files",
        "`superconv/facts/*.toml` (`superconv.paper.get(key)` is one fact); this page is generated",
        "from the same files by `python -m superconv.fact_sheet --write paper_facts.md`. The papers:", "",
        *papers, "",
        "The authors' repositories: " + ", ".join(
            f"[{r}](https://github.com/{r})" for r in AUTHOR_REPOS) + ".", "",
        "Each number carries a confidence tag (two where sources agree, e.g. *S, logs agree*); a",
        "`~` marks a number the source gives as approximate, `±` the spread over runs.", "",
        *md_table(["tag", "the number was"], [[f"**{t}**", _md(d)] for t, d in TAGS.items()]),
    ]
    for fname in files:
        lines += _section_md(files, fname)
    lines += ["(facts-claims)=", "## The claims of the scorecard", "",
              "What chapter 11 scores, in its order: each claim names the facts that carry the",
              "paper's numbers, and its text is filled in from them.", "",
              *md_table(["claim", "topic", "statement", "facts"],
                         [[f"`{c.id}`", _md(c.chapter), _md(c.statement),
                           ", ".join(f"`{k}`" for k in c.paper_value_keys)] for c in claims()])]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Optional[Sequence[str]] = None) -> None:
    page_main("python -m superconv.fact_sheet", "Print (or write) the book page of the papers' facts.",
              fact_sheet_markdown, argv)


if __name__ == "__main__":
    main()
