"""Chapter 5's study module (superconv.studies.hessian_free): configs, the noise model, the probe
callback, caching by the callbacks' settings, the paper-vs-ours table, a smoke run."""

import math
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from superconv import experiments as ex
from superconv import paper
from superconv.hessian import estimate_from_snapshots, top_eigenvalue
from superconv.results import Store, spec_key
from superconv.studies import hessian_free as hf
from superconv.train import fit

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
needs_data = pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")


# --------------------------------------------------------------------------- configs

def test_paper_config_is_the_rising_half_of_the_headline_clr_solver():
    clr = paper.HEADLINE_CLR_SOLVER
    cfg = hf.config("paper")
    spec = hf.run_spec("paper", cfg)
    assert spec["dataset"] == "cifar10" and spec["model"] == "caffe_resnet56" and spec["train_size"] is None
    assert spec["batch_size"] == clr["batch_size"] == 1000
    assert spec["weight_decay"] == clr["weight_decay"] and spec["momentum"] == clr["momentum"] == 0.9
    assert spec["bn_momentum"] == pytest.approx(1 - clr["bn_moving_average_fraction"])
    assert spec["precision"] == "fp32"
    sched = ex.build_schedule(spec["schedule"])
    assert cfg["ramp"] == cfg["iterations"] == clr["stepsize"] == 5000
    assert sched.lr(0) == pytest.approx(clr["base_lr"]) and sched.lr(clr["stepsize"]) == pytest.approx(clr["max_lr"])
    # the same schedule as the profile's headline CLR run (FACTS §2), trained for its first half
    head = ex.build_schedule(ex.make_spec("paper", "one_cycle")["schedule"])
    assert all(sched.lr(i) == pytest.approx(head.lr(i)) for i in (0, 300, 2500, 4999))
    assert cfg["report_until"] == paper.get("hf.reported.iterations").value == 300
    assert cfg["inc"] in paper.get("hf.method.inc").value
    assert hf.paper_phase_lr() == pytest.approx(0.1 + 2.9 * 300 / 5000)


def test_configs_per_profile_and_validation():
    for profile in ex.PROFILES:
        cfg = hf.config(profile)
        assert cfg["every"] >= 2 * cfg["inc"] or cfg["secant_every"] >= 2 * cfg["inc"]
        assert all(1 <= a <= cfg["iterations"] for a in cfg["probe_at"])
        hf.run_spec(profile, cfg)  # builds
    lap = hf.config("laptop")
    assert lap["iterations"] == lap["ramp"] and lap["base_lr"] == 0.1 and lap["max_lr"] == 3.0
    assert len(lap["probe_at"]) == 6 and lap["probe_size"] == 256
    assert hf.config("laptop", probes=False)["probe_at"] == []
    # a shorter ramp keeps the trained share and moves the probes with it
    short = hf.config("laptop", ramp=200)
    assert short["iterations"] == 200 and max(short["probe_at"]) == 200 and len(short["probe_at"]) == 6
    with pytest.raises(ValueError, match="every=3"):
        hf.config("laptop", every=3, inc=2)
    with pytest.raises(ValueError, match="unknown setting"):
        hf.config("laptop", lr=1.0)
    with pytest.raises(ValueError, match="probe_at"):
        hf.config("smoke", probe_at=[0])
    with pytest.raises(ValueError, match="group='layer'"):
        hf.config("smoke", group="layer")
    with pytest.raises(ValueError, match="base_lr"):
        hf.config("smoke", base_lr=5.0)
    with pytest.raises(ValueError, match="iterations"):
        hf.config("smoke", iterations=1000)
    with pytest.raises(ValueError, match="PROFILE='huge'"):
        hf.config("huge")


def test_paper_profile_estimates_at_every_iteration_as_the_authors_script():
    # L2TermComputation: a window at every iteration, inc 1, over pycaffe's net.params; the
    # secant needs windows that do not overlap and runs beside it every 10
    cfg = hf.config("paper")
    assert (cfg["every"], cfg["inc"], cfg["secant_every"], cfg["blobs"]) == (1, 1, 10, "caffe")
    est = hf.study_spec("paper", cfg)["estimate"]
    assert est["every"] == 1 and est["secant"] is False and est["secant_every"] == 10 and est["blobs"] == "caffe"
    assert hf.config("paper", inc=10)["every"] == 1 and hf.config("paper", inc=10)["secant_every"] == 20
    assert "secant_every" not in hf.study_spec("laptop", hf.config("laptop"))["estimate"]


def test_overlapping_windows_with_the_secant_in_its_own(tmp_path, one_thread):
    res = hf.run("smoke", store=Store(tmp_path), every=1, secant_every=4, probes=False)
    est, sec = res.estimate, res.secants
    n = hf.config("smoke")["iterations"]
    assert list(est["iteration"]) == list(range(1, n - 1))  # a window at every iteration
    assert list(sec["iteration"]) == list(range(4, n - 1, 4)) and np.all(np.isfinite(sec["secant"]))
    measured = est.dropna(subset=["secant"])
    assert list(measured["iteration"]) == list(sec["iteration"])
    assert np.allclose(measured["secant"], sec["secant"])
    assert res.per_layer("per_layer_secant").shape[1] == len(sec) and res.per_layer().shape[1] == len(est)
    assert res.summary()["secant"]["n"] == len(sec)


def test_store_key_includes_the_callback_settings():
    a = hf.study_spec("laptop", hf.config("laptop"))
    b = hf.study_spec("laptop", hf.config("laptop", every=10))
    c = hf.study_spec("laptop", hf.config("laptop", probe_iters=10))
    assert a["run"] == b["run"] == c["run"]
    assert len({spec_key(a), spec_key(b), spec_key(c)}) == 3


# --------------------------------------------------------------------------- the theory bits

def test_noise_ratio_closed_forms_and_a_simulation():
    assert hf.noise_ratio(0.0, 1) == pytest.approx(1 / math.sqrt(2))
    assert hf.noise_ratio(0.0, 10) == pytest.approx(1 / math.sqrt(2))
    for mu in (0.5, 0.9):
        assert hf.noise_ratio(mu, 1) == pytest.approx(1 / math.sqrt(2 * (1 - mu)))
    # pure noise through momentum SGD: the snapshot estimate is noise_ratio x the LR
    rng = np.random.default_rng(0)
    mu, lr, inc, d = 0.9, 0.3, 3, 4000
    v, th, traj = np.zeros(d), np.zeros(d), []
    for _ in range(260):
        v = mu * v + rng.standard_normal(d)
        th = th - lr * v
        traj.append(th.copy())
    est = [estimate_from_snapshots([torch.from_numpy(traj[k])], [torch.from_numpy(traj[k + inc])],
                                   [torch.from_numpy(traj[k + 2 * inc])], lr).value for k in range(100, 250, 10)]
    assert np.median(est) == pytest.approx(lr * hf.noise_ratio(mu, inc), rel=0.03)
    with pytest.raises(ValueError, match="momentum"):
        hf.noise_ratio(1.0)


@pytest.mark.parametrize("inc", [1, 3, 10])
def test_quadratic_inc_factor_matches_snapshots_of_gradient_descent(inc):
    a, lr = 2.0, 0.05
    theta = [torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))]
    for _ in range(2 * inc):
        theta.append(theta[-1] - lr * a * theta[-1])
    est = estimate_from_snapshots([theta[0]], [theta[inc]], [theta[2 * inc]], lr).value
    assert est * a == pytest.approx(hf.quadratic_inc_factor(lr, a, inc), rel=1e-9)
    if inc == 1:
        assert hf.quadratic_inc_factor(lr, a, inc) == pytest.approx(1.0)
    else:
        assert 1 / inc < hf.quadratic_inc_factor(lr, a, inc) < 1
        assert hf.quadratic_inc_factor(1e-4, 1.0, inc) == pytest.approx(1 / inc, rel=1e-2)


def test_verdict_rule():
    assert hf.verdict(3.0) == "same order"
    assert hf.verdict(1.0) == "same order" and hf.verdict(12.0) == "same order"
    assert hf.verdict(0.5).startswith("smaller (×4.0")
    assert hf.verdict(24.0).startswith("larger (×4.0")
    assert hf.verdict(float("nan")) == "no value"
    assert hf.verdict(0.5, (0.4, 0.6)) == "same order"


def test_stats_ignore_non_finite_values():
    s = hf.stats([1.0, float("nan"), 3.0, float("inf"), 2.0])
    assert s == dict(min=1.0, median=2.0, max=3.0, n=3)
    assert hf.stats([])["n"] == 0 and math.isnan(hf.stats([])["median"])


# --------------------------------------------------------------------------- the probe callback

def _tiny_split(n=64, seed=0):
    from superconv.data import Split
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % 4
    return Split(images=images, labels=labels, mean=(0.5,), std=(0.25,), classes=list("abcd"),
                 name="tiny", train=True)


def _tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 4))


def test_eigen_probe_records_and_leaves_the_run_unchanged():
    split = _tiny_split()
    batch = hf.probe_batch(split, 32)
    assert batch[0].shape == (32, 1, 8, 8) and batch[0].dtype == torch.float32
    kw = dict(iterations=12, batch_size=16, precision="fp32", progress=False, train_eval_size=16, device="cpu")
    plain = fit(_tiny_model(), split, None, 0.1, **kw)
    m = _tiny_model()
    probed = fit(m, split, None, 0.1, callbacks=[hf.EigenProbe([5, 12], batch, iters=8, tol=0.0)], **kw)
    assert probed.train_loss == plain.train_loss
    rec = probed.extra["top_eigenvalue"]
    assert rec["iteration"] == [5, 12] and rec["lr"] == [0.1, 0.1] and len(rec["seconds"]) == 2
    assert rec["lambda_max"][1] == pytest.approx(top_eigenvalue(m, batch=batch, iters=8, tol=0.0), rel=1e-6)


# --------------------------------------------------------------------------- a smoke run

@needs_data
def test_smoke_run_is_cached_and_tabulated(tmp_path, monkeypatch):
    store = Store(tmp_path)
    res = hf.run("smoke", store=store)
    cfg = hf.config("smoke")
    est = res.estimate
    assert list(est["iteration"]) == list(range(cfg["every"], cfg["iterations"] - 2 * cfg["inc"] + 1, cfg["every"]))
    assert np.all(np.isfinite(est[["eps_star", "eps_smoothed", "secant", "lr"]].to_numpy()))
    assert est["eps_smoothed"].iloc[0] == pytest.approx(0.9 * 0.1 + 0.1 * est["eps_star"].iloc[0])
    assert list(res.probes["iteration"]) == cfg["probe_at"]
    pl = res.per_layer()
    assert pl.shape[1] == len(est) and "fc" in pl.index
    assert res.per_layer("per_layer_secant").shape == pl.shape
    s = res.summary()
    assert s["windows"] == len(est) and s["eps_star"]["n"] == len(est)
    # loaded, not retrained
    monkeypatch.setattr(hf, "fit", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = hf.run("smoke", store=store)
    assert again.estimate.equals(est)
    assert len(hf.stored("smoke", store=store)) == 1 and hf.stored("paper", store=store) == []
    table = hf.paper_vs_ours([res])
    assert table.shape[0] == 9 and "ours (paper profile)" not in table and "papermill" in table.attrs["not_run"]
    assert not table["paper"].str.contains(" | ", regex=False).any()  # a pipe would read as a table rule
    assert "[S]" in table["paper"].iloc[0]
    assert table["verdict"].iloc[0].startswith("ours: ")
    ext = hf.layer_extremes(res, n=2)
    assert list(ext["end"]) == ["largest"] * 2 + ["smallest"] * 2


def _fake_result(profile, lrs, ratio, lam=(2.0, 1.0)):
    """An HFResult whose record says eps* = ratio * lr at every window (no training)."""
    from superconv.train import History
    cfg = hf.config(profile)
    its = list(range(cfg["every"], cfg["every"] * (len(lrs) + 1), cfg["every"]))
    rec = dict(iteration=its, lr=list(lrs), eps_star=[ratio * x for x in lrs],
               eps_smoothed=[ratio * x for x in lrs], secant=[3.0] * len(lrs),
               per_layer={"fc": [ratio * x for x in lrs]}, per_layer_secant={"fc": [3.0] * len(lrs)})
    probe = dict(iteration=[its[0], its[-1]], lr=[lrs[0], lrs[-1]], momentum=[0.9, 0.9],
                 lambda_max=list(lam), seconds=[1.0, 1.0])
    h = History(extra={"hessian_free": rec, "top_eigenvalue": probe})
    return hf.HFResult(profile, cfg, hf.study_spec(profile, cfg), h)


def test_paper_vs_ours_with_stored_paper_results_and_the_lr_matched_phase():
    ours = _fake_result("laptop", [0.2, 0.25, 1.0, 2.0], ratio=2.0)
    theirs = _fake_result("paper", [0.11, 0.15, 0.2, 0.26], ratio=100.0)
    table = hf.paper_vs_ours([ours], [theirs])
    eps_row, matched = table.iloc[0], table.iloc[1]
    assert eps_row["verdict"].startswith("ours: same order") and "paper profile: larger" in eps_row["verdict"]
    assert "median 0.45" in matched["ours (laptop)"]  # only the windows with LR <= 0.274: 0.4, 0.5
    assert theirs.summary()["windows"] == 4  # report_until 300 keeps windows 10..40
    assert "paper profile" in table.attrs["phase_paper"]
    s = ours.summary()
    assert s["inv"]["median"] == pytest.approx((1 / 2 + 1 / 1) / 2) and s["probes_in_phase"]
    assert ours.probes["hb_bound"].iloc[0] == pytest.approx(2 * 1.9 / 2.0)


def test_fig5b_is_the_same_run_at_pc_lrs_constant_first_stage_lr():
    assert hf.CONSTANT_LR == paper.HEADLINE_PC_SOLVER["base_lr"] == 0.35
    ramp, const = hf.config("laptop"), hf.config("laptop", constant_lr=hf.CONSTANT_LR, probes=False)
    a, b = hf.run_spec("laptop", ramp), hf.run_spec("laptop", const)
    assert a["schedule"]["kind"] == "clr" and b["schedule"] == {"kind": "fixed", "lr": 0.35}
    assert {k for k in a if a[k] != b[k]} == {"schedule"}  # same net, data, length, momentum, precision
    assert ex.build_schedule(b["schedule"]).lr(399) == 0.35
    assert ex.stale_bn(b) is None or b.get("precise_bn")  # a verdict-free run, but evaluated as the ramp run
    assert hf.study_spec("laptop", const) != hf.study_spec("laptop", ramp)  # its own record
    for bad in (0, -1.0, "x"):
        with pytest.raises(ValueError, match="constant_lr"):
            hf.config("laptop", constant_lr=bad)


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_fig5b_smoke_run(tmp_path, one_thread):
    res = hf.run_constant("smoke", device="cpu", store=Store(tmp_path))
    assert res.cfg["constant_lr"] == 0.35 and res.probes.empty
    assert set(res.estimate["lr"]) == {0.35} and "constant" in res.ramp_text()
