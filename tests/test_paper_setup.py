"""The paper profile is the authors' setup (issue 15): their Caffe ResNet, SGD, per-GPU BatchNorm,
ResNet-110's batch -- each checked against the authors' files -- and the page that lists them."""

import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from superconv import conventions, data, experiments, models, optim, paper_setup
from superconv.caffe_resnet import CaffeBlock
from superconv.evaluation import evaluate, read_counts
from superconv.ghost_bn import GhostBatchNorm2d, use_ghost_batches
from superconv.studies import depth
from superconv.train import fit

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the page

def test_committed_page_is_the_generated_one():
    assert (ROOT / "paper_setup.md").read_text(encoding="utf-8") == paper_setup.page_markdown(), (
        "paper_setup.md is stale: regenerate it with `python -m superconv.paper_setup --write paper_setup.md`")
    assert re.search(r"^\s*- file: paper_setup\s*$", (ROOT / "_toc.yml").read_text(), re.M)


def test_every_setting_names_its_source_and_a_known_status():
    for s in paper_setup.SETTINGS:
        assert s.source and s.authors and s.status in paper_setup.STATUSES, s
        assert s.status == "as the authors" or s.note, f"{s.item}: a difference must say what the profile does"
    with pytest.raises(ValueError, match="is not a setting"):
        paper_setup.setting("nothing")


# --------------------------------------------------------------------------- the architecture

def _prototxt_count(depth_: int) -> int:
    """Resnet{depth}Cifar.prototxt counted layer by layer: 3x3 convolutions with biases (the
    stem 3 -> 16; stage 1 at 16; stage 2's first block at 16, the rest at 32; stage 3's first at
    32, the rest at 64), Scale gamma and beta per BN, and the 64 -> 10 classifier."""
    n = (depth_ - 2) // 6
    convs = [(3, 16)] + [(16, 16)] * (2 * n) + [(16, 16)] * 2 + [(32, 32)] * (2 * n - 2) + [(32, 32)] * 2 \
        + [(64, 64)] * (2 * n - 2)
    assert len(convs) == 6 * n + 1
    weights = sum(9 * i * o for i, o in convs)
    biases = sum(o for _, o in convs)
    return weights + biases + 2 * biases + 64 * 10 + 10


@pytest.mark.parametrize("depth_, count", [(20, 224_042), (56, 808_682), (110, 1_685_642)])
def test_parameter_count_is_the_prototxts(depth_, count):
    assert _prototxt_count(depth_) == count
    assert models.count_parameters(models.build(f"caffe_resnet{depth_}")) == count


def test_the_downsampling_block_is_the_prototxts():
    torch.manual_seed(0)
    block = CaffeBlock(4, stride=2).eval()
    x = torch.randn(2, 4, 32, 32)
    out = block(x)
    assert out.shape == (2, 8, 16, 16)
    assert torch.count_nonzero(out[:, 4:]) == 0  # the concatenated zero channels
    # Caffe's AVE pooling, 3x3 stride 2, no pad, output ceil((32-3)/2)+1 = 16: the last window
    # covers rows 30..31 and averages those 2 (x 3 or 2) pixels
    pool = torch.stack([torch.stack([x[:, :, 2 * i:min(2 * i + 3, 32), 2 * j:min(2 * j + 3, 32)].mean((2, 3))
                                     for j in range(16)], -1) for i in range(16)], -2)
    residual = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))
    torch.testing.assert_close(out[:, :4], F.relu(residual + pool))


def test_caffe_multipliers_reach_the_optimizer():
    m = models.build("caffe_resnet20")
    groups = optim.param_groups(m, 1e-4)
    assert [(g["lr_mult"], g["weight_decay"]) for g in groups] == [(1.0, 1e-4), (2.0, 0.0), (2.0, 1e-4)]
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))
    assert len(groups[1]["params"]) == sum(isinstance(x, nn.Conv2d) for x in m.modules())  # conv biases
    opt = optim.make_optimizer(groups, "caffe", lr=0.1, momentum=0.9)
    optim.set_hyperparameters(opt, 0.3, 0.9)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.3, 0.6, 0.6])
    # a model without multipliers: one group, as before
    plain = optim.param_groups(models.build("resnet20"), 1e-4)
    assert len(plain) == 1 and plain[0]["weight_decay"] == 1e-4


# --------------------------------------------------------------------------- ghost batch norm

def test_ghost_bn_is_batch_norm_per_gpu_slice():
    torch.manual_seed(0)
    x = torch.randn(12, 3, 5, 5) * 2 + 1
    ghost = GhostBatchNorm2d(3, ghost_batch=4, momentum=0.1)
    gpus = [nn.BatchNorm2d(3, momentum=0.1) for _ in range(3)]  # one BN per GPU, same init
    out = ghost(x)
    torch.testing.assert_close(out, torch.cat([bn(s) for bn, s in zip(gpus, x.split(4))]))
    # the moving averages are the root GPU's (the first slice's)
    torch.testing.assert_close(ghost.running_mean, gpus[0].running_mean)
    torch.testing.assert_close(ghost.running_var, gpus[0].running_var)
    ghost.eval()
    gpus[0].eval()
    torch.testing.assert_close(ghost(x), gpus[0](x))


def test_ghost_bn_without_momentum_is_a_cumulative_average_as_batch_norm():
    """momentum=None (what precise BN recomputes with): the first slices' plain average."""
    torch.manual_seed(0)
    ghost, plain = GhostBatchNorm2d(3, ghost_batch=4, momentum=None), nn.BatchNorm2d(3, momentum=None)
    for _ in range(3):
        x = torch.randn(8, 3, 4, 4) * 5 + 2
        ghost(x)
        plain(x[:4])
    torch.testing.assert_close(ghost.running_var, plain.running_var)
    torch.testing.assert_close(ghost.running_mean, plain.running_mean)


def test_ghost_batch_must_split_the_batch_evenly():
    split = _cifar_like(64)
    with pytest.raises(ValueError, match="ghost_batch=24 would leave a smaller last slice.*a divisor of each process's batch"):
        fit(models.build("resnet8", width=4), split, None, 0.01, iterations=1, batch_size=32, ghost_batch=24,
            device="cpu", progress=False)
    use_ghost_batches(m := models.build("resnet8", width=4), 8)
    use_ghost_batches(m, 16)  # an already ghost model takes the new size
    assert {x.ghost_batch for x in m.modules() if isinstance(x, GhostBatchNorm2d)} == {16}


def test_use_ghost_batches_swaps_every_bn_and_keeps_its_state():
    torch.manual_seed(0)
    m = models.build("resnet8", width=4)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    use_ghost_batches(m, 8)
    bns = [x for x in m.modules() if isinstance(x, nn.BatchNorm2d)]
    assert bns and all(isinstance(x, GhostBatchNorm2d) and x.ghost_batch == 8 for x in bns)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    # a batch of 16 through the ghost model = two 8-image halves through copies of the plain model
    m.train()
    x = torch.randn(16, 3, 16, 16)
    halves = []
    for s in x.split(8):
        twin = models.build("resnet8", width=4)
        twin.load_state_dict(before)
        twin.train()
        halves.append(twin(s))
    torch.testing.assert_close(m(x), torch.cat(halves), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- the paper profile

def test_the_paper_profile_runs_the_authors_settings():
    for policy in ("one_cycle", "pc_lr"):
        s = experiments.make_spec("paper", policy)
        assert (s["model"], s["sgd"], s["ghost_batch"], s["batch_size"]) == ("caffe_resnet56", "caffe", 125, 1000)
    # Caffe fractions 0.95 (CLR) and 0.999 (PC-LR) in PyTorch's convention
    assert experiments.make_spec("paper", "one_cycle")["bn_momentum"] == pytest.approx(1 - 0.95)
    assert experiments.make_spec("paper", "pc_lr")["bn_momentum"] == pytest.approx(1 - 0.999)
    # ResNet-110 at 8 GPUs x 100 (x.sh: sed s/125/100/g), the other depths at 8 x 125
    r110 = depth.spec("paper", "pc_lr", 110)
    assert (r110["model"], r110["batch_size"], r110["ghost_batch"]) == ("caffe_resnet110", 800, 100)
    r20 = depth.spec("paper", "pc_lr", 20)
    assert (r20["model"], r20["batch_size"], r20["ghost_batch"]) == ("caffe_resnet20", 1000, 125)
    # the laptop profile keeps the modern conventions (paper_setup.LAPTOP says why)
    lap = experiments.make_spec("laptop", "one_cycle")
    assert (lap["model"], lap["sgd"], lap.get("ghost_batch")) == ("resnet8", "torch", None)
    assert depth.spec("laptop", "one_cycle", 14)["model"] == "resnet14"


def test_each_setting_can_switch_to_the_modern_convention():
    s = experiments.make_spec("paper", "one_cycle", model="resnet56", sgd="torch")
    assert (s["model"], s["sgd"]) == ("resnet56", "torch")
    with pytest.raises(ValueError, match="ghost_batch"):
        experiments.make_spec("paper", "one_cycle", ghost_batch=0)


def _cifar_like(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return data.Split(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                      torch.randint(0, 10, (n,), generator=g), mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26),
                      classes=[str(i) for i in range(10)], name="cifar10", train=True)


def test_the_paper_headline_spec_trains_two_iterations_on_cpu():
    """The paper path end to end without a GPU: the headline spec's model, SGD and per-GPU BN on
    synthetic CIFAR-shaped data (the batch cut to two GPUs' worth, 2 x 125)."""
    spec = experiments.make_spec("paper", "one_cycle")
    train = _cifar_like(300)
    model = experiments.build_model(spec, train)
    h = fit(model, train, _cifar_like(50, seed=1), experiments.build_schedule(spec["schedule"]),
            momentum=spec["momentum"], iterations=2, batch_size=250, weight_decay=spec["weight_decay"],
            sgd=spec["sgd"], bn_momentum=spec["bn_momentum"], ghost_batch=spec["ghost_batch"], eval_every=2,
            device="cpu", precision="fp32", progress=False, train_eval_size=50)
    assert h.iterations == 2 and not h.diverged and len(h.test_acc) == 1
    assert h.config["ghost_batch"] == 125 and h.config["sgd"] == "caffe" and h.config["parameters"] == 808_682
    assert sum(isinstance(m, GhostBatchNorm2d) for m in model.modules()) == 55


# --------------------------------------------------------------------------- inputs, order, test reads

def _toy(n=16, c=2, h=3, w=4, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)
    mean_image = images.double().mean(0).float()
    return data.Split(images, torch.arange(n) % 2, mean=(0.5,) * c, std=(0.2,) * c, classes=["a", "b"],
                      name="toy", train=True, mean_image=mean_image, **kw)


def test_mean_image_input_mirrors_the_mean_with_the_image():
    """Caffe's DataTransformer subtracts the mean at the source pixel, then mirrors: a flipped
    image is mirror(x - mean), i.e. mirror(x) - mirror(mean)."""
    split = _toy(input_norm="mean_image")
    b = data.Batches(split, 8, seed=3, flip=True)
    x, _ = b.batch(0)
    idx, flips = b.indices(0), b.flips(0)
    assert flips.any() and not flips.all()
    raw = split.images[idx].float()
    want = torch.where(flips.view(-1, 1, 1, 1), (raw - split.mean_image).flip(-1), raw - split.mean_image)
    torch.testing.assert_close(x, want)
    with pytest.raises(ValueError, match="crop_pad"):
        data.Batches(split, 8, crop_pad=2)
    with pytest.raises(ValueError, match="mean_image"):
        data.Split(split.images, split.labels, split.mean, split.std, split.classes, "toy", True,
                   input_norm="mean_image")


def test_file_order_deals_each_batch_to_the_gpus_and_repeats_every_epoch():
    split = _toy()
    b = data.Batches(split, 8, order="file", interleave=4)
    # slice g of a batch holds its images g, g + 4 (Caffe: datum i goes to GPU i % 4)
    assert b.indices(0).tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    assert b.indices(1).tolist() == [8, 12, 9, 13, 10, 14, 11, 15]
    assert b.indices(2).tolist() == b.indices(0).tolist()  # the next pass: the same order
    assert not torch.equal(b._epoch_draws(0)[1], b._epoch_draws(1)[1])  # but new flips
    assert data.Batches(split, 8, order="file").indices(0).tolist() == list(range(8))
    assert data.Batches(split, 8).indices(0).tolist() != list(range(8))  # shuffle, as before
    with pytest.raises(ValueError, match="interleave"):
        data.Batches(split, 8, order="file", interleave=3)


def test_file_order_is_one_stream_that_wraps_around_as_an_lmdb_cursor():
    """20 images in batches of 8: batch 2 is stream positions 16..23, the split's last 4 images
    and then its first 4, each with the flip of its own pass -- no image is skipped at an epoch's end."""
    split = _toy(n=20)
    b = data.Batches(split, 8, order="file")
    assert b.indices(2).tolist() == [16, 17, 18, 19, 0, 1, 2, 3]
    assert sorted(sum((b.indices(i).tolist() for i in range(5)), [])) == sorted(list(range(20)) * 2)
    f0, f1 = b._epoch_draws(0)[1], b._epoch_draws(1)[1]
    assert b.flips(2).tolist() == f0[16:20].tolist() + f1[0:4].tolist()
    dealt = data.Batches(split, 8, order="file", interleave=2)
    assert dealt.indices(2).tolist() == [16, 18, 0, 2, 17, 19, 1, 3]  # GPU 0: stream positions 16, 18, 20, 22


def test_test_reads_count_the_first_images_three_times():
    """25,000 reads of 10,000 images (test_iter 200 x 125) = the first 5,000 three times, the rest
    twice: the same as evaluating the images concatenated in that order."""
    assert read_counts(10_000, 25_000)[:5000].eq(3).all() and read_counts(10_000, 25_000)[5000:].eq(2).all()
    torch.manual_seed(0)
    model = models.build("resnet8", width=4, num_classes=2, in_channels=2)
    split = _toy(n=10, h=8, w=8)
    repeated = split.subset(torch.arange(25) % 10)
    got = evaluate(model, split, batch_size=4, precision="fp32", reads=25)
    want = evaluate(model, repeated, batch_size=4, precision="fp32")
    assert got[1] == want[1] and got[0] == pytest.approx(want[0], rel=1e-6)  # loss: float32 sums in another order


def test_the_paper_profile_reads_data_as_the_authors():
    s = experiments.make_spec("paper", "pc_lr")
    assert (s["input_norm"], s["data_order"], s["test_reads"]) == ("mean_image", "file", 25_000)
    assert depth.spec("paper", "pc_lr", 110)["test_reads"] == 20_000
    lap = experiments.make_spec("laptop", "pc_lr")
    assert all(lap.get(k) is None for k in ("input_norm", "data_order", "test_reads"))
    with pytest.raises(ValueError, match="data_order"):
        experiments.make_spec("paper", "pc_lr", data_order="random")


def test_the_1cycle_table_rows_use_the_authors_table_setup():
    """hyperParam1's CIFAR runs: Nesterov, BN fraction 0.9 (DenseNet 0.999, unless its window
    would be stale and is cut: experiments.fresh_bn), 4 GPUs x 128, 6,400 test reads; the MNIST
    LeNet reads x / 256 as Caffe's lenet_train_test.prototxt."""
    from superconv.studies import datasets
    rows = datasets.rows("paper", seeds=[0])
    seen = set()
    for r in rows:
        s = r.specs[0]
        if s["dataset"] == "mnist":
            assert s["input_norm"] == "unit" and "ghost_batch" not in s and "test_reads" not in s
            seen.add("lenet")
        elif r.group in ("cifar10_wrn", "cifar10_densenet"):
            assert s["nesterov"] and s["test_reads"] == 6_400 and s["ghost_batch"] == s["batch_size"] // 4 == 128
            fraction = 0.999 if s["model"] == datasets.DENSENET else 0.9
            assert s["bn_momentum"] >= 1 - fraction - 1e-12  # the authors', or a shorter window (fresh_bn)
            seen.add(r.group)
    assert seen == {"lenet", "cifar10_wrn", "cifar10_densenet"}


# --------------------------------------------------------------------------- switching to PyTorch's conventions

def test_modern_switches_each_setting_to_pytorchs_convention():
    s = experiments.make_spec("paper", "one_cycle")
    m = conventions.modern(s, list(conventions.SWITCHES))
    assert (m["model"], m["sgd"]) == ("resnet56", "torch")
    assert all(k not in m for k in ("ghost_batch", "input_norm", "data_order", "test_reads"))
    assert s["sgd"] == "caffe"  # a copy: the spec itself is unchanged
    with pytest.raises(ValueError, match="'nesterov' is not a setting that switches"):
        conventions.modern(s, ["nesterov"])


def test_modern_parameter_and_environment(monkeypatch):
    from superconv import chapter
    monkeypatch.setenv(experiments.MODERN_ENV, "")  # restored after the test, whatever setup sets
    assert experiments.make_spec("paper", "pc_lr")["sgd"] == "caffe"
    # the notebook parameter sets the variable for this process's runs
    chapter.setup("paper", "cpu", None, modern=["sgd", "model"])
    assert experiments.modern_settings() == ("sgd", "model")
    s = experiments.make_spec("paper", "pc_lr")
    assert (s["sgd"], s["model"], s["ghost_batch"]) == ("torch", "resnet56", 125)
    assert depth.spec("paper", "pc_lr", 110)["model"] == "resnet110"
    assert experiments.make_spec("laptop", "pc_lr")["model"] == "resnet8"  # below the paper profile: nothing
    chapter.setup("paper", "cpu", None, modern=[])  # back to the authors' setup
    assert experiments.make_spec("paper", "pc_lr")["sgd"] == "caffe"
    for bad in (["sgd", "sgd"], ["adam"], "sgd"):
        with pytest.raises(chapter.ParameterError, match="MODERN") as e:
            chapter.setup("paper", "cpu", None, modern=bad)
        assert "\n" not in str(e.value)
    with pytest.raises(chapter.ParameterError, match="MODERN=.*below the paper profile"):
        chapter.setup("laptop", "cpu", None, modern=["sgd"])
    monkeypatch.setenv(experiments.MODERN_ENV, "sgd,bogus")
    with pytest.raises(chapter.ParameterError, match="SUPERCONV_MODERN"):
        chapter.setup("paper", "cpu", None)


# --------------------------------------------------------------------------- the CLR paper's net

def test_cifar10_full_is_caffes_prototxt():
    from superconv.cifar10_full import WithinChannelLRN
    m = models.build("cifar10_full")
    # conv 3->32, 32->32, 32->64 (5x5, with biases) and fc 64*4*4 -> 10
    assert models.count_parameters(m) == (75 * 32 + 32) + (800 * 32 + 32) + (800 * 64 + 64) + (1024 * 10 + 10) == 89_578
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # Caffe's WITHIN_CHANNEL LRN: x / (1 + alpha * (3x3 zero-padded mean of x^2))^beta
    x = torch.randn(1, 2, 5, 5) * 50
    pad = F.pad(x * x, (1, 1, 1, 1))
    mean_sq = torch.stack([torch.stack([pad[:, :, i:i + 3, j:j + 3].sum((2, 3)) / 9 for j in range(5)], -1)
                           for i in range(5)], -2)
    torch.testing.assert_close(WithinChannelLRN()(x), x * (1 + 5e-5 * mean_sq) ** -0.75)
    groups = optim.param_groups(m, 0.004)
    by = {(g["lr_mult"], g["weight_decay"]): len(g["params"]) for g in groups}
    assert by == {(1.0, 0.004): 4, (2.0, 0.004): 2, (1.0, 0.004 * 250): 1, (2.0, 0.0): 1}
