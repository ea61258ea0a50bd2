"""The measuring half of ``benchmarks/gpu_check.sh``: each subcommand writes one markdown
fragment of the report, so a stage that fails or hangs loses only its own section.

    python benchmarks/gpu_report.py env        --out F
    python benchmarks/gpu_report.py throughput --out F [--deadline UNIX_S] [--dry]
    python benchmarks/gpu_report.py train      --out F [--work DIR] [--dry]
    python benchmarks/gpu_report.py tests      --out F --log TSV --pytest-log LOG --selection "..." --status S

``--dry`` uses the CPU and tiny sizes (to test the script on a machine without a GPU; the
numbers then mean nothing). Loaded as a pytest plugin (``-p gpu_report``), this module also
records every test's outcome in ``$GPU_CHECK_TESTLOG`` as it finishes, so the counts survive a
stage that is stopped by its timeout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path

# bf16 dense (no sparsity) tensor-core peaks, TFLOP/s, from NVIDIA's datasheets (H200, H100
# SXM/NVL/PCIe, A100, L40S, L4; B200 from the DGX B200 sheet divided by 8). Checked in order:
# the first substring of the device name that matches wins.
BF16_PEAK_TFLOPS = (("H200", 989.0), ("GH200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0),
                    ("H100", 989.0), ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0))

HEADLINE_ITERATIONS = 10_000   # the paper's 1cycle run: 10k iterations, batch 1000 (FACTS §2)
GOAL_SECONDS = 600             # "< 10 minutes" for that run on one GPU


def bf16_peak(device_name: str):
    for key, tflops in BF16_PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops
    return None


def _write(out: str, text: str) -> None:
    tmp = Path(f"{out}.tmp")
    tmp.write_text(text)
    os.replace(tmp, out)  # the shell assembles fragments at any time: never a half-written one


def _sync(dev) -> None:
    import torch
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# --------------------------------------------------------------------------- (a) environment
def cmd_env(args) -> None:
    import torch
    import torchvision

    import superconv
    lines = ["| item | value |", "|---|---|",
             f"| Python | {platform.python_version()} ({sys.executable}) |",
             f"| torch | {torch.__version__} (built for CUDA {torch.version.cuda}) |",
             f"| torchvision | {torchvision.__version__} |",
             f"| superconv | {superconv.__version__} ({Path(superconv.__file__).parent}) |",
             f"| CUDA available | {torch.cuda.is_available()} ({torch.cuda.device_count()} device(s)) |"]
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        peak = bf16_peak(p.name)
        lines += [f"| device 0 | {p.name}, compute capability {p.major}.{p.minor}, {p.multi_processor_count} SMs, "
                  f"{p.total_memory / 2**30:.0f} GiB |",
                  f"| cuDNN | {torch.backends.cudnn.version()} |",
                  f"| bf16 supported | {torch.cuda.is_bf16_supported()} |",
                  f"| bf16 dense peak used for MFU | {f'{peak:g} TFLOP/s' if peak else 'n/a (device not in the table)'} |"]
    lines.append(f"| CPU | {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()} |")
    _write(args.out, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- (c) throughput
def flops_per_image(depth: int) -> float:
    """FLOPs of one forward+backward of ResNet-``depth`` per image, counted by torch's
    FlopCounterMode (matmuls/convolutions, 2 per multiply-add; BN, ReLU, SGD not counted)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from superconv import models
    torch.manual_seed(0)
    model, n = models.cifar_resnet(depth), 4
    x, y = torch.randn(n, 3, 32, 32), torch.randint(0, 10, (n,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / n


def time_train_step(depth: int, batch: int, compile: bool, dev, warmup: int, steps: int) -> dict:
    """images/s of the bare training step (forward, backward, SGD with momentum and WD) on one
    CIFAR-shaped random batch resident on ``dev``; bf16 autocast + channels_last."""
    import torch
    import torch.nn.functional as F

    from superconv import models
    from superconv.optim import make_optimizer
    torch.manual_seed(0)
    model = models.cifar_resnet(depth).to(dev).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 32, 32, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=dev)
    opt = make_optimizer(model.parameters(), "torch", lr=0.05, momentum=0.9, weight_decay=1e-4)
    step_model = torch.compile(model) if compile else model

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            out = step_model(x)
        loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    for _ in range(warmup):  # compilation and cuDNN's algorithm search happen here
        step()
    _sync(dev)
    t1 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(dev)
    t2 = time.perf_counter()
    return dict(img_s=steps * batch / (t2 - t1), ms_it=(t2 - t1) / steps * 1000, warmup_s=t1 - t0)


def cmd_throughput(args) -> None:
    import torch
    dev = torch.device("cpu" if args.dry or not torch.cuda.is_available() else "cuda")
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({os.cpu_count()} logical)"
    peak = bf16_peak(name) if dev.type == "cuda" else None
    depths = (20, 56)
    batches = (16, 8) if args.dry else (1000, 512)
    warmup, steps = (2, 3) if args.dry else (5, 30)
    flops = {d: flops_per_image(d) for d in depths}
    # eager first (seconds each), then the compiled configurations by priority, each only if the
    # time left covers another compilation (the longest one so far, or 90 s before the first)
    configs = [(d, b, False) for b in batches for d in depths] + [(d, b, True) for b in batches for d in (56, 20)]
    if args.dry:  # compiling on a small CPU takes minutes: one compiled row tests that path
        configs = configs[:len(depths) * len(batches)] + [(20, batches[-1], True)]
    rows, compile_s = [], []
    head = [f"Device: **{name}**; bf16 autocast + channels_last, `cudnn.benchmark = True`; bare training step "
            f"(forward, backward, SGD momentum 0.9 + WD) on one random CIFAR-shaped batch already on the device; "
            f"{warmup} warm-up steps (compilation, cuDNN autotuning), then {steps} timed steps.",
            "FLOPs per image (forward+backward, `torch.utils.flop_counter.FlopCounterMode`): "
            + ", ".join(f"ResNet-{d} {flops[d] / 1e9:.3f} GFLOP" for d in depths)
            + f". Peak for MFU: {f'{peak:g} TFLOP/s bf16 dense' if peak else 'n/a'}.", "",
            "| model | batch | torch.compile | img/s | ms/it | achieved TFLOP/s | % of bf16 peak | warm-up s |",
            "|---|---:|---|---:|---:|---:|---:|---:|"]

    def emit():
        _write(args.out, "\n".join(head + rows) + "\n")

    emit()
    for depth, batch, compiled in configs:
        left = args.deadline - time.time() if args.deadline else float("inf")
        need = 1.3 * max(compile_s, default=45.0 if args.dry else 90.0)
        if compiled and left < need:
            rows.append(f"| ResNet-{depth} | {batch} | yes | skipped: {left:.0f} s left, less than the "
                        f"{need:.0f} s a compilation may take | | | | |")
            emit()
            continue
        try:
            r = time_train_step(depth, batch, compiled, dev, warmup, steps)
        except Exception as e:  # one configuration failing (e.g. a compiler error) is a result too
            rows.append(f"| ResNet-{depth} | {batch} | {'yes' if compiled else 'no'} | FAILED: "
                        f"{type(e).__name__}: {str(e).splitlines()[0][:150] if str(e) else ''} | | | | |")
        else:
            tflops = r["img_s"] * flops[depth] / 1e12
            pct = f"{100 * tflops / peak:.1f} %" if peak else "n/a"
            rows.append(f"| ResNet-{depth} | {batch} | {'yes' if compiled else 'no'} | {r['img_s']:,.0f} | "
                        f"{r['ms_it']:.1f} | {tflops:.1f} | {pct} | {r['warmup_s']:.1f} |")
            if compiled:
                compile_s.append(r["warmup_s"])
        emit()
        if compiled:
            torch._dynamo.reset()  # each configuration compiles from scratch: no shape-dynamic reuse
        if dev.type == "cuda":
            torch.cuda.empty_cache()


# --------------------------------------------------------------------------- (d) paper-profile run
def write_synthetic_cifar10(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """A learnable CIFAR-10 look-alike in torchvision's on-disk format (cifar-10-batches-py:
    five pickled train batches, a test batch, batches.meta): each class is a random
    low-frequency colour pattern, each image that pattern plus noise. Returns the folder; its
    md5s are registered with superconv.data, which checks them like the real files."""
    import numpy as np

    from superconv import data
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    patterns = np.kron(rng.uniform(40, 215, (10, 3, 4, 4)), np.ones((1, 1, 8, 8))).astype(np.float32)

    def images(n):
        labels = rng.integers(0, 10, n)
        x = patterns[labels] + rng.standard_normal((n, 3, 32, 32), dtype=np.float32) * 60
        return np.clip(x, 0, 255).astype(np.uint8).reshape(n, 3072), [int(v) for v in labels]

    per = n_train // 5
    for i in range(1, 6):
        rows, labels = images(per)
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps({"data": rows, "labels": labels}))
    rows, labels = images(n_test)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": rows, "labels": labels}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    data.register_checksums(folder, {f.name: hashlib.md5(f.read_bytes()).hexdigest() for f in folder.iterdir()
                                     if f.is_file() and not f.name.startswith(".")})
    return folder


class StepTimer:
    """fit callback: synchronized wall clock at the end of iteration ``first`` and of the last one."""

    def __init__(self, first: int, last: int, dev):
        self.first, self.last, self.dev, self.t = first, last, dev, {}

    def on_step(self, ctx):
        if ctx.it + 1 in (self.first, self.last):
            _sync(self.dev)
            self.t[ctx.it + 1] = time.perf_counter()


def cmd_train(args) -> None:
    import torch

    from superconv import experiments
    from superconv.train import fit
    dev = torch.device("cpu" if args.dry or not torch.cuda.is_available() else "cuda")
    work = Path(args.work)
    if args.dry:
        n_train, n_test, iterations = 1000, 200, 20
        overrides = dict(model="resnet8", model_kwargs={"width": 4}, batch_size=50)
    else:
        n_train, n_test, iterations = 50_000, 10_000, 1000
        overrides = {}
    t0 = time.perf_counter()
    write_synthetic_cifar10(work / "data", n_train, n_test)
    t_write = time.perf_counter() - t0
    os.environ["SUPERCONV_DATA"] = str(work / "data")
    os.environ["SUPERCONV_OFFLINE"] = "1"
    # the paper profile's headline 1cycle (CLR 0.1 -> 3 -> 0.1 over 10k iterations, batch 1000,
    # ResNet-56), shortened to `iterations` with the schedule scaled by the same factor
    spec = experiments.ladder_spec("paper", "one_cycle", iterations=iterations, **overrides)
    # experiments.run's fit call without its results store (no record of synthetic data
    # anywhere) and without its checkpoints
    t0 = time.perf_counter()
    train_split, test_split = experiments.load_data(spec, str(dev))
    model = experiments.build_model(spec, train_split)
    sched = experiments.build_schedule(spec["schedule"])
    t_setup = time.perf_counter() - t0
    warm = max(2, iterations // 20)
    timer = StepTimer(warm, iterations, dev)
    h = fit(model, train_split, test_split, sched, momentum=spec["momentum"], iterations=spec["iterations"],
            batch_size=spec["batch_size"], weight_decay=spec["weight_decay"], nesterov=spec["nesterov"],
            sgd=spec["sgd"], precision=spec["precision"], bn_momentum=spec["bn_momentum"],
            eval_every=spec["eval_every"], seed=spec["seed"], flip=spec["flip"], crop_pad=spec["crop_pad"],
            device=dev, progress=False, desc=experiments.describe(spec), callbacks=[timer])
    step_s = (timer.t[iterations] - timer.t[warm]) / (iterations - warm)
    evals = len(h.eval_iters)
    # the full run does the same number of evaluations (eval_every scales with the length) and the
    # same one-time work, plus HEADLINE - iterations more steps at the measured step time
    projected = t_setup + h.wall_time + step_s * (HEADLINE_ITERATIONS - iterations)
    naive = (t_setup + h.wall_time) * HEADLINE_ITERATIONS / iterations
    verdict = "**met**" if projected < GOAL_SECONDS else "**not met**"
    s = spec["schedule"]
    lines = [
        f"Run: `experiments.ladder_spec('paper', 'one_cycle', iterations={iterations}"
        + "".join(f", {k}={v!r}" for k, v in overrides.items()) + ")` → "
        f"{experiments.describe(spec)}; schedule {s['kind']} {s['base_lr']} → {s['max_lr']} → {s['base_lr']}, "
        f"step size {s['step_size']}, momentum {spec['momentum']}, {evals} evaluations on the {n_test:,}-image "
        f"test split; device {h.config.get('device_name')}, precision {h.config.get('precision')}, "
        f"channels_last {h.config.get('channels_last')}, eager (no torch.compile), torch's default cuDNN settings.",
        f"Data: a synthetic, learnable CIFAR-10 look-alike ({n_train:,} + {n_test:,} images) written in "
        f"torchvision's on-disk format and read through `superconv.data.load` (md5s registered, checked once); "
        f"CIFAR-10 itself cannot be had offline. Speed does not depend on pixel values; accuracy here only "
        f"shows that training works, it is not comparable with the paper.", "",
        "| measure | value |", "|---|---:|",
        f"| writing the synthetic dataset (not part of a real run) | {t_write:.1f} s |",
        f"| loading data + building the model | {t_setup:.1f} s |",
        f"| fit wall time ({iterations} iterations, {evals} evaluations) | {h.wall_time:.1f} s |",
        f"| step time (iterations {warm}..{iterations}, synchronized) | {step_s * 1000:.1f} ms/it "
        f"({spec['batch_size'] / step_s:,.0f} img/s) |",
        f"| test accuracy after {h.iterations} iterations (synthetic data) | "
        f"{h.final_test_acc if h.final_test_acc is None else f'{h.final_test_acc:.1f} %'} |",
        f"| diverged | {h.diverged} |",
        f"| **projected {HEADLINE_ITERATIONS:,}-iteration headline run** (setup + this fit + "
        f"{HEADLINE_ITERATIONS - iterations:,} more steps) | **{projected / 60:.1f} min** |",
        f"| naive projection (everything × {HEADLINE_ITERATIONS // iterations}, evaluations over-counted) | "
        f"{naive / 60:.1f} min |",
        "", f"Goal: the 10k-iteration headline run in < {GOAL_SECONDS // 60} minutes on one GPU: {verdict}"
        + (" (dry run on the CPU: the verdict means nothing)." if args.dry else ".")]
    _write(args.out, "\n".join(lines) + "\n")
    (work / "train.json").write_text(json.dumps(dict(step_s=step_s, wall=h.wall_time, setup=t_setup,
                                                     projected_s=projected, acc=h.final_test_acc)))


# --------------------------------------------------------------------------- (b) tests
def pytest_runtest_logreport(report):
    """pytest hook (with ``-p gpu_report``): one line per test outcome, written as it happens."""
    path = os.environ.get("GPU_CHECK_TESTLOG")
    if not path:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed) or (
            report.when == "teardown" and report.failed):
        outcome = "error" if report.failed and report.when != "call" else report.outcome
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).replace("Skipped: ", "")
        elif report.failed:
            reason = str(getattr(report.longrepr, "reprcrash", None) and report.longrepr.reprcrash.message
                         or report.longrepr).splitlines()[0][:200] if report.longrepr else ""
        with open(path, "a") as f:
            f.write("\t".join([outcome, report.nodeid, f"{report.duration:.2f}", reason.replace("\t", " ")]) + "\n")


def cmd_tests(args) -> None:
    from collections import Counter
    rows = []
    if Path(args.log).exists():
        rows = [line.rstrip("\n").split("\t") for line in Path(args.log).read_text().splitlines() if line.strip()]
    counts = Counter(r[0] for r in rows)
    tail = Path(args.pytest_log).read_text().strip().splitlines()[-1:] if Path(args.pytest_log).exists() else []
    lines = [f"Selection: `{args.selection}`", "",
             f"Command: `{args.command}`", "",
             f"Stage: {args.status}. Outcomes recorded as tests finished: **{counts.get('passed', 0)} passed, "
             f"{counts.get('failed', 0)} failed, {counts.get('error', 0)} errors, {counts.get('skipped', 0)} "
             f"skipped** ({len(rows)} tests, {sum(float(r[2]) for r in rows):.0f} s in tests)."
             + (f" pytest's last line: `{tail[0]}`" if tail else "")]
    bad = [r for r in rows if r[0] in ("failed", "error")]
    if bad:
        lines += ["", "| failed test | error |", "|---|---|"]
        lines += [f"| `{r[1]}` | {r[3].replace('|', '/') if len(r) > 3 else ''} |" for r in bad[:40]]
    skips = Counter(r[3] if len(r) > 3 else "" for r in rows if r[0] == "skipped")
    if skips:
        lines += ["", "| skip reason | tests |", "|---|---:|"]
        lines += [f"| {reason.replace('|', '/')} | {n} |" for reason, n in skips.most_common(10)]
    slow = sorted(rows, key=lambda r: -float(r[2]))[:5]
    if slow:
        lines += ["", "Slowest: " + ", ".join(f"`{r[1]}` {float(r[2]):.1f} s" for r in slow)]
    _write(args.out, "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("env", "throughput", "train", "tests"):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True)
        p.add_argument("--dry", action="store_true")
    sub.choices["throughput"].add_argument("--deadline", type=float, default=None)
    sub.choices["train"].add_argument("--work", required=True)
    for flag in ("--log", "--pytest-log", "--selection", "--command", "--status"):
        sub.choices["tests"].add_argument(flag, required=True)
    args = ap.parse_args()
    {"env": cmd_env, "throughput": cmd_throughput, "train": cmd_train, "tests": cmd_tests}[args.cmd](args)


if __name__ == "__main__":
    main()
