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
