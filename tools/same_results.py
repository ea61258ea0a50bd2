"""Do two versions of the package train the same numbers? (A check for refactors.)

Trains the same few run specs with the package of each checkout, in a fresh process with an
empty results store, and compares the histories (every LR, momentum, loss, evaluation and final
accuracy; wall and evaluation times and the provenance left out)::

    git worktree add /tmp/old <commit>
    python tools/same_results.py /tmp/old .        # exit 0: identical; 1: they differ

The specs cover the smoke pair, a laptop ladder run with precise BN and a short laptop fp32 run
on Fashion-MNIST (Debian's ``dataset-fashion-mnist``); bf16 results are compared on one
machine, so they are exactly equal only when both versions run the same operations.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, sys
import torch
torch.set_num_threads(2)
import superconv
from superconv import experiments
assert superconv.__file__.startswith(sys.argv[1]), superconv.__file__
specs = {
    "smoke one_cycle": experiments.make_spec("smoke", "one_cycle"),
    "smoke pc_lr": experiments.make_spec("smoke", "pc_lr"),
    "laptop ladder pc_lr (precise BN)": experiments.ladder_spec("laptop", "pc_lr", iterations=60, train_size=2000),
    "laptop one_cycle fp32": experiments.make_spec("laptop", "one_cycle", iterations=40, precision="fp32",
                                                   eval_every=20, train_size=2000),
}
out = {}
for name, spec in specs.items():
    d = experiments.run(spec, "smoke", device="cpu", progress=False).to_dict()
    for k in ("wall_time", "eval_time", "config"):
        d.pop(k)
    out[name] = d
json.dump(out, sys.stdout, default=str)
"""


def histories(root: Path) -> dict:
    """The worker's histories, trained by the package in ``root`` (a checkout's top folder)."""
    root = root.resolve()
    with tempfile.TemporaryDirectory() as store:
        env = dict(os.environ, PYTHONPATH=str(root), SUPERCONV_RESULTS=store)
        done = subprocess.run([sys.executable, "-c", WORKER, str(root)], env=env, cwd=store,
                              capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path, help="the top folder of one checkout")
    ap.add_argument("new", type=Path, help="the top folder of the other")
    args = ap.parse_args(argv)
    a, b = histories(args.old), histories(args.new)
    differ = [name for name in a if a[name] != b.get(name)]
    for name in a:
        print(f"{'differs' if name in differ else 'identical'}: {name} "
              f"(final test accuracy {a[name]['test_acc'][-1]} vs {b[name]['test_acc'][-1]})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
