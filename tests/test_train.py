"""The training loop: determinism, exact resume, divergence handling, validation, learning."""

import copy
import math
import os
import warnings

import pytest
import torch

from superconv import data, models, train
from superconv.schedules import ScheduleEndWarning, one_cycle
from superconv.train import History, evaluate, fit, recompute_bn_stats
from toy import Interrupt, KillAt, small_model, toy_split

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def run(iterations=30, **kw):
    kw.setdefault("lr", lambda it: 0.05 + 0.01 * it)
    kw.setdefault("momentum", 0.9)
    return fit(small_model(), toy_split(), toy_split(128, seed=1, train=False), iterations=iterations,
               batch_size=32, weight_decay=5e-4, eval_every=10, progress=False, log_every=7, **kw)


def comparable(h: History) -> dict:
    d = h.to_dict()
    d.pop("wall_time")
    d.pop("eval_time")
    return d


def test_history_records_every_iteration():
    lr = lambda it: 0.01 * (it + 1)
    mom = lambda it: 0.95 - 0.001 * it
    h = run(iterations=25, lr=lr, momentum=mom)
    assert h.iterations == 25 and not h.diverged
    assert h.lr == [lr(i) for i in range(25)]
    assert h.momentum == pytest.approx([mom(i) for i in range(25)])
    assert len(h.train_loss) == 25 and all(math.isfinite(v) for v in h.train_loss)
    assert h.eval_iters == [10, 20, 25]
    assert len(h.test_acc) == len(h.test_loss) == 3
    assert 0 <= h.train_acc <= 100 and h.generalization_gap == h.train_acc - h.test_acc[-1]
    assert h.config["batch_size"] == 32 and h.config["torch"] == torch.__version__
    assert 0 < h.eval_time < h.wall_time and h.train_time == h.wall_time - h.eval_time


def test_schedule_object_supplies_lr_and_momentum():
    class Sched:
        def lr(self, it): return 0.1
        def momentum(self, it): return 0.8
    h = fit(small_model(), toy_split(), None, Sched(), iterations=5, batch_size=32, progress=False)
    assert h.lr == [0.1] * 5 and h.momentum == [0.8] * 5


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("sgd", ["torch", "caffe"])
def test_same_seed_gives_identical_history(precision, sgd):
    a = run(precision=precision, sgd=sgd, seed=3)
    b = run(precision=precision, sgd=sgd, seed=3)
    assert comparable(a) == comparable(b)
    c = run(precision=precision, sgd=sgd, seed=4)
    assert c.train_loss != a.train_loss


@pytest.mark.parametrize("kill_at", [14, 20, 29])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, kill_at):
    ref_model = small_model()
    ref = fit(ref_model, toy_split(), toy_split(128, 1, False), lambda it: 0.05 + 0.01 * it, 0.9,
              iterations=30, batch_size=32, eval_every=10, progress=False, log_every=7)
    ckpt = tmp_path / "run.ckpt"
    args = dict(iterations=30, batch_size=32, eval_every=10, progress=False, log_every=7,
                checkpoint=ckpt, checkpoint_every=10)
    with pytest.raises(Interrupt):
        fit(small_model(), toy_split(), toy_split(128, 1, False), lambda it: 0.05 + 0.01 * it, 0.9,
            callbacks=[KillAt(kill_at)], **args)
    assert ckpt.exists()
    resumed_model = small_model(seed=99)  # different init: everything must come from the checkpoint
    h = fit(resumed_model, toy_split(), toy_split(128, 1, False), lambda it: 0.05 + 0.01 * it, 0.9, **args)
    assert comparable(h) == comparable(ref)
    for (k, a), (_, b) in zip(ref_model.state_dict().items(), resumed_model.state_dict().items()):
        assert torch.equal(a, b), k
    # a finished run is loaded, not retrained, and its checkpoint is not overwritten
    mtime = os.path.getmtime(ckpt)
    again = fit(small_model(), toy_split(), toy_split(128, 1, False), lambda it: 0.05 + 0.01 * it, 0.9, **args)
    assert comparable(again) == comparable(ref) and os.path.getmtime(ckpt) == mtime


def test_checkpoint_of_another_run_is_refused(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    run(iterations=10, checkpoint=ckpt, checkpoint_every=5)
    with pytest.raises(ValueError, match="different run.*lr_at"):
        run(iterations=10, lr=0.123, checkpoint=ckpt, checkpoint_every=5)
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint"):
        run(iterations=10, checkpoint=ckpt)


@pytest.mark.parametrize("lr", [1e4, 1e30])
def test_divergence_is_recorded_not_raised(lr):
    h = run(iterations=40, lr=lambda it: lr if it >= 3 else 0.1)
    assert h.diverged and h.diverged_at is not None and 3 <= h.diverged_at < 40
    assert h.iterations < 40 and h.train_acc is None


def test_callback_can_stop_the_run():
    class StopAfter:
        def on_log(self, ctx):
            return ctx.it >= 14
    h = run(iterations=30, callbacks=[StopAfter()])
    # host syncs come log_every=7 steps after the previous one and at evaluations (every 10):
    # 7, 10, 17 -> the first at or after 14 is 17
    assert h.stopped_by == "StopAfter" and h.iterations == 17 and len(h.train_loss) == 17


def test_bn_momentum_is_set():
    model = small_model()
    fit(model, toy_split(), None, 0.1, iterations=2, batch_size=32, bn_momentum=0.05, progress=False)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.05 for m in bns)


@pytest.mark.parametrize("kwargs, name", [
    (dict(batch_size=10_000), "batch_size"),
    (dict(lr=-0.1), "lr"),
    (dict(lr=float("nan")), "lr"),
    (dict(momentum=1.5), "momentum"),
    (dict(precision="fp16"), "precision"),
    (dict(sgd="adam"), "sgd"),
    (dict(iterations=0), "iterations"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(eval_every=0), "eval_every"),
    (dict(bn_momentum=2.0), "bn_momentum"),
    (dict(checkpoint_every=5), "checkpoint"),
    (dict(precise_bn=0), "precise_bn"),
    (dict(precise_bn=True), "precise_bn"),
    (dict(precise_bn=2.5), "precise_bn"),
])
def test_bad_parameters_fail_before_work(kwargs, name):
    model = small_model()
    before = [p.clone() for p in model.parameters()]
    args = dict(lr=0.1, momentum=0.9, iterations=5, batch_size=32, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        fit(model, toy_split(), None, **args)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("kwargs, line", [
    (dict(iterations=0), "iterations=0 is not allowed; allowed: an integer >= 1"),
    (dict(batch_size=10_000), "batch_size=10000 is larger than the training data (256 samples); allowed: 1..256"),
    (dict(sgd="adam"), "sgd='adam' is not allowed; allowed: 'torch', 'caffe'"),
    (dict(eval_every=0), "eval_every=0 is not allowed; allowed: None or an integer >= 1"),
    (dict(lr=-0.1), "lr(0)=-0.1 is not allowed; allowed: a finite number >= 0"),
])
def test_bad_parameters_are_one_line_that_names_them_and_what_is_allowed(kwargs, line):
    from superconv._checks import ParameterError
    args = dict(lr=0.1, momentum=0.9, iterations=5, batch_size=32, progress=False)
    args.update(kwargs)
    with pytest.raises(ParameterError) as err:
        fit(small_model(), toy_split(), None, **args)
    assert str(err.value) == line


def test_history_saves_and_loads_non_finite_losses(tmp_path):
    h = History(train_loss=[0.5, float("nan")], test_loss=[float("inf")], test_acc=[50.0], eval_iters=[2])
    h.save(tmp_path / "h.json")
    back = History.load(tmp_path / "h.json")
    assert back.train_loss[0] == 0.5 and math.isnan(back.train_loss[1]) and back.test_loss == [float("inf")]


def test_learns_the_toy_task():
    # fp32: a threshold on trained accuracy must not rest on one CPU's bf16 numerics (bf16 is
    # the default where the CPU has AMX/AVX512-BF16, and its rounding differs between CPUs)
    h = run(iterations=120, lr=0.05, precision="fp32")
    assert h.test_acc[-1] > 75  # chance is 50 %


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="Debian's dataset-fashion-mnist is not installed")
def test_learns_real_fashion_mnist():
    train = data.balanced_subset(data.load("fashion-mnist", train=True), 2000, seed=0)
    test = data.load("fashion-mnist", train=False).subset(torch.arange(1000))
    torch.manual_seed(0)
    model = models.cifar_resnet(8, in_channels=1, width=8)
    tri = lambda it: 0.05 + 0.45 * (1 - abs(it - 100) / 100)  # one triangle 0.05 -> 0.5 -> 0.05
    h = fit(model, train, test, tri, 0.9, iterations=200, precision="fp32",  # fp32: as above
            batch_size=64, weight_decay=5e-4, progress=False)
    assert not h.diverged
    assert h.test_acc[-1] > 72, h.test_acc  # chance is 10 %
    loss, acc = evaluate(model, test, precision="fp32")
    assert acc == pytest.approx(h.test_acc[-1]) and loss == pytest.approx(h.test_loss[-1], rel=1e-6)


def test_evaluation_batch_defaults_per_device_and_does_not_change_the_numbers():
    assert train.resolve_eval_batch(torch.device("cpu")) == train.EVAL_BATCH["cpu"] == 256
    assert train.resolve_eval_batch(torch.device("cuda")) == train.EVAL_BATCH_OTHER == 1000
    assert train.resolve_eval_batch(torch.device("cpu"), 77) == 77
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="eval batch_size="):
            train.resolve_eval_batch(torch.device("cpu"), bad)
    test = toy_split(600, seed=3, train=False)
    model = small_model()
    ref = evaluate(model, test, batch_size=600, precision="fp32")
    for bs in (None, 7, 256):  # batches of every size, the last one ragged
        loss, acc = evaluate(model, test, batch_size=bs, precision="fp32")
        assert acc == ref[1] and loss == pytest.approx(ref[0], rel=1e-5)
    with pytest.raises(ValueError, match="eval batch_size="):
        fit(model, test, test, 0.1, iterations=1, batch_size=8, eval_batch_size=0, progress=False)


# --------------------------------------------------------------------------- precise BN

class _FixedBatches:
    """``batch(i)`` -> the i-th of the given tensors (what ``recompute_bn_stats`` reads)."""

    def __init__(self, xs):
        self.xs = xs

    def batch(self, i):
        return self.xs[i], None


def test_recompute_bn_stats_is_the_plain_average_of_batch_statistics():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(3, momentum=0.001)
    model = torch.nn.Sequential(bn, torch.nn.Dropout(0.5))
    xs = [torch.randn(16, 3, 4, 4) * (i + 1) + i for i in range(4)]
    model.eval()
    rng = torch.get_rng_state()
    assert recompute_bn_stats(model, _FixedBatches(xs), steps=3, precision="fp32") == 1
    mean = torch.stack([x.mean((0, 2, 3)) for x in xs[:3]]).mean(0)
    var = torch.stack([x.transpose(0, 1).reshape(3, -1).var(1) for x in xs[:3]]).mean(0)  # unbiased, as torch
    assert torch.allclose(bn.running_mean, mean, atol=1e-5) and torch.allclose(bn.running_var, var, atol=1e-4)
    assert bn.momentum == 0.001 and not model.training            # restored
    assert torch.equal(torch.get_rng_state(), rng)                 # dropout's draws did not move the RNG


def test_precise_bn_repairs_stale_moving_averages():
    # a slow moving average (0.001) that has barely left its initial values: evaluated as
    # trained it is a coin toss; recomputed from the final weights it shows what they learned
    # fp32: "auto" is bf16 on CPUs with AMX/AVX512-BF16, where the margin was 14.8 points instead of 25
    args = dict(lr=0.05, momentum=0.9, iterations=60, batch_size=32, bn_momentum=0.001, precision="fp32",
                progress=False)
    stale = fit(small_model(), toy_split(), toy_split(128, 1, False), **args)
    precise = fit(small_model(), toy_split(), toy_split(128, 1, False), precise_bn=256, **args)
    assert precise.train_loss == stale.train_loss                  # training itself is untouched
    assert precise.config["precise_bn"] == 256 and "precise_bn" not in stale.config
    assert precise.test_acc[-1] >= stale.test_acc[-1] + 15 and precise.train_acc >= 90
    # the moving averages ran on untouched by the evaluations: the accuracy they give is the stale run's
    assert precise.moving_average_test_acc == stale.test_acc[-1] and stale.moving_average_test_acc is None


def test_precise_bn_run_resumes_to_the_same_result(tmp_path):
    args = dict(iterations=30, batch_size=32, eval_every=10, progress=False, log_every=7, precise_bn=64,
                bn_momentum=0.001, checkpoint=tmp_path / "run.ckpt", checkpoint_every=10)
    ref = fit(small_model(), toy_split(), toy_split(128, 1, False), 0.05, 0.9,
              **{**args, "checkpoint": tmp_path / "ref.ckpt"})
    with pytest.raises(Interrupt):
        fit(small_model(), toy_split(), toy_split(128, 1, False), 0.05, 0.9, callbacks=[KillAt(17)], **args)
    h = fit(small_model(seed=5), toy_split(), toy_split(128, 1, False), 0.05, 0.9, **args)
    assert comparable(h) == comparable(ref)


def test_precise_bn_when_a_callback_stops_the_run_at_an_evaluation():
    # the run ends at a mid-run evaluation point: its final numbers still use recomputed statistics
    class StopAt10:
        def on_log(self, ctx):
            return ctx.it >= 10
    model = small_model()
    h = fit(model, toy_split(), toy_split(128, 1, False), 0.05, 0.9, iterations=30, batch_size=32, eval_every=10,
            log_every=7, precision="fp32", bn_momentum=0.001, precise_bn=64, progress=False, callbacks=[StopAt10()])
    assert h.stopped_by == "StopAt10" and h.iterations == 10
    fresh = copy.deepcopy(model)
    recompute_bn_stats(fresh, data.Batches(toy_split(), 32, seed=0, flip=True), steps=2, precision="fp32")
    for (k, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), k


def test_precise_bn_is_ignored_by_a_model_without_batchnorm():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    h = fit(model, toy_split(), toy_split(128, 1, False), 0.05, 0.9, iterations=10, batch_size=32,
            precise_bn=64, progress=False)
    assert h.moving_average_test_acc is None and h.config["precise_bn"] == 64


def test_old_records_have_no_evaluation_time_and_no_mixed_time_ratio():
    from superconv import experiments as ex
    old = History.from_dict({"eval_iters": [100], "test_acc": [90.0], "iterations": 100, "wall_time": 50.0})
    assert old.eval_time is None and old.train_time == 50.0
    new = History(eval_iters=[10, 20], test_acc=[80.0, 95.0], iterations=20, wall_time=12.0, eval_time=2.0)
    t = ex.time_to_accuracy(new, old)
    assert t["iteration_ratio"] == 5.0 and t["time_ratio"] is None and t["fast_seconds"] is None
    assert ex.mean_eval_time([new, old]) is None and ex.mean_eval_time([new, new]) == 2.0


def test_training_past_the_schedules_end_warns_once():
    with pytest.warns(ScheduleEndWarning, match=r"iterations=40\) trains past the schedule's end \(total_steps=30\)") as rec:
        run(iterations=40, lr=one_cycle(0.05, 0.2, 10, 30))
    assert len([w for w in rec if issubclass(w.category, ScheduleEndWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScheduleEndWarning)
        run(iterations=30, lr=one_cycle(0.05, 0.2, 10, 30))  # the schedule's own length: silent


def test_auto_precision_can_be_forced_to_fp32(monkeypatch):
    # SUPERCONV_AUTO_PRECISION=fp32: "auto" is fp32 on every device (how the suite is run without
    # bf16 to find results that hold on one CPU's bf16 numerics only); explicit precisions stay
    from superconv import devices
    cpu = torch.device("cpu")
    monkeypatch.setenv(devices.AUTO_ENV, "fp32")
    assert devices.resolve_precision("auto", cpu) == "fp32" and devices.resolve_precision("bf16", cpu) == "bf16"
    h = fit(small_model(), toy_split(), toy_split(64, 1, False), 0.05, 0.9, iterations=2, batch_size=32, progress=False)
    assert h.config["precision"] == "fp32"
    monkeypatch.setenv(devices.AUTO_ENV, "bf16")
    with pytest.raises(ValueError, match=r"^SUPERCONV_AUTO_PRECISION='bf16' is not allowed; allowed: 'fp32'"):
        devices.resolve_precision("auto", cpu)
    monkeypatch.setenv(devices.AUTO_ENV, "")
    assert devices.resolve_precision("auto", cpu) == ("bf16" if devices.bf16_supported(cpu) else "fp32")
