"""What the online Hessian-free LR estimate costs: iterations/s of ``fit`` without and with it.

    python benchmarks/hessian_overhead.py                      # Fashion-MNIST, ResNet-8, CPU/GPU auto
    python benchmarks/hessian_overhead.py --depth 20 --iterations 210 --device cuda

Configurations, each run ``--repeats`` times, interleaved (so drifting machine load hits all
alike), reporting the median:

* ``none``: no callback;
* ``snapshots``: ``HessianFreeEstimate(every, secant=False)`` (three multi-tensor passes over the
  parameters per window, one parameter copy of memory);
* ``snapshots + secant``: the default ``HessianFreeEstimate(every)`` (plus one forward/backward
  per window).

Timing runs from the end of iteration ``--warmup`` to the end of the last iteration (a CUDA
device is synchronized at those two points only), so model build, data upload and the final
evaluation are not counted. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superconv import data, models  # noqa: E402
from superconv.hessian import HessianFreeEstimate  # noqa: E402
from superconv.train import fit, resolve_device, resolve_precision  # noqa: E402


class Timer:
    """Wall time between the ends of two iterations (synchronizing CUDA only there)."""

    def __init__(self, start: int, stop: int, clock=time.perf_counter):
        self.start, self.stop, self.clock = start, stop, clock
        self.t0 = self.t1 = None

    def on_step(self, ctx):
        if ctx.it + 1 in (self.start, self.stop):
            if ctx.loss is not None and ctx.loss.is_cuda:
                torch.cuda.synchronize(ctx.loss.device)
            if ctx.it + 1 == self.start:
                self.t0 = self.clock()
            else:
                self.t1 = self.clock()


def synthetic(n: int = 4096, seed: int = 0) -> data.Split:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=g)
    return data.Split(images=images, labels=labels, mean=(0.5,), std=(0.29,),
                      classes=[str(i) for i in range(10)], name="synthetic 28x28", train=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="fashion-mnist", help="a superconv.data name, or 'synthetic'")
    ap.add_argument("--depth", type=int, default=8, help="ResNet depth (6n+2)")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=110)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads (default on a CPU device: 1, with --clock cpu the measurement "
                         "least disturbed by other load; use --threads 2 --clock wall on an idle machine)")
    ap.add_argument("--clock", choices=("auto", "wall", "cpu"), default="auto",
                    help="cpu: this process's CPU time, robust to other load on a shared CPU "
                         "(auto: cpu on a CPU device, wall on a GPU)")
    args = ap.parse_args(argv)
    if not 0 < args.warmup < args.iterations:
        ap.error("need 0 < --warmup < --iterations")

    dev = resolve_device(args.device)
    if args.threads or dev.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    clock_name = args.clock if args.clock != "auto" else ("cpu" if dev.type == "cpu" else "wall")
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    precision = resolve_precision(args.precision, dev)
    if args.dataset == "synthetic":
        split = synthetic()
    else:
        try:
            split = data.load(args.dataset)
        except Exception as e:  # no data here: measure on synthetic images of the same shape
            print(f"({args.dataset} not available: {e}; using synthetic 28x28 data)", file=sys.stderr)
            split = synthetic()
    split = split.to(dev)

    configs = {
        "none": lambda: [],
        f"snapshots (every={args.every})": lambda: [HessianFreeEstimate(every=args.every, secant=False)],
        f"snapshots + secant (every={args.every})": lambda: [HessianFreeEstimate(every=args.every)],
    }
    def one(make) -> tuple:
        torch.manual_seed(0)
        model = models.cifar_resnet(args.depth, num_classes=split.num_classes,
                                    in_channels=split.images.shape[1], width=args.width)
        timer = Timer(args.warmup, args.iterations, clock)
        fit(model, split, None, 0.05, 0.9, iterations=args.iterations, batch_size=args.batch_size,
            weight_decay=5e-4, precision=precision, device=dev, progress=False,
            train_eval_size=args.batch_size, callbacks=make() + [timer])
        return timer.t1 - timer.t0, sum(p.numel() for p in model.parameters())

    one(configs[f"snapshots + secant (every={args.every})"])  # warm-up: kernels, allocator, caches
    times = {name: [] for name in configs}
    steps = args.iterations - args.warmup
    for _ in range(args.repeats):
        for name, make in configs.items():
            t, params = one(make)
            times[name].append(t)

    base = statistics.median(times["none"])
    print(f"ResNet-{args.depth} (width {args.width}, {params:,} parameters), {split.description}, "
          f"batch {args.batch_size}, {precision}, {dev} ({torch.get_num_threads()} threads), "
          f"torch {torch.__version__}; {clock_name} time, median of {args.repeats} runs of {steps} "
          f"timed iterations\n")
    print("| configuration | it/s | ms/it | overhead |")
    print("|---|---:|---:|---:|")
    for name, ts in times.items():
        t = statistics.median(ts)
        over = "—" if name == "none" else f"{100 * (t / base - 1):+.1f} %"
        print(f"| {name} | {steps / t:.2f} | {1000 * t / steps:.1f} | {over} |")


if __name__ == "__main__":
    main()
