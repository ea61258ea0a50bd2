"""One-GPU speed of superconv's fit on the paper's headline setting (ResNet-56, batch 1000).

Trains on random CIFAR-shaped uint8 data (CIFAR-10 cannot be downloaded on the device machine;
speed does not depend on pixel values) and prints images/s and the projected wall time of the
paper's 10k-iteration 1cycle run, with and without torch.compile.

    python benchmarks/gpu_fit_speed.py [--steps 60] [--compile]
"""

import argparse
import time

import torch

from superconv import data, models
from superconv.train import fit


class Timer:
    def __init__(self, warmup, last):
        self.warmup, self.last, self.t = warmup, last, {}

    def on_step(self, ctx):
        if ctx.it + 1 in (self.warmup, self.last):
            torch.cuda.synchronize()
            self.t[ctx.it + 1] = time.perf_counter()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--depth", type=int, default=56)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    g = torch.Generator().manual_seed(0)
    n = 50_000
    split = data.Split(images=torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
                       labels=torch.randint(0, 10, (n,), generator=g), mean=(0.49, 0.48, 0.45),
                       std=(0.25, 0.24, 0.26), classes=[str(i) for i in range(10)], name="cifar10-shaped", train=True)
    split = split.to("cuda")
    torch.manual_seed(0)
    model = models.cifar_resnet(args.depth)
    timer = Timer(args.warmup, args.warmup + args.steps)
    h = fit(model, split, None, 0.1, 0.9, iterations=args.warmup + args.steps, batch_size=args.batch_size,
            weight_decay=1e-4, device="cuda", progress=False, train_eval_size=1000, callbacks=[timer],
            compile=args.compile)
    dt = timer.t[args.warmup + args.steps] - timer.t[args.warmup]
    ips = args.steps * args.batch_size / dt
    print(f"| {torch.cuda.get_device_name()} | ResNet-{args.depth} | batch {args.batch_size} | "
          f"{h.config['precision']} | compile={args.compile} | {ips:,.0f} img/s | "
          f"{dt / args.steps * 1000:.1f} ms/it | 10k it ≈ {dt / args.steps * 10_000 / 60:.1f} min |")


if __name__ == "__main__":
    main()
