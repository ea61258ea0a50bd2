"""The authors' setup as the numbers that shape the paper profile's run specs, and the switches
back to PyTorch's conventions.

Read in the authors' files (which, and the settings they belong to: :mod:`superconv.paper_setup`
and its page ``paper_setup.md``). ``experiments`` and the studies build the paper profile's specs
from these; a run's spec, and so its key in the results store, records the outcome.
"""

from __future__ import annotations

__all__ = ["GPUS", "GHOST_BATCH", "TABLE2", "DEPTH_BATCHES", "SWITCHES", "modern"]

#: GPUs of the authors' runs, and the images on each (8 x 125 = batch 1,000): BatchNorm's statistics.
GPUS = 8
GHOST_BATCH = 125
#: The 1cycle table's CIFAR runs (hyperParam1's ``Cifar/x4.sh``: "4 GPUS", batch 4 x 128 = 512): their
#: solvers' Nesterov momentum, their nets' BN moving-average fractions (DenseNet's 0.999, the
#: others 0.9), 4 GPUs, and ``test_iter: 200`` x test batch 32 = 6,400 test reads.
TABLE2 = dict(gpus=4, nesterov=True, bn_fraction=0.9, densenet_bn_fraction=0.999, test_reads=6_400)

#: Depths the authors ran at another batch: ``{depth: spec fields}`` (``x.sh`` rewrites 125 -> 100
#: for ResNet-110, in the data layers and so in the test too: 200 x 100 test reads).
DEPTH_BATCHES = {110: dict(batch_size=800, ghost_batch=100, test_reads=20_000)}


#: The settings a paper-profile run can switch to PyTorch's convention, by name (a notebook's
#: ``MODERN`` parameter, ``$SUPERCONV_MODERN``): the spec field and its modern value (None: the
#: field left out, the plain default; ``model``: He et al.'s option-A ResNet of the same depth;
#: ``blobs``: the Hessian-free study's estimate, which its own spec holds).
SWITCHES = {"sgd": "torch", "ghost_batch": None, "model": "resnet", "input_norm": None, "data_order": None,
            "test_reads": None, "blobs": None}  # blobs: chapter 5's estimate over the trainable parameters only


def modern(spec: dict, names) -> dict:
    """A copy of ``spec`` with the settings ``names`` (of :data:`SWITCHES`) in PyTorch's
    convention instead of the authors'; names a spec does not use change nothing."""
    out = dict(spec)
    for name in names:
        if name not in SWITCHES:
            raise ValueError(f"{name!r} is not a setting that switches; allowed: {', '.join(map(repr, SWITCHES))}")
        if name == "model":
            out["model"] = out["model"].replace("caffe_resnet", "resnet")
        elif SWITCHES[name] is None:
            out.pop(name, None)
        else:
            out[name] = SWITCHES[name]
    return out
