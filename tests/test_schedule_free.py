"""fit with AdamW and the schedulefree package's optimizers: the same result as the package's own
loop, evaluated at the average, anytime (a run cut at N is the run of N), resumable, refused with
a schedule."""

import pytest
import schedulefree
import torch
import torch.nn.functional as F

from superconv import data, optim
from superconv.train import fit
from superconv._checks import ParameterError
from toy import Interrupt, KillAt, small_model, toy_split

ARGS = dict(batch_size=32, weight_decay=5e-4, progress=False, log_every=7, precision="fp32", channels_last=False,
            flip=False)


def _manual(opt_cls, lr, iterations, **kw):
    """The schedulefree README's loop over fit's own batches: train(), steps, eval()."""
    model = small_model()
    batches = data.Batches(toy_split(), 32, seed=0, flip=False)
    opt = opt_cls(model.parameters(), lr=lr, weight_decay=5e-4, **kw)
    model.train()
    opt.train()
    for it in range(iterations):
        x, y = batches.batch(it)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    opt.eval()
    return model


@pytest.mark.parametrize("kind, cls, lr", [("sgd_schedulefree", schedulefree.SGDScheduleFree, 0.5),
                                           ("adamw_schedulefree", schedulefree.AdamWScheduleFree, 1e-2)])
def test_fit_equals_the_packages_own_loop_and_returns_the_average(kind, cls, lr):
    model = small_model()
    h = fit(model, toy_split(), None, lr, 0.9, iterations=20, optimizer=kind, warmup_steps=5, **ARGS)
    ref = _manual(cls, lr, 20, warmup_steps=5)
    assert not h.diverged and h.config["optimizer"] == kind and h.config["warmup_steps"] == 5
    for (k, a), (_, b) in zip(model.state_dict().items(), ref.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=k)


def test_adamw_is_torchs_with_decoupled_weight_decay():
    model = small_model()
    fit(model, toy_split(), None, 3e-3, 0.9, iterations=15, optimizer="adamw", **ARGS)
    ref = small_model()
    batches = data.Batches(toy_split(), 32, seed=0, flip=False)
    opt = torch.optim.AdamW(ref.parameters(), lr=3e-3, betas=(0.9, 0.999), weight_decay=5e-4)
    ref.train()
    for it in range(15):
        x, y = batches.batch(it)
        opt.zero_grad()
        F.cross_entropy(ref(x), y).backward()
        opt.step()
    for (k, a), (_, b) in zip(model.state_dict().items(), ref.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)


def test_a_schedule_free_run_cut_at_n_is_the_run_of_n():
    """Evaluations (with precise BN, at the average) do not disturb training, and the accuracy at
    iteration N of a longer run is that of a run of N iterations: one run gives every budget."""
    test = toy_split(128, seed=1, train=False)
    kw = dict(ARGS, optimizer="sgd_schedulefree", warmup_steps=4, precise_bn=64)
    long = fit(small_model(), toy_split(), test, 0.5, 0.9, iterations=24, eval_every=8, **kw)
    short = fit(small_model(), toy_split(), test, 0.5, 0.9, iterations=16, **kw)
    once = fit(small_model(), toy_split(), test, 0.5, 0.9, iterations=24, **kw)
    assert long.eval_iters == [8, 16, 24]
    assert long.test_acc[1] == pytest.approx(short.final_test_acc, abs=1e-9)
    assert long.train_loss[:16] == pytest.approx(short.train_loss, rel=1e-6)
    assert long.final_test_acc == pytest.approx(once.final_test_acc, abs=1e-9)


def test_interrupted_schedule_free_run_resumes_to_the_same_result(tmp_path):
    test = toy_split(128, seed=1, train=False)
    kw = dict(ARGS, optimizer="adamw_schedulefree", warmup_steps=4, eval_every=10, iterations=30)
    ref_model = small_model()
    ref = fit(ref_model, toy_split(), test, 1e-2, 0.9, **kw)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Interrupt):
        fit(small_model(), toy_split(), test, 1e-2, 0.9, callbacks=[KillAt(17)], checkpoint=ckpt,
            checkpoint_every=10, **kw)
    model = small_model(seed=5)
    h = fit(model, toy_split(), test, 1e-2, 0.9, checkpoint=ckpt, checkpoint_every=10, **kw)
    assert h.test_acc == ref.test_acc and h.train_loss == ref.train_loss
    for (k, a), (_, b) in zip(ref_model.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("kw, names", [
    (dict(lr=lambda it: 0.1 * (1 + it), optimizer="sgd_schedulefree"), ("lr=", "a constant")),
    (dict(lr=0.1, momentum=lambda it: 0.85 + 0.001 * it, optimizer="adamw_schedulefree"), ("momentum=",)),
    (dict(lr=0.1, optimizer="adamw", sgd="caffe"), ("sgd='caffe'", "'torch'")),
    (dict(lr=0.1, optimizer="adamw", warmup_steps=3), ("warmup_steps=3",)),
    (dict(lr=0.1, optimizer="lion"), ("optimizer='lion'", "'adamw_schedulefree'")),
])
def test_bad_optimizer_settings_fail_before_any_work(kw, names):
    kw = {"momentum": 0.9, **kw}
    with pytest.raises(ParameterError) as e:
        fit(small_model(), toy_split(), None, iterations=10, batch_size=32, progress=False, **kw)
    for n in names:
        assert n in str(e.value)


def test_build_optimizer_and_weights_switch():
    p = [torch.nn.Parameter(torch.ones(3))]
    assert isinstance(optim.build_optimizer(p, "adamw", lr=1e-3), torch.optim.AdamW)
    sf = optim.build_optimizer(p, "sgd_schedulefree", lr=1.0, warmup_steps=2)
    assert isinstance(sf, schedulefree.SGDScheduleFree) and optim.schedule_free(sf)
    assert not optim.schedule_free(optim.build_optimizer(p, "sgd", lr=0.1))
    optim.use_weights(sf, training=True)
    assert sf.param_groups[0]["train_mode"]
    optim.use_weights(sf, training=False)
    assert not sf.param_groups[0]["train_mode"]
    with pytest.raises(ParameterError, match="nesterov"):
        optim.build_optimizer(p, "adamw", nesterov=True)
