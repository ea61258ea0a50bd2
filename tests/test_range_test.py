"""The LR range test: ramps, restoration of model and RNG, early stop, suggestions, potential, seeds."""

import json
import math

import numpy as np
import pytest
import torch

from superconv import data
from superconv import range_test as rt
from superconv.range_test import (RangeTestResult, RangeTestSeeds, SmoothedLossStop, lr_range_test,
                                  make_ramp, range_test_over_seeds, smooth_losses)
from toy import small_model, toy_split


# ----------------------------------------------------------------------------- toy setup

TRAIN, TEST = toy_split(), toy_split(128, seed=1, train=False)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets (conftest.one_thread)

FAST = dict(batch_size=32, weight_decay=5e-4, precision="fp32")


def state(model):
    """Everything that must come back bit-identical: params, grads, buffers, RNG."""
    return dict(params=[(n, p.detach().clone(), p.dtype, p.device, p.stride()) for n, p in model.named_parameters()],
                grads=[None if p.grad is None else p.grad.clone() for p in model.parameters()],
                buffers=[(n, b.detach().clone()) for n, b in model.named_buffers()],
                training=[m.training for m in model.modules()],
                rng=torch.get_rng_state().clone())


def assert_same_state(a, b):
    assert len(a["params"]) == len(b["params"]) and len(a["buffers"]) == len(b["buffers"])
    for (n1, t1, d1, dev1, s1), (n2, t2, d2, dev2, s2) in zip(a["params"], b["params"]):
        assert n1 == n2 and d1 == d2 and dev1 == dev2 and s1 == s2, n1
        assert torch.equal(t1, t2), n1
    for g1, g2 in zip(a["grads"], b["grads"]):
        assert (g1 is None) == (g2 is None) and (g1 is None or torch.equal(g1, g2))
    for (n1, t1), (n2, t2) in zip(a["buffers"], b["buffers"]):
        assert n1 == n2 and torch.equal(t1, t2), n1
    assert a["training"] == b["training"]
    assert torch.equal(a["rng"], b["rng"])


class Snapshots:
    """Records the parameters at the end of fit, to prove the run did change the model."""

    def __init__(self):
        self.at_end = None

    def on_end(self, ctx):
        self.at_end = [p.detach().clone() for p in ctx.model.parameters()]
        self.strides = [p.stride() for p in ctx.model.parameters()]


class Boom(Exception):
    pass


class RaiseAt:
    def __init__(self, at):
        self.at = at

    def on_step(self, ctx):
        if ctx.it == self.at:
            raise Boom


# ----------------------------------------------------------------------------- ramps

def test_linear_ramp_exact():
    ramp = make_ramp(0.0, 3.0, 7, "linear")
    assert ramp(0) == 0.0 and ramp(6) == 3.0
    assert [ramp(i) for i in range(7)] == pytest.approx([0.5 * i for i in range(7)], abs=1e-15)
    ramp = make_ramp(0.1, 3.0, 5000, "linear")
    assert ramp(0) == 0.1 and ramp(4999) == 3.0
    assert np.allclose(np.diff([ramp(i) for i in range(5000)]), 2.9 / 4999)


def test_exp_ramp_exact_and_geometric():
    ramp = make_ramp(1e-4, 10.0, 11, "exp")
    lrs = [ramp(i) for i in range(11)]
    assert lrs[0] == 1e-4 and lrs[-1] == 10.0
    assert np.allclose(np.array(lrs[1:]) / np.array(lrs[:-1]), 10 ** 0.5, rtol=1e-12)
    assert lrs == pytest.approx(list(np.logspace(-4, 1, 11)), rel=1e-12)


@pytest.mark.parametrize("mode, lo, hi", [("linear", 0.0, 0.5), ("exp", 1e-3, 0.5)])
def test_run_uses_the_ramp(mode, lo, hi):
    r = lr_range_test(small_model(), TRAIN, TEST, lo, hi, 20, mode, eval_every=5, **FAST)
    ramp = make_ramp(lo, hi, 20, mode)
    assert r.lrs == [ramp(i) for i in range(20)]
    assert r.lrs[0] == lo and r.lrs[-1] == hi and not r.stopped_early
    assert r.eval_iters == [5, 10, 15, 20] and r.eval_lrs == [r.lrs[k - 1] for k in r.eval_iters]
    assert r.mode == mode and r.lr_min == lo and r.lr_max == hi and r.iterations == 20


# ----------------------------------------------------------------------------- restoration

@pytest.mark.parametrize("precision", [dict(precision="fp32"), dict(precision="bf16", channels_last=True)])
def test_restores_model_and_rng_after_a_normal_run(precision):
    model = small_model()
    params_before = list(model.parameters())
    before = state(model)
    snap = Snapshots()
    kw = {**FAST, **precision}
    r = lr_range_test(model, TRAIN, TEST, 0.0, 0.5, 20, eval_every=5, callbacks=[snap], **kw)
    assert not r.stopped_early and len(r.lrs) == 20
    # the run did train the model (else the test below proves nothing)
    assert any(not torch.equal(a, b) for a, b in zip(snap.at_end, [t for _, t, *_ in before["params"]]))
    if precision.get("channels_last"):  # fit switched the layout: it must come back too
        assert snap.strides != [st for *_, st in before["params"]]
    assert_same_state(before, state(model))
    assert all(a is b for a, b in zip(params_before, model.parameters()))  # same Parameter objects


def test_restores_model_and_rng_after_an_early_stop():
    model = small_model()
    model.eval()  # a non-default mode must come back too
    before = state(model)
    r = lr_range_test(model, TRAIN, TEST, 1e-3, 1e4, 100, "exp", **FAST)
    assert r.stopped_early and len(r.lrs) < 100
    assert_same_state(before, state(model))


def test_restores_model_and_rng_after_an_exception():
    model = small_model()
    # grads present before must come back as they were
    torch.nn.functional.cross_entropy(model(TRAIN.normalize(TRAIN.images[:8])), TRAIN.labels[:8]).backward()
    before = state(model)
    assert any(g is not None for g in before["grads"])
    with pytest.raises(Boom):
        lr_range_test(model, TRAIN, TEST, 0.0, 0.5, 20, callbacks=[RaiseAt(7)], **FAST)
    assert_same_state(before, state(model))


def test_restores_after_a_failure_inside_fit(monkeypatch):
    model = small_model()
    before = state(model)

    def broken_fit(model, *args, **kwargs):
        torch.manual_seed(123)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
            for b in model.buffers():
                b.add_(1)
        model.train()
        raise RuntimeError("out of memory")

    monkeypatch.setattr(rt, "fit", broken_fit)
    with pytest.raises(RuntimeError, match="out of memory"):
        lr_range_test(model, TRAIN, TEST, 0.0, 0.5, 20, **FAST)
    assert_same_state(before, state(model))


# ----------------------------------------------------------------------------- early stop, smoothing

def hand_ema(losses, beta):
    avg, out = 0.0, []
    for i, v in enumerate(losses):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def test_smooth_losses_is_a_bias_corrected_ema():
    losses = [2.0, 1.0, 4.0, 3.0]
    # by hand, beta 0.5: avg 1.0, 1.0, 2.5, 2.75; corrections 0.5, 0.75, 0.875, 0.9375
    assert smooth_losses(losses, 0.5) == pytest.approx([2.0, 1.0 / 0.75, 2.5 / 0.875, 2.75 / 0.9375])
    assert smooth_losses(losses, 0.0) == losses
    assert smooth_losses([5.0], 0.98) == [pytest.approx(5.0)]


def test_stop_criterion_fires_at_the_first_smoothed_loss_above_factor_times_best():
    stop = SmoothedLossStop(smoothing=0.0, stop_factor=4.0)
    losses = [3.0, 2.0, 1.0, 1.5, 3.9, 4.0, 4.1, 9.0]
    assert not stop.update(losses[:5])
    assert stop.update(losses)  # 4.0 is not > 4 x 1.0; 4.1 is
    assert stop.stop_iter == 6 and stop.best == 1.0
    assert stop.reason([0.1 * i for i in range(8)]).startswith("smoothed loss 4.1 > stop_factor 4 x best 1")
    never = SmoothedLossStop(0.0, None)
    assert not never.update([1.0, 100.0]) and never.smoothed == [1.0, 100.0]


def test_early_stop_on_huge_lr_keeps_history():
    # fit's own divergence check (loss > max_loss) disabled: the smoothed-loss criterion stops it
    r = lr_range_test(small_model(), TRAIN, TEST, 1e-3, 1e4, 200, "exp", eval_every=10, max_loss=1e30,
                      **FAST)
    n = len(r.lrs)
    assert r.stopped_early and 10 < n < 200
    assert len(r.losses) == len(r.smoothed_losses) == n
    assert r.lrs == [make_ramp(1e-3, 1e4, 200, "exp")(i) for i in range(n)]
    assert r.smoothed_losses == pytest.approx(hand_ema(r.losses, 0.98), rel=1e-12)
    assert all(k <= n for k in r.eval_iters) and len(r.eval_acc) == len(r.eval_iters) == len(r.eval_loss)
    s, i = r.smoothed_losses, r.stopped_at
    # stopped by the criterion, on the spot (log_every=1): the first i with s_i > 4 min(s_0..s_i-1)
    assert r.stop_reason.startswith("smoothed loss") and i == n - 1
    assert s[i] > 4 * min(s[:i]) and all(s[j] <= 4 * min(s[:j]) for j in range(1, i))
    # a sparser host sync finds the same trigger but may run up to log_every - 1 steps past it
    sparse = lr_range_test(small_model(), TRAIN, TEST, 1e-3, 1e4, 200, "exp", eval_every=10, max_loss=1e30,
                           log_every=8, **FAST)
    assert sparse.stopped_at == i and 0 <= len(sparse.lrs) - 1 - i < 8
    assert sparse.losses[:n] == r.losses


def test_fit_divergence_is_an_early_stop_not_an_error():
    r = lr_range_test(small_model(), TRAIN, TEST, 0.0, 1e4, 30, **FAST)
    assert r.stopped_early and "diverged" in r.stop_reason and r.stopped_at == len(r.lrs) - 1
    assert r.losses[-1] > r.config["fit"]["max_loss"] or not math.isfinite(r.losses[-1])


# ----------------------------------------------------------------------------- accuracy-based suggestions

def acc_result(acc, lrs=None, **kw):
    lrs = lrs if lrs is not None else [0.1 * (k + 1) for k in range(len(acc))]
    return RangeTestResult(eval_lrs=list(lrs), eval_iters=[100 * (k + 1) for k in range(len(acc))],
                           eval_acc=list(acc), eval_loss=[1.0] * len(acc), eval_split="test", lr_min=0.0,
                           lr_max=lrs[-1], **kw)


# rise (index 4 -> 10), plateau (10..14, peak 90 at 12), fall; LRs 0.1, 0.2, ..., 2.0
RISE_PLATEAU_FALL = [10, 10, 11, 10, 10, 20, 40, 60, 75, 85, 88, 89, 90, 89, 88.5, 80, 70, 55, 40, 30]


def test_max_and_min_lr_on_a_rise_plateau_fall_curve():
    r = acc_result(RISE_PLATEAU_FALL)
    top = r.max_lr()  # first fall by > 5 points below the running max 90 is 80 at index 15
    assert top.index == 12 and top.lr == pytest.approx(1.3) and "fell to 80.00%" in top.reason
    # rise 90 - 10 = 80; level 10 + 0.1*80 = 18 -> first accuracy >= 18 is 20 at index 5
    low = r.min_lr_rise()
    assert low.index == 5 and low.lr == pytest.approx(0.6)
    assert r.min_lr_rise(fraction=0.5).index == 7  # level 50 -> 60 at index 7
    assert r.min_lr_ratio().lr == pytest.approx(1.3 / 4) and r.min_lr_ratio(3).lr == pytest.approx(1.3 / 3)


def test_max_lr_at_the_turn_to_ragged_before_the_global_peak():
    acc = [10, 30, 50, 70, 80, 72, 85, 70, 92, 60]
    r = acc_result(acc)
    assert r.max_lr().index == 4            # 72 < 80 - 5: ragged after the running max 80
    assert r.max_lr(drop=10).index == 6     # 70 < 85 - 10
    assert r.max_lr(drop=50).index == 8     # no such fall: the global peak
    # light smoothing (3-point moving average) irons out the first dip
    sm = np.convolve(acc, np.ones(3) / 3, mode="same")
    sm[0], sm[-1] = np.mean(acc[:2]), np.mean(acc[-2:])
    expected = next(k for k in range(1, len(sm)) if sm[k] < np.maximum.accumulate(sm)[k - 1] - 5)
    assert r.max_lr(smooth=3).index == int(np.argmax(sm[:expected]))


def test_noise_at_chance_level_is_not_ragged_and_a_still_rising_curve_is_flagged():
    r = acc_result([50, 44, 51, 43, 60, 70, 80])  # falls of 6-8 points before any rise
    top = r.max_lr()
    assert top.index == 6 and "still at its maximum" in top.reason and "may be larger" in top.reason
    assert r.min_lr_rise().index == 4  # level 50 + 3 = 53
    flat = acc_result([50, 50, 49])
    assert flat.min_lr_rise().lr is None and "never rose" in flat.min_lr_rise().reason
    assert acc_result([70.0]).max_lr().index == 0
    empty = RangeTestResult()
    assert all(empty.suggestions()[k].lr is None for k in rt.SUGGESTIONS)


# ----------------------------------------------------------------------------- loss-based suggestions

def loss_result():
    """Exp ramp 1e-5 .. 1 (101 points, 20 per decade). The smoothed loss falls like a tanh centred
    at lr=1e-4 (index 20: steepest descent), keeps falling to its minimum at lr=1e-2 (index 60),
    then rises. Longest descent = indices 0..60; 2/3 down it = index 40 = lr 1e-3."""
    x = np.linspace(-5, 0, 101)
    loss = np.where(x <= -2, 2.0 - np.tanh(3 * (x + 4)), 2.0 - np.tanh(6.0) + 5 * (x + 2) ** 2)
    lrs = list(10 ** x)
    return RangeTestResult(lrs=lrs, losses=list(loss), smoothed_losses=list(loss), mode="exp",
                           lr_min=1e-5, lr_max=1.0, iterations=101)


def test_steepest_valley_and_min_loss_on_a_known_curve():
    r = loss_result()
    st = r.steepest()
    assert st.index == 20 and st.lr == pytest.approx(1e-4)
    va = r.valley()
    assert va.index == 40 and va.lr == pytest.approx(1e-3) and "61 points" in va.reason
    assert r.valley(position=0.5).index == 30 and r.valley(position=1.0).index == 60
    ml = r.min_loss_10()
    assert ml.index == 60 and ml.lr == pytest.approx(1e-3)


def test_valley_tolerates_bumps_and_loss_curve_stops_at_nan():
    r = loss_result()
    s = list(r.smoothed_losses)
    s[10] = s[9] + 0.01  # a bump: the longest descent skips it (60 points instead of 61)
    s[80:] = [float("nan")] * 21
    r.smoothed_losses = s
    va = r.valley()
    assert "60 points" in va.reason and va.index == 40
    assert r.min_loss_10().index == 60 and r.steepest().index == 20


def test_loss_curve_skips_lr_zero_of_a_linear_ramp():
    lrs = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    s = [1.0, 0.9, 0.7, 0.4, 0.35, 0.6]
    r = RangeTestResult(lrs=lrs, losses=s, smoothed_losses=s)
    assert r.min_loss_10().lr == pytest.approx(0.04)
    g = np.gradient(s[1:], np.log10(lrs[1:]))
    assert r.steepest().index == 1 + int(np.argmin(g[:4]))
    assert RangeTestResult(lrs=[0.1, 0.2], losses=[1, 2], smoothed_losses=[1, 2]).valley().lr is None


# ----------------------------------------------------------------------------- high range and potential

LOG_LRS = list(np.logspace(-3, 1, 41))  # 10 eval points per decade, 1e-3 .. 10


def test_high_range_of_a_wide_plateau_is_two_decades():
    acc = [50.0] * 41
    for k in range(10, 31):  # lr 1e-2 .. 1: within 5 points of the peak 91
        acc[k] = 88.0
    acc[20] = 91.0
    acc[35] = 90.0  # a later hump, not contiguous: does not count
    pot = acc_result(acc, LOG_LRS).high_range()
    assert pot.peak_acc == 91.0 and pot.threshold == 86.0 and pot.n_points == 21
    assert pot.lo_lr == pytest.approx(1e-2) and pot.hi_lr == pytest.approx(1.0)
    assert pot.decades == pytest.approx(2.0) and pot.ratio == pytest.approx(100.0)
    assert not pot.open_above and not pot.open_below
    assert acc_result(acc, LOG_LRS).high_range(tolerance=2.0).decades == pytest.approx(0.0)


def test_high_range_of_a_narrow_peak():
    acc = [50.0] * 41
    acc[19], acc[20], acc[21], acc[22] = 86.0, 90.0, 87.0, 70.0
    pot = acc_result(acc, LOG_LRS).high_range(tolerance=5.0)
    assert pot.n_points == 3 and pot.decades == pytest.approx(0.2) and pot.ratio == pytest.approx(10 ** 0.2)
    rel = acc_result(acc, LOG_LRS).high_range(tolerance=0.03, relative=True)  # threshold 87.3
    assert rel.threshold == pytest.approx(87.3) and rel.n_points == 1 and rel.decades == 0.0
    assert "sharp peak" in rel.note


def test_high_range_edge_cases():
    one = acc_result([80.0]).high_range()
    assert one.decades == 0.0 and one.ratio == 1.0 and "single evaluation point" in one.note
    rising = acc_result([10, 50, 85, 88, 90], [0.25, 0.5, 1.0, 2.0, 4.0]).high_range()
    assert rising.open_above and "past lr_max" in rising.note
    assert rising.lo_lr == 1.0 and rising.decades == pytest.approx(math.log10(4))
    stopped = acc_result([10, 50, 85, 88, 90], [0.25, 0.5, 1.0, 2.0, 4.0], stopped_early=True,
                         stop_reason="x").high_range()
    assert stopped.open_above and "stopped early" in stopped.note
    zero = acc_result([90, 89, 50], [0.0, 0.5, 1.0]).high_range()
    assert zero.open_below and zero.decades == math.inf
    assert RangeTestResult().high_range().decades is None


def test_potential_reads_the_top_of_the_ramp():
    lrs = list(np.linspace(0.05, 3.0, 60))
    high_late = acc_result([40.0 if lr < 0.9 else 85.0 for lr in lrs], lrs)
    high_late.lr_max = 3.0
    pot = high_late.potential()
    assert pot.verdict == "potential shown" and pot.top_from == 1.5 and pot.retention == 1.0
    assert high_late.high_range().decades < 1  # what the old measure called narrow
    early = acc_result([85.0 if lr <= 0.75 else 12.0 for lr in lrs], lrs)
    early.lr_max = 3.0
    assert early.potential().verdict == "no potential" and early.high_range().decades > 1
    stopped = acc_result([80.0] * 10, lrs[:10], stopped_early=True, stop_reason="x")
    stopped.lr_max, stopped.lrs = 3.0, lrs[:10]
    assert stopped.potential().collapse_lr == lrs[9] and stopped.potential().verdict == "no potential"
    assert RangeTestResult().potential() is None
    assert "potential" in high_late.summary() and "high range" in high_late.summary()


# ----------------------------------------------------------------------------- serialization

def test_to_dict_is_json_and_round_trips():
    r = loss_result()
    r.smoothed_losses[-1] = float("nan")
    r.losses[-1] = float("inf")
    r.config = dict(a=1, b=[float("nan")])
    text = json.dumps(r.to_dict(), allow_nan=False)
    back = RangeTestResult.from_dict(json.loads(text))
    assert back.lrs == r.lrs and back.losses[-1] == math.inf and math.isnan(back.smoothed_losses[-1])
    assert back.smoothed_losses[:-1] == r.smoothed_losses[:-1] and back.mode == "exp"


# ----------------------------------------------------------------------------- over seeds

def test_over_seeds_bands_and_spreads():
    s = range_test_over_seeds(small_model, TRAIN, TEST, seeds=(0, 1, 2), lr_min=0.0, lr_max=1.0,
                              iterations=24, eval_every=6, **FAST)
    assert [len(r.lrs) for r in s.results] == [24, 24, 24] and s.seeds == [0, 1, 2]
    assert len(s.lrs) == len(s.smoothed_mean) == len(s.smoothed_std) == 24
    assert len(s.eval_lrs) == len(s.acc_mean) == len(s.acc_std) == 4 and s.eval_iters == [6, 12, 18, 24]
    sm = np.array([r.smoothed_losses for r in s.results])
    assert np.allclose(s.smoothed_mean, sm.mean(0)) and np.allclose(s.smoothed_std, sm.std(0, ddof=1))
    acc = np.array([r.eval_acc for r in s.results])
    assert np.allclose(s.acc_mean, acc.mean(0)) and np.allclose(s.acc_std, acc.std(0, ddof=1))
    assert s.results[0].losses != s.results[1].losses  # the seeds differ
    for name in rt.SUGGESTIONS:
        vals = [getattr(r, name)().lr for r in s.results]
        sp = s.suggestions[name]
        ok = [v for v in vals if v is not None]
        assert sp.values == vals and sp.n == len(ok)
        if len(ok) > 1:
            assert sp.mean == pytest.approx(np.mean(ok)) and sp.std == pytest.approx(np.std(ok, ddof=1))
            assert sp.min == min(ok) and sp.max == max(ok)
    decades = [r.high_range().decades for r in s.results]
    assert s.high_range.values == decades
    assert s.retention.values == [r.potential().retention for r in s.results]
    assert "high range" in s.summary() and "retention" in s.summary()
    json.dumps(s.to_dict(), allow_nan=False)


def test_over_seeds_pad_and_truncate_ragged_runs():
    def res(smoothed, acc):
        return RangeTestResult(lrs=[0.1 * (i + 1) for i in range(len(smoothed))], losses=smoothed,
                               smoothed_losses=smoothed, eval_lrs=[0.1 * (k + 1) for k in range(len(acc))],
                               eval_iters=list(range(1, len(acc) + 1)), eval_acc=acc, eval_loss=[1.0] * len(acc),
                               lr_min=0.1, lr_max=0.5, iterations=5)
    rs = [res([1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0]), res([3.0, 4.0, 5.0], [20.0, 40.0]),
          res([2.0, 3.0, 4.0, 5.0], [30.0, 60.0, 90.0])]
    pad = RangeTestSeeds.from_results(rs, [0, 1, 2], align="pad")
    assert pad.n_loss == [3, 3, 3, 2, 1] and len(pad.lrs) == 5
    assert pad.smoothed_mean == pytest.approx([2.0, 3.0, 4.0, 4.5, 5.0])
    assert pad.smoothed_std[:4] == pytest.approx([1.0, 1.0, 1.0, math.sqrt(0.5)]) and math.isnan(pad.smoothed_std[4])
    assert pad.acc_mean == pytest.approx([20.0, 40.0, 60.0]) and pad.n_acc == [3, 3, 2]
    tr = RangeTestSeeds.from_results(rs, [0, 1, 2], align="truncate")
    assert tr.smoothed_mean == pytest.approx([2.0, 3.0, 4.0]) and len(tr.lrs) == 3 and len(tr.acc_mean) == 2
    with pytest.raises(ValueError, match="align"):
        RangeTestSeeds.from_results(rs, [0, 1, 2], align="zip")
    other = res([1.0, 2.0], [10.0])
    other.lr_max = 9.0
    with pytest.raises(ValueError, match="ramps"):
        RangeTestSeeds.from_results(rs + [other], [0, 1, 2, 3])


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, name", [
    (dict(lr_min=0.5, lr_max=0.5), "lr_min"),
    (dict(lr_min=1.0, lr_max=0.5), "lr_min"),
    (dict(lr_min=-0.1), "lr_min"),
    (dict(lr_min=0.0, mode="exp"), "lr_min"),
    (dict(lr_max=float("nan")), "lr_max"),
    (dict(iterations=1), "iterations"),
    (dict(iterations=2.5), "iterations"),
    (dict(mode="cosine"), "mode"),
    (dict(stop_factor=1.0), "stop_factor"),
    (dict(stop_factor=0.5), "stop_factor"),
    (dict(smoothing=1.0), "smoothing"),
    (dict(smoothing=-0.1), "smoothing"),
    (dict(eval_every=0), "eval_every"),
    (dict(log_every=0), "log_every"),
    (dict(eval_split="train"), "eval_split"),
    (dict(eval_split="validation"), "eval_split"),  # TEST is a test split (train=False)
    (dict(lr=0.1), "lr="),
])
def test_bad_input_names_the_parameter_before_any_work(kwargs, name, monkeypatch):
    def no_fit(*a, **k):
        raise AssertionError("fit must not run")
    monkeypatch.setattr(rt, "fit", no_fit)
    args = dict(lr_min=0.01, lr_max=1.0, iterations=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name) as info:
        lr_range_test(small_model(), TRAIN, TEST, **args)
    if name in ("mode", "eval_split"):
        assert "allowed" in str(info.value)


def test_bad_suggestion_parameters():
    r = acc_result(RISE_PLATEAU_FALL)
    for call, name in [(lambda: r.max_lr(drop=-1), "drop"), (lambda: r.min_lr_rise(fraction=1.5), "fraction"),
                       (lambda: r.min_lr_ratio(ratio=1), "ratio"), (lambda: r.valley(position=2), "position"),
                       (lambda: r.high_range(tolerance=2, relative=True), "tolerance"),
                       (lambda: r.potential(top=0), "top"),
                       (lambda: r.max_lr(smooth=0), "smooth")]:
        with pytest.raises(ValueError, match=name):
            call()


# ----------------------------------------------------------------------------- end to end

def test_end_to_end_on_toy_data():
    train, val = data.holdout(TRAIN, 64, seed=0)
    r = lr_range_test(small_model(), train, val, 0.0, 2.0, 80, eval_every=5, **FAST)
    assert r.eval_split == "validation" and r.config["eval_data"] == val.description
    assert len(r.lrs) == 80 and not r.stopped_early and r.stop_reason is None
    assert len(r.eval_acc) == 16 and all(0 <= a <= 100 for a in r.eval_acc)
    assert max(r.eval_acc) > 60  # the toy task is learnable; chance is 50 %
    sug = r.suggestions()
    assert set(sug) == set(rt.SUGGESTIONS)
    assert sug["max_lr"].lr is not None and 0 < sug["max_lr"].lr <= 2.0
    assert sug["min_loss_10"].lr is not None
    hr = r.high_range()
    assert hr.decades is not None and hr.decades >= 0 and hr.lo_lr <= hr.peak_lr <= hr.hi_lr
    pot = r.potential()
    assert pot.verdict in ("potential shown", "partly", "no potential") and 0 <= pot.retention <= 1.0001
    assert "LR range test" in r.summary()
    assert RangeTestResult.from_dict(json.loads(json.dumps(r.to_dict()))).eval_acc == r.eval_acc
    # same seed, same result
    again = lr_range_test(small_model(), train, val, 0.0, 2.0, 80, eval_every=5, **FAST)
    assert again.losses == r.losses and again.eval_acc == r.eval_acc
