"""The speed-up factor of budget sweeps (superconv.speedup): interpolation, target, interval."""


import numpy as np
import pytest

from superconv import speedup


def test_log_interpolation_is_geometric_between_budgets():
    # Halfway in accuracy between 100 and 400 iterations is the geometric mean, 200.
    b, floor = speedup.budget_to_reach([(100, 80.0), (400, 90.0)], 85.0)
    assert b == pytest.approx(200.0) and not floor
    b, _ = speedup.budget_to_reach([(100, 80.0), (400, 90.0)], 82.5)
    assert b == pytest.approx(100 * 4 ** 0.25)


def test_first_crossing_counts_and_floor_and_never():
    pts = [(100, 70.0), (200, 86.0), (400, 84.0), (800, 88.0)]
    assert speedup.budget_to_reach(pts, 85.0)[0] < 200          # crossed first between 100 and 200
    assert speedup.budget_to_reach(pts, 60.0) == (100.0, True)  # already there at the smallest budget
    assert speedup.budget_to_reach(pts, 88.5) == (None, False)


def test_measure_target_is_the_slow_policys_best_mean():
    fast = {100: [79.0, 81.0], 400: [89.0, 91.0]}
    slow = {1000: [84.0], 2000: [85.0], 4000: [84.5]}
    m = speedup.measure(fast, slow)
    assert m["target"] == 85.0 and m["slow_budget"] == 2000
    assert m["fast_budget"] == pytest.approx(200.0) and m["factor"] == pytest.approx(10.0)
    assert m["fast_best"] == 90.0 and m["bound"] is None and m["slow_best"] == 85.0


def test_not_reached_and_bounds():
    slow = {1000: [89.0], 2000: [90.0]}
    assert speedup.measure({100: [80.0], 200: [85.0]}, slow)["factor"] is None
    m = speedup.measure({100: [91.0], 200: [92.0]}, slow)  # 1cycle already there at its floor
    assert m["factor"] == 20.0 and m["bound"] == "at least"
    # PC-LR's best at its smallest budget: its own budget may be lower, the factor an upper bound
    m = speedup.measure({100: [80.0], 400: [90.0]}, {1000: [85.0], 2000: [84.0]})
    assert m["slow_budget"] == 1000 and m["factor"] == pytest.approx(5.0) and m["bound"] == "at most"
    # both at their floor: undetermined (the headline pair alone cannot measure a factor)
    m = speedup.measure({800: [88.0]}, {6400: [87.0]})
    assert m["bound"] == "none" and "not determined" in speedup.describe(dict(m, interval=dict(low=None)))


def test_the_margin_keeps_noise_at_the_top_from_picking_the_budget():
    fast = {200: [80.0], 400: [86.0], 800: [89.0]}
    a = speedup.measure(fast, {1600: [88.0], 3200: [88.99], 6400: [89.0]})
    b = speedup.measure(fast, {1600: [88.0], 3200: [89.0], 6400: [88.99]})
    assert a["slow_budget"] == 6400 and b["slow_budget"] == 3200  # without a margin: a factor 2 apart
    a = speedup.measure(fast, {1600: [88.0], 3200: [88.99], 6400: [89.0]}, margin=0.5)
    b = speedup.measure(fast, {1600: [88.0], 3200: [89.0], 6400: [88.99]}, margin=0.5)
    assert a["target"] == 88.5 and a["factor"] == pytest.approx(b["factor"], rel=0.01)  # not 2x apart
    with pytest.raises(ValueError, match="margin"):
        speedup.measure(fast, fast, margin=-1)


def test_a_diverged_run_counts_as_zero():
    m = speedup.measure({100: [float("nan"), 90.0]}, {1000: [40.0]})
    assert m["fast_curve"] == [(100, 45.0)]


def test_one_seed_in_a_cell_gives_no_interval():
    fast, slow = {100: [80.0, 81.0], 400: [90.0, 91.0]}, {2000: [85.0]}
    iv = speedup.bootstrap(fast, slow, resamples=50)
    assert iv["low"] is None and iv["high"] is None and iv["min_seeds"] == 1 and iv["not_reached"] == 0.0
    assert "no interval" in speedup.describe(speedup.sweep(fast, {1000: [84.0], 2000: [85.0]}, resamples=10))


def test_bootstrap_interval_brackets_and_is_reproducible():
    fast = {200: [84.0, 85.5, 86.0], 400: [87.0, 88.0, 88.6], 800: [89.3, 89.6, 89.5]}
    slow = {1600: [87.5, 88.1], 3200: [88.6, 89.0], 6400: [89.0, 89.3]}
    r = speedup.sweep(fast, slow, resamples=500)
    iv = r["interval"]
    assert 0 < iv["low"] <= r["factor"] <= iv["high"]
    assert speedup.bootstrap(fast, slow, resamples=500) == iv
    assert "faster" in speedup.describe(r) and "interval" in speedup.describe(r)


def test_bootstrap_counts_resamples_that_do_not_reach():
    # 1cycle's seeds straddle the target: some resamples reach it, some do not.
    fast = {200: [80.0, 80.0], 400: [84.0, 90.0]}
    slow = {1600: [86.0, 86.0]}
    iv = speedup.bootstrap(fast, slow, resamples=400)
    assert 0 < iv["not_reached"] < 1 and iv["low"] == 0.0
    r = speedup.sweep({200: [80.0, 80.0], 400: [84.0, 84.0]}, slow, resamples=10)
    assert r["factor"] is None and "did not reach" in speedup.describe(r)


def test_percentile_matches_numpy():
    vals = sorted([3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0])
    for q in (0.0, 0.025, 0.5, 0.975, 1.0):
        assert speedup._percentile(vals, q) == pytest.approx(float(np.percentile(vals, q * 100)))


def test_bad_inputs():
    with pytest.raises(ValueError):
        speedup.measure({}, {100: [1.0]})
    with pytest.raises(ValueError):
        speedup.bootstrap({1: [1.0]}, {1: [1.0]}, level=1.5)
    assert speedup.seeds_per_cell({1: [1.0, 2.0]}, {1: [1.0], 2: []}) == 1


def test_accuracy_at_budget_interpolates_in_log_budget():
    pts = [(100, 80.0), (400, 90.0)]
    assert speedup.accuracy_at_budget(pts, 200) == pytest.approx(85.0)
    assert speedup.accuracy_at_budget(pts, 400) == 90.0 and speedup.accuracy_at_budget(pts, 100) == 80.0
    assert speedup.accuracy_at_budget(pts, 50) is None and speedup.accuracy_at_budget(pts, 800) is None
    assert speedup.accuracy_at_budget([(100, 70.0)], 100) == 70.0
