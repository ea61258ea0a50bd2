"""The Hessian-free LR estimate: exact answers on quadratics, the power iteration against a full
Hessian, and the callback inside fit (records, no effect on the run, exact resume)."""

import copy
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from superconv import hessian, models
from superconv.hessian import (HessianFreeEstimate, curvature_bounds, estimate_from_snapshots,
                               secant_estimate, snapshot, top_eigenvalue)
from superconv.train import History, StepContext, fit
from toy import Interrupt, KillAt, toy_split


# ----------------------------------------------------------------------------- quadratics

def rotated(eigs, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T


def gd(A, theta, lr, steps, wd=0.0):
    """Plain GD on ½θᵀAθ (+ wd/2·|θ|²): the list of iterates θ_0..θ_steps."""
    out = [theta]
    for _ in range(steps):
        theta = theta - lr * (A @ theta + wd * theta)
        out.append(theta)
    return out


def split(theta):
    """A flat vector as a two-'layer' snapshot: {'a.weight': first 3, 'b.weight': the rest}."""
    return {"a.weight": theta[:3].clone(), "b.weight": theta[3:].clone()}


def l1_ratio(d, A):
    return (d.abs().sum() / (A @ d).abs().sum()).item()


def test_isotropic_quadratic_gives_one_over_a_exactly():
    a, lr = 2.5, 0.1
    A = a * torch.eye(6, dtype=torch.float64)
    t = gd(A, torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(1)), lr, 2)
    est = estimate_from_snapshots(split(t[0]), split(t[1]), split(t[2]), lr)
    assert est.value == pytest.approx(1 / a, rel=1e-12)
    assert est.per_layer == pytest.approx({"a": 1 / a, "b": 1 / a}, rel=1e-12)
    by_tensor = estimate_from_snapshots(split(t[0]), split(t[1]), split(t[2]), lr, group="tensor")
    assert set(by_tensor.per_layer) == {"a.weight", "b.weight"}
    # lists of tensors work too, named by position
    lists = estimate_from_snapshots([t[0]], [t[1]], [t[2]], lr)
    assert lists.value == pytest.approx(1 / a, rel=1e-12) and set(lists.per_layer) == {"0"}


@pytest.mark.parametrize("A", [torch.diag(torch.tensor([0.5, 1.0, 2.0, 3.0, 4.0, 7.0], dtype=torch.float64)),
                               rotated([0.5, 1.0, 2.0, 3.0, 4.0, 7.0])], ids=["diagonal", "rotated"])
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_general_quadratic_gives_curvature_along_the_step(A, wd):
    lr = 0.1
    t = gd(A, torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(2)), lr, 2, wd)
    H = A + wd * torch.eye(6, dtype=torch.float64)
    d = t[1] - t[0]
    expected = l1_ratio(d, H)
    snap = estimate_from_snapshots(split(t[0]), split(t[1]), split(t[2]), lr)
    assert snap.value == pytest.approx(expected, rel=1e-10)
    assert snap.per_layer["a"] == pytest.approx((d[:3].abs().sum() / (H @ d)[:3].abs().sum()).item(), rel=1e-10)
    # the secant form from the gradients of the loss only, weight decay passed separately
    sec = secant_estimate(split(t[0]), split(t[1]), split(A @ t[0]), split(A @ t[1]), weight_decay=wd)
    assert sec.value == pytest.approx(expected, rel=1e-10)
    assert sec.per_layer == pytest.approx(snap.per_layer, rel=1e-10)
    # the secant bounds: 1/λmax <= ‖d‖₂/‖Hd‖₂ (L2 sense); the L1 value is near it
    lam = torch.linalg.eigvalsh(H).max().item()
    assert expected > 0.5 / lam


def test_state_dict_snapshots_drop_buffers():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    s1 = m.state_dict()
    s1 = {k: v.clone() for k, v in s1.items()}
    names = set(snapshot(m))
    assert names == {"0.weight", "0.bias", "1.weight", "1.bias"}
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(0.9)
    s2 = {k: v.clone() for k, v in m.state_dict().items()}
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(0.9)
    est = estimate_from_snapshots(s1, s2, m.state_dict(), lr=1.0)
    assert set(est.per_layer) == {"0", "1"}
    assert est.value == pytest.approx(est.per_layer["0"], rel=1e-6)  # same contraction everywhere


class Quadratic(nn.Module):
    """½θᵀAθ with θ split in two parameter tensors, as a 'model' for the callback."""

    def __init__(self, A, theta):
        super().__init__()
        self.A = A
        self.a = nn.Parameter(theta[:3].clone())
        self.b = nn.Parameter(theta[3:].clone())

    def theta(self):
        return torch.cat([self.a, self.b])


def quad_loss(model, x, y):
    t = model.theta()
    return 0.5 * t @ model.A @ t


def drive(model, cb, lr, steps, momentum=0.0, wd=0.0):
    """A minimal training loop with the fit callback protocol; returns θ_0..θ_steps."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    hist = History()
    ctx = StepContext(it=0, model=model, optimizer=opt, history=hist, loss_fn=quad_loss)
    thetas = [model.theta().detach().clone()]
    for it in range(steps):
        loss = quad_loss(model, None, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        thetas.append(model.theta().detach().clone())
        ctx.it, ctx.lr, ctx.loss = it, lr, loss
        cb.on_step(ctx)
        if it % 4 == 3:
            cb.on_log(ctx)
    cb.on_end(ctx)
    return thetas, hist.extra["hessian_free"]


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_callback_on_a_quadratic_is_exact(wd):
    A = rotated([0.5, 1.0, 2.0, 3.0, 4.0, 7.0], seed=3)
    theta0 = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    cb = HessianFreeEstimate(every=5, inc=1)
    thetas, rec = drive(Quadratic(A, theta0), cb, lr=0.1, steps=23, wd=wd)
    H = A + wd * torch.eye(6, dtype=torch.float64)
    assert rec["iteration"] == [5, 10, 15, 20]
    assert rec["lr"] == [0.1] * 4
    for i, k in enumerate(rec["iteration"]):
        expected = l1_ratio(thetas[k + 1] - thetas[k], H)
        assert rec["eps_star"][i] == pytest.approx(expected, rel=1e-9)
        assert rec["secant"][i] == pytest.approx(expected, rel=1e-9)
    m = 0.1
    for i, e in enumerate(rec["eps_star"]):
        m = 0.9 * m + 0.1 * e
        assert rec["eps_smoothed"][i] == pytest.approx(m, rel=1e-12)
    assert set(rec["per_layer"]) == {"a", "b"}  # top-level parameters are their own group
    assert len(rec["per_layer_secant"]["b"]) == 4
    # on_end resets: the same instance gives the same record for the same run again
    _, again = drive(Quadratic(A, theta0), cb, lr=0.1, steps=23, wd=wd)
    assert again == rec


def test_secant_stays_exact_with_momentum_and_the_snapshot_form_does_not():
    A = rotated([0.5, 1.0, 2.0, 3.0, 4.0, 7.0], seed=5)
    theta0 = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    cb = HessianFreeEstimate(every=4, inc=2, per_layer=False)
    thetas, rec = drive(Quadratic(A, theta0), cb, lr=0.05, steps=16, momentum=0.9)
    assert rec["iteration"] == [4, 8, 12] and "per_layer" not in rec
    for i, k in enumerate(rec["iteration"]):
        assert rec["secant"][i] == pytest.approx(l1_ratio(thetas[k + 1] - thetas[k], A), rel=1e-9)
        d = thetas[k + 2] - thetas[k]
        snap = 0.05 * d.abs().sum() / (2 * thetas[k + 2] - thetas[k] - thetas[k + 4]).abs().sum()
        assert rec["eps_star"][i] == pytest.approx(snap.item(), rel=1e-9)  # the formula, as written
    assert rec["eps_star"] != pytest.approx(rec["secant"], rel=1e-3)


# ----------------------------------------------------------------------------- power iteration

def tiny_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double()  # 44 parameters


def full_hessian(model, x, y):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])

    def f(v):
        params, i = {}, 0
        for n, s in zip(names, shapes):
            params[n] = v[i:i + s.numel()].view(s)
            i += s.numel()
        return F.cross_entropy(torch.func.functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(f, flat)


def test_top_eigenvalue_matches_the_full_hessian():
    model = tiny_mlp()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, dtype=torch.float64, generator=g)
    y = torch.randint(0, 2, (32,), generator=g)
    H = full_hessian(model, x, y)
    eigs = torch.linalg.eigvalsh(H)
    top = eigs[eigs.abs().argmax()].item()
    lam, v = top_eigenvalue(model, None, (x, y), iters=3000, tol=1e-13, return_vector=True)
    assert lam == pytest.approx(top, rel=1e-4)
    vflat = torch.cat([t.flatten() for t in v])
    assert torch.allclose(H @ vflat, lam * vflat, atol=1e-3 * abs(lam))
    # a list of batches is the Hessian of the sample-weighted mean loss
    two = top_eigenvalue(model, None, [(x[:12], y[:12]), (x[12:], y[12:])], iters=3000, tol=1e-13)
    assert two == pytest.approx(top, rel=1e-4)
    assert all(p.grad is None for p in model.parameters())


def test_top_eigenvalue_restores_the_model():
    torch.manual_seed(0)
    model = models.cifar_resnet(8, num_classes=2, in_channels=1, width=4)
    model.eval()
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 2, (16,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    lam_train = top_eigenvalue(model, None, (x, y), iters=5)
    lam_eval = top_eigenvalue(model, None, (x, y), iters=5, bn_mode="eval")
    assert math.isfinite(lam_train) and math.isfinite(lam_eval) and lam_train != lam_eval
    assert not model.training and all(not m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters())


def test_curvature_bounds():
    assert curvature_bounds(4.0) == (0.25, 0.5)
    assert curvature_bounds(-1.0) == (math.inf, math.inf)
    assert all(math.isnan(b) for b in curvature_bounds(float("nan")))


# ----------------------------------------------------------------------------- inside fit

def resnet(seed=0):
    torch.manual_seed(seed)
    return models.cifar_resnet(8, num_classes=2, in_channels=1, width=4)


def dropout_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(16, 2))




def run(model, callbacks=(), iterations=30, **kw):
    kw.setdefault("precision", "fp32")
    return fit(model, toy_split(), toy_split(128, seed=1, train=False), lambda it: 0.05 + 0.01 * it, 0.9,
               iterations=iterations, batch_size=32, weight_decay=5e-4, eval_every=10, progress=False,
               log_every=7, callbacks=list(callbacks), **kw)


def comparable(h):
    d = h.to_dict()
    d.pop("wall_time")
    d.pop("eval_time")
    d.pop("extra")
    return d


@pytest.mark.parametrize("make,precision", [(resnet, "fp32"), (dropout_net, "fp32"), (resnet, "bf16")],
                         ids=["resnet8", "dropout-mlp", "resnet8-bf16-channels-last"])
def test_callback_does_not_change_the_run(make, precision):
    ref_model, cb_model = make(), make()
    ref = run(ref_model, precision=precision)
    cb = HessianFreeEstimate(every=5)
    h = run(cb_model, [cb], precision=precision)
    assert h.train_loss == ref.train_loss
    assert comparable(h) == comparable(ref)
    for (k, a), (_, b) in zip(ref_model.state_dict().items(), cb_model.state_dict().items()):
        assert torch.equal(a, b), k
    rec = h.extra["hessian_free"]
    assert rec["iteration"] == [5, 10, 15, 20, 25]
    assert rec["lr"] == [0.05 + 0.01 * k for k in rec["iteration"]]
    for key in ("eps_star", "eps_smoothed", "secant"):
        assert len(rec[key]) == 5 and all(math.isfinite(v) and v > 0 for v in rec[key]), key
    names = {n.rpartition(".")[0] for n, _ in cb_model.named_parameters()}
    assert set(rec["per_layer"]) == names == set(rec["per_layer_secant"])
    assert all(len(v) == 5 for v in rec["per_layer"].values())


def test_secant_replays_the_dropout_masks_of_the_training_step():
    # with lr = 0 the parameters do not move: the same masks give Δg = 0 exactly, so 0/0 = nan;
    # fresh masks would give Δg != 0 and a secant of exactly 0
    h = fit(dropout_net(), toy_split(), None, 0.0, 0.0, iterations=12, batch_size=32, weight_decay=0.0,
            progress=False, precision="fp32", callbacks=[HessianFreeEstimate(every=5)])
    rec = h.extra["hessian_free"]
    assert rec["iteration"] == [5, 10]
    assert all(math.isnan(v) for v in rec["secant"] + rec["eps_star"])
    assert rec["eps_smoothed"] == [0.1, 0.1]  # non-finite estimates leave the average alone


def test_record_survives_json(tmp_path):
    h = run(resnet(), [HessianFreeEstimate(every=5, inc=2, secant=False)], iterations=20)
    rec = h.extra["hessian_free"]
    assert rec["iteration"] == [5, 10, 15] and "secant" not in rec and "per_layer_secant" not in rec
    h.save(tmp_path / "h.json")
    assert History.load(tmp_path / "h.json").extra == h.extra


@pytest.mark.parametrize("inc,kill_at", [(1, 8), (2, 14), (2, 21)])
def test_interrupted_run_resumes_to_the_same_record(tmp_path, inc, kill_at):
    ref = run(resnet(), [HessianFreeEstimate(every=5, inc=inc)])
    ckpt = tmp_path / "run.ckpt"
    # checkpoints at 6, 12, 18, 24: inside windows (pending snapshots, secant sums, unsynced values)
    kw = dict(checkpoint=ckpt, checkpoint_every=6)
    with pytest.raises(Interrupt):
        run(resnet(), [HessianFreeEstimate(every=5, inc=inc), KillAt(kill_at)], **kw)
    h = run(resnet(seed=99), [HessianFreeEstimate(every=5, inc=inc), KillAt(10_000)], **kw)
    assert h.extra == ref.extra
    assert comparable(h) == comparable(ref)


@pytest.mark.parametrize("kill_at", [7, 13])
def test_interrupted_overlapping_run_resumes_to_the_same_record(tmp_path, kill_at):
    """every=1: the ring of snapshots travels in the checkpoint, so a resumed run records the same windows."""
    make = lambda: HessianFreeEstimate(every=1, inc=1, secant=False)  # noqa: E731
    ref = run(resnet(), [make()])
    kw = dict(checkpoint=tmp_path / "run.ckpt", checkpoint_every=6)
    with pytest.raises(Interrupt):
        run(resnet(), [make(), KillAt(kill_at)], **kw)
    h = run(resnet(seed=99), [make(), KillAt(10_000)], **kw)
    assert h.extra == ref.extra and len(ref.extra["hessian_free"]["iteration"]) > 10


def test_state_dict_round_trip_and_settings_check():
    cb = HessianFreeEstimate(every=5)
    cb2 = HessianFreeEstimate(every=5)
    cb2.load_state_dict(cb.state_dict())
    with pytest.raises(ValueError, match="every"):
        HessianFreeEstimate(every=6).load_state_dict(cb.state_dict())


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kw,param", [
    (dict(every=0), "every"), (dict(every=2.5), "every"), (dict(inc=0), "inc"), (dict(inc=-1), "inc"),
    (dict(every=3, inc=2), "every"), (dict(smoothing=1.0), "smoothing"), (dict(smoothing=-0.1), "smoothing"),
    (dict(init=float("nan")), "init"), (dict(group="layer"), "group"), (dict(per_layer=1), "per_layer"),
])
def test_bad_settings_name_their_parameter(kw, param):
    with pytest.raises(ValueError, match=rf"{param}=.*allowed"):
        HessianFreeEstimate(**kw)


def test_bad_power_iteration_arguments():
    model = tiny_mlp()
    batch = (torch.randn(4, 4, dtype=torch.float64), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="iters=0.*allowed"):
        top_eigenvalue(model, None, batch, iters=0)
    with pytest.raises(ValueError, match="tol=-1.*allowed"):
        top_eigenvalue(model, None, batch, tol=-1)
    with pytest.raises(ValueError, match="bn_mode='test'.*allowed"):
        top_eigenvalue(model, None, batch, bn_mode="test")
    with pytest.raises(ValueError, match="batch"):
        top_eigenvalue(model, None, None)
    with pytest.raises(ValueError, match="lr=-0.1.*allowed"):
        estimate_from_snapshots([torch.ones(2)], [torch.ones(2)], [torch.ones(2)], lr=-0.1)
    with pytest.raises(ValueError, match="theta2"):
        estimate_from_snapshots([torch.ones(2)], [torch.ones(3)], [torch.ones(2)], lr=0.1)


def test_caffe_bn_blobs_are_caffes_running_sums():
    """Caffe's BatchNorm keeps sums, acc <- f*acc + batch statistic, and their count s <- f*s + 1;
    recovered from PyTorch's moving averages they match the recurrences step by step."""
    from superconv.hessian import caffe_bn_blobs
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(3, momentum=0.05)  # Caffe's moving_average_fraction f = 0.95
    f = 0.95
    acc_mean, acc_var, count = torch.zeros(3), torch.zeros(3), 0.0
    for _ in range(7):
        x = torch.randn(8, 3, 4, 4) * 3 + 1
        bn(x)
        n = x.numel() / 3
        acc_mean = f * acc_mean + x.mean((0, 2, 3))
        acc_var = f * acc_var + x.var((0, 2, 3), unbiased=False) * n / (n - 1)
        count = f * count + 1
    names, (mean, var, scale) = caffe_bn_blobs(torch.nn.Sequential(bn))
    assert names == ["0.caffe_mean", "0.caffe_var", "0.caffe_scale"]
    torch.testing.assert_close(mean, acc_mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(var, acc_var, rtol=1e-5, atol=1e-5)
    assert float(scale) == pytest.approx(count)


def test_hessian_free_over_caffe_blobs_adds_the_bn_sums():
    """blobs="caffe" sums the snapshot form over the parameters and the BN blobs, as the authors'
    script summed pycaffe's net.params; the secant form is unchanged."""
    from superconv.hessian import caffe_bn_blobs

    def run(blobs, record):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4, momentum=0.05),
                                    torch.nn.Flatten(), torch.nn.LazyLinear(3))
        model(torch.zeros(2, 1, 6, 6))
        est = HessianFreeEstimate(every=4, inc=1, blobs=blobs, per_layer=False)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(1)
        for it in range(8):
            x, y = torch.randn(16, 1, 6, 6, generator=g), torch.randint(0, 3, (16,), generator=g)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if it + 1 in (4, 5, 6):
                record.append([t.detach().clone() for t in list(model.parameters()) + caffe_bn_blobs(model)[1]])
            est.on_step(SimpleNamespace(it=it, model=model, lr=0.1, optimizer=opt, x=x, y=y, loss_fn=None,
                                        history=None))
        h = SimpleNamespace(extra={})
        est._flush(h)
        return h.extra["hessian_free"]

    snaps = []
    caffe = run("caffe", snaps)
    plain = run("trainable", [])
    t1, t2, t3 = snaps[:3]
    num = sum(float((b - a).abs().sum()) for a, b in zip(t1, t2))
    den = sum(float((2 * b - a - c).abs().sum()) for a, b, c in zip(t1, t2, t3))
    assert caffe["eps_star"][0] == pytest.approx(0.1 * num / den, rel=1e-6)
    assert caffe["eps_star"][0] != pytest.approx(plain["eps_star"][0], rel=1e-3)
    assert caffe["secant"][0] == pytest.approx(plain["secant"][0], rel=1e-9)


def test_overlapping_windows_open_one_at_every_iteration():
    """every=1, inc=1 (the authors' Fig. 5a script): the window at k uses θ_k, θ_{k+1}, θ_{k+2}
    for every k, each equal to a one-off estimate from those snapshots; the secant form refuses."""
    with pytest.raises(ValueError, match="secant=False"):
        HessianFreeEstimate(every=1, inc=1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    est = HessianFreeEstimate(every=1, inc=1, secant=False, per_layer=False, smoothing=0.5, init=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(2)
    snaps, lrs = {}, {}
    for it in range(7):
        lr = 0.05 * (1 + it)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        snaps[it + 1], lrs[it] = [p.detach().clone() for p in model.parameters()], lr
        est.on_step(SimpleNamespace(it=it, model=model, lr=lr, optimizer=opt, x=x, y=y, loss_fn=None, history=None))
    h = SimpleNamespace(extra={})
    est._flush(h)
    rec = h.extra["hessian_free"]
    assert rec["iteration"] == [1, 2, 3, 4, 5]  # k = 1 .. 7 - 2
    m = 0.0
    for k, star in zip(rec["iteration"], rec["eps_star"]):
        want = estimate_from_snapshots(snaps[k], snaps[k + 1], snaps[k + 2], lr=lrs[k], group="tensor").value
        assert star == pytest.approx(float(want), rel=1e-6)  # float32 differences, summed in another order
        m = 0.5 * m + 0.5 * star
    assert rec["eps_smoothed"][-1] == pytest.approx(m)
    assert len(est._ring) <= 3


def test_observe_in_your_own_loop_equals_the_pure_functions():
    # the callback in a plain loop (no fit): the snapshot form is estimate_from_snapshots on the
    # weights after the steps, and the secant form secant_estimate on the same batch
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    est = hessian.HessianFreeEstimate(every=4, inc=1)
    snaps, batches, grads = {}, {}, {}
    for it in range(10):
        xb, yb = x[it * 6:(it + 1) * 6], y[it * 6:(it + 1) * 6]
        snaps[it] = hessian.snapshot(model)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        grads[it] = {n: p.grad.clone() for n, p in model.named_parameters()}
        batches[it] = (xb, yb)
        opt.step()
        est.observe(it, model, opt, lr=0.1, batch=(xb, yb))
    snaps[10] = hessian.snapshot(model)
    rec = est.results()
    assert rec["iteration"] == [4, 8]
    for i, k in enumerate(rec["iteration"]):
        ref = hessian.estimate_from_snapshots(snaps[k], snaps[k + 1], snaps[k + 2], lr=0.1)
        assert rec["eps_star"][i] == pytest.approx(float(ref.value), rel=1e-5)
        at_b = copy.deepcopy(model)
        at_b.load_state_dict({**model.state_dict(), **{f"{n}": t for n, t in snaps[k + 1].items()}})
        at_b.zero_grad()
        torch.nn.functional.cross_entropy(at_b(batches[k][0]), batches[k][1]).backward()
        g_b = {n: p.grad.clone() for n, p in at_b.named_parameters()}
        sec = hessian.secant_estimate(snaps[k], snaps[k + 1], grads[k], g_b, weight_decay=1e-3)
        assert rec["secant"][i] == pytest.approx(float(sec.value), rel=1e-5)
    assert est.results() == rec and est.results() is not rec  # nothing new; a copy the caller may change
    resumed = hessian.HessianFreeEstimate(every=4, inc=1)
    resumed.load_state_dict(est.state_dict())  # a checkpoint keeps what results() already flushed
    assert resumed.results() == rec
    with pytest.raises(ValueError, match="batch=None is not allowed with secant=True"):
        est.observe(10, model, opt, lr=0.1)
