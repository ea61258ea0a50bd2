"""Where chapter 3's settings come from (superconv.studies.calibration): the rule on a stubbed
range test and stubbed runs, the validation set beside the training subset, and a smoke run."""

import math
import os
from types import SimpleNamespace

import pytest
import torch

from superconv import bounds, data, experiments as ex
from superconv.results import Store
from superconv.studies import calibration as cal, one_cycle as oc, range_tests
from superconv.train import History

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def test_configs_follow_the_issue():
    for profile in ("smoke", "laptop"):
        cfg = cal.config(profile)
        wd = ex.make_spec(profile, "pc_lr")["weight_decay"]
        assert wd in cfg["weight_decays"] and min(cfg["weight_decays"]) < 1e-4   # WD below the usual 1e-4
        assert ex.make_spec(profile, "pc_lr")["schedule"]["base_lr"] in cfg["pc_lrs"]
        for p in cal.POLICIES:  # a budget that both of chapter 3's sweeps contain
            assert cfg["iterations"] in oc.default_budgets(profile, p) or profile == "smoke"
    assert cal.config("laptop")["range_seeds"] == [0, 1, 2] and cal.config("paper") is None
    assert cal.round_lr(0.975975975) == 0.976


def test_the_validation_set_lies_beside_the_training_subset():
    g = torch.Generator().manual_seed(0)
    split = data.Split(images=torch.randint(0, 255, (400, 1, 4, 4), dtype=torch.uint8, generator=g),
                       labels=torch.arange(400) % 4, mean=(0.5,), std=(0.25,), classes=list("abcd"), name="toy", train=True)
    train, val = data.subset_and_rest(split, 100, 40, seed=3)
    alone = data.balanced_subset(split, 100, seed=3)
    assert torch.equal(train.images, alone.images) and torch.equal(train.labels, alone.labels)
    assert torch.bincount(val.labels).tolist() == [10] * 4
    rows = lambda s: {tuple(x.flatten().tolist()) for x in s.images}  # noqa: E731
    assert not rows(train) & rows(val)
    with pytest.raises(ValueError, match="at most"):
        data.subset_and_rest(split, 380, 40)
    spec = ex.make_spec("laptop", "pc_lr", validation=2000)
    assert spec["validation"] == 2000
    for bad, match in ((0, "validation=0"), (60_000, "does not fit")):
        with pytest.raises(ValueError, match=match):
            ex.make_spec("laptop", "pc_lr", validation=bad)
    with pytest.raises(ValueError, match="validation"):
        ex.make_spec("paper", "pc_lr", validation=1000)  # the whole training split is trained on


def test_budget_spec_applies_the_choices_before_stretching():
    tuned = {"one_cycle": {"schedule": {"max_lr": 1.27, "base_lr": 0.127}, "weight_decay": 3e-5},
             "pc_lr": {"schedule": {"base_lr": 0.1}, "weight_decay": 1e-5}}
    s = cal.budget_spec("laptop", "one_cycle", 400, 2, tuned)
    assert s["schedule"]["max_lr"] == 1.27 and s["schedule"]["base_lr"] == 0.127 and s["weight_decay"] == 3e-5
    assert s["schedule"]["step_size"] == 175 and s["seed"] == 2 and s["eval_every"] == 400
    assert cal.budget_spec("laptop", "pc_lr", 800, 0, tuned)["schedule"]["milestones"] == [500, 700]
    assert cal.budget_spec("laptop", "pc_lr", 800, 0, None) == ex.budget_spec("laptop", "pc_lr", 800, 0)
    sw = oc.sweep_specs("laptop", tuned=tuned)
    assert all(s["weight_decay"] == 1e-5 and s["schedule"]["base_lr"] == 0.1 for ss in sw["pc_lr"].values() for s in ss)
    abl = oc.ablation_specs("laptop", 0, tuned)
    assert abl["cyclical 0.95→0.85"] == sw["one_cycle"][800][0]  # shared with the sweep
    assert "WD 3e-05 (1cycle) / 1e-05 (PC-LR)" in oc.describe_setup("laptop", tuned)


def _stub(monkeypatch, b, acc_of):
    """Run the rule with a stubbed range test (plateau result ``b``) and runs whose validation
    accuracy is ``acc_of(policy, lr, wd)`` (None: diverged)."""
    monkeypatch.setattr(range_tests, "plateau_bounds", lambda study: b)
    study = SimpleNamespace(specs={"main": {"lr_max": 3.0, "iterations": 1000}}, seeds={"main": [0, 1, 2]})
    calls = []

    def get(spec):
        calls.append(spec)
        policy = "one_cycle" if spec["schedule"]["kind"] == "one_cycle" else "pc_lr"
        lr = spec["schedule"].get("max_lr", spec["schedule"]["base_lr"])
        acc = acc_of(policy, lr, spec["weight_decay"])
        return History(eval_iters=[spec["iterations"]], test_acc=[acc if acc is not None else 10.0],
                       iterations=spec["iterations"], diverged=acc is None)

    return cal._calibrate("laptop", cal.config("laptop"), study, get), calls


def test_the_rule_chooses_by_validation_accuracy(monkeypatch):
    b = bounds.plateau_bounds([0.5, 1.0, 2.0, 3.0], [40.0, 80.0, 82.0, 81.0], 3.0)
    assert b.max_lr == 1.0
    # PC-LR: best LR 0.1; 1cycle best WD 3e-5, PC-LR best WD 1e-5; 3e-4 diverges for both
    acc = {("pc_lr", 0.1): 88.0, ("pc_lr", 0.35): 87.0, ("pc_lr", 1.0): None}

    def acc_of(policy, lr, wd):
        if wd == 3e-4:
            return None
        if policy == "one_cycle":
            return {1e-5: 86.0, 3e-5: 87.5, 1e-4: 87.5}[wd]  # a tie with 1e-4: the earlier value wins
        return acc[(policy, lr)] if wd == 1e-4 else {1e-5: 89.0, 3e-5: 88.5}[wd]

    c, calls = _stub(monkeypatch, b, acc_of)
    assert c.chosen == {"one_cycle": {"schedule": {"max_lr": 1.0, "base_lr": 0.1}, "weight_decay": 3e-5},
                        "pc_lr": {"schedule": {"base_lr": 0.1}, "weight_decay": 1e-5}}
    assert all(s["validation"] == 2000 and s["iterations"] == 400 and s["seed"] == 0 and not ex.stale_bn(s)
               for s in calls)
    # PC-LR's run at (0.1, 1e-4) serves both stages: listed and counted once
    assert c.effort["pc_lr"] == {"runs": 6, "iterations": 2400}
    assert c.effort["one_cycle"] == {"runs": 4, "iterations": 1600, "range_test_iterations": 3000}
    assert [r["chosen"] for r in c.rows].count(True) == 2 and len(c.rows) == 10
    assert "plateau rule" in c.sources["one_cycle"]["max_lr"] and "validation set: 87.50 %" in c.describe("one_cycle")
    assert c.noise == pytest.approx(100 * math.sqrt(0.89 * 0.11 / 2000))


def test_the_rule_announces_what_it_could_not_choose(monkeypatch):
    never = bounds.plateau_bounds([1.0, 2.0], [10.0, 11.0], 3.0, min_peak=20.0)
    c, _ = _stub(monkeypatch, never, lambda policy, lr, wd: None if policy == "pc_lr" else 80.0)
    typed = ex.make_spec("laptop", "one_cycle")["schedule"]
    assert c.chosen["one_cycle"]["schedule"] == {"base_lr": typed["base_lr"], "max_lr": typed["max_lr"]}
    assert "kept" in c.sources["one_cycle"]["max_lr"] and "never learned" in c.sources["one_cycle"]["max_lr"]
    assert c.chosen["pc_lr"] == {"schedule": {"base_lr": 0.35}, "weight_decay": 1e-4}
    assert "every run of the grid" in c.sources["pc_lr"]["base_lr"] and "diverged" in c.sources["pc_lr"]["weight_decay"]
    short = bounds.plateau_bounds([1.0, 2.0, 3.0], [30.0, 60.0, 90.0], 3.0)
    c, _ = _stub(monkeypatch, short, lambda policy, lr, wd: 80.0)
    assert "only a lower bound" in c.sources["one_cycle"]["max_lr"] and c.chosen["one_cycle"]["schedule"]["max_lr"] == 3.0


def test_a_missing_run_means_no_result(monkeypatch):
    b = bounds.plateau_bounds([1.0, 2.0], [80.0, 81.0], 3.0)
    monkeypatch.setattr(range_tests, "plateau_bounds", lambda study: b)
    study = SimpleNamespace(specs={"main": {"lr_max": 3.0, "iterations": 10}}, seeds={"main": [0]})
    assert cal._calibrate("laptop", cal.config("laptop"), study, lambda spec: None) is None


def test_the_paper_profile_keeps_the_authors_settings():
    c = cal.load("paper", Store("/nonexistent-store-never-written"))
    assert c.chosen == {} and c.bounds is None and "the authors'" in c.sources["pc_lr"]["base_lr"]
    assert oc.sweep_specs("paper", tuned=c.chosen) == oc.sweep_specs("paper")


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_smoke_run_is_stored_and_feeds_the_sweep(tmp_path, one_thread):
    store = Store(tmp_path)
    assert cal.load("smoke", store) is None
    c = cal.run("smoke", device="cpu", store=store)
    for p in cal.POLICIES:
        assert c.chosen[p]["weight_decay"] in cal.CONFIG["smoke"]["weight_decays"]
        assert set(c.sources[p]) >= {"base_lr", "weight_decay"}
    assert c.chosen["pc_lr"]["schedule"]["base_lr"] in cal.CONFIG["smoke"]["pc_lrs"]
    assert all(r["spec"]["validation"] == 500 for r in c.rows) and len(c.histories) >= len(c.rows)
    again = cal.load("smoke", store)
    assert again.chosen == c.chosen and again.rows == c.rows
    rows = cal.table_rows(c)
    assert len(rows) == len(c.rows) and sum(r["chosen"] == "✓" for r in rows) == 2
