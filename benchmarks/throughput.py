"""Training throughput: superconv's fit vs its own ceiling vs a naive PyTorch loop.

For each model it prints images/s of
  (a) ``superconv.train.fit`` on real data (where we have it) including on-device augmentation,
  (b) the bare forward/backward/SGD step on one synthetic batch already on the device, with the
      same precision and memory format as (a) -- the ceiling that (a) can at best reach,
  (c) a naive loop: a torchvision Dataset + DataLoader + per-image PIL transforms
      (RandomHorizontalFlip, ToTensor, Normalize) + fp32 NCHW -- the best of num_workers 0 and 2,
and the ratios (a)/(b) (goal >= 0.90) and (a)/(c) (goal >= 2.5).

CIFAR-10 cannot be downloaded on an offline machine: for the 3x32x32 rows, (a) and (c) use
random uint8 images of CIFAR's shape (the speed does not depend on pixel values; (c) still goes
through PIL images exactly as torchvision's CIFAR10 does). The 1x28x28 row is real Fashion-MNIST.

    python benchmarks/throughput.py [--steps 12] [--warmup 3] [--batch-size 128] [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets as tvd
from torchvision import transforms as T

from superconv import data, models
from superconv.optim import make_optimizer
from superconv.train import device_name, fit, resolve_precision


class _Timer:
    """fit callback: wall time between the end of step ``warmup-1`` and the end of the last step."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.last = warmup, warmup + steps
        self.t0 = self.t1 = None

    def on_step(self, ctx):
        if ctx.it + 1 == self.warmup:
            self.t0 = time.perf_counter()
        elif ctx.it + 1 == self.last:
            self.t1 = time.perf_counter()


def bench_fit(make_model, split, batch_size, warmup, steps, device, precision, compile=False):
    torch.manual_seed(0)
    timer = _Timer(warmup, steps)
    fit(make_model(), split, None, 0.05, 0.9, iterations=warmup + steps, batch_size=batch_size,
        weight_decay=5e-4, flip=True, progress=False, device=device, precision=precision,
        train_eval_size=batch_size, callbacks=[timer], log_every=50, compile=compile)
    return steps * batch_size / (timer.t1 - timer.t0)


def bench_bare(make_model, shape, num_classes, batch_size, warmup, steps, device, precision, compile=False):
    torch.manual_seed(0)
    dev = torch.device(device)
    model = make_model().to(dev)
    channels_last = precision == "bf16"
    x = torch.randn(batch_size, *shape, device=dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch_size,), device=dev)
    step_model = torch.compile(model) if compile else model
    opt = make_optimizer(model.parameters(), "torch", lr=0.05, momentum=0.9, weight_decay=5e-4)
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = step_model(x)
        loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    loss.item()
    return steps * batch_size / (time.perf_counter() - t0)


class _PILImages(Dataset):
    """What torchvision's CIFAR10 does per item: numpy HWC uint8 -> PIL -> transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = images.permute(0, 2, 3, 1).numpy()
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def bench_naive(make_model, dataset, batch_size, warmup, steps, workers):
    torch.manual_seed(0)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        drop_last=True, persistent_workers=workers > 0)
    it = 0
    while True:
        for x, y in loader:
            if it == warmup:
                t0 = time.perf_counter()
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            it += 1
            if it == warmup + steps:
                loss.item()
                return steps * batch_size / (time.perf_counter() - t0)


def naive_dataset(row, split: data.Split):
    norm = T.Normalize(split.mean, split.std)
    transform = T.Compose([T.RandomHorizontalFlip(), T.ToTensor(), norm])
    if row["real"]:
        # the real torchvision dataset class, reading the same files superconv found
        return tvd.FashionMNIST(split.root, train=True, transform=transform, download=False)
    return _PILImages(split.images, split.labels, transform)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=12, help="timed steps per measurement")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    ap.add_argument("--quick", action="store_true", help="only the Fashion-MNIST row")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model in (a) and (b) "
                    "(compilation is excluded from the timing by the warm-up steps)")
    args = ap.parse_args()
    device = torch.device(args.device)
    precision = resolve_precision(args.precision, device)

    fmnist = data.load("fashion-mnist", train=True)
    g = torch.Generator().manual_seed(0)
    cifar_like = data.Split(images=torch.randint(0, 256, (10_000, 3, 32, 32), generator=g, dtype=torch.uint8),
                            labels=torch.randint(0, 10, (10_000,), generator=g), mean=(0.49, 0.48, 0.45),
                            std=(0.25, 0.24, 0.26), classes=[str(i) for i in range(10)], name="cifar10-shaped random",
                            train=True)
    rows = [
        dict(name="ResNet-8 w16 (laptop model)", data="Fashion-MNIST 1x28x28 (real)", real=True,
             make=lambda: models.cifar_resnet(8, in_channels=1, width=16), split=fmnist),
        dict(name="ResNet-20", data="CIFAR-shaped 3x32x32 (random)", real=False,
             make=lambda: models.cifar_resnet(20), split=cifar_like),
        dict(name="ResNet-56", data="CIFAR-shaped 3x32x32 (random)", real=False,
             make=lambda: models.cifar_resnet(56), split=cifar_like),
    ]
    if args.quick:
        rows = rows[:1]

    print(f"device: {device_name(device)}; torch {torch.__version__}; precision of (a),(b): {precision}; "
          f"batch {args.batch_size}; {args.steps} timed steps after {args.warmup} warm-up steps"
          f"{'; torch.compile on (a),(b)' if args.compile else ''}\n")
    print("| model | data | (a) fit img/s | (b) bare step img/s | (c) naive img/s | (a)/(b) | (a)/(c) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        split = row["split"]
        a = bench_fit(row["make"], split, args.batch_size, args.warmup, args.steps, device, precision,
                      args.compile)
        b = bench_bare(row["make"], tuple(split.images.shape[1:]), split.num_classes, args.batch_size,
                       args.warmup, args.steps, device, precision, args.compile)
        ds = naive_dataset(row, split)
        c = max(bench_naive(row["make"], ds, args.batch_size, args.warmup, args.steps, w) for w in (0, 2))
        print(f"| {row['name']} | {row['data']} | {a:,.0f} | {b:,.0f} | {c:,.0f} | {a / b:.2f} | {a / c:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
