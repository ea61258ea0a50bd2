"""Chapter 10, ImageNet (Super-Convergence Fig. 7; FACTS §4): 1cycle in 20 epochs vs a 130-epoch step schedule.

The claim (``imagenet.resnet50``): ResNet-50 trained with one cycle 0.05 -> 1.0 -> 5e-5 over ~20
epochs (cyclical momentum 0.95 -> 0.85, Nesterov, weight decay reduced to 3e-6) reaches
~67.3-67.6 % top-1, against 63.7 % for the standard schedule (LR x0.94 every 2 epochs for 130
epochs). ``imagenet.inception_resnet_v2`` reports the same for Inception-ResNet-v2, which this
book does not implement: its finding is always "not run", and the chapter shows the paper's
numbers only.

Profiles:

* ``paper``: ILSVRC-2012 from the user's folder (``$SUPERCONV_IMAGENET`` or ``root=``),
  streamed by ``superconv.imagefolder`` (random 224 crop of the image resized to 256 + flip;
  eval: center 224 crop), torchvision's ResNet-50, total batch 128 (the authors' logs), the 1cycle
  of the logs (stepsize 95,000, 200,000 iterations) vs the step baseline (130 epochs, x0.94 every
  2 epochs). The baseline's LR 0.1, momentum 0.9 and WD 1e-4 come from the authors' solver file
  (:data:`BASELINE_SOLVER`, tag D); FACTS §4 gives its shape only.
* ``smoke`` / ``laptop``: the *same code path* (image files on disk, decoded on DataLoader
  workers, streamed into ``fit``) on a tiny synthetic image folder the study writes itself
  (10 classes of textured JPEGs, :func:`write_synthetic_folder`), with a CIFAR-style ResNet-8 of
  width 8 on 32x32 crops (ResNet-50 is far too heavy for a CPU). The pair keeps every paper value
  (LRs, momenta, WD, Nesterov, the 20 : 130 epoch ratio and the 2-epoch decay period) and
  scales time to the tiny data's epochs (:data:`TINY`). These runs are a **pipeline check**, not
  a reproduction: they never produce a verdict.

API::

    study = run_study("laptop")                  # trains (or loads) both runs, returns a Study
    study.summary["one_cycle"]["final_mean"]     # final top-1 accuracy (%), mean over seeds
    study.speedup                                # time for 1cycle to reach the baseline's accuracy
    study.verdict                                # paper profile only (None below it)
    stored("paper"); findings("paper")           # stored results / scorecard, never trains
    specs("paper")                               # the run specs (JSON-able; no data needed)

Verdict rule (paper profile only, :data:`RULE`): *reproduced* if 1cycle's final top-1 accuracy
is at least the baseline's minus :data:`ACC_TOLERANCE` points **and** 1cycle reached the
baseline's final accuracy with at least :data:`MIN_RATIO` times fewer iterations; *partly* if
one holds; *not reproduced* if neither.

On 8 GPUs (the records land in the results store, where the chapter finds them)::

    torchrun --standalone --nproc_per_node 8 -m superconv.studies.imagenet --data /path/to/imagenet --profile paper
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import _checks, chapter, data, experiments, imagefolder, launch, models, paper, verdicts
from ..results import Store
from ..train import History, fit
from ..verdicts import Finding
from . import base, one_cycle

POLICIES = ("one_cycle", "step")
LABELS = {"one_cycle": "1cycle", "step": "step baseline"}

#: The baseline's solver in the authors' repository (lnsmith54/hyperParam1,
#: Imagenet/resnet/asolver1.prototxt: base_lr 0.1, lr_policy step, gamma 0.94, stepsize 20000 at
#: batch 4 x 32, momentum 0.9, weight_decay 1e-4, type Nesterov). Tag D; not in FACTS §4, which
#: states the shape (x0.94 every 2 epochs, 130 epochs) only.
BASELINE_SOLVER = {"base_lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": True,
                   "source": "authors' solver lnsmith54/hyperParam1 Imagenet/resnet/asolver1.prototxt [D]"}

#: The tiny profiles: synthetic image folder, model, batch, the factor on the paper's epochs
#: (smoke runs a tenth of them, 2 vs 13 epochs, to fit its 30-second budget), decoding workers
#: and torch intra-op threads while training (see :func:`_threads`).
TINY: dict = {
    "smoke": dict(classes=10, train_per_class=20, val_per_class=10, image_size=32, resize=36, batch_size=20,
                  epoch_scale=0.1, width=4, workers=0, threads=1, eval_every_epochs=2.0),
    "laptop": dict(classes=10, train_per_class=100, val_per_class=30, image_size=32, resize=36, batch_size=50,
                   epoch_scale=1.0, width=8, workers=1, threads=1, eval_every_epochs=2.0),
}
PAPER_DATA = dict(image_size=224, resize=256, eval_every_epochs=1.0)
ACC_TOLERANCE = 0.5  # points
MIN_RATIO = 5.0      # the paper's budget ratio is 130 / 20 = 6.5 epochs
RULE = (f"paper profile only (ImageNet, ResNet-50): reproduced if 1cycle's final top-1 accuracy ≥ the step "
        f"baseline's − {ACC_TOLERANCE:g} points and 1cycle reaches the baseline's final accuracy with ≥ "
        f"{MIN_RATIO:g}× fewer iterations (the paper: 20 vs 130 epochs, 6.5×); partly if only one holds")
PIPELINE_NOTE = ("the {profile} profile trains a tiny synthetic image folder with a ResNet-8 through the same "
                 "streaming pipeline as a check of the code path, not ImageNet: it gives no reproduction verdict")
SYNTHETIC_VERSION = 2  # bump when write_synthetic_folder draws different images


# --------------------------------------------------------------------------- commands

#: Where the commands this chapter prints put the reader's ImageNet folder.
DATA_PLACEHOLDER = "/path/to/imagenet"


def paper_command() -> str:
    """The papermill command that computes the paper-profile results (one GPU, in the notebook)."""
    return command("paper", IMAGENET_DIR=DATA_PLACEHOLDER)


def torchrun_command(gpus: int = 8) -> str:
    """The command that trains the paper-profile runs data-parallel into the results store."""
    return (f"torchrun --standalone --nproc_per_node {gpus} -m superconv.studies.imagenet "
            f"--data {DATA_PLACEHOLDER} --profile paper")


# --------------------------------------------------------------------------- data recipes

def synthetic_recipe(profile: str) -> dict:
    """What :func:`write_synthetic_folder` draws at a tiny profile (part of the run spec)."""
    t = TINY[profile]
    return dict(kind="synthetic", generator=SYNTHETIC_VERSION, classes=t["classes"],
                train_per_class=t["train_per_class"], val_per_class=t["val_per_class"], seed=0,
                min_side=40, max_side=64, format="JPEG", quality=90)


def imagenet_recipe() -> dict:
    return dict(kind="imagenet", train_size=imagefolder.ILSVRC2012["train"], val_size=imagefolder.ILSVRC2012["val"],
                classes=imagefolder.ILSVRC2012["classes"])


# palettes: (foreground, background) RGB in [0, 1]; textures x palettes = the 10 classes
_PALETTES = (((0.90, 0.62, 0.20), (0.18, 0.28, 0.58)), ((0.30, 0.82, 0.70), (0.58, 0.20, 0.30)))
TEXTURES = ("horizontal stripes", "vertical stripes", "checkerboard", "rings", "blob")


def synthetic_classes(n: int = 10) -> list:
    """Class names of the synthetic folder: texture and palette (e.g. ``"rings-warm"``)."""
    names = [f"{t.replace(' ', '_')}-{p}" for p in ("warm", "cool") for t in TEXTURES]
    return names[:_checks.integer("classes", n, 1, len(names))]


def synthetic_image(label: int, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """One uint8 (H, W, 3) image of class ``label``: a texture (stripes, checkerboard, rings,
    blob; all unchanged by a horizontal flip) in one of two jittered palettes, random period,
    phase, centre and contrast, plus pixel noise -- learnable, but not at a glance."""
    texture, palette = label % len(TEXTURES), label // len(TEXTURES)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    period = rng.uniform(5.0, 10.0)
    phase = rng.uniform(0, 2 * np.pi, 2)
    cx, cy = width * rng.uniform(0.3, 0.7), height * rng.uniform(0.3, 0.7)
    r = np.hypot(xx - cx, yy - cy)
    w = 2 * np.pi / period
    pattern = [np.sin(w * yy + phase[0]), np.sin(w * xx + phase[0]),
               np.sign(np.sin(w * xx + phase[0]) * np.sin(w * yy + phase[1])),
               np.sin(w * r + phase[0]), 2 * np.exp(-(r / (0.22 * min(width, height))) ** 2) - 1][texture]
    fg, bg = (np.clip(np.array(c) + rng.uniform(-0.25, 0.25, 3), 0, 1) for c in _PALETTES[palette])
    contrast = rng.uniform(0.25, 0.9)
    img = bg + (fg - bg) * (0.5 + 0.5 * contrast * pattern)[..., None]
    img = img + rng.normal(0, 0.22, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _recipe_hash(recipe: dict) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def synthetic_root(recipe: dict, cache=None) -> Path:
    """Where a recipe's folder lives: ``<cache>/synthetic-imagefolder-<hash>`` (default cache:
    ``data.user_cache_dir()``, i.e. ``~/.cache/superconv/data``)."""
    base = Path(cache).expanduser() if cache is not None else data.user_cache_dir()
    return base / f"synthetic-imagefolder-{_recipe_hash(recipe)}"


def write_synthetic_folder(root, recipe: dict) -> Path:
    """Write ``<root>/train/<class>/*.jpg`` and ``<root>/val/<class>/*.jpg`` for ``recipe``
    (a :func:`synthetic_recipe`) unless a complete copy is there; atomic (a half-written folder
    is never left under ``root``). Returns ``root``."""
    from PIL import Image
    root = Path(root)
    marker = root / "recipe.json"
    if marker.is_file() and json.loads(marker.read_text()) == recipe:
        return root
    if root.exists():
        raise FileExistsError(f"{root} exists but was not written for this recipe; move it away")
    tmp = root.with_name(f".{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(recipe["seed"])
    classes = synthetic_classes(recipe["classes"])
    ext = {"JPEG": "jpg", "PNG": "png"}[recipe["format"]]
    for split, per_class in (("train", recipe["train_per_class"]), ("val", recipe["val_per_class"])):
        for label, name in enumerate(classes):
            folder = tmp / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                w, h = (int(v) for v in rng.integers(recipe["min_side"], recipe["max_side"] + 1, 2))
                img = Image.fromarray(synthetic_image(label, rng, w, h))
                img.save(folder / f"{name}_{i:04d}.{ext}", recipe["format"], quality=recipe["quality"])
    (tmp / "recipe.json").write_text(json.dumps(recipe, sort_keys=True))
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, root)
    except OSError:  # another process finished first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
        if not (marker.is_file() and json.loads(marker.read_text()) == recipe):
            raise
    return root


# --------------------------------------------------------------------------- specs

def _steps_per_epoch(recipe: dict, batch_size: int) -> int:
    n = recipe["train_size"] if recipe["kind"] == "imagenet" else recipe["classes"] * recipe["train_per_class"]
    return n // batch_size


def _schedules(profile: str, spe: int) -> dict:
    """The 1cycle and step schedules (spec dicts) and their lengths at ``profile``."""
    im = paper.IMAGENET
    log = im["resnet50_log"]
    oc, base = im["one_cycle"], im["baseline"]
    scale = TINY[profile]["epoch_scale"] if profile in TINY else 1.0
    if profile == "paper":  # the authors' logged run, exactly
        total, step = log["max_iter"], log["stepsize"]
    else:  # ~20 epochs, stepsize at the logged fraction 95k / 200k
        total = max(4, round(im["epochs"] * scale * spe))
        step = max(1, round(total * log["stepsize"] / log["max_iter"]))
    b_total = round(base["epochs"] * scale * spe)
    period = base["step_epochs"] * scale * spe
    milestones = [round(k * period) for k in range(1, math.ceil(b_total / period) + 1) if round(k * period) < b_total]
    return {
        "one_cycle": (dict(kind="one_cycle", base_lr=oc["base_lr"], max_lr=oc["max_lr"], step_size=step,
                           total_steps=total, tail_lr=oc["tail_lr"], momentum=[im["momentum"].start,
                                                                               im["momentum"].stop]), total),
        "step": (dict(kind="piecewise_constant", base_lr=BASELINE_SOLVER["base_lr"], milestones=milestones,
                      gamma=base["gamma"], momentum=BASELINE_SOLVER["momentum"]), b_total),
    }


def make_spec(profile: str | None, policy: str, seed: int = 0, **changes) -> dict:
    """The run spec of one policy at ``profile`` (JSON-able; the results store's key).

    ``changes`` replace spec fields (``weight_decay``, ``augment``, ...); ``schedule`` may be a
    dict of schedule fields to change (e.g. ``schedule={"max_lr": 0.5}``)."""
    profile = experiments.resolve_profile(profile)
    _checks.choice("policy", policy, POLICIES)
    _checks.integer("seed", seed, minimum=0)
    if profile == "paper":
        recipe, size = imagenet_recipe(), PAPER_DATA
        batch = paper.IMAGENET["resnet50_log"]["batch_size"]
        model, kwargs = "imagenet_resnet50", {}
    else:
        t = TINY[profile]
        recipe, size, batch = synthetic_recipe(profile), t, t["batch_size"]
        model, kwargs = "resnet8", {"width": t["width"]}
    spe = _steps_per_epoch(recipe, batch)
    sched, total = _schedules(profile, spe)[policy]
    one = policy == "one_cycle"
    spec = dict(study="imagenet", dataset=recipe["kind"], data=recipe, image_size=size["image_size"],
                resize=size["resize"], augment="crop", model=model, model_kwargs=kwargs, schedule=sched,
                iterations=total, batch_size=batch,
                weight_decay=paper.IMAGENET["weight_decay"] if one else BASELINE_SOLVER["weight_decay"],
                momentum=None, nesterov=True, sgd="torch", bn_momentum=None, flip=True,
                eval_every=max(1, round(size["eval_every_epochs"] * spe)), seed=seed, precision="auto")
    sched_changes = changes.pop("schedule", None)
    unknown = set(changes) - set(spec)
    if unknown:
        raise ValueError(f"unknown spec field(s) {sorted(unknown)}; allowed: {', '.join(sorted(spec))}")
    spec.update(copy.deepcopy(changes))
    if sched_changes:
        spec["schedule"] = {**spec["schedule"], **sched_changes}
    experiments.build_schedule(spec["schedule"])  # validates before any work
    return spec


def specs(profile: str | None, seeds: Sequence[int] | None = None) -> dict:
    """``{"one_cycle": [spec per seed], "step": [spec per seed]}`` (None: the chapter's seeds)."""
    profile = experiments.resolve_profile(profile)
    seeds = CHAPTER.seeds_or_default(profile, seeds)
    return {p: [make_spec(profile, p, seed=s) for s in seeds] for p in POLICIES}


def epochs(spec: dict) -> float:
    """The run's length in epochs of its training set."""
    return spec["iterations"] / _steps_per_epoch(spec["data"], spec["batch_size"])


def steps_per_epoch(spec: dict) -> int:
    return _steps_per_epoch(spec["data"], spec["batch_size"])


def describe_setup(profile: str | None) -> str:
    """Data, model and batch of a profile, for captions."""
    s = make_spec(profile, "one_cycle")
    if s["dataset"] == "imagenet":
        return (f"ImageNet (ILSVRC-2012, {s['data']['train_size']:,} train / {s['data']['val_size']:,} val images), "
                f"ResNet-50 (torchvision), crop {s['image_size']} of {s['resize']}, batch {s['batch_size']}")
    return (f"synthetic image folder ({synthetic_summary(profile)}), ResNet-8 (width {s['model_kwargs']['width']}), "
            f"crop {s['image_size']} of {s['resize']}, batch {s['batch_size']}")


def synthetic_summary(profile: str | None) -> str:
    """E.g. ``"10 classes, 1,000 train / 300 val JPEGs"`` (a tiny profile's folder)."""
    d = synthetic_recipe(experiments.resolve_profile(profile))
    return (f"{d['classes']} classes, {d['classes'] * d['train_per_class']:,} train / "
            f"{d['classes'] * d['val_per_class']:,} val {d['format']}s")


# --------------------------------------------------------------------------- data and training

def resolve_root(profile: str, root=None) -> str | None:
    """The ImageNet folder at the paper profile: ``root`` or ``$SUPERCONV_IMAGENET`` (None if neither)."""
    if profile != "paper":
        return None
    return str(root) if root is not None else os.environ.get(imagefolder.ENV) or None


def missing_data_message(param: str = "IMAGENET_DIR") -> str:
    return (f"{param}=None and ${imagefolder.ENV} is unset, but the paper profile trains on ImageNet: pass "
            f"-p {param} /path/to/imagenet (train/ and val/ with one sub-folder per class, or torchvision's "
            f"ImageNet layout) or set {imagefolder.ENV}=/path/to/imagenet")


def open_data(spec: dict, root=None, workers: int | None = None, cache=None) -> tuple:
    """(train, val) :class:`~superconv.imagefolder.ImageFolderSource` of a spec. Synthetic recipes
    are written (once) under ``cache``; ImageNet is read from ``root`` / ``$SUPERCONV_IMAGENET``
    and must be all of ILSVRC-2012 (the spec says so)."""
    recipe = spec["data"]
    if recipe["kind"] == "synthetic":
        folder = write_synthetic_folder(synthetic_root(recipe, cache), recipe)
        name = "synthetic"
    else:
        folder, name = imagefolder.find_root(root), "imagenet"
    kw = dict(name=name, image_size=spec["image_size"], resize=spec["resize"], augment=spec["augment"],
              num_workers=workers)
    train, val = imagefolder.load(folder, "train", **kw), imagefolder.load(folder, "val", **kw)
    if recipe["kind"] == "imagenet":
        got = (len(train), len(val), train.num_classes)
        want = (recipe["train_size"], recipe["val_size"], recipe["classes"])
        if got != want:
            raise ValueError(f"root={str(folder)!r} has {got[0]:,} train / {got[1]:,} val images in {got[2]} classes; "
                             f"the paper profile needs all of ILSVRC-2012 ({want[0]:,} / {want[1]:,} in {want[2]})")
    return train, val


def build_model(spec: dict, num_classes: int) -> torch.nn.Module:
    """The spec's model, initialised from ``torch.manual_seed(spec["seed"])``."""
    torch.manual_seed(spec["seed"])
    kwargs = {"num_classes": num_classes, **spec["model_kwargs"]}
    if spec["model"] != "imagenet_resnet50":
        kwargs.setdefault("in_channels", 3)
    return models.build(spec["model"], **kwargs)


def run_one(spec: dict, profile: str, device: str = "auto", store: Store | None = None, root=None,
            workers: int | None = None, progress: bool = False, cache=None, retrain: bool = False) -> History:
    """Train ``spec`` once (or load its stored record). The data is opened only if it trains.
    ``store`` may be ``results.Store(rank0=True)`` (under torchrun: rank 0 reads and writes)."""
    profile = experiments.resolve_profile(profile)
    store = store or Store()
    sched = experiments.build_schedule(spec["schedule"])
    if workers is None and profile in TINY:
        workers = TINY[profile]["workers"]

    def train(checkpoint) -> History:
        train_src, val_src = open_data(spec, root, workers, cache)
        model = build_model(spec, train_src.num_classes)
        big = spec["dataset"] == "imagenet"
        with _threads(TINY[profile]["threads"] if profile in TINY else None):
            return fit(model, train_src, val_src, sched, momentum=spec["momentum"], iterations=spec["iterations"],
                       batch_size=spec["batch_size"], weight_decay=spec["weight_decay"], nesterov=spec["nesterov"],
                       sgd=spec["sgd"], precision=spec["precision"], bn_momentum=spec["bn_momentum"],
                       eval_every=spec["eval_every"], eval_batch_size=250 if big else None, seed=spec["seed"],
                       flip=spec["flip"], device=experiments.device_string(device), progress=progress,
                       desc=f"{LABELS[_policy(spec)]} ({profile})", checkpoint=checkpoint,
                       checkpoint_every=steps_per_epoch(spec) if big else max(100, spec["iterations"] // 10))

    return store.run(spec, profile, train, retrain=retrain)


@contextlib.contextmanager
def _threads(n: int | None):
    """Run with ``n`` intra-op torch threads (None: unchanged). The tiny profiles use one: their
    tensors are too small to gain from more, and the decoding worker needs the other core (on a
    busy 2-core machine two threads were 20x slower than one)."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _policy(spec: dict) -> str:
    return "one_cycle" if spec["schedule"]["kind"] == "one_cycle" else "step"


def run_variant(profile: str | None, policy: str = "one_cycle", seed: int = 0, device: str = "auto",
                store: Store | None = None, root=None, workers: int | None = None, **changes) -> History:
    """One run of :func:`make_spec` with ``changes`` (the exercises), trained or loaded."""
    profile = experiments.resolve_profile(profile)
    return run_one(make_spec(profile, policy, seed=seed, **changes), profile, device, store, root, workers)


# --------------------------------------------------------------------------- the notebook's checks

def check_dir(name: str, value: Any) -> str:
    """A ``chapter.setup`` checker: an existing folder (the ImageNet root)."""
    if not isinstance(value, str) or not Path(value).expanduser().is_dir():
        _checks.fail(name, value, f"the path of an existing folder (or None = ${imagefolder.ENV})")
    return str(Path(value).expanduser())


def check_workers(name: str, value: Any) -> int:
    """A ``chapter.setup`` checker: a number of decoding workers (0: decode in the notebook's process)."""
    return chapter.non_negative_int(name, value)


#: The chapter, with its seeds: one run of each policy, as the authors ran.
CHAPTER = base.Chapter("chapters/10_imagenet.ipynb", seeds={"smoke": [0], "laptop": [0], "paper": [0]},
                       knobs=dict(IMAGENET_DIR=check_dir, WORKERS=check_workers))
default_seeds, command = CHAPTER.default_seeds, CHAPTER.command


def require_data(profile: str, root=None, seeds: Sequence[int] | None = None, store: Store | None = None,
                 param: str = "IMAGENET_DIR") -> None:
    """At the paper profile, fail before any work (one line, ``chapter.ParameterError``) when no
    ImageNet folder is given and some of the runs are not in the store yet."""
    if profile != "paper" or resolve_root(profile, root) is not None:
        return
    store = store or Store()
    if not all(store.get(s, profile) is not None for ss in specs(profile, seeds).values() for s in ss):
        raise chapter.ParameterError(missing_data_message(param))


def preview(profile: str, root=None, per_class: int = 1, classes: int = 10, seed: int = 0,
            cache=None) -> dict:
    """A few decoded images of the profile's training folder: the training view (crop + flip, as
    ``fit`` sees it, before normalization) and the eval view of the same images, as uint8
    ``(N, H, W, 3)`` arrays, with their class names. For the chapter's figure."""
    profile = experiments.resolve_profile(profile)
    spec = make_spec(profile, "one_cycle", seed=seed)
    train, _ = open_data(spec, root, workers=0, cache=cache)
    labels = train.labels.numpy()
    picks = [int(i) for c in np.linspace(0, train.num_classes - 1, min(classes, train.num_classes)).round()
             for i in np.flatnonzero(labels == int(c))[:per_class]]
    ds = train.dataset()
    rng = np.random.default_rng(seed)
    views = [ds[(i, int(rng.integers(2 ** 62)))][0].numpy() for i in picks]
    flips = rng.random(len(picks)) < 0.5
    views = [v[:, ::-1] if f else v for v, f in zip(views, flips)]
    return dict(train=np.stack(views), eval=np.stack([ds[i][0].numpy() for i in picks]),
                classes=[train.classes[labels[i]] for i in picks], description=train.description)


# --------------------------------------------------------------------------- summaries

def verdict(one: dict, base: dict, ratio: float | None) -> dict:
    """:data:`RULE` applied to :func:`one_cycle.summarize` results and the time-to-accuracy ratio."""
    a, b = one["final_mean"], base["final_mean"]
    acc = bool(math.isfinite(a) and math.isfinite(b) and a >= b - ACC_TOLERANCE)
    speed = ratio is not None and ratio >= MIN_RATIO
    return dict(verdict=verdicts.from_conditions(acc, speed), accuracy_holds=acc, ratio_holds=speed,
                difference=a - b, rule=RULE)


def speedup_text(sp: dict | None) -> str:
    if not sp or sp["iteration_ratio"] is None:
        return "1cycle did not reach the step baseline's final accuracy within its run"
    text = (f"1cycle reached the step baseline's final accuracy ({sp['target_acc']:.2f} %) after "
            f"{sp['fast_iterations']:,} iterations, {sp['iteration_ratio']:.1f}× fewer than the baseline's "
            f"{sp['slow_iterations']:,}")
    if sp.get("time_ratio"):
        text += f" ({sp['time_ratio']:.1f}× less training time)"
    return text


def summary_cells(study: "Study") -> dict:
    """Our numbers as table cells: ``one_cycle``, ``step`` (final top-1, epochs), ``difference``
    (points), ``time`` (iterations to the baseline's final accuracy), ``verdict``."""
    out = {}
    for p in POLICIES:
        s = study.summary.get(p)
        spec = study.specs[p][0] if study.specs.get(p) else make_spec(study.profile, p)
        out[p] = (f"{one_cycle.format_acc(s)} after {epochs(spec):.0f} epochs ({s['iterations']:,} it.)"
                  if s else "not run")
    a, b = study.summary.get("one_cycle"), study.summary.get("step")
    out["difference"] = f"{a['final_mean'] - b['final_mean']:+.2f} points" if a and b else "—"
    sp = study.speedup
    out["time"] = ("—" if sp is None else "not reached" if sp["iteration_ratio"] is None else
                   f"{sp['iteration_ratio']:.1f}× fewer iterations ({sp['fast_iterations']:,} vs {sp['slow_iterations']:,})")
    out["verdict"] = (study.verdict["verdict"] if study.verdict else
                      "— (pipeline check: no verdict)" if study.pipeline_check else "incomplete")
    return out


@dataclass
class Study:
    """What :func:`run_study` and :func:`stored` return."""

    profile: str
    specs: dict                       # policy -> [spec per seed]
    histories: dict                   # policy -> [History per seed]
    summary: dict                     # policy -> one_cycle.summarize(...)
    speedup: dict | None              # one_cycle.speedup(1cycle, step) on seed-mean curves
    verdict: dict | None              # paper profile only
    setup: str = ""
    notes: list = field(default_factory=list)

    @property
    def pipeline_check(self) -> bool:
        """True below the paper profile: the runs check the code path, they reproduce nothing."""
        return self.profile != "paper"


def _assemble(profile: str, spec_map: dict, hist_map: dict) -> Study:
    summary = {p: one_cycle.summarize(hist_map[p], [s["seed"] for s in spec_map[p]])
               for p in POLICIES if hist_map.get(p)}
    sp = vd = None
    if all(hist_map.get(p) for p in POLICIES):
        sp = one_cycle.speedup(hist_map["one_cycle"], hist_map["step"])
        if profile == "paper":
            vd = verdict(summary["one_cycle"], summary["step"], sp["iteration_ratio"])
    return Study(profile, spec_map, hist_map, summary, sp, vd, describe_setup(profile),
                 notes=[base.hardware(hist_map)])


def run_study(profile: str | None, device: str = "auto", seeds: Sequence[int] | None = None, root=None,
              store: Store | None = None, workers: int | None = None, progress: bool = False,
              cache=None) -> Study:
    """Train (or load) both policies' runs and summarize them. At the paper profile a missing
    ImageNet folder (``root`` / ``$SUPERCONV_IMAGENET``) is an error only if a run must train."""
    profile = experiments.resolve_profile(profile)
    spec_map = specs(profile, seeds)
    store = store or Store()
    if profile == "paper" and resolve_root(profile, root) is None and not all(
            store.get(s, profile) is not None for ss in spec_map.values() for s in ss):
        raise imagefolder.ImageFolderNotFoundError(missing_data_message("root"))
    hist_map = {p: [run_one(s, profile, device, store, root, workers, progress, cache) for s in spec_map[p]]
                for p in POLICIES}
    return _assemble(profile, spec_map, hist_map)


def stored(profile: str = "paper", store: Store | None = None, seeds: Sequence[int] | None = None) -> Study | None:
    """The runs of ``profile`` already in the store (nothing trains), or None if there are none."""
    profile = experiments.resolve_profile(profile)
    store = store or Store()
    got = base.stored_tree(specs(profile, seeds), profile, store)
    return None if got is None else _assemble(profile, *got)


def paper_settings() -> list:
    """Rows (setting, value, source) of the paper's two schedules, for the chapter's table."""
    im = paper.IMAGENET
    oc, log, base = im["one_cycle"], im["resnet50_log"], im["baseline"]
    tag = lambda key: f"[{paper.get('imagenet.solver.' + key).label}]"  # noqa: E731
    return [
        ("1cycle LR", f"{oc['base_lr']:g} → {oc['max_lr']:g} → {oc['tail_lr']:g}", tag("one_cycle.base_lr")),
        ("1cycle length", f"~{im['epochs']} epochs; logs: stepsize {log['stepsize']:,}, {log['max_iter']:,} "
                          f"iterations at batch {log['batch_size']}", tag("resnet50_log.stepsize")),
        ("momentum", f"cyclical {im['momentum'].start:g} → {im['momentum'].stop:g}, Nesterov", tag("momentum")),
        ("1cycle weight decay", f"{im['weight_decay']:g}", tag("weight_decay")),
        ("baseline", f"LR ×{base['gamma']:g} every {base['step_epochs']} epochs, {base['epochs']} epochs",
         tag("baseline.gamma")),
        ("baseline solver", f"LR {BASELINE_SOLVER['base_lr']:g}, momentum {BASELINE_SOLVER['momentum']:g} "
                            f"(Nesterov), WD {BASELINE_SOLVER['weight_decay']:g}",
         "[D] authors' asolver1.prototxt (not in FACTS)"),
    ]


# --------------------------------------------------------------------------- scorecard

EXPERIMENT = "ResNet-50 on ImageNet: 1cycle in 20 epochs vs a step schedule in 130"

INCEPTION_RULE = "no chapter of this book runs this claim's setting"


def findings(profile: str | None = "laptop", store: Store | None = None) -> list:
    """Scorecard findings for ``imagenet.resnet50`` and ``imagenet.inception_resnet_v2`` (stored
    results only). Below the paper profile both are "not run": the tiny runs are a pipeline
    check, never a reproduction."""
    profile = experiments.resolve_profile(profile)
    how = f"{torchrun_command()} (or {paper_command()})"
    out = []
    if profile != "paper":
        out.append(Finding("imagenet.resnet50", profile, "—", "not run", RULE,
                           PIPELINE_NOTE.format(profile=profile) + f"; on ImageNet: {how}", EXPERIMENT))
    else:
        st = stored("paper", store)
        if st is None or st.verdict is None:
            have = "" if st is None else ("; stored: " + ", ".join(
                f"{LABELS[p]} {one_cycle.format_acc(st.summary[p])}" for p in st.summary) + ", the other run missing")
            out.append(Finding("imagenet.resnet50", profile, "—", "not run", RULE, f"run: {how}{have}", EXPERIMENT))
        else:
            a, b = st.summary["one_cycle"], st.summary["step"]
            ours = (f"1cycle {one_cycle.format_acc(a)} in {a['iterations']:,} it vs step {one_cycle.format_acc(b)} "
                    f"in {b['iterations']:,} it; {speedup_text(st.speedup)}")
            out.append(Finding("imagenet.resnet50", profile, ours, st.verdict["verdict"], RULE,
                               describe_setup("paper") + "; " + "; ".join(st.notes), EXPERIMENT,
                               seeds=tuple(sorted({s for p in st.summary for s in st.summary[p]["seeds"]}))))
    out.append(Finding("imagenet.inception_resnet_v2", profile, "—", "not run", INCEPTION_RULE,
                       "Inception-ResNet-v2 is not among superconv.models; chapter 10 shows the paper's numbers only"))
    return out


# --------------------------------------------------------------------------- command line

def main(argv=None) -> int:
    """``[torchrun ...] -m superconv.studies.imagenet --data DIR --profile paper [--policy ...]``."""
    p = argparse.ArgumentParser(prog="python -m superconv.studies.imagenet",
                                description="Train chapter 10's runs (1cycle vs the step baseline) into the "
                                            "results store ($SUPERCONV_RESULTS); under torchrun data-parallel.")
    p.add_argument("--profile", default="paper", choices=experiments.PROFILES)
    p.add_argument("--data", default=None, help=f"ImageNet folder (default ${imagefolder.ENV}); paper profile only")
    p.add_argument("--policy", nargs="+", default=list(POLICIES), choices=POLICIES)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--workers", type=int, default=None, help="decoding workers per process (default: CPUs / GPUs, ≤ 8)")
    p.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK when available), cpu, cuda")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.workers is not None and args.workers < 0:
        p.error(f"--workers {args.workers}: allowed: an integer >= 0")
    try:  # everything is checked before the process group and any training
        spec_map = specs(args.profile, args.seeds)
    except ValueError as e:
        p.error(str(e))
    if args.profile == "paper":
        if resolve_root("paper", args.data) is None:
            p.error(missing_data_message("--data").replace("-p --data", "--data"))
        try:
            imagefolder.find_root(resolve_root("paper", args.data))
        except imagefolder.ImageFolderNotFoundError as e:
            p.error(str(e))
    runs = [(f"{LABELS[policy]} seed {s['seed']}", s) for policy in args.policy for s in spec_map[policy]]
    return launch.train_specs(runs, args.profile, args.device,
                              lambda spec, store: run_one(spec, args.profile, args.device, store, args.data,
                                                          args.workers, not args.no_progress, retrain=args.retrain))


__all__ = ["check_dir", "check_workers", "require_data", "preview", "POLICIES", "LABELS", "BASELINE_SOLVER", "TINY", "CHAPTER", "default_seeds", "command", "ACC_TOLERANCE", "MIN_RATIO", "RULE",
           "TEXTURES", "paper_command", "torchrun_command", "synthetic_recipe", "imagenet_recipe", "synthetic_classes",
           "synthetic_image", "synthetic_root", "write_synthetic_folder", "make_spec", "specs", "epochs",
           "steps_per_epoch", "describe_setup", "synthetic_summary", "resolve_root", "missing_data_message", "open_data", "build_model",
           "run_one", "run_variant", "verdict", "speedup_text", "summary_cells", "Study", "run_study", "stored", "paper_settings",
           "findings", "main"]


if __name__ == "__main__":  # torchrun -m superconv.studies.imagenet: nothing imports this module back
    sys.exit(main())


#: The chapter's verdict rules as data: printed before the chapter trains, quoted by the scorecard.
RULES = {"ImageNet, ResNet-50": RULE, "ImageNet, Inception-ResNet-v2": INCEPTION_RULE}

__all__ += ["RULES"]
