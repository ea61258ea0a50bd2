"""Chapter 3's study module (superconv.studies.one_cycle): configs, summaries, verdict, smoke run."""

import math
import os

import pytest

from superconv import experiments as ex
from superconv import paper
from superconv.results import Store
from superconv.studies import one_cycle as oc
from superconv.train import History

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def _h(iters, accs, total=None, wall=10.0):
    return History(eval_iters=list(iters), test_acc=list(accs), iterations=total or iters[-1], wall_time=wall)


# --------------------------------------------------------------------------- configs

def test_specs_are_exactly_the_shared_headline_pair():
    for profile in ex.PROFILES:
        got = oc.specs(profile)
        for policy in oc.POLICIES:
            seeds = oc.default_seeds(profile, policy)
            assert got[policy] == [ex.make_spec(profile, policy, seed=s) for s in seeds]
    got = oc.specs("laptop", seeds=[3, 4], pc_seeds=[7])
    assert [s["seed"] for s in got["one_cycle"]] == [3, 4] and [s["seed"] for s in got["pc_lr"]] == [7]


def test_seed_defaults_per_profile_fit_the_budget():
    assert oc.default_seeds("laptop", "pc_lr") == [0, 1]       # >= 2 per PC-LR budget (issue 14)
    assert len(oc.default_seeds("laptop", "one_cycle")) == 3
    assert ex.make_spec("laptop", "one_cycle")["iterations"] in oc.default_budgets("laptop", "one_cycle")
    assert len(oc.default_budgets("laptop", "one_cycle")) >= 4 and len(oc.default_budgets("laptop", "pc_lr")) >= 3
    assert oc.default_seeds("smoke", "one_cycle") == oc.default_seeds("smoke", "pc_lr") == [0]
    with pytest.raises(ValueError, match="policy='fast'"):
        oc.default_seeds("laptop", "fast")
    with pytest.raises(ValueError, match="repeat"):
        oc.specs("smoke", seeds=[0, 0])
    with pytest.raises(ValueError, match="PROFILE='huge'"):
        oc.specs("huge")


def test_paper_configs_match_facts():
    clr, pc = paper.HEADLINE_CLR_SOLVER, paper.HEADLINE_PC_SOLVER
    s = oc.specs("paper")
    one, base = s["one_cycle"][0], s["pc_lr"][0]
    for spec, solver in ((one, clr), (base, pc)):
        assert spec["dataset"] == "cifar10" and spec["model"] == "caffe_resnet56"
        assert spec["batch_size"] == solver["batch_size"] and spec["weight_decay"] == solver["weight_decay"]
        assert spec["momentum"] == solver["momentum"] and spec["train_size"] is None
    sched = ex.build_schedule(one["schedule"])
    assert one["iterations"] == clr["max_iter"] == paper.get("sc.headline.clr_iters").value
    assert sched.lr(0) == pytest.approx(clr["base_lr"]) and sched.lr(clr["stepsize"]) == pytest.approx(clr["max_lr"])
    assert sched.lr(clr["max_iter"] - 1) == pytest.approx(clr["final_lr"], abs=1e-3)
    # the headline schedule of the gallery is the same cycle
    head = oc.schedule_gallery("paper")["headline"][0]
    assert all(head.lr(i) == pytest.approx(sched.lr(i)) for i in (0, 2500, 5000, 7500, 9999))
    pcs = ex.build_schedule(base["schedule"])
    paper_pc, n = oc.schedule_gallery("laptop")["pc_lr_paper"]
    assert n == pc["max_iter"] and paper_pc.lr(pc["steps"][0]) == pytest.approx(pc["base_lr"] * pc["gamma"])
    assert base["iterations"] == pc["max_iter"] == paper.get("sc.headline.pc_iters").value
    assert list(base["schedule"]["milestones"]) == list(pc["steps"]) and pcs.lr(0) == pc["base_lr"]
    assert 1 - one["bn_momentum"] == clr["bn_moving_average_fraction"]
    assert 1 - base["bn_momentum"] == pytest.approx(pc["bn_moving_average_fraction"])


def test_laptop_one_cycle_is_the_caffe_shape():
    sched, n = oc.schedule_gallery("laptop")["1cycle"]
    spec = ex.make_spec("laptop", "one_cycle")
    ss, base, top = spec["schedule"]["step_size"], spec["schedule"]["base_lr"], spec["schedule"]["max_lr"]
    assert n == spec["iterations"] and sched.lr(0) == base and sched.lr(ss) == top
    assert sched.lr(n - 1) == pytest.approx(base / paper.ONE_CYCLE_CAFFE_SHAPE["tail_divisor"])
    cm = paper.CYCLICAL_MOMENTUM
    assert sched.momentum(0) == cm["max_momentum"] and sched.momentum(ss) == pytest.approx(cm["min_momentum"])
    torch_, _ = oc.schedule_gallery("laptop")["torch"]
    assert torch_.lr(0) == pytest.approx(top / 25)  # torch's div_factor


def test_ablation_shares_the_headline_run_and_changes_only_momentum():
    lap = oc.ablation_specs("laptop")
    base = ex.make_spec("laptop", "one_cycle", seed=0)
    assert lap["cyclical 0.95→0.85"] is base or lap["cyclical 0.95→0.85"] == base
    const = lap["constant 0.9"]
    assert oc.effective_momentum(const) == 0.9
    diff = {k for k in base if base[k] != const[k]}
    assert diff <= {"schedule", "momentum"}
    assert {k for k in base["schedule"] if base["schedule"][k] != const["schedule"][k]} == {"momentum"}
    # paper profile: the headline run has constant 0.9, the variant is the cyclical one
    pap = oc.ablation_specs("paper")
    assert pap["constant 0.9"] == ex.make_spec("paper", "one_cycle", seed=0)
    assert oc.effective_momentum(pap["cyclical 0.95→0.85"]) == (0.95, 0.85)
    sched = ex.build_schedule(pap["cyclical 0.95→0.85"]["schedule"])
    assert sched.momentum(0) == pytest.approx(0.95) and sched.momentum(5000) == pytest.approx(0.85)


def test_variant_spec():
    v = oc.variant_spec("laptop", tail_lr=0.1)
    assert v["schedule"]["tail_lr"] == 0.1 and v["schedule"]["max_lr"] == 1.0
    assert ex.build_schedule(v["schedule"]).lr(799) == 0.1
    t = oc.variant_spec("laptop", kind="one_cycle_torch", max_lr=1.0, total_steps=800, three_phase=True)
    assert t["schedule"]["kind"] == "one_cycle_torch" and t["iterations"] == 800
    with pytest.raises(ValueError, match="max_lr"):
        oc.variant_spec("laptop", max_lr=0.01)  # below base_lr: refused before any work


# --------------------------------------------------------------------------- summaries

def test_speedup_and_verdict_on_synthetic_histories():
    fast = [_h([100, 200, 300, 400], [80, 88, 90.5, 91.0]), _h([100, 200, 300, 400], [82, 88, 91.5, 91.4])]
    slow = [_h([800, 1600, 2400, 3200], [70, 80, 85, 90.8])]
    sp = oc.speedup(fast, slow)
    assert sp["target_acc"] == 90.8 and sp["fast_iterations"] == 300
    assert sp["iteration_ratio"] == pytest.approx(3200 / 300)
    assert sp["per_seed"] == [pytest.approx(3200 / 400), pytest.approx(3200 / 300)] and sp["seeds_reached"] == 2
    assert sp["within_tolerance_iterations"] == 300 and sp["budget_ratio"] == 8
    assert sp["slow_at_fast_budget"] is None  # PC-LR's first evaluation is after 400 iterations
    assert sp["time_ratio"] == pytest.approx(10.0 / (10.0 * 300 / 400))
    s1, s2 = oc.summarize(fast, [0, 1]), oc.summarize(slow, [0])
    assert s1["final_mean"] == pytest.approx(91.2) and s1["n"] == 2 and s2["final_std"] == 0
    slow_hi = [_h([800, 1600, 2400, 3200], [70, 80, 85, 91.6])]
    sp = oc.speedup(fast, slow_hi)
    assert sp["iteration_ratio"] is None and sp["within_tolerance_iterations"] == 400


def _final(acc, n, wall=10.0, eval_time=2.0):
    return History(eval_iters=[n], test_acc=[acc], iterations=n, wall_time=wall, eval_time=eval_time)


def test_sweep_speedup_and_verdict_on_synthetic_sweeps():
    pc = lambda acc, n, wall: [_final(acc - 0.1, n, wall=wall), _final(acc + 0.1, n, wall=wall)]  # noqa: E731
    sweep = {"one_cycle": {100: [_final(80.0, 100), _final(82.0, 100)], 400: [_final(90.0, 400), _final(92.0, 400)]},
             "pc_lr": {1000: pc(84.0, 1000, 42.0), 2000: pc(86.5, 2000, 82.0), 4000: pc(86.0, 4000, 162.0)}}
    sp = oc.measure_speedup(sweep)
    assert sp["slow_best"] == pytest.approx(86.5) and sp["target"] == pytest.approx(86.0)  # less TARGET_MARGIN
    assert sp["slow_budget"] == pytest.approx(1000 * 2 ** 0.8) and sp["bound"] is None
    assert sp["fast_budget"] == pytest.approx(200.0) and sp["factor"] == pytest.approx(1000 * 2 ** 0.8 / 200)
    # 1cycle: 8 s of training per 100 (and 400) iterations; PC-LR: 40, 80, 160 s per 1k, 2k, 4k
    assert sp["seconds_per_iteration"]["one_cycle"] == pytest.approx((0.08 + 0.02) / 2)
    assert sp["seconds_per_iteration"]["pc_lr"] == pytest.approx(0.04)
    assert sp["time_factor"] == pytest.approx(sp["factor"] * 0.04 / 0.05)
    v = oc.sweep_verdict(sp)
    assert sp["interval"]["low"] >= 5 and v["verdict"] == "reproduced" and v["speed_holds"]
    assert "faster" in v["speed_sentence"] and v["rule"] == oc.HEADLINE_RULE
    # PC-LR strong early: reached, but less than 5x -> partly
    sweep["pc_lr"][1000] = pc(86.4, 1000, 42.0)
    v = oc.sweep_verdict(oc.measure_speedup(sweep))
    assert v["verdict"] == "partly reproduced" and v["accuracy_holds"] and not v["speed_holds"]
    # 1cycle never reaches PC-LR's best less the margin -> not reproduced
    sweep["pc_lr"][2000] = pc(95.0, 2000, 82.0)
    v = oc.sweep_verdict(oc.measure_speedup(sweep))
    assert v["verdict"] == "not reproduced" and "did not reach" in v["speed_sentence"] and "below" in v["accuracy_sentence"]
    # a diverged run counts as 0 % wherever it was evaluated
    sweep["one_cycle"][400][1] = History(eval_iters=[200], test_acc=[92.0], iterations=400, diverged=True)
    assert oc.sweep_cells(sweep["one_cycle"])[400] == [90.0, None]


def test_sweep_specs_are_complete_schedules_and_checked():
    got = oc.sweep_specs("laptop")
    assert got["one_cycle"][800] == [ex.make_spec("laptop", "one_cycle", seed=s) for s in (0, 1, 2)]
    short = got["pc_lr"][800][1]
    assert short["seed"] == 1 and short["schedule"]["milestones"] == [500, 700] and short["eval_every"] == 800
    assert got["one_cycle"][200][0]["schedule"]["step_size"] == round(350 / 4)
    assert oc.curve_budget("laptop", "pc_lr", got["pc_lr"]) == 1600 and got["pc_lr"][1600][0]["eval_every"] == 200
    assert oc.curve_budget("laptop", "one_cycle", got["one_cycle"]) == 800  # the headline, shared
    for bad, match in (([800, 0], "BUDGETS"), ("800", "BUDGETS")):
        with pytest.raises(ValueError, match=match):
            oc.sweep_specs("laptop", budgets=bad)
    with pytest.raises(ValueError, match="PC_SEEDS"):
        oc.sweep_specs("laptop", pc_seeds=[0, 0])


def test_mean_history_uses_the_shared_evaluations():
    m = oc.mean_history([_h([1, 2, 3], [10, 20, 30], wall=2.0), _h([1, 2], [20, 40], total=3, wall=4.0)])
    assert m.eval_iters == [1, 2] and m.test_acc == [15, 30] and m.wall_time == 3.0 and m.iterations == 3
    assert oc.accuracy_at(_h([100, 200], [50, 60]), 150) == 50
    with pytest.raises(ValueError):
        oc.mean_history([])


def test_describe_setup_and_command():
    assert oc.describe_run(ex.make_spec("laptop", "pc_lr")).endswith("momentum 0.9 (constant)")
    assert "0.95→0.85→0.95" in oc.describe_run(ex.make_spec("laptop", "one_cycle"))
    assert oc.describe_setup("laptop").startswith("Fashion-MNIST (10,000 train images")
    assert "CIFAR-10" in oc.describe_setup("paper") and "ResNet-56" in oc.describe_setup("paper")
    assert oc.command().endswith("-p PROFILE paper -p DEVICE cuda")


# --------------------------------------------------------------------------- a smoke run

@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_smoke_study_runs_and_is_shared_through_the_store(tmp_path):
    store = Store(tmp_path)
    assert oc.stored("smoke", store=store) is None
    study = oc.run_study("smoke", device="cpu", store=store)
    for p in oc.POLICIES:
        assert len(study.histories[p]) == 1 and math.isfinite(study.summary[p]["final_mean"])
        assert study.histories[p][0].iterations == ex.make_spec("smoke", p)["iterations"]
        assert sorted(study.sweep_summary[p]) == oc.default_budgets("smoke", p)
        for b, hs in study.sweep_histories[p].items():
            assert [h.iterations for h in hs] == [b] and hs[0].config["precise_bn"] == 200
    assert study.verdict["verdict"] in ("reproduced", "partly reproduced", "not reproduced")
    cells = {p: oc.sweep_cells(study.sweep_histories[p]) for p in oc.POLICIES}
    assert study.speedup["slow_best"] == max(sum(v) / len(v) for v in cells["pc_lr"].values())
    assert study.speedup["target"] == pytest.approx(study.speedup["slow_best"] - oc.TARGET_MARGIN)
    assert study.ablation["cyclical 0.95→0.85"]["shared"] and not study.ablation["constant 0.9"]["shared"]
    assert study.ablation["cyclical 0.95→0.85"]["history"] is study.histories["one_cycle"][0]
    # the runs are in the store under the shared specs: another chapter (or stored()) finds them
    again = oc.stored("smoke", store=store)
    assert again.summary["pc_lr"]["final_mean"] == study.summary["pc_lr"]["final_mean"]
    assert again.speedup["factor"] == study.speedup["factor"] and again.verdict == study.verdict
    assert set(again.ablation) == set(oc.ABLATION_MOMENTA)
    assert store.get(study.specs["one_cycle"][0], "smoke") is not None
    # every sweep run trains with the calibration's choices (chapter 3's step 1)
    cal = study.calibration
    assert cal is not None and again.calibration.chosen == cal.chosen
    for p in oc.POLICIES:
        for ss in study.sweep_specs[p].values():
            assert all(s["weight_decay"] == cal.chosen[p]["weight_decay"] for s in ss)
            assert all(s["schedule"][k] == v for s in ss for k, v in cal.chosen[p]["schedule"].items())
    assert [len(r) for r in oc.sweep_rows(study)][:1] == [7] and len(oc.sweep_rows(study)) == 3


def test_check_seeds_is_a_parameter_checker():
    from superconv import chapter
    assert oc.check_seeds("PC_SEEDS", [0, 2]) == [0, 2]
    for bad in ([0, 0], [-1], "0", []):
        with pytest.raises(chapter.ParameterError, match="PC_SEEDS"):
            oc.check_seeds("PC_SEEDS", bad)


def test_format_acc():
    s = oc.summarize([_h([1], [91.0]), _h([1], [92.0])], [0, 1])
    assert oc.format_acc(s) == "91.50 ± 0.71 % (n=2)"
    assert oc.format_acc({}) == "n/a"


def test_bn_statistics_rows_compare_moving_averages_with_precise_bn():
    def h(moving, final, precise=2000):
        return History(eval_iters=[10], test_acc=[final], iterations=10, moving_average_test_acc=moving,
                       config={"bn_momentum": 0.001, "precise_bn": precise})
    groups = {"2,000 images": {"one_cycle": [h(83.0, 83.5), h(83.2, 83.1)], "pc_lr": [h(49.7, 85.2)]},
              "old runs": {"pc_lr": [History(eval_iters=[10], test_acc=[80.0], iterations=10)]}}
    rows = oc.bn_statistics_rows(groups)
    assert [(r["setting"], r["policy"], r["n"]) for r in rows] == [("2,000 images", "1cycle", 2),
                                                                  ("2,000 images", "PC-LR", 1)]
    assert rows[0]["difference (points)"] == pytest.approx(0.2) and rows[1]["difference (points)"] == pytest.approx(35.5)
    assert rows[1]["moving averages %"] == 49.7 and rows[1]["precise BN %"] == 85.2
    text = oc.bn_statistics_text(rows)
    assert "PC-LR at 2,000 images" in text and "49.70 %" in text and "+35.50" in text and "1 of 2" in text
    assert "nothing to compare" in oc.bn_statistics_text([])


def test_ladder_evaluation_texts_follow_the_profile():
    how, why = oc.ladder_evaluation_texts("laptop")
    assert "recomputed from 2,000 training images" in how and "both policies" in how
    assert "last stage is only 240 iterations" in why      # 1,920 - 1,680: the laptop ladder's
    assert "window of about 1,000 iterations" in why and "%" not in why  # no typed measurement
    how, why = oc.ladder_evaluation_texts("paper")
    assert "moving averages, as in the paper" in how and "paper's length" in why
