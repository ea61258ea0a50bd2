"""Tests for superconv.schedules: exact agreement with torch's schedulers, the authors' Caffe
1cycle (checked against their training logs), the headline run, hold-past-the-end, the torch
adapter (momentum / Adam beta1, exact resume from state dicts) and argument validation."""

import dataclasses
import io
import math
import re
import time

import numpy as np
import pytest
import torch
from torch.optim import SGD, Adam, AdamW, Adagrad
from torch.optim.lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    SequentialLR,
)

from superconv import experiments
from superconv.schedules import (
    Schedule,
    clr,
    cosine,
    exponential,
    fixed,
    headline,
    inv,
    one_cycle,
    one_cycle_torch,
    piecewise_constant,
    triangle,
    wsd,
)

RTOL = 1e-12


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------

def _params():
    return [torch.nn.Parameter(torch.zeros(3))]


def _optimizer(kind: str, lr: float = 0.1):
    if kind == "sgd":
        return SGD(_params(), lr=lr, momentum=0.9)
    if kind == "adam":
        return Adam(_params(), lr=lr)
    if kind == "adamw":
        return AdamW(_params(), lr=lr)
    raise AssertionError(kind)


def _mom(group):
    return group["betas"][0] if "betas" in group else group.get("momentum")


def _record(opt, scheduler, n):
    """LR and momentum the optimizer holds for batches 0..n-1 (read before each step)."""
    lrs, moms = [], []
    for _ in range(n):
        g = opt.param_groups[0]
        lrs.append(float(g["lr"]))
        moms.append(_mom(g))
        opt.step()
        scheduler.step()
    return lrs, moms


def _assert_close(actual, expected, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=rtol, atol=atol)


def _schedule_traj(s, n):
    return [s.lr(i) for i in range(n)], [s.momentum(i) for i in range(n)]


# ------------------------------------------------------------------------------------------------
# CLR == torch CyclicLR
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,gamma", [("triangular", 1.0), ("triangular2", 1.0),
                                        ("exp_range", 0.97), ("exp_range", 0.99994)])
@pytest.mark.parametrize("up,down", [(5, None), (4, 6), (7, 3), (1, 1), (25, 40)])
@pytest.mark.parametrize("cycle_momentum", [True, False])
@pytest.mark.parametrize("opt_kind", ["sgd", "adam"])
def test_clr_equals_torch_cycliclr(mode, gamma, up, down, cycle_momentum, opt_kind):
    base, peak = 0.05, 0.8
    n = 4 * (up + (down or up)) + 3  # several cycles and a bit
    opt = _optimizer(opt_kind)
    ref = CyclicLR(opt, base_lr=base, max_lr=peak, step_size_up=up, step_size_down=down,
                   mode=mode, gamma=gamma, cycle_momentum=cycle_momentum,
                   base_momentum=0.8, max_momentum=0.9)
    t_lrs, t_moms = _record(opt, ref, n)
    s = clr(base, peak, up, mode=mode, gamma=gamma, step_size_down=down,
            momentum=(0.9, 0.8) if cycle_momentum else None)
    lrs, moms = _schedule_traj(s, n)
    _assert_close(lrs, t_lrs)
    if cycle_momentum:
        _assert_close(moms, t_moms)
    else:
        assert all(m is None for m in moms)
    # and the adapter, driving a fresh optimizer, gives the same again
    opt2 = _optimizer(opt_kind)
    a_lrs, a_moms = _record(opt2, s.to_scheduler(opt2), n)
    _assert_close(a_lrs, t_lrs)
    if cycle_momentum:
        _assert_close(a_moms, t_moms)


# torch's own hand-computed vectors (test/optim/test_lrscheduler.py, base_lr=1, max_lr=5);
# torch's momentum vectors use base_momentum=1, max_momentum=5, outside [0, 1): we run with
# (0.5, 0.1) and compare with those vectors divided by 10 (the schedule is affine in the bounds).
TORCH_TRI2 = [1, 2, 3, 4, 5, 4, 3, 2, 1, 1.5, 2.0, 2.5, 3.0, 2.5, 2.0, 1.5, 1, 1.25, 1.50, 1.75,
              2.00, 1.75]
TORCH_TRI2_MOM = [5.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 4.5, 4.0, 3.5, 3.0, 3.5, 4.0, 4.5,
                  5.0, 4.75, 4.5, 4.25, 4.0, 4.25]
TORCH_TRI_UPDOWN = [1.0, 2.0, 3.0, 4.0, 5.0, 13.0 / 3, 11.0 / 3, 9.0 / 3, 7.0 / 3, 5.0 / 3, 1.0]
TORCH_TRI_UPDOWN_MOM = [5.0, 4.0, 3.0, 2.0, 1.0, 5.0 / 3, 7.0 / 3, 3.0, 11.0 / 3, 13.0 / 3, 5.0]
TORCH_TRI2_UPDOWN = [1.0, 3.0, 5.0, 13.0 / 3, 11.0 / 3, 9.0 / 3, 7.0 / 3, 5.0 / 3, 1.0, 2.0, 3.0,
                     8.0 / 3, 7.0 / 3, 6.0 / 3, 5.0 / 3, 4.0 / 3, 1.0, 3.0 / 2, 2.0, 11.0 / 6,
                     10.0 / 6, 9.0 / 6, 8.0 / 6, 7.0 / 6]
TORCH_TRI2_UPDOWN_MOM = [5.0, 3.0, 1.0, 5.0 / 3, 7.0 / 3, 3.0, 11.0 / 3, 13.0 / 3, 5.0, 4.0, 3.0,
                         10.0 / 3, 11.0 / 3, 4.0, 13.0 / 3, 14.0 / 3, 5.0, 4.5, 4.0, 25.0 / 6,
                         13.0 / 3, 4.5, 14.0 / 3, 29.0 / 6]


def _exp_range_vec(xs, gamma=0.9):
    return ([1 + x * 4 * gamma**i for i, x in enumerate(xs)],
            [5 - x * 4 * gamma**i for i, x in enumerate(xs)])


@pytest.mark.parametrize("name,kwargs,lr_vec,mom_vec", [
    ("triangular", dict(step_size=4), [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3],
     [5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3]),
    ("triangular2", dict(step_size=4, mode="triangular2"), TORCH_TRI2, TORCH_TRI2_MOM),
    ("exp_range", dict(step_size=4, mode="exp_range", gamma=0.9),
     *_exp_range_vec([0, 0.25, 0.5, 0.75, 1, 0.75, 0.50, 0.25, 0, 0.25, 0.5, 0.75, 1])),
    ("triangular_up_down", dict(step_size=4, step_size_down=6), TORCH_TRI_UPDOWN,
     TORCH_TRI_UPDOWN_MOM),
    ("triangular2_up_down", dict(step_size=2, step_size_down=6, mode="triangular2"),
     TORCH_TRI2_UPDOWN, TORCH_TRI2_UPDOWN_MOM),
    ("exp_range_up_down", dict(step_size=2, step_size_down=6, mode="exp_range", gamma=0.9),
     *_exp_range_vec([0.0, 0.5, 1.0, 5.0 / 6, 4.0 / 6, 3.0 / 6, 2.0 / 6, 1.0 / 6, 0.0, 0.5, 1.0,
                      5.0 / 6, 4.0 / 6])),
])
def test_clr_torch_test_vectors(name, kwargs, lr_vec, mom_vec):
    s = clr(1, 5, momentum=(0.5, 0.1), **kwargs)
    lrs, moms = _schedule_traj(s, len(lr_vec))
    _assert_close(lrs, lr_vec, rtol=1e-12, atol=1e-14)
    _assert_close(moms, [m / 10 for m in mom_vec], rtol=1e-12, atol=1e-14)


def test_clr_paper_formula_symmetric():
    """CLR paper §3.1: cycle = floor(1 + it/2s), x = |it/s - 2 cycle + 1|."""
    base, peak, ss = 0.001, 0.006, 2000
    for mode, gamma in [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.99994)]:
        s = clr(base, peak, ss, mode=mode, gamma=gamma)
        for it in [0, 1, 999, 2000, 2001, 3999, 4000, 4001, 6000, 9999, 12345, 20000]:
            cycle = math.floor(1 + it / (2 * ss))
            x = abs(it / ss - 2 * cycle + 1)
            scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1),
                     "exp_range": gamma**it}[mode]
            want = base + (peak - base) * max(0.0, 1 - x) * scale
            assert s.lr(it) == pytest.approx(want, rel=1e-12)


def test_clr_exp_range_both_bounds_variant():
    s = clr(0.001, 0.006, 10, mode="exp_range", gamma=0.99, exp_range_shrinks="both")
    a = clr(0.001, 0.006, 10, mode="exp_range", gamma=0.99)
    for it in [0, 5, 10, 15, 20, 37]:
        tri = 1 - abs(it / 10 - 2 * math.floor(1 + it / 20) + 1)
        assert s.lr(it) == pytest.approx((0.001 + 0.005 * tri) * 0.99**it, rel=1e-12)
    # the paper wording decays the lower bound too; the reference code keeps it at base_lr
    assert s.lr(40) == pytest.approx(0.001 * 0.99**40, rel=1e-12)
    assert a.lr(40) == pytest.approx(0.001, rel=1e-12)


def test_clr_constant_momentum_and_total_steps_hold():
    s = clr(0.1, 1.0, 10, momentum=0.9, total_steps=25)
    assert s.momentum(0) == s.momentum(13) == 0.9
    assert s.total_steps == 25
    assert s.lr(25) == s.lr(1000) == s.lr(24)
    assert clr(0.1, 1.0, 10).total_steps is None


# ------------------------------------------------------------------------------------------------
# one_cycle_torch == torch OneCycleLR
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("pct_start", [0.3, 0.25, 0.45, 0.05])
@pytest.mark.parametrize("total_steps,div,final_div", [(10, 25.0, 1e4), (7, 10.0, 100.0),
                                                       (101, 25.0, 1e4), (1000, 4.0, 2.0)])
def test_one_cycle_torch_equals_onecyclelr(anneal, three_phase, pct_start, total_steps, div,
                                           final_div):
    opt = _optimizer("sgd")
    ref = OneCycleLR(opt, max_lr=0.8, total_steps=total_steps, pct_start=pct_start,
                     anneal_strategy=anneal, div_factor=div, final_div_factor=final_div,
                     three_phase=three_phase, base_momentum=0.8, max_momentum=0.93)
    t_lrs, t_moms = _record(opt, ref, total_steps)
    s = one_cycle_torch(0.8, total_steps, pct_start=pct_start, anneal_strategy=anneal,
                        div_factor=div, final_div_factor=final_div, three_phase=three_phase,
                        base_momentum=0.8, max_momentum=0.93)
    lrs, moms = _schedule_traj(s, total_steps)
    _assert_close(lrs, t_lrs)
    _assert_close(moms, t_moms)
    # hold past the end (torch would raise one step later)
    assert s.lr(total_steps) == s.lr(total_steps + 50) == lrs[-1]
    assert s.momentum(total_steps + 3) == moms[-1]


@pytest.mark.parametrize("opt_kind", ["adam", "adamw"])
def test_one_cycle_torch_beta1_and_no_cycle_momentum(opt_kind):
    opt = _optimizer(opt_kind)
    ref = OneCycleLR(opt, max_lr=0.01, total_steps=53, three_phase=True)
    t_lrs, t_b1 = _record(opt, ref, 53)
    s = one_cycle_torch(0.01, 53, three_phase=True)
    opt2 = _optimizer(opt_kind)
    a_lrs, a_b1 = _record(opt2, s.to_scheduler(opt2), 53)
    _assert_close(a_lrs, t_lrs)
    _assert_close(a_b1, t_b1)
    assert opt2.param_groups[0]["betas"][1] == 0.999  # beta2 untouched

    opt3 = _optimizer("sgd")
    ref3 = OneCycleLR(opt3, max_lr=0.01, total_steps=53, cycle_momentum=False)
    t3, m3 = _record(opt3, ref3, 53)
    s3 = one_cycle_torch(0.01, 53, cycle_momentum=False)
    _assert_close([s3.lr(i) for i in range(53)], t3)
    assert s3.momentum(0) is None and not s3.has_momentum
    assert set(m3) == {0.9}


def _anneal_cos(start, end, pct):
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


# torch's vectors (max_lr=25, final_div_factor=2, base_momentum=1, max_momentum=22); momentum
# rescaled affinely onto base 0.85 / max 0.95.
@pytest.mark.parametrize("kwargs,lr_vec,mom_vec", [
    (dict(final_div_factor=2, anneal_strategy="linear"),
     [1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5], [22, 11.5, 1, 4, 7, 10, 13, 16, 19, 22]),
    (dict(div_factor=25, anneal_strategy="linear", pct_start=0.4, final_div_factor=4,
          three_phase=True),
     [1, 9, 17, 25, 17, 9, 1, 0.75, 0.5, 0.25], [22, 15, 8, 1, 8, 15, 22, 22, 22, 22]),
    (dict(final_div_factor=2),
     [1, 13, 25] + [_anneal_cos(25, 0.5, k / 7.0) for k in range(1, 7)] + [0.5],
     [22, 11.5, 1] + [_anneal_cos(1, 22, k / 7.0) for k in range(1, 7)] + [22]),
])
def test_one_cycle_torch_test_vectors(kwargs, lr_vec, mom_vec):
    s = one_cycle_torch(25, 10, base_momentum=0.85, max_momentum=0.95, **kwargs)
    lrs, moms = _schedule_traj(s, 10)
    _assert_close(lrs, lr_vec, rtol=1e-12, atol=1e-13)
    _assert_close(moms, [0.85 + (m - 1) / 21 * 0.1 for m in mom_vec], rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------------------------
# simple schedules == MultiStepLR / ExponentialLR
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("milestones,gamma", [([2, 5, 9], 0.1), ([50, 70], 0.1), ([1, 3], 0.5),
                                              ([30], 0.25)])
def test_piecewise_constant_equals_multisteplr(milestones, gamma):
    n = 100
    opt = _optimizer("sgd", lr=0.35)
    t_lrs, _ = _record(opt, MultiStepLR(opt, milestones=milestones, gamma=gamma), n)
    s = piecewise_constant(0.35, milestones, gamma)
    _assert_close([s.lr(i) for i in range(n)], t_lrs)
    assert s.momentum(0) is None


def test_piecewise_constant_torch_vector_and_paper_baseline():
    # torch's test: lr 0.05, milestones [2, 5, 9]
    want = [0.05] * 2 + [0.005] * 3 + [0.0005] * 4 + [0.00005] * 3
    s = piecewise_constant(0.05, [2, 5, 9])
    _assert_close([s.lr(i) for i in range(12)], want, rtol=1e-12)
    pc = piecewise_constant(0.35, [50_000, 70_000], 0.1, momentum=0.9, total_steps=80_000)
    assert pc.lr(0) == 0.35 and pc.lr(49_999) == 0.35
    assert pc.lr(50_000) == pytest.approx(0.035, rel=1e-15)
    assert pc.lr(70_000) == pytest.approx(0.0035, rel=1e-15)
    assert pc.lr(79_999) == pc.lr(10**6)
    assert pc.momentum(123) == 0.9


@pytest.mark.parametrize("gamma", [0.9, 0.99994, 1.05])
def test_exponential_equals_exponentiallr(gamma):
    n = 300
    opt = _optimizer("sgd", lr=0.1)
    t_lrs, _ = _record(opt, ExponentialLR(opt, gamma=gamma), n)
    s = exponential(0.1, gamma)
    _assert_close([s.lr(i) for i in range(n)], t_lrs)


def test_fixed_and_inv():
    f = fixed(0.01, momentum=0.9)
    assert f.lr(0) == f.lr(10**9) == 0.01 and f.momentum(7) == 0.9
    assert fixed(0.01).momentum(3) is None
    s = inv(0.01, gamma=1e-4, power=0.75, momentum=0.9)
    for it in [0, 1, 100, 10_000, 54_321]:
        assert s.lr(it) == pytest.approx(0.01 * (1 + 1e-4 * it) ** -0.75, rel=1e-15)
    assert s.lr(0) == 0.01


# ------------------------------------------------------------------------------------------------
# the authors' Caffe 1cycle and the headline run
# ------------------------------------------------------------------------------------------------

def test_one_cycle_key_values():
    s = one_cycle(0.1, 1.0, 100, 230)  # defaults: tail base/1000, momentum (0.95, 0.85)
    assert s.lr(0) == 0.1 and s.momentum(0) == 0.95
    assert s.lr(50) == pytest.approx(0.55, rel=1e-15)
    assert s.momentum(50) == pytest.approx(0.90, rel=1e-15)
    assert s.lr(100) == 1.0 and s.momentum(100) == 0.85          # peak
    assert s.lr(101) == pytest.approx(1.0 * 99 / 100, rel=1e-15)  # descends towards 0 ...
    assert s.lr(150) == pytest.approx(0.5, rel=1e-15)             # ... with slope max/ss
    assert s.momentum(150) == pytest.approx(0.90, rel=1e-15)
    assert s.lr(199) == pytest.approx(0.01, rel=1e-13)            # last descent value max/ss
    assert s.momentum(199) == pytest.approx(0.85 + 0.1 * 99 / 100, rel=1e-15)
    assert s.lr(200) == pytest.approx(1e-4, rel=1e-15)            # tail = base/1000
    assert s.lr(229) == s.tail_lr and s.momentum(200) == s.momentum(229) == 0.95
    assert s.lr(230) == s.lr(10**6) == s.tail_lr                  # hold past the end
    assert s.total_steps == 230


def test_one_cycle_descend_to_base_and_momentum_options():
    s = one_cycle(0.1, 1.0, 100, 230, tail_lr=0.002, momentum=0.9, descend_to="base")
    assert s.lr(150) == pytest.approx(0.55, rel=1e-15)
    assert s.lr(199) == pytest.approx(0.1 + 0.9 / 100, rel=1e-13)
    assert s.lr(200) == 0.002
    assert {s.momentum(i) for i in range(0, 300, 7)} == {0.9}
    assert one_cycle(0.1, 1.0, 100, 230, momentum=None).momentum(5) is None
    m = one_cycle(0.1, 1.0, 100, 200, momentum=(0.9, 0.8))
    assert m.momentum(100) == 0.8 and m.momentum(199) == pytest.approx(0.899, rel=1e-13)


# the authors' Caffe logs (lnsmith54/hyperParam1, "Iteration N, lr = ..., momentum = ..."),
# 6 significant digits as printed
WIDE32_LOG = dict(args=(0.1, 1.0, 2246, 4882), rows=[
    (0, 0.1, 0.95), (200, 0.180142, 0.941095), (2200, 0.981567, 0.852048),
    (2400, 0.931434, 0.856857), (3000, 0.664292, 0.883571), (4400, 0.0409617, 0.945904),
    (4600, 0.0001, 0.947596), (4800, 0.0001, 0.943143)])
C100_LOG = dict(args=(0.1, 1.2, 3417, 7080), rows=[
    (100, 0.132192, 0.947073), (3400, 1.19453, 0.850498), (3500, 1.17085, 0.852429),
    (6800, 0.0119403, 0.949005), (6900, 0.0001, 0.949034), (7000, 0.0001, 0.947571)])
DENSENET_LOG = dict(args=(0.1, 4.0, 2148, 4882), momentum=(0.9, 0.8), rows=[
    (200, 0.463129, 0.890689), (4000, 0.55121, 0.88622), (4200, 0.178771, 0.895531),
    (4400, 0.0001, 0.897579), (4800, 0.0001, 0.888268)])


@pytest.mark.parametrize("log", [WIDE32_LOG, C100_LOG, DENSENET_LOG],
                         ids=["wide32", "c100resnet56", "densenet40"])
def test_one_cycle_reproduces_caffe_logs(log):
    s = one_cycle(*log["args"], momentum=log.get("momentum", (0.95, 0.85)),
                  tail_momentum="caffe")
    held = one_cycle(*log["args"], momentum=log.get("momentum", (0.95, 0.85)))
    for it, lr, mom in log["rows"]:
        assert s.lr(it) == pytest.approx(lr, rel=6e-6)
        assert s.momentum(it) == pytest.approx(mom, rel=6e-6)
        if it >= 2 * log["args"][2]:
            assert held.momentum(it) == held.momentum_range[0]  # our default holds it instead


def test_caffe_tail_momentum_keeps_halving():
    s = one_cycle(0.1, 1.0, 10, 100, tail_momentum="caffe")
    assert s.momentum(20) == pytest.approx(0.95)
    assert s.momentum(30) == pytest.approx(0.90)   # half-amplitude dip
    assert s.momentum(40) == pytest.approx(0.95)
    assert s.momentum(50) == pytest.approx(0.925)  # quarter
    assert s.lr(30) == s.lr(99) == s.tail_lr


def test_headline_run_shape():
    h = headline()
    assert h.total_steps == 10_000
    assert h.lr(0) == 0.1 and h.lr(5000) == 3.0
    assert h.lr(9999) == pytest.approx(0.1 + 2.9 / 5000, rel=1e-13)
    assert h.lr(10_000) == h.lr(9999)  # holds
    assert {h.momentum(i) for i in range(0, 10_000, 97)} == {0.9}
    # the authors' log (super-convergence Results/clr3SS5kFig1a, Caffe "triangular")
    for it, lr in [(100, 0.158), (4900, 2.942), (5400, 2.768), (9900, 0.158)]:
        assert h.lr(it) == pytest.approx(lr, rel=1e-12)
    # the same run, spelled as one_cycle and as CLR
    oc = one_cycle(0.1, 3.0, 5000, 10000, momentum=0.9, descend_to="base")
    c = clr(0.1, 3.0, 5000, momentum=0.9, total_steps=10_000)
    its = list(range(0, 10_000, 37)) + [4999, 5000, 5001, 9998, 9999]
    _assert_close([oc.lr(i) for i in its], [h.lr(i) for i in its], rtol=0)
    _assert_close([c.lr(i) for i in its], [h.lr(i) for i in its], rtol=1e-13)
    assert oc == h


# ------------------------------------------------------------------------------------------------
# indexing, hold past the end, sampling, describe
# ------------------------------------------------------------------------------------------------

ALL = [
    clr(0.001, 0.006, 20, mode="triangular2", momentum=(0.95, 0.85), total_steps=90),
    clr(0.001, 0.006, 20),
    one_cycle(0.1, 1.0, 20, 50),
    headline(),
    one_cycle_torch(0.5, 77, three_phase=True),
    piecewise_constant(0.35, [50, 70], momentum=0.9, total_steps=80),
    fixed(0.1),
    exponential(0.1, 0.99, total_steps=40),
    inv(0.01, momentum=0.9),
    cosine(0.4, 60, 0.004, momentum=0.9, warmup_steps=6, warmup_from=0.1),
    wsd(0.4, 60, cooldown="linear"),
    triangle(0.4, 60, momentum=0.85),
]


@pytest.mark.parametrize("s", ALL, ids=lambda s: type(s).__name__)
def test_common_contract(s):
    assert isinstance(s, Schedule)
    with pytest.raises(ValueError, match="it"):
        s.lr(-1)
    with pytest.raises(ValueError, match="it"):
        s.momentum(-5)
    with pytest.raises(TypeError):
        s.lr(1.5)
    assert s.lr(np.int64(3)) == s.lr(3) == s(3)
    n = s.total_steps
    if n is not None:
        assert s.lr(n) == s.lr(n + 12345) == s.lr(n - 1)
        assert s.momentum(n + 7) == s.momentum(n - 1)
    d = s.describe()
    assert isinstance(d, str) and d and "\n" not in d
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.total_steps = 3
    its, lrs, moms = s.sample(0, 100, 3)
    assert its.dtype == np.int64 and lrs.dtype == np.float64 and len(its) == len(lrs) == 34
    _assert_close(lrs, [s.lr(int(i)) for i in its], rtol=0)
    if s.has_momentum:
        _assert_close(moms, [s.momentum(int(i)) for i in its], rtol=0)
    else:
        assert np.isnan(moms).all()


def test_sample_defaults_and_speed():
    s = one_cycle(0.1, 3.0, 36_000, 80_000)
    t0 = time.perf_counter()
    its, lrs, moms = s.sample()
    elapsed = time.perf_counter() - t0
    assert len(its) == 80_000 and its[0] == 0 and its[-1] == 79_999
    assert lrs.max() == 3.0 and moms.min() == 0.85
    assert elapsed < 0.5
    with pytest.raises(ValueError, match="stop"):
        clr(0.1, 1.0, 10).sample()
    assert len(clr(0.1, 1.0, 10).sample(stop=40)[0]) == 40


def test_schedules_are_values():
    assert clr(0.1, 1.0, 10) == clr(0.1, 1.0, 10)
    assert hash(one_cycle(0.1, 1.0, 10, 30)) == hash(one_cycle(0.1, 1.0, 10, 30))
    assert clr(0.1, 1.0, 10).step_size_down == 10


# ------------------------------------------------------------------------------------------------
# the torch adapter
# ------------------------------------------------------------------------------------------------

def test_to_scheduler_is_lrscheduler_and_sets_batch0():
    s = one_cycle(0.1, 1.0, 10, 30, tail_momentum="caffe")
    model = torch.nn.Linear(3, 2)
    opt = SGD([{"params": [model.weight]}, {"params": [model.bias], "lr": 7.0}], lr=5.0,
              momentum=0.0)
    sch = s.to_scheduler(opt, lr_scales=[1.0, 1.0])  # every group on the schedule itself
    assert isinstance(sch, LRScheduler)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.1]
    assert [g["momentum"] for g in opt.param_groups] == [0.95, 0.95]
    assert sch.get_last_lr() == [0.1, 0.1]
    for k in range(1, 40):
        opt.step()
        sch.step()
        assert sch.last_epoch == k
        assert sch.get_last_lr() == [s.lr(k)] * 2
        assert all(g["momentum"] == s.momentum(k) for g in opt.param_groups)


def test_param_groups_keep_their_ratio_to_the_first():
    s = one_cycle(0.1, 1.0, 10, 30)
    model = torch.nn.Linear(3, 2)
    opt = SGD([{"params": [model.weight], "lr": 0.01}, {"params": [model.bias], "lr": 0.1}], momentum=0.9)
    sch = s.to_scheduler(opt)
    assert sch.lr_scales == [1.0, 10.0]
    for k in range(1, 35):
        opt.step()
        sch.step()
        assert sch.get_last_lr() == [s.lr(k), s.lr(k) * 10.0]
    with pytest.raises(ValueError, match=r"lr_scales=\[1\.0\] is not allowed; allowed: one number per param group \(2\)"):
        s.to_scheduler(SGD([{"params": [model.weight]}, {"params": [model.bias]}], lr=0.1), lr_scales=[1.0])
    with pytest.raises(ValueError, match=r"lr_scales\[1\]=0 is not allowed"):
        s.to_scheduler(SGD([{"params": [model.weight]}, {"params": [model.bias]}], lr=0.1), lr_scales=[1.0, 0])


def test_param_group_ratios_equal_torch_one_cycle_with_a_list_of_max_lr():
    """torch's OneCycleLR with ``max_lr=[m, r*m]`` is one_cycle_torch(m) with groups 1 : r."""
    from torch.optim.lr_scheduler import OneCycleLR
    n, m, r = 60, 0.4, 0.25
    w1, w2 = (torch.nn.Parameter(torch.zeros(2)) for _ in range(2))
    opt_t = SGD([{"params": [w1]}, {"params": [w2]}], lr=1.0, momentum=0.9)
    ref = OneCycleLR(opt_t, max_lr=[m, r * m], total_steps=n)
    opt_s = SGD([{"params": [w1.detach().clone()], "lr": 1.0}, {"params": [w2.detach().clone()], "lr": r}],
                momentum=0.9)
    ours = one_cycle_torch(m, n).to_scheduler(opt_s)
    for _ in range(n - 1):
        for got, want in zip(ours.get_last_lr(), ref.get_last_lr()):
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert [g["momentum"] for g in opt_s.param_groups] == pytest.approx([g["momentum"] for g in opt_t.param_groups])
        opt_t.step(); opt_s.step(); ref.step(); ours.step()


def test_load_state_dict_refuses_another_schedules_state():
    model = torch.nn.Linear(3, 2)
    s = one_cycle(0.1, 1.0, 10, 30)
    sch = s.to_scheduler(SGD(model.parameters(), lr=0.1, momentum=0.9))
    for _ in range(5):
        sch.optimizer.step(); sch.step()
    state = sch.state_dict()
    same = one_cycle(0.1, 1.0, 10, 30).to_scheduler(SGD(model.parameters(), lr=0.1, momentum=0.9))
    same.load_state_dict(state)
    assert same.last_epoch == 5 and same.get_last_lr() == sch.get_last_lr()
    other = one_cycle(0.1, 1.0000001, 10, 30).to_scheduler(SGD(model.parameters(), lr=0.1, momentum=0.9))
    with pytest.raises(ValueError, match="saved by another schedule"):
        other.load_state_dict(state)
    groups = SGD([{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.2}], momentum=0.9)
    with pytest.raises(ValueError, match="lr_scales"):
        s.to_scheduler(groups).load_state_dict(state)


def test_schedule_plot_draws_lr_and_momentum():
    import matplotlib
    matplotlib.use("Agg")
    s = one_cycle(0.1, 1.0, 10, 30)
    ax = s.plot()
    assert len(ax.lines) == 1 and list(ax.lines[0].get_ydata()) == [s.lr(i) for i in range(30)]
    assert len(ax.figure.axes) == 2  # the momentum on a right-hand axis
    with pytest.raises(ValueError, match="stop"):
        fixed(0.1).plot()
    assert len(fixed(0.1).plot(stop=5).figure.axes) == 1  # no momentum, no second axis


def test_to_scheduler_adam_beta1():
    s = clr(1e-4, 1e-3, 5, momentum=(0.95, 0.85))
    opt = Adam(_params(), lr=1.0, betas=(0.9, 0.98))
    lrs, b1 = _record(opt, s.to_scheduler(opt), 23)
    _assert_close(lrs, [s.lr(i) for i in range(23)], rtol=0)
    _assert_close(b1, [s.momentum(i) for i in range(23)], rtol=0)
    assert opt.param_groups[0]["betas"][1] == 0.98


def test_to_scheduler_momentumless_optimizer():
    opt = Adagrad(_params(), lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        clr(0.1, 1.0, 5, momentum=(0.95, 0.85)).to_scheduler(opt)
    sch = clr(0.1, 1.0, 5).to_scheduler(opt)  # no momentum: fine
    lrs, _ = _record(opt, sch, 12)
    _assert_close(lrs, [clr(0.1, 1.0, 5).lr(i) for i in range(12)], rtol=0)


def _train(model, opt, sch, steps, x, y):
    lrs = []
    for _ in range(steps):
        lrs.append((opt.param_groups[0]["lr"], _mom(opt.param_groups[0])))
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        sch.step()
    return lrs


@pytest.mark.parametrize("opt_kind", ["sgd", "adam"])
@pytest.mark.parametrize("order", ["scheduler_first", "optimizer_first"])
def test_to_scheduler_resume_is_exact(opt_kind, order):
    s = one_cycle(0.01, 0.1, 6, 20, tail_momentum="caffe")
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    y = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))

    def make():
        torch.manual_seed(123)
        model = torch.nn.Linear(4, 2)
        opt = (SGD(model.parameters(), lr=0.5, momentum=0.5, nesterov=True) if opt_kind == "sgd"
               else Adam(model.parameters(), lr=0.5))
        return model, opt

    model, opt = make()
    sch = s.to_scheduler(opt)
    full = _train(model, opt, sch, 20, x, y)
    want = [p.detach().clone() for p in model.parameters()]

    model, opt = make()
    sch = s.to_scheduler(opt)
    first = _train(model, opt, sch, 10, x, y)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sch": sch.state_dict()},
               buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)  # plain data only

    model2, opt2 = make()
    if order == "scheduler_first":
        sch2 = s.to_scheduler(opt2)
        opt2.load_state_dict(ckpt["opt"])
    else:
        opt2.load_state_dict(ckpt["opt"])
        sch2 = s.to_scheduler(opt2)  # resets the optimizer to batch 0 ...
    sch2.load_state_dict(ckpt["sch"])  # ... and this puts it back on batch 10
    model2.load_state_dict(ckpt["model"])
    assert sch2.last_epoch == 10 and sch2.get_last_lr() == [s.lr(10)]
    second = _train(model2, opt2, sch2, 10, x, y)
    assert first + second == full
    for p, w in zip(model2.parameters(), want):
        assert torch.equal(p.detach(), w)


def test_scheduler_state_dict_records_schedule():
    s = clr(0.1, 1.0, 5)
    opt = _optimizer("sgd")
    state = s.to_scheduler(opt).state_dict()
    assert state["schedule"] == s.describe() and state["last_epoch"] == 0


# ------------------------------------------------------------------------------------------------
# validation: every error names its parameter
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make,param", [
    (lambda: clr(0.1, 0.1, 10), "base_lr"),
    (lambda: clr(0.2, 0.1, 10), "base_lr"),
    (lambda: clr(-0.1, 0.1, 10), "base_lr"),
    (lambda: clr(0.1, float("inf"), 10), "max_lr"),
    (lambda: clr(0.1, 1.0, 0), "step_size"),
    (lambda: clr(0.1, 1.0, -5), "step_size"),
    (lambda: clr(0.1, 1.0, 2.5), "step_size"),
    (lambda: clr(0.1, 1.0, 5, step_size_down=0), "step_size_down"),
    (lambda: clr(0.1, 1.0, 5, mode="foo"), "mode='foo' is not a CLR mode; allowed: "
                                           "'triangular', 'triangular2', 'exp_range'"),
    (lambda: clr(0.1, 1.0, 5, mode="exp_range", gamma=0.0), "gamma"),
    (lambda: clr(0.1, 1.0, 5, mode="exp_range", gamma=-0.9), "gamma"),
    (lambda: clr(0.1, 1.0, 5, gamma=0.9), "gamma"),
    (lambda: clr(0.1, 1.0, 5, momentum=(0.95, 1.0)), "momentum"),
    (lambda: clr(0.1, 1.0, 5, momentum=-0.1), "momentum"),
    (lambda: clr(0.1, 1.0, 5, momentum=(0.9, 0.8, 0.7)), "momentum"),
    (lambda: clr(0.1, 1.0, 5, exp_range_shrinks="bounds"), "exp_range_shrinks"),
    (lambda: clr(0.1, 1.0, 5, exp_range_shrinks="both"), "exp_range_shrinks"),
    (lambda: clr(0.1, 1.0, 5, total_steps=0), "total_steps"),
    (lambda: one_cycle(0.1, 1.0, 10, 19), "total_steps"),
    (lambda: one_cycle(1.0, 0.1, 10, 30), "base_lr"),
    (lambda: one_cycle(0.1, 1.0, 0, 30), "step_size"),
    (lambda: one_cycle(0.1, 1.0, 10, 30, tail_lr=-1e-4), "tail_lr"),
    (lambda: one_cycle(0.1, 1.0, 10, 30, momentum=(1.2, 0.85)), "momentum"),
    (lambda: one_cycle(0.1, 1.0, 10, 30, descend_to="min"), "descend_to"),
    (lambda: one_cycle(0.1, 1.0, 10, 30, tail_momentum="dip"), "tail_momentum"),
    (lambda: one_cycle_torch(0.1, 0), "total_steps"),
    (lambda: one_cycle_torch(-0.1, 10), "max_lr"),
    (lambda: one_cycle_torch(0.1, 10, pct_start=1.1), "pct_start"),
    (lambda: one_cycle_torch(0.1, 10, pct_start=0.1), "pct_start"),
    (lambda: one_cycle_torch(0.1, 10, anneal_strategy="CATS"), "anneal_strategy"),
    (lambda: one_cycle_torch(0.1, 10, div_factor=0), "div_factor"),
    (lambda: one_cycle_torch(0.1, 10, final_div_factor=-1), "final_div_factor"),
    (lambda: one_cycle_torch(0.1, 10, max_momentum=1.0), "max_momentum"),
    (lambda: one_cycle_torch(0.1, 10, base_momentum=-0.5), "base_momentum"),
    (lambda: piecewise_constant(0.35, [70, 50]), "milestones"),
    (lambda: piecewise_constant(0.35, [50, 50]), "milestones"),
    (lambda: piecewise_constant(0.35, [0, 50]), "milestones"),
    (lambda: piecewise_constant(0.35, [50], gamma=0), "gamma"),
    (lambda: piecewise_constant(-0.35, [50]), "base_lr"),
    (lambda: piecewise_constant(0.35, [50], momentum=(0.9, 0.8)), "momentum"),
    (lambda: fixed(-1.0), "lr"),
    (lambda: fixed(0.1, momentum=1.5), "momentum"),
    (lambda: exponential(0.1, 0.0), "gamma"),
    (lambda: exponential(-0.1, 0.9), "base_lr"),
    (lambda: inv(0.01, gamma=-1e-4), "gamma"),
    (lambda: inv(0.01, power=-0.75), "power"),
])
def test_bad_arguments_name_the_parameter(make, param):
    with pytest.raises(ValueError, match=re.escape(param)):
        make()


# ------------------------------------------------------------------------------------------------
# the schedules practice uses now: cosine, WSD, airbench's triangle
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,eta_min", [(100, 0.0), (37, 0.002), (2, 0.0)])
@pytest.mark.parametrize("opt_kind", ["sgd", "adamw"])
def test_cosine_equals_cosineannealinglr(n, eta_min, opt_kind):
    opt = _optimizer(opt_kind, lr=0.4)
    t_lrs, _ = _record(opt, CosineAnnealingLR(opt, T_max=n, eta_min=eta_min), n)
    s = cosine(0.4, n, eta_min)
    _assert_close([s.lr(i) for i in range(n)], t_lrs, rtol=1e-9, atol=1e-15)  # torch's form is recursive
    assert s.momentum(0) is None and s.lr(n + 5) == s.lr(n - 1)


@pytest.mark.parametrize("warmup,start", [(10, 0.1), (1, 0.5), (25, 0.01)])
def test_cosine_with_warmup_equals_torchs_sequence(warmup, start):
    n = 120
    opt = _optimizer("sgd", lr=0.4)
    seq = SequentialLR(opt, [LinearLR(opt, start_factor=start, total_iters=warmup),
                             CosineAnnealingLR(opt, T_max=n - warmup)], milestones=[warmup])
    t_lrs, _ = _record(opt, seq, n)
    s = cosine(0.4, n, warmup_steps=warmup, warmup_from=start)
    _assert_close([s.lr(i) for i in range(n)], t_lrs, rtol=1e-9, atol=1e-15)


def test_wsd_linear_equals_torchs_sequence_and_sqrt_follows_the_paper():
    n, warm, frac = 200, 20, 0.2
    d = 40  # ceil(0.2 * 200)
    opt = _optimizer("sgd", lr=0.4)
    seq = SequentialLR(opt, [LinearLR(opt, start_factor=0.05, total_iters=warm),
                             ConstantLR(opt, factor=1.0, total_iters=n - d - warm),
                             LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=d)],
                       milestones=[warm, n - d])
    t_lrs, _ = _record(opt, seq, n)
    lin = wsd(0.4, n, frac, "linear", warmup_steps=warm, warmup_from=0.05)
    _assert_close([lin.lr(i) for i in range(n)], t_lrs, rtol=1e-9, atol=1e-15)
    # Hägele et al. (arXiv 2405.18392), (1 - sqrt): eta_max * (1 - sqrt((n - n_decay_start) / n_decay))
    sq = wsd(0.4, n, frac, "1-sqrt")
    want = [0.4 if i < n - d else 0.4 * (1 - math.sqrt((i - (n - d)) / d)) for i in range(n)]
    _assert_close([sq.lr(i) for i in range(n)], want, rtol=1e-12)
    assert sq.decay_start == 160 and sq.lr(159) == 0.4 and sq.lr(160) == 0.4 and sq.lr(199) > 0
    # (1 - sqrt) drops faster than linear as soon as the cooldown starts: sqrt(x) > x on (0, 1)
    assert all(sq.lr(i) < lin.lr(i) for i in range(161, 200))


def test_triangle_equals_airbenchs_table():
    n = 97
    peak = 0.23
    # airbench94.py: a table over steps 0..n, linear through (0, 0.2), (int(0.23 n), 1), (n, 0.07),
    # read by LambdaLR at the scheduler's step count
    table = np.interp(np.arange(n + 1), [0, int(peak * n), n], [0.2, 1.0, 0.07])
    opt = _optimizer("sgd", lr=0.6)
    t_lrs, _ = _record(opt, LambdaLR(opt, lambda i: float(table[i])), n)
    s = triangle(0.6, n)
    _assert_close([s.lr(i) for i in range(n)], t_lrs, rtol=1e-12)
    assert s.peak_step == 22 and s.lr(22) == 0.6 and s.lr(0) == pytest.approx(0.12)


@pytest.mark.parametrize("make,match", [
    (lambda: cosine(0.1, 1), "total_steps"),
    (lambda: cosine(0.1, 10, min_lr=0.2), "min_lr"),
    (lambda: cosine(0.1, 10, warmup_steps=10), "warmup_steps"),
    (lambda: wsd(0.1, 10, cooldown="cosine"), "cooldown"),
    (lambda: wsd(0.1, 10, decay_fraction=0.0), "decay_fraction"),
    (lambda: wsd(0.1, 10, 0.5, warmup_steps=6), "warmup_steps"),
    (lambda: triangle(0.1, 10, peak_at=0.05), "peak_at"),
    (lambda: triangle(0.1, 10, end=1.5), "end"),
])
def test_modern_schedules_refuse_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_run_specs_name_the_modern_schedules():
    assert experiments.build_schedule({"kind": "cosine", "max_lr": 0.4, "total_steps": 100, "warmup_steps": 5}) == \
        cosine(0.4, 100, warmup_steps=5)
    assert experiments.build_schedule({"kind": "wsd", "max_lr": 0.4, "total_steps": 100, "cooldown": "linear"}) == \
        wsd(0.4, 100, cooldown="linear")
    assert experiments.build_schedule({"kind": "triangle", "max_lr": 2.0, "total_steps": 50}) == triangle(2.0, 50)
