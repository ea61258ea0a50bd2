"""Fair evaluation (issue 14): no run that feeds a verdict is evaluated with stale BatchNorm
statistics. The rule (``experiments.stale_bn``): a run either recomputes BN statistics before it
evaluates (precise BN) or its moving-average window, 1 / bn_momentum iterations, is at most
``experiments.BN_WINDOW_FRACTION`` (a tenth) of its last LR stage -- where the paper's own PC-LR
run sits (a window of ~1,000 iterations against a last stage of 10,000)."""

import pytest

from superconv import experiments as E
from superconv.studies import (batch_size, calibration, clr, datasets, depth, hessian_free, less_data,
                               one_cycle, regularization)


def flat(x):
    """Every run spec inside nested dicts / lists / rows."""
    if isinstance(x, dict) and "schedule" in x and "iterations" in x:
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from flat(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from flat(v)
    elif hasattr(x, "specs"):
        yield from flat(x.specs)


def verdict_specs(profile):
    """The specs of every study whose runs feed a verdict, at ``profile``, by study."""
    reg = regularization.config(profile)
    out = {
        "calibration": calibration.candidate_specs(profile),
        "one_cycle sweep": one_cycle.sweep_specs(profile),
        "one_cycle ablation": one_cycle.ablation_specs(profile),
        "regularization WD": [regularization.sweep_spec(profile, p, wd) for p in regularization.POLICIES
                              for wd in reg["weight_decays"]],
        "regularization batch": [regularization.batch_spec(profile, b) for b in reg["batch_sizes"]],
        "less_data": less_data.specs(profile),
        "depth": depth.specs(profile),
        "batch_size": batch_size.specs(profile),
        "datasets": datasets.rows(profile),
        "clr": clr.specs(profile, [0]),
        "hessian_free": [hessian_free.run_spec(profile, hessian_free.CONFIGS[profile])],
    }
    return {k: list(flat(v)) for k, v in out.items()}


@pytest.mark.parametrize("profile", E.PROFILES)
def test_no_verdict_run_evaluates_with_stale_bn_statistics(profile):
    found = verdict_specs(profile)
    assert sum(len(v) for v in found.values()) > 20
    stale = [f"{name}: {E.describe(s)}: {E.stale_bn(s)}" for name, specs in found.items() for s in specs
             if E.stale_bn(s)]
    assert not stale, "\n".join(stale[:10])


def test_the_rule_flags_a_short_pc_lr_run_with_the_papers_window():
    spec = E.make_spec("paper", "pc_lr")  # 80k iterations, last stage 10k, window 1k: allowed
    assert E.last_stage(spec) == 10_000 and E.stale_bn(spec) is None
    short = E.make_spec("paper", "pc_lr", iterations=8000,  # the same shape at a tenth: last stage 1k
                        schedule=E.scale_schedule(spec["schedule"], 0.1))
    assert E.last_stage(short) == 1000 and "BN window 1,000" in E.stale_bn(short)
    assert E.stale_bn(dict(short, precise_bn=2000)) is None
    # fresh_bn cuts the window to a tenth of the last stage; budget_spec does that for a sweep
    fixed = E.fresh_bn(short)
    assert fixed["bn_momentum"] == 0.01 and E.stale_bn(fixed) is None and E.fresh_bn(spec) is spec
    assert E.budget_spec("paper", "pc_lr", 8000, eval_every=200) == fixed
    laptop = E.make_spec("laptop", "pc_lr")
    assert E.stale_bn({k: v for k, v in laptop.items() if k != "precise_bn"})  # 1,000 vs its last 800


def test_last_stage_per_schedule_kind():
    oc = E.make_spec("laptop", "one_cycle")  # 2 x 350 of cycle, then the 100-iteration tail
    assert E.last_stage(oc) == oc["iterations"] - 2 * oc["schedule"]["step_size"] == 100
    assert E.stale_bn({k: v for k, v in oc.items() if k != "precise_bn"})  # window 20 > 10: precise BN needed
    assert E.last_stage(E.make_spec("paper", "one_cycle")) == 5000  # the plain triangle: one ramp
    fixed = E.make_spec("laptop", schedule={"kind": "fixed", "lr": 0.1}, iterations=500)
    assert E.last_stage(fixed) == 500
    assert E.stale_bn(dict(fixed, precise_bn=None, bn_momentum=None)) is None  # torch's 0.1: window 10
