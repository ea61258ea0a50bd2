"""What share of the training runs' time goes to evaluation: read off the results store.

Every run record holds its wall time and its evaluation time (``History.eval_time``: the test or
validation evaluations, the BN statistics that precise BN recomputes first, the moving-average
accuracy of the final evaluation, and the final training accuracy). This script groups the runs
of one profile in the store by how many evaluations they made and prints, per group, the runs,
mean iterations, mean wall and evaluation seconds and the evaluation share of the total. Nothing
is trained; the store is the one a book build or a benchmark filled (``$SUPERCONV_RESULTS``).

    python benchmarks/eval_share.py --profile laptop
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superconv.results import Store  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--any-code", action="store_true",
                    help="also the records that older code computed (the store keeps them, unused)")
    args = ap.parse_args(argv)
    store = Store()
    groups = defaultdict(list)
    machines = set()
    if args.any_code:
        records = [json.loads(p.read_text()) for p in sorted(store.root.glob(f"{args.profile}/*.json"))]
    else:
        records = store.records(args.profile)
    for rec in records:
        h = rec.get("history")
        if not h or h.get("eval_time") is None or not h.get("wall_time"):
            continue
        evals = len(h.get("eval_iters") or [])
        kind = "validation" if rec["spec"].get("validation") else "test"
        groups[(evals, kind)].append(h)
        machines.add(h["config"].get("device_name", "?"))
    if not groups:
        print(f"no run records of profile {args.profile} in {store.root}")
        return 1
    print(f"# Evaluation share of the {args.profile} runs in {store.root}\n")
    print(f"Machines: {', '.join(sorted(machines))}.\n")
    print("| evaluations per run | split | runs | mean iterations | mean wall s | mean eval s | eval share |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    tw = te = 0.0
    for (evals, kind), hs in sorted(groups.items()):
        wall = sum(h["wall_time"] for h in hs)
        ev = sum(h["eval_time"] for h in hs)
        tw, te = tw + wall, te + ev
        its = sum(h["iterations"] for h in hs) / len(hs)
        print(f"| {evals} | {kind} | {len(hs)} | {its:,.0f} | {wall / len(hs):.1f} | {ev / len(hs):.1f} | "
              f"{ev / wall:.0%} |")
    print(f"| all | | {sum(map(len, groups.values()))} | | {tw:,.0f} (total) | {te:,.0f} (total) | {te / tw:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
