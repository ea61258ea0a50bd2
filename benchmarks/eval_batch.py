"""Evaluation batch size: seconds to evaluate the 10,000 Fashion-MNIST test images.

``superconv.train.evaluate`` (and ``fit``'s evaluations) use ``train.EVAL_BATCH`` per device
type when no batch is given: 256 on CPU, 1000 elsewhere. This script measures why, for the
laptop model (ResNet-8 width 16) in both precisions:

  (a) ``evaluate`` alone, best of ``--repeats`` calls per batch size after one warm-up call;
  (b) inside ``fit``: a 60-iteration run evaluating every 10 iterations, and its
      ``History.eval_time`` per evaluation (7 evaluations: 6 on the test set + the final one on
      10,000 training images), alternating the batch sizes ``--repeats`` times.

Weights are random (speed does not depend on them). Needs Fashion-MNIST (Debian's
``dataset-fashion-mnist`` or a torchvision download).

    python benchmarks/eval_batch.py [--repeats 2] [--sizes 128,256,512,1000]   # ~6 min on 2 cores
"""

from __future__ import annotations

import argparse
import time

import torch

from superconv import data, models
from superconv.train import EVAL_BATCH, device_name, evaluate, fit, resolve_device, resolve_precision


def _model(channels_last: bool):
    torch.manual_seed(0)
    m = models.build("resnet8", num_classes=10, in_channels=1, width=16)
    return m.to(memory_format=torch.channels_last) if channels_last else m


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sizes", default="128,256,512,1000")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    dev = resolve_device("auto")
    test = data.load("fashion-mnist", train=False)
    train = data.balanced_subset(data.load("fashion-mnist", train=True), 10_000, seed=0)
    precisions = ["bf16", "fp32"] if resolve_precision("auto", dev) == "bf16" else ["fp32"]
    print(f"# Evaluation batch size on {device_name(dev)}, torch {torch.__version__}; "
          f"default batch here: {EVAL_BATCH.get(dev.type, 1000)}\n")
    print("| precision | batch | (a) evaluate alone, s | (b) per evaluation inside fit, s |")
    print("|---|---:|---:|---:|")
    for prec in precisions:
        model = _model(prec == "bf16").to(dev)
        alone = {}
        for b in sizes:
            evaluate(model, test, batch_size=b, precision=prec)  # warm-up: oneDNN builds its kernels per shape
            alone[b] = min(_timed(lambda: evaluate(model, test, batch_size=b, precision=prec))
                           for _ in range(args.repeats))
        in_fit = {b: [] for b in sizes}
        for _ in range(args.repeats):
            for b in sizes:
                h = fit(_model(False), train, test, 0.1, 0.9, iterations=60, batch_size=128, eval_every=10,
                        eval_batch_size=b, precision=prec, device=dev, progress=False)
                in_fit[b].append(h.eval_time / (len(h.eval_iters) + 1))
        for b in sizes:
            print(f"| {prec} | {b} | {alone[b]:.2f} | {min(in_fit[b]):.2f} |")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
