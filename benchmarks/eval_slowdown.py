"""Why evaluation slows as training goes on: seconds per evaluation along one laptop 1cycle run.

Trains the laptop profile's headline 1cycle run (ResNet-8 w16, 10k Fashion-MNIST images, batch 128,
bf16 + channels_last on a CPU with AVX512-BF16) and, every ``--every`` iterations, times
``evaluate`` on the 10,000 test images (best of ``--repeats``) and counts *denormal* floats
(nonzero, below 2^-126 in magnitude) in the fp32 weights, in the momentum buffers and in the
activations of one test batch. The question it answers: does the slowdown follow denormals, and
does flushing them help? ``--flush``:

* ``none``  -- the default floating-point environment;
* ``main``  -- ``torch.set_flush_denormal(True)`` after torch has started its worker threads
  (it sets FTZ/DAZ in the calling thread only, so the intra-op OpenMP workers keep denormals);
* ``early`` -- the same call before any parallel work, so the worker threads, created later,
  inherit the flags (a new thread starts with its creator's floating-point environment).

    python benchmarks/eval_slowdown.py --flush none     # ~2 min each on 2 idle cores
    python benchmarks/eval_slowdown.py --flush early
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flush", choices=("none", "main", "early"), default="none")
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import torch
    if args.flush == "early":
        torch.set_flush_denormal(True)
    torch.set_num_threads(args.threads)
    from superconv import experiments
    from superconv.train import device_name, evaluate, fit, resolve_device

    spec = experiments.make_spec("laptop", "one_cycle", eval_every=None)
    train, test = experiments.load_data(spec, "cpu")
    torch.ones(256, 256) @ torch.ones(256, 256)  # the worker threads exist from here on
    if args.flush == "main":
        torch.set_flush_denormal(True)
    model = experiments.build_model(spec, train)
    tiny = torch.finfo(torch.float32).tiny

    def denormal(t: torch.Tensor) -> int:
        t = t.detach().float()
        return int(((t != 0) & (t.abs() < tiny)).sum())

    rows = []

    class Probe:
        def on_step(self, ctx) -> None:
            it = ctx.it + 1
            if it % args.every and it != 1:
                return
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                evaluate(ctx.model, test)
                times.append(time.perf_counter() - t0)
            acts = []
            hooks = [m.register_forward_hook(lambda m, i, o: acts.append(denormal(o)))
                     for m in ctx.model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                ctx.model.eval()
                ctx.model(test.normalize(test.images[:256]).contiguous(memory_format=torch.channels_last))
                ctx.model.train()
            for h in hooks:
                h.remove()
            bufs = [s["momentum_buffer"] for s in ctx.optimizer.state.values() if s.get("momentum_buffer") is not None]
            rows.append((it, min(times), sum(denormal(p) for p in ctx.model.parameters()),
                         sum(denormal(b) for b in bufs), sum(acts), ctx.lr))

    fit(model, train, None, experiments.build_schedule(spec["schedule"]), iterations=spec["iterations"],
        batch_size=spec["batch_size"], weight_decay=spec["weight_decay"], bn_momentum=spec["bn_momentum"],
        seed=0, device=resolve_device("cpu"), progress=False, callbacks=[Probe()], train_eval_size=None)
    print(f"# evaluation along one laptop 1cycle run: flush={args.flush}, {args.threads} thread(s), "
          f"{device_name(resolve_device('cpu'))}, torch {torch.__version__}\n")
    print("| iteration | LR | evaluate 10k test images, s | denormal weights | denormal momentum | "
          "denormal activations (256 images) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for it, t, w, m, a, lr in rows:
        print(f"| {it} | {lr:.3g} | {t:.2f} | {w:,} | {m:,} | {a:,} |")


if __name__ == "__main__":
    main()
