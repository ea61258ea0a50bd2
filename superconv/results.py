"""The results store: every run saved once, as JSON, with everything needed to trust it.

A run is identified by its *spec* (a JSON-able dict: dataset, model, schedule, iterations, seed,
...) plus the fingerprint of the code that computes results (``superconv.fingerprint``):
``key = sha256(canonical JSON of {spec, code})[:16]``. A change of that code therefore changes
every key, and a rebuild computes afresh instead of reusing what older code computed (the old
records stay on disk, unused). A record holds the spec, the full ``History`` (per-iteration
LR/momentum/loss, evaluations, final train accuracy, divergence), and provenance: code
fingerprint, package version, git commit, torch version, device, precision and wall time.

Rules (why this module exists):
* a run whose record exists is *loaded, not retrained*; ``retrain=True`` trains again and keeps
  the old record as ``<key>.json.bak-<time>`` (nothing a user computed is overwritten silently);
* writes are atomic (temp file + ``os.replace``): a killed process never leaves half a record;
* every record carries the SHA-256 of its own content, and every record is read through
  :func:`read_record`: a truncated, unreadable or hand-edited file is a :class:`RecordError`
  that names it (never a silently accepted number); :meth:`Store.problems` lists them;
* long runs checkpoint into ``<store>/checkpoints/<key>.pt`` and resume from there when started
  again (see ``superconv.train.fit``); the checkpoint is removed once the record is written.
* ``Store(rank0=True)``: the ranks of a ``torchrun`` job share one store -- rank 0 alone reads
  and writes files, every rank gets rank 0's answers (no shared disk needed), and ``run`` trains
  on every rank (``fit`` is data-parallel). In one process it is the plain store.

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
from typing import Any, Callable

from . import __version__
from ._io import atomic_write_text, dumps, jsonable, read_json
from .distributed import from_main
from .fingerprint import code_fingerprint
from .history import History

__all__ = ["Store", "default_store", "spec_key", "canonical", "git_commit", "FORMAT", "RecordError",
           "read_record", "content_hash"]

FORMAT = "superconv-result-2"  # 2: with the content hash
HASH = "content_sha256"


class RecordError(ValueError):
    """A store record that cannot be trusted: unreadable, truncated, of another format, or
    edited after it was written. The message names the file and what to do."""


def content_hash(record: dict) -> str:
    """SHA-256 of a record's content (everything but the hash itself), as canonical JSON."""
    body = {k: v for k, v in record.items() if k != HASH}
    return hashlib.sha256(json.dumps(jsonable(body), sort_keys=True, separators=(",", ":"),
                                     allow_nan=False).encode()).hexdigest()


def read_record(path: Path) -> dict:
    """The record in ``path``, checked: JSON, this store's format and an intact content hash;
    anything else is a :class:`RecordError` naming the file."""
    path = Path(path)
    try:
        record = read_json(path, "result file")
    except ValueError as e:
        raise RecordError(str(e)) from None
    return _checked(record, path)


def _older(record: Any) -> bool:
    """A record an older version of the store wrote (no content hash yet): computed by older
    code, so never asked for again; left alone like any record of older code."""
    return isinstance(record, dict) and str(record.get("format", "")).startswith("superconv-result-") \
        and record.get("format") != FORMAT


def _checked(record: Any, path: Path) -> dict:
    fix = "move it away to recompute it"
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        got = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise RecordError(f"result file {path} is not a {FORMAT} record (format {got!r}); {fix}")
    if record.get(HASH) != content_hash(record):
        raise RecordError(f"result file {path} was edited after it was written (its content no longer matches "
                          f"its {HASH}); {fix}")
    return record


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
    return json.dumps(jsonable(spec), sort_keys=True, separators=(",", ":"))


def spec_key(spec: dict) -> str:
    """The key of ``spec``'s record: its canonical JSON and the code fingerprint, hashed."""
    blob = canonical({"spec": spec, "code": code_fingerprint()})
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


def _backup(path: Path) -> None:
    path.rename(path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}"))


class Store:
    """A folder of run records: ``<root>/<profile>/<key>.json``. ``rank0=True``: under torchrun
    rank 0 alone touches the files and every rank gets its answers (see the module's rules)."""

    def __init__(self, root=None, rank0: bool = False):
        self.root = Path(root) if root is not None else default_store()
        self.rank0 = rank0

    def _files(self, fn: Callable[[], Any]) -> Any:
        """``fn()``, a file operation: on rank 0 only (answer sent to every rank) under ``rank0``."""
        return from_main(fn) if self.rank0 else fn()

    def path(self, spec: dict, profile: str) -> Path:
        return self.root / profile / f"{spec_key(spec)}.json"

    def checkpoint_path(self, spec: dict, profile: str) -> Path:
        return self.root / profile / "checkpoints" / f"{spec_key(spec)}.pt"

    @staticmethod
    def _record(spec: dict, profile: str, **content) -> dict:
        record = jsonable(dict(format=FORMAT, key=spec_key(spec), profile=profile, spec=spec, code=code_fingerprint(),
                               superconv=__version__, git_commit=git_commit(),
                               created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **content))
        return {**record, HASH: content_hash(record)}

    @staticmethod
    def _holds(record: dict, spec: dict) -> bool:
        return record.get("code") == code_fingerprint() and record.get("spec") == json.loads(canonical(spec))

    def get(self, spec: dict, profile: str) -> History | None:
        """The stored History of ``spec`` (None: none stored)."""
        return self._files(lambda: self._get(spec, profile))

    def _get(self, spec: dict, profile: str) -> History | None:
        path = self.path(spec, profile)
        if not path.exists():
            return None
        record = read_record(path)
        if not self._holds(record, spec):
            raise RecordError(f"result file {path} does not hold this spec (a key collision, or a file "
                              "copied from elsewhere); move it away to recompute it")
        return History.from_json(record["history"])

    def put(self, spec: dict, profile: str, history: History, overwrite: bool = False) -> Path:
        return self._files(lambda: self._put(spec, profile, history, overwrite))

    def _put(self, spec: dict, profile: str, history: History, overwrite: bool) -> Path:
        path = self.path(spec, profile)
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} exists; pass overwrite=True (the old record is kept as a backup)")
            _backup(path)
        atomic_write_text(path, dumps(self._record(spec, profile, history=history.to_dict())))
        return path

    def records(self, profile: str | None = None) -> list[dict]:
        """Every intact record of the current code in the store (optionally of one profile), as
        dicts; records that older code computed are left out (their keys are no longer asked
        for), and so are the ones :meth:`problems` lists."""
        return self._files(lambda: self._scan(profile)[0])

    def problems(self, profile: str | None = None) -> list[tuple[Path, str]]:
        """``(path, why)`` of every record that cannot be trusted (unreadable, truncated, of
        another format, edited): what :meth:`records` leaves out, for the caller to show."""
        return self._files(lambda: self._scan(profile)[1])

    def _scan(self, profile: str | None) -> tuple[list[dict], list[tuple[Path, str]]]:
        good, bad = [], []
        for p in sorted(self.root.glob(f"{profile}/*.json" if profile else "*/*.json")):
            try:
                record = read_json(p, "result file")
                if _older(record):
                    continue
                record = _checked(record, p)
            except ValueError as e:
                bad.append((p, str(e)))
                continue
            if record.get("code") == code_fingerprint():
                good.append(record)
        return good, bad

    def run(self, spec: dict, profile: str, train: Callable[[Path], History], retrain: bool = False) -> History:
        """The stored history of ``spec``, or ``train(checkpoint_path)`` once and store it.
        Under ``rank0`` every rank calls ``train`` (a data-parallel ``fit``)."""
        if not retrain:
            cached = self.get(spec, profile)
            if cached is not None:
                return cached
        ckpt = self.checkpoint_path(spec, profile)
        if retrain:
            self._files(lambda: ckpt.unlink(missing_ok=True))
        history = train(ckpt)
        self.put(spec, profile, history, overwrite=retrain)
        self._files(lambda: ckpt.unlink(missing_ok=True))
        return history

    def memo(self, kind: str, spec: dict, profile: str, compute: Callable[[], dict],
             retrain: bool = False) -> dict:
        """Any JSON-able result (a range test, an eigenvalue sweep) computed once per spec.

        Stored like runs, under ``<store>/<profile>/<kind>-<key>.json``; ``compute()`` must return
        a JSON-able dict (non-finite floats become the strings 'nan'/'inf'). Under ``rank0``
        every rank calls ``compute`` and gets rank 0's stored result.
        """
        full = {"kind": kind, **spec}
        path = self.root / profile / f"{kind}-{spec_key(full)}.json"
        if not retrain:
            cached = self._files(lambda: self._memo_get(path, full))
            if cached is not None:
                return cached["result"]
        result = compute()
        return self._files(lambda: self._memo_put(path, full, profile, result))

    def _memo_get(self, path: Path, full: dict) -> dict | None:
        if not path.exists():
            return None
        record = read_record(path)
        if not self._holds(record, full):
            raise RecordError(f"result file {path} does not hold this spec; move it away to recompute it")
        return record

    def _memo_put(self, path: Path, full: dict, profile: str, result: dict) -> dict:
        if path.exists():
            _backup(path)
        atomic_write_text(path, dumps(self._record(full, profile, result=result)))
        return json.loads(path.read_text())["result"]
