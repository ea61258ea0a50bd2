"""Time to accuracy: how many fewer iterations (and how much less training time) 1cycle needs to reach
the final test accuracy of the piecewise-constant schedule (PC-LR) -- the papers' central claim
as one number (Super-Convergence: 10k vs 80k iterations, a ratio of 8).

    python benchmarks/time_to_accuracy.py                       # laptop profile, CPU/GPU auto
    python benchmarks/time_to_accuracy.py --profile paper --device cuda
    python benchmarks/time_to_accuracy.py --range-test-bounds   # + 1cycle with range-test bounds

Trains (or loads from the results store, so a book build's runs are reused) the profile's
headline pair (chapter 3: 1cycle vs PC-LR at 1 : 8 iterations) and the shortened ladder pair of
part 2, then prints ``superconv.scorecard.speedup_table`` for every 1cycle/PC-LR pair stored at
that profile. Ratios are measured on seed-mean test-accuracy curves at evaluation points (a
lower bound set by the evaluation grid; above 8, the runs' length ratio, only when PC-LR ended below an
accuracy 1cycle passed early, which then says more about PC-LR's end than 1cycle's speed); the training-time
ratio (wall time minus evaluations) compares PC-LR's whole run with the part of 1cycle's run needed
(that part estimated from 1cycle's mean training time per iteration).

``--range-test-bounds`` adds the method the paper prescribes for choosing the bounds: the
profile's 1cycle shape with ``max_lr`` = the LR range test's suggestion (chapter 2, mean over
its seeds; it must be in the store) and ``base_lr`` = max_lr / 10 as in the profile's cycle.
It is reported as its own row; it is a method choice, not tuning against the result.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superconv import experiments, scorecard  # noqa: E402
from superconv.results import Store  # noqa: E402
from superconv.studies import one_cycle, range_tests  # noqa: E402
from superconv.train import device_name, resolve_device  # noqa: E402


def _ints(text: str) -> list:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers")
    if not out or min(out) < 0 or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct integers >= 0, e.g. 0,1,2")
    return out


def range_test_variant(profile: str, seed: int, store: Store) -> dict | None:
    """The profile's 1cycle spec with max_lr from the stored range test (None if not stored)."""
    study = range_tests.load_cached(profile, store=store)
    if study is None:
        return None
    max_lr = study.main.suggestions["max_lr"].mean
    if max_lr is None:
        return None
    base = experiments.make_spec(profile, "one_cycle")["schedule"]
    ratio = base["max_lr"] / base["base_lr"]
    return one_cycle.variant_spec(profile, seed, max_lr=float(max_lr), base_lr=float(max_lr) / ratio)


def fmt(x) -> str:
    if x is None or x != x:
        return "not reached"
    return f"{x:.1f}×"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="laptop", choices=experiments.PROFILES)
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    ap.add_argument("--seeds", type=_ints, default=None, help="1cycle seeds (default: chapter 3's)")
    ap.add_argument("--pc-seeds", type=_ints, default=None, help="PC-LR seeds (default: chapter 3's)")
    ap.add_argument("--no-ladder", action="store_true", help="skip the shortened ladder pair")
    ap.add_argument("--range-test-bounds", action="store_true", help="also run 1cycle with range-test bounds")
    args = ap.parse_args(argv)
    store = Store()
    seeds = args.seeds or one_cycle.default_seeds(args.profile, "one_cycle")
    pc_seeds = args.pc_seeds or one_cycle.default_seeds(args.profile, "pc_lr")
    dev = resolve_device(args.device)
    t0 = time.time()
    run = lambda spec: experiments.run(spec, args.profile, device=dev, store=store, progress=False)  # noqa: E731
    makers = [experiments.make_spec] + ([] if args.no_ladder else [experiments.ladder_spec])
    for make in makers:
        for s in seeds:
            run(make(args.profile, "one_cycle", seed=s))
        for s in pc_seeds:
            run(make(args.profile, "pc_lr", seed=s))
    print(f"# Time to accuracy, profile {args.profile}\n")
    print(f"Runs on {device_name(dev)}; results store {store.root}; "
          f"{time.time() - t0:.0f} s spent training in this invocation (0 = all loaded).\n")
    tta = scorecard.speedup_table(args.profile, store)
    cols = ["pair", "dataset", "train size", "model", "batch", "1cycle it", "PC-LR it", "1cycle acc %",
            "PC-LR acc %", "iteration ratio", "training-time ratio", "seeds reaching"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for _, row in tta.iterrows():
        vals = [fmt(row[c]) if "ratio" in c else str(row[c]) for c in cols]
        print("| " + " | ".join(vals) + " |")
    if args.range_test_bounds:
        specs = [range_test_variant(args.profile, s, store) for s in seeds]
        if specs[0] is None:
            print("\nrange-test bounds: the range test is not in the store (run chapter 2 first)")
        else:
            fast = [run(s) for s in specs]
            slow = [store.get(experiments.make_spec(args.profile, "pc_lr", seed=s), args.profile) for s in pc_seeds]
            sp = one_cycle.speedup(fast, slow)
            a = one_cycle.summarize(fast, seeds)
            sch = specs[0]["schedule"]
            print(f"\n1cycle with range-test bounds ({sch['base_lr']:.3g} → {sch['max_lr']:.3g}, "
                  f"{specs[0]['iterations']} it): {one_cycle.format_acc(a)}; vs the headline PC-LR: "
                  f"iteration ratio {fmt(sp['iteration_ratio'])}, training-time ratio {fmt(sp['time_ratio'])}, "
                  f"{sp['seeds_reached']} of {len(fast)} seeds reached PC-LR's final accuracy")
    goal = tta[tta["pair"] == "headline"]["iteration ratio"]
    r = goal.iloc[0] if len(goal) else None
    print(f"\nGoal (laptop): headline iteration ratio >= 5: {fmt(r)} -> "
          f"{'met' if r is not None and r == r and r >= 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
