"""What every study shares (superconv.studies.base): one Chapter per study -- its notebook, its
default seeds and its commands -- that the notebook, the findings and the printed commands all
read; and the spec-tree walks through the results store."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from superconv import chapter, scorecard, verdicts
from superconv import experiments as ex
from superconv.results import Store
from superconv.studies import (base, batch_size, clr, datasets, depth, hessian_free, imagenet, less_data, one_cycle,
                               range_tests, regularization)
from superconv.train import History

ROOT = Path(__file__).resolve().parents[1]
STUDIES = {"01": clr, "02": range_tests, "03": one_cycle, "04": regularization, "05": hessian_free,
           "06": less_data, "07": depth, "08": batch_size, "09": datasets, "10": imagenet}
#: Which policy each seed parameter of a per-policy chapter names.
SEED_PARAMS = {"SEEDS": "one_cycle", "PC_SEEDS": "pc_lr"}

PER_POLICY = base.Chapter("chapters/x.ipynb", seeds={
    "smoke": {"one_cycle": [0], "pc_lr": [0]}, "laptop": {"one_cycle": [0, 1, 2], "pc_lr": [0, 1]},
    "paper": {"one_cycle": [0, 1, 2], "pc_lr": [0, 1]}})
SHARED = base.Chapter("chapters/y.ipynb", seeds={"smoke": [0], "laptop": [0], "paper": [0]})


# --------------------------------------------------------------------------- Chapter

def test_default_seeds_per_policy_and_shared():
    assert PER_POLICY.per_policy and not SHARED.per_policy
    assert PER_POLICY.default_seeds("laptop", "pc_lr") == [0, 1]
    assert PER_POLICY.seed_table("one_cycle") == {"smoke": [0], "laptop": [0, 1, 2], "paper": [0, 1, 2]}
    assert SHARED.default_seeds("paper") == [0]
    with pytest.raises(ValueError, match="policy=None is not allowed; allowed: 'one_cycle', 'pc_lr'"):
        PER_POLICY.default_seeds("laptop")
    with pytest.raises(ValueError, match="policy='pc_lr' is not allowed here"):
        SHARED.default_seeds("laptop", "pc_lr")
    # a copy: a caller that appends to its seeds does not change the chapter's table
    PER_POLICY.default_seeds("laptop", "pc_lr").append(7)
    assert PER_POLICY.default_seeds("laptop", "pc_lr") == [0, 1]


def test_a_chapter_needs_seeds_for_every_profile():
    with pytest.raises(ValueError, match="seeds for profile.s. paper are missing"):
        base.Chapter("chapters/z.ipynb", seeds={"smoke": [0], "laptop": [0]})


def test_seeds_text_and_seeds_or_default():
    assert PER_POLICY.seeds_text("pc_lr") == "smoke [0], laptop [0, 1], paper [0, 1]"
    assert SHARED.seeds_text() == "[0] at every profile"
    assert PER_POLICY.seeds_or_default("paper", None, "one_cycle") == [0, 1, 2]
    assert PER_POLICY.seeds_or_default("paper", [4, 5], "one_cycle") == [4, 5]
    with pytest.raises(chapter.ParameterError, match="PC_SEEDS") as e:
        PER_POLICY.seeds_or_default("paper", [1, 1], "pc_lr", "PC_SEEDS")
    assert "\n" not in str(e.value)


def test_command_and_not_run():
    assert SHARED.command() == verdicts.command("chapters/y.ipynb", "paper") == \
        "papermill chapters/y.ipynb out.ipynb -p PROFILE paper -p DEVICE cuda"
    assert SHARED.command("laptop", N=3) == "papermill chapters/y.ipynb out.ipynb -p PROFILE laptop -p N 3"
    f = SHARED.not_run("x.claim", "laptop", "a rule")
    assert (f.verdict, f.rule, f.detail) == ("not run", "a rule", "run: " + SHARED.command("laptop"))
    assert SHARED.not_run("x.claim", "laptop", "a rule", run_at="paper").detail == "run: " + SHARED.command()


# --------------------------------------------------------------------------- every study has one

@pytest.mark.parametrize("number", sorted(STUDIES))
def test_every_study_declares_its_chapter(number):
    study = STUDIES[number]
    (path,) = sorted((ROOT / "chapters").glob(f"{number}_*.ipynb"))
    assert study.CHAPTER.notebook == f"chapters/{path.name}"
    # the module's helpers are the Chapter's, not copies of them
    assert study.default_seeds == study.CHAPTER.default_seeds and study.command == study.CHAPTER.command
    assert study.command().startswith(f"papermill chapters/{path.name} ")


@pytest.mark.parametrize("number", sorted(STUDIES))
def test_notebooks_take_their_default_seeds_from_the_chapter(number):
    """The setup cell is the study's own Chapter (its seed table, its checks), and the
    parameters cell's comment states exactly that table (no typed copy that can drift)."""
    ch = STUDIES[number].CHAPTER
    nb = json.loads((ROOT / ch.notebook).read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    params = next("".join(c["source"]) for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    assert "ctx = study.CHAPTER.setup(globals())" in code[2] and "chapter.setup(" not in code[2]
    assert ch.seeds_policy == ("one_cycle" if ch.per_policy else None)
    for name, pol in SEED_PARAMS.items():
        m = re.search(rf"^{name} = None  #(.*)$", params, re.M)
        if m is None:
            assert name == "PC_SEEDS" and not ch.per_policy, f"{ch.notebook}: no {name} parameter"
            continue
        stated = ch.seeds_text(pol if ch.per_policy else None)
        assert f"None: the profile's ({stated})" in m.group(1), (ch.notebook, name, m.group(1))


def test_the_scorecard_points_at_the_studies_notebooks():
    chapters = {m.CHAPTER.notebook for m in STUDIES.values()}
    assert set(scorecard.NOTEBOOKS.values()) == chapters


# --------------------------------------------------------------------------- spec trees

def _history(acc, name="test CPU"):
    return History(eval_iters=[10], test_acc=[acc], iterations=10, wall_time=1.0, config={"device_name": name})


def test_stored_tree_reads_only_what_the_store_has(tmp_path):
    store = Store(tmp_path)
    tree = {2000: {p: [ex.ladder_spec("smoke", p, seed=s) for s in (0, 1)] for p in one_cycle.POLICIES}}
    assert base.stored_tree(tree, "smoke", store) is None
    store.put(tree[2000]["one_cycle"][1], "smoke", _history(80.0))
    found, hists = base.stored_tree(tree, "smoke", store)
    assert found == {2000: {"one_cycle": [tree[2000]["one_cycle"][1]], "pc_lr": []}}
    assert [h.final_test_acc for h in hists[2000]["one_cycle"]] == [80.0] and hists[2000]["pc_lr"] == []
    assert base.hardware(hists) == "hardware: test CPU"
    # a flat list is a tree too
    assert base.stored_tree(tree[2000]["one_cycle"], "smoke", store)[0] == [tree[2000]["one_cycle"][1]]


def test_train_tree_keeps_the_shape_and_reuses_the_store(tmp_path, monkeypatch):
    store = Store(tmp_path)
    trained = []

    def fake_run(spec, profile, device="auto", store=None, progress=False):
        trained.append(spec["seed"])
        return _history(70.0 + spec["seed"], name=f"dev{spec['seed']}")
    monkeypatch.setattr(ex, "run", fake_run)
    tree = {"b": [ex.ladder_spec("smoke", "one_cycle", seed=s) for s in (2, 3)],
            "a": {"x": [ex.ladder_spec("smoke", "pc_lr", seed=1)]}}
    hists = base.train_tree(tree, "smoke", store=store)
    assert trained == [2, 3, 1]  # the tree's order
    assert [h.final_test_acc for h in hists["b"]] == [72.0, 73.0] and hists["a"]["x"][0].final_test_acc == 71.0
    assert [h.final_test_acc for h in base.histories(hists)] == [72.0, 73.0, 71.0]
    assert base.hardware(hists) == "hardware: dev1, dev2, dev3"
    with pytest.raises(TypeError, match="spec tree"):
        base.train_tree({"a": 3}, "smoke", store=store)


# --------------------------------------------------------------------------- parameters

def test_setup_refuses_a_name_the_chapter_does_not_declare():
    params = dict(PROFILE="smoke", DEVICE="cpu", SEEDS=None, MODERN=None, POLICIES=None, BASE_LR=None,
                  MAX_LR=None, FIXED_LR=None, STEP_SIZE=None, CYCLES=None, FIXED_ITERATIONS=None)
    ctx = clr.CHAPTER.setup({**params, "HTML": object, "np": np, "In": ["x"], "_lo": 3})  # not parameters
    assert ctx.profile == "smoke" and ctx.seeds == [0] and ctx["MAX_LR"] is None
    with pytest.raises(chapter.ParameterError, match=r"^unknown parameter MAX_LRR of 01_cyclical_learning_rates; "
                                                     r"allowed: PROFILE, DEVICE, SEEDS, MODERN, POLICIES, BASE_LR"):
        clr.CHAPTER.setup({**params, "MAX_LRR": 3})
    with pytest.raises(TypeError, match="lacks CYCLES"):  # a notebook that lost a parameter is a bug
        clr.CHAPTER.setup({k: v for k, v in params.items() if k != "CYCLES"})
    with pytest.raises(chapter.ParameterError, match="BASE_LR=0.5 with MAX_LR=0.1"):
        clr.CHAPTER.setup({**params, "BASE_LR": 0.5, "MAX_LR": 0.1})


def test_a_list_given_as_text_gets_the_yaml_hint():
    # papermill -p SEEDS "[0, 1]" passes a string: the message says how to pass a list
    with pytest.raises(chapter.ParameterError) as e:
        chapter.seed_list("SEEDS", "[0, 1]")
    assert str(e.value).endswith("(or None = the profile's value) (this is text, not a list: with papermill "
                                 "pass it as YAML, -y 'SEEDS: [0, 1]'; -p passes text)")
    with pytest.raises(chapter.ParameterError) as e:
        chapter.seed_list("SEEDS", "abc")
    assert "YAML" not in str(e.value)


def test_setup_without_apply_leaves_the_environment(monkeypatch):
    monkeypatch.setenv(ex.MODERN_ENV, "")  # restored (removed) after the test
    params = dict(PROFILE="paper", DEVICE="cpu", SEEDS=None, MODERN=["sgd"], PC_SEEDS=None, BUDGETS=None,
                  PC_BUDGETS=None, MOMENTUM_ABLATION=None)
    one_cycle.CHAPTER.check(params)
    assert os.environ[ex.MODERN_ENV] == ""
    one_cycle.CHAPTER.setup(params)
    assert os.environ[ex.MODERN_ENV] == "sgd"


def test_papermill_with_a_misspelled_parameter_fails_in_the_first_cell(tmp_path):
    # papermill injects any -p NAME as a global; the chapter's first cell refuses the unknown one
    import papermill as pm
    nb = ROOT / "chapters" / "11_scorecard.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match="unknown parameter MAX_LRR of 11_scorecard; allowed: "
                                                         "PROFILE, DEVICE, SEEDS, SHOW_PAPER_PROFILE"):
        pm.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), parameters={"MAX_LRR": 3, "PROFILE": "smoke"},
                            cwd=str(nb.parent), progress_bar=False, kernel_name="python3")


def test_a_rerun_of_the_setup_cell_and_lower_case_names():
    ns = dict(PROFILE="smoke", DEVICE="cpu", SEEDS=None, MODERN=None, BATCH_SIZES=None, HOLD=None, LR_SCALING=None)
    batch_size.CHAPTER.setup(ns)
    ns.update(COL={"a": 1}, hold="iterations")  # what the notebook binds after its setup cell
    assert batch_size.CHAPTER.setup(ns).profile == "smoke"  # "Run all" twice in one kernel
    fresh = dict(PROFILE="smoke", DEVICE="cpu", SEEDS=None, MODERN=None, BATCH_SIZES=None, HOLD=None,
                 LR_SCALING=None, hold="epochs")  # papermill -p hold epochs
    with pytest.raises(chapter.ParameterError, match=r"^unknown parameter hold of 08_batch_size; allowed: .*"
                                                     r"HOLD, LR_SCALING \(upper case\)$"):
        batch_size.CHAPTER.setup(fresh)


def test_combinations_name_the_notebook_parameter():
    base_params = dict(PROFILE="laptop", DEVICE="cpu", SEEDS=None, MODERN=None)
    with pytest.raises(chapter.ParameterError, match=r"^BATCH_SIZES: batch_size=100000 is larger than"):
        batch_size.CHAPTER.check({**base_params, "BATCH_SIZES": [100_000], "HOLD": None, "LR_SCALING": None})
    with pytest.raises(chapter.ParameterError, match=r"^TRAIN_SIZES=\[\] is not allowed"):
        less_data.CHAPTER.check({**base_params, "PC_SEEDS": None, "TRAIN_SIZES": []})
    with pytest.raises(chapter.ParameterError, match=r"-y 'SEEDS: \[0, 1\]'"):
        chapter.seed_list("SEEDS", "0, 1")  # text that Python reads as a tuple: the hint shows a YAML list
