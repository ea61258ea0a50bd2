"""The results store: every run saved once, as JSON, with everything needed to trust it.

A run is identified by its *spec* (a JSON-able dict: dataset, model, schedule, iterations, seed,
...) plus the package version: ``key = sha256(canonical JSON of {spec, version})[:16]``. Its
record holds the spec, the full ``History`` (per-iteration LR/momentum/loss, evaluations, final
train accuracy, divergence), and provenance: package version, git commit, torch version, device,
precision and wall time.

Rules (why this module exists):
* a run whose record exists is *loaded, not retrained*; ``retrain=True`` trains again and keeps
  the old record as ``<key>.json.bak-<time>`` (nothing a user computed is overwritten silently);
* writes are atomic (temp file + ``os.replace``): a killed process never leaves half a record;
* long runs checkpoint into ``<store>/checkpoints/<key>.pt`` and resume from there when started
  again (see ``superconv.train.fit``); the checkpoint is removed once the record is written.

Where the store lives: ``$SUPERCONV_RESULTS`` if set; otherwise ``results/`` in the repository
when the package runs from a checkout (so the book and papermill runs share it); otherwise
``~/.cache/superconv/results``. Records are grouped by profile: ``<store>/<profile>/<key>.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Callable

from . import __version__
from .train import History, _atomic_write_bytes, _jsonable

FORMAT = "superconv-result-1"


def default_store() -> Path:
    env = os.environ.get("SUPERCONV_RESULTS")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "_config.yml").exists() and (repo / "superconv").is_dir():
        return repo / "results"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "superconv" / "results"


def canonical(spec: dict) -> str:
    """Canonical JSON of a spec: sorted keys, floats by repr, so equal specs hash equally."""
    return json.dumps(_jsonable(spec), sort_keys=True, separators=(",", ":"))


def spec_key(spec: dict) -> str:
    blob = canonical({"spec": spec, "superconv": __version__})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), if any."""
    repo = Path(__file__).resolve().parents[1]
    if not (repo / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("-dirty" if dirty else "")) or None


class Store:
    """A folder of run records: ``<root>/<profile>/<key>.json``."""

    def __init__(self, root=None):
        self.root = Path(root) if root is not None else default_store()

    def path(self, spec: dict, profile: str) -> Path:
        return self.root / profile / f"{spec_key(spec)}.json"

    def checkpoint_path(self, spec: dict, profile: str) -> Path:
        return self.root / profile / "checkpoints" / f"{spec_key(spec)}.pt"

    def get(self, spec: dict, profile: str) -> History | None:
        path = self.path(spec, profile)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"result file {path} cannot be read ({e}); move it away to recompute it") from e
        if record.get("format") != FORMAT or record.get("spec") != json.loads(canonical(spec)):
            raise ValueError(f"result file {path} does not hold this spec (hash collision or a "
                             "hand-edited file); move it away to recompute it")
        return _restore_floats(History.from_dict(record["history"]))

    def put(self, spec: dict, profile: str, history: History, overwrite: bool = False) -> Path:
        path = self.path(spec, profile)
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} exists; pass overwrite=True (the old record is kept as a backup)")
            path.rename(path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}"))
        record = dict(format=FORMAT, key=spec_key(spec), profile=profile, spec=spec,
                      superconv=__version__, git_commit=git_commit(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      history=history.to_dict())
        _atomic_write_bytes(path, json.dumps(_jsonable(record), indent=1).encode())
        return path

    def records(self, profile: str | None = None) -> list[dict]:
        """Every record in the store (optionally of one profile), as dicts."""
        pattern = f"{profile}/*.json" if profile else "*/*.json"
        out = []
        for p in sorted(self.root.glob(pattern)):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                continue
        return out

    def run(self, spec: dict, profile: str, train: Callable[[Path], History], retrain: bool = False) -> History:
        """The stored history of ``spec``, or ``train(checkpoint_path)`` once and store it."""
        if not retrain:
            cached = self.get(spec, profile)
            if cached is not None:
                return cached
        ckpt = self.checkpoint_path(spec, profile)
        if retrain and ckpt.exists():
            ckpt.unlink()
        history = train(ckpt)
        self.put(spec, profile, history, overwrite=retrain)
        if ckpt.exists():
            ckpt.unlink()
        return history


    def memo(self, kind: str, spec: dict, profile: str, compute: Callable[[], dict],
             retrain: bool = False) -> dict:
        """Any JSON-able result (a range test, an eigenvalue sweep) computed once per spec.

        Stored like runs, under ``<store>/<profile>/<kind>-<key>.json``; ``compute()`` must return
        a JSON-able dict (non-finite floats become the strings 'nan'/'inf').
        """
        full = {"kind": kind, **spec}
        path = self.root / profile / f"{kind}-{spec_key(full)}.json"
        if path.exists() and not retrain:
            record = json.loads(path.read_text())
            if record.get("spec") != json.loads(canonical(full)):
                raise ValueError(f"result file {path} does not hold this spec; move it away to recompute it")
            return record["result"]
        result = compute()
        if path.exists():
            path.rename(path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}"))
        record = dict(format=FORMAT, key=spec_key(full), profile=profile, spec=full, superconv=__version__,
                      git_commit=git_commit(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), result=result)
        _atomic_write_bytes(path, json.dumps(_jsonable(record), indent=1).encode())
        return json.loads(path.read_text())["result"]


def _restore_floats(h: History) -> History:
    """JSON stores non-finite floats as strings ('nan', 'inf'); turn them back into floats."""
    def fix(v):
        if isinstance(v, str) and v in ("nan", "inf", "-inf"):
            return float(v)
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    for name in ("train_loss", "test_loss", "test_acc"):
        setattr(h, name, fix(getattr(h, name)))
    for name in ("train_acc", "train_eval_loss"):
        setattr(h, name, fix(getattr(h, name)))
    return h


__all__ = ["Store", "default_store", "spec_key", "canonical", "git_commit", "FORMAT"]
