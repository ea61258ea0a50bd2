"""Streaming image folders (superconv.imagefolder): the data.Batches contract, on files.

Every test image is one flat colour that encodes its folder index (R = index, G = label), saved
as PNG (lossless), so a decoded batch tells exactly which images it holds, whatever the crop.
"""

import random

import numpy as np
import pytest
import torch

from superconv import data, imagefolder
from superconv.train import evaluate, fit

from toy import Interrupt, KillAt

N_CLASSES, PER_CLASS = 3, 8  # 24 train images


def _write(root, split, per_class, sizes=((20, 14), (12, 18), (16, 16))):
    from PIL import Image
    index = 0
    for c in range(N_CLASSES):
        folder = root / split / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            w, h = sizes[(index + i) % len(sizes)]
            Image.new("RGB", (w, h), (index, c, 7)).save(folder / f"img{i:02d}.png")
            index += 1


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets (conftest.one_thread)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    _write(root, "train", PER_CLASS)
    _write(root, "val", 2)
    return root


def load(folder, split="train", **kw):
    kw.setdefault("num_workers", 0)
    kw.setdefault("image_size", 8)
    kw.setdefault("resize", 10)
    kw.setdefault("mean", (0.0, 0.0, 0.0))
    kw.setdefault("std", (1 / 255, 1 / 255, 1 / 255))  # normalized x == the raw pixel value
    return imagefolder.load(folder, split, **kw)


def decoded_indices(x):
    """The folder index of each image of a batch (its flat red value), checking it is flat."""
    red = x[:, 0]
    assert torch.equal(red.amax((1, 2)), red.amin((1, 2)))
    return red[:, 0, 0].round().long()


# ------------------------------------------------------------------------------ loading

def test_loads_an_image_folder_with_labels_and_classes(folder):
    src = load(folder)
    assert len(src) == N_CLASSES * PER_CLASS and src.num_classes == N_CLASSES
    assert src.classes == ["class0", "class1", "class2"]
    assert src.labels.tolist() == [c for c in range(N_CLASSES) for _ in range(PER_CLASS)]
    assert src.layout == "ImageFolder" and "24 images in 3 classes" in src.description
    x, y = next(src.eval_batches(100))
    assert x.shape == (24, 3, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert decoded_indices(x).tolist() == list(range(24)) and torch.equal(y, src.labels)
    assert torch.equal(x[:, 1, 0, 0].round().long(), y)  # green = the label: images and labels agree


def test_normalization_matches_split_normalize(folder):
    src = load(folder, mean=imagefolder.IMAGENET_MEAN, std=imagefolder.IMAGENET_STD)
    raw = load(folder)  # identity normalization
    x, _ = next(src.eval_batches(24))
    u8, _ = next(raw.eval_batches(24))
    split = data.Split(u8.round().to(torch.uint8), torch.zeros(24, dtype=torch.int64), imagefolder.IMAGENET_MEAN,
                       imagefolder.IMAGENET_STD, ["a"], "t", True)
    torch.testing.assert_close(x, split.normalize(split.images), rtol=0, atol=1e-6)


def test_the_root_comes_from_the_environment(folder, monkeypatch):
    monkeypatch.setenv(imagefolder.ENV, str(folder))
    assert len(imagefolder.load(split="val", num_workers=0, image_size=8)) == 6
    monkeypatch.delenv(imagefolder.ENV)
    with pytest.raises(imagefolder.ImageFolderNotFoundError, match=imagefolder.ENV):
        imagefolder.load(num_workers=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="test"), "split='test'"),
    (dict(augment="mixup"), "augment='mixup'"),
    (dict(resize=4), "resize=4"),
    (dict(num_workers=-1), "num_workers=-1"),
    (dict(min_scale=0), "min_scale=0"),
])
def test_bad_parameters_are_one_line_errors(folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load(folder, **kwargs)


def test_a_folder_without_the_split_says_what_it_needs(tmp_path):
    with pytest.raises(imagefolder.ImageFolderNotFoundError, match="train/"):
        imagefolder.load(tmp_path, "train", num_workers=0)


# ------------------------------------------------------------------------------ crops

def test_random_resized_box_follows_torchvision_rule():
    rng = random.Random(0)
    for _ in range(500):
        w, h = rng.randint(5, 300), rng.randint(5, 300)
        l, t, r, b = imagefolder.random_resized_box(w, h, rng, min_scale=0.08)
        assert 0 <= l < r <= w and 0 <= t < b <= h
        area, aspect = (r - l) * (b - t) / (w * h), (r - l) / (b - t)
        assert area <= 1 and (0.08 * 0.8 <= area and 0.7 <= aspect <= 1.45 or (l, t) == ((w - (r - l)) // 2, (h - (b - t)) // 2))
    # no box fits: the same centred fallback box as torchvision's RandomResizedCrop
    from torchvision.transforms import RandomResizedCrop
    for w, h in [(1000, 10), (10, 1000), (50, 40)]:
        top, left, bh, bw = RandomResizedCrop.get_params(torch.zeros(3, h, w), scale=(1.5, 2.0), ratio=(3 / 4, 4 / 3))
        assert imagefolder.random_resized_box(w, h, random.Random(0), min_scale=1.5) == (left, top, left + bw, top + bh)


@pytest.mark.parametrize("augment", ["crop", "rrc"])
def test_training_crops_are_deterministic_per_seed(folder, augment):
    ds = load(folder, augment=augment).dataset()
    a, la = ds[(3, 12345)]
    b, lb = ds[(3, 12345)]
    assert a.shape == (8, 8, 3) and a.dtype == torch.uint8 and torch.equal(a, b) and la == lb == 0


# ------------------------------------------------------------------------------ the Batches contract

def test_order_is_deterministic_per_seed_and_equals_data_batches(folder):
    src = load(folder)
    a, b, c = src.batches(6, seed=3), src.batches(6, seed=3), src.batches(6, seed=4)
    split = data.Split(torch.zeros(24, 3, 2, 2, dtype=torch.uint8), src.labels, (0.5,) * 3, (0.2,) * 3,
                       src.classes, "t", True)
    ref = data.Batches(split, 6, seed=3)
    for it in range(10):  # 4 steps per epoch: crosses epoch boundaries
        xa, ya = a.batch(it)
        xb, yb = b.batch(it)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert decoded_indices(xa).tolist() == ref.indices(it).tolist() == a.indices(it).tolist()
        assert torch.equal(ya, src.labels[ref.indices(it)])
    assert [c.indices(it).tolist() for it in range(4)] != [a.indices(it).tolist() for it in range(4)]


def test_flips_are_the_data_batches_flips(folder):
    """A left-right gradient image shows the flip; which samples flip equals data.Batches."""
    from PIL import Image
    root = folder.parent / "gradient"
    if not root.exists():
        for c in range(2):
            (root / "train" / f"c{c}").mkdir(parents=True)
            for i in range(4):
                Image.fromarray(np.tile(np.arange(0, 240, 30, dtype=np.uint8)[None, :, None], (8, 1, 3))).save(
                    root / "train" / f"c{c}" / f"{i}.png")
    src = load(root, image_size=8, resize=8)
    split = data.Split(torch.arange(8, dtype=torch.uint8).view(1, 1, 1, 8).expand(8, 3, 8, 8).contiguous(),
                       src.labels, (0.0,) * 3, (1 / 255,) * 3, src.classes, "t", True)
    ours, ref = src.batches(4, seed=1), data.Batches(split, 4, seed=1)
    for it in range(6):
        flipped = ours.batch(it)[0][:, 0, 0, 0] > 100  # first column bright = flipped
        assert flipped.tolist() == (ref.batch(it)[0][:, 0, 0, 0] > 3).tolist()


def test_resume_skips_without_decoding_and_equals_uninterrupted(folder):
    opened = []

    def counting_loader(path):
        opened.append(path)
        return imagefolder._pil_rgb(path)

    full = load(folder).batches(6, seed=2)
    expected = [full.batch(it) for it in range(12)]
    src = load(folder, loader=counting_loader)
    resumed = src.batches(6, seed=2)
    got = resumed.batch(9)  # epoch 2, step 1: jump there directly
    assert len(opened) == 6  # only this batch's images were decoded
    assert torch.equal(got[0], expected[9][0]) and torch.equal(got[1], expected[9][1])
    for it in (10, 11, 3, 4):  # streams on, then jumps back
        x, y = resumed.batch(it)
        assert torch.equal(x, expected[it][0]) and torch.equal(y, expected[it][1])


def test_workers_give_the_same_batches_as_the_main_process(folder):
    one = load(folder).batches(6, seed=5)
    two = load(folder, num_workers=2, augment="rrc").batches(6, seed=5)
    three = load(folder, augment="rrc").batches(6, seed=5)
    for it in range(5):
        assert torch.equal(two.batch(it)[0], three.batch(it)[0])
        assert decoded_indices(one.batch(it)[0]).tolist() == decoded_indices(two.batch(it)[0]).tolist()
    two.close()


@pytest.mark.parametrize("world", [2, 3])
def test_rank_shards_are_the_one_process_batch_disjoint_and_covering(folder, world):
    src = load(folder)
    one = src.batches(6, seed=0)
    ranks = [src.batches(6, seed=0, rank=r, world_size=world) for r in range(world)]
    for epoch in range(2):
        seen = []
        for step in range(one.steps_per_epoch):
            it = epoch * one.steps_per_epoch + step
            parts = [rk.batch(it) for rk in ranks]
            assert torch.equal(torch.cat([p[0] for p in parts]), one.batch(it)[0])
            seen += [i for p in parts for i in decoded_indices(p[0]).tolist()]
        assert len(seen) == len(set(seen)) == 24  # disjoint, and covering (24 = 4 steps x 6)
    evals = [list(src.eval_batches(4, rank=r, world_size=world)) for r in range(world)]
    shares = [decoded_indices(x).tolist() for ev in evals for x, _ in ev]
    assert [i for s in shares for i in s] == list(range(24))


def test_eval_limit_takes_evenly_spaced_images(folder):
    src = load(folder)
    x, y = next(src.eval_batches(100, limit=6))
    assert decoded_indices(x).tolist() == [0, 4, 8, 12, 16, 20]
    assert sorted(set(y.tolist())) == [0, 1, 2]  # every class, not the first one only


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=7, world_size=2), "multiple of world_size"),
    (dict(batch_size=100), "larger than the image folder"),
    (dict(batch_size=6, crop_pad=4), "crop_pad=4"),
    (dict(batch_size=6, rank=2, world_size=2), "rank=2"),
])
def test_bad_batch_parameters_fail_early(folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load(folder).batches(**kwargs)


# ------------------------------------------------------------------------------ fit

def _fit(src, val, **kw):
    torch.manual_seed(0)
    from superconv import models
    model = models.cifar_resnet(8, num_classes=N_CLASSES, in_channels=3, width=4)
    args = dict(lr=0.1, iterations=10, batch_size=6, eval_every=5, precision="fp32", device="cpu",
                progress=False, log_every=3)
    args.update(kw)
    return model, fit(model, src, val, **args)


def test_fit_trains_on_a_streaming_source(folder, tmp_path):
    src, val = load(folder, mean=(0.4,) * 3, std=(0.3,) * 3), load(folder, "val", mean=(0.4,) * 3, std=(0.3,) * 3)
    model, h = _fit(src, val)
    assert h.iterations == 10 and len(h.train_loss) == 10 and h.eval_iters == [5, 10]
    assert h.train_acc is not None and h.config["train_size"] == 24 and "streamed" in h.config["train_data"]
    assert h.test_acc[-1] == pytest.approx(evaluate(model, val, precision="fp32")[1])
    # the same seed gives the same run; an interrupted run resumes to the same result
    _, again = _fit(src, val)
    assert again.train_loss == h.train_loss and again.test_acc == h.test_acc
    ckpt = tmp_path / "run.pt"
    with pytest.raises(Interrupt):
        _fit(src, val, checkpoint=ckpt, checkpoint_every=4, callbacks=[KillAt(7)])
    _, resumed = _fit(src, val, checkpoint=ckpt, checkpoint_every=4)
    assert resumed.train_loss == h.train_loss and resumed.test_acc == h.test_acc


def test_fit_refuses_data_that_is_neither(folder):
    with pytest.raises(ValueError, match="train_data must be a data.Split or a streaming source"):
        fit(torch.nn.Linear(2, 2), [1, 2, 3], None, lr=0.1, iterations=1, batch_size=1)
