"""Chapter 1 study (cyclical learning rates): configs, paper settings, summaries, a tiny real run."""

import math
import os

import pytest

from superconv import experiments as ex
from superconv import models, paper, schedules
from superconv.results import Store
from superconv.studies import clr
from superconv.train import History

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def _h(iters, accs, diverged=False):
    return History(eval_iters=list(iters), test_acc=list(accs), iterations=iters[-1],
                   wall_time=float(iters[-1]), diverged=diverged)


# --------------------------------------------------------------------------- configs

def test_every_profile_builds_its_specs_and_schedules():
    for profile in ex.PROFILES:
        cfg = clr.config(profile)
        assert cfg["fixed_lr"] == cfg["base_lr"]  # CLR Table 3 convention: fixed = lower bound
        assert cfg["clr_iterations"] == cfg["cycles"] * 2 * cfg["step_size"]  # stops at a cycle end
        assert cfg["clr_iterations"] < cfg["fixed_iterations"]
        assert cfg["step_size"] % cfg["eval_every"] == 0  # evaluations hit peaks and cycle ends
        all_specs = clr.specs(profile, [0, 1], policies=clr.CLR_POLICIES)
        assert set(all_specs) == set(clr.POLICIES)
        for policy, ss in all_specs.items():
            assert [s["seed"] for s in ss] == [0, 1]
            for s in ss:
                base = dict(ex.BASE[profile], **(clr.PAPER_NET if profile == "paper" else {}))
                assert (s["dataset"], s["model"], s["batch_size"]) == (base["dataset"], base["model"], base["batch_size"])
                assert s["momentum"] == 0.9
                ex.build_schedule(s["schedule"])


def test_paper_profile_runs_the_clr_papers_own_cifar10_setup():
    """Caffe's cifar10_full at batch 100, WD 0.004, momentum 0.9 (CLR_BASELINE_SOLVER), bounds
    0.001-0.006, stepsize 2,000; the baseline 0.001 divided by 10 at 60k and 65k, 70k in all."""
    cfg = clr.config("paper")
    s_fixed, s_tri2 = clr.spec("fixed", cfg, 0), clr.spec("triangular2", cfg, 0)
    base = paper.CLR_BASELINE_SOLVER
    assert (s_fixed["dataset"], s_fixed["model"], s_fixed["batch_size"]) == ("cifar10", "cifar10_full", 100)
    assert s_fixed["weight_decay"] == base["weight_decay"] == 0.004 and s_fixed["momentum"] == base["momentum"]
    assert "ghost_batch" not in s_fixed and "test_reads" not in s_fixed  # no BatchNorm; 100 x 100 test reads
    assert s_fixed["input_norm"] == "mean_image" and s_fixed["sgd"] == "caffe"
    fixed = ex.build_schedule(s_fixed["schedule"])
    assert s_fixed["iterations"] == base["max_iter"] == 70_000
    assert [fixed.lr(i) for i in (0, 59_999, 60_000, 65_000)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5])
    assert list(base["steps"]) == [60_000, 65_000]
    stage1 = paper.CLR_TRIANGULAR2_SOLVER["stage1"]
    assert cfg["step_size"] == stage1["stepsize"] == clr.PAPER_STEP_SIZE == 2000
    bounds = paper.get("clr.range_test.cifar10.lr").value
    assert (cfg["base_lr"], cfg["max_lr"]) == (bounds.start, bounds.stop) == (0.001, 0.006)
    assert abs(cfg["clr_iterations"] - paper.get("clr.table1.cifar10.triangular2").context["iterations"]) <= 1000
    assert clr.paper_budgets()["fixed_iterations"] == cfg["fixed_iterations"]
    assert cfg["gamma"] == paper.CLR_EXP_SOLVER["gamma"]  # the paper's stepsize: its gamma unchanged
    sched = ex.build_schedule(s_tri2["schedule"])
    assert sched.lr(0) == pytest.approx(0.001) and sched.lr(2000) == pytest.approx(0.006)
    assert sched.lr(6000) == pytest.approx(0.001 + 0.005 / 2)  # triangular2: second peak is half as high
    assert models.count_parameters(models.build("cifar10_full")) == 89_578

def test_config_overrides_and_errors():
    cfg = clr.config("laptop", max_lr=0.3, step_size=None, fixed_lr=0.1)
    assert cfg["max_lr"] == 0.3 and cfg["step_size"] == clr.CONFIGS["laptop"]["step_size"] and cfg["fixed_lr"] == 0.1
    with pytest.raises(ValueError, match="base_lr=0.5 must be < max_lr=0.1"):
        clr.config("smoke", base_lr=0.5, max_lr=0.1)
    with pytest.raises(ValueError, match="step_size=0"):
        clr.config("smoke", step_size=0)
    with pytest.raises(ValueError, match="unknown knob"):
        clr.config("smoke", lr=0.1)
    with pytest.raises(ValueError, match="PROFILE='huge'"):
        clr.config("huge")
    with pytest.raises(ValueError, match=r"policies\[1\]='cosine' is not allowed; allowed: 'triangular'"):
        clr.check_policies(["triangular", "cosine"])
    assert clr.check_policies(None) == clr.DEFAULT_POLICIES
    assert clr.check_policies(["exp_range", "exp_range"]) == ("exp_range",)


@pytest.mark.parametrize("mode", clr.CLR_POLICIES)
def test_our_clr_equals_torch_cyclic_lr(mode):
    sched = clr.schedule(mode, clr.config("laptop"))
    assert clr.torch_max_rel_diff(sched, 1500) <= 1e-12
    with pytest.raises(ValueError):
        clr.torch_max_rel_diff(schedules.fixed(0.1), 10)


# --------------------------------------------------------------------------- summaries

def _study(fixed, tri, seeds=(0, 1)):
    cfg = clr.config("smoke", step_size=2, cycles=2, fixed_iterations=16, eval_every=2, fixed_eval_every=4)
    return clr.Study(profile="smoke", config=cfg, seeds=list(seeds), policies=("triangular",),
                     histories={"fixed": fixed, "triangular": tri})


def test_reach_outcome_and_verdict():
    fixed = [_h([4, 8, 12, 16], [50, 60, 70, 80]), _h([4, 8, 12, 16], [50, 60, 70, 82])]
    tri = [_h([2, 4, 6, 8], [40, 70, 60, 85]), _h([2, 4, 6, 8], [40, 70, 60, 79])]
    st = _study(fixed, tri)
    r = st.reach("triangular")  # target = mean fixed final = 81; the mean curve is 82 at it 8
    assert r["target_acc"] == 81 and r["fast_iterations"] == 8 and r["iteration_ratio"] == 2.0
    assert r["seed_iterations"] == [8, None] and r["seeds_reached"] == 1  # 85 >= 80, 79 < 82
    assert st.outcome("triangular") == "yes"
    assert st.verdict("triangular", paper_reached=True) == "reproduced"
    assert st.verdict("triangular", paper_reached=False) == "not reproduced (CLR did better here)"
    tri2 = [_h([2, 4, 6, 8], [40, 70, 60, 85]), _h([2, 4, 6, 8], [40, 70, 60, 70])]
    st = _study(fixed, tri2)
    assert st.outcome("triangular") == "partly" and st.verdict("triangular", True) == "partly reproduced"
    st = _study(fixed, [_h([2, 4, 6, 8], [40, 50, 60, 70])] * 2)
    assert st.outcome("triangular") == "no" and st.verdict("triangular", False) == "reproduced"
    rows = st.summary()
    assert [r["policy"] for r in rows] == ["fixed", "triangular"]
    assert rows[0]["final_mean"] == 81 and rows[1]["reached_at"] is None and rows[1]["seeds_reached"] == "0 of 2"


def test_diverged_runs_never_reach():
    fixed = [_h([4, 8, 12, 16], [50, 60, 70, 80])]
    tri = [_h([2, 4], [90, 95], diverged=True)]
    st = _study(fixed, tri, seeds=[0])
    assert st.reach("triangular")["fast_iterations"] is None and st.outcome("triangular") == "no"
    assert st.diverged("triangular") == 1 and math.isnan(st.final("triangular")[0])


def test_cycle_phase_accuracy():
    st = _study([_h([4, 8, 12, 16], [1, 2, 3, 4])], [_h([2, 4, 6, 8], [10, 50, 20, 60])], seeds=[0])
    ph = st.cycle_phase_accuracy("triangular")  # step 2: peaks at 2, 6; cycle ends at 4, 8
    assert ph == {"peak": 15.0, "end": 55.0, "n_peaks": 2, "n_ends": 2}


def test_mean_history():
    m = clr.mean_history([_h([1, 2], [10, 20]), _h([1, 2], [30, 40])])
    assert m.test_acc == [20, 30] and m.eval_iters == [1, 2] and not m.diverged
    m = clr.mean_history([_h([1, 2], [10, 20]), _h([1], [30], diverged=True)])  # every evaluation any seed reached
    assert m.eval_iters == [1, 2] and m.test_acc == [20, 20] and m.diverged
    with pytest.raises(ValueError):
        clr.mean_history([])


# --------------------------------------------------------------------------- a tiny real run

@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_tiny_run_and_load(tmp_path):
    store = Store(tmp_path)
    knobs = dict(step_size=2, cycles=1, fixed_iterations=8, eval_every=2, fixed_eval_every=4)
    assert clr.load("smoke", [0], store=store, **knobs) is None
    st = clr.run("smoke", [0], device="cpu", store=store, policies=["triangular2"], **knobs)
    assert st.histories["fixed"][0].iterations == 8 and st.histories["triangular2"][0].eval_iters == [2, 4]
    assert st.histories["triangular2"][0].lr == pytest.approx([0.05, 0.275, 0.5, 0.275])
    assert all(0 <= a <= 100 for a in st.histories["fixed"][0].test_acc)
    again = clr.load("smoke", [0, 1], store=store, policies=["triangular2"], **knobs)
    assert again.seeds == [0] and again.histories["fixed"][0].test_acc == st.histories["fixed"][0].test_acc
    assert clr.load("smoke", [0], store=store, **knobs).policies == ("triangular2",)  # what is stored
    rows = again.summary()
    assert rows[1]["policy"] == "triangular2" and rows[1]["iterations"] == 4


def test_both_cells_of_a_compared_pair_get_a_finding(tmp_path):
    """Table 3's Nesterov row is a comparison of two cells (triangular 25k vs fixed 70k), as Table 1's
    CIFAR-10 rows are: both claims get the same finding, so neither is left without a row."""
    from superconv.results import Store
    got = {f.claim_id: f for f in clr.findings("laptop", store=Store(tmp_path))}
    for pair in (("clr.table1.cifar10.triangular2", "clr.table1.cifar10.fixed"),
                 ("clr.table3.nesterov.triangular.25k", "clr.table3.nesterov.fixed.70k")):
        assert set(pair) <= set(got) and got[pair[0]].detail == got[pair[1]].detail
