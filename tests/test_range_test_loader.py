"""The range test on a user's own DataLoader, optimizer and loss (issue 16, item 1): the same
LRs and losses as torch-lr-finder on the same model and data, everything restored afterwards,
parameter groups kept in ratio, clear errors for arguments that do not apply."""

import copy
import math

import matplotlib
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

matplotlib.use("Agg")

from superconv.range_test import LOADER_DEFAULTS, lr_range_test

from toy import small_model, toy_split

import torch_lr_finder  # noqa: E402  (a test dependency: requirements.txt)


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def loaders(n=96, batch=16, shuffle=False):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return (DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=shuffle),
            DataLoader(TensorDataset(x[:32], y[:32]), batch_size=batch))


def snapshot(model, opt):
    return ({k: v.clone() for k, v in model.state_dict().items()}, copy.deepcopy(opt.state_dict()),
            torch.get_rng_state().clone())


def test_same_lrs_and_losses_as_torch_lr_finder():
    train, _ = loaders()
    ours_model, their_model = mlp(), mlp()
    ours_opt = torch.optim.SGD(ours_model.parameters(), lr=1e-4, momentum=0.9)
    their_opt = torch.optim.SGD(their_model.parameters(), lr=1e-4, momentum=0.9)
    r = lr_range_test(ours_model, train, lr_min=1e-4, lr_max=1.0, iterations=30, mode="exp",
                      optimizer=ours_opt, criterion=nn.CrossEntropyLoss(), stop_factor=None)
    finder = torch_lr_finder.LRFinder(their_model, their_opt, nn.CrossEntropyLoss(), device="cpu")
    finder.range_test(train, end_lr=1.0, num_iter=30, step_mode="exp", smooth_f=0.0, diverge_th=1e9)
    assert len(r.lrs) == len(finder.history["lr"]) == 30
    for a, b in zip(r.lrs, finder.history["lr"]):
        assert a == pytest.approx(b, rel=1e-12)
    for a, b in zip(r.losses, finder.history["loss"]):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    # their exponential smoothing (no bias correction) is a different formula; ours starts at loss 0
    assert r.smoothed_losses[0] == pytest.approx(r.losses[0])


def test_validation_loss_matches_torch_lr_finder_every_iteration():
    train, val = loaders()
    ours_model, their_model = mlp(), mlp()
    ours_opt = torch.optim.SGD(ours_model.parameters(), lr=0.01, momentum=0.9)
    their_opt = torch.optim.SGD(their_model.parameters(), lr=0.01, momentum=0.9)
    r = lr_range_test(ours_model, train, val, 0.01, 0.5, 12, "linear", optimizer=ours_opt,
                      criterion=nn.CrossEntropyLoss(), eval_every=1, stop_factor=None)
    finder = torch_lr_finder.LRFinder(their_model, their_opt, nn.CrossEntropyLoss(), device="cpu")
    finder.range_test(train, val_loader=val, end_lr=0.5, num_iter=12, step_mode="linear", smooth_f=0.0,
                      diverge_th=1e9)
    assert r.eval_iters == list(range(1, 13))
    for a, b in zip(r.eval_loss, finder.history["loss"]):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    assert len(r.eval_acc) == 12 and all(0.0 <= a <= 100.0 for a in r.eval_acc)


def test_model_optimizer_and_rng_restored():
    train, val = loaders(shuffle=True)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.8, weight_decay=1e-3)
    loss = nn.CrossEntropyLoss()(model(torch.randn(4, 8)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    opt.step()  # a momentum buffer exists
    before = snapshot(model, opt)
    lr_range_test(model, train, val, 1e-3, 5.0, 25, optimizer=opt, momentum=0.95, seed=3)
    after = snapshot(model, opt)
    for k in before[0]:
        assert torch.equal(before[0][k], after[0][k])
    assert after[1]["param_groups"][0]["lr"] == 0.05 and after[1]["param_groups"][0]["momentum"] == 0.8
    for k, st in before[1]["state"].items():
        assert torch.equal(st["momentum_buffer"], after[1]["state"][k]["momentum_buffer"])
    assert torch.equal(before[2], after[2])


def test_seed_makes_a_shuffling_loader_repeatable():
    train, _ = loaders(shuffle=True)
    a = lr_range_test(mlp(), train, iterations=20, seed=5, stop_factor=None)
    b = lr_range_test(mlp(), train, iterations=20, seed=5, stop_factor=None)
    c = lr_range_test(mlp(), train, iterations=20, seed=6, stop_factor=None)
    assert a.losses == b.losses and a.losses != c.losses


def test_parameter_groups_keep_their_ratio():
    train, _ = loaders()
    model = mlp()
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.01},
                           {"params": model[2].parameters(), "lr": 0.1}], lr=0.01)
    seen = []
    step = opt.step

    def recording_step(*a, **k):
        seen.append([g["lr"] for g in opt.param_groups])
        return step(*a, **k)
    opt.step = recording_step
    r = lr_range_test(model, train, lr_min=1e-3, lr_max=1.0, iterations=10, optimizer=opt, stop_factor=None)
    for lr, (g0, g1) in zip(r.lrs, seen):
        assert g0 == pytest.approx(lr) and g1 == pytest.approx(10 * lr)


def test_adam_momentum_is_its_first_beta():
    train, _ = loaders()
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    betas = []
    step = opt.step

    def recording_step(*a, **k):
        betas.append(opt.param_groups[0]["betas"])
        return step(*a, **k)
    opt.step = recording_step
    lr_range_test(model, train, iterations=5, optimizer=opt, momentum=0.8, stop_factor=None)
    assert set(betas) == {(0.8, 0.99)}
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)


def test_loader_defaults_are_the_finders_and_stop_on_a_diverging_loss():
    train, val = loaders()
    r = lr_range_test(mlp(), train, val)
    assert (r.mode, r.lr_min, r.lr_max, r.iterations) == (LOADER_DEFAULTS["mode"], LOADER_DEFAULTS["lr_min"],
                                                          LOADER_DEFAULTS["lr_max"], LOADER_DEFAULTS["iterations"])
    assert r.config["optimizer"].startswith("SGD(momentum=0.9")
    assert r.eval_iters[0] == 5  # every iterations // 20
    # LR 10 with plain SGD on this net blows the loss up: the smoothed-loss rule stops the test
    assert r.stopped_early and "stop_factor" in r.stop_reason
    assert r.suggestions()["steepest"].lr is not None


def test_regression_outputs_give_loss_but_no_accuracy():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = x.sum(dim=1, keepdim=True)
    train = DataLoader(TensorDataset(x, y), batch_size=16)
    torch.manual_seed(0)
    r = lr_range_test(nn.Linear(4, 1), train, train, 1e-4, 0.1, 16, criterion=nn.MSELoss(), eval_every=4)
    assert r.eval_acc == [] and len(r.eval_loss) == 4 and all(math.isfinite(v) for v in r.eval_loss)


def test_a_one_shot_iterator_ends_the_test_early():
    train, _ = loaders(n=48)
    r = lr_range_test(mlp(), iter(list(train)), iterations=10, stop_factor=None)
    assert len(r.lrs) == 3 and r.stopped_early and "ran out" in r.stop_reason


@pytest.mark.parametrize("kwargs, name", [
    (dict(batch_size=32), "batch_size"),
    (dict(precision="fp32"), "precision"),
    (dict(log_every=5), "log_every"),
    (dict(optimizer="sgd"), "optimizer"),
    (dict(seed=-1), "seed"),
    (dict(momentum=1.5), "momentum"),
])
def test_arguments_that_do_not_apply_to_a_loader_are_named(kwargs, name):
    train, _ = loaders()
    with pytest.raises(ValueError, match=name):
        lr_range_test(mlp(), train, iterations=5, **kwargs)


def test_weight_decay_beside_a_users_optimizer_is_refused():
    train, _ = loaders()
    model = mlp()
    with pytest.raises(ValueError, match="weight_decay"):
        lr_range_test(model, train, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), weight_decay=1e-4)


def test_optimizer_with_a_split_is_refused_before_any_work():
    split = toy_split(32)
    model = mlp()
    with pytest.raises(ValueError, match="optimizer"):
        lr_range_test(model, split, split, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="criterion"):
        lr_range_test(model, split, split, criterion=nn.MSELoss())
    with pytest.raises(ValueError, match="train_data"):
        lr_range_test(model, 42)


def test_plot_marks_the_suggestions():
    train, val = loaders()
    r = lr_range_test(mlp(), train, val, iterations=60)
    ax = r.plot()
    labels = ax.get_legend().get_texts()
    names = [t.get_text() for t in labels]
    assert "smoothed loss" in names and any(n.startswith("steepest") for n in names)
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="suggestions"):
        r.plot(suggestions=("nope",))


# --------------------------------------------------------------------------- auto_one_cycle

from superconv import auto_one_cycle as aoc  # noqa: E402
from superconv import schedules  # noqa: E402


def test_auto_one_cycle_on_a_loader_reads_the_plateau_and_builds_the_schedule():
    train, val = loaders(n=192)
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    auto = aoc.auto_one_cycle(model, train, val, total_steps=200, lr_min=0.0, lr_max=3.0, iterations=80,
                              mode="linear", eval_every=4)
    assert auto.rule == "plateau" and auto.max_lr is not None
    assert auto.min_lr == pytest.approx(auto.max_lr / 10)
    b = auto.test.plateau_bounds(smooth=aoc.SMOOTH)
    assert (auto.max_lr, auto.usable) == (b.max_lr, b.usable)
    s = auto.schedule
    assert isinstance(s, schedules.OneCycle) and s.total_steps == 200 and s.step_size == 90
    assert s.lr(0) == pytest.approx(auto.min_lr) and s.lr(90) == pytest.approx(auto.max_lr)
    assert "plateau rule" in auto.report() and "max_lr" in str(auto)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    s.to_scheduler(opt)
    assert opt.param_groups[0]["lr"] == pytest.approx(auto.min_lr)
    ax = auto.plot()
    assert "auto_one_cycle" in ax.get_title()


def test_auto_one_cycle_without_validation_uses_the_loss_valley():
    train, _ = loaders(n=192)
    auto = aoc.auto_one_cycle(mlp(), train, total_steps=100)
    assert auto.rule == "loss valley"
    assert auto.max_lr == auto.test.valley().lr and auto.min_lr == pytest.approx(auto.max_lr / 10)
    assert "no validation accuracy" in auto.why


def test_auto_one_cycle_on_a_split_uses_fit():
    split = toy_split(64)
    torch.manual_seed(0)
    auto = aoc.auto_one_cycle(small_model(), split, toy_split(64, seed=1, train=False), total_steps=50,
                              iterations=20, eval_every=2, batch_size=16, precision="fp32", smooth=1)
    assert auto.rule == "plateau" and len(auto.test.eval_acc) == 10


@pytest.mark.parametrize("kwargs, name", [(dict(total_steps=2), "total_steps"), (dict(smooth=0), "smooth"),
                                          (dict(momentum=(1.5, 0.85)), "momentum")])
def test_auto_one_cycle_bad_arguments_before_the_test(kwargs, name, monkeypatch):
    def no_test(*a, **k):
        raise AssertionError("the range test must not run")
    monkeypatch.setattr(aoc, "lr_range_test", no_test)
    train, _ = loaders()
    with pytest.raises(ValueError, match=name):
        aoc.auto_one_cycle(mlp(), train, **kwargs)
