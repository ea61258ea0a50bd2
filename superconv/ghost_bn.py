"""Ghost batch normalization: BatchNorm over fixed-size slices of the batch, as on several GPUs.

The authors trained on 8 GPUs, 125 images each (100 for ResNet-110), and Caffe's BatchNorm
normalised each GPU's images by their own statistics. One GPU at batch 1000 would normalise over
all 1000: a different, less noisy regulariser. :class:`GhostBatchNorm2d` normalises every slice
of ``ghost_batch`` consecutive images with that slice's mean and variance, so a run on any number
of devices sees the statistics the authors' GPUs saw.

The moving averages (what evaluation uses) are updated from the *first* slice only: in Caffe's
multi-GPU training the test net lives on the root GPU, whose BatchNorm blobs only ever saw its
own slice. :func:`use_ghost_batches` swaps every ``BatchNorm2d`` of a model in place.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _checks

__all__ = ["GhostBatchNorm2d", "use_ghost_batches"]


class GhostBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics are those of each slice of ``ghost_batch``
    images (the last slice may be smaller); in eval mode it is plain ``BatchNorm2d``."""

    def __init__(self, num_features: int, ghost_batch: int, **kwargs):
        super().__init__(num_features, **kwargs)
        self.ghost_batch = _checks.positive_int("ghost_batch", ghost_batch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or x.shape[0] <= self.ghost_batch:
            return super().forward(x)
        first, rest = x[:self.ghost_batch], x[self.ghost_batch:]
        momentum = 0.0
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            # as nn.BatchNorm2d: momentum None is a cumulative average (precise BN recomputes so)
            momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        # the first slice updates the moving averages (the root GPU's); the others only normalise
        out = [F.batch_norm(first, self.running_mean, self.running_var, self.weight, self.bias, True,
                            momentum, self.eps)]
        out += [F.batch_norm(s, None, None, self.weight, self.bias, True, 0.0, self.eps)
                for s in rest.split(self.ghost_batch)]
        return torch.cat(out)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", ghost_batch={self.ghost_batch}"


def use_ghost_batches(model: nn.Module, ghost_batch: int) -> nn.Module:
    """Replace every ``BatchNorm2d`` of ``model`` (in place) by a :class:`GhostBatchNorm2d` with
    the same parameters, buffers and settings (one that is already ghost takes the new
    ``ghost_batch``); returns ``model``."""
    _checks.positive_int("ghost_batch", ghost_batch)
    for name, child in model.named_children():
        if isinstance(child, GhostBatchNorm2d):
            child.ghost_batch = ghost_batch
        elif isinstance(child, nn.BatchNorm2d):
            ghost = GhostBatchNorm2d(child.num_features, ghost_batch, eps=child.eps, momentum=child.momentum,
                                     affine=child.affine, track_running_stats=child.track_running_stats)
            tensors = list(child.parameters()) + list(child.buffers())
            if tensors:
                ghost.to(tensors[0].device)
            ghost.load_state_dict(child.state_dict())
            ghost.train(child.training)
            setattr(model, name, ghost)
        else:
            use_ghost_batches(child, ghost_batch)
    return model
