"""The machinery chapters 6 and 7 share (superconv.studies.ladder) and the dataset facts it reads."""

import math

import pytest

from superconv import data
from superconv import experiments as ex
from superconv.studies import ladder
from superconv.studies import one_cycle as oc
from superconv.train import History


def _summary(finals):
    hs = [History(eval_iters=[50, 100], test_acc=[a - 5, a], iterations=100, wall_time=1.0) for a in finals]
    return oc.summarize(hs, list(range(len(finals))))


def _points(gaps):
    """``{rung: (1cycle finals, PC-LR finals)}`` -> complete points with ``gap``."""
    out = {}
    for k, (one, pc) in gaps.items():
        s1, s2 = _summary(one), _summary(pc)
        out[k] = dict(summary={"one_cycle": s1, "pc_lr": s2}, complete=True,
                      gap=s1["final_mean"] - s2["final_mean"])
    return out


def test_end_to_end_measures_the_change_toward_the_favoured_end_whichever_way_the_ladder_runs():
    # gaps: +0.1 at rung 1, +0.5 at rung 2, +3.0 at rung 3
    pts = _points({1: ([90.0, 90.2], [90.0]), 2: ([88.0, 88.0], [87.5]), 3: ([85.0, 85.0], [82.0])})
    up = ladder.end_to_end(pts, favoured=3, other=1, gap_key="gap", floor=0.5)
    assert up["difference"] == pytest.approx(2.9) and up["verdict"] == "reproduced"
    assert (up["toward"], up["steps"]) == (2, 2)           # the gap grew at both steps 1 -> 2 -> 3
    sd = math.hypot(*(oc.seed_std(pts[k]["summary"][p]) for k in (1, 3) for p in ladder.POLICIES))
    assert up["threshold"] == pytest.approx(max(0.5, sd))
    down = ladder.end_to_end(pts, favoured=1, other=3, gap_key="gap", floor=0.5)
    assert down["difference"] == pytest.approx(-2.9) and down["verdict"] == "not reproduced"
    assert (down["toward"], down["steps"]) == (0, 2)
    small = ladder.end_to_end(pts, favoured=2, other=1, gap_key="gap", floor=0.5)
    assert small["difference"] == pytest.approx(0.4) and small["verdict"] == "inconclusive"
    assert ladder.end_to_end(pts, 3, 1, "gap", floor=5.0)["verdict"] == "inconclusive"  # within T: cannot decide
    pts[2]["complete"] = False
    assert ladder.end_to_end(pts, 3, 1, "gap", 0.5)["steps"] == 1   # incomplete rungs are skipped
    with pytest.raises(ValueError, match="both ends"):
        ladder.end_to_end(pts, 2, 1, "gap", 0.5)


def test_noise_clause_words_the_three_verdicts():
    assert ladder.noise_clause(dict(verdict="reproduced", threshold=0.834)) == \
        ", more than the noise threshold of 0.83 points"
    assert ladder.noise_clause(dict(verdict="inconclusive", threshold=0.5)) == \
        ", by no more than the noise threshold of 0.50 points"
    assert ladder.noise_clause(dict(verdict="not reproduced", threshold=0.5)) == " (noise threshold 0.50 points)"


def test_texts():
    pts = _points({1: ([90.0, 90.2], [89.0])})
    # one seed has no spread to show: "n=1", not "± 0.00" (issue 18)
    assert ladder.pair_text(pts[1], "gap") == "1cycle 90.10 ± 0.14 % (n=2) vs PC-LR 89.00 % (n=1): +1.10 points"
    assert ladder.speedup_text(dict(iteration_ratio=None)) == "1cycle did not reach PC-LR's final accuracy within its run"
    assert ladder.speedup_text(dict(iteration_ratio=8.0, time_ratio=None, fast_iterations=240)) == \
        "1cycle reached PC-LR's final accuracy after 240 iterations, 8.0× fewer"
    assert ladder.shortened_note("laptop") == "; ladder runs shortened to 0.3 of the headline pair (same 1:8 ratio)"
    assert ladder.shortened_note("paper") == ladder.shortened_note("smoke") == ""


def test_dataset_facts_and_spec_sizes():
    assert set(data.TITLES) == set(data.TRAIN_SPLIT_SIZES) == set(data.NUM_CLASSES) == set(data.CHANNELS) == \
        set(data.TEST_SPLIT_SIZES) == set(data.DATASETS)
    assert data.title("fashion-mnist") == "Fashion-MNIST" and data.title("imagenet") == "imagenet"
    s = ex.make_spec("laptop", "one_cycle")
    assert ex.train_images(s) == 10_000 and ex.test_images(s) == 10_000
    assert ex.epochs(s) == pytest.approx(s["iterations"] * s["batch_size"] / 10_000)
    full = dict(s, train_size=None, test_size=None, dataset="cifar100")
    assert ex.train_images(full) == 50_000 and ex.test_images(full) == 10_000
