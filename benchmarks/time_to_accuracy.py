"""Time to accuracy: how many fewer iterations (and how much less training time) 1cycle needs to reach
the accuracy of the piecewise-constant schedule (PC-LR) -- the papers' central claim as one number
(Super-Convergence: 10k vs 80k iterations, a ratio of 8), measured with a budget sweep.

    python benchmarks/time_to_accuracy.py                       # laptop profile, CPU/GPU auto
    python benchmarks/time_to_accuracy.py --profile paper --device cuda

Trains (or loads from the results store, so a book build's runs are reused) chapter 3's budget
sweep -- complete 1cycle and PC-LR schedules at several budgets, several seeds each
(``superconv.studies.one_cycle.run_study``) -- and prints the budget table and the speed-up factor
with its bootstrap interval over seeds (``superconv.speedup``): the same numbers, computed by the
same functions, as chapter 3 and the scorecard. Then, unless ``--no-ladder``, the shortened
ladder pair of part 2 (one budget per policy), whose ratio is read where 1cycle's seed-mean curve
first reaches PC-LR's final accuracy (a lower bound set by the evaluation grid).

At the smoke and laptop profiles the sweep trains with the settings chapter 3 computes first
(``superconv.studies.calibration``: 1cycle's bounds from the range test's plateau, PC-LR's LR and
both weight decays on a validation set); the script prints where each came from.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superconv import experiments, scorecard  # noqa: E402
from superconv.results import Store  # noqa: E402
from superconv.studies import one_cycle  # noqa: E402
from superconv.train import device_name, resolve_device  # noqa: E402


def _ints(text: str) -> list:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers")
    if not out or min(out) < 0 or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct integers >= 0, e.g. 0,1,2")
    return out


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
    ap.add_argument("--budgets", type=_ints, default=None, help="1cycle budgets (default: chapter 3's)")
    ap.add_argument("--pc-budgets", type=_ints, default=None, help="PC-LR budgets (default: chapter 3's)")
    ap.add_argument("--no-ladder", action="store_true", help="skip the shortened ladder pair")
    args = ap.parse_args(argv)
    store = Store()
    seeds = args.seeds or one_cycle.default_seeds(args.profile, "one_cycle")
    pc_seeds = args.pc_seeds or one_cycle.default_seeds(args.profile, "pc_lr")
    dev = resolve_device(args.device)
    one_cycle.sweep_specs(args.profile, seeds, pc_seeds, args.budgets, args.pc_budgets)  # checks first
    t0 = time.time()
    run = lambda spec: experiments.run(spec, args.profile, device=dev, store=store, progress=False)  # noqa: E731
    study = one_cycle.run_study(args.profile, dev, seeds=seeds, pc_seeds=pc_seeds, budgets=args.budgets,
                                pc_budgets=args.pc_budgets, momentum_ablation=False, store=store)
    if not args.no_ladder:
        for s in seeds:
            run(experiments.ladder_spec(args.profile, "one_cycle", seed=s))
        for s in pc_seeds:
            run(experiments.ladder_spec(args.profile, "pc_lr", seed=s))
    print(f"# Time to accuracy, profile {args.profile}\n")
    print(f"Runs on {device_name(dev)}; results store {store.root}; "
          f"{time.time() - t0:.0f} s spent training in this invocation (0 = all loaded).\n")
    print("## Where the settings come from (chapter 3, `superconv.studies.calibration`)\n")
    for p in one_cycle.POLICIES:
        print(f"* {one_cycle.LABELS[p]}: {study.calibration.describe(p)}")
    print()
    print("## The budget sweep (chapter 3)\n")
    rows = one_cycle.sweep_rows(study)
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(f"{row[c]:,}" if isinstance(row[c], int) else str(row[c]) for c in cols) + " |")
    sp, vd = study.speedup, study.verdict
    print(f"\n{vd['speed_sentence']}.")
    if sp["time_factor"]:
        print(f"In training time (wall time minus evaluations): {sp['time_factor']:.1f}×.")
    print(f"Verdict: {vd['verdict']} ({vd['rule']}).")
    if not args.no_ladder:
        tta = scorecard.speedup_table(args.profile, store)
        tta = tta[tta["pair"] == "ladder"]
        print("\n## The ladder pair of part 2 (one budget per policy)\n")
        cols = ["dataset", "train size", "model", "batch", "1cycle it", "PC-LR it", "1cycle acc %",
                "PC-LR acc %", "iteration ratio", "training-time ratio", "seeds reaching"]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for _, row in tta.iterrows():
            print("| " + " | ".join(fmt(row[c]) if "ratio" in c else str(row[c]) for c in cols) + " |")
    low = sp["interval"]["low"]
    low = "no interval" if low is None else "not reached" if low == 0 else f"{low:.1f}×"
    print(f"\nGoal: the speed-up interval's lower end >= {one_cycle.MIN_RATIO:g}×: {low} -> "
          f"{'met' if vd['speed_holds'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
