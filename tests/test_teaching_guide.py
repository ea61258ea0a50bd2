"""The teaching guide against the chapters it names: every exercise and parameter it cites exists
in the chapter it names, every time it states has its measurement named, and it has learning
objectives per part and discussion questions with answers."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "teaching_guide.md").read_text(encoding="utf-8")


def _chapter(number: int) -> dict:
    (path,) = sorted((ROOT / "chapters").glob(f"{number:02d}_*.ipynb"))
    return json.loads(path.read_text(encoding="utf-8"))


def _parameters(number: int) -> set:
    cell = next(c for c in _chapter(number)["cells"] if "parameters" in c["metadata"].get("tags", []))
    return set(re.findall(r"^([A-Z_][A-Z0-9_]*) =", "".join(cell["source"]), re.M))


def _exercises(number: int) -> dict:
    """``{n: text of exercise n}`` of a chapter's Exercises section."""
    out, on = {}, False
    for c in _chapter(number)["cells"]:
        s = "".join(c["source"])
        if c["cell_type"] == "markdown" and re.search(r"^## Exercises", s, re.M):
            on = True
        if on and c["cell_type"] == "markdown":
            for m in re.finditer(r"^\*\*(\d+)\. ", s, re.M):
                out[int(m.group(1))] = s
    return out


def _plan_rows() -> list:
    """The rows of the 90-minute plan: (minutes, what, chapter column)."""
    section = GUIDE.split("## A 90-minute class", 1)[1].split("\n## ", 1)[0]
    rows = [r.strip().strip("|").split("|") for r in section.splitlines() if r.startswith("|")]
    return [[c.strip() for c in r] for r in rows[2:]]


def test_every_exercise_the_plan_names_is_in_its_chapter():
    cited = 0
    for minutes, what, chapters in _plan_rows():
        for n, ch in re.findall(r"[Ee]xercise (\d+) of chapter (\d+)", what):
            ex = _exercises(int(ch))
            assert int(n) in ex, f"{minutes}: chapter {ch} has no exercise {n} (it has {sorted(ex)})"
            # the exercise's own words: a name the plan quotes in backticks is in its text
            for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)`", what):
                if not name.isupper():
                    assert name in ex[int(n)], f"{minutes}: `{name}` is not in exercise {n} of chapter {ch}"
            cited += 1
    assert cited >= 1


def test_every_parameter_the_guide_names_belongs_to_its_chapter():
    # -p NAME in a command that names its chapter (run N, or chapters/NN_...)
    checked = 0
    for line in GUIDE.splitlines():
        chapter = re.search(r"superconv run (\d+)|chapters/(\d\d)_", line)
        for name in re.findall(r"-p ([A-Z_][A-Z0-9_]*)", line):
            assert chapter, f"-p {name} without its chapter in: {line.strip()}"
            number = int(chapter.group(1) or chapter.group(2))
            assert name in _parameters(number), f"chapter {number} has no parameter {name}"
            checked += 1
        for name in re.findall(r"`([A-Z][A-Z0-9_]{2,})`", line):  # a parameter in the plan's rows
            rows = {r[0]: r for r in _plan_rows()}
            row = next((r for r in rows.values() if name in r[1]), None)
            if row and row[2].isdigit():
                assert name in _parameters(int(row[2])), f"chapter {row[2]} has no parameter {name}"
    assert checked >= 2
    # papermill's -p passes a list as text: a list goes through the CLI (which reads literals) or -y
    assert not re.search(r"papermill [^\n`]*-p [A-Z_]*SEEDS \"\[", GUIDE)


def test_the_guide_has_objectives_per_part_and_discussion_questions_with_answers():
    objectives = GUIDE.split("## Learning objectives", 1)[1].split("\n## ", 1)[0]
    for part in ("part 1", "part 2", "part 3"):
        assert f"**{part}" in objectives, part
    questions = GUIDE.split("## Discussion questions", 1)[1].split("\n## ", 1)[0]
    asked = re.findall(r"^\d+\. \*\*", questions, re.M)
    answers = re.findall(r"\{admonition\} Answer\n\s*:class: dropdown", questions)
    assert 3 <= len(asked) <= 4 and len(answers) == len(asked)


def test_stated_times_name_their_measurement():
    # every "x min" or "x s" of the guide is in a paragraph or table that says when and where it was measured
    blocks = re.split(r"\n\s*\n", GUIDE)
    for block in blocks:
        if re.search(r"\b\d+(\.\d+)? (min|s)\b", block) and "|" not in block.splitlines()[0]:
            assert re.search(r"measured|build|timed|2026-", block), block[:200]
