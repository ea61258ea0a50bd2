"""The book page "The papers' numbers" (paper_facts.md): generated from superconv/facts/*.toml."""

import re
from pathlib import Path

import pytest

from superconv import fact_sheet, paper

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "paper_facts.md"


@pytest.fixture(scope="module")
def text():
    return fact_sheet.fact_sheet_markdown()


def test_committed_page_is_the_generated_one(text):
    assert PAGE.read_text(encoding="utf-8") == text, (
        "paper_facts.md is stale: regenerate it with `python -m superconv.fact_sheet --write "
        "paper_facts.md` and commit it")


def test_page_is_in_the_table_of_contents():
    assert re.search(r"^\s*- file: paper_facts\s*$", (ROOT / "_toc.yml").read_text(), re.M)


def test_sections_have_stable_targets(text):
    lines = text.splitlines()
    assert lines[0] == "# The papers' numbers"
    for n, title in enumerate(paper.SECTIONS.values(), 1):
        i = lines.index(f"(facts-s{n})=")
        assert lines[i + 1] == f"## §{n} {title}"
    assert lines[lines.index("(facts-claims)=") + 1].startswith("## ")
    assert len(re.findall(r"^\(facts-[a-z0-9]+\)=$", text, re.M)) == 8


def _cells(row):
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def test_tables_are_well_formed(text):
    tables = re.findall(r"(?:^\|.*\|\n)+", text, re.M)
    assert len(tables) > 30
    for t in tables:
        rows = t.splitlines()
        assert set(rows[1]) == {"|", "-"}, rows[:2]
        width = len(_cells(rows[0]))
        assert all(len(_cells(r)) == width for r in rows), rows[0]


def test_every_fact_claim_and_missing_number_is_on_the_page(text):
    for k in paper.keys():
        assert f"| `{k}` |" in text, k
    for c in paper.claims():
        assert f"| `{c.id}` |" in text, c.id
    for n in paper.not_found():
        assert f"| `{n.key}` |" in text, n.key
    for t in paper.TAGS:
        assert f"| **{t}** |" in text


def test_no_python_reprs(text):
    for raw in ("Range(", "mappingproxy", "None", "True", "False", "{'", "['", "\\n"):
        assert raw not in text, raw
