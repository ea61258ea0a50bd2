"""Datasets as whole on-device tensors, and fast on-device batches.

Why this shape: the runs in this book are short (super-convergence is about training in
few epochs) and the datasets are small (CIFAR-10's train split is 150 MB as uint8), so
the cheapest input pipeline is almost none. Every image of a split lives on the
accelerator in one uint8 tensor, and a training batch is a handful of vectorized tensor
ops (gather, flip, crop, normalize): no DataLoader workers, no per-image Python, and no
host-device synchronization per step.

What is here:

- ``load(name, train=True, root=None, device="cpu", download=None) -> Split``. The
  files are read by torchvision's own dataset classes (``CIFAR10``, ``CIFAR100``,
  ``MNIST``, ``FashionMNIST``); this module only finds them and converts the result.
- ``Split``: uint8 images (N, C, H, W), int64 labels, per-channel mean/std of the
  *train* split (a test split carries its train split's statistics), class names, and a
  ``description`` for figure captions.
- ``balanced_subset``, ``subset_and_rest`` and ``holdout``: deterministic, class-balanced subsets.
- ``Batches``: training batches where batch number ``it`` is a pure function of
  ``(seed, it)``, so an interrupted run resumes with exactly the batches it would have
  seen. ``eval_batches``: in-order, un-augmented batches for evaluation.

Where files are looked for: a ``root`` argument is the only place (what you name is what you
get: never another copy; a root that does not exist is an error unless a download will create
it). Without one, the first folder that has them wins:

1. ``$SUPERCONV_DATA`` (one folder, or several separated by ``os.pathsep``; each must exist);
2. the user cache, ``$XDG_CACHE_HOME/superconv/data`` (default ``~/.cache/superconv/data``);
3. for fashion-mnist only, ``/usr/share/datasets/fashion-mnist`` (Debian package
   ``dataset-fashion-mnist``);
4. a torchvision download into ``root``, else the first folder of 1-2. ``download=None`` (the default)
   downloads unless the environment says the machine is offline (``SUPERCONV_OFFLINE=1``
   or ``SUPERCONV_DOWNLOAD=0``); ``download=True`` always tries, ``download=False`` never.
   Offline, a failed attempt is reported in the not-found error with its reason.

Each folder uses torchvision's layout: ``<root>/cifar-10-batches-py/``,
``<root>/cifar-100-python/``, ``<root>/MNIST/raw/``, ``<root>/FashionMNIST/raw/``.
torchvision 0.29 reads the MNIST-style IDX files *decompressed*; where only the ``.gz``
files are present we decompress them next to themselves (as torchvision's download
step does), and the read-only Debian folder is decompressed into
``<user cache>/debian-fashion-mnist/FashionMNIST/raw/``.

Checksums: on first use the files are checked against the md5s in torchvision's own
dataset classes (MNIST/Fashion-MNIST: the ``.gz`` files of ``resources``; CIFAR: every
extracted batch file and the meta file of ``train_list``/``test_list``/``meta``). A passed
check is recorded in ``.superconv-verified.json`` next to the data (path, size, mtime,
md5), so later loads only ``stat`` the files; a changed size or mtime means hashing again.
A mismatch raises ``DatasetCorruptError`` naming the file and both md5s. Folders of other
files (tests, custom data) declare theirs with ``register_checksums(folder, {file: md5})``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.datasets as tvd

from . import _checks
from ._io import atomic_write, atomic_write_text

DATASETS = ("cifar10", "cifar100", "mnist", "fashion-mnist")
# What is known of each dataset without reading it: its name in prose, split sizes, classes and
# image channels (studies validate parameters and write captions from these before loading).
TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
TRAIN_SPLIT_SIZES = {"cifar10": 50_000, "cifar100": 50_000, "mnist": 60_000, "fashion-mnist": 60_000}
TEST_SPLIT_SIZES = {"cifar10": 10_000, "cifar100": 10_000, "mnist": 10_000, "fashion-mnist": 10_000}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "mnist": 10, "fashion-mnist": 10}
CHANNELS = {"cifar10": 3, "cifar100": 3, "mnist": 1, "fashion-mnist": 1}
_TORCHVISION = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST}
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
#: How a split's images become network inputs (``Split.input_norm``): per-channel standardisation;
#: the authors' CIFAR input, the mean image subtracted on the 0-255 scale; or Caffe's MNIST LeNet
#: input, ``scale: 0.00390625`` (x / 256).
INPUT_NORMS = ("channel", "mean_image", "unit")
#: The order training batches read a split in (``Batches(order=...)``): a new permutation each
#: epoch, or the split's own order every epoch (Caffe's Data layer reading its LMDB).
ORDERS = ("shuffle", "file")

__all__ = ["DATASETS", "INPUT_NORMS", "ORDERS", "TITLES", "TRAIN_SPLIT_SIZES", "TEST_SPLIT_SIZES", "NUM_CLASSES", "CHANNELS", "title",
           "DatasetNotFoundError", "DatasetCorruptError", "Split", "load", "user_cache_dir",
           "known_md5s", "register_checksums", "balanced_subset", "subset_and_rest", "holdout", "Batches", "eval_batches"]


class DatasetNotFoundError(FileNotFoundError):
    """No searched folder has the dataset (the message lists every place looked)."""


class DatasetCorruptError(ValueError):
    """The dataset's files are present but unreadable or not the originals (md5 mismatch)."""


def title(name: str) -> str:
    """A dataset's name in prose (``"fashion-mnist"`` -> ``"Fashion-MNIST"``; others unchanged)."""
    return TITLES.get(name, name)


# ----------------------------------------------------------------------------- validation
def _check_name(name) -> str:
    if name not in DATASETS:
        _checks.fail("name", name, ", ".join(DATASETS), why="is not a dataset")
    return name


def _check_device(device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device={device!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1')") from e


# ----------------------------------------------------------------------------- Split
@dataclass(eq=False, repr=False)
class Split:
    """One dataset split as tensors.

    ``images`` uint8 (N, C, H, W); ``labels`` int64 (N,); ``mean``/``std`` per channel, in
    [0, 1] pixel units, always of the dataset's full *train* split (population std over
    all its pixels). ``full_size`` is the size of the split this one was cut from and
    ``notes`` records how (both feed ``description``).
    """

    images: torch.Tensor
    labels: torch.Tensor
    mean: tuple
    std: tuple
    classes: list
    name: str
    train: bool
    full_size: Optional[int] = None
    notes: tuple = ()
    root: Optional[str] = None  # the folder torchvision read the files from
    # the full train split's mean image, float32 (C, H, W) in 0-255 pixel units (load computes it)
    mean_image: Optional[torch.Tensor] = None
    input_norm: str = "channel"  # INPUT_NORMS: how batches of this split are normalized

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be a uint8 tensor (N, C, H, W), "
                             f"got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(f"labels must be int64 of shape ({len(self.images)},), "
                             f"got {self.labels.dtype} {tuple(self.labels.shape)}")
        if self.labels.device != self.images.device:
            raise ValueError(f"labels are on {self.labels.device} but images on {self.images.device}")
        channels = self.images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean={self.mean!r} and std={self.std!r} need one value per channel ({channels})")
        _checks.choice("input_norm", self.input_norm, INPUT_NORMS)
        if self.mean_image is not None and tuple(self.mean_image.shape) != tuple(self.images.shape[1:]):
            raise ValueError(f"mean_image has shape {tuple(self.mean_image.shape)}, the images "
                             f"{tuple(self.images.shape[1:])}")
        if self.input_norm == "mean_image" and self.mean_image is None:
            raise ValueError("input_norm='mean_image' needs the split's mean_image (data.load computes it)")
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)
        self.classes = list(self.classes)
        self.notes = tuple(self.notes)
        if self.full_size is None:
            self.full_size = len(self)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        return f"Split({self.description!r}, images={tuple(self.images.shape)}, device={self.device})"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def description(self) -> str:
        """E.g. ``"fashion-mnist train, 10000 of 60000 (class-balanced, seed 0)"``."""
        text = f"{self.name} {'train' if self.train else 'test'}, "
        text += f"{len(self)} of {self.full_size}" if len(self) != self.full_size else f"{len(self)} images"
        return text + (f" ({'; '.join(self.notes)})" if self.notes else "")

    def to(self, device) -> "Split":
        device = _check_device(device)
        mean_image = None if self.mean_image is None else self.mean_image.to(device)
        return dataclasses.replace(self, images=self.images.to(device), labels=self.labels.to(device),
                                   mean_image=mean_image)

    def subset(self, indices, note: Optional[str] = None) -> "Split":
        """The samples at ``indices`` (in that order); statistics and classes are kept."""
        indices = torch.as_tensor(indices, dtype=torch.int64, device=self.device)
        if indices.dim() != 1:
            raise ValueError(f"indices must be one-dimensional, got shape {tuple(indices.shape)}")
        return dataclasses.replace(self, images=self.images[indices], labels=self.labels[indices],
                                   notes=self.notes + ((note,) if note else ()))

    def normalizer(self) -> tuple:
        """``(scale, shift)`` with normalized = ``x * scale + shift`` for uint8 ``x``, on the
        split's device: per channel ``(x / 255 - mean) / std`` (``input_norm="channel"``), or the
        authors' Caffe input, ``x - mean image`` on the 0-255 scale (``"mean_image"``), or Caffe's
        LeNet input ``x / 256`` (``"unit"``)."""
        c = self.images.shape[1]
        if self.input_norm == "mean_image":
            return torch.ones(c, 1, 1, device=self.device), -self.mean_image.to(self.device)
        if self.input_norm == "unit":
            return torch.full((c, 1, 1), 1 / 256, device=self.device), torch.zeros(c, 1, 1, device=self.device)
        return normalizer(self.mean, self.std, self.device)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images of this dataset -> float32, as :meth:`normalizer` says."""
        scale, shift = self.normalizer()
        return torch.addcmul(shift.to(images.device), images.float(), scale.to(images.device))


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 images -> float32 ``(x / 255 - mean) / std`` (per channel, dimension 1)."""
    scale, shift = normalizer(mean, std, images.device)
    return torch.addcmul(shift, images.float(), scale)


def normalizer(mean, std, device) -> tuple:
    """``(scale, shift)`` with ``(x/255 - mean)/std == x * scale + shift``: one fused multiply-add
    per element; computed in float64, then rounded once. Shapes ``(C, 1, 1)`` on ``device``."""
    mean = torch.tensor(mean, dtype=torch.float64)
    std = torch.tensor(std, dtype=torch.float64)
    scale, shift = 1.0 / (255.0 * std), -mean / std
    return (scale.float().view(-1, 1, 1).to(device), shift.float().view(-1, 1, 1).to(device))


# ----------------------------------------------------------------------------- finding files
def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/superconv/data``, default ``~/.cache/superconv/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "superconv" / "data"


def _expected(name: str) -> tuple:
    """(sub-folder of a root, the file names torchvision reads there)."""
    cls = _TORCHVISION[name]
    if issubclass(cls, tvd.MNIST):
        return os.path.join(cls.__name__, "raw"), [os.path.splitext(f)[0] for f, _ in cls.resources]
    return cls.base_folder, [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]


def _is_idx(name: str) -> bool:
    return issubclass(_TORCHVISION[name], tvd.MNIST)


# ----------------------------------------------------------------------------- checksums
MARKER = ".superconv-verified.json"

# {resolved folder: {file name: md5}}: expected md5s for folders that do not hold the published
# files (tests' tiny files, custom data); they take precedence over torchvision's. Use
# register_checksums to add to it.
CHECKSUM_OVERRIDES: dict = {}

# Debian's dataset-fashion-mnist ships Zalando's .gz files with rewritten gzip headers (the
# stored file name dropped, the mtime set to the package date, as Debian's strip-nondeterminism
# does); the compressed data and the CRC/size trailer are untouched. Putting back the original
# header -- FNAME flag, these mtimes, the name -- reproduces torchvision's md5 of every file
# exactly (found and checked against dataset-fashion-mnist 0.0~git20200523.55506a9-1).
_ZALANDO_GZIP_MTIME = {"train-images-idx3-ubyte.gz": 1504176606, "train-labels-idx1-ubyte.gz": 1504176606,
                       "t10k-images-idx3-ubyte.gz": 1504176627, "t10k-labels-idx1-ubyte.gz": 1504176627}


def known_md5s(name: str) -> dict:
    """{file name: md5} of the published files of dataset ``name``, from torchvision's class
    (MNIST-style: the ``.gz`` files; CIFAR: the extracted batch files and the meta file)."""
    cls = _TORCHVISION[_check_name(name)]
    if _is_idx(name):
        return dict(cls.resources)
    return dict([tuple(fm) for fm in cls.train_list + cls.test_list] + [(cls.meta["filename"], cls.meta["md5"])])


def _folder_key(folder) -> str:
    return str(Path(folder).expanduser().resolve())


def register_checksums(folder, md5s: dict) -> None:
    """Expect ``md5s`` ({file name: md5}) for those files in ``folder`` instead of torchvision's.

    For a folder holding other files than the published ones (tests' tiny files, your own data in
    torchvision's format): its files are then checked and recorded like the originals.
    ``folder`` is the one that holds the files, e.g. ``<root>/cifar-10-batches-py`` or
    ``<root>/MNIST/raw``. A second call for the same folder replaces the first.
    """
    if not isinstance(md5s, dict) or not md5s:
        raise ValueError(f"md5s={md5s!r} must be a non-empty dict {{file name: md5 hex digest}}")
    for f, md5 in md5s.items():
        if not isinstance(f, str) or "/" in f or os.sep in f or not (
                isinstance(md5, str) and re.fullmatch("[0-9a-f]{32}", md5)):
            raise ValueError(f"md5s={{{f!r}: {md5!r}}} needs plain file names and 32-digit lowercase hex md5s")
    CHECKSUM_OVERRIDES[_folder_key(folder)] = dict(md5s)


def _expected_md5(name: str, path: Path) -> tuple:
    """(expected md5 or None, where it comes from) for the file at ``path``."""
    override = CHECKSUM_OVERRIDES.get(_folder_key(path.parent), {})
    if path.name in override:
        return override[path.name], "registered with register_checksums"
    return known_md5s(name).get(path.name), "torchvision's published md5"


def _zalando_header(path: Path) -> Optional[bytes]:
    """The original gzip header of a Fashion-MNIST .gz whose header was normalized as Debian's
    is (no optional fields, so exactly 10 bytes long), or None if the file is not of that form."""
    mtime = _ZALANDO_GZIP_MTIME.get(path.name)
    if mtime is None:
        return None
    with open(path, "rb") as f:
        head = f.read(10)
    if len(head) < 10 or head[:4] != b"\x1f\x8b\x08\x00":
        return None
    return b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + head[8:10] + path.name[:-3].encode() + b"\0"


def _file_md5(path: Path, header: Optional[bytes] = None) -> tuple:
    """(md5 of the file, md5 of it with its first 10 bytes replaced by ``header`` or None); one read."""
    plain, restored = hashlib.md5(), hashlib.md5() if header is not None else None
    with open(path, "rb") as f:
        first = True
        while chunk := f.read(1 << 22):
            plain.update(chunk)
            if restored is not None:
                restored.update(header + chunk[10:] if first else chunk)
            first = False
    return plain.hexdigest(), None if restored is None else restored.hexdigest()


def _marker_paths(marker_dir: Path) -> list:
    """Next to the data; for a read-only folder, in the user cache under a name made from the folder."""
    tag = hashlib.blake2b(_folder_key(marker_dir).encode(), digest_size=8).hexdigest()
    return [marker_dir / MARKER, user_cache_dir() / "verified" / f"{tag}.json"]


def _read_marker(marker_dir: Path) -> dict:
    for path in _marker_paths(marker_dir):
        try:
            entries = json.loads(path.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(entries, dict):
            return entries
    return {}


def _write_marker(marker_dir: Path, entries: dict) -> None:
    text = json.dumps({"about": "files whose md5 superconv.data checked; delete this file to check again",
                       "files": entries}, indent=1, sort_keys=True)
    for path in _marker_paths(marker_dir):
        try:
            atomic_write_text(path, text)  # concurrent loaders never read half a marker
            return
        except OSError:
            pass
    # nowhere writable: nothing is lost but time, the files are hashed again next load


def _verify(name: str, files: list, marker_dir: Path, remedy: str) -> None:
    """Check each path in ``files`` against its expected md5 unless the marker in ``marker_dir``
    records that very file (path, size, mtime_ns) with that md5; record what passed.

    Files without a known md5 (decompressed IDX files without their .gz) are read unchecked,
    with a warning. A mismatch raises ``DatasetCorruptError`` (the first one found)."""
    recorded = _read_marker(marker_dir)
    entries, unknown = dict(recorded), []
    for path in files:
        expected, source = _expected_md5(name, path)
        if expected is None:
            unknown.append(path.name)
            continue
        st = path.stat()
        key = str(path.absolute())
        entry = {"path": key, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": expected}
        if recorded.get(key) == entry:
            continue
        plain, restored = _file_md5(path, _zalando_header(path) if name == "fashion-mnist" else None)
        if expected not in (plain, restored):
            also = f" ({restored} with Zalando's original gzip header restored)" if restored else ""
            raise DatasetCorruptError(
                f"{name}: {path} has md5 {plain}{also} but {expected} was expected ({source}); "
                f"the file is damaged or not the original. {remedy}")
        entries[key] = entry
    if entries != recorded:
        _write_marker(marker_dir, entries)
    if unknown:
        warnings.warn(f"{name}: {', '.join(unknown)} in {files[0].parent} read without an md5 check: torchvision "
                      f"publishes md5s of the .gz files only; keep the .gz files there to have them checked",
                      stacklevel=4)


def _remedy(folder: Path) -> str:
    return (f"Delete {folder} and load with download=True to download it again, "
            f"or copy the original files there again.")


def _gunzip(src: Path, dest: Path, name: str) -> None:
    """Decompress ``src`` to ``dest`` unless an up-to-date copy is there; atomic."""
    if dest.is_file() and dest.stat().st_mtime >= src.stat().st_mtime:
        return

    def decompress(tmp: Path) -> None:
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(1 << 22):
                fout.write(chunk)

    try:
        atomic_write(dest, decompress)  # never leaves half a file behind
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DatasetCorruptError(
            f"{name}: {src} is not a valid gzip file ({type(e).__name__}: {e}); it is probably truncated. "
            f"Delete it and provide the file again.") from e


def _try_root(name: str, root: Path, looked: list) -> Optional[Path]:
    """``root`` if torchvision will find ``name`` there (decompressing IDX .gz files if needed)."""
    sub, files = _expected(name)
    folder = root / sub
    if not folder.is_dir():
        looked.append(f"{folder} (no such folder)")
        return None
    has = {f: (folder / f).is_file() for f in files}
    gz = {f: (folder / f"{f}.gz").is_file() for f in files} if _is_idx(name) else {f: False for f in files}
    missing = [f for f in files if not (has[f] or gz[f])]
    if missing:
        looked.append(f"{folder} (missing {', '.join(missing)})")
        return None
    # the .gz where there is one (torchvision's md5s are of those), else the file itself
    _verify(name, [folder / (f"{f}.gz" if gz[f] else f) for f in files], folder, _remedy(folder))
    try:
        for f in files:
            if gz[f]:
                _gunzip(folder / f"{f}.gz", folder / f, name)
    except OSError as e:  # e.g. a read-only folder that has only the .gz files
        looked.append(f"{folder} (has the .gz files but could not decompress them there: {e})")
        return None
    return root


def _stage_debian(looked: list) -> Optional[Path]:
    """Decompress Debian's flat, read-only .gz files into torchvision's layout in the cache."""
    sub, files = _expected("fashion-mnist")
    missing = [f"{f}.gz" for f in files if not (DEBIAN_FASHION_MNIST / f"{f}.gz").is_file()]
    if missing:
        looked.append(f"{DEBIAN_FASHION_MNIST} (Debian package dataset-fashion-mnist; missing {', '.join(missing)})")
        return None
    staged = user_cache_dir() / "debian-fashion-mnist"
    _verify("fashion-mnist", [DEBIAN_FASHION_MNIST / f"{f}.gz" for f in files], staged / sub,
            f"Reinstall the package (apt-get install --reinstall dataset-fashion-mnist), or put the original "
            f"files in {user_cache_dir() / sub}.")
    try:
        for f in files:
            _gunzip(DEBIAN_FASHION_MNIST / f"{f}.gz", staged / sub / f, "fashion-mnist")
    except OSError as e:
        looked.append(f"{DEBIAN_FASHION_MNIST} (found, but could not decompress into {staged / sub}: {e})")
        return None
    return staged


def _env_flag(var: str):
    """True / False for 1,true,yes / 0,false,no in the environment variable; None otherwise."""
    value = os.environ.get(var, "").strip().lower()
    return True if value in ("1", "true", "yes") else False if value in ("0", "false", "no") else None


def _candidate_roots(root, download: bool) -> list:
    """Where to look: a given ``root`` alone (what a caller names is what they get, never
    another copy), else ``$SUPERCONV_DATA``'s folders and the user cache. A folder that was
    given but does not exist is an error naming it, unless a download will create it."""
    if root is not None:
        path = Path(root).expanduser()
        if not path.is_dir() and not download:
            raise DatasetNotFoundError(f"root={str(root)!r} is not a folder; allowed: an existing folder with the "
                                       "dataset in torchvision's layout (or download=True to download into it)")
        return [path]
    env = [p for p in os.environ.get("SUPERCONV_DATA", "").split(os.pathsep) if p]
    for p in env:
        if not Path(p).expanduser().is_dir():
            raise DatasetNotFoundError(f"SUPERCONV_DATA={os.environ['SUPERCONV_DATA']!r} names {p!r}, which is not "
                                       "a folder; allowed: existing folders separated by "
                                       f"{os.pathsep!r} (or unset it)")
    return [Path(p).expanduser() for p in env] + [user_cache_dir()]


def _locate(name: str, root, download: bool | None) -> Path:
    looked: list = []
    if download is None:
        download = not (_env_flag("SUPERCONV_OFFLINE") is True or _env_flag("SUPERCONV_DOWNLOAD") is False)
    candidates = _candidate_roots(root, download)
    for candidate in candidates:
        if (found := _try_root(name, candidate, looked)) is not None:
            return found
    if root is None and name == "fashion-mnist" and (found := _stage_debian(looked)) is not None:
        return found
    if download:
        target = candidates[0]
        try:
            _TORCHVISION[name](root=str(target), train=True, download=True)
        except Exception as e:  # network errors come in many types; all mean "not here"
            looked.append(f"download into {target} failed ({type(e).__name__}: {e})")
        else:
            if (found := _try_root(name, target, looked)) is not None:  # checks and records the md5s
                return found
    sub, files = _expected(name)
    names = ", ".join(files) + (" (or the same with .gz)" if _is_idx(name) else "")
    origin = "" if _is_idx(name) else f", i.e. the extracted {_TORCHVISION[name].filename}"
    how = [f"put torchvision's files in <folder>/{sub}/ ({names}{origin}) and pass root=<folder>, "
           f"set SUPERCONV_DATA=<folder>, or use <folder> = {user_cache_dir()}"]
    if name == "fashion-mnist":
        how.append("install the Debian package: apt-get install dataset-fashion-mnist")
    if not download:
        how.append("when online, pass download=True (or unset SUPERCONV_OFFLINE)")
    raise DatasetNotFoundError(f"dataset {name!r} not found. Looked in:\n  " + "\n  ".join(looked)
                               + "\nTo provide it, " + "; or ".join(how) + ".")


# ----------------------------------------------------------------------------- reading
def _without_md5s(cls):
    """``cls`` with its md5s set to None, so torchvision only checks that the files exist: they
    were checked by ``_verify`` (once, with a marker), and CIFAR's classes would otherwise
    re-hash all 170 MB on every construction."""
    return type(cls.__name__, (cls,), {"train_list": [[f, None] for f, _ in cls.train_list],
                                       "test_list": [[f, None] for f, _ in cls.test_list],
                                       "meta": dict(cls.meta, md5=None)})


_READERS = {name: cls if issubclass(cls, tvd.MNIST) else _without_md5s(cls) for name, cls in _TORCHVISION.items()}


def _read(name: str, root: Path, train: bool) -> tuple:
    """(uint8 images N,C,H,W, int64 labels, class names) on the CPU, via torchvision."""
    cls = _READERS[name]
    sub, _ = _expected(name)
    try:
        ds = cls(root=str(root), train=train, download=False)
        if _is_idx(name):
            images, labels = ds.data.unsqueeze(1), ds.targets.to(torch.int64)
        else:  # CIFAR keeps numpy HWC images and a list of labels
            images = torch.from_numpy(np.ascontiguousarray(np.asarray(ds.data, dtype=np.uint8).transpose(0, 3, 1, 2)))
            labels = torch.as_tensor(ds.targets, dtype=torch.int64)
        classes = list(ds.classes)
        if len(images) != len(labels) or len(images) == 0:
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if labels.min() < 0 or labels.max() >= len(classes):
            raise ValueError(f"labels outside 0..{len(classes) - 1}")
    except MemoryError:
        raise
    except Exception as e:  # the files are present (checked), so any failure means they are bad
        raise DatasetCorruptError(
            f"{name}: the files in {root / sub} are present but could not be read "
            f"({type(e).__name__}{f': {e}' if str(e) else ''}). A download or copy was probably interrupted: "
            f"delete {root / sub} and provide the files again.") from e
    return images, labels, classes


def _channel_stats(images: torch.Tensor) -> tuple:
    """Per-channel mean and population std in [0, 1] units, exact in float64.

    Sums of uint8 values (and their squares) stay below 2**53, so chunked float64 sums
    are exact and memory stays small even for CIFAR's 150M values.
    """
    s1 = torch.zeros(images.shape[1], dtype=torch.float64)
    s2 = torch.zeros_like(s1)
    for chunk in images.split(2048):
        x = chunk.to(device="cpu", dtype=torch.float64)
        s1 += x.sum(dim=(0, 2, 3))
        s2 += (x * x).sum(dim=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = s1 / n
    std = (s2 / n - mean * mean).clamp_min(0).sqrt()
    return tuple((mean / 255).tolist()), tuple((std / 255).tolist())


# Train statistics per (dataset, resolved folder), so loading the test split (or loading
# again) does not re-read and re-reduce the train split. Files are assumed not to change
# underneath a running process; _TRAIN_STATS.clear() forgets them.
_TRAIN_STATS: dict = {}


def _mean_image(images: torch.Tensor) -> torch.Tensor:
    """The per-pixel mean of uint8 images, float32 (C, H, W) in 0-255 units (Caffe's
    ``compute_image_mean``); summed exactly in float64, chunk by chunk."""
    total = torch.zeros(images.shape[1:], dtype=torch.float64)
    for chunk in images.split(2048):
        total += chunk.to(device="cpu", dtype=torch.float64).sum(0)
    return (total / images.shape[0]).float()


def _train_stats(name: str, root: Path, train_images: Optional[torch.Tensor] = None) -> tuple:
    """``(mean, std, mean image)`` of the dataset's full train split (cached per folder)."""
    key = (name, str(root.resolve()))
    if key not in _TRAIN_STATS:
        if train_images is None:
            train_images = _read(name, root, train=True)[0]
        _TRAIN_STATS[key] = (*_channel_stats(train_images), _mean_image(train_images))
    return _TRAIN_STATS[key]


def load(name: str, train: bool = True, root=None, device="cpu", download: Optional[bool] = None) -> Split:
    """The whole train (or test) split of dataset ``name`` as one tensor on ``device``.

    Raises ``DatasetNotFoundError`` listing every place looked, or ``DatasetCorruptError``
    when the first folder that has the files cannot read them or a file's md5 is not the
    expected one (we do not fall through to another copy: a broken file should be fixed,
    not silently ignored).
    """
    _check_name(name)
    _checks.boolean("train", train)
    if download is not None:
        _checks.boolean("download", download)
    device = _check_device(device)
    found = _locate(name, root, download)
    images, labels, classes = _read(name, found, train)
    mean, std, mean_image = _train_stats(name, found, images if train else None)
    split = Split(images, labels, mean, std, classes, name, train, root=str(found), mean_image=mean_image)
    return split.to(device)


# ----------------------------------------------------------------------------- subsets
def _balanced_indices(split: Split, n: int, seed: int, param: str) -> torch.Tensor:
    k = split.num_classes
    if n % k:
        raise ValueError(f"{param}={n} must be divisible by the number of classes ({k})")
    per_class = n // k
    labels = split.labels.cpu()
    counts = torch.bincount(labels, minlength=k)
    short = int(counts.argmin())
    if counts[short] < per_class:
        raise ValueError(f"{param}={n} needs {per_class} samples per class but class {short} "
                         f"({split.classes[short]!r}) has only {int(counts[short])}")
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(k):  # one generator, classes in order: deterministic for a given seed
        members = (labels == c).nonzero().flatten()
        picks.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    return torch.cat(picks).sort().values  # keep the split's original order


def balanced_subset(split: Split, n: int, seed: int = 0) -> Split:
    """``n`` samples, ``n / num_classes`` of each class, chosen by ``seed``.

    The result keeps the original sample order (sorted indices), so it is deterministic
    and independent of how it is later shuffled.
    """
    n = _checks.integer("n", n, 1)
    seed = _checks.integer("seed", seed, 0)
    return split.subset(_balanced_indices(split, n, seed, "n"), note=f"class-balanced, seed {seed}")


def subset_and_rest(split: Split, n: int, n_rest: int, seed: int = 0) -> tuple:
    """(``balanced_subset(split, n, seed)``, ``n_rest`` class-balanced samples of the *other*
    samples): a validation set beside a training subset, disjoint from it and from the test split,
    while the training subset stays exactly the one the same ``n`` and ``seed`` give alone."""
    n = _checks.integer("n", n, 1)
    n_rest = _checks.integer("n_rest", n_rest, 1)
    seed = _checks.integer("seed", seed, 0)
    if n + n_rest > len(split):
        raise ValueError(f"n={n} + n_rest={n_rest} must be at most the split's {len(split)} samples")
    picked = _balanced_indices(split, n, seed, "n")
    keep = torch.ones(len(split), dtype=torch.bool)
    keep[picked] = False
    rest_idx = keep.nonzero().flatten()
    rest = split.subset(rest_idx)
    val = rest_idx[_balanced_indices(rest, n_rest, seed, "n_rest")]
    return (split.subset(picked, note=f"class-balanced, seed {seed}"),
            split.subset(val, note=f"validation: {n_rest} class-balanced samples outside the subset, seed {seed}"))


def holdout(split: Split, n_val: int, seed: int = 0, balanced: bool = True) -> tuple:
    """(train_part, val_part): ``n_val`` samples held out of ``split``, disjoint, deterministic.

    ``balanced=True`` takes ``n_val / num_classes`` per class (see ``balanced_subset``);
    otherwise a uniformly random set. Both parts keep the original order and ``split``'s
    statistics (the held-out part is not used to normalize).
    """
    n_val = _checks.integer("n_val", n_val, 1)
    seed = _checks.integer("seed", seed, 0)
    _checks.boolean("balanced", balanced)
    if n_val >= len(split):
        raise ValueError(f"n_val={n_val} must be smaller than the split ({len(split)} samples)")
    if balanced:
        val = _balanced_indices(split, n_val, seed, "n_val")
    else:
        val = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n_val].sort().values
    keep = torch.ones(len(split), dtype=torch.bool)
    keep[val] = False
    how = ", class-balanced" if balanced else ""
    return (split.subset(keep.nonzero().flatten(), note=f"minus {n_val} held out{how}, seed {seed}"),
            split.subset(val, note=f"held-out validation{how}, seed {seed}"))


# ----------------------------------------------------------------------------- batches
def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 63-bit seed per (seed, epoch): no collisions like seed*K + epoch has."""
    digest = hashlib.blake2b(f"superconv-batches:{seed}:{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class Batches:
    """Shuffled, augmented, normalized training batches; batch ``it`` depends only on (seed, it).

    Epoch ``it // steps_per_epoch`` uses a permutation and per-position augmentation
    draws (flip yes/no, crop offsets) from a CPU ``torch.Generator`` seeded from
    ``(seed, epoch)``; they are drawn once per epoch, moved to the split's device and
    cached, so ``batch(it)`` itself is a few device ops with no host-device sync. The
    draws are made in a fixed order (permutation, flips, offsets), so the permutation
    does not depend on which augmentations are on.

    ``flip``: horizontal flip with p = 0.5 (the paper's only augmentation).
    ``crop_pad``: if > 0, pad the raw uint8 image with zeros (black, as torchvision's
    ``RandomCrop(size, padding=crop_pad)``) and take a random window of the original
    size. ``drop_last``: every batch has ``batch_size`` samples and the permutation's
    tail is skipped that epoch; otherwise the epoch's last batch is smaller.
    ``channels_last``: return ``x`` in ``torch.channels_last`` memory format.
    ``order``: :data:`ORDERS`; ``"file"`` reads the split as one stream in its own order, as
    Caffe's LMDB cursor: batch ``it`` is stream positions ``it·b .. it·b + b - 1`` modulo the
    split's size, so no image is left out at an epoch's end and a batch may wrap around (the flips
    and crops are drawn anew for every pass); ``interleave`` k > 1 then arranges each batch as
    Caffe's Data layer deals the stream to k GPUs: slice g holds the batch's images g, g + k, ...
    With the split's ``input_norm="mean_image"`` a flipped image has the mirrored mean subtracted:
    Caffe subtracts the mean before it mirrors.

    ``batch(it) -> (x, y)``: ``x`` float32 (B, C, H, W) normalized as the split says
    (``Split.normalizer``), ``y`` int64 (B,), both on ``split.device``. Iterating is an endless
    stream ``batch(0), batch(1), ...``; use ``itertools.islice`` or ``epoch(e)``.

    Data-parallel training (``world_size`` > 1, one ``Batches`` per rank): ``batch_size``
    is the *global* batch and must be a multiple of ``world_size``. Every rank draws the
    same global batch ``it`` from ``(seed, it)`` and returns its ``rank``-th contiguous
    ``batch_size // world_size`` rows, so the ranks' batches, concatenated in rank order,
    are the one-process batch (augmentation included).
    """

    def __init__(self, split: Split, batch_size: int, seed: int = 0, flip: bool = True, crop_pad: int = 0,
                 drop_last: bool = True, channels_last: bool = False, rank: int = 0, world_size: int = 1,
                 order: str = "shuffle", interleave: int = 1):
        if not isinstance(split, Split):
            raise ValueError(f"split must be a Split, got {type(split).__name__}")
        self.batch_size = _checks.integer("batch_size", batch_size, 1)
        self.seed = _checks.integer("seed", seed, 0)
        self.flip = _checks.boolean("flip", flip)
        self.crop_pad = _checks.integer("crop_pad", crop_pad, 0)
        self.drop_last = _checks.boolean("drop_last", drop_last)
        self.channels_last = _checks.boolean("channels_last", channels_last)
        self.order = _checks.choice("order", order, ORDERS)
        self.interleave = _checks.integer("interleave", interleave, 1)
        if batch_size % self.interleave:
            raise ValueError(f"interleave={interleave} must divide batch_size={batch_size} (equal GPU slices)")
        if split.input_norm == "mean_image" and self.crop_pad:
            raise ValueError(f"crop_pad={crop_pad} with the split's input_norm='mean_image': the authors' mean "
                             "image input had no padded crop; allowed: crop_pad=0")
        if batch_size > len(split):
            raise ValueError(f"batch_size={batch_size} is larger than the split ({len(split)} samples)")
        self.world_size = _checks.integer("world_size", world_size, 1)
        self.rank = _checks.integer("rank", rank, 0)
        if self.rank >= self.world_size:
            raise ValueError(f"rank={rank} must be in 0..{self.world_size - 1} (world_size={self.world_size})")
        if batch_size % self.world_size:
            raise ValueError(f"batch_size={batch_size} must be a multiple of world_size={self.world_size} "
                             "(each rank takes an equal share of the global batch)")
        if self.world_size > 1 and not drop_last:
            raise ValueError("drop_last=False needs world_size=1 (an epoch's short last batch cannot be "
                             "split evenly over ranks)")
        self.local_batch_size = batch_size // self.world_size
        self.split = split
        n = len(split)
        self.steps_per_epoch = n // batch_size if drop_last else -(-n // batch_size)
        _, _, h, w = split.images.shape
        self._scale, self._shift = split.normalizer()
        # the mean image mirrored, for flipped images (None: a per-channel shift needs none)
        self._shift_flipped = self._shift.flip(-1) if self._shift.shape[-1] > 1 else None
        self._rows = torch.arange(h, device=split.device)
        self._cols = torch.arange(w, device=split.device)
        self._draws: dict = {}  # epoch -> (permutation, flips, offsets): this epoch's and the last
        # file order: this rank's rows of a batch as offsets in the batch's stretch of the stream
        k, per = self.interleave, batch_size // self.interleave
        dealt = (torch.arange(batch_size) % per) * k + torch.arange(batch_size) // per
        self._dealt = dealt[self.rank * self.local_batch_size:(self.rank + 1) * self.local_batch_size].to(split.device)

    def _epoch_draws(self, epoch: int) -> tuple:
        """The permutation (None in file order), flips and crop offsets of ``epoch`` (a pass over
        the stream in file order), drawn once from ``(seed, epoch)`` on the CPU and cached."""
        if epoch not in self._draws:
            n, dev = len(self.split), self.split.device
            g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
            perm = torch.randperm(n, generator=g).to(dev) if self.order == "shuffle" else None
            flips = torch.rand(n, generator=g) < 0.5
            offsets = torch.randint(0, 2 * self.crop_pad + 1, (n, 2), generator=g) if self.crop_pad else None
            self._draws = {e: d for e, d in self._draws.items() if e == epoch - 1}  # a batch spans at most two
            self._draws[epoch] = (perm, flips.to(dev), None if offsets is None else offsets.to(dev))
        return self._draws[epoch]

    def _batch_rows(self, it: int) -> tuple:
        """``(indices, flips, offsets)`` of this rank's rows of batch ``it``."""
        if self.order == "shuffle":
            epoch, step = divmod(it, self.steps_per_epoch)
            perm, flips, offsets = self._epoch_draws(epoch)
            window = self._window(step)
            return perm[window], flips[window], None if offsets is None else offsets[window]
        n, start = len(self.split), it * self.batch_size
        q = start + self._dealt                      # stream positions
        idx = q % n
        first, last = start // n, (start + self.batch_size - 1) // n  # host ints: no device sync
        _, f0, o0 = self._epoch_draws(first)
        flips, offsets = f0[idx], None if o0 is None else o0[idx]
        if last != first:  # the batch wraps around the split: the rest is the next pass's
            _, f1, o1 = self._epoch_draws(last)
            later = q >= last * n
            flips = torch.where(later, f1[idx], flips)
            if offsets is not None:
                offsets = torch.where(later.view(-1, 1), o1[idx], offsets)
        return idx, flips, offsets

    def _window(self, step: int) -> slice:
        """Positions in the epoch's permutation of this rank's rows of batch ``step``."""
        start = step * self.batch_size + self.rank * self.local_batch_size
        return slice(start, start + self.local_batch_size)

    def indices(self, it: int) -> torch.Tensor:
        """The split indices of the samples in batch ``it`` (this rank's rows; on the split's device)."""
        return self._batch_rows(_checks.integer("it", it, 0))[0]

    def flips(self, it: int) -> torch.Tensor:
        """Which of batch ``it``'s rows are mirrored (bool, on the split's device)."""
        return self._batch_rows(_checks.integer("it", it, 0))[1]

    def batch(self, it: int) -> tuple:
        idx, flips, offsets = self._batch_rows(_checks.integer("it", it, 0))
        x = self.split.images[idx]  # uint8 gather: augment on 1-byte values, convert once
        if self.crop_pad:
            x = self._crop(x, flips if self.flip else None, offsets)
        elif self.flip:
            x = torch.where(flips.view(-1, 1, 1, 1), x.flip(3), x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)  # float conversion keeps the layout
        if self._shift_flipped is None or not self.flip:
            out = torch.addcmul(self._shift, x.float(), self._scale)
        else:  # a mirrored image has the mirrored mean subtracted (Caffe subtracts, then mirrors)
            out = torch.addcmul(torch.where(flips.view(-1, 1, 1, 1), self._shift_flipped, self._shift),
                                x.float(), self._scale)
        if self.channels_last and not out.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)  # a per-pixel shift loses the layout
        return out, self.split.labels[idx]

    def _crop(self, x: torch.Tensor, flips: Optional[torch.Tensor], offsets: torch.Tensor) -> torch.Tensor:
        """Random windows of the zero-padded images as two gathers (rows, then columns);
        a flip is folded into the column index, so it costs nothing extra."""
        b, c, h, w = x.shape
        p = self.crop_pad
        padded = F.pad(x, (p, p, p, p))
        cols = self._cols.expand(b, w)
        if flips is not None:
            cols = torch.where(flips.view(-1, 1), w - 1 - cols, cols)
        rows = (self._rows + offsets[:, :1]).view(b, 1, h, 1).expand(b, c, h, w + 2 * p)
        cols = (cols + offsets[:, 1:]).view(b, 1, 1, w).expand(b, c, h, w)
        return padded.gather(2, rows).gather(3, cols)

    def epoch(self, e: int) -> Iterator[tuple]:
        """The ``steps_per_epoch`` batches of epoch ``e``."""
        e = _checks.integer("e", e, 0)  # checked now, not at the first next()
        return (self.batch(it) for it in range(e * self.steps_per_epoch, (e + 1) * self.steps_per_epoch))

    def __iter__(self) -> Iterator[tuple]:
        it = 0
        while True:
            yield self.batch(it)
            it += 1


def eval_batches(split: Split, batch_size: int, channels_last: bool = False) -> Iterator[tuple]:
    """In-order, un-augmented, normalized ``(x, y)`` batches covering every sample once
    (the last batch may be smaller). Arguments are checked at the call, not at the first
    ``next()``."""
    if not isinstance(split, Split):
        raise ValueError(f"split must be a Split, got {type(split).__name__}")
    batch_size = _checks.integer("batch_size", batch_size, 1)
    _checks.boolean("channels_last", channels_last)
    return _eval_iter(split, batch_size, channels_last)


def _eval_iter(split: Split, batch_size: int, channels_last: bool) -> Iterator[tuple]:
    scale, shift = split.normalizer()
    for start in range(0, len(split), batch_size):
        x = split.images[start:start + batch_size]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out = torch.addcmul(shift, x.float(), scale)
        if channels_last and not out.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)  # a per-pixel shift loses the layout
        yield out, split.labels[start:start + batch_size]
