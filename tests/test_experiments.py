"""Profiles, run specs and the results store."""

import json
import math
import os

import pytest

from superconv import experiments as ex
from superconv.results import Store, spec_key
from superconv.train import History


def test_profiles_resolve(monkeypatch):
    monkeypatch.delenv("SUPERCONV_PROFILE", raising=False)
    assert ex.resolve_profile(None) == "laptop"
    monkeypatch.setenv("SUPERCONV_PROFILE", "smoke")
    assert ex.resolve_profile(None) == "smoke"
    assert ex.resolve_profile("paper") == "paper"
    with pytest.raises(ValueError, match="PROFILE='fast'.*'smoke', 'laptop', 'paper'"):
        ex.resolve_profile("fast")


def test_paper_profile_is_the_papers_headline_setting():
    one = ex.make_spec("paper", "one_cycle")
    pc = ex.make_spec("paper", "pc_lr")
    assert (one["dataset"], one["model"], one["batch_size"], one["weight_decay"]) == ("cifar10", "caffe_resnet56", 1000, 1e-4)
    sched = ex.build_schedule(one["schedule"])
    assert sched.lr(0) == pytest.approx(0.1) and sched.lr(5000) == pytest.approx(3.0)
    assert sched.lr(9999) == pytest.approx(0.1, abs=1e-3) and one["iterations"] == 10_000 and one["momentum"] == 0.9
    pcs = ex.build_schedule(pc["schedule"])
    assert [pcs.lr(i) for i in (0, 49_999, 50_000, 70_000)] == pytest.approx([0.35, 0.35, 0.035, 0.0035])
    assert pc["iterations"] == 80_000 and pc["iterations"] / one["iterations"] == 8


def test_every_profile_policy_builds():
    for profile in ex.PROFILES:
        for policy in ex.POLICIES[profile]:
            spec = ex.make_spec(profile, policy)
            ex.build_schedule(spec["schedule"])
            assert spec["eval_every"] >= 1


def test_overrides_and_bad_fields():
    spec = ex.make_spec("smoke", "one_cycle", weight_decay=1e-5, seed=None)
    assert spec["weight_decay"] == 1e-5 and spec["seed"] == 0  # None keeps the profile's value
    with pytest.raises(ValueError, match="unknown spec field"):
        ex.make_spec("smoke", lr=0.1)
    with pytest.raises(ValueError, match="policy='fast'"):
        ex.make_spec("smoke", "fast")
    with pytest.raises(ValueError, match="kind='warp'"):
        ex.build_schedule({"kind": "warp"})


def test_scale_schedule():
    s = ex.scale_schedule({"kind": "one_cycle", "base_lr": 0.1, "max_lr": 1, "step_size": 350, "total_steps": 800}, 0.5)
    assert (s["step_size"], s["total_steps"]) == (175, 400)
    assert ex.scale_schedule({"kind": "piecewise_constant", "base_lr": 0.35, "milestones": [4000, 5600]}, 0.25)["milestones"] == [1000, 1400]


def test_spec_key_is_canonical():
    a = {"x": 1.0, "y": [1, 2], "z": {"b": 1, "a": 2}}
    b = {"z": {"a": 2, "b": 1}, "y": [1, 2], "x": 1.0}
    assert spec_key(a) == spec_key(b) and spec_key(a) != spec_key({**a, "x": 1.5})


def test_store_never_overwrites_silently(tmp_path):
    store = Store(tmp_path)
    spec = {"a": 1}
    h = History(lr=[0.1], train_loss=[float("nan")], test_acc=[50.0], eval_iters=[1], test_loss=[float("inf")])
    path = store.put(spec, "smoke", h)
    record = json.loads(path.read_text())
    assert record["spec"] == spec and record["superconv"] and "git_commit" in record
    with pytest.raises(FileExistsError):
        store.put(spec, "smoke", h)
    back = store.get(spec, "smoke")
    assert math.isnan(back.train_loss[0]) and back.test_loss == [float("inf")]
    store.put(spec, "smoke", h, overwrite=True)
    assert len(list((tmp_path / "smoke").glob("*.bak-*"))) == 1


@pytest.mark.skipif(not os.path.exists("/usr/share/datasets/fashion-mnist"), reason="needs dataset-fashion-mnist")
def test_run_trains_once_then_loads(tmp_path):
    store = Store(tmp_path)
    spec = ex.make_spec("smoke", "one_cycle", iterations=20,
                        schedule=dict(kind="one_cycle", base_lr=0.05, max_lr=0.5, step_size=8, total_steps=20))
    calls = []
    real_fit = ex.fit

    def counting_fit(*a, **k):
        calls.append(1)
        return real_fit(*a, **k)

    ex.fit = counting_fit
    try:
        h1 = ex.run(spec, "smoke", store=store, progress=False)
        h2 = ex.run(spec, "smoke", store=store, progress=False)
    finally:
        ex.fit = real_fit
    assert len(calls) == 1
    assert h1.to_dict() == h2.to_dict()
    assert h1.iterations == 20 and len(h1.test_acc) >= 1
    assert not list((tmp_path / "smoke" / "checkpoints").glob("*.pt"))  # removed once recorded
    assert h1.config["train_data"].startswith("fashion-mnist train, 500 of 60000")


@pytest.mark.skipif(not os.path.exists("/usr/share/datasets/fashion-mnist"), reason="needs dataset-fashion-mnist")
def test_a_diverging_run_is_recorded_and_announced_once(tmp_path, capsys):
    store = Store(tmp_path)
    spec = ex.make_spec("smoke", iterations=10, schedule=dict(kind="fixed", lr=1e6))
    h = ex.run(spec, "smoke", store=store, progress=False)
    line = capsys.readouterr().out.strip().splitlines()
    assert h.diverged and len([x for x in line if x.startswith("diverged:")]) == 1
    assert f"at iteration {h.diverged_at} (lr 1e+06)" in line[-1]
    again = ex.run(spec, "smoke", store=store, progress=False)  # loaded, not trained: no second line
    assert again.diverged and "diverged:" not in capsys.readouterr().out


def test_time_to_accuracy():
    # evaluations are left out of the times: they weigh more on the shorter run
    fast = History(eval_iters=[100, 200, 300], test_acc=[80.0, 90.0, 91.0], iterations=300, wall_time=40.0,
                   eval_time=10.0)
    slow = History(eval_iters=[800, 1600, 2400], test_acc=[70.0, 85.0, 89.5], iterations=2400, wall_time=250.0,
                   eval_time=10.0)
    t = ex.time_to_accuracy(fast, slow)
    assert t["fast_iterations"] == 200 and t["iteration_ratio"] == 12.0
    assert t["fast_seconds"] == pytest.approx(20.0) and t["slow_seconds"] == pytest.approx(240.0)
    assert t["time_ratio"] == pytest.approx(12.0)
    assert ex.time_to_accuracy(slow, fast)["iteration_ratio"] is None


def test_mean_std():
    m, s, n = ex.mean_std([1.0, 2.0, 3.0, None, float("nan")])
    assert (m, n) == (2.0, 3) and s == pytest.approx(1.0)


def test_memo_computes_once_and_keeps_backups(tmp_path):
    store = Store(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": [1.0, float("nan")], "n": len(calls)}

    a = store.memo("probe", {"p": 1}, "smoke", compute)
    b = store.memo("probe", {"p": 1}, "smoke", compute)
    assert a == b and len(calls) == 1 and a["x"][1] == "nan"
    c = store.memo("probe", {"p": 1}, "smoke", compute, retrain=True)
    assert c["n"] == 2 and len(list((tmp_path / "smoke").glob("probe-*.bak-*"))) == 1


def test_ladder_spec_is_the_headline_pair_shortened():
    from superconv import experiments as E
    for policy in ("one_cycle", "pc_lr"):
        full, lad = E.make_spec("laptop", policy), E.ladder_spec("laptop", policy)
        assert lad["iterations"] == round(full["iterations"] * E.LADDER_FRACTION["laptop"])
        assert full["iterations"] / lad["iterations"] == 1 / E.LADDER_FRACTION["laptop"]
        assert lad["schedule"] == E.scale_schedule(full["schedule"], E.LADDER_FRACTION["laptop"])
        assert {k: v for k, v in lad.items() if k not in ("iterations", "schedule", "eval_every")} == \
            {k: v for k, v in full.items() if k not in ("iterations", "schedule", "eval_every")}
        # every laptop run, ladder and headline pair alike, evaluates with precise BN (both policies);
        # the paper profile's have no such field
        assert lad["precise_bn"] == full["precise_bn"] == E.PRECISE_BN["laptop"] == 2000
        assert "precise_bn" not in E.make_spec("paper", policy)
        # the paper profile runs the paper's own pair at every point
        assert E.ladder_spec("paper", policy) == E.make_spec("paper", policy)
    # same 1 : 8 ratio as the headline pair
    assert E.ladder_spec("laptop", "pc_lr")["iterations"] == 8 * E.ladder_spec("laptop", "one_cycle")["iterations"]
    assert E.ladder_spec("laptop", "pc_lr")["schedule"]["milestones"] == [1200, 1680]
    # laptop ladders evaluate LADDER_EVALS times per run, also at a relative length
    for kw in ({}, dict(iterations=500)):
        lad = E.ladder_spec("laptop", "one_cycle", **kw)
        assert lad["iterations"] // lad["eval_every"] == E.LADDER_EVALS["laptop"] == 8
    assert E.ladder_spec("laptop", "one_cycle", eval_every=7)["eval_every"] == 7
    assert E.ladder_spec("laptop", "pc_lr", train_size=2000, seed=3)["train_size"] == 2000
    with pytest.raises(ValueError, match="iterations"):
        E.ladder_spec("laptop", "pc_lr", iterations=0)
    for bad in (0, -5, 1.5, True, "2000"):
        with pytest.raises(ValueError, match="precise_bn"):
            E.ladder_spec("laptop", "pc_lr", precise_bn=bad)
    assert E.make_spec("laptop", "pc_lr", precise_bn=500)["precise_bn"] == 500


def test_budget_spec_is_the_headline_schedule_stretched():
    from superconv import experiments as E
    for policy in ("one_cycle", "pc_lr"):
        head = E.make_spec("laptop", policy, seed=2)
        assert E.budget_spec("laptop", policy, head["iterations"], seed=2) == head  # shared record
        half = E.budget_spec("laptop", policy, head["iterations"] // 2, seed=2)
        assert half["schedule"] == E.scale_schedule(head["schedule"], 0.5) and half["eval_every"] == half["iterations"]
        assert {k: v for k, v in half.items() if k not in ("iterations", "schedule", "eval_every")} == \
            {k: v for k, v in head.items() if k not in ("iterations", "schedule", "eval_every")}
    assert E.budget_spec("laptop", "pc_lr", 3200, eval_every=400)["eval_every"] == 400
    with pytest.raises(ValueError, match="iterations"):
        E.budget_spec("laptop", "pc_lr", 0)


def test_finding_refuses_unknown_verdicts():
    from superconv.scorecard import Finding, not_run
    with pytest.raises(ValueError, match="verdict"):
        Finding("sc.headline", "laptop", "1", "maybe", "rule")
    f = not_run("sc.headline", "paper", "rule", "papermill x.ipynb y.ipynb -p PROFILE paper")
    assert f.verdict == "not run" and "papermill" in f.detail


def test_check_seeds_is_one_rule_with_one_line_errors():
    assert ex.check_seeds((3, 1)) == [3, 1]
    for bad, why in (([], "empty"), ([0, 0], "repeats a seed"), ([1, -2], "has -2"), ([True], "has True"),
                     ([1.0], "has 1.0"), (5, "not a list")):
        with pytest.raises(ValueError) as err:
            ex.check_seeds(bad, "PC_SEEDS")
        msg = str(err.value)
        assert msg.startswith(f"PC_SEEDS={bad!r} is not allowed ({why})") and "\n" not in msg
        assert "distinct integers >= 0" in msg


def test_stored_runs_and_device_names(tmp_path):
    store = Store(tmp_path)
    a, b = ex.make_spec("smoke", "one_cycle", seed=0), ex.make_spec("smoke", "one_cycle", seed=1)
    h = History(eval_iters=[1], test_acc=[50.0], iterations=1, config={"device_name": "cpu X"})
    store.put(b, "smoke", h)
    found, hists = ex.stored_runs([a, b], "smoke", store)
    assert found == [b] and [x.test_acc for x in hists] == [[50.0]]
    assert ex.device_names([h, History(config={"device": "cuda:0"}), History()]) == "?, cpu X, cuda:0"
