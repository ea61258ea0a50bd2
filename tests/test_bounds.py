"""The plateau rule for 1cycle's bounds (superconv.bounds) on synthetic curves shaped like the
paper's Fig. 3a/3b and on the real laptop range tests of chapter 2 (tests/data)."""

import json
from pathlib import Path

import numpy as np
import pytest

from superconv import bounds
from superconv.studies.range_tests import moving_average

LRS = [round(0.075 * (k + 1), 4) for k in range(40)]  # a linear 0 -> 3 ramp, 40 evaluations


def _curve(f):
    return [float(f(lr)) for lr in LRS]


def test_fig3a_shape_the_plateau_start_not_its_noisy_top():
    # rises to ~85 % by LR 0.9, then ragged +-3 points up to 3; the highest point is late (LR 2.7)
    acc = _curve(lambda lr: 85 * min(1.0, lr / 0.9) + (3 * np.sin(7 * lr) if lr > 0.9 else 0))
    acc[35] = 90.0
    b = bounds.plateau_bounds(LRS, acc, 3.0)
    assert b.status == "plateau" and b.usable
    assert b.peak_lr == LRS[35] and b.peak_acc == 90.0
    # the first point within 5 points of 90: 85 * lr / 0.9 >= 85 -> lr >= 0.9 (or a ragged high before)
    first = next(lr for lr, a in zip(LRS, acc) if a >= 85.0)
    assert b.max_lr == first and b.max_lr <= 0.9 + 1e-9
    assert b.min_lr == pytest.approx(b.max_lr / bounds.RATIO)
    assert "lower 50%" in b.describe()


def test_fig3b_shape_peaks_and_falls_early():
    acc = _curve(lambda lr: 70 * lr / 0.3 if lr <= 0.3 else max(10.0, 70 - 200 * (lr - 0.3)))
    b = bounds.plateau_bounds(LRS, acc, 3.0)
    assert b.usable and b.peak_lr == pytest.approx(0.3) and b.max_lr <= 0.3 and b.max_lr >= 0.225


def test_still_rising_at_the_top_is_a_lower_bound_and_says_so():
    acc = _curve(lambda lr: 30 * lr)          # linear to 90 % at LR 3
    b = bounds.plateau_bounds(LRS, acc, 3.0)
    assert b.status == "ramp too short" and not b.usable
    assert b.max_lr > 0.5 * 3.0 and "only a lower bound" in b.describe()


def test_a_net_that_never_learns_gives_no_bounds():
    b = bounds.plateau_bounds(LRS, [10.0 + 0.1 * (k % 3) for k in range(40)], 3.0, min_peak=20.0)
    assert b.max_lr is None and b.min_lr is None and b.status == "never learned"
    assert "never learned" in b.describe()


@pytest.mark.parametrize("kwargs", [dict(tolerance=-1), dict(ratio=1.0), dict(reach=0.0), dict(lr_max=0.0)])
def test_bad_arguments_are_refused(kwargs):
    args = dict(lr_max=3.0) | kwargs
    with pytest.raises(ValueError):
        bounds.plateau_bounds(LRS, _curve(lambda lr: lr), **args)
    with pytest.raises(ValueError, match="as many"):
        bounds.plateau_bounds(LRS[:3], [1.0, 2.0], 3.0)


def test_the_real_laptop_range_tests():
    """Chapter 2's laptop tests (3 ResNet-8 seeds, 1 LeNet-5 seed; smoothed over the profile's
    5 points as the chapter does): the ResNet's plateau starts inside the lower half of the ramp,
    well above LeNet-5's peak, which falls before LR 0.1."""
    d = json.loads((Path(__file__).parent / "data" / "laptop_range_curves.json").read_text())
    out = {}
    for test in ("main", "contrast"):
        seeds = d["tests"][test]["seeds"]
        n = min(len(r["eval_acc"]) for r in seeds)
        acc = np.mean([r["eval_acc"][:n] for r in seeds], axis=0)
        out[test] = bounds.plateau_bounds(seeds[0]["eval_lrs"][:n], moving_average(acc, 5), 3.0, min_peak=20.0)
    assert out["main"].usable and 0.5 < out["main"].max_lr < 1.5
    assert out["contrast"].max_lr < 0.1 < out["main"].min_lr
