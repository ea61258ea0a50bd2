"""SGD in PyTorch's and Caffe's momentum conventions (FACTS §3)."""

import pytest
import torch

from superconv.optim import CaffeSGD, make_optimizer, set_hyperparameters


def _quadratic_run(kind, lrs, momentum=0.9, wd=1e-2, nesterov=False):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    a = torch.linspace(0.5, 2.0, 5, dtype=torch.float64)
    opt = make_optimizer([w], kind, lr=lrs[0], momentum=momentum, weight_decay=wd, nesterov=nesterov)
    traj = []
    for lr in lrs:
        set_hyperparameters(opt, lr, momentum)
        opt.zero_grad()
        (0.5 * (a * w * w).sum()).backward()
        opt.step()
        traj.append(w.detach().clone())
    return torch.stack(traj)


def test_caffe_matches_its_formula_by_hand():
    torch.manual_seed(0)
    lrs = [0.1, 0.3, 0.05, 0.2]
    m, wd = 0.9, 1e-2
    a = torch.linspace(0.5, 2.0, 5, dtype=torch.float64)
    w = torch.randn(5, dtype=torch.float64)
    v = torch.zeros_like(w)
    expected = []
    for lr in lrs:
        g = a * w
        v = m * v + lr * (g + wd * w)
        w = w - v
        expected.append(w.clone())
    got = _quadratic_run("caffe", lrs, m, wd)
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-12, atol=1e-14)


def test_caffe_nesterov_matches_caffe_solver_formula():
    torch.manual_seed(0)
    lrs = [0.1, 0.2, 0.15]
    m, wd = 0.9, 0.0
    a = torch.linspace(0.5, 2.0, 5, dtype=torch.float64)
    w = torch.randn(5, dtype=torch.float64)
    v = torch.zeros_like(w)
    expected = []
    for lr in lrs:
        v_old = v
        v = m * v + lr * (a * w)
        w = w - ((1 + m) * v - m * v_old)
        expected.append(w.clone())
    got = _quadratic_run("caffe", lrs, m, wd, nesterov=True)
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-12, atol=1e-14)


def test_conventions_agree_with_constant_lr_and_differ_when_it_changes():
    const = [0.1] * 20
    torch.testing.assert_close(_quadratic_run("torch", const), _quadratic_run("caffe", const),
                               rtol=1e-10, atol=1e-12)
    rising = [0.01 * (i + 1) for i in range(20)]
    diff = (_quadratic_run("torch", rising) - _quadratic_run("caffe", rising)).abs().max()
    assert diff > 1e-3


def test_adam_beta1_is_driven_as_momentum():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([w], lr=1e-3)
    set_hyperparameters(opt, 0.5, 0.85)
    assert opt.param_groups[0]["lr"] == 0.5
    assert opt.param_groups[0]["betas"] == (0.85, 0.999)


@pytest.mark.parametrize("kwargs, name", [
    (dict(kind="sgd"), "sgd"), ])
def test_unknown_kind(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_optimizer([torch.nn.Parameter(torch.zeros(1))], **kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-1.0), "lr"), (dict(lr=0.1, momentum=1.0), "momentum"),
    (dict(lr=0.1, weight_decay=-1.0), "weight_decay")])
def test_caffe_sgd_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CaffeSGD([torch.nn.Parameter(torch.zeros(1))], **kwargs)
