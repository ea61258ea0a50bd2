"""Every chapter states its verdict rules (its study's RULES) in a cell before it trains, and the
scorecard's findings quote exactly those rules."""

import json
import re
from pathlib import Path

import pytest

from superconv import chapter
from superconv.results import Store
from superconv.studies import (batch_size, clr, datasets, depth, hessian_free, imagenet, less_data, one_cycle,
                               range_tests, regularization)

ROOT = Path(__file__).resolve().parents[1]
STUDIES = {"01": clr, "02": range_tests, "03": one_cycle, "04": regularization, "05": hessian_free,
           "06": less_data, "07": depth, "08": batch_size, "09": datasets, "10": imagenet}
# A cell trains when it calls a study's run entry point (run, run_study, run_seeds, run_sweep,
# run_weight_decay_sweep, run_variant), experiments.run or fit directly.
TRAINS = re.compile(r"\bstudy\.run(_study|_seeds|_sweep|_weight_decay_sweep|_variant)?\(|\bexperiments\.run\(|\bfit\(|"
                    r"\bcalibration\.run\(")
RULES_CELL = "chapter.rules_markdown(study.RULES)"


def code_cells(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]


@pytest.mark.parametrize("number", sorted(STUDIES))
def test_rules_come_before_the_first_training_cell(number):
    (path,) = sorted((ROOT / "chapters").glob(f"{number}_*.ipynb"))
    cells = code_cells(path)
    name = STUDIES[number].__name__.split(".")[-1]
    assert f"import {name} as study" in "".join(src for _, src in cells), f"{path.name} is not {name}'s chapter"
    training = [i for i, src in cells if TRAINS.search(src)]
    rules = [i for i, src in cells if RULES_CELL in src]
    assert training, f"{path.name}: no training cell found (update TRAINS?)"
    assert rules, f"{path.name}: no cell shows {RULES_CELL}"
    assert rules[0] < training[0], f"{path.name}: the rules cell {rules[0]} comes after training cell {training[0]}"


@pytest.mark.parametrize("number", sorted(STUDIES))
def test_findings_quote_the_stated_rules(number, tmp_path):
    study = STUDIES[number]
    assert study.RULES and all(isinstance(r, str) and r for r in study.RULES.values())
    store = Store(tmp_path)  # empty: every finding is "not run", with the rule it will be judged by
    for profile in ("smoke", "laptop", "paper"):
        for f in study.findings(profile, store):
            assert f.rule in study.RULES.values(), (study.__name__, f.claim_id, f.rule)


def test_rules_markdown():
    text = chapter.rules_markdown({"speed": "faster by 5×.", "accuracy": "within 0.5 points"})
    assert text.splitlines()[2:] == ["* *speed*: faster by 5×.", "* *accuracy*: within 0.5 points."]
    with pytest.raises(ValueError):
        chapter.rules_markdown({})
