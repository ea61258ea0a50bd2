"""Every paper-profile study's run spec trains on the CPU: 2 iterations on small synthetic data of
its dataset's shape, through ``experiments.run`` and the results store, with the authors' setup
(Caffe ResNet and SGD, per-GPU BatchNorm, mean-image input, file order, test reads). This catches a
broken paper path without a GPU and without CIFAR on disk (issue 15)."""

import copy

import pytest
import torch

from superconv import data, experiments
from superconv.results import Store
from superconv.studies import batch_size, clr, datasets, depth, less_data, one_cycle, regularization

#: Synthetic images per split: enough for two batches of two GPU slices.
N_TRAIN, N_TEST = 64, 20


def _synthetic(dataset: str, train: bool) -> data.Split:
    c, k = data.CHANNELS[dataset], data.NUM_CLASSES[dataset]
    size = 32 if dataset.startswith("cifar") else 28
    g = torch.Generator().manual_seed(int(train))
    n = N_TRAIN if train else N_TEST
    images = torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % k
    mean_image = _synthetic_mean(dataset, c, size)
    return data.Split(images, labels, mean=(0.5,) * c, std=(0.25,) * c, classes=[str(i) for i in range(k)],
                      name=dataset, train=train, mean_image=mean_image)


def _synthetic_mean(dataset: str, c: int, size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.randint(0, 256, (N_TRAIN, c, size, size), generator=g).double().mean(0).float()


def _first_specs() -> dict:
    """One spec of each paper-profile study that trains through ``experiments.run``."""
    ds_rows = {r.group: r.specs[0] for r in datasets.rows("paper", seeds=[0])}
    return {
        "headline 1cycle (ch. 3)": one_cycle.specs("paper", [0], [0])["one_cycle"][0],
        "headline PC-LR (ch. 3)": one_cycle.specs("paper", [0], [0])["pc_lr"][0],
        "CLR (ch. 1)": clr.specs("paper", [0], ["triangular"])["triangular"][0],
        "weight decay (ch. 4)": regularization.sweep_spec("paper", "one_cycle"),
        "less data (ch. 6)": less_data.specs("paper", seeds=[0], pc_seeds=[0])[10_000]["one_cycle"][0],
        "ResNet-110 (ch. 7)": depth.spec("paper", "pc_lr", 110),
        "batch 1536 (ch. 8)": batch_size.batch_spec("paper", 1536),
        **{f"{g} (ch. 9)": s for g, s in ds_rows.items()},
    }


SPECS = _first_specs()


def _two_iterations(spec: dict) -> dict:
    """The spec cut to 2 iterations of two GPU slices (the slice size kept, at most 16 images)."""
    s = copy.deepcopy(spec)
    ghost = min(s.get("ghost_batch") or 16, 16)
    s.update(iterations=2, eval_every=2, batch_size=2 * ghost, precision="fp32")
    if s.get("ghost_batch"):
        s["ghost_batch"] = ghost
    if s.get("train_size") is not None:
        s["train_size"] = None  # the synthetic split is the whole training set
    if s.get("test_reads"):
        s["test_reads"] = int(2.5 * N_TEST)  # the authors' 2.5 passes over the test split
    s["schedule"] = dict(kind="fixed", lr=0.01)
    return s


def test_every_paper_study_is_covered():
    assert len(SPECS) >= 10
    assert {s["model"] for s in SPECS.values()} >= {"caffe_resnet56", "caffe_resnet110", "lenet5"}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_paper_spec_trains_two_iterations_on_cpu(name, tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "_full_split", lambda dataset, train, device: _synthetic(dataset, train))
    spec = _two_iterations(SPECS[name])
    h = experiments.run(spec, "paper", device="cpu", store=Store(tmp_path), progress=False)
    assert h.iterations == 2 and len(h.test_acc) == 1 and 0 <= h.test_acc[0] <= 100
    for field in ("ghost_batch", "test_reads"):
        assert h.config.get(field) == spec.get(field), field
    if spec.get("data_order"):
        assert h.config["data_order"] == spec["data_order"]


def test_paper_range_test_runs_on_cpu_with_the_authors_setup(tmp_path, monkeypatch):
    """Chapter 2's paper-profile test (its own spec, not experiments.run): Caffe's SGD, the authors'
    net with per-GPU BatchNorm, the mean-image input and file order, on a 6-iteration ramp."""
    from superconv.caffe_resnet import CaffeResNet
    from superconv.ghost_bn import GhostBatchNorm2d
    from superconv.studies import range_tests
    monkeypatch.setattr(experiments, "_full_split", lambda dataset, train, device: _synthetic(dataset, train))
    spec = dict(range_tests.specs("paper")["main"], iterations=6, eval_every=3, batch_size=32, ghost_batch=16, lr_max=0.05,
                holdout=10, precision="fp32")
    assert (spec["sgd"], spec["input_norm"], spec["data_order"]) == ("caffe", "mean_image", "file")
    train, val = range_tests.load_splits(spec)
    assert train.input_norm == val.input_norm == "mean_image" and len(val) == 10
    model = range_tests._model(spec, 0, train)
    assert isinstance(model, CaffeResNet) and any(isinstance(m, GhostBatchNorm2d) for m in model.modules())
    result = range_tests.run_one(spec, 0, "paper", device="cpu", store=Store(tmp_path))
    assert len(result.lrs) == 6 and result.eval_lrs


def test_paper_hessian_free_runs_on_cpu(tmp_path, monkeypatch):
    from superconv.studies import hessian_free
    monkeypatch.setattr(experiments, "_full_split", lambda dataset, train, device: _synthetic(dataset, train))
    res = hessian_free.run("paper", device="cpu", store=Store(tmp_path), probes=False, ramp=6, iterations=6,
                           every=2, inc=1, batch_size=32, precision="fp32", evals=1)
    rs = res.spec["run"]
    assert (rs["model"], rs["sgd"], rs["input_norm"], rs["data_order"]) == ("caffe_resnet56", "caffe", "mean_image",
                                                                            "file")
    assert res.spec["estimate"]["blobs"] == "caffe"  # pycaffe's net.params, BN blobs included
    assert len(res.history.extra["hessian_free"]["eps_star"]) >= 1
