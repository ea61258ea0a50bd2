"""Chapter 8's study (superconv.studies.batch_size): specs, designs, the trend rule, findings."""

import math
import os
import shutil

import pytest

from superconv import chapter, experiments, paper, scorecard
from superconv.results import Store
from superconv.studies import batch_size as bs

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
needs_data = pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")


# --------------------------------------------------------------------------- specs

def test_paper_config_is_the_authors_batch_runs():
    """Paper profile: the Fig. 5 batch sizes [D] with the headline CLR solver unchanged (FACTS §2)."""
    cfg = bs.config("paper")
    assert cfg["batch_sizes"] == list(paper.get("sc.batch_size.total_batches").value) == [256, 512, 1000, 1536]
    assert cfg["hold"] == "iterations" and cfg["lr_scaling"] == "none"
    assert bs.default_seeds("paper") == [0, 1, 2]
    sol = paper.HEADLINE_CLR_SOLVER
    for b, ss in bs.specs("paper").items():
        for s in ss:
            sch = s["schedule"]
            assert (s["dataset"], s["model"], s["batch_size"]) == ("cifar10", "caffe_resnet56", b)
            assert s["ghost_batch"] == b // 8  # 8 GPUs x 32 / 64 / 125 / 192 (x.sh, FIG10a)
            assert s["iterations"] == sol["max_iter"] == 10_000
            assert (sch["kind"], sch["base_lr"], sch["max_lr"], sch["step_size"]) == (
                "clr", sol["base_lr"], sol["max_lr"], sol["stepsize"])
            assert s["momentum"] == sol["momentum"] and s["weight_decay"] == sol["weight_decay"]
            assert s["bn_momentum"] == pytest.approx(1 - sol["bn_moving_average_fraction"])
            assert s["eval_every"] == 10_000 // experiments.EVALS_PER_RUN["paper"]
    # the batch-1000 point is the headline run itself (shared with chapter 3)
    assert bs.batch_spec("paper", 1000, 2) == experiments.make_spec("paper", "one_cycle", seed=2)


@pytest.mark.parametrize("hold", bs.HOLDS)
@pytest.mark.parametrize("scaling", bs.LR_SCALINGS)
def test_reference_batch_is_the_shared_ladder_run(hold, scaling):
    for s in (0, 1):
        assert bs.batch_spec("laptop", 128, s, hold=hold, lr_scaling=scaling) == \
            experiments.ladder_spec("laptop", "one_cycle", seed=s)
    assert bs.config("laptop")["batch_sizes"] == [64, 128, 256, 512]
    assert bs.default_seeds("laptop") == [0, 1]


def test_hold_iterations_changes_only_the_batch():
    ref = experiments.ladder_spec("laptop", "one_cycle", seed=1)
    for b in (64, 256, 512):
        spec = bs.batch_spec("laptop", b, 1)
        assert spec == dict(ref, batch_size=b)   # the same evaluation grid too
        assert bs.epochs(spec) == pytest.approx(ref["iterations"] * b / 10_000)


def test_hold_epochs_gives_the_same_schedule_in_epochs():
    ref = bs.batch_spec("laptop", 128, hold="epochs")
    sched_ref = experiments.build_schedule(ref["schedule"])
    for b in (64, 256, 512):
        spec = bs.batch_spec("laptop", b, hold="epochs")
        assert spec["iterations"] * b == ref["iterations"] * 128       # same images seen
        assert bs.epochs(spec) == pytest.approx(bs.epochs(ref))
        assert spec["iterations"] // spec["eval_every"] == experiments.LADDER_EVALS["laptop"]
        sched = experiments.build_schedule(spec["schedule"])
        # same LR at the same epoch, up to the rounding of the stepsize to whole iterations
        step_ref, step = ref["schedule"]["step_size"], spec["schedule"]["step_size"]
        assert step == round(step_ref * 128 / b)
        # ... i.e. within the largest LR change of one iteration
        slope = max(abs(sched.lr(i + 1) - sched.lr(i)) for i in range(spec["iterations"] - 1))
        for it_ref in range(0, ref["iterations"], 4):
            exact = step_ref * 128 / b == step
            assert sched.lr(it_ref * 128 // b) == pytest.approx(sched_ref.lr(it_ref), rel=1e-12 if exact else 0,
                                                                abs=0 if exact else slope)
        e, lr = bs.schedule_in_epochs(spec)
        assert e[0] == 0 and e[-1] == pytest.approx(bs.epochs(spec)) and lr.max() == pytest.approx(1.0)


def test_lr_scaling_multiplies_every_lr_value():
    ref = experiments.ladder_spec("laptop", "one_cycle")["schedule"]
    lin = bs.batch_spec("laptop", 512, hold="epochs", lr_scaling="linear")["schedule"]
    sq = bs.batch_spec("laptop", 512, hold="epochs", lr_scaling="sqrt")["schedule"]
    for k in ("base_lr", "max_lr"):
        assert lin[k] == pytest.approx(ref[k] * 4, rel=1e-12)
        assert sq[k] == pytest.approx(ref[k] * 2, rel=1e-12)
    assert lin["momentum"] == ref["momentum"]
    assert bs.lr_factor(32, 128, "sqrt") == 0.5 and bs.lr_factor(512, 128, "none") == 1.0
    assert bs.scale_lr({"kind": "fixed", "lr": 0.1}, 3) == {"kind": "fixed", "lr": 0.3}
    assert bs.scale_lr({"kind": "one_cycle", "base_lr": 0.1, "tail_lr": 1e-4}, 1.536)["base_lr"] == 0.1536


def test_bad_arguments_fail_early_naming_the_parameter():
    with pytest.raises(ValueError, match="hold='steps'.*'iterations', 'epochs'"):
        bs.batch_spec("laptop", 64, hold="steps")
    with pytest.raises(ValueError, match="lr_scaling='cubic'"):
        bs.specs("laptop", lr_scaling="cubic")
    with pytest.raises(ValueError, match="batch_size=1000 is larger than the 500 training images"):
        bs.specs("smoke", [50, 1000])
    with pytest.raises(ValueError, match="batch_sizes=.*repeats"):
        bs.specs("smoke", [50, 50])
    with pytest.raises(ValueError, match="seeds"):
        bs.specs("smoke", seeds=[])
    with pytest.raises(ValueError, match="PROFILE='huge'"):
        bs.specs("huge")
    with pytest.raises(chapter.ParameterError, match="BATCH_SIZES=.*distinct"):
        bs.check_batch_sizes("BATCH_SIZES", [64, 64])
    with pytest.raises(chapter.ParameterError, match=r"BATCH_SIZES\[1\]=0"):
        bs.check_batch_sizes("BATCH_SIZES", [64, 0])
    assert bs.check_batch_sizes("BATCH_SIZES", [64, 128]) == [64, 128]


# --------------------------------------------------------------------------- the trend rule

def _cells(acc, gap=None, std=0.0):
    gap = gap or [0.0] * len(acc)
    return [dict(batch_size=2 ** (6 + i), acc_mean=a, acc_std=std, gap_mean=g, gap_std=std,
                 train_mean=a + g, train_std=std) for i, (a, g) in enumerate(zip(acc, gap))]


def test_trend_rule():
    n = 10_000  # sampling std at 85 %: 100·sqrt(.85·.15/1e4) = 0.357 points
    assert bs.sampling_std(85.0, n) == pytest.approx(0.357, abs=1e-3)
    t = bs.trend(_cells([80.0, 82.0, 85.0]), "acc", n)
    assert t["direction"] == "rises" and t["change"] == pytest.approx(5.0)
    assert t["noise"] == pytest.approx(bs.sampling_std(80.0, n))
    assert "80.00 → 82.00 → 85.00" in t["sentence"] and "+5.00" in t["sentence"]
    assert bs.trend(_cells([85.0, 82.0, 80.0]), "acc", n)["direction"] == "falls"
    assert bs.trend(_cells([85.0, 80.0, 85.2]), "acc", n)["direction"] == "flat within noise"
    assert bs.trend(_cells([80.0, 86.0, 83.0]), "acc", n)["direction"] == "mixed"
    # a seed std above the change makes it flat
    assert bs.trend(_cells([80.0, 81.0, 82.0], std=2.5), "acc", n)["direction"] == "flat within noise"
    g = bs.trend(_cells([85.0] * 3, gap=[0.5, 1.5, 3.0]), "gap", n)
    assert g["direction"] == "rises" and g["sentence"].startswith("The generalization gap rises")
    u = bs.trend(_cells([80.0, math.nan]), "acc", n)
    assert u["direction"] == "undetermined" and math.isnan(u["change"])
    assert bs.trend(_cells([80.0]), "acc", n)["direction"] == "undetermined"
    assert set(bs.TREND_WORDS) >= {t["direction"], u["direction"]}


# --------------------------------------------------------------------------- runs and findings

def test_findings_not_run_on_an_empty_store(tmp_path):
    store = Store(tmp_path)
    for profile in ("smoke", "laptop", "paper"):
        (f,) = bs.findings(profile, store)
        assert (f.claim_id, f.profile, f.verdict) == ("sc.batch_size", profile, "not run")
        assert f"-p PROFILE {profile}" in f.detail and "08_batch_size.ipynb" in f.detail
    assert "DEVICE cuda" in bs.findings("paper", store)[0].detail
    assert bs.stored("paper", store) is None
    assert "sc.batch_size.fig5" in bs.not_found_text()
    assert paper.claim(bs.CLAIM_ID).chapter == "batch-size"


@needs_data
def test_smoke_sweep_and_findings(tmp_path):
    store = Store(tmp_path)
    sweep = bs.run_sweep("smoke", store=store)          # batch 25 / 50 / 100, seed 0
    assert sweep["complete"] and sweep["batch_sizes"] == [25, 50, 100]
    assert [r["iterations"] for r in sweep["rows"]] == [50, 50, 50]
    for r, (b, hs) in zip(sweep["rows"], sweep["histories"].items()):
        h = hs[0]
        assert h.config["batch_size"] == b and h.train_acc is not None
        assert r["gap"] == pytest.approx(h.train_acc - h.final_test_acc)
        assert r["epochs"] == pytest.approx(50 * b / 500)
    c = sweep["summary"][1]
    assert (c["batch_size"], c["n"], c["n_finished"], c["status"]) == (50, 1, 1, "ok")
    assert c["gap_mean"] == pytest.approx(c["train_mean"] - c["acc_mean"])
    assert sweep["trends"]["acc"]["direction"] in bs.TREND_WORDS
    assert sweep["best"] in (25, 50, 100)
    # the batch-50 run is the shared smoke ladder run: in the store under its own spec
    assert store.get(experiments.ladder_spec("smoke", "one_cycle", seed=0), "smoke") is not None

    (f,) = bs.findings("smoke", store)                   # reads only: same store, no training
    assert isinstance(f, scorecard.Finding) and f.verdict == "no paper number"
    assert "batch 25 / 50 / 100" in f.ours and "not found" in f.detail.lower()
    assert "no paper number" in f.rule and "rises" in f.rule
    st = bs.stored("smoke", store)
    assert st["complete"] and st["hardware"]
    assert bs.findings("laptop", store)[0].verdict == "not run"
    # a partial store: stored() shows what is there, findings() says "not run"
    part = Store(tmp_path / "part")
    spec50 = bs.batch_spec("smoke", 50)
    part.path(spec50, "smoke").parent.mkdir(parents=True)
    shutil.copy(store.path(spec50, "smoke"), part.path(spec50, "smoke"))
    assert bs.findings("smoke", part)[0].verdict == "not run"
    st = bs.stored("smoke", part)
    assert [c["status"] for c in st["summary"]] == ["missing", "ok", "missing"]
    assert st["trends"]["acc"]["direction"] == "undetermined"


def test_cell_text_shows_no_spread_for_one_run():
    cell = dict(acc_mean=84.123, acc_std=0.0, gap_mean=1.5, gap_std=0.0, n_finished=1, status="ok")
    assert bs.cell_text(cell) == "84.12" and bs.cell_text(cell, "gap") == "+1.50"
    assert bs.cell_text({**cell, "acc_std": 0.3, "n_finished": 2}) == "84.12 ± 0.30"
