"""What the paper profile runs: every setting of the authors' Caffe setup, with its source file,
and whether the book's paper profile runs it yet.

Researchers rerun the paper profile to check the paper itself, so it must be what the authors
ran. Each :class:`Setting` names the spec field (or code) that holds it, the authors' value and
the file in their repositories it was read from (``lnsmith54/super-convergence`` at commit
``ecc5615``, ``lnsmith54/hyperParam1`` at ``c5dd3de``), the modern PyTorch convention a run can
switch to with that field, and the status: ``"as the authors"`` (the paper profile's default,
tested in ``tests/test_paper_setup.py``) or ``"differs"`` (with what the profile does instead).
The book page ``paper_setup.md`` is generated from :data:`SETTINGS` and :data:`LAPTOP`::

    python -m superconv.paper_setup --write paper_setup.md
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ._pages import md_table, page_main
from .conventions import GHOST_BATCH, SWITCHES

__all__ = ["REPO", "HYPER", "STATUSES", "Setting", "SETTINGS", "LAPTOP", "setting", "page_markdown", "main"]

REPO = "lnsmith54/super-convergence"
HYPER = "lnsmith54/hyperParam1"
STATUSES = ("as the authors", "differs")

@dataclass(frozen=True)
class Setting:
    item: str      # what it is, in a few words
    field: str     # where the book holds it: a spec field, or the code
    authors: str   # the authors' value
    source: str    # repository:path it was read from
    modern: str    # the PyTorch convention the field switches to
    status: str    # STATUSES
    note: str = ""  # what the paper profile does where it differs, or a detail

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r} is not allowed; allowed: {', '.join(STATUSES)}")


SETTINGS = (
    Setting("SGD update", "sgd", "Caffe's: the LR inside the momentum buffer, v = m·v + lr·(g + wd·w); w -= v "
            "(no solver `type`, so plain SGD)", f"{REPO}:clrsolver.prototxt, solver.prototxt",
            "`sgd='torch'`: v = m·v + g + wd·w; w -= lr·v", "as the authors"),
    Setting("BatchNorm batch", "ghost_batch", f"each GPU's {GHOST_BATCH} images of the 1,000 (8 GPUs; the test "
            "net on the root GPU keeps its own moving averages)",
            f"{REPO}:architectures/Resnet56Cifar.prototxt (batch_size: 125), train.sh (--gpu=all), "
            "Results/lr35Fig1a (Using GPUs 0, …, 7)", "`ghost_batch=None`: statistics over the whole batch",
            "as the authors", "superconv.ghost_bn: the moving averages follow the first slice, as on the root GPU; "
            "chapter 8's batches 256 / 512 / 1,536 normalise 32 / 64 / 192 images, as x.sh's FIG10a runs"),
    Setting("Architecture", "model", "their ResNet-56: the first block of stages 2 and 3 computes at the old "
            "width, shortcut a 3×3 stride-2 average pool, zero channels concatenated after it; 808,682 "
            "parameters", f"{REPO}:architectures/Resnet56Cifar.prototxt", "`model='resnet56'`: He et al.'s "
            "option A (853,018 parameters)", "as the authors", "model `caffe_resnet56` (superconv.caffe_resnet)"),
    Setting("Convolution biases", "model", "every convolution has a bias, `lr_mult: 2`, `decay_mult: 0`; "
            "BN's Scale and the classifier at Caffe's defaults (classifier bias `lr_mult: 2`)",
            f"{REPO}:architectures/Resnet56Cifar.prototxt", "`model='resnet56'`: no biases, one LR and WD",
            "as the authors", "`caffe_resnet.CaffeResNet.caffe_multipliers` → `optim.param_groups`"),
    Setting("ResNet-110 batch", "batch_size, ghost_batch", "total batch 800 = 8 GPUs × 100 (`x.sh` rewrites "
            "125 → 100), test 200 × 100", f"{REPO}:x.sh (FIG4b, FIG6b), Results/lr35Res110Fig6b",
            "any `batch_size`", "as the authors", "chapter 7's paper runs of ResNet-110 (conventions.DEPTH_BATCHES)"),
    Setting("BN moving-average fraction", "bn_momentum", "0.95 for the CLR/1cycle runs (`x.sh`: sed "
            "0.999 → 0.95), 0.999 for PC-LR", f"{REPO}:x.sh, Results/clr3SS5kFig1a, Results/lr35Fig1a",
            "`bn_momentum=None`: PyTorch's 0.1", "as the authors",
            "bn_momentum = 1 − fraction; Caffe also divides its sums by a decaying count (an unbiased start), "
            "which the book does not model"),
    Setting("Input scaling", "input_norm", "the mean image subtracted, pixels kept on the 0–255 scale "
            "(`mean_file`, no `scale`); a mirrored image has the mirrored mean subtracted",
            f"{REPO}:architectures/Resnet56Cifar.prototxt", "`input_norm=None`: per-channel standardisation",
            "as the authors", "the mean image of the full training split (data.load)"),
    Setting("Data order", "data_order", "Caffe's Data layer reads the LMDB in file order every epoch "
            "(its `image_data_param { shuffle: true }` is read only by the ImageData layer), dealing "
            "each batch's images to the 8 GPUs in turn", f"{REPO}:architectures/Resnet56Cifar.prototxt",
            "`data_order=None`: a new permutation each epoch", "as the authors",
            "the torchvision files' order (CIFAR's data_batch_1..5, as convert_cifar_data writes the LMDB); "
            "flips are drawn anew each epoch, as Caffe's mirror"),
    Setting("Test evaluation", "test_reads", "`test_iter: 200` × batch 125 = 25,000 images: the 10,000 test "
            "images read on in order, so the first 5,000 count three times and the rest twice "
            "(ResNet-110: 200 × 100 = 20,000)", f"{REPO}:clrsolver.prototxt, solver.prototxt, x.sh",
            "`test_reads=None`: each test image once", "as the authors",
            "evaluation.read_counts weights each image by how often it is read"),
    Setting("Arithmetic", "precision", "fp32 (Caffe's float blobs)", f"{REPO}:architectures/Resnet56Cifar.prototxt "
            "(no half-precision settings)", "bf16 autocast where the GPU supports it", "differs",
            "the paper profile trains with bf16 autocast; `precision='fp32'` in a spec is the authors' "
            "arithmetic; the CLR net's LRN is computed in fp32 either way"),
    Setting("Table 2 solvers", "nesterov, bn_momentum, ghost_batch, test_reads", "Nesterov momentum, a BN "
            "fraction of 0.9 (0.999 for DenseNet), 4 GPUs x 128, `test_iter: 200` x 32 = 6,400 test reads "
            "(the test data layer also mirrors at random)", f"{HYPER}:Cifar/1cycsolver.prototxt, "
            "Cifar/solver.prototxt, Cifar/x4.sh, Cifar/architectures/wide32cifar.prototxt, genDensenet40.prototxt",
            "plain SGD, the headline's BN fractions", "as the authors",
            "chapter 9's CIFAR rows (conventions.TABLE2); the random test-time mirror is not modelled, and a step "
            "baseline's BN window longer than its last stage is still cut to it (experiments.fresh_bn)"),
    Setting("MNIST LeNet input", "input_norm", "Caffe's `lenet_train_test.prototxt`: `scale: 0.00390625`, "
            "no mean (the authors' own MNIST files were not found)", "BVLC/caffe:examples/mnist/lenet_train_test.prototxt",
            "per-channel standardisation", "as the authors", "`input_norm='unit'` in chapter 9's LeNet rows"),
    Setting("Hessian-free estimate", "blobs (HessianFreeEstimate)", "summed over pycaffe's `net.params` (BN's "
            "mean, variance and scale-factor blobs included), |·| (an L1 form), from snapshots every iteration "
            "(Fig. 5a) or every 10th (Fig. 5b)", f"{REPO}:L2TermComputation3.py, L2TermComputation4.py",
            "`blobs='trainable'`: over the trainable parameters only", "as the authors",
            "chapter 5's paper runs open a window at every iteration (`every=1, inc=1`; `-p INC 10` for "
            "snapshots 10 apart) over Caffe's blobs (hessian.caffe_bn_blobs: BN's running sums and their "
            "count); the same-batch secant form, the book's addition, needs windows that do not overlap and "
            "runs beside it in its own every 10 iterations (record `hessian_free_secant`)"),
    Setting("CLR chapter's CIFAR-10 runs", "model, batch_size, weight_decay (clr.PAPER_NET)", "Caffe's "
            "`cifar10_full` net (5x5 convolutions, within-channel LRN, no BatchNorm; 89,578 parameters) at "
            "batch 100, CLR bounds 0.001–0.006, stepsize 2,000, WD 0.004, the baseline 0.001 divided by 10 at "
            "60k and 65k of 70k iterations", "BVLC/caffe:examples/cifar10/cifar10_full_train_test.prototxt, "
            "cifar10_full_solver*.prototxt (not in the authors' repositories); CLR paper Table 1",
            "any model and solver of the profile", "as the authors",
            "superconv.cifar10_full; 6 whole cycles (24k iterations) where Table 1's triangular2 ran 25k "
            "in three stages of shrinking bounds"),
)

#: Where the laptop profile deliberately differs from the authors, and why.
LAPTOP = (
    ("data and net", "Fashion-MNIST 10k, ResNet-8 width 16, batch 128",
     "the paper's 10k iterations of 1,000 CIFAR-10 images through ResNet-56 do not fit a classroom's "
     "minutes on a laptop CPU; Debian packages Fashion-MNIST, so it is there without internet"),
    ("BatchNorm statistics", "recomputed before every evaluation (precise BN) for both policies",
     "the runs are far shorter than the authors', so PC-LR's 0.999 window (about 1,000 iterations) would "
     "outlast its last LR stage (experiments.stale_bn)"),
    ("SGD update, architecture", "PyTorch's SGD, He et al.'s option-A ResNet",
     "what a reader's own PyTorch code runs; the paper profile is the place for Caffe's conventions"),
    ("bounds, weight decay, base LR", "chosen by the book's range test and a validation holdout",
     "the method applied to this dataset, never the paper's numbers typed in"),
)


def setting(item: str) -> Setting:
    """The :class:`Setting` named ``item``."""
    for s in SETTINGS:
        if s.item == item:
            return s
    raise ValueError(f"item={item!r} is not a setting; allowed: {', '.join(repr(s.item) for s in SETTINGS)}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def page_markdown() -> str:
    """The book page: every setting with its source and status, then the laptop's differences."""
    done = sum(s.status == "as the authors" for s in SETTINGS)
    lines = ["# What the paper profile runs", "",
             "The paper profile (`-p PROFILE paper`) is meant to be the authors' own setup, so that a rerun "
             "on a GPU checks the paper itself. Each row is one setting as read in the authors' files "
             f"(`{REPO}` at commit `ecc5615`, `{HYPER}` at `c5dd3de`), the field that holds it, the modern "
             "convention that field can switch to, and whether the paper profile runs the authors' value. "
             f"{done} of {len(SETTINGS)} settings are the authors'; the others are listed as they are, not "
             "hidden. Every paper-profile run takes them from the profile (`experiments.BASE`), chapter 2's "
             "range tests and chapter 5's estimate included, and `tests/test_paper_cpu.py` trains each "
             "study's paper spec for 2 iterations on the CPU. To run some settings in PyTorch's convention "
             "instead, name them in a chapter's `MODERN` parameter, e.g. `papermill chapters/03_one_cycle.ipynb "
             "out.ipynb -p PROFILE paper -p DEVICE cuda -y '{\"MODERN\": [\"sgd\", \"ghost_batch\"]}'` "
             f"(or `$SUPERCONV_MODERN=sgd,ghost_batch`); the names are {', '.join(f'`{n}`' for n in SWITCHES)}, "
             "and the runs are stored under their own keys. Generated from `superconv/paper_setup.py` (`python -m superconv.paper_setup --write "
             "paper_setup.md`).", ""]
    lines += md_table(["setting", "the authors'", "source", "field", "modern alternative", "paper profile"],
                      [[_cell(s.item), _cell(s.authors), _cell(s.source), f"`{s.field}`", _cell(s.modern),
                        _cell(s.status + (f": {s.note}" if s.note else ""))] for s in SETTINGS])
    lines += ["## Where the laptop profile differs on purpose", ""]
    lines += md_table(["what", "the laptop profile", "why"], [[_cell(x) for x in row] for row in LAPTOP])
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    page_main("python -m superconv.paper_setup", "Print (or write) the book page of the paper profile's settings.",
              page_markdown, argv)


if __name__ == "__main__":
    main()
