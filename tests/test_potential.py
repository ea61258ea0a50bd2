"""The super-convergence potential measure (superconv.potential) on curves shaped like the paper's
Fig. 3a and 3b, and on the two curves the old log-width measure got backwards."""

import math

import numpy as np
import pytest

from superconv import potential as P

LRS = np.linspace(0.0, 3.0, 61)[1:]  # a linear 0 -> 3 ramp, evaluated 60 times (as Fig. 3's tests)


def curve(shape):
    return [shape(lr) for lr in LRS]


def fig3a(lr):
    # ResNet-56 / CIFAR-10 in the paper's Fig. 3a: the accuracy climbs within the first few tenths of
    # an LR unit and then stays high and ragged all the way to LR 3.
    rise = 10 + 55 * (1 - math.exp(-lr / 0.12))
    return rise + 4 * math.sin(lr * 17)


def fig3b(lr):
    # Fig. 3b: the accuracy peaks at a small LR and then falls back towards chance.
    return 10 + 50 * math.exp(-((lr - 0.15) / 0.12) ** 2) if lr > 0.15 else 10 + 50 * lr / 0.15


def test_fig3a_shows_potential_and_fig3b_does_not():
    a = P.potential(LRS, curve(fig3a), lr_max=3.0)
    assert a.verdict == "potential shown" and a.collapse_lr is None and a.retention > 0.9
    assert a.top_from == 1.5 and a.n_top == 31
    b = P.potential(LRS, curve(fig3b), lr_max=3.0)
    assert b.verdict == "no potential" and b.collapse_lr < 0.5 and b.retention < 0.3


def test_the_two_curves_the_log_width_measure_inverted():
    # High from 0.075 to 0.75, then collapse: the old measure called this a wide plateau.
    early = P.potential(LRS, curve(lambda lr: 85.0 if lr <= 0.75 else 12.0), lr_max=3.0)
    assert early.verdict == "no potential" and early.collapse_lr == pytest.approx(0.8)
    # Low at first, then high from 0.9 up to 3: the pattern that signals potential.
    late = P.potential(LRS, curve(lambda lr: 30.0 if lr < 0.9 else 85.0), lr_max=3.0)
    assert late.verdict == "potential shown" and late.retention == pytest.approx(1.0)


def test_partly_and_an_early_stop():
    # holds into the upper half, collapses at LR 2.4
    mid = P.potential(LRS, curve(lambda lr: 85.0 if lr < 2.4 else 20.0), lr_max=3.0)
    assert mid.verdict == "partly" and mid.collapse_lr == pytest.approx(2.4)
    # a run that diverged at LR 1.0: the ramp's upper part was never reached
    lrs = [lr for lr in LRS if lr < 1.0]
    stop = P.potential(lrs, [80.0] * len(lrs), lr_max=3.0, stopped_lr=1.0)
    assert stop.top_acc is None and stop.retention == 0 and stop.verdict == "no potential"
    assert "never reached" in stop.describe() and "collapses at LR 1" in stop.describe()
    # judged against the ramp it was meant to run, a run that simply ends early never got to the top
    assert P.potential(lrs, [80.0] * len(lrs), lr_max=3.0).top_acc is None


def test_a_dip_before_the_peak_and_a_net_that_never_learns():
    # 85 %, a collapse to 20 % between LR 0.8 and 1.5, then back to 86 % by LR 3: not potential
    dip = P.potential(LRS, curve(lambda lr: 20.0 if 0.8 <= lr < 1.5 else (86.0 if lr > 2.5 else 85.0)), lr_max=3.0)
    assert dip.collapse_lr == pytest.approx(0.8) and dip.verdict == "no potential"
    flat = curve(lambda lr: 10.0)  # chance level for 10 classes, all along the ramp
    assert P.potential(LRS, flat, lr_max=3.0).verdict == "potential shown"  # flat, so the shape alone passes it
    assert P.potential(LRS, flat, lr_max=3.0, min_peak=20.0).verdict == "no potential"
    assert P.potential(LRS, curve(fig3a), lr_max=3.0, min_peak=20.0).verdict == "potential shown"


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="as many"):
        P.potential([0.1, 0.2], [50.0])
    with pytest.raises(ValueError, match="top"):
        P.potential([0.1], [50.0], top=0)
    assert P.potential([0.1], [float("nan")]).peak_acc == 0.0 and P.potential([0.1, 0.2], [None, 50.0]).peak_acc == 50.0
    assert set(P.VERDICTS) == {P.verdict(1.0, None, 1.0), P.verdict(0.5, 2.0, 1.0), P.verdict(1.0, 0.5, 1.0)}


# Real curves: chapter 2's laptop range tests (ResNet-8 over 3 seeds, LeNet-5), written by one run
# whose command, commit, date and machine the file records (tests/data/laptop_range_curves.json).
REAL = __import__("json").loads((__import__("pathlib").Path(__file__).parent / "data" / "laptop_range_curves.json").read_text())


def test_real_laptop_curves_resnet8_keeps_training_and_lenet5_collapses():
    from superconv.studies.range_tests import SETTINGS, moving_average
    assert REAL["command"].startswith("superconv.studies.range_tests.run_study('laptop'")
    seeds = REAL["tests"]["main"]["seeds"]
    assert all(not s["stopped_early"] and s["eval_lrs"] == seeds[0]["eval_lrs"] for s in seeds)
    # ResNet-8 trains to LR 3 (Fig. 3a's shape). Single evaluations are ragged (one dip below 80 % of
    # the best so far is a "collapse"), so the chapter reads the seed-mean curve smoothed over
    # SETTINGS["laptop"]["smooth"] evaluations, as here.
    mean = [sum(s["eval_acc"][k] for s in seeds) / len(seeds) for k in range(len(seeds[0]["eval_acc"]))]
    smooth = moving_average(mean, SETTINGS["laptop"]["smooth"])
    pot = P.potential(seeds[0]["eval_lrs"], smooth, lr_max=3.0, min_peak=20.0)
    assert pot.collapse_lr is None and pot.n_top >= 15 and pot.verdict == "potential shown"
    (lenet,) = REAL["tests"]["contrast"]["seeds"]  # LeNet-5 diverges early on the same ramp (Fig. 3b)
    pot = P.potential(lenet["eval_lrs"], lenet["eval_acc"], lr_max=lenet["lr_max"],
                      stopped_lr=lenet["stop_lr"], min_peak=20.0)
    assert lenet["stopped_early"] and pot.collapse_lr < pot.top_from and pot.verdict == "no potential"
    assert pot.top_acc is None and pot.retention == 0.0
