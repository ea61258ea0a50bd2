"""Chapter 6's study module (superconv.studies.less_data): configs, verdicts, findings, smoke run."""

import math
import os

import pytest
import torch

from superconv import chapter, data, paper, scorecard
from superconv import experiments as ex
from superconv.results import Store, spec_key
from superconv.studies import ladder
from superconv.studies import less_data as ld
from superconv.studies import one_cycle as oc
from superconv.train import History

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def _h(final, total=100, wall=10.0):
    """A history whose test accuracy climbs to ``final`` over four evaluations."""
    iters = [total // 4 * k for k in (1, 2, 3, 4)]
    return History(eval_iters=iters, test_acc=[final - 30, final - 10, final - 2, final],
                   iterations=total, wall_time=wall)


def _summary(finals):
    return oc.summarize([_h(a) for a in finals], list(range(len(finals))))


# --------------------------------------------------------------------------- configs

def test_largest_size_is_the_shared_ladder_pair_and_the_others_only_change_train_size():
    for profile in ex.PROFILES:
        got = ld.specs(profile)
        sizes = ld.default_sizes(profile)
        assert list(got) == sorted(sizes, reverse=True) and sizes[0] == ld.full_size(profile)
        for policy in ld.POLICIES:
            seeds = ld.default_seeds(profile, policy)
            assert got[sizes[0]][policy] == [ex.ladder_spec(profile, policy, seed=s) for s in seeds]
            for n in sizes[1:]:
                for a, b in zip(got[n][policy], got[sizes[0]][policy]):
                    assert {k for k in a if a[k] != b[k]} == {"train_size"} and a["train_size"] == n
    lap = ld.specs("laptop")
    assert lap[10_000]["one_cycle"][0]["iterations"] == 240 and lap[10_000]["pc_lr"][0]["iterations"] == 1920
    assert ld.full_size("laptop") == 10_000 and ld.ladder_is_shortened("laptop")
    assert not ld.ladder_is_shortened("paper")


def test_paper_configs_match_facts():
    got = ld.specs("paper")
    assert list(got) == list(paper.REDUCED_DATA_SAMPLES)
    full = got[50_000]
    # the 50k point is the paper's headline pair itself (train_size None = all 50k of CIFAR-10)
    assert full["one_cycle"][0] == ex.make_spec("paper", "one_cycle", seed=0)
    assert full["pc_lr"][0] == ex.make_spec("paper", "pc_lr", seed=0) and full["pc_lr"][0]["train_size"] is None
    assert [s["seed"] for s in full["pc_lr"]] == [0] and len(full["one_cycle"]) == 3
    clr, pc = paper.HEADLINE_CLR_SOLVER, paper.HEADLINE_PC_SOLVER
    for n, by in got.items():
        one, base = by["one_cycle"][0], by["pc_lr"][0]
        assert (one["dataset"], one["model"], one["batch_size"]) == ("cifar10", "caffe_resnet56", clr["batch_size"])
        assert one["iterations"] == clr["max_iter"] and base["iterations"] == pc["max_iter"]
        assert list(base["schedule"]["milestones"]) == list(pc["steps"])
        assert one["train_size"] == (None if n == 50_000 else n)
    assert ld.paper_mapping("paper") == {n: n for n in paper.REDUCED_DATA_SAMPLES}


def test_sizes_are_checked_before_any_work():
    assert ld.check_sizes("laptop", [2000, 10_000, 5000]) == [10_000, 5000, 2000]
    for bad in ([10_000], [10_000, 10_000], [10_005, 5000], [70_000, 5000], [0, 10], "10000",
                [True, 10], [5000.0, 10]):
        with pytest.raises(ValueError, match=r"TRAIN_SIZES=.*allowed: a list of at least 2"):
            ld.check_sizes("laptop", bad)
    with pytest.raises(ValueError, match="50,000"):
        ld.check_sizes("paper", [60_000, 10_000])
    params = dict(PROFILE="laptop", DEVICE="cpu", SEEDS=None, MODERN=None, PC_SEEDS=None)
    with pytest.raises(chapter.ParameterError, match="TRAIN_SIZES=\\[7, 10\\]"):
        ld.CHAPTER.setup({**params, "TRAIN_SIZES": [7, 10]})
    assert ld.CHAPTER.setup({**params, "TRAIN_SIZES": [5000, 10_000]})["TRAIN_SIZES"] == [10_000, 5000]
    assert ld.CHAPTER.setup({**params, "TRAIN_SIZES": None})["TRAIN_SIZES"] is None
    with pytest.raises(ValueError, match="seeds"):
        ld.specs("smoke", seeds=[0, 0])


def test_mapping_of_paper_sizes_by_nearest_fraction():
    # laptop fractions 1.0 / 0.5 / 0.2 of 10k against the paper's 1.0 / 0.8 / 0.6 / 0.4 / 0.2 of 50k
    assert ld.paper_mapping("laptop") == {50_000: 10_000, 40_000: 10_000, 30_000: 5000,
                                          20_000: 5000, 10_000: 2000}
    assert ld.paper_mapping("laptop", [10_000, 7000, 3000]) [30_000] == 7000
    assert ld.paper_mapping("smoke", [500, 300])[40_000] == 500


def test_paper_gaps_are_the_claims_numbers():
    gaps = ld.paper_gaps()
    assert [round(g, 1) for g in gaps.values()] == [1.2, 2.0, 3.9, 5.2, 9.2]
    statement = paper.claim("sc.limited_data_trend").statement
    assert " → ".join(f"{g:.1f}" for g in gaps.values()) in statement


def test_balanced_subsets_are_nested():
    # the chapter says a smaller subset is part of the larger one (same data seed): check it on a
    # toy split whose images encode their own index
    n = 3000
    labels = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(0))
    images = torch.zeros(n, 1, 1, 2, dtype=torch.uint8)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = torch.arange(n) // 256, torch.arange(n) % 256
    split = data.Split(images=images, labels=labels, mean=(0.5,), std=(0.3,),
                       classes=[str(i) for i in range(10)], name="toy", train=True)

    def picked(k):
        im = data.balanced_subset(split, k, seed=0).images[:, 0, 0].long()
        return set((im[:, 0] * 256 + im[:, 1]).tolist())

    small, mid, big = picked(500), picked(1000), picked(2000)
    assert len(small) == 500 and small <= mid <= big


# --------------------------------------------------------------------------- verdicts

def test_size_verdict_rule():
    v = ld.size_verdict(_summary([90.0, 91.0]), _summary([89.0]))
    assert v["gap"] == pytest.approx(1.5) and v["noise"] == pytest.approx(math.sqrt(0.5))
    assert v["verdict"] == "reproduced"
    assert ld.size_verdict(_summary([89.3]), _summary([89.0]))["verdict"] == "partly reproduced"  # floor 0.5
    assert ld.size_verdict(_summary([88.5]), _summary([89.0]))["verdict"] == "partly reproduced"  # = -noise
    assert ld.size_verdict(_summary([88.4]), _summary([89.0]))["verdict"] == "not reproduced"
    wide = ld.size_verdict(_summary([86.0, 90.0]), _summary([89.0]))  # std 2.83 swallows -1 points
    assert wide["verdict"] == "partly reproduced" and wide["noise"] == pytest.approx(2 * math.sqrt(2))


def _points(gaps_and_sds):
    pts = {}
    for n, (one, pc) in gaps_and_sds.items():
        s1, s2 = _summary(one), _summary(pc)
        pts[n] = dict(n=n, summary={"one_cycle": s1, "pc_lr": s2}, complete=True,
                      gap=s1["final_mean"] - s2["final_mean"])
    return pts


def test_trend_verdict_rule():
    pts = _points({10_000: ([88.0, 88.2], [88.5]), 5000: ([86.0, 86.2], [86.0]), 2000: ([84.0, 84.2], [82.0])})
    tr = ld.trend_verdict(pts)
    assert (tr["largest"], tr["smallest"]) == (10_000, 2000)
    assert tr["gap_largest"] == pytest.approx(-0.4) and tr["gap_smallest"] == pytest.approx(2.1)
    assert tr["growth"] == pytest.approx(2.5) and tr["threshold"] == pytest.approx(0.5)
    assert tr["verdict"] == "reproduced" and (tr["increases"], tr["steps"]) == (2, 2)
    assert "grew by 2.50 points, more than" in ld.trend_sentence(tr)
    pts = _points({10_000: ([88.0, 89.0], [88.5]), 2000: ([84.0, 85.0], [84.0])})
    tr = ld.trend_verdict(pts)  # growth 0.5 < T = sqrt(0.5 + 0.5) = 1
    assert tr["verdict"] == "inconclusive" and tr["threshold"] == pytest.approx(1.0)  # grew, within T
    tr = ld.trend_verdict(_points({10_000: ([89.0], [88.0]), 2000: ([84.0], [84.0])}))
    assert tr["verdict"] == "not reproduced" and "shrank by 1.00 points" in ld.trend_sentence(tr)
    with pytest.raises(ValueError):
        ld.trend_verdict(_points({10_000: ([89.0], [88.0])}))


# --------------------------------------------------------------------------- findings

def _fill(store, profile, finals):
    """Put synthetic histories for every default spec: ``finals[n] = (1cycle finals, pc final)``."""
    for n, by in ld.specs(profile).items():
        one, pc = finals[n]
        for s, a in zip(by["one_cycle"], one):
            store.put(s, profile, _h(a, total=s["iterations"], wall=1.0))
        store.put(by["pc_lr"][0], profile, _h(pc, total=by["pc_lr"][0]["iterations"], wall=8.0))


def test_findings_cover_the_chapters_claims_and_say_not_run(tmp_path):
    store = Store(tmp_path)
    got = ld.findings("laptop", store=store)
    want = [c.id for c in paper.claims("limited-data")]
    assert [f.claim_id for f in got] == want
    assert all(f.verdict == "not run" and "-p PROFILE laptop" in f.detail for f in got)
    paper_f = ld.findings("paper", store=store)
    assert all(f.detail.endswith(ld.command()) for f in paper_f)


def test_findings_compute_verdicts_from_the_store(tmp_path, monkeypatch):
    store = Store(tmp_path)
    _fill(store, "laptop", {10_000: ([88.0, 88.2], 89.0), 5000: ([86.0, 86.2], 86.0),
                            2000: ([84.0, 84.2], 82.0)})
    # without chapter 3's sweep in the store nothing shows the shortened budgets suffice
    got = {f.claim_id: f for f in ld.findings("laptop", store=store)}
    assert {f.verdict for f in got.values()} == {"not testable at this budget"}
    assert got["sc.reduced_data.50000"].rule == ladder.BUDGET_RULE and "untested verdict: not reproduced" in \
        got["sc.reduced_data.50000"].detail
    # budgets that suffice: the comparisons themselves decide
    monkeypatch.setattr(ladder, "budget_check", lambda profile, store=None: dict(testable=True, policies={}, sentence=""))
    got = {f.claim_id: f for f in ld.findings("laptop", store=store)}
    assert got["sc.reduced_data.50000"].verdict == "not reproduced"      # -0.9 at 10k
    assert got["sc.reduced_data.40000"].verdict == "not reproduced"      # mapped to 10k too
    assert got["sc.reduced_data.30000"].verdict == "partly reproduced"   # +0.1 at 5k
    assert got["sc.reduced_data.10000"].verdict == "reproduced"          # +2.1 at 2k
    f = got["sc.reduced_data.40000"]
    assert "80%" in f.detail and "10,000 = 100%" in f.detail and "shortened" in f.detail
    assert "1cycle reached PC-LR's final accuracy" in got["sc.reduced_data.10000"].detail
    assert "did not reach" in f.detail and "−0.90" in f.ours.replace("-", "−")
    tr = got["sc.limited_data_trend"]
    assert tr.verdict == "reproduced" and "-0.90 → +2.10" in tr.ours and tr.rule == ld.TREND_RULE
    assert all(f.verdict in scorecard.VERDICTS for f in got.values())
    # a missing PC-LR run at the smallest size: that size and the trend fall back, not crash
    (tmp_path / "laptop" / f"{spec_key(ld.spec('laptop', 'pc_lr', 2000))}.json").unlink()
    got = {f.claim_id: f for f in ld.findings("laptop", store=store)}
    assert got["sc.reduced_data.10000"].verdict == "not run"
    assert got["sc.limited_data_trend"].verdict == "not run"  # the trend needs both ends


# --------------------------------------------------------------------------- a smoke run

@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_smoke_study_runs_and_findings_read_it(tmp_path):
    store = Store(tmp_path)
    assert ld.stored("smoke", store=store) is None
    study = ld.run_study("smoke", device="cpu", store=store)
    assert study.sizes == [500, 250] and study.full_size == 500
    for n in study.sizes:
        p = study.points[n]
        assert p["complete"] and math.isfinite(p["gap"]) and p["speedup"]["budget_ratio"] == 8
        assert len(study.histories[n]["one_cycle"]) == 2 and study.points[n]["summary"]["one_cycle"]["n"] == 2
        assert study.histories[n]["pc_lr"][0].iterations == ex.ladder_spec("smoke", "pc_lr")["iterations"]
    assert study.trend["verdict"] in scorecard.VERDICTS
    # the 500 point is the profile's shared ladder pair (what chapters 7-9 run at smoke): chapter
    # 3's headline pair evaluated with precise BN
    assert store.get(ex.ladder_spec("smoke", "pc_lr", seed=0), "smoke") is not None
    assert store.get(ex.make_spec("smoke", "one_cycle", seed=0), "smoke") is not None
    s = study.series("one_cycle")
    assert s["n"] == [500, 250] and s["count"] == [2, 2]
    again = ld.stored("smoke", store=store)
    assert again.points[250]["gap"] == study.points[250]["gap"]
    got = ld.findings("smoke", store=store)
    assert len(got) == 6 and not any(f.verdict == "not run" for f in got)
