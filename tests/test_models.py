"""Tests for superconv.models: exact sizes, shapes, shortcuts, init, mixed precision, training.

Counts of the big nets (WRN-28-10, DenseNet-BC-250, ResNet-50) are taken on the meta device:
same modules and shapes, no memory, no init cost."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from superconv.models import (
    PAPER_DENSENET,
    PAPER_DENSENET_KWARGS,
    PAPER_WIDE_RESNET,
    BasicBlock,
    CifarResNet,
    DenseNet,
    LeNet5,
    SmithWideResNet,
    WideBasicBlock,
    WideResNet,
    ZeroPadShortcut,
    available_models,
    build,
    cifar_resnet,
    count_parameters,
    densenet,
    densenet_bc,
    imagenet_resnet50,
    lenet5,
    smith_wide_resnet,
    wide_resnet,
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
    lambda: wide_resnet(10, 1, dropout=0.3),
    lambda: smith_wide_resnet(8, widths=(4, 8, 16)),
    lambda: densenet(10, growth_rate=4, dropout=0.2),
    lambda: densenet_bc(10, growth_rate=4),
], ids=["resnetA", "resnetA-avgpool", "resnetB", "lenet", "wrn", "smith-wide", "densenet", "densenet-bc"])
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


# ===================================================== wide ResNet, DenseNet, ImageNet ResNet-50


def on_meta(factory):
    with torch.device("meta"):
        return factory()


def expected_wrn_params(depth, k, num_classes=10, in_channels=3):
    """WRN-d-k counted from Zagoruyko & Komodakis' description (no conv biases)."""
    n = (depth - 4) // 6
    total, cin = 9 * in_channels * 16, 16  # stem
    for cout in (16 * k, 32 * k, 64 * k):
        for _ in range(n):
            total += 2 * cin + 9 * cin * cout + 2 * cout + 9 * cout * cout  # BN conv BN conv
            if cin != cout:
                total += cin * cout  # 1x1 projection (the first block of each stage)
            cin = cout
    return total + 2 * cin + cin * num_classes + num_classes  # final BN, fc


def expected_densenet_params(depth, k, bc=False, num_classes=10, in_channels=3):
    """Huang et al.'s CIFAR DenseNet counted layer by layer (no conv biases)."""
    n = (depth - 4) // (6 if bc else 3)
    c = 2 * k if bc else 16
    total = 9 * in_channels * c
    for block in range(3):
        for _ in range(n):
            if bc:  # BN, 1x1 to 4k, BN, 3x3 to k
                total += 2 * c + c * 4 * k + 2 * 4 * k + 9 * 4 * k * k
            else:  # BN, 3x3 to k
                total += 2 * c + 9 * c * k
            c += k
        if block < 2:
            out = c // 2 if bc else c
            total += 2 * c + c * out  # transition BN + 1x1
            c = out
    return total + 2 * c + c * num_classes + num_classes


def expected_smith_wide_params(depth=32, widths=(16, 64, 256), num_classes=10, in_channels=3):
    """wide32cifar.prototxt counted: convs with biases, BN+Scale = 2 per channel, 2x2 projections."""
    n = (depth - 2) // 6
    conv = lambda cin, cout, ks: ks * ks * cin * cout + cout  # noqa: E731
    total, cin = conv(in_channels, 16, 3) + 2 * 16, 16
    for i, cout in enumerate(widths):
        for j in range(n):
            total += conv(cin, cout, 3) + conv(cout, cout, 3) + 4 * cout
            if cin != cout:
                total += conv(cin, cout, 2 if (i > 0 and j == 0) else 1) + 2 * cout
            cin = cout
    return total + cin * num_classes + num_classes


# Published counts. Exact ones: WRN-28-10 36,479,194 (the count every PyTorch WRN reports, e.g.
# osmr/imgclsmob's wrn28_10_cifar10; 36,536,884 with 100 classes; WRN-16-10/CIFAR-100
# 17,174,324); DenseNet-40 1,019,722 (as tabulated for DenseNet(L=40, k=12) in Keras ports);
# DenseNet-BC-100 769,162 and BC-250 (k=24) 15,324,406 (imgclsmob's ports of the authors' nets).
# The rounded ones are the papers' tables (WRN: 36.5M, 11.0M, 8.9M; DenseNet Table 2).
# imgclsmob's own "densenet40_k12" (599,050) halves channels in its transitions and starts with
# 2k channels, so it is not the original DenseNet (L=40, k=12).
@pytest.mark.parametrize("depth, k, num_classes, exact, paper_m", [
    (28, 10, 10, 36_479_194, 36.5),
    (16, 8, 10, 10_961_370, 11.0),
    (40, 4, 10, 8_949_210, 8.9),
    (28, 10, 100, 36_536_884, None),
    (16, 10, 100, 17_174_324, None),
])
def test_wrn_exact_parameter_counts(depth, k, num_classes, exact, paper_m):
    model = on_meta(lambda: wide_resnet(depth, k, num_classes=num_classes))
    assert count_parameters(model) == expected_wrn_params(depth, k, num_classes) == exact
    if paper_m is not None:
        assert round(exact / 1e6, 1) == paper_m
    assert model.name == f"WRN-{depth}-{k}" and model.blocks_per_stage == (depth - 4) // 6


@pytest.mark.parametrize("depth, k, bc, exact, paper_m", [
    (40, 12, False, 1_019_722, 1.0),
    (100, 12, False, 6_979_642, 7.0),
    (100, 24, False, 27_249_082, 27.2),
    (100, 12, True, 769_162, 0.8),
    (250, 24, True, 15_324_406, 15.3),
    (190, 40, True, 25_624_430, 25.6),
])
def test_densenet_exact_parameter_counts(depth, k, bc, exact, paper_m):
    factory = densenet_bc if bc else densenet
    model = on_meta(lambda: factory(depth, growth_rate=k))
    assert count_parameters(model) == expected_densenet_params(depth, k, bc) == exact
    assert round(exact / 1e6, 1) == paper_m
    assert model.name == f"DenseNet{'-BC' if bc else ''}-{depth} (k={k})"


@pytest.mark.parametrize("kwargs", [
    dict(), dict(depth=8, widths=(4, 8, 16)), dict(widths=(8, 32, 128), num_classes=100, in_channels=1),
])
def test_smith_wide_parameter_count(kwargs):
    assert count_parameters(on_meta(lambda: smith_wide_resnet(**kwargs))) == expected_smith_wide_params(**kwargs)


def test_smith_wide32_count_and_layers():
    model = smith_wide_resnet()
    assert count_parameters(model) == 5_903_626
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    # stem + 3 stages x 5 blocks x 2 + two 2x2 projections = 33 convolutions, as in the prototxt
    assert len(convs) == 33 and all(m.bias is not None for m in convs)
    assert sorted(m.kernel_size for m in convs).count((2, 2)) == 2
    assert [m.out_channels for m in convs if m.kernel_size == (3, 3)][-1] == 256


def test_imagenet_resnet50_matches_torchvision():
    torchvision = pytest.importorskip("torchvision")
    ours = on_meta(imagenet_resnet50)
    ref = on_meta(lambda: torchvision.models.resnet50(weights=None))
    assert isinstance(ours, torchvision.models.ResNet)
    assert count_parameters(ours) == count_parameters(ref) == 25_557_032
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    assert count_parameters(on_meta(lambda: build("imagenet_resnet50", num_classes=10))) == \
        25_557_032 - 2048 * 990 - 990


# ------------------------------------------------------------- reference forward passes


def randomize_bn_(model, seed=0):
    # Default BN (mean 0, var 1, weight 1, bias 0) is near the identity in eval mode, which would
    # hide a misplaced BN; random statistics make every BN count.
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
    return model.eval()


def bn(m, x):
    return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)


def wrn_reference(model, x):
    """Zagoruyko & Komodakis' pre-activation forward, written out with functional ops."""
    x = F.conv2d(x, model.stem.weight, padding=1)
    for stage in (model.stage1, model.stage2, model.stage3):
        for b in stage:
            act = F.relu(bn(b.bn1, x))
            r = F.conv2d(act, b.conv1.weight, stride=b.conv1.stride, padding=1)
            r = F.conv2d(F.relu(bn(b.bn2, r)), b.conv2.weight, padding=1)
            x = r + (x if b.shortcut is None else F.conv2d(act, b.shortcut.weight, stride=b.conv1.stride))
    return F.linear(F.relu(bn(model.bn, x)).mean((2, 3)), model.fc.weight, model.fc.bias)


def smith_wide_reference(model, x):
    """wide32cifar.prototxt's forward: no ReLU after a sum, 2x2 stride-2 projections."""
    stem_conv, stem_bn, _ = model.stem
    x = F.relu(bn(stem_bn, F.conv2d(x, stem_conv.weight, stem_conv.bias, padding=1)))
    for stage in (model.stage1, model.stage2, model.stage3):
        for b in stage:
            r = F.relu(bn(b.bn1, F.conv2d(x, b.conv1.weight, b.conv1.bias, stride=b.stride, padding=1)))
            r = bn(b.bn2, F.conv2d(r, b.conv2.weight, b.conv2.bias, padding=1))
            if isinstance(b.shortcut, nn.Identity):
                x = r + x
            else:
                conv, norm = b.shortcut
                x = r + bn(norm, F.conv2d(x, conv.weight, conv.bias, stride=b.stride))
    return F.linear(x.mean((2, 3)), model.fc.weight, model.fc.bias)


def densenet_reference(model, x):
    """Huang et al.'s plain DenseNet forward (BN-ReLU-conv3x3 layers, concatenation)."""
    x = F.conv2d(x, model.stem.weight, padding=1)
    for part in model.features:
        if isinstance(part, nn.Sequential):  # a dense block
            for layer in part:
                x = torch.cat([x, F.conv2d(F.relu(bn(layer.norm1, x)), layer.conv1.weight, padding=1)], 1)
        else:  # a transition
            x = F.avg_pool2d(F.conv2d(F.relu(bn(part.norm, x)), part.conv.weight), 2)
    return F.linear(F.relu(bn(model.norm, x)).mean((2, 3)), model.fc.weight, model.fc.bias)


@pytest.mark.parametrize("factory, reference, shape", [
    (lambda: wide_resnet(10, 2, num_classes=7), wrn_reference, (3, 32, 32)),
    (lambda: wide_resnet(16, 1, in_channels=1), wrn_reference, (1, 15, 15)),
    (lambda: smith_wide_resnet(8, widths=(4, 8, 16)), smith_wide_reference, (3, 32, 32)),
    (lambda: smith_wide_resnet(8, widths=(8, 12, 16)), smith_wide_reference, (3, 16, 16)),
    (lambda: densenet(13, growth_rate=6, num_classes=5), densenet_reference, (3, 32, 32)),
], ids=["wrn10_2", "wrn16_1-odd", "smith-wide", "smith-wide-narrow-stage1", "densenet13"])
def test_forward_matches_reference(factory, reference, shape):
    torch.manual_seed(0)
    model = randomize_bn_(factory())
    x = torch.randn(2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(model, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("depth, k", [(16, 12), (22, 8)])
def test_densenet_bc_equals_torchvision_densenet(depth, k):
    # torchvision's DenseNet is DenseNet-BC with an ImageNet stem; with a CIFAR stem and our
    # weights it must compute exactly what ours does.
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    ours = randomize_bn_(densenet_bc(depth, growth_rate=k))
    n = (depth - 4) // 6
    ref = torchvision.models.DenseNet(growth_rate=k, block_config=(n, n, n), num_init_features=2 * k,
                                      bn_size=4, drop_rate=0, num_classes=10)
    ref.features.conv0 = nn.Conv2d(3, 2 * k, 3, padding=1, bias=False)
    for name in ("norm0", "relu0", "pool0"):
        setattr(ref.features, name, nn.Identity())
    ours_p, ref_p = list(ours.parameters()), list(ref.parameters())
    assert [p.shape for p in ours_p] == [p.shape for p in ref_p]
    ours_b = [b for b in ours.buffers() if b.dtype.is_floating_point]
    ref_b = [b for b in ref.buffers() if b.dtype.is_floating_point]
    with torch.no_grad():
        for a, b in zip(ours_p + ours_b, ref_p + ref_b):
            b.copy_(a)
        x = torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(ours(x), ref.eval()(x), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------- shapes


# Shallow members of each family: the same code paths as DenseNet-40 / BC-100 at a tenth of the cost.
@pytest.mark.parametrize("name", ["densenet13", "densenet_bc16"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["fashion-mnist", "cifar"])
def test_densenet_output_shapes(name, shape):
    model = build(name, in_channels=shape[0], growth_rate=8)
    with torch.no_grad():
        assert model(torch.randn(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize("factory", [
    lambda c, n: wide_resnet(10, 2, num_classes=n, in_channels=c),
    lambda c, n: smith_wide_resnet(8, num_classes=n, in_channels=c, widths=(4, 8, 16)),
    lambda c, n: densenet_bc(10, growth_rate=6, num_classes=n, in_channels=c, compression=0.7),
], ids=["wrn", "smith-wide", "densenet-bc"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 15, 15)])
def test_new_family_output_shapes(factory, shape):
    with torch.no_grad():
        assert factory(shape[0], 3)(torch.randn(2, *shape)).shape == (2, 3)


def test_imagenet_resnet50_other_channels_and_classes():
    torch.manual_seed(0)
    model = imagenet_resnet50(num_classes=10, in_channels=1).eval()
    assert model.conv1.in_channels == 1 and model.fc.out_features == 10
    with torch.no_grad():
        assert model(torch.randn(1, 1, 32, 32)).shape == (1, 10)


# ----------------------------------------------------------------------- registry, paper


@pytest.mark.parametrize("name, cls, attrs", [
    ("wrn28_10", WideResNet, dict(depth=28, k=10)),
    ("WRN-16-8", WideResNet, dict(depth=16, k=8)),
    ("densenet40", DenseNet, dict(depth=40, growth_rate=12, bottleneck=False)),
    ("DenseNet-BC-100", DenseNet, dict(depth=100, growth_rate=12, bottleneck=True, compression=0.5)),
    ("densenet_bc100", DenseNet, dict(depth=100, bottleneck=True)),
    ("smith_wide32", SmithWideResNet, dict(depth=32, widths=(16, 64, 256))),
    ("Smith-Wide-32", SmithWideResNet, dict(depth=32)),
    ("resnet50", CifarResNet, dict(depth=50)),  # 6*8+2: the CIFAR family keeps its name
])
def test_build_new_families(name, cls, attrs):
    model = on_meta(lambda: build(name))
    assert type(model) is cls
    assert {a: getattr(model, a) for a in attrs} == attrs


def test_build_passes_kwargs_and_keeps_families_apart():
    torchvision = pytest.importorskip("torchvision")
    assert isinstance(on_meta(lambda: build("imagenet_resnet50")), torchvision.models.ResNet)
    assert count_parameters(on_meta(lambda: build("resnet50"))) == expected_resnet_params(50) == 755_802
    wrn = on_meta(lambda: build("wrn16_8", dropout=0.3, num_classes=100))
    assert wrn.dropout == 0.3 and wrn.fc.out_features == 100
    assert sum(isinstance(m, nn.Dropout) for m in wrn.modules()) == 3 * 2  # one per block
    dn = on_meta(lambda: build("densenet40", growth_rate=24, dropout=0.2))
    assert dn.growth_rate == 24 and count_parameters(dn) == expected_densenet_params(40, 24)
    assert sum(isinstance(m, nn.Dropout) for m in dn.modules()) == 3 * 12 + 2  # layers + transitions
    assert {"imagenet_resnet50", "wrn{depth}_{k}", "densenet{depth}", "densenet_bc{depth}",
            "smith_wide{depth}", "resnet{depth}"} <= set(available_models())


@pytest.mark.parametrize("name", ["resnet50_imagenet", "wrn28", "wrn28_10_4", "densenetbc", "vgg16"])
def test_build_unknown_names_list_families_in_one_line(name):
    with pytest.raises(ValueError) as err:
        build(name)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"name={name!r} is not a known model; allowed: ")
    for family in ("imagenet_resnet50", "resnet{depth}", "wrn{depth}_{k}", "densenet_bc{depth}"):
        assert family in msg


def test_paper_models():
    wide = build(PAPER_WIDE_RESNET)
    assert isinstance(wide, SmithWideResNet) and count_parameters(wide) == 5_903_626
    torch.manual_seed(0)
    dn = build(PAPER_DENSENET, **PAPER_DENSENET_KWARGS)
    assert dn.name == "DenseNet-40 (k=12)" and dn.dropout == 0.2
    assert count_parameters(dn) == 1_019_722
    conv = dn.features[2][5].conv1  # xavier: U(-a, a), a = sqrt(3 / fan_in)
    assert conv.weight.abs().max() <= math.sqrt(3.0 / conv.weight[0].numel())


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("factory, param", [
    (lambda: wide_resnet(28.0, 10), "depth"),
    (lambda: wide_resnet(26, 10), "depth"),
    (lambda: wide_resnet(4, 1), "depth"),
    (lambda: wide_resnet(28, 0), "k"),
    (lambda: wide_resnet(28, 2.5), "k"),
    (lambda: wide_resnet(16, 1, dropout=1.0), "dropout"),
    (lambda: wide_resnet(16, 1, dropout=-0.1), "dropout"),
    (lambda: wide_resnet(16, 1, dropout=True), "dropout"),
    (lambda: wide_resnet(16, 1, dropout="0.3"), "dropout"),
    (lambda: wide_resnet(16, 1, dropout=float("nan")), "dropout"),
    (lambda: wide_resnet(16, 1, num_classes=0), "num_classes"),
    (lambda: densenet(41), "depth"),
    (lambda: densenet(4), "depth"),
    (lambda: densenet(40, growth_rate=0), "growth_rate"),
    (lambda: densenet(40, conv_init="kaiming"), "conv_init"),
    (lambda: densenet(40, in_channels=0), "in_channels"),
    (lambda: densenet_bc(40.5), "depth"),
    (lambda: densenet_bc(48), "depth"),  # 3n+4 but not 6n+4
    (lambda: densenet_bc(100, compression=0), "compression"),
    (lambda: densenet_bc(100, compression=1.5), "compression"),
    (lambda: smith_wide_resnet(33), "depth"),
    (lambda: smith_wide_resnet(widths=(16, 64)), "widths"),
    (lambda: smith_wide_resnet(widths=(16, 64, 0)), "widths"),
    (lambda: smith_wide_resnet(widths="16"), "widths"),
    (lambda: imagenet_resnet50(num_classes=0), "num_classes"),
    (lambda: imagenet_resnet50(in_channels=-3), "in_channels"),
])
def test_bad_new_family_arguments_raise(factory, param):
    with pytest.raises(ValueError, match=rf"^{param}=.*allowed: [^\n]+$"):
        factory()


# ---------------------------------------------------------------------------------- init


def test_new_families_caffe_init():
    torch.manual_seed(0)
    wrn = wide_resnet(10, 4)
    convs = [m for m in wrn.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is None for m in convs)
    for conv in (c for c in convs if c.weight.numel() >= 100_000):  # msra: std sqrt(2 / fan_in)
        assert abs(conv.weight.std().item() / math.sqrt(2.0 / conv.weight[0].numel()) - 1) < 0.02
    assert wrn.fc.weight.abs().max() <= math.sqrt(3.0 / wrn.fc.in_features)  # xavier fc
    assert torch.all(wrn.fc.bias == 0)
    for m in (m for m in wrn.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    dn = densenet(40, conv_init="xavier")  # Caffe xavier: std sqrt(1 / fan_in)
    big = max((m for m in dn.modules() if isinstance(m, nn.Conv2d)), key=lambda m: m.weight.numel())
    assert abs(big.weight.std().item() / math.sqrt(1.0 / big.weight[0].numel()) - 1) < 0.02
    assert big.weight.abs().max() <= math.sqrt(3.0 / big.weight[0].numel())
    smith = smith_wide_resnet()
    assert all(torch.all(m.bias == 0) for m in smith.modules() if isinstance(m, nn.Conv2d))
    # the prototxt's fc filler is msra: normal, std sqrt(2 / 256), not xavier's uniform bound
    assert abs(smith.fc.weight.std().item() / math.sqrt(2.0 / 256) - 1) < 0.1
    assert smith.fc.weight.abs().max() > math.sqrt(3.0 / 256)


def test_wide_block_shortcut_placement():
    block = WideBasicBlock(16, 32, stride=2)
    assert block.shortcut is not None and block.shortcut.kernel_size == (1, 1)
    assert WideBasicBlock(32, 32).shortcut is None
    # WRN's stage 1 already widens (16 -> 16k), so with k > 1 there are three projections.
    for k, projections in ((1, 2), (4, 3)):
        model = wide_resnet(16, k)
        assert sum(b.shortcut is not None for b in model.modules() if isinstance(b, WideBasicBlock)) == projections
