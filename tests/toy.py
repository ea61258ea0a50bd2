"""Tiny, learnable data and models shared by the training-loop tests (seconds on a CPU)."""

import torch

from superconv import data, models


def toy_split(n=256, seed=0, train=True):
    """2-class toy data: is the top half of an 8x8 image brighter than the bottom? (flip-invariant)"""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    labels = (images[..., :4, :].float().mean((1, 2, 3)) > images[..., 4:, :].float().mean((1, 2, 3))).long()
    return data.Split(images=images, labels=labels, mean=(0.5,), std=(0.29,), classes=["bottom", "top"],
                      name="toy", train=train)


def small_model(seed=0):
    torch.manual_seed(seed)
    return models.cifar_resnet(8, num_classes=2, in_channels=1, width=4)


class Interrupt(Exception):
    """Stands in for a killed process."""


class KillAt:
    """fit callback that 'kills' the run when iteration ``at`` has been trained."""

    def __init__(self, at):
        self.at = at

    def on_step(self, ctx):
        if ctx.it + 1 == self.at:
            raise Interrupt
