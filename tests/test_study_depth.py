"""Chapter 7's study module (superconv.studies.depth): configs, parameter counts, verdicts, findings."""

import math
import os

import pytest

from superconv import experiments as ex
from superconv import models, paper
from superconv.results import Store
from superconv.studies import depth as dp
from superconv.train import History

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def _summary(mean, std=0.0, n=1):
    return {"final_mean": mean, "final_std": std, "n": n}


def _point(gain, sds=(0.0, 0.0)):
    return {"complete": True, "gain": gain,
            "summary": {"one_cycle": {"final_std": sds[0]}, "pc_lr": {"final_std": sds[1]}}}


# --------------------------------------------------------------------------- configs

def test_specs_are_the_shared_ladder_specs():
    for profile in ("laptop", "paper"):
        got = dp.specs(profile)
        assert list(got) == dp.DEFAULT_DEPTHS[profile]
        for d, by_policy in got.items():
            for policy, specs in by_policy.items():
                seeds = dp.default_seeds(profile, policy)
                assert specs == [dp.spec(profile, policy, d, s) for s in seeds]
                assert all(x["model"] == dp.model_name(profile, d) for x in specs)
    # the laptop's ResNet-8 is the ladder pair chapters 6, 8, 9 use; the paper's ResNet-56 is
    # chapter 3's headline pair (so both are computed once per book build)
    lap = dp.specs("laptop")[8]
    assert lap["pc_lr"][0] == ex.ladder_spec("laptop", "pc_lr", seed=0)
    assert [s["iterations"] for s in (lap["one_cycle"][0], lap["pc_lr"][0])] == [240, 1920]
    pap = dp.specs("paper")[56]
    assert pap["one_cycle"] == [ex.make_spec("paper", "one_cycle", seed=s) for s in (0, 1, 2)]
    assert pap["pc_lr"][0] == ex.make_spec("paper", "pc_lr", seed=0)
    # only the model differs between depths
    a, b = dp.specs("laptop")[8]["pc_lr"][0], dp.specs("laptop")[14]["pc_lr"][0]
    assert {k for k in a if a[k] != b[k]} == {"model"}


def test_smoke_is_shortened_with_the_same_ratio():
    s = dp.specs("smoke")
    one, pc = s[8]["one_cycle"][0], s[8]["pc_lr"][0]
    assert one["iterations"] == dp.SMOKE_ITERATIONS["one_cycle"] and pc["iterations"] == dp.SMOKE_ITERATIONS["pc_lr"]
    assert pc["iterations"] == 8 * one["iterations"]
    full = ex.make_spec("smoke", "pc_lr")
    assert pc["schedule"]["milestones"] == [round(m * pc["iterations"] / full["iterations"])
                                            for m in full["schedule"]["milestones"]]
    assert dp.ladder_is_shortened("smoke") and dp.ladder_is_shortened("laptop") and not dp.ladder_is_shortened("paper")


def test_paper_configs_match_facts():
    clr, pc = paper.HEADLINE_CLR_SOLVER, paper.HEADLINE_PC_SOLVER
    got = dp.specs("paper")
    assert sorted(got) == list(dp.PAPER_DEPTHS) == [20, 56, 110]
    for d, by_policy in got.items():
        for policy, solver in (("one_cycle", clr), ("pc_lr", pc)):
            s = by_policy[policy][0]
            assert s["dataset"] == "cifar10" and s["train_size"] is None and s["model"] == f"caffe_resnet{d}"
            # ResNet-110 ran at 8 GPUs x 100 (conventions.DEPTH_BATCHES), the others at the solver's batch
            assert s["batch_size"] == (800 if d == 110 else solver["batch_size"])
            assert s["weight_decay"] == solver["weight_decay"]
            assert s["iterations"] == solver["max_iter"] and s["model_kwargs"].get("width", 16) == 16
        sched = ex.build_schedule(by_policy["one_cycle"][0]["schedule"])
        assert sched.lr(clr["stepsize"]) == pytest.approx(clr["max_lr"])
        assert by_policy["pc_lr"][0]["schedule"]["milestones"] == list(pc["steps"])
    for row in dp.parameter_counts("paper"):
        n = paper.get(f"arch.resnet.blocks_per_stage.resnet{row['depth']}").value
        assert row["blocks_per_stage"] == n and row["layers"] == row["depth"] == 6 * n + 2


def _resnet_params(depth, width, c_in, k):
    """Option-A CIFAR ResNet, counted by hand: convs without bias, BN (2 per channel), FC."""
    n = (depth - 2) // 6
    total = 9 * c_in * width + 2 * width
    cin = width
    for w in (width, 2 * width, 4 * width):
        for _ in range(n):
            total += 9 * cin * w + 2 * w + 9 * w * w + 2 * w
            cin = w
    return total + cin * k + k


def test_parameter_counts_are_computed_and_match_known_counts():
    rows = {r["depth"]: r for r in dp.parameter_counts("laptop")}
    assert sorted(rows) == [8, 14, 20, 56, 110]
    # the paper's nets are the authors' Caffe ResNets (tests/test_paper_setup.py counts their prototxts)
    assert [rows[d]["paper_params"] for d in (20, 56, 110)] == [224_042, 808_682, 1_685_642]
    for d, r in rows.items():
        assert r["params"] == _resnet_params(d, 16, 1, 10)          # Fashion-MNIST: 1 channel, option A
        assert r["in_profile"] == (d in (8, 14)) and r["in_paper"] == (d in (20, 56, 110))
    smoke = {r["depth"]: r for r in dp.parameter_counts("smoke")}
    assert smoke[14]["params"] == _resnet_params(14, 4, 1, 10)
    assert smoke[14]["params"] == models.count_parameters(models.build("resnet14", width=4, in_channels=1))


def test_depth_checks():
    assert dp.check_depths([14, 8]) == [8, 14]
    assert dp.check_depths((8, 14, 20)) == [8, 14, 20]
    for bad in ([8], [8, 8], [9, 14], [2, 8], [True, 14], "8,14", [8.0, 14], None):
        with pytest.raises(ValueError, match="DEPTHS="):
            dp.check_depths(bad)
    from superconv import chapter
    with pytest.raises(chapter.ParameterError, match=r"DEPTHS=\[8, 15\].*6n\+2"):
        dp.depths_checker("DEPTHS", [8, 15])
    with pytest.raises(ValueError, match="policy"):
        dp.default_seeds("laptop", "fast")
    with pytest.raises(ValueError, match="one_cycle seeds"):
        dp.specs("laptop", seeds=[0, 0])
    with pytest.raises(ValueError, match="PROFILE='huge'"):
        dp.specs("huge")


# --------------------------------------------------------------------------- verdicts

def test_paper_gains_and_the_rule_applied_to_the_paper():
    assert dp.paper_gains() == {20: 1.8, 56: 1.2, 110: 1.1}
    t = dp.paper_trend()   # single runs: T is the floor
    assert t["verdict"] == "reproduced" and t["excess"] == pytest.approx(0.7) and t["threshold"] == 0.5
    assert t["decreases"] == t["steps"] == 2


def test_depth_verdict():
    v = dp.depth_verdict(_summary(91.0, 0.3, 2), _summary(90.0))
    assert v["verdict"] == "reproduced" and v["gain"] == pytest.approx(1.0) and v["noise"] == 0.5
    v = dp.depth_verdict(_summary(90.0, 0.8, 2), _summary(90.5, 0.6, 2))
    assert v["noise"] == pytest.approx(1.0) and v["verdict"] == "partly reproduced"
    assert dp.depth_verdict(_summary(89.0), _summary(90.0))["verdict"] == "not reproduced"
    assert dp.depth_verdict(_summary(math.nan), _summary(90.0))["verdict"] == "not reproduced"


def test_trend_verdict():
    t = dp.trend_verdict({8: _point(1.5, (0.2, 0.0)), 14: _point(0.4, (0.3, 0.0))})
    assert t["verdict"] == "reproduced" and t["excess"] == pytest.approx(1.1)
    assert (t["shallowest"], t["deepest"]) == (8, 14)
    t = dp.trend_verdict({8: _point(0.6, (0.6, 0.0)), 14: _point(0.1, (0.8, 0.0)), 20: {"complete": False}})
    assert t["verdict"] == "inconclusive" and t["threshold"] == pytest.approx(1.0)  # larger, within T
    t = dp.trend_verdict({8: _point(-0.2), 14: _point(0.3), 20: _point(0.1)})
    assert t["verdict"] == "not reproduced" and t["deepest"] == 20 and t["decreases"] == 1
    assert "smaller at the shallower net" in dp.trend_sentence(t)
    with pytest.raises(ValueError, match="two depths"):
        dp.trend_verdict({8: _point(1.0)})


def test_texts_never_print_non_finite_numbers():
    sp = dict(iteration_ratio=None, time_ratio=None, fast_iterations=None)
    assert dp.speedup_text(sp) == "1cycle did not reach PC-LR's final accuracy within its run"
    sp = dict(iteration_ratio=8.0, time_ratio=None, fast_iterations=320)
    assert dp.speedup_text(sp) == "1cycle reached PC-LR's final accuracy after 320 iterations, 8.0× fewer"
    assert dp.command("smoke").endswith("-p PROFILE smoke") and "07_depth.ipynb" in dp.command("smoke")
    assert dp.command().endswith("-p PROFILE paper -p DEVICE cuda")


# --------------------------------------------------------------------------- smoke runs, findings

@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_smoke_study_and_findings_read_the_store_only(tmp_path):
    store = Store(tmp_path)
    assert dp.stored("smoke", store=store) is None
    before = dp.findings("smoke", store=store)
    assert [f.claim_id for f in before] == ["sc.depth.resnet20", "sc.depth.resnet110"]
    assert {c.id for c in paper.claims("depth")} == {f.claim_id for f in before}
    assert all(f.verdict == "not run" and "-p PROFILE smoke" in f.detail for f in before)
    assert not list(tmp_path.rglob("*.json"))               # findings never trains

    study = dp.run_study("smoke", device="cpu", store=store)
    assert study.depths == [8, 14] and study.trend is not None
    for d in study.depths:
        pt = study.points[d]
        assert pt["complete"] and math.isfinite(pt["gain"]) and pt["speedup"]["budget_ratio"] == 8
        h = study.histories[d]["one_cycle"][0]
        assert h.iterations == dp.SMOKE_ITERATIONS["one_cycle"] and h.config.get("model_name", "").startswith(f"ResNet-{d}")
    assert study.series("gain")["depth"] == [8, 14]
    again = dp.stored("smoke", store=store)
    assert again.points[14]["gain"] == study.points[14]["gain"] and again.trend["verdict"] == study.trend["verdict"]

    found = {f.claim_id: f for f in dp.findings("smoke", store=store)}
    for cid, d in (("sc.depth.resnet20", 8), ("sc.depth.resnet110", 14)):
        f = found[cid]
        assert f.verdict == study.points[d]["verdict"]["verdict"] and f.rule == dp.DEPTH_RULE
        assert f"ResNet-{d}" in f.ours and "stands in for the paper's" in f.detail and "trend" in f.detail
        assert not any(w in f.ours + f.detail for w in ("nan", " inf"))
    # other profiles are untouched: "not run" with their command
    assert all(f.verdict == "not run" and "-p DEVICE cuda" in f.detail for f in dp.findings("paper", store=store))
    # a missing PC-LR run at the deepest depth makes its claim "not run" again
    store.path(dp.specs("smoke")[14]["pc_lr"][0], "smoke").unlink()
    found = {f.claim_id: f.verdict for f in dp.findings("smoke", store=store)}
    assert found["sc.depth.resnet110"] == "not run" and found["sc.depth.resnet20"] != "not run"


def test_series_of_a_synthetic_study():
    h = lambda acc: History(eval_iters=[1, 2], test_acc=[acc - 1, acc], iterations=2, wall_time=1.0)  # noqa: E731
    specs = {d: {p: [{"seed": 0}, {"seed": 1}] if p == "one_cycle" else [{"seed": 0}] for p in dp.POLICIES}
             for d in (8, 14)}
    hists = {8: {"one_cycle": [h(90.0), h(91.0)], "pc_lr": [h(89.0)]},
             14: {"one_cycle": [h(90.0), h(90.0)], "pc_lr": [h(90.2)]}}
    st = dp._assemble("laptop", specs, hists)
    assert st.points[8]["gain"] == pytest.approx(1.5) and st.points[14]["gain"] == pytest.approx(-0.2)
    g = st.series("gain")
    assert g["depth"] == [8, 14] and g["std"][0] == pytest.approx(math.sqrt(0.5))
    assert st.series("pc_lr")["mean"] == [89.0, 90.2]
    assert st.trend["excess"] == pytest.approx(1.7) and st.trend["verdict"] == "reproduced"
