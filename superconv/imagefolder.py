"""Image folders (ImageNet) streamed from disk, as a training source for ``train.fit``.

ImageNet's 1.28M JPEGs do not fit on a device as one tensor, so the tensor path of
``superconv.data`` (``Split`` + ``Batches``) cannot hold them. This module keeps that path's
contract and streams instead:

* **Decoding and cropping run on DataLoader workers**, which return uint8 ``(B, H, W, C)``
  batches (no float conversion on the host). On the training device a batch is permuted to
  ``(B, C, H, W)`` -- which *is* the channels_last layout -- flipped, and normalized with one
  fused multiply-add to float32 (autocast casts it to bf16 at the first convolution).
* **Batch ``it`` is a pure function of ``(seed, it)``**, as with ``data.Batches``: epoch
  ``it // steps_per_epoch`` draws, from a CPU generator seeded by ``(seed, epoch)``, a
  permutation, a flip per position and a crop seed per position (in that order; the permutation
  and flips are the ones ``data.Batches`` draws for a split of the same length and seed). A
  worker crops image ``i`` with a ``random.Random(crop seed)``, so the result does not depend on
  the number of workers or on which worker decoded it.
* **Resume** (``batch(it)`` after a restart, or any jump): the sampler starts the epoch's plan at
  position ``step * batch_size``; skipped images are never opened.
* **Data parallel**: with ``world_size`` W, every rank draws the same global batch ``it`` and
  decodes only its ``rank``-th contiguous ``batch_size / W`` rows (as ``data.Batches`` does), so
  the ranks' batches concatenated in rank order are the one-process batch; over an epoch the
  ranks' images are disjoint and cover the epoch's ``steps_per_epoch * batch_size`` positions.
* **Evaluation**: ``eval_batches`` decodes in folder order with the eval view (resize, center
  crop), optionally on ``limit`` evenly spaced images (an image folder is sorted by class, so
  "the first N" would be a few classes), sharded in contiguous shares over ranks.

Augmentation (``augment``):

* ``"crop"`` (default): resize the shorter side to ``resize`` and take a random ``image_size``
  square -- the Caffe-era recipe of the paper's runs (their data layer took random 224-ish crops
  of pre-resized images, with mirroring);
* ``"rrc"``: torchvision's random-resized crop (area ``min_scale``..1, aspect 3/4..4/3), the
  modern recipe.

Eval view (both): shorter side to ``resize``, center ``image_size`` crop. Flips (p = 0.5) are
drawn per position and applied on the device.

Where the folder is found: the ``root`` argument, else ``$SUPERCONV_IMAGENET``. Layouts:
``<root>/<split>/<class>/<image>`` (torchvision ``ImageFolder``; ``split`` is ``train`` or
``val``), or torchvision's ``ImageNet`` layout (``<root>/meta.bin`` or the devkit archive
``ILSVRC2012_devkit_t12.tar.gz`` next to the train/val folders or archives), which also gives
human-readable class names. ``fit`` accepts an :class:`ImageFolderSource` wherever it accepts a
``data.Split``::

    train = imagefolder.load("/data/imagenet", "train", num_workers=8)
    val = imagefolder.load("/data/imagenet", "val", num_workers=8)
    history = fit(model, train, val, schedule, iterations=200_000, batch_size=128)
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
import torchvision.datasets as tvd
from torch.utils.data import DataLoader, Dataset, Sampler

from . import _checks
from .data import epoch_seed, normalize, normalizer

__all__ = ["ENV", "IMAGENET_MEAN", "IMAGENET_STD", "ILSVRC2012", "AUGMENTS", "ImageFolderNotFoundError",
           "find_root", "load", "ImageFolderSource", "StreamBatches", "random_resized_box",
           "default_workers"]

ENV = "SUPERCONV_IMAGENET"
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per-channel, [0, 1] units (torchvision's ImageNet numbers)
IMAGENET_STD = (0.229, 0.224, 0.225)
ILSVRC2012 = {"train": 1_281_167, "val": 50_000, "classes": 1000}
AUGMENTS = ("crop", "rrc")
SPLITS = ("train", "val")
_DEVKIT = ("meta.bin", "ILSVRC2012_devkit_t12.tar.gz")


class ImageFolderNotFoundError(FileNotFoundError):
    """No image folder where we looked (the message says where and how to provide one)."""


def default_workers() -> int:
    """Decoding workers per process: the CPUs shared by this machine's ranks, at most 8."""
    per_rank = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, min(8, per_rank))


# ----------------------------------------------------------------------------- finding
def find_root(root=None) -> Path:
    """``root``, else ``$SUPERCONV_IMAGENET``, as an existing folder (one-line error otherwise)."""
    given = root if root is not None else os.environ.get(ENV) or None
    if given is None:
        raise ImageFolderNotFoundError(
            f"no image folder given: pass root=/path/to/imagenet or set ${ENV} (a folder with train/ and "
            f"val/ class sub-folders, or torchvision's ImageNet layout)")
    path = Path(given).expanduser()
    if not path.is_dir():
        where = "root" if root is not None else f"${ENV}"
        raise ImageFolderNotFoundError(f"{where}={str(given)!r} is not a folder; allowed: a folder with train/ "
                                       "and val/ class sub-folders, or torchvision's ImageNet layout")
    return path


def _scan(root: Path, split: str) -> tuple:
    """(split folder, relative paths, labels, class names, layout) via torchvision's classes."""
    if any((root / f).is_file() for f in _DEVKIT):
        ds = tvd.ImageNet(str(root), split=split)
        folder, layout = Path(ds.split_folder), "torchvision ImageNet"
        classes = [", ".join(c) if isinstance(c, tuple) else str(c) for c in ds.classes]
    elif (root / split).is_dir():
        ds = tvd.ImageFolder(str(root / split))
        folder, layout, classes = root / split, "ImageFolder", list(ds.classes)
    else:
        raise ImageFolderNotFoundError(
            f"{root} has neither {split}/ (class sub-folders of images) nor torchvision's ImageNet devkit "
            f"({' or '.join(_DEVKIT)}); allowed: <root>/{split}/<class>/<image> or torchvision's ImageNet layout")
    rel = [os.path.relpath(p, folder) for p, _ in ds.samples]
    labels = np.fromiter((t for _, t in ds.samples), dtype=np.int64, count=len(ds.samples))
    return folder, rel, labels, classes, layout


# ----------------------------------------------------------------------------- crops
def random_resized_box(width: int, height: int, rng: random.Random, min_scale: float = 0.08,
                       ratio: tuple = (3 / 4, 4 / 3)) -> tuple:
    """A ``(left, top, right, bottom)`` box of area ``min_scale``..1 of the image and aspect in
    ``ratio`` (log-uniform), drawn from ``rng``: the rule of torchvision's RandomResizedCrop (ten
    tries, then the largest centred box with the aspect clamped into ``ratio``)."""
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(min_scale, 1.0)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            return left, top, left + w, top + h
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif aspect > ratio[1]:
        w, h = int(round(height * ratio[1])), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def _pil_rgb(path: str):
    from PIL import Image
    with open(path, "rb") as f:
        img = Image.open(f)
        return img.convert("RGB")


class _Decode(Dataset):
    """Worker side: item -> (uint8 H x W x 3 array as a tensor, label). Training items are
    ``(index, crop_seed)``; evaluation items are indices (eval view)."""

    def __init__(self, folder: str, paths: np.ndarray, labels: np.ndarray, image_size: int, resize: int,
                 augment: str, min_scale: float, loader=None):
        self.folder, self.paths, self.labels = folder, paths, labels
        self.size, self.resize, self.augment, self.min_scale = image_size, resize, augment, min_scale
        self.loader = loader or _pil_rgb

    def __len__(self) -> int:
        return len(self.paths)

    def _short_side(self, img):
        from PIL import Image
        w, h = img.size
        s = self.resize / min(w, h)
        size = (max(self.size, round(w * s)), max(self.size, round(h * s)))
        return img if size == (w, h) else img.resize(size, Image.BILINEAR)

    def __getitem__(self, item):
        from PIL import Image
        train = isinstance(item, tuple)
        index, seed = item if train else (item, None)
        img = self.loader(os.path.join(self.folder, self.paths[index].decode()))
        s = self.size
        if train and self.augment == "rrc":
            box = random_resized_box(*img.size, random.Random(seed), self.min_scale)
            img = img.resize((s, s), Image.BILINEAR, box=box)
        else:
            img = self._short_side(img)
            w, h = img.size
            if train:
                rng = random.Random(seed)
                left, top = rng.randint(0, w - s), rng.randint(0, h - s)
            else:
                left, top = (w - s) // 2, (h - s) // 2
            img = img.crop((left, top, left + s, top + s))
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()), int(self.labels[index])


class _Plan(Sampler):
    """The items of the next pass, set by the main process before each ``iter(loader)``."""

    def __init__(self):
        self.items: list = []

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _loader(dataset: _Decode, plan: _Plan, batch_size: int, workers: int, prefetch: int,
            pin: bool) -> DataLoader:
    extra = dict(persistent_workers=True, prefetch_factor=prefetch) if workers > 0 else {}
    # its own generator: creating an iterator must not draw from the global torch RNG
    return DataLoader(dataset, batch_size=batch_size, sampler=plan, num_workers=workers, pin_memory=pin,
                      drop_last=False, generator=torch.Generator(), **extra)


def _to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, H, W, C) on the host -> (B, C, H, W) on ``device`` (a channels_last view)."""
    return x.to(device, non_blocking=True).permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------- the source
class ImageFolderSource:
    """One split of an image folder, for ``train.fit`` (train and/or test data).

    ``len(source)``, ``num_classes``, ``classes``, ``labels`` (int64, folder order), ``name``,
    ``description``; :meth:`batches` (the training stream, the ``data.Batches`` contract) and
    :meth:`eval_batches` (in-order evaluation). Build it with :func:`load`.
    """

    def __init__(self, folder, paths: Sequence[str], labels, classes: Sequence[str], *, split: str = "train",
                 name: str = "imagefolder", image_size: int = 224, resize: Optional[int] = None,
                 augment: str = "crop", min_scale: float = 0.08, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 num_workers: Optional[int] = None, prefetch_factor: int = 2, layout: str = "ImageFolder",
                 loader=None):
        self.image_size = _checks.integer("image_size", image_size, 1)
        self.resize = round(image_size * 256 / 224) if resize is None else _checks.integer("resize", resize, 1)
        if self.resize < self.image_size:
            raise ValueError(f"resize={resize!r} must be >= image_size={image_size} (the crop is taken inside)")
        if augment not in AUGMENTS:
            raise ValueError(f"augment={augment!r} is not an augmentation; allowed: {', '.join(map(repr, AUGMENTS))}")
        if isinstance(min_scale, bool) or not isinstance(min_scale, (int, float)) or not 0 < min_scale <= 1:
            raise ValueError(f"min_scale={min_scale!r} must be in (0, 1]")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean={mean!r} and std={std!r} need 3 values each (RGB), std > 0")
        self.num_workers = default_workers() if num_workers is None else _checks.integer("num_workers", num_workers, 0)
        self.prefetch_factor = _checks.integer("prefetch_factor", prefetch_factor, 1)
        labels = np.asarray(labels, dtype=np.int64)
        if len(paths) != len(labels) or len(paths) == 0:
            raise ValueError(f"an image folder needs images: got {len(paths)} paths and {len(labels)} labels")
        if labels.min() < 0 or labels.max() >= len(classes):
            raise ValueError(f"labels outside 0..{len(classes) - 1}")
        self.folder = str(folder)
        # one bytes array, not a list of str: workers then share it without copy-on-refcount
        self.paths = np.array([p.encode() for p in paths])
        self.labels = torch.from_numpy(labels)
        self.classes = list(classes)
        self.split, self.name, self.layout = split, name, layout
        self.augment, self.min_scale = augment, float(min_scale)
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self._loader_fn = loader
        self._eval = None  # (plan, DataLoader) kept for the next evaluation (persistent workers)

    # -- what fit and the captions read
    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"ImageFolderSource({self.description!r}, workers={self.num_workers})"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def full_size(self) -> int:
        return len(self)

    @property
    def description(self) -> str:
        """E.g. ``"imagenet train, 1281167 images in 1000 classes (crop 224 of 256, streamed)"``."""
        view = (f"random-resized crop {self.image_size}" if self.augment == "rrc"
                else f"crop {self.image_size} of {self.resize}")
        return f"{self.name} {self.split}, {len(self)} images in {self.num_classes} classes ({view}, streamed)"

    def dataset(self) -> _Decode:
        """The worker-side dataset (items: ``(index, crop_seed)`` for training views, ``index`` for eval)."""
        return _Decode(self.folder, self.paths, self.labels.numpy(), self.image_size, self.resize, self.augment,
                       self.min_scale, self._loader_fn)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float32 ``(x / 255 - mean) / std`` (as ``data.Split.normalize``)."""
        return normalize(x, self.mean, self.std)

    # -- streams
    def batches(self, batch_size: int, *, seed: int = 0, flip: bool = True, crop_pad: int = 0,
                channels_last: bool = False, rank: int = 0, world_size: int = 1, device="cpu") -> "StreamBatches":
        """The training stream (see :class:`StreamBatches`); ``batch_size`` is the global batch."""
        if crop_pad:
            raise ValueError(f"crop_pad={crop_pad!r}: padded crops are for tensor splits; an image folder crops "
                             f"on its workers (augment={self.augment!r}); allowed: 0")
        return StreamBatches(self, batch_size, seed=seed, flip=flip, channels_last=channels_last, rank=rank,
                             world_size=world_size, device=device)

    def eval_indices(self, limit: Optional[int] = None, rank: int = 0, world_size: int = 1) -> np.ndarray:
        """The images an evaluation covers: all (or ``limit`` evenly spaced), this rank's share."""
        n = len(self)
        idx = np.arange(n) if limit is None or limit >= n else (np.arange(limit) * n) // limit
        return np.array_split(idx, world_size)[rank]

    def eval_batches(self, batch_size: int, *, device="cpu", channels_last: bool = False,
                     limit: Optional[int] = None, rank: int = 0, world_size: int = 1) -> Iterator[tuple]:
        """In-order, un-augmented ``(x, y)`` batches (eval view) of :meth:`eval_indices`, normalized
        on ``device``; the last batch may be smaller. Arguments are checked at the call."""
        batch_size = _checks.integer("batch_size", batch_size, 1)
        _checks.boolean("channels_last", channels_last)
        world_size = _checks.integer("world_size", world_size, 1)
        rank = _checks.integer("rank", rank, 0)
        if rank >= world_size:
            raise ValueError(f"rank={rank} must be in 0..{world_size - 1} (world_size={world_size})")
        if limit is not None:
            _checks.integer("limit", limit, 1)
        return self._eval_iter(batch_size, torch.device(device), channels_last,
                               self.eval_indices(limit, rank, world_size))

    def _eval_iter(self, batch_size, device, channels_last, indices) -> Iterator[tuple]:
        if self._eval is None or self._eval[1].batch_size != batch_size:
            plan = _Plan()
            self._eval = (plan, _loader(self.dataset(), plan, batch_size, self.num_workers, self.prefetch_factor,
                                        device.type == "cuda"))
        plan, loader = self._eval
        plan.items = indices.tolist()
        scale, shift = normalizer(self.mean, self.std, device)
        for x, y in loader:
            x = _to_device(x, device)
            if not channels_last:
                x = x.contiguous()
            yield torch.addcmul(shift, x.float(), scale), y.to(device, non_blocking=True)

    def close(self) -> None:
        """Stop the evaluation workers (training workers belong to each :class:`StreamBatches`)."""
        self._eval = None


class StreamBatches:
    """The training batches of an :class:`ImageFolderSource`: ``batch(it) -> (x, y)`` with the
    contract of ``data.Batches.batch`` -- ``x`` float32 (B, C, H, W) normalized on ``device``
    (channels_last if asked), ``y`` int64 (B,), batch ``it`` a pure function of ``(seed, it)``;
    ``drop_last`` always (every batch is full). Consecutive calls stream from the workers; any
    other ``it`` restarts the stream at ``(epoch, step)`` without decoding the skipped images.
    """

    def __init__(self, source: ImageFolderSource, batch_size: int, seed: int = 0, flip: bool = True,
                 channels_last: bool = False, rank: int = 0, world_size: int = 1, device="cpu"):
        self.source = source
        self.batch_size = _checks.integer("batch_size", batch_size, 1)
        self.seed = _checks.integer("seed", seed, 0)
        self.flip = _checks.boolean("flip", flip)
        self.channels_last = _checks.boolean("channels_last", channels_last)
        self.world_size = _checks.integer("world_size", world_size, 1)
        self.rank = _checks.integer("rank", rank, 0)
        if self.rank >= self.world_size:
            raise ValueError(f"rank={rank} must be in 0..{self.world_size - 1} (world_size={self.world_size})")
        if batch_size > len(source):
            raise ValueError(f"batch_size={batch_size} is larger than the image folder ({len(source)} images)")
        if batch_size % self.world_size:
            raise ValueError(f"batch_size={batch_size} must be a multiple of world_size={self.world_size} "
                             "(each rank takes an equal share of the global batch)")
        self.local_batch_size = batch_size // self.world_size
        self.steps_per_epoch = len(source) // batch_size
        self.device = torch.device(device)
        self._scale, self._shift = normalizer(source.mean, source.std, self.device)
        self._plan = _Plan()
        self._loader = _loader(source.dataset(), self._plan, self.local_batch_size, source.num_workers,
                               source.prefetch_factor, self.device.type == "cuda")
        self._epoch: Optional[int] = None
        self._draws: tuple = ()
        self._iter = None
        self._next: Optional[tuple] = None  # (epoch, step) the running stream yields next

    @property
    def split(self) -> ImageFolderSource:  # the name data.Batches uses for its data
        return self.source

    def _epoch_draws(self, epoch: int) -> tuple:
        """(permutation, flips, crop seeds) of an epoch, on the CPU (same order as data.Batches)."""
        if epoch != self._epoch:
            n = len(self.source)
            g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
            perm = torch.randperm(n, generator=g)
            flips = torch.rand(n, generator=g) < 0.5
            crops = torch.randint(0, 2 ** 62, (n,), generator=g)
            self._draws = (perm, flips, crops)
            self._epoch = epoch
        return self._draws

    def _positions(self, first_step: int, last_step: int) -> np.ndarray:
        """Epoch positions of this rank's rows of steps ``first_step .. last_step - 1``."""
        steps = np.arange(first_step, last_step)[:, None]
        return (steps * self.batch_size + self.rank * self.local_batch_size
                + np.arange(self.local_batch_size)[None, :]).ravel()

    def indices(self, it: int) -> torch.Tensor:
        """Folder indices of batch ``it`` (this rank's rows), computed without decoding anything."""
        epoch, step = divmod(_checks.integer("it", it, 0), self.steps_per_epoch)
        return self._epoch_draws(epoch)[0][self._positions(step, step + 1)]

    def _start(self, epoch: int, step: int) -> None:
        perm, _, crops = self._epoch_draws(epoch)
        pos = torch.from_numpy(self._positions(step, self.steps_per_epoch))
        self._plan.items = list(zip(perm[pos].tolist(), crops[pos].tolist()))
        self._iter = iter(self._loader)

    def batch(self, it: int) -> tuple:
        epoch, step = divmod(_checks.integer("it", it, 0), self.steps_per_epoch)
        if self._next != (epoch, step):
            self._start(epoch, step)
        x, y = next(self._iter)
        self._next = (epoch, step + 1)
        x = x.to(self.device, non_blocking=True)  # uint8 (B, H, W, C)
        if self.flip:  # on the contiguous NHWC tensor: W is dimension 2
            sel = self._epoch_draws(epoch)[1][self._positions(step, step + 1)].to(self.device, non_blocking=True)
            x = torch.where(sel.view(-1, 1, 1, 1), x.flip(2), x)
        x = x.permute(0, 3, 1, 2)  # (B, C, H, W) in the channels_last layout
        if not self.channels_last:
            x = x.contiguous()  # on 1-byte values, before the float conversion
        return torch.addcmul(self._shift, x.float(), self._scale), y.to(self.device, non_blocking=True)

    def epoch(self, e: int) -> Iterator[tuple]:
        e = _checks.integer("e", e, 0)
        return (self.batch(it) for it in range(e * self.steps_per_epoch, (e + 1) * self.steps_per_epoch))

    def __iter__(self) -> Iterator[tuple]:
        it = 0
        while True:
            yield self.batch(it)
            it += 1

    def close(self) -> None:
        """Stop this stream's workers (also happens when it is garbage-collected)."""
        self._iter = None
        self._loader = None


# ----------------------------------------------------------------------------- loading
def load(root=None, split: str = "train", *, name: Optional[str] = None, image_size: int = 224,
         resize: Optional[int] = None, augment: str = "crop", min_scale: float = 0.08, mean=IMAGENET_MEAN,
         std=IMAGENET_STD, num_workers: Optional[int] = None, prefetch_factor: int = 2,
         loader=None) -> ImageFolderSource:
    """One split (``"train"`` or ``"val"``) of the image folder at ``root`` (None: ``$SUPERCONV_IMAGENET``).

    ``image_size``: the square crop; ``resize``: the shorter side before cropping (default
    ``image_size * 256 / 224``); ``augment``: ``"crop"`` or ``"rrc"`` (see the module text);
    ``mean``/``std``: normalization (default ImageNet's); ``num_workers``: decoding processes
    (None: :func:`default_workers`; 0 decodes in this process); ``loader``: path -> RGB PIL image
    (default: PIL). The folder is listed now (for ImageNet: about a minute on a slow disk).
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not a split; allowed: 'train', 'val'")
    path = find_root(root)
    folder, rel, labels, classes, layout = _scan(path, split)
    return ImageFolderSource(folder, rel, labels, classes, split=split, name=name or path.name,
                             image_size=image_size, resize=resize, augment=augment, min_scale=min_scale,
                             mean=mean, std=std, num_workers=num_workers, prefetch_factor=prefetch_factor,
                             layout=layout, loader=loader)
