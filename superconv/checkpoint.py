"""Resumable checkpoints of a ``fit`` run: everything an interrupted run needs to go on to exactly
the result of an uninterrupted one (model, optimizer, History, RNG states, callbacks' states).

A checkpoint belongs to one run: it stores the run's identity (``fit``'s config record) and
refuses to resume a run that differs in any of it. Under DDP rank 0 alone writes (the other
ranks wait at a barrier) and reads, sending what it read to every rank, so no shared disk is
needed; a checkpoint can only be resumed by as many processes as wrote it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from . import distributed
from ._checks import fail
from ._io import atomic_torch_save, rng_state, set_rng_state
from .history import History

__all__ = ["FORMAT", "Checkpointer", "read_checkpoint"]

FORMAT = "superconv-checkpoint-1"


def read_checkpoint(path: Path, device) -> dict | None:
    """The checkpoint at ``path`` loaded onto ``device`` (None: no file)."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # truncated or foreign file: say which and what to do
        raise ValueError(f"checkpoint={str(path)!r} cannot be read ({type(e).__name__}: {e}); "
                         "delete it to start afresh or pass another path") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        fail("checkpoint", str(path), "a file that fit wrote, or a path without a file (to start afresh)",
             why="is not a superconv checkpoint")
    return state


class Checkpointer:
    """Saves one run every ``every`` iterations (None: only when it ends) to ``path`` (None: never)
    and resumes it from there. ``config`` is the run's identity; ``local_bn``: per-rank BatchNorm
    statistics, averaged over ranks before they are saved."""

    def __init__(self, path, every: int | None, config: dict, *, device: torch.device, rank: int, world: int,
                 local_bn: bool):
        self.path = Path(path) if path is not None else None
        self.every, self.config = every, config
        self.device, self.rank, self.world, self.local_bn = device, rank, world, local_bn

    def due(self, it: int) -> bool:
        """A checkpoint is written after iteration ``it`` (``fit`` syncs with the host there)."""
        return self.every is not None and it % self.every == 0

    def read(self) -> dict | None:
        """The saved state (None: no path or no file). Under DDP every rank gets rank 0's."""
        if self.path is None:
            return None
        if self.world > 1:
            return distributed.from_main(lambda: read_checkpoint(self.path, "cpu"))
        return read_checkpoint(self.path, self.device)

    def resume(self, state: dict, model: nn.Module, optimizer, callbacks) -> History:
        """Load ``state`` into the model, the optimizer, the RNG and ``callbacks``; its History."""
        saved = state["config"]
        diff = sorted(k for k in set(saved) | set(self.config) if saved.get(k) != self.config.get(k))
        if diff:
            raise ValueError(f"checkpoint={str(self.path)!r} was written by a different run (differs in: "
                             f"{', '.join(diff)}); delete it or pass another path")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        callbacks.load_state_dicts(state.get("callbacks", []))
        return History.from_dict(state["history"])

    def save(self, model: nn.Module, optimizer, history: History, callbacks, finished: bool) -> None:
        """Write the run's state (rank 0); every rank returns once the file is complete."""
        if self.path is None:
            return
        if self.local_bn:
            distributed.average_bn_stats(model)
        if self.rank == 0:
            atomic_torch_save(dict(
                format=FORMAT, config=self.config, finished=finished,
                model=model.state_dict(), optimizer=optimizer.state_dict(), history=history.to_dict(),
                rng=rng_state(), callbacks=callbacks.state_dicts(),
            ), self.path)
        distributed.barrier()  # nobody goes on (or returns) before the file is complete
