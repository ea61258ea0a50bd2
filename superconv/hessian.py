"""The simplified Hessian-free optimal-LR estimate, and a power-iteration curvature cross-check.

Super-Convergence (Smith & Topin, arXiv 1708.07120), §4.1 "simplified Hessian-free
optimization", estimates the learning rate that would be optimal along the path SGD takes
from a secant (AdaSecant-style) approximation of the curvature (``shared/paper/FACTS.md`` §5):

* Secant, per weight: ``eps* ≈ (θ_{i+1} - θ_i) / (∇f(θ_{i+1}) - ∇f(θ_i))``.
* With plain SGD, ``θ_{i+1} = θ_i - eps·∇f(θ_i)``, the gradient difference can be read off three
  consecutive snapshots, ``∇f(θ_{i+1}) - ∇f(θ_i) = (2θ_{i+1} - θ_i - θ_{i+2}) / eps``, so no
  gradient has to be computed at all.
* The authors' script (``L2TermComputation3/4.py``) reduces this to one number over *all*
  parameters (weights and biases), from snapshots ``inc`` iterations apart (1 or 10)::

      eps* = eps · Σ|θ2 - θ1| / Σ|2θ2 - θ1 - θ3|          eps = the LR of the run

  and smooths it, ``m ← 0.9·m + 0.1·eps*`` starting at ``m = 0.1``. It ignores momentum (0.9)
  and weight decay.
* What the paper reports (second-hand, FACTS §5): on ResNet-56/CIFAR-10, with the LR rising
  0.1 → 3 over 5k iterations, the estimate lies around 2–6 during the first ~300 iterations, i.e.
  large LRs are "optimal" ⇒ small curvature ⇒ flat, wide minima.

This module computes that estimate and a sounder variant of it:

**Snapshot form** (the paper's, ``eps_star``). Exact for plain SGD on a quadratic, where it
equals ``Σ|d| / Σ|(A + wd·I)·d|`` for the step ``d = θ2 - θ1`` (for ``A = a·I``: ``1/a``). In
real training it has two approximations: (1) the two gradients come from *different*
mini-batches (``B_k`` at θ1, ``B_{k+1}`` at θ2), so the denominator also contains the gradient
noise between batches, which biases the estimate low; (2) with momentum the snapshot
differences are velocity differences, not LR-scaled gradient differences; only in a steady state
(``v ≈ -eps·g/(1-μ)``) do the ``1/(1-μ)`` factors cancel. Treat it as the paper's heuristic.

**Secant form** (``secant``): ``Σ|Δθ| / Σ|Δg|`` with ``Δθ = θ_{k+1} - θ_k`` the step the
optimizer actually took and ``Δg = ∇f_B(θ_{k+1}) - ∇f_B(θ_k)`` both on the *same* batch ``B =
B_k``; ``∇f_B`` includes the optimizer's coupled L2 term ``wd·θ`` (so ``Δg`` gets ``wd·Δθ``),
which makes it the curvature of the objective SGD minimizes. The first gradient is the one the
training step used; the second costs one extra forward/backward. It holds for any update rule
(momentum, weight decay, either SGD convention) and has no batch-to-batch noise: it is the
inverse curvature of ``f_B`` along the step, in the L1 sense. On a quadratic it equals the
snapshot form.

**LR used**, ``eps``: the mean LR of the ``inc`` batches that lead from θ1 to θ2 (for ``inc =
1``, the LR of the one batch trained at θ1). The authors' script used the (constant or
scheduled) LR of the run; with an LR schedule the LR of the second interval differs by a
relative ``O(Δlr/lr)``, negligible next to the batch noise for the schedules in this book
(0.1 → 3 over 5k iterations: < 1 %).

**Per layer**: the same ratios with the sums restricted to one group of parameters;
``group="module"`` (default) groups the tensors of a module (a conv's weight and bias, a BN's
weight and bias), named by the module path (``"layer1.0.conv1"``); ``group="tensor"`` keeps
every parameter tensor apart (``"layer1.0.conv1.weight"``).

**Cross-check** (none of the public tools does it): :func:`top_eigenvalue` finds the largest
Hessian eigenvalue ``λ_max`` by power iteration with Hessian-vector products (as PyHessian does);
:func:`curvature_bounds` gives ``1/λ_max`` (the optimal LR along the sharpest direction) and the
gradient-descent stability bound ``2/λ_max``. A secant estimate along the actual step is an
inverse curvature along a direction mixed from many eigen-directions, so it is typically larger
than ``1/λ_max``.

Public API:

* :class:`HessianFreeEstimate` -- a ``train.fit`` callback (online, no host sync per step).
* :func:`estimate_from_snapshots`, :func:`secant_estimate`, :func:`snapshot` -- pure functions
  for any training loop.
* :func:`top_eigenvalue`, :func:`curvature_bounds` -- the curvature cross-check.
"""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _checks
from ._io import rng_state, set_rng_state

__all__ = [
    "BLOBS",
    "Estimate",
    "HessianFreeEstimate",
    "caffe_bn_blobs",
    "curvature_bounds",
    "estimate_from_snapshots",
    "secant_estimate",
    "snapshot",
    "top_eigenvalue",
]

GROUPS = ("module", "tensor")
#: What the snapshot form sums over: the trainable parameters, or everything pycaffe's
#: ``net.params`` holds, which the authors' script summed -- the trainable parameters plus each
#: BatchNorm layer's three blobs (:func:`caffe_bn_blobs`).
BLOBS = ("trainable", "caffe")
BN_MODES = ("train", "eval")
_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


# ----------------------------------------------------------------------------- helpers

def caffe_bn_blobs(model: nn.Module) -> Tuple[List[str], List[torch.Tensor]]:
    """Each BatchNorm layer's statistics as Caffe stores them in its three blobs: the sums
    ``acc_mean``, ``acc_var`` and the count ``scale`` that Caffe divides them by (``acc ← f·acc +
    batch``, ``scale ← f·scale + 1``, f the moving-average fraction), recovered from PyTorch's
    moving averages (momentum ``m = 1 - f``, ``k`` updates from mean 0, variance 1):
    ``scale = (1 - f^k) / m``, ``acc_mean = running_mean / m``, ``acc_var = (running_var - f^k) / m``.
    New tensors (names ``"<module>.caffe_mean"`` etc.); layers without moving averages are skipped."""
    names, tensors = [], []
    for name, m in model.named_modules():
        if not isinstance(m, nn.modules.batchnorm._BatchNorm) or not m.track_running_stats or m.momentum is None:
            continue
        mom = float(m.momentum)
        decay = (1.0 - mom) ** int(m.num_batches_tracked)
        acc = m.running_mean.dtype
        names += [f"{name}.caffe_mean", f"{name}.caffe_var", f"{name}.caffe_scale"]
        tensors += [m.running_mean / mom, (m.running_var - decay) / mom,
                    torch.full((1,), (1.0 - decay) / mom, dtype=acc, device=m.running_mean.device)]
    return names, tensors


def _acc_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def _l1(tensors: List[torch.Tensor]) -> torch.Tensor:
    """Per-tensor L1 norms as one 1-D tensor (one multi-tensor kernel where supported)."""
    if not tensors:
        return torch.zeros(0)
    acc = _acc_dtype(tensors[0].device)
    norms = torch._foreach_norm(tensors, 1)
    if len({n.dtype for n in norms}) == 1:
        return torch.stack(norms).to(acc)
    return torch.stack([n.to(acc) for n in norms])


def _group_name(name: str, group: str) -> str:
    if group == "tensor":
        return name
    head, dot, _ = name.rpartition(".")
    return head if dot else name


def _grouping(names: Sequence[str], group: str) -> Tuple[List[str], List[int]]:
    """Group names in first-seen order, and the group index of every tensor."""
    order: Dict[str, int] = {}
    index = []
    for n in names:
        index.append(order.setdefault(_group_name(n, group), len(order)))
    return list(order), index


def _group_sums(values: torch.Tensor, index: torch.Tensor, n_groups: int) -> torch.Tensor:
    return torch.zeros(n_groups, dtype=values.dtype, device=values.device).index_add_(0, index, values)


def _named(obj, what: str) -> Tuple[List[str], List[torch.Tensor]]:
    """Names and tensors of a snapshot: a dict (``named_parameters`` / ``state_dict``), a module,
    or a sequence of tensors (named ``"0"``, ``"1"``, ...). From a dict, integer tensors and BN
    running statistics are dropped: they are buffers, not parameters."""
    if isinstance(obj, nn.Module):
        items = [(n, p.detach()) for n, p in obj.named_parameters() if p.requires_grad]
    elif isinstance(obj, dict):
        items = [(n, t.detach()) for n, t in obj.items()
                 if torch.is_tensor(t) and t.is_floating_point() and not n.endswith(_BUFFER_SUFFIXES)]
    elif isinstance(obj, (list, tuple)):
        if not all(torch.is_tensor(t) for t in obj):
            raise ValueError(f"{what} must be a dict of tensors, a module or a sequence of tensors")
        items = [(str(i), t.detach()) for i, t in enumerate(obj)]
    else:
        raise ValueError(f"{what} must be a dict of tensors, a module or a sequence of tensors, "
                         f"got {type(obj).__name__}")
    if not items:
        raise ValueError(f"{what} holds no floating-point parameter tensors")
    return [n for n, _ in items], [t for _, t in items]


def _matching(what: Sequence[str], objs: Sequence) -> Tuple[List[str], List[List[torch.Tensor]]]:
    names, first = _named(objs[0], what[0])
    out = [first]
    for w, o in zip(what[1:], objs[1:]):
        n, t = _named(o, w)
        if n != names or any(a.shape != b.shape for a, b in zip(first, t)):
            raise ValueError(f"{w} does not have the same parameter names and shapes as {what[0]}")
        out.append(t)
    return names, out


class Estimate(NamedTuple):
    """A global estimate and the same ratio per layer (``{group name: value}``)."""

    value: float
    per_layer: Dict[str, float]


def _ratio(num: torch.Tensor, den: torch.Tensor, names: Sequence[str], group: str,
           scale: float = 1.0) -> Estimate:
    groups, index = _grouping(names, group)
    idx = torch.tensor(index, device=num.device)
    g_num, g_den = _group_sums(num, idx, len(groups)), _group_sums(den, idx, len(groups))
    value = (scale * num.sum() / den.sum()).item()
    per = (scale * g_num / g_den).tolist()
    return Estimate(value, dict(zip(groups, per)))


def snapshot(model: nn.Module) -> Dict[str, torch.Tensor]:
    """Detached copies of the trainable parameters, ``{name: tensor}`` (what the pure functions take)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


# ----------------------------------------------------------------------------- pure functions

@torch.no_grad()
def estimate_from_snapshots(theta1, theta2, theta3, lr: float, group: str = "module") -> Estimate:
    """The paper's estimate from three snapshots (Super-Convergence §4.1; FACTS §5)::

        eps* = lr · Σ|θ2 - θ1| / Σ|2θ2 - θ1 - θ3|

    over all parameters (``value``) and per layer (``per_layer``, grouped by ``group``:
    ``"module"`` or ``"tensor"``). ``theta*`` are dicts ``{name: tensor}`` (``snapshot(model)``,
    ``named_parameters()``, or a ``state_dict()``, whose BN running statistics and integer
    buffers are dropped), modules, or sequences of tensors; ``lr`` is the LR of the steps from
    θ1 to θ2 (θ2 to θ3 should use the same, as in plain SGD). Exact for plain SGD on a
    quadratic ``½θᵀAθ``: ``Σ|d| / Σ|A·d|`` with ``d = θ2 - θ1``. Returns ``nan`` (0/0) where the
    parameters did not move.
    """
    lr = _checks.real("lr", lr, "a finite number >= 0", lambda v: v >= 0)
    group = _checks.choice("group", group, GROUPS)
    names, (t1, t2, t3) = _matching(("theta1", "theta2", "theta3"), (theta1, theta2, theta3))
    d1 = torch._foreach_sub(t2, t1)
    num = _l1(d1)
    curv = torch._foreach_sub(d1, torch._foreach_sub(t3, t2))  # (θ2-θ1) - (θ3-θ2) = 2θ2-θ1-θ3
    return _ratio(num, _l1(curv), names, group, scale=lr)


@torch.no_grad()
def secant_estimate(theta_a, theta_b, grad_a, grad_b, weight_decay: float = 0.0,
                    group: str = "module") -> Estimate:
    """The direct secant estimate ``Σ|Δθ| / Σ|Δg|`` (Super-Convergence §4.1; FACTS §5).

    ``Δθ = θ_b - θ_a`` and ``Δg = g_b - g_a + weight_decay·Δθ``, where ``g_a``, ``g_b`` are the
    gradients of the *same* mini-batch loss at ``θ_a`` and ``θ_b`` (``weight_decay``: the
    optimizer's coupled L2 coefficient, if the gradients do not already include it). Valid for
    any update rule (momentum, weight decay). Arguments are dicts, modules or sequences, as in
    :func:`estimate_from_snapshots`; the gradients must have the same names and shapes.
    """
    weight_decay = _checks.real("weight_decay", weight_decay, "a finite number >= 0", lambda v: v >= 0)
    group = _checks.choice("group", group, GROUPS)
    names, (ta, tb, ga, gb) = _matching(("theta_a", "theta_b", "grad_a", "grad_b"),
                                        (theta_a, theta_b, grad_a, grad_b))
    dtheta = torch._foreach_sub(tb, ta)
    dg = torch._foreach_sub(gb, ga)
    if weight_decay:
        torch._foreach_add_(dg, dtheta, alpha=weight_decay)
    return _ratio(_l1(dtheta), _l1(dg), names, group)


class _Preserved:
    """Saves and restores what a forward pass may change: buffers (BN running statistics and
    ``num_batches_tracked``), the RNG states and every module's train/eval flag."""

    def __init__(self, model: nn.Module, device: torch.device):
        self.model, self.device = model, device

    def __enter__(self):
        self.buffers = [b for b in self.model.buffers()]
        self.saved = [b.clone() for b in self.buffers]
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.rng = rng_state(self.device)
        return self

    def __exit__(self, *exc):
        with torch.no_grad():
            for b, s in zip(self.buffers, self.saved):
                b.copy_(s)
        for m, flag in self.flags:
            m.training = flag
        set_rng_state(self.rng, self.device)
        return False


def _default_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y)


# ----------------------------------------------------------------------------- the callback

class HessianFreeEstimate:
    """The simplified Hessian-free optimal-LR estimate as a ``train.fit`` callback.

    Super-Convergence §4.1 / FACTS §5; formulas and the two forms in the module docstring.
    Every ``every`` iterations, at ``k = every, 2·every, ...`` completed iterations, it takes the
    snapshots ``θ1 = θ_k``, ``θ2 = θ_{k+inc}``, ``θ3 = θ_{k+2·inc}`` (``θ_k``: the parameters
    after ``k`` steps) and records

    * ``eps_star``: ``eps · Σ|θ2 - θ1| / Σ|2θ2 - θ1 - θ3|`` over all parameters, ``eps`` = the
      mean LR of batches ``k .. k+inc-1`` (the steps θ1 → θ2);
    * ``eps_smoothed``: ``m ← smoothing·m + (1 - smoothing)·eps*`` from ``m = init``
      (paper: 0.9 and 0.1); a non-finite ``eps*`` leaves ``m`` unchanged;
    * ``secant`` (``secant=True``): ``Σ|θ_{k+1} - θ_k| / Σ|∇f_B(θ_{k+1}) - ∇f_B(θ_k) + wd·Δθ|``
      with ``B`` the batch of iteration ``k``, ``wd`` each parameter's weight decay in the
      optimizer. One extra forward/backward per window, with ``ctx.loss_fn`` (the run's
      precision); BN buffers, RNG states and ``.grad`` are left exactly as they were, and the
      RNG state is rewound to what the training forward of batch ``k`` saw, so a dropout net
      gets the same masks (if nothing else draws from the global RNG between the steps);
    * ``per_layer`` / ``per_layer_secant`` (``per_layer=True``): the same ratios per ``group``.

    ``every`` < 2·``inc`` (``secant=False``): the windows overlap, e.g. ``every=1, inc=1`` opens one
    at every iteration, as the authors' Fig. 5a script did; the snapshots they need are kept (2·inc
    / every + 1 copies of the parameters at most).

    ``blobs="caffe"`` sums the snapshot form over what the authors' script summed, pycaffe's
    ``net.params``: the trainable parameters and every BatchNorm layer's three blobs, the running
    sums and their count (:func:`caffe_bn_blobs`); the secant form stays on the trainable ones.

    The record, ``history.extra[name]`` (default ``"hessian_free"``), is a dict of lists, one
    entry per completed window: ``iteration`` (``k``), ``lr`` (``eps``), ``eps_star``,
    ``eps_smoothed``, ``secant``, and ``per_layer`` / ``per_layer_secant`` ``{group: list}``.
    Values stay on the device until the next ``on_log``/``on_end`` (no host sync per step).
    A window that the run does not complete is not recorded. ``state_dict`` carries the pending
    window (a copy of the parameters) and unsynced values, so a checkpointed run resumes
    exactly. ``on_end`` resets the object (the smoothed value restarts at ``init``), so one
    instance can serve several runs in turn. Memory: one copy of the parameters. Cost: three multi-tensor passes over the
    parameters per window, plus one forward/backward if ``secant``.
    """

    def __init__(self, every: int = 10, inc: int = 1, smoothing: float = 0.9, init: float = 0.1,
                 per_layer: bool = True, secant: bool = True, group: str = "module",
                 name: str = "hessian_free", blobs: str = "trainable"):
        self.every = _checks.positive_int("every", every)
        self.inc = _checks.positive_int("inc", inc)
        self.secant = _checks.boolean("secant", secant)
        if every < 2 * inc and self.secant:
            raise ValueError(f"every={every} < 2*inc={2 * inc} makes the windows overlap, which the secant form "
                             "cannot follow; allowed: secant=False, or every >= 2*inc")
        self.smoothing = _checks.real("smoothing", smoothing, "0 <= smoothing < 1", lambda v: 0 <= v < 1)
        self.init = _checks.real("init", init, "a finite number", lambda v: True)
        self.per_layer = _checks.boolean("per_layer", per_layer)
        self.group = _checks.choice("group", group, GROUPS)
        self.blobs = _checks.choice("blobs", blobs, BLOBS)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name={name!r} must be a non-empty string (the key in history.extra)")
        self.name = name
        self._own = SimpleNamespace(extra={})  # what observe() estimated: results() reads it
        self._reset()

    def _reset(self) -> None:
        self._start: Optional[int] = None     # k of the open window
        self._lr_sum = 0.0
        self._buf: Optional[List[torch.Tensor]] = None  # θ1, then θ1 - 2θ2
        self._s1: Optional[torch.Tensor] = None         # per-tensor Σ|θ2 - θ1|
        self._sec: Optional[torch.Tensor] = None        # per-tensor (Σ|Δθ|, Σ|Δg|), 2 x P
        self._rng: Optional[dict] = None                # RNG state before the forward of batch k
        self._m: Optional[torch.Tensor] = None          # smoothed estimate (device scalar)
        self._pending: List[Tuple[int, float, torch.Tensor]] = []
        self._ring: Dict[int, List[torch.Tensor]] = {}  # overlapping windows: θ_j of the iterations needed
        self._lrs: Dict[int, float] = {}                # and the LR of each step j -> j + 1
        self._names: Optional[List[str]] = None
        self._n_params = 0                              # trainable tensors; blobs follow them
        self._index: Optional[torch.Tensor] = None
        self._groups: Optional[List[str]] = None

    # -- setup
    def _params(self, model: nn.Module) -> List[torch.Tensor]:
        """The tensors the snapshot form sums over: the trainable parameters (the first
        ``_n_params``), then, with ``blobs="caffe"``, the BatchNorm blobs (:func:`caffe_bn_blobs`)."""
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self._n_params = len(named)
        if self.blobs == "caffe":
            blob_names, blobs = caffe_bn_blobs(model)
            named += list(zip(blob_names, blobs))
        if self._names is None:
            self._names = [n for n, _ in named]
        elif len(named) != len(self._names):
            raise ValueError(f"{type(self).__name__}: the model has {len(named)} tensors to sum over, "
                             f"the estimate was started with {len(self._names)}")
        params = [p for _, p in named]
        dev = params[0].device
        if self._index is None or self._index.device != dev:
            self._groups, index = _grouping(self._names, self.group)
            self._index = torch.tensor(index, device=dev)
        if self._m is None:
            self._m = torch.tensor(self.init, dtype=_acc_dtype(dev), device=dev)
        elif self._m.device != dev:
            self._m = self._m.to(dev)
        if self._buf is not None and self._buf[0].device != dev:
            self._buf = [b.to(dev) for b in self._buf]
        return params

    # -- the protocol
    @torch.no_grad()
    def on_step(self, ctx) -> None:
        done = ctx.it + 1  # completed iterations: the parameters are θ_done
        if self.every < 2 * self.inc:
            return self._overlapping_step(ctx, done)
        k = self._start
        if k is not None and not k < done <= k + 2 * self.inc:
            self._start = k = None  # a window left open by another run or loop: drop it
        if k is None and done % self.every:
            return
        params = self._params(ctx.model)
        if k is not None:
            if k < done <= k + self.inc:
                self._lr_sum += float(ctx.lr)
            if self.secant and done == k + 1:
                self._secant_sums(ctx, params[:self._n_params])  # gradients: the trainable ones only
            if done == k + self.inc:
                torch._foreach_sub_(self._buf, params)        # θ1 - θ2
                self._s1 = _l1(self._buf)
                torch._foreach_sub_(self._buf, params)        # θ1 - 2θ2
            if done == k + 2 * self.inc:
                torch._foreach_add_(self._buf, params)        # θ1 - 2θ2 + θ3
                self._finish(k, _l1(self._buf))
        if self._start is None and done % self.every == 0:
            if self._buf is None:
                self._buf = [p.detach().clone() for p in params]
            else:
                torch._foreach_copy_(self._buf, [p.detach() for p in params])
            self._start, self._lr_sum, self._s1, self._sec = done, 0.0, None, None
            self._rng = rng_state(params[0].device) if self.secant else None

    def _secant_sums(self, ctx, params: List[torch.Tensor]) -> None:
        model, dev = ctx.model, params[0].device
        dtheta = torch._foreach_sub([p.detach() for p in params], self._buf[:len(params)])
        g1 = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        loss_fn = ctx.loss_fn or _default_loss
        with _Preserved(model, dev):
            if self._rng is not None:
                set_rng_state(self._rng, dev)  # the dropout masks of the training forward
            with torch.enable_grad():
                loss = loss_fn(model, ctx.x, ctx.y)
                g2 = torch.autograd.grad(loss, params, allow_unused=True)
        dg = [b if b is not None else torch.zeros_like(p) for b, p in zip(g2, params)]
        torch._foreach_sub_(dg, g1)
        wd = _weight_decays(ctx.optimizer, params)
        if any(wd):
            torch._foreach_add_(dg, torch._foreach_mul(dtheta, wd))
        self._sec = torch.stack([_l1(dtheta), _l1(dg)])

    def _needed(self, j: int) -> bool:
        """Whether θ_j is a snapshot of some window ``k = every, 2·every, ...`` (k, k+inc, k+2·inc)."""
        return any(j - d >= self.every and (j - d) % self.every == 0 for d in (0, self.inc, 2 * self.inc))

    def _overlapping_step(self, ctx, done: int) -> None:
        """Windows that start every ``every`` < 2·``inc`` iterations and so overlap (the authors'
        Fig. 5a: a window at every iteration): the snapshots they need are kept in a ring."""
        self._lrs[done - 1] = float(ctx.lr)
        if not self._needed(done):
            return
        params = self._params(ctx.model)
        self._ring[done] = [p.detach().clone() for p in params]
        k = done - 2 * self.inc
        if k >= self.every and k % self.every == 0 and k in self._ring and k + self.inc in self._ring:
            t1, t2, t3 = self._ring[k], self._ring[k + self.inc], self._ring[done]
            s1 = _l1(torch._foreach_sub(t2, t1))
            d = torch._foreach_mul(t2, 2.0)
            torch._foreach_sub_(d, t1)
            torch._foreach_sub_(d, t3)
            lrs = [self._lrs.get(j) for j in range(k, k + self.inc)]
            if None not in lrs:  # all steps of the window seen (not a window cut by a resume)
                self._lr_sum, self._s1 = sum(lrs), s1
                self._finish(k, _l1(d))
        oldest = done - 2 * self.inc  # no window that is still open needs anything older
        for j in [j for j in self._ring if j < oldest]:
            del self._ring[j]
        for j in [j for j in self._lrs if j < oldest]:
            del self._lrs[j]

    def _finish(self, k: int, s2: torch.Tensor) -> None:
        eps = self._lr_sum / self.inc
        n = len(self._groups)
        s1 = self._s1
        star = eps * s1.sum() / s2.sum()
        self._m = torch.where(torch.isfinite(star), self.smoothing * self._m + (1 - self.smoothing) * star, self._m)
        parts = [star.view(1), self._m.view(1)]
        if self.secant:
            parts.append((self._sec[0].sum() / self._sec[1].sum()).view(1))
        if self.per_layer:
            parts.append(eps * _group_sums(s1, self._index, n) / _group_sums(s2, self._index, n))
            if self.secant:
                index = self._index[:self._n_params]
                parts.append(_group_sums(self._sec[0], index, n) / _group_sums(self._sec[1], index, n))
        self._pending.append((k, eps, torch.cat(parts)))
        self._start, self._s1, self._sec, self._rng = None, None, None, None

    def on_log(self, ctx) -> None:
        self._flush(ctx.history)

    def on_end(self, ctx) -> None:
        self._flush(ctx.history)
        self._reset()  # the run is over: an open window is dropped, the next run starts afresh

    def _flush(self, history) -> None:
        if not self._pending:
            return
        rows = torch.stack([v for _, _, v in self._pending]).tolist()  # the one host sync
        rec = history.extra.setdefault(self.name, {})
        for key in ("iteration", "lr", "eps_star", "eps_smoothed") + (("secant",) if self.secant else ()):
            rec.setdefault(key, [])
        n = len(self._groups)
        if self.per_layer:
            for key in ("per_layer",) + (("per_layer_secant",) if self.secant else ()):
                layers = rec.setdefault(key, {})
                for g in self._groups:
                    layers.setdefault(g, [])
        for (k, eps, _), row in zip(self._pending, rows):
            rec["iteration"].append(k)
            rec["lr"].append(eps)
            rec["eps_star"].append(row[0])
            rec["eps_smoothed"].append(row[1])
            j = 2
            if self.secant:
                rec["secant"].append(row[2])
                j = 3
            if self.per_layer:
                for g, v in zip(self._groups, row[j:j + n]):
                    rec["per_layer"][g].append(v)
                if self.secant:
                    for g, v in zip(self._groups, row[j + n:j + 2 * n]):
                        rec["per_layer_secant"][g].append(v)
        self._pending = []

    # -- in your own training loop
    def observe(self, it: int, model: nn.Module, optimizer: torch.optim.Optimizer, lr: float,
                batch: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
                loss_fn: Optional[Callable] = None) -> None:
        """The estimate in a loop of your own: call it right after ``optimizer.step()`` of batch
        ``it`` (0-based, consecutive), which trained at ``lr``. ``batch``: that step's ``(x, y)``,
        which the secant form needs (it recomputes the gradient at the new weights; not needed
        with ``secant=False``); ``loss_fn(model, x, y)``: your loss (default cross-entropy).
        Nothing syncs with the host until :meth:`results`."""
        if self.secant and batch is None:
            raise ValueError("batch=None is not allowed with secant=True; allowed: the step's (x, y) batch, "
                             "or HessianFreeEstimate(secant=False)")
        x, y = batch if batch is not None else (None, None)
        self.on_step(SimpleNamespace(it=_checks.integer("it", it, minimum=0), model=model, optimizer=optimizer,
                                     lr=lr, x=x, y=y, loss_fn=loss_fn))

    def results(self) -> dict:
        """What :meth:`observe` estimated so far, the record ``fit`` keeps in
        ``history.extra[name]``: ``{"iteration": [...], "lr", "eps_star", "eps_smoothed",
        "secant", "per_layer", ...}`` (one host sync)."""
        self._flush(self._own)
        return copy.deepcopy(self._own.extra.get(self.name, {}))

    # -- checkpointing
    def _settings(self) -> dict:
        settings = dict(every=self.every, inc=self.inc, smoothing=self.smoothing, init=self.init,
                        per_layer=self.per_layer, secant=self.secant, group=self.group, name=self.name)
        return settings if self.blobs == "trainable" else dict(settings, blobs=self.blobs)  # older states resume

    def state_dict(self) -> dict:
        clone = lambda t: None if t is None else t.detach().clone()
        return dict(
            format="superconv-hessian-free-1", settings=self._settings(), start=self._start,
            lr_sum=self._lr_sum, buf=None if self._buf is None else [clone(b) for b in self._buf],
            s1=clone(self._s1), sec=clone(self._sec), m=clone(self._m),
            rng=None if self._rng is None else {k: v.clone() for k, v in self._rng.items()},
            pending=[(k, eps, clone(v)) for k, eps, v in self._pending], names=self._names,
            ring={j: [clone(t) for t in ts] for j, ts in self._ring.items()}, lrs=dict(self._lrs),
            observed=copy.deepcopy(self._own.extra),  # what observe() already flushed (your own loop)
        )

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("format") != "superconv-hessian-free-1":
            raise ValueError("state is not a HessianFreeEstimate state_dict")
        if state["settings"] != self._settings():
            diff = sorted(k for k, v in self._settings().items() if state["settings"].get(k) != v)
            raise ValueError(f"the saved HessianFreeEstimate had other settings (differs in: {', '.join(diff)})")
        self._reset()
        self._start, self._lr_sum = state["start"], float(state["lr_sum"])
        self._buf = None if state["buf"] is None else [b.clone() for b in state["buf"]]
        self._s1 = None if state["s1"] is None else state["s1"].clone()
        self._sec = None if state["sec"] is None else state["sec"].clone()
        self._m = None if state["m"] is None else state["m"].clone()
        self._rng = None if state["rng"] is None else {k: v.clone() for k, v in state["rng"].items()}
        self._pending = [(int(k), float(eps), v.clone()) for k, eps, v in state["pending"]]
        self._names = None if state["names"] is None else list(state["names"])
        self._ring = {int(j): [t.clone() for t in ts] for j, ts in state.get("ring", {}).items()}
        self._lrs = {int(j): float(v) for j, v in state.get("lrs", {}).items()}
        self._own.extra = copy.deepcopy(state.get("observed", {}))
        if self._names is not None:
            self._groups, _ = _grouping(self._names, self.group)


def _weight_decays(optimizer, params: List[torch.Tensor]) -> List[float]:
    if optimizer is None:
        return [0.0] * len(params)
    wd = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            wd[id(p)] = float(group.get("weight_decay", 0.0) or 0.0)
    return [wd.get(id(p), 0.0) for p in params]


# ----------------------------------------------------------------------------- curvature

def _as_batches(batch) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(torch.is_tensor(t) for t in batch):
        return [tuple(batch)]
    if isinstance(batch, (tuple, list)) and batch and all(
            isinstance(b, (tuple, list)) and len(b) == 2 and all(torch.is_tensor(t) for t in b) for b in batch):
        return [tuple(b) for b in batch]
    raise ValueError("batch must be an (x, y) pair of tensors or a non-empty list of such pairs")


def top_eigenvalue(model: nn.Module, loss_fn: Optional[Callable] = None, batch=None, iters: int = 20,
                   tol: float = 1e-4, seed: int = 0, *, bn_mode: str = "train",
                   return_vector: bool = False):
    """The Hessian eigenvalue of largest magnitude of the mini-batch loss, by power iteration.

    The curvature cross-check of the Hessian-free estimate (FACTS §5): compare ``eps*`` with
    :func:`curvature_bounds` ``(1/λ, 2/λ)``, the optimal LR along the sharpest direction and
    gradient descent's stability bound.

    ``loss_fn(model, x, y) -> loss`` (default: mean cross-entropy); ``batch`` an ``(x, y)`` pair
    or a list of pairs (then the Hessian of the sample-weighted mean loss). Each iteration is one
    Hessian-vector product by double backward: ``Hv = ∂(∇L·v)/∂θ``, the gradient graph being
    built once per batch and reused. ``v`` starts as a seeded Gaussian over all trainable
    parameters; ``λ = vᵀHv`` (the Rayleigh quotient, ``‖v‖ = 1``); stops after ``iters``
    products or when λ changes by less than ``tol`` relative. Power iteration converges to the
    eigenvalue of largest *magnitude*, which is ``λ_max`` unless the Hessian has a more negative
    eigenvalue (then the result is negative); its speed is ``|λ2/λ1|`` per product, so
    convergence within ``iters`` is not guaranteed.

    Decisions: ``bn_mode="train"`` (default) differentiates the function SGD trains (BN with
    batch statistics, as the secant estimate); ``"eval"`` uses running statistics, as PyHessian
    does. Autocast is off: the Hessian is computed in the model's dtype (fp32, or fp64 if the
    model is converted); a ``loss_fn`` that enables autocast itself overrides this, so pass an
    fp32 one (not ``ctx.loss_fn`` of a bf16 run). Afterwards the model's buffers (BN running
    statistics), train/eval flags, ``.grad`` and the RNG state are as before.

    Returns ``λ`` as a float, or ``(λ, v)`` with ``v`` the unit eigenvector (a list of tensors
    shaped like the parameters) if ``return_vector``.
    """
    iters = _checks.positive_int("iters", iters)
    tol = _checks.real("tol", tol, "a finite number >= 0", lambda v: v >= 0)
    seed = _checks.integer("seed", seed)
    bn_mode = _checks.choice("bn_mode", bn_mode, BN_MODES)
    batches = _as_batches(batch)
    loss_fn = loss_fn or _default_loss
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    dev = params[0].device
    total = sum(len(x) for x, _ in batches)

    with _Preserved(model, dev):
        model.train(bn_mode == "train")
        with torch.autocast(dev.type, enabled=False), torch.enable_grad():
            graphs = []  # per batch: (weight, indices of parameters the loss depends on, gradients)
            for x, y in batches:
                loss = loss_fn(model, x, y)
                grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
                used = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
                graphs.append((len(x) / total, used, [grads[i] for i in used]))

            def hvp(v: List[torch.Tensor]) -> List[torch.Tensor]:
                out = [torch.zeros_like(p) for p in params]
                for w, used, grads in graphs:
                    if not used:
                        continue
                    hv = torch.autograd.grad(grads, params, grad_outputs=[v[i] for i in used],
                                             retain_graph=True, allow_unused=True)
                    for o, h in zip(out, hv):
                        if h is not None:
                            o.add_(h.detach(), alpha=w)
                return out

            gen = torch.Generator().manual_seed(seed)
            v = [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(dev) for p in params]
            norm = torch.sqrt(sum((t * t).sum() for t in v))
            v = [t / norm for t in v]
            lam = None
            for _ in range(iters):
                hv = hvp(v)
                new = float(sum((a * b).sum() for a, b in zip(hv, v)))
                norm = float(torch.sqrt(sum((t * t).sum() for t in hv)))
                converged = lam is not None and abs(new - lam) <= tol * max(abs(lam), 1e-30)
                lam = new
                if norm == 0.0 or not math.isfinite(norm):
                    break
                v = [t / norm for t in hv]
                if converged:
                    break
            del graphs
    v = [t.detach() for t in v]
    return (lam, v) if return_vector else lam


def curvature_bounds(lam: float) -> Tuple[float, float]:
    """``(1/λ, 2/λ)``: the optimal LR of gradient descent along an eigen-direction of curvature
    ``λ`` (a Newton step) and the largest stable LR there. ``λ <= 0`` bounds nothing: ``(inf, inf)``;
    a NaN ``λ`` gives NaNs."""
    lam = float(lam)
    if math.isnan(lam):
        return (math.nan, math.nan)
    if lam <= 0:
        return (math.inf, math.inf)
    return (1.0 / lam, 2.0 / lam)
