"""The ``torchrun`` command line: train run specs of the book data-parallel into the results store.

Running a run spec of the book (see ``experiments``) on 8 GPUs; the record lands in the results
store (``$SUPERCONV_RESULTS``), written by rank 0 only, under the same key as a one-process run::

    torchrun --standalone --nproc_per_node 8 -m superconv.launch --profile paper --policy one_cycle
    torchrun --standalone --nproc_per_node 8 -m superconv.launch --profile paper --spec specs.json

``specs.json`` holds a spec, a list of specs, or ``{name: [specs]}`` as the studies' ``specs()``
return them. How ``fit`` splits a run over the processes: ``superconv.distributed``.

:func:`train_specs` is what every torchrun command line shares (chapter 10's,
``-m superconv.studies.imagenet``, too): join the process group, train each spec on every rank
with a rank-0 store, report on rank 0, leave the group. ``-m superconv.launch`` runs this file as
``__main__``; nothing that it imports imports ``superconv.launch`` back (only ``studies.imagenet``,
a module above it, imports it), so the entry point is the module's only copy in that process.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import distributed, experiments
from .results import Store
from .train import History

__all__ = ["load_specs", "duration", "train_specs", "main"]


def load_specs(path: str) -> list:
    """A spec, a list of specs, or ``{name: spec or [specs]}`` from a JSON file, as a list."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"--spec {path!r} cannot be read as JSON ({e})") from e
    items = obj if isinstance(obj, list) else [obj] if "schedule" in obj else list(obj.values())
    specs = []
    for item in items:
        specs.extend(item if isinstance(item, list) else [item])
    if not specs or not all(isinstance(s, dict) for s in specs):
        raise ValueError(f"--spec {path!r} must hold a run spec, a list of them, or {{name: [specs]}}")
    return specs


def duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def train_specs(runs: Sequence[tuple[str, dict]], profile: str, device: str,
                train: Callable[[dict, Store], History]) -> int:
    """``train(spec, store)`` for each ``(label, spec)`` of ``runs`` on every rank of this job
    (one process without torchrun), with a store whose rank 0 reads and writes; rank 0 prints a
    line per run. ``device`` (``"auto"``: CUDA when available) picks the process group's backend.
    Returns the exit code (0)."""
    distributed.setup(device)
    try:
        store = Store(rank0=True)
        for label, spec in runs:
            h = train(spec, store)
            if distributed.is_main():
                print(f"{label}: final test acc {h.final_test_acc} % after {h.iterations:,} it, "
                      f"{duration(h.wall_time)} on {distributed.world_size()} process(es) "
                      f"-> {store.path(spec, profile)}", flush=True)
    finally:
        distributed.teardown()
    return 0


def main(argv=None) -> int:
    """``torchrun ... -m superconv.launch --profile P (--policy NAME | --spec FILE)``."""
    p = argparse.ArgumentParser(prog="python -m superconv.launch",
                                description="Train run specs of the book with DDP under torchrun; "
                                            "rank 0 writes the results store ($SUPERCONV_RESULTS).")
    p.add_argument("--profile", required=True, choices=experiments.PROFILES)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--policy", help="a profile policy (experiments.make_spec(profile, policy))")
    what.add_argument("--spec", help="JSON file: a run spec, a list of specs, or {name: [specs]}")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="with --policy: one run per seed")
    p.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK when available), cpu, cuda")
    p.add_argument("--retrain", action="store_true", help="train again although a record exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on rank 0")
    args = p.parse_args(argv)

    # everything is validated before the process group and any training
    if args.policy is not None:
        seeds = args.seeds if args.seeds is not None else [None]
        specs = [experiments.make_spec(args.profile, args.policy, seed=s) for s in seeds]
    else:
        if args.seeds is not None:
            p.error("--seeds goes with --policy; a --spec file says its seeds itself")
        specs = load_specs(args.spec)
    for s in specs:
        experiments.build_schedule(s["schedule"])

    return train_specs([(experiments.describe(s), s) for s in specs], args.profile, args.device,
                       lambda spec, store: experiments.run(spec, args.profile, device=args.device, store=store,
                                                           progress=not args.no_progress, retrain=args.retrain))


if __name__ == "__main__":
    sys.exit(main())
