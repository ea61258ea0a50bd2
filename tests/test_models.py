"""Tests for superconv.models: exact sizes, shapes, shortcuts, init, mixed precision, training."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from superconv.models import (
    BasicBlock,
    CifarResNet,
    LeNet5,
    ZeroPadShortcut,
    available_models,
    build,
    cifar_resnet,
    count_parameters,
    lenet5,
)

torch.set_num_threads(2)


def expected_resnet_params(depth, num_classes=10, in_channels=3, width=16, shortcut="A"):
    """Parameter count of the CIFAR ResNet, derived layer by layer from the architecture."""
    n = (depth - 2) // 6
    conv3 = lambda cin, cout: 9 * cin * cout  # noqa: E731  (no bias)
    bn = lambda c: 2 * c  # noqa: E731  (weight + bias)
    total = conv3(in_channels, width) + bn(width)  # stem
    cin = width
    for cout in (width, 2 * width, 4 * width):
        for _ in range(n):
            total += conv3(cin, cout) + bn(cout) + conv3(cout, cout) + bn(cout)
            if shortcut == "B" and cin != cout:
                total += cin * cout + bn(cout)  # 1x1 projection + BN
            cin = cout
    return total + 4 * width * num_classes + num_classes  # fc


# ----------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("depth, count", [(20, 269_722), (56, 853_018), (110, 1_727_962)])
def test_resnet_exact_parameter_counts(depth, count):
    model = cifar_resnet(depth)
    assert count_parameters(model) == count
    assert expected_resnet_params(depth) == count
    assert model.name == f"ResNet-{depth}"
    assert model.depth == depth
    assert model.blocks_per_stage == (depth - 2) // 6
    assert model.block_count == 3 * model.blocks_per_stage


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_shortcut_b_adds_two_projections(depth):
    a = count_parameters(cifar_resnet(depth, shortcut="A"))
    b = count_parameters(cifar_resnet(depth, shortcut="B"))
    assert b > a
    assert b == expected_resnet_params(depth, shortcut="B")
    # Two projections, 16->32 and 32->64, each 1x1 conv + BN.
    assert b - a == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64) == 2752


@pytest.mark.parametrize("kwargs", [
    dict(depth=8, width=4),
    dict(depth=14, width=8, in_channels=1, num_classes=100),
    dict(depth=32, width=10, num_classes=7, shortcut="B"),
    dict(depth=20, downsample="avgpool"),
])
def test_resnet_counts_match_formula(kwargs):
    assert count_parameters(cifar_resnet(**kwargs)) == expected_resnet_params(
        **{k: v for k, v in kwargs.items() if k != "downsample"})


def test_lenet_parameter_count():
    # conv1 1*20*25+20, conv2 20*50*25+50, fc1 800*500+500, fc2 500*10+10
    expected = 520 + 25_050 + 400_500 + 5_010
    assert expected == 431_080
    assert count_parameters(lenet5()) == 431_080
    # 32x32x3: conv1 3*20*25+20 and 50*5*5 = 1250 features into fc1.
    assert count_parameters(lenet5(in_channels=3, input_size=32)) == 1_520 + 25_050 + 1_250 * 500 + 500 + 5_010


def test_count_parameters_only_trainable():
    model = cifar_resnet(8, width=4)
    total = count_parameters(model)
    model.fc.weight.requires_grad_(False)
    assert count_parameters(model) == total - model.fc.weight.numel()


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("depth", [21, 0, 2, 7, 9, -4, 20.0, "20", True, None])
def test_bad_depth_raises(depth):
    with pytest.raises(ValueError, match=r"depth=.*allowed: 8, 14, 20, 32, 44, 56, 110"):
        cifar_resnet(depth)


@pytest.mark.parametrize("kwargs, param", [
    (dict(shortcut="C"), "shortcut"),
    (dict(shortcut=None), "shortcut"),
    (dict(downsample="maxpool"), "downsample"),
    (dict(shortcut="B", downsample="avgpool"), "downsample"),
    (dict(width=0), "width"),
    (dict(width=8.0), "width"),
    (dict(num_classes=0), "num_classes"),
    (dict(in_channels=-1), "in_channels"),
])
def test_bad_resnet_arguments_raise(kwargs, param):
    with pytest.raises(ValueError, match=rf"{param}=.*allowed"):
        cifar_resnet(20, **kwargs)


@pytest.mark.parametrize("kwargs, param", [
    (dict(input_size=12), "input_size"),
    (dict(input_size=(28,)), "input_size"),
    (dict(input_size="28"), "input_size"),
    (dict(num_classes=0), "num_classes"),
    (dict(in_channels=0), "in_channels"),
])
def test_bad_lenet_arguments_raise(kwargs, param):
    with pytest.raises(ValueError, match=rf"{param}=.*allowed"):
        lenet5(**kwargs)


# ---------------------------------------------------------------------------- registry


def test_build_registry():
    assert isinstance(build("resnet20"), CifarResNet) and build("resnet20").depth == 20
    assert build("resnet56").depth == 56
    assert build("resnet110", width=4).depth == 110
    assert build("ResNet-32").name == "ResNet-32"
    assert build("resnet8", width=4, num_classes=100).fc.out_features == 100
    assert isinstance(build("lenet5"), LeNet5)
    assert count_parameters(build("lenet5")) == 431_080
    assert {"resnet20", "resnet56", "resnet110", "lenet5"} <= set(available_models())


def test_build_unknown_name_lists_allowed():
    with pytest.raises(ValueError, match=r"name='vgg16'.*allowed: .*lenet5.*resnet20"):
        build("vgg16")
    with pytest.raises(ValueError, match=r"depth=21 is not 6n\+2"):
        build("resnet21")


# ------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28), (3, 15, 15)])
@pytest.mark.parametrize("num_classes", [10, 3, 100])
@pytest.mark.parametrize("shortcut, downsample", [("A", "subsample"), ("A", "avgpool"), ("B", "subsample")])
def test_resnet_output_shapes(shape, num_classes, shortcut, downsample):
    model = cifar_resnet(8, num_classes=num_classes, in_channels=shape[0], width=4,
                         shortcut=shortcut, downsample=downsample)
    assert model(torch.randn(2, *shape)).shape == (2, num_classes)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 15, 15)])
@pytest.mark.parametrize("num_classes", [10, 2])
def test_lenet_output_shapes(shape, num_classes):
    model = lenet5(num_classes=num_classes, in_channels=shape[0], input_size=shape[1])
    assert model(torch.randn(2, *shape)).shape == (2, num_classes)


def test_lenet_rectangular_input():
    assert lenet5(input_size=(28, 32))(torch.randn(2, 1, 28, 32)).shape == (2, 10)


def test_eval_mode_single_image():
    model = cifar_resnet(8, width=4).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


# ---------------------------------------------------------------------------- shortcuts


@pytest.mark.parametrize("size", [32, 15, 7])
def test_zero_pad_shortcut_subsample(size):
    sc = ZeroPadShortcut(4, 8, stride=2, mode="subsample")
    assert len(list(sc.parameters())) == 0 and len(list(sc.buffers())) == 0
    x = torch.randn(2, 4, size, size)
    y = sc(x)
    conv_out = nn.Conv2d(4, 8, 3, stride=2, padding=1)(x)
    assert y.shape == conv_out.shape == (2, 8, math.ceil(size / 2), math.ceil(size / 2))
    torch.testing.assert_close(y[:, :4], x[:, :, ::2, ::2], rtol=0, atol=0)
    assert torch.all(y[:, 4:] == 0)


@pytest.mark.parametrize("size", [32, 15])
def test_zero_pad_shortcut_avgpool(size):
    sc = ZeroPadShortcut(4, 8, stride=2, mode="avgpool")
    x = torch.randn(2, 4, size, size)
    y = sc(x)
    assert y.shape == nn.Conv2d(4, 8, 3, stride=2, padding=1)(x).shape
    half = size // 2
    # Full 2x2 windows are plain means.
    expected = x[:, :, : 2 * half, : 2 * half].reshape(2, 4, half, 2, half, 2).mean(dim=(3, 5))
    torch.testing.assert_close(y[:, :4, :half, :half], expected)
    if size % 2:  # the ceil-mode corner window holds one pixel
        torch.testing.assert_close(y[:, :4, -1, -1], x[:, :, -1, -1])
    assert torch.all(y[:, 4:] == 0)


def test_shortcut_a_model_is_parameter_free_in_shortcuts():
    model = cifar_resnet(20)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 9
    kinds = [type(b.shortcut).__name__ for b in blocks]
    assert kinds.count("ZeroPadShortcut") == 2 and kinds.count("Identity") == 7
    assert all(count_parameters(b.shortcut) == 0 for b in blocks)
    b_model = cifar_resnet(20, shortcut="B")
    b_blocks = [m for m in b_model.modules() if isinstance(m, BasicBlock)]
    assert sum(count_parameters(b.shortcut) > 0 for b in b_blocks) == 2


# --------------------------------------------------------------------------------- init


def test_he_init_statistics():
    torch.manual_seed(0)
    model = cifar_resnet(56)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is None for m in convs)
    for conv in convs:
        fan_in = conv.weight[0].numel()
        if conv.weight.numel() < 5000:  # too few samples for a tight std estimate
            continue
        std = conv.weight.std().item()
        assert abs(std / math.sqrt(2.0 / fan_in) - 1) < 0.05, (conv, std)
        assert abs(conv.weight.mean().item()) < 0.1 * std
    # Caffe xavier on the classifier: U(-a, a), a = sqrt(3 / fan_in); zero bias.
    bound = math.sqrt(3.0 / model.fc.in_features)
    assert model.fc.weight.abs().max() <= bound
    assert model.fc.weight.abs().max() > 0.8 * bound
    assert torch.all(model.fc.bias == 0)
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_lenet_init():
    model = lenet5()
    for layer in (model.conv1, model.conv2, model.fc1, model.fc2):
        assert layer.weight.abs().max() <= math.sqrt(3.0 / layer.weight[0].numel())
        assert torch.all(layer.bias == 0)


# ------------------------------------------------------------------ precision / layout


@pytest.mark.parametrize("factory", [
    lambda: cifar_resnet(8, width=4),
    lambda: cifar_resnet(8, width=4, downsample="avgpool"),
    lambda: cifar_resnet(8, width=4, shortcut="B"),
    lambda: lenet5(in_channels=3, input_size=32),
], ids=["resnetA", "resnetA-avgpool", "resnetB", "lenet"])
def test_bf16_autocast_channels_last_backward(factory):
    torch.manual_seed(0)
    model = factory().to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (4,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
    assert logits.shape == (4, 10)
    assert logits.dtype == torch.bfloat16  # autocast really ran the layers in bf16
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all(), name


def test_channels_last_matches_contiguous():
    torch.manual_seed(0)
    model = cifar_resnet(8, width=4).eval()
    x = torch.randn(2, 3, 15, 15)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_double_backward_for_hessian_vector_products():
    # The Hessian-free LR estimate differentiates through gradients.
    torch.manual_seed(0)
    model = cifar_resnet(8, width=4)
    loss = F.cross_entropy(model(torch.randn(4, 3, 16, 16)), torch.randint(0, 10, (4,)))
    params = [p for p in model.parameters()]
    grads = torch.autograd.grad(loss, params, create_graph=True)
    vec = [torch.randn_like(p) for p in params]
    hv = torch.autograd.grad(sum((g * v).sum() for g, v in zip(grads, vec)), params)
    assert all(torch.isfinite(h).all() for h in hv)


# ----------------------------------------------------------------------------- training


def test_tiny_resnet_overfits_random_batch():
    torch.manual_seed(0)
    model = cifar_resnet(8, width=4)
    x = torch.randn(32, 3, 32, 32)
    y = torch.randint(0, 10, (32,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.7 * losses[0], losses
