"""Chapter 9's study module (superconv.studies.datasets): the paper's table as configs, the laptop
rows, the rules, and the scorecard hook on a store filled by smoke runs."""

import math
import os

import pytest

from superconv import experiments as ex
from superconv import paper, scorecard
from superconv.results import Store
from superconv.studies import datasets as ds
from superconv.train import History

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def _h(iters, accs, total=None, wall=10.0, diverged=False, seed=0):
    return History(eval_iters=list(iters), test_acc=list(accs), iterations=total or iters[-1], wall_time=wall,
                   diverged=diverged, config={"seed": seed})


# --------------------------------------------------------------------------- the paper's table

def test_iterations_follow_the_authors_logs():
    # the authors' Caffe log of "0.1-1.0 / 23, 50 epochs" at batch 512 on 50k: step 2246, 4882 iterations
    assert ds.iterations_for(23, 50_000, 512) == 2246
    assert ds.iterations_for(50, 50_000, 512) == 4882
    assert ds.iterations_for(85, 60_000, 512) == 9960
    assert ds.iterations_for(12 * 0.4, 10_000, 512) == 93          # 93.75, rounded down
    with pytest.raises(ValueError, match="epochs="):
        ds.iterations_for(0, 50_000, 512)


def test_paper_rows_match_facts():
    rows = ds.paper_rows()
    assert len(rows) == len(paper.facts("onecycle.table")) == 22
    for r in rows:
        f = paper.get(r["key"])
        c = f.context
        assert r["acc"] == f.value and r["std"] == f.std and r["epochs"] == c["epochs"]
        assert r["batch_size"] == ds.PAPER_BATCH == 512 and r["weight_decay"] == c["weight_decay"]
        n = {"cifar10": 50_000, "cifar100": 50_000, "mnist": 60_000}[r["dataset"]]
        assert r["train_size"] == n and r["iterations"] == math.floor(c["epochs"] * n / 512)
        lo, hi = r["lr"]
        if r["policy"] == "1cycle":
            assert (lo, hi) == (c["lr"].start, c["lr"].stop) and r["momentum"] == (c["momentum"].start, c["momentum"].stop)
            assert r["step_size"] == math.floor(c["lr_stepsize_epochs"] * n / 512)
            assert 2 * r["step_size"] <= r["iterations"]          # the cycle fits, a tail remains
        else:
            assert lo == hi == c["lr"] and r["momentum"] == (0.9, 0.9)
    assert {r["group"] for r in rows} == set(ds.TABLE_GROUPS)
    df = ds.paper_config_table()
    assert len(df) == 22 and df.loc[df.key == "onecycle.table.cifar10_wrn.0.1-1.0/23", "LR stepsize"].item() == "23 ep = 2,246 it"
    assert all("[S]" in c for c in df["paper acc."])


def test_paper_pairs_are_the_strongest_claims():
    assert ds.paper_pair("cifar10_wrn") == ("onecycle.table.cifar10_wrn.step0.1.800ep", "onecycle.table.cifar10_wrn.0.1-1.0/23")
    assert ds.paper_pair("cifar10_densenet") == ("onecycle.table.cifar10_densenet.step0.1.400ep",
                                                  "onecycle.table.cifar10_densenet.0.1-4/45")
    assert ds.paper_pair("mnist_lenet") == ("onecycle.table.mnist_lenet.inv0.01.85ep", "onecycle.table.mnist_lenet.0.01-0.1/5")
    assert ds.paper_pair("cifar100_resnet56") == ("onecycle.table.cifar100_resnet56.step0.005.400ep",
                                                   "onecycle.table.cifar100_resnet56.0.1-0.5/12")
    with pytest.raises(ValueError, match="group='imagenet'"):
        ds.paper_pair("imagenet")


def test_paper_profile_specs_run_every_row_as_printed():
    rows = ds.rows("paper", seeds=[0, 1])
    table = {r["key"]: r for r in ds.paper_rows()}
    assert len(rows) == 22 + 2 and all(len(r.specs) == 2 for r in rows)
    for r in rows:
        s = r.specs[0]
        assert [sp["seed"] for sp in r.specs] == [0, 1]
        if r.group == "cifar100_logs":   # the headline solvers on CIFAR-100
            policy = r.id.split(".")[1]
            assert r.specs == [ex.ladder_spec("paper", policy, dataset="cifar100", seed=k) for k in (0, 1)]
            assert r.claim == "sc.cifar100_logs" and s["batch_size"] == 1000
            continue
        t = table[r.claim]
        assert s["dataset"] == t["dataset"] and s["model"] == t["model"] and s["train_size"] is None
        assert s["batch_size"] == 512 and s["iterations"] == t["iterations"] == r.iterations
        assert s["weight_decay"] == t["weight_decay"] and s["flip"] == (t["dataset"] != "mnist")
        sched = ex.build_schedule(s["schedule"])
        lo, hi = t["lr"]
        if t["policy"] == "1cycle":
            ss = t["step_size"]
            assert s["momentum"] is None          # the schedule's cyclical momentum drives it
            assert sched.lr(0) == pytest.approx(lo) and sched.lr(ss) == pytest.approx(hi)
            assert sched.lr(t["iterations"] - 1) == pytest.approx(lo / 1000)
            assert sched.momentum(0) == t["momentum"][0] and sched.momentum(ss) == pytest.approx(t["momentum"][1])
        elif t["policy"] == "step":
            n = t["iterations"]
            assert s["momentum"] == 0.9 and sched.lr(0) == lo
            assert sched.lr(round(n * 5 / 8)) == pytest.approx(lo / 10) and sched.lr(n - 1) == pytest.approx(lo / 100)
        else:  # Caffe's inv, gamma 1e-4 over the paper's own length
            assert s["momentum"] == 0.9 and s["schedule"]["gamma"] == pytest.approx(1e-4)
            assert sched.lr(5000) == pytest.approx(0.01 * (1 + 1e-4 * 5000) ** -0.75)
    models = {r.specs[0]["model"] for r in rows}
    assert {ds.WIDE_RESNET, ds.DENSENET, "lenet5", "caffe_resnet56"} == models


def test_paper_models_build():
    from superconv import models
    for name in (ds.WIDE_RESNET, ds.DENSENET):
        try:
            models.build(name, num_classes=10, in_channels=3)
        except (KeyError, ValueError) as e:
            pytest.skip(f"model {name!r} is not in the registry yet ({e})")
    assert set(ds.check_models("paper")) == {ds.WIDE_RESNET, ds.DENSENET, "lenet5", "caffe_resnet56"}


# --------------------------------------------------------------------------- laptop rows

def test_laptop_resnet_rows_are_the_shared_ladder_pair():
    rows = {r.id: r for r in ds.rows("laptop", groups=["fmnist_resnet8"])}
    for policy in ("one_cycle", "pc_lr"):
        assert rows[f"fmnist_resnet8.{policy}"].specs == [ex.ladder_spec("laptop", policy, seed=s) for s in (0, 1, 2)]
    assert rows["fmnist_resnet8.pc_lr"].iterations == 8 * rows["fmnist_resnet8.one_cycle"].iterations


def test_laptop_lenet_rows_scale_the_paper_rows():
    base, one = ds.rows("laptop", groups=["fmnist_lenet5"])
    assert (base.kind, one.kind) == ("baseline", "1cycle")
    for r in (base, one):
        s = r.specs[0]
        assert s["model"] == "lenet5" and s["model_kwargs"] == {} and s["batch_size"] == 512
        assert s["dataset"] == "fashion-mnist" and s["train_size"] == 10_000 and s["weight_decay"] == 5e-4
        assert s["flip"] is False and [sp["seed"] for sp in r.specs] == [0, 1, 2]
    # the ladders' fraction (0.3) x the paper's 85 / 12 epochs (stepsize 5) of the 10k subset at batch 512
    assert ds.LENET_FRACTION["laptop"] == ex.LADDER_FRACTION["laptop"] == 0.3
    assert base.iterations == math.floor(85 * 0.3 * 10_000 / 512) == 498
    assert one.iterations == 70 and one.specs[0]["schedule"]["step_size"] == math.floor(5 * 0.3 * 10_000 / 512)
    assert base.epochs / one.epochs == pytest.approx(85 / 12, rel=0.02)
    # the baseline is evaluated exactly at 1cycle's budget
    assert one.iterations % base.specs[0]["eval_every"] == 0
    # inv decays by the paper's factor over the shorter run; 1cycle: paper's base and CM, our peak
    inv = ex.build_schedule(base.specs[0]["schedule"])
    assert inv.lr(498) == pytest.approx(0.01 * (1 + 1e-4 * 9960) ** -0.75, rel=1e-6)
    assert base.specs[0]["momentum"] == 0.9 and one.specs[0]["momentum"] is None
    oc = ex.build_schedule(one.specs[0]["schedule"])
    peak = one.specs[0]["schedule"]["step_size"]
    assert oc.lr(0) == 0.01 and oc.lr(peak) == pytest.approx(ds.LENET_MAX_LR["laptop"]) == pytest.approx(0.05)
    assert oc.momentum(0) == 0.95 and oc.momentum(peak) == pytest.approx(0.8)
    assert (base.claim, one.claim) == ds.paper_pair("mnist_lenet")
    # knobs
    alt = ds.rows("laptop", groups=["fmnist_lenet5"], lenet_fraction=1.0, lenet_max_lr=0.1)
    assert alt[0].iterations == 1660 and alt[1].specs[0]["schedule"]["max_lr"] == 0.1


def test_bad_parameters_fail_early_with_one_line():
    for call, match in [
        (lambda: ds.rows("laptop", groups=["cifar10_wrn"]), "GROUPS="),
        (lambda: ds.rows("laptop", groups="fmnist_lenet5"), "GROUPS="),
        (lambda: ds.rows("laptop", seeds=[0, 0]), "seeds="),
        (lambda: ds.rows("laptop", lenet_fraction=0), "LENET_FRACTION="),
        (lambda: ds.rows("laptop", lenet_fraction=0.01), "LENET_FRACTION="),
        (lambda: ds.rows("laptop", lenet_max_lr=0.005), "LENET_MAX_LR="),
        (lambda: ds.rows("paper", lenet_fraction=0.5), "LENET_FRACTION="),
        (lambda: ds.rows("huge"), "PROFILE='huge'"),
    ]:
        with pytest.raises(ValueError, match=match) as info:
            call()
        assert "\n" not in str(info.value)
    assert ds.check_groups("paper", None) == list(ds.GROUPS["paper"])


# --------------------------------------------------------------------------- rules

def test_summarize_leaves_diverged_runs_out():
    s = ds.summarize([_h([10, 20], [50, 80]), _h([10, 20], [50, 84], seed=1), _h([10], [30], diverged=True, seed=2)])
    assert s["n"] == 2 and s["final_mean"] == pytest.approx(82) and s["diverged"] == 1 and s["runs"] == 3
    assert ds.acc_text(s) == "82.00 ± 2.83 % (n=2); 1 of 3 diverged"
    assert ds.acc_text(ds.summarize([_h([10], [30], diverged=True)])) == "no finished run; 1 of 1 diverged"


def test_pair_and_row_rules():
    def s(mean, diverged=0, n=3):
        return {"final_mean": mean, "n": n, "diverged": diverged, "runs": n + diverged}
    assert ds.pair_verdict(s(90.0), s(90.4), 85.0)["verdict"] == "reproduced"
    assert ds.pair_verdict(s(90.0), s(91.0), 88.0)["verdict"] == "partly reproduced"
    v = ds.pair_verdict(s(87.0), s(91.0), 88.0)
    assert v["verdict"] == "not reproduced" and "88.00 %" in v["sentence"]
    assert ds.pair_verdict(s(87.0), s(91.0), None)["verdict"] == "not reproduced"
    assert ds.pair_verdict(s(95.0, diverged=1), s(91.0), 88.0)["verdict"] == "partly reproduced"
    v = ds.pair_verdict(s(math.nan, diverged=3, n=0), s(91.0), 88.0)
    assert v["verdict"] == "not reproduced" and "diverged in every run" in v["sentence"]
    assert ds.row_verdict(91.0, 91.9) == "reproduced" and ds.row_verdict(90.0, 91.9) == "partly reproduced"
    assert ds.row_verdict(85.0, 91.9) == "not reproduced" and ds.row_verdict(None, 91.9) == "not run"
    assert ds.row_verdict(math.nan, 91.9, diverged=True) == "not reproduced"


def test_claim_ids_cover_the_table_and_the_cifar100_logs():
    ids = ds.claim_ids()
    assert len(ids) == 23 and ids[-1] == "sc.cifar100_logs"
    assert set(ids[:-1]) == {c.id for c in paper.claims("one-cycle") if c.id.startswith("onecycle.table.")}


def test_findings_on_an_empty_store_say_how_to_run(tmp_path):
    store = Store(tmp_path)
    for profile in ("laptop", "paper"):
        fs = ds.findings(profile, store)
        assert [f.claim_id for f in fs] == ds.claim_ids() and all(f.verdict == "not run" for f in fs)
        assert all("papermill chapters/09_datasets_architectures.ipynb" in f.detail for f in fs)
    assert ds.stored("laptop", store) is None and not list(tmp_path.rglob("*.json"))


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_smoke_study_and_findings(tmp_path):
    store = Store(tmp_path)
    # one real smoke run (the LeNet 1cycle); the other records are synthetic, put in the store
    # first (the ResNet ladder pair's real smoke runs are chapter 3's)
    rs = {r.id: r for r in ds.rows("smoke")}
    store.put(rs["fmnist_resnet8.pc_lr"].specs[0], "smoke", _h([100, 200, 300, 400], [60, 70, 75, 80], wall=20))
    store.put(rs["fmnist_resnet8.one_cycle"].specs[0], "smoke", _h([25, 50], [70, 81], wall=2))
    base = rs["fmnist_lenet5.pc_lr"]
    n1, every = rs["fmnist_lenet5.one_cycle"].iterations, base.specs[0]["eval_every"]
    grid = list(range(every, base.iterations, every)) + [base.iterations]
    store.put(base.specs[0], "smoke", _h(grid, [40 + 40 * i / len(grid) for i in range(1, len(grid) + 1)]))
    study = ds.run_study("smoke", device="cpu", store=store)
    assert set(study.summary) == set(rs)
    one = study.histories["fmnist_lenet5.one_cycle"][0]
    assert one.iterations == n1 and one.config["batch_size"] == 50 and not one.diverged
    p = study.pairs["fmnist_lenet5"]
    assert p["verdict"]["verdict"] in scorecard.VERDICTS and p["epoch_ratio"] == pytest.approx(85 / 12, rel=0.05)
    assert p["speedup"]["slow_at_fast_budget"] == pytest.approx(40 + 40 / len(grid))   # evaluated at n1
    n_files = len(list(tmp_path.rglob("*.json")))

    full = ds.stored("smoke", store)
    assert set(full.pairs) == {"fmnist_resnet8", "fmnist_lenet5"} and "hardware" in full.notes[0]
    assert full.pairs["fmnist_resnet8"]["verdict"]["verdict"] == "reproduced"   # 81 >= 80 - 0.5
    assert full.pairs["fmnist_resnet8"]["speedup"]["iteration_ratio"] == pytest.approx(400 / 50)

    fs = {f.claim_id: f for f in ds.findings("smoke", store)}
    assert len(list(tmp_path.rglob("*.json"))) == n_files                      # findings never train
    lenet = ds.paper_pair("mnist_lenet")
    resnet = ds.paper_pair("cifar100_resnet56") + ("sc.cifar100_logs",)
    for cid, f in fs.items():
        if cid in lenet:
            assert f.verdict == p["verdict"]["verdict"] and "Fashion-MNIST" in f.detail
        elif cid in resnet:
            assert f.verdict == "reproduced" and "8.0× fewer" in f.detail
        else:
            assert f.verdict == "not run" and "-p PROFILE paper -p DEVICE cuda" in f.detail
        assert f.profile == "smoke" and f.rule


def test_paper_findings_use_the_row_rule(tmp_path):
    store = Store(tmp_path)
    rows = {r.id: r for r in ds.rows("paper", groups=["mnist_lenet", "cifar100_logs"])}
    base, one = rows["mnist_lenet.inv0.01.85ep"], rows["mnist_lenet.0.01-0.1/5"]
    for k, spec in enumerate(base.specs):      # 98.2 +- 0.1: 0.83 points below 99.03 -> reproduced
        store.put(spec, "paper", _h([4980, 9960], [97.0, 98.1 + 0.1 * k], wall=100, seed=k))
    for k, spec in enumerate(one.specs):       # 96.9: 2.35 below 99.25 -> partly
        store.put(spec, "paper", _h([703, 1406], [98.5, 96.8 + 0.1 * k], wall=20, seed=k))
    for spec in rows["cifar100_logs.one_cycle"].specs:
        store.put(spec, "paper", _h([10_000], [30.0], diverged=True))
    for spec in rows["cifar100_logs.pc_lr"].specs:
        store.put(spec, "paper", _h([80_000], [59.0]))
    fs = {f.claim_id: f for f in ds.findings("paper", store)}
    assert fs["onecycle.table.mnist_lenet.inv0.01.85ep"].verdict == "reproduced"
    f = fs["onecycle.table.mnist_lenet.0.01-0.1/5"]
    assert f.verdict == "partly reproduced" and f.rule == ds.ROW_RULE
    assert f.ours.startswith("96.90 ± 0.10 % (n=3) vs paper 99.25") and "pair rule: not reproduced" in f.detail
    assert fs["onecycle.table.mnist_lenet.step0.01.85ep"].verdict == "not run"
    logs = fs["sc.cifar100_logs"]
    assert logs.verdict == "not reproduced" and "diverged in every run" in logs.detail and logs.rule == ds.PAIR_RULE
    assert sum(f.verdict != "not run" for f in fs.values()) == 3


def test_describe_and_commands():
    rows = ds.rows("laptop")
    assert ds.describe_group(rows, "fmnist_lenet5") == "Fashion-MNIST (10,000 train images), LeNet (Caffe), batch 512"
    assert ds.describe_group(rows, "fmnist_resnet8") == "Fashion-MNIST (10,000 train images), ResNet-8 w16, batch 128"
    assert ds.command("paper").endswith("-p PROFILE paper -p DEVICE cuda")
    assert ds.command("laptop").endswith("-p PROFILE laptop")


def test_paper_peak_evidence_is_measured_not_typed(tmp_path):
    assert ds.paper_peak_lr() == 0.1
    empty = ds.paper_peak_evidence("laptop", store=Store(tmp_path), train=False)
    assert empty["diverged"] is None and "have not run" in empty["text"]
    # the paper profile has no Fashion-MNIST LeNet rows: it quotes the laptop run, never trains it
    assert ds.paper_peak_evidence("paper", store=Store(tmp_path))["diverged"] is None


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_paper_peak_evidence_smoke_run(tmp_path, one_thread):
    ev = ds.paper_peak_evidence("smoke", device="cpu", store=Store(tmp_path))
    assert isinstance(ev["diverged"], bool) and "0.01–0.1 cycle" in ev["text"]
    assert ("diverged at iteration" in ev["text"]) == ev["diverged"]
