"""Chapter 2's study module: configs per profile (the paper's match FACTS), caching, analysis rules."""

import json
import math
import os
import time

import pytest

from superconv import experiments, paper
from superconv.range_test import RangeTestResult, RangeTestSeeds
from superconv.results import Store, canonical
from superconv.studies import range_tests as rt

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
needs_data = pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets (conftest.one_thread)


# ----------------------------------------------------------------------------- configs

def test_paper_profile_is_the_authors_range_test():
    s = rt.specs("paper")
    main, f = s["main"], lambda k: paper.get(f"sc.range_test.{k}").value
    assert (main["dataset"], main["model"], main["batch_size"], main["weight_decay"]) == ("cifar10", "caffe_resnet56", 1000, 1e-4)
    assert main["train_size"] is None and main["model_kwargs"] == {"width": 16}
    assert main["mode"] == f("policy") == "linear"
    assert (main["lr_min"], main["lr_max"]) == (f("lr_start"), f("lr_end")) == (0.0, 3.0)
    assert main["iterations"] in f("iterations") and main["iterations"] == 5000
    assert main["eval_every"] == f("test_interval") == 100
    assert main["bn_momentum"] == pytest.approx(1 - f("bn_moving_average_fraction"))
    assert main["momentum"] == paper.get("sc.solver.clr.momentum").value
    assert main["stop_factor"] is None  # the authors ran the whole ramp
    # a validation holdout of the training split, never the test split
    assert main["eval_split"] == "validation" and 0 < main["holdout"] < 50_000
    assert s["contrast"]["model"] == "lenet5" and s["contrast"]["model_kwargs"] == {}
    assert s["exp"]["mode"] == "exp" and s["exp"]["stop_factor"] == 4.0


def test_every_profile_builds_and_specs_are_canonical_json():
    for profile in experiments.PROFILES:
        s = rt.specs(profile)
        assert set(s) == set(rt.TESTS)
        for spec in s.values():
            assert json.loads(canonical(spec)) == json.loads(json.dumps(spec))
            assert 1 <= spec["eval_every"] <= spec["iterations"]
            assert spec["batch_size"] == experiments.BASE[profile]["batch_size"]
        assert len({canonical(v) for v in s.values()}) == 3
        assert rt.one_cycle_bounds(profile)["max_lr"] == experiments.POLICIES[profile]["one_cycle"]["schedule"]["max_lr"]


def test_overrides_and_validation():
    c = rt.config("laptop", iterations=250, lr_max=2.0, eval_every=10, contrast_model="resnet20")
    assert (c["main"]["iterations"], c["main"]["lr_max"], c["main"]["eval_every"]) == (250, 2.0, 10)
    assert c["contrast"]["iterations"] == 250 and c["contrast"]["eval_every"] == 2  # denser grid, >= 2
    lap = rt.SETTINGS["laptop"]["linear"]["eval_every"]
    assert rt.config("laptop")["contrast"]["eval_every"] == lap // rt.CONTRAST_EVAL_DENSER == 10
    assert rt.config("smoke")["contrast"]["eval_every"] == 2
    assert c["contrast_model"] == "resnet20" and c["contrast_model_kwargs"] == {"width": 16}
    e = rt.config("laptop", mode="exp")["main"]
    assert e["mode"] == "exp" and e["lr_min"] == pytest.approx(3.0 / 10 ** rt.EXP_DECADES)
    assert rt.config("smoke", iterations=3)["main"]["eval_every"] == 3  # never longer than the test
    for kw, match in [(dict(iterations=1), "iterations=1"), (dict(lr_max=-1.0), "lr_max=-1.0"),
                      (dict(mode="cubic"), "mode='cubic'.*'linear', 'exp'"), (dict(eval_every=0), "eval_every=0"),
                      (dict(contrast_model="vgg"), "contrast_model='vgg'")]:
        with pytest.raises(ValueError, match=match):
            rt.config("smoke", **kw)
    with pytest.raises(ValueError, match="PROFILE='huge'"):
        rt.specs("huge")
    with pytest.raises(ValueError, match="tolerance"):
        rt.run_study("smoke", [0], tolerance=-1)
    with pytest.raises(ValueError, match="smooth"):
        rt.run_study("smoke", [0], smooth=0)
    with pytest.raises(ValueError, match="tests="):
        rt.run_study("smoke", [0], tests=("main", "bogus"))


# ----------------------------------------------------------------------------- analysis on synthetic curves

def fake(accs, lr_max=3.0, stopped=False, seed=0):
    """A linear-ramp result with one eval point per accuracy value (no training)."""
    n = len(accs)
    its = 10 * n
    lrs = [lr_max * i / (its - 1) for i in range(its)]
    eval_iters = [10 * (k + 1) for k in range(n)]
    losses = [2.0 - 0.001 * i for i in range(its)]
    return RangeTestResult(lrs=lrs, losses=losses, smoothed_losses=losses, eval_lrs=[lrs[k - 1] for k in eval_iters],
                           eval_iters=eval_iters, eval_acc=list(map(float, accs)), eval_loss=[1.0] * n,
                           eval_split="validation", mode="linear", lr_min=0.0, lr_max=lr_max, stopped_early=stopped,
                           stop_reason="fit diverged" if stopped else None, stopped_at=its - 1 if stopped else None,
                           iterations=its if not stopped else 10 * n + 50, config={"seed": seed})


def study_of(main, contrast, tol=5.0, smooth=1):
    spec = rt.specs("smoke")
    m = RangeTestSeeds.from_results(main, list(range(len(main))))
    c = RangeTestSeeds.from_results(contrast, [0])
    return rt.RangeTestStudy("smoke", spec, {"main": m.seeds, "contrast": [0]}, {"main": m, "contrast": c},
                             rt.one_cycle_bounds("smoke"), tol, smooth)


def test_moving_average_and_mean_curve():
    assert rt.moving_average([1, 2, 3, 4, 5], 1) == [1, 2, 3, 4, 5]
    assert rt.moving_average([0, 3, 6], 3) == [1.5, 3.0, 4.5]  # window shrinks at the ends
    assert rt.moving_average([1, float("nan"), 3], 3)[1] == 2.0
    a, b = fake([10, 50, 80, 80]), fake([20, 60, 70, 80], seed=1)
    rs = RangeTestSeeds.from_results([a, b], [0, 1])
    curve = rt.mean_curve(rs, 1)
    assert curve.eval_acc == [15, 55, 75, 80] and curve.eval_lrs == a.eval_lrs
    assert curve.high_range(5.0).decades == pytest.approx(math.log10(a.eval_lrs[3] / a.eval_lrs[2]))


def test_plateau_vs_peak_and_fall():
    # 10 eval points from LR ~0.27 to 3, held high from the 2nd on: the potential of Fig. 3a
    plateau = [fake([30, 80, 81, 82, 80, 81, 82, 80, 81, 80]) for _ in range(2)]
    sharp = [fake([30, 50, 20], stopped=True)]  # diverged at LR 0.4 of the 0 -> 3 ramp (Fig. 3b)
    sharp[0].lrs, sharp[0].stopped_at, sharp[0].eval_lrs = [0.0, 0.1, 0.2, 0.3, 0.4], 4, [0.1, 0.2, 0.3]
    st = study_of(plateau, sharp)
    ps = rt.potential_summary(st, "main")
    assert ps["verdict"] == "potential shown" and ps["retention"] == pytest.approx(80.8 / 82, abs=0.01)
    assert ps["curve"].collapse_lr is None and ps["raw_retention"] == pytest.approx(ps["retention"])
    assert not ps["survival"]["diverged"] and ps["survival"]["top_acc"] == pytest.approx(80.5, abs=0.6)
    assert rt.contrast_verdict(st) == "peaks and falls (diverged)"
    assert rt.potential_summary(st, "contrast")["verdict"] == "no potential"
    sv = rt.survival(st.tests["contrast"])
    assert sv["diverged"] and sv["stop_lr"] == pytest.approx(sharp[0].lrs[-1])
    sweep = rt.top_sweep(st, (0.25, 0.5, 0.75))
    assert len(sweep["main"]) == 3 and all(r > 0.9 for r in sweep["main"])
    table = rt.potential_table(st)
    assert list(table["test"]) == ["main", "contrast"] and list(table["verdict"]) == ["potential shown", "no potential"]
    # a plateau that collapses before the upper half of the ramp; one that collapses inside it
    late = study_of([fake([30, 80, 81, 82, 80, 40, 30, 20, 20, 20])], sharp)  # at LR ~1.8
    assert rt.potential_summary(late, "main")["verdict"] == "partly"
    falls = study_of([fake([30, 80, 82, 40, 30, 20, 20, 20, 20, 20])], sharp)  # collapses at LR ~1.2
    assert rt.potential_summary(falls, "main")["verdict"] == "no potential"


def test_bounds_check_rule():
    # smoke 1cycle max LR is 1.0: the eval point nearest to it is the 3rd (LR ~0.9)
    near_peak = study_of([fake([30, 70, 80, 82, 81, 80, 79, 80, 81, 80])], [fake([30, 40])])
    b = rt.bounds_check(near_peak)
    assert b["reached"] and b["consistent"] and b["points_below_peak"] == pytest.approx(2.0)
    low = study_of([fake([30, 40, 50, 82, 81, 80, 79, 80, 81, 80])], [fake([30, 40])])
    b = rt.bounds_check(low)
    assert b["consistent"] is False and b["points_below_peak"] == pytest.approx(32.0)
    table = rt.paper_vs_ours(low)
    assert list(table["quantity"])[0] == "Range test (accuracy form)" and len(table) == len(rt.ROWS)
    assert "max LR 32.0 points below the peak" in list(table["verdict (ours)"])
    # no paper-profile run stored: no column of "not run", the command for one sentence under the table
    assert "paper profile (GPU)" not in table and table.attrs["not_run"].startswith("papermill ")
    assert "[D]" in table["paper"][0]
    assert "[P]" in table["paper"][1]


# ----------------------------------------------------------------------------- running and caching

@needs_data
def test_run_is_cached_and_uses_a_validation_holdout(tmp_path):
    spec = rt.specs("smoke", iterations=6, eval_every=3)["main"]
    train, val = rt.load_splits(spec)
    assert len(train) + len(val) == spec["train_size"] and len(val) == spec["holdout"]
    assert val.train and "held-out validation" in val.description  # cut out of the training split
    assert not set(map(bytes, train.images.numpy())) & set(map(bytes, val.images.numpy()))
    store = Store(tmp_path)
    assert rt.cached_one(spec, 0, "smoke", store) is None and not list(tmp_path.rglob("*.json"))
    st = rt.run_study("smoke", [0], device="cpu", store=store, tests=("main",), iterations=6, eval_every=3)
    r = st.main.results[0]
    assert r.eval_split == "validation" and r.eval_iters == [3, 6] and len(r.lrs) == 6
    assert r.lrs[0] == 0.0 and r.lrs[-1] == pytest.approx(3.0)
    assert len(list((tmp_path / "smoke").glob("range_test-*.json"))) == 1
    t0 = time.perf_counter()
    again = rt.run_study("smoke", [0], device="cpu", store=store, tests=("main",), iterations=6, eval_every=3)
    assert time.perf_counter() - t0 < 1.0
    assert again.main.results[0].eval_acc == r.eval_acc and again.main.results[0].lrs == r.lrs
    assert rt.cached_one(spec, 0, "smoke", store).eval_acc == r.eval_acc
    assert rt.load_cached("smoke", [0], store=store) is None  # the default-sized tests were never run


def test_ramp_lengths_share_the_main_test_and_keep_its_evaluation_points():
    lap = rt.RAMP_LENGTHS["laptop"]
    main = rt.specs("laptop")["main"]
    assert main["iterations"] in lap and len(lap) >= 3
    # the profile's own length is the main test's own record
    assert rt.specs("laptop", iterations=main["iterations"], eval_every=main["eval_every"])["main"] == main
    assert rt.RAMP_LENGTHS["paper"] == list(paper.get("sc.range_test.iterations").value)
    with pytest.raises(ValueError, match="lengths"):
        rt.run_ramp_lengths("smoke", lengths=[10, 10])


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_ramp_lengths_smoke_run(tmp_path, one_thread):
    out = rt.run_ramp_lengths("smoke", store=Store(tmp_path))
    assert list(out) == rt.RAMP_LENGTHS["smoke"]
    points = {n: len(r.eval_lrs) for n, r in out.items()}
    assert max(points.values()) - min(points.values()) <= 1, points  # the same number of points, up to rounding
    assert all(r.lr_max == 3.0 and r.iterations == n for n, r in out.items())
