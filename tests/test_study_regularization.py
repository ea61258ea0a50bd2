"""Chapter 4's study: the regularization balance (WD sweep under 1cycle / PC-LR, batch size)."""

import math
import os

import pytest

from superconv import experiments as ex
from superconv import paper
from superconv.results import Store
from superconv.studies import regularization as R
from superconv.train import History

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


# --------------------------------------------------------------------------- configs

def test_paper_profile_runs_the_authors_sweep_at_full_length():
    cfg = R.config("paper")
    logged = sorted({f.context["weight_decay"] for f in paper.facts("sc.logs.wd")}, reverse=True)
    assert cfg["weight_decays"] == logged == [1e-3, 1e-4, 1e-5, 1e-6]
    assert tuple(cfg["batch_sizes"]) == paper.get("sc.batch_size.total_batches").value
    one = R.sweep_spec("paper", "one_cycle", 1e-4, 0)
    pc = R.sweep_spec("paper", "pc_lr", 1e-4, 0)
    # at the profile's WD the sweep's runs *are* chapter 3's headline runs (shared in the store)
    assert one == ex.make_spec("paper", "one_cycle", seed=0)
    assert pc == ex.make_spec("paper", "pc_lr", seed=0)
    clr = paper.HEADLINE_CLR_SOLVER
    assert (one["dataset"], one["model"], one["batch_size"]) == ("cifar10", "caffe_resnet56", clr["batch_size"])
    assert one["iterations"] == clr["max_iter"] == 10_000 and pc["iterations"] == 80_000
    assert one["schedule"]["max_lr"] == clr["max_lr"] and pc["schedule"]["base_lr"] == 0.35
    assert R.sweep_spec("paper", "one_cycle", 1e-6, 0)["weight_decay"] == 1e-6
    assert R.default_seeds("paper") == [0]
    # Fig. 5 batch sizes: same epochs as the 10k-iteration run at batch 1000
    b512 = R.batch_spec("paper", 512, 0)
    assert b512["iterations"] == round(10_000 * 1000 / 512)
    assert R.epochs(b512) == pytest.approx(R.epochs(one), rel=1e-3)
    assert R.batch_spec("paper", 1000, 0) == one


def test_laptop_sweep_is_the_headline_pair_shortened_to_the_same_budget():
    cfg = R.config("laptop")
    one = R.sweep_spec("laptop", "one_cycle", 1e-3, 1)
    pc = R.sweep_spec("laptop", "pc_lr", 1e-3, 1)
    assert one["iterations"] == pc["iterations"] == cfg["iterations"]["one_cycle"] == 320
    assert one["schedule"]["step_size"] == 140 and one["schedule"]["total_steps"] == 320
    assert one["schedule"]["max_lr"] == ex.make_spec("laptop", "one_cycle")["schedule"]["max_lr"]
    assert pc["schedule"]["milestones"] == [200, 280] and pc["momentum"] == 0.9
    assert (one["weight_decay"], one["seed"], one["eval_every"]) == (1e-3, 1, 160)
    assert R.sweep_spec("laptop", "one_cycle")["weight_decay"] == 1e-4  # None = the profile's WD
    # the 1cycle run delivers twice PC-LR's summed LR in the same iterations
    assert R.summed_lr(one) == pytest.approx(147.05, abs=0.01)
    assert R.summed_lr(pc) == pytest.approx(0.35 * 200 + 0.035 * 80 + 0.0035 * 40)
    assert R.summed_lr(ex.make_spec("paper", "one_cycle")) == pytest.approx(15_500, rel=1e-6)


def test_batch_specs_keep_the_epochs_and_the_lr_values():
    ref = R.sweep_spec("laptop", "one_cycle", None, 0)
    assert R.batch_spec("laptop", 128, 0) == ref
    b64, b256 = R.batch_spec("laptop", 64, 0), R.batch_spec("laptop", 256, 0)
    assert (b64["iterations"], b256["iterations"]) == (640, 160)
    assert b64["schedule"]["step_size"] == 280 and b64["schedule"]["total_steps"] == 640
    for s in (b64, b256):
        assert R.epochs(s) == pytest.approx(R.epochs(ref))
        assert s["schedule"]["max_lr"] == ref["schedule"]["max_lr"] and s["weight_decay"] == ref["weight_decay"]
    with pytest.raises(ValueError, match="batch_size"):
        R.batch_spec("laptop", 0, 0)


def test_knobs_change_only_what_they_should():
    one = R.sweep_spec("laptop", "one_cycle", 1e-4, 0, max_lr=0.5, crop_pad=2, iterations=200)
    assert one["schedule"]["max_lr"] == 0.5 and one["crop_pad"] == 2 and one["iterations"] == 200
    assert one["schedule"]["step_size"] == round(350 * 200 / 800)
    pc = R.sweep_spec("laptop", "pc_lr", 1e-4, 0, max_lr=0.5)
    assert pc["schedule"] == R.sweep_spec("laptop", "pc_lr", 1e-4, 0)["schedule"]  # no peak to change
    with pytest.raises(ValueError, match="max_lr=0.05 must exceed"):
        R.sweep_spec("laptop", "one_cycle", 1e-4, 0, max_lr=0.05)
    with pytest.raises(ValueError, match="policy='sgd'"):
        R.sweep_spec("laptop", "sgd")
    with pytest.raises(ValueError, match="iterations=0"):
        R.sweep_spec("laptop", "pc_lr", iterations=0)
    with pytest.raises(ValueError, match=r"weight_decays\[0\]=-1 is not allowed; allowed: a finite number > 0"):
        R.run_weight_decay_sweep("smoke", weight_decays=[-1], train=False)
    with pytest.raises(ValueError, match="repeat"):
        R.run_weight_decay_sweep("smoke", seeds=[0, 0], train=False)
    with pytest.raises(ValueError, match="field='schedule'"):
        R.sweep_field("smoke", "one_cycle", "schedule", [1])


# --------------------------------------------------------------------------- the verdict rule

def _cell(policy, wd, acc, std=0.2, status="ok"):
    return dict(policy=policy, weight_decay=wd, acc_mean=acc if status == "ok" else math.nan, acc_std=std,
                status=status)


def _summary(one, pc):
    return [_cell("one_cycle", wd, a) if not isinstance(a, str) else _cell("one_cycle", wd, 0, status=a)
            for wd, a in one.items()] + \
           [_cell("pc_lr", wd, a) if not isinstance(a, str) else _cell("pc_lr", wd, 0, status=a)
            for wd, a in pc.items()]


def test_compare_optima_rule():
    n = 10_000  # sampling std at 90 %: 0.3 points
    rep = R.compare_optima(_summary({1e-3: 88.0, 1e-4: 90.0}, {1e-3: 85.0, 1e-4: 84.0}), n)
    assert rep["verdict"] == "reproduced" and (rep["w_one_cycle"], rep["w_pc_lr"]) == (1e-4, 1e-3)
    assert rep["margin_one_cycle"] == pytest.approx(2.0) and rep["margin_pc_lr"] == pytest.approx(1.0)
    assert rep["sentence"].startswith("Reproduced")
    same = R.compare_optima(_summary({1e-3: 88.0, 1e-4: 90.0}, {1e-3: 85.0, 1e-4: 86.0}), n)
    assert same["verdict"] == "same optimum"
    noisy = R.compare_optima(_summary({1e-3: 89.9, 1e-4: 90.0}, {1e-3: 85.0, 1e-4: 84.0}), n)
    assert noisy["verdict"] == "within noise" and "paper's direction" in noisy["sentence"]
    opp = R.compare_optima(_summary({1e-3: 90.0, 1e-4: 88.0}, {1e-3: 84.0, 1e-4: 85.0}), n)
    assert opp["verdict"] == "not reproduced"
    # a diverged cell is infinitely worse: 1cycle diverging at PC-LR's optimum resolves its margin
    div = R.compare_optima(_summary({1e-2: "diverged", 1e-3: 90.0}, {1e-2: 86.0, 1e-3: 85.0}), n)
    assert div["verdict"] == "reproduced" and math.isinf(div["margin_one_cycle"])
    assert "diverged there" in div["sentence"]
    none = R.compare_optima(_summary({1e-3: "diverged"}, {1e-3: 85.0}), n)
    assert none["verdict"] == "no verdict" and "1cycle" in none["sentence"]


def test_optimum_skips_diverged_cells_and_flags_the_grid_edge():
    s = _summary({1e-2: "diverged", 1e-3: 91.0, 1e-4: 90.0}, {1e-2: 80.0, 1e-3: 85.0, 1e-4: 86.0})
    o1, o2 = R.optimum(s, "one_cycle"), R.optimum(s, "pc_lr")
    assert o1["weight_decay"] == 1e-3 and not o1["at_edge"]
    assert o2["weight_decay"] == 1e-4 and o2["at_edge"]
    s.append(_cell("one_cycle", 1e-5, 99.0, status="1/2 diverged"))
    assert R.optimum(s, "one_cycle")["weight_decay"] == 1e-3


def test_sampling_std():
    assert R.sampling_std(90.0, 10_000) == pytest.approx(0.3)
    assert R.sampling_std(None, 100) == 0.0


# --------------------------------------------------------------------------- aggregation (no training)

def _fake(acc, train_acc, diverged=False):
    h = History(eval_iters=[5, 10], test_acc=[acc - 1, acc], test_loss=[1.0, 0.9], iterations=10, wall_time=1.0)
    if diverged:
        h.diverged, h.diverged_at, h.test_acc, h.eval_iters, h.test_loss = True, 7, [acc - 1], [5], [1.0]
    else:
        h.train_acc = train_acc
    return h


def test_sweep_from_a_store_shows_diverged_runs(tmp_path):
    store = Store(tmp_path)
    wds, seeds = [1e-2, 1e-3], [0, 1]
    assert R.stored("smoke", seeds=seeds, store=store) is None
    for policy in R.POLICIES:
        for wd in wds:
            for s in seeds:
                spec = R.sweep_spec("smoke", policy, wd, s)
                div = policy == "one_cycle" and wd == 1e-2 and s == 1
                store.put(spec, "smoke", _fake(50.0 + 10 * (wd == 1e-3) + s, 60.0 + s, diverged=div))
    res = R.run_weight_decay_sweep("smoke", seeds, weight_decays=wds, store=store)  # loads, trains nothing
    assert res["complete"] and len(res["rows"]) == 8 and res["weight_decays"] == [1e-2, 1e-3]
    cells = {(c["policy"], c["weight_decay"]): c for c in res["summary"]}
    bad = cells[("one_cycle", 1e-2)]
    assert bad["status"] == "1/2 diverged" and bad["n_diverged"] == 1 and bad["acc_mean"] == 50.0
    assert bad["best_before_divergence"] == pytest.approx(50.0)  # seed 1's last evaluation before it diverged
    good = cells[("pc_lr", 1e-3)]
    assert good["acc_mean"] == pytest.approx(60.5) and good["acc_std"] == pytest.approx(math.sqrt(0.5))
    assert good["gap_mean"] == pytest.approx(0.0) and good["status"] == "ok"
    assert good["dose"] == pytest.approx(1e-3 * res["summed_lr"]["pc_lr"])
    row = next(r for r in res["rows"] if r["diverged"])
    assert row["test_acc"] is None and row["gap"] is None and row["diverged_at"] == 7
    assert res["optimum"]["one_cycle"]["weight_decay"] == 1e-3
    assert res["comparison"]["verdict"] == "same optimum"
    partial = R.run_weight_decay_sweep("smoke", seeds, weight_decays=[1e-4], store=store, train=False)
    assert not partial["complete"] and all(r["missing"] for r in partial["rows"])
    assert partial["summary"][0]["status"] == "missing"


# --------------------------------------------------------------------------- real (tiny) runs

@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_tiny_smoke_runs_end_to_end(tmp_path):
    store = Store(tmp_path)
    wd = R.run_weight_decay_sweep("smoke", [0], "cpu", weight_decays=[1e-3], iterations=6, store=store)
    assert wd["complete"] and wd["iterations"] == {"one_cycle": 6, "pc_lr": 6}
    for r in wd["rows"]:
        assert r["diverged"] or (0 <= r["test_acc"] <= 100 and r["gap"] is not None)
    bs = R.run_batch_sweep("smoke", [0], "cpu", batch_sizes=[50, 100], weight_decay=1e-3, iterations=6,
                          store=store)
    assert [c["iterations"] for c in bs["summary"]] == [6, 3]
    assert bs["summary"][0]["epochs"] == pytest.approx(bs["summary"][1]["epochs"])
    assert bs["gap_trend"] in (-1, 0, 1)
    # the batch-50 run is the sweep's 1cycle run: loaded, not retrained
    assert bs["rows"][0]["wall_time"] == wd["rows"][0]["wall_time"]
    ex_ = R.sweep_field("smoke", "one_cycle", "crop_pad", [2], [0], "cpu", iterations=6, store=store)
    assert ex_["summary"][0]["value"] == 2 and ex_["rows"][0]["policy"] == "one_cycle"


# --------------------------------------------------------------------------- helpers for the notebook

def test_formatting_and_captions():
    assert [R.fmt_wd(w) for w in (1e-4, 3e-3, 1e-2, 2.5e-4)] == ["1e-4", "3e-3", "1e-2", "2.5e-4"]
    sweep = {"specs": {p: R.sweep_spec("laptop", p) for p in R.POLICIES}}
    text = R.setup_text(sweep)
    assert "ResNet-8 w16, Fashion-MNIST 10,000 train / 10,000 test images" in text
    assert "batch 128" in text and "320 iterations per run (4.1 epochs), both policies" in text
    paper_sweep = {"specs": {p: R.sweep_spec("paper", p) for p in R.POLICIES}}
    assert "CIFAR-10 50,000 train" in R.setup_text(paper_sweep)
    assert "1cycle 10,000 / PC-LR 80,000 iterations" in R.setup_text(paper_sweep)
    assert R.paper_summed_lr() == pytest.approx(15_500)


def test_validate_knobs_names_the_parameter():
    from superconv.chapter import ParameterError
    R.validate_knobs("laptop", weight_decays=[1e-3], max_lr=0.5, batch_sizes=[64], iterations=100, crop_pad=2)
    for kw, name in [(dict(weight_decays=[0.0]), "WEIGHT_DECAYS"), (dict(max_lr=0.05), "MAX_LR"),
                     (dict(batch_sizes=[1000]), "BATCH_SIZES"), (dict(iterations=0), "ITERATIONS"),
                     (dict(batch_sizes=[64, 64]), "BATCH_SIZES")]:
        with pytest.raises(ParameterError, match=f"^{name}="):
            R.validate_knobs("smoke", **kw)


def _sweep_result(one, pc, div_one=(), div_pc=()):
    summary = []
    for policy, accs, div in (("one_cycle", one, div_one), ("pc_lr", pc, div_pc)):
        for wd, acc in accs.items():
            bad = wd in div
            summary.append(dict(policy=policy, weight_decay=wd, acc_mean=math.nan if bad else acc, acc_std=0.2,
                                status="diverged" if bad else "ok", n_diverged=int(bad)))
    wds = sorted(one, reverse=True)
    return dict(summary=summary, weight_decays=wds, n_test=10_000, summed_lr={"one_cycle": 184.0, "pc_lr": 91.0},
                optimum={p: R.optimum(summary, p) for p in R.POLICIES}, comparison=R.compare_optima(summary, 10_000))


def _batch_result(gaps, std=0.1):
    summary = [dict(batch_size=b, gap_mean=g, gap_std=std, acc_mean=85.0, acc_std=0.1, status="ok")
               for b, g in gaps.items()]
    steps = [b - a for a, b in zip(list(gaps.values()), list(gaps.values())[1:])]
    trend = 1 if all(d > 0 for d in steps) else -1 if all(d < 0 for d in steps) else 0
    return dict(summary=summary, best=64, gap_trend=trend, gap_change=list(gaps.values())[-1] - list(gaps.values())[0],
                gap_noise=max(std, R.sampling_std(85.0, 10_000)))


def test_claim_rows_apply_the_stated_rules():
    sweep = _sweep_result({1e-2: 0, 1e-3: 90.0, 1e-4: 88.0}, {1e-2: 86.0, 1e-3: 85.0, 1e-4: 84.0}, div_one=(1e-2,))
    rows = {r["id"]: r for r in R.claim_rows(sweep, _batch_result({64: 1.0, 128: 2.0, 256: 3.0}))}
    assert list(rows) == ["diverges", "less_wd_hurts", "optimum_lower", "batch"]
    assert rows["diverges"]["verdict"] == "reproduced" and "1e-2" in rows["diverges"]["ours"]
    assert rows["less_wd_hurts"]["verdict"] == "reproduced" and "2.0 points lower" in rows["less_wd_hurts"]["ours"]
    assert rows["optimum_lower"]["verdict"] == "reproduced"
    assert rows["batch"]["verdict"] == "reproduced" and "batch 64 / 128 / 256" in rows["batch"]["ours"]
    flat = _sweep_result({1e-2: 80.0, 1e-3: 85.0, 1e-4: 90.0}, {1e-2: 80.0, 1e-3: 85.0, 1e-4: 90.0})
    rows = {r["id"]: r for r in R.claim_rows(flat, _batch_result({64: 3.0, 128: 2.0, 256: 1.0}))}
    assert rows["diverges"]["verdict"] == "not reproduced" and "15.5" in rows["diverges"]["ours"]
    assert rows["less_wd_hurts"]["verdict"] == "not reproduced"
    assert rows["optimum_lower"]["verdict"] == "same optimum"
    assert rows["batch"]["verdict"] == "not reproduced"
    noisy = R.claim_rows(flat, _batch_result({64: 1.0, 128: 1.1, 256: 1.2}))
    assert noisy[-1]["verdict"] == "within noise"
    both = _sweep_result({1e-2: 0, 1e-3: 90.0}, {1e-2: 0, 1e-3: 85.0}, div_one=(1e-2,), div_pc=(1e-2,))
    assert R.claim_rows(both, _batch_result({64: 1.0, 128: 2.0}))[0]["verdict"] == "partly reproduced"
