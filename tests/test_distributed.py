"""Data-parallel training under torchrun: 2 CPU processes with gloo against one process.

The file is also the worker that torchrun starts (``python -m torch.distributed.run
--nproc_per_node 2 tests/test_distributed.py worker OUT``): every scenario runs in one launch,
each rank saves what it saw to OUT, and the tests below compare that with one-process runs.

Tolerance of "the same as one process" (fp32, sync_bn=True): the ranks compute exactly the
one-process batch and mathematically the same gradients, but sums are taken in another order
(each rank's half-batch, then the all-reduce; BN statistics from float64 sums). Those are
rounding differences of ~1e-7 relative per step, which 30 SGD steps with momentum amplify;
measured: final weights within 2e-6 and losses within 5e-7 of one process. We allow 1e-4: 50x
that, and far below what per-shard BN statistics change (sync_bn=False moves the losses by up to
0.35 here, checked too). Within DDP, the ranks agree exactly (same all-reduced numbers).
"""

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # torchrun runs this file as a script; pytest imports it
    sys.path.insert(0, str(HERE))

from superconv import checkpoint, data, distributed, experiments, launch, results  # noqa: E402
from superconv.results import Store  # noqa: E402
from superconv.train import fit  # noqa: E402
from toy import Interrupt, KillAt, small_model, toy_split  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
TOL = 1e-4
WORLD = 2


def lr(it):
    return 0.05 + 0.01 * it


def run_args(**kw):
    """The toy run of every scenario: 30 iterations, total batch 32, evaluations every 10."""
    args = dict(lr=lr, momentum=0.9, iterations=30, batch_size=32, weight_decay=5e-4, eval_every=10,
                log_every=7, precision="fp32", device="cpu", progress=False)
    args.update(kw)
    return args


def toy_fit(model=None, **kw):
    return fit(model if model is not None else small_model(), toy_split(), toy_split(128, seed=1, train=False),
               **run_args(**kw))


def comparable(h: dict) -> dict:
    return {k: v for k, v in h.items() if k not in ("wall_time", "eval_time")}


# =========================================================================== the torchrun worker

class NaNOnRank1(torch.nn.Module):
    """The toy model, whose training output turns NaN on rank 1 only, at its ``at``-th batch."""

    def __init__(self, at):
        super().__init__()
        self.inner, self.at, self.calls = small_model(), at, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if distributed.rank() == 1 and self.calls == self.at:
                out = out * float("nan")
        return out


class Counter:
    """Wraps a function and counts its calls (here: file writes)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a, **k):
        self.calls += 1
        return self.fn(*a, **k)


def _bn_against_torch(rank):
    """Our SyncBatchNorm on this rank's half of a batch vs torch's BatchNorm2d on the whole batch."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 5, 5, generator=g) * 3 + 1
    w_out = torch.randn(8, 3, 5, 5, generator=g)             # loss = sum(w_out * bn(x))
    ref = torch.nn.BatchNorm2d(3, momentum=0.3)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        ref.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    ours = distributed.SyncBatchNorm(3, momentum=0.3)
    ours.load_state_dict(ref.state_dict())
    xr = x.clone().requires_grad_()
    y_ref = ref(xr)
    (y_ref * w_out).sum().backward()
    rows = slice(4 * rank, 4 * rank + 4)
    xo = x[rows].clone().requires_grad_()
    y = ours(xo)
    (y * w_out[rows]).sum().backward()
    # the whole batch's loss is the sum of the ranks' losses: so is its gradient for weight and bias
    wgrad = distributed.all_reduce(torch.stack([ours.weight.grad, ours.bias.grad]))
    return dict(out=(y - y_ref[rows]).abs().max().item(), xgrad=(xo.grad - xr.grad[rows]).abs().max().item(),
                wgrad=(wgrad - torch.stack([ref.weight.grad, ref.bias.grad])).abs().max().item(),
                running=max((ours.running_mean - ref.running_mean).abs().max().item(),
                            (ours.running_var - ref.running_var).abs().max().item()))


def worker(out: Path) -> None:
    distributed.setup("cpu")
    r = distributed.rank()
    saves = checkpoint.atomic_torch_save = Counter(checkpoint.atomic_torch_save)
    writes = results.atomic_write_text = Counter(results.atomic_write_text)
    res = {"bn": _bn_against_torch(r)}

    model = small_model()
    h = toy_fit(model, checkpoint=out / "sync.ckpt", checkpoint_every=10)
    res["sync"] = dict(history=h.to_dict(), state=model.state_dict(), saves=saves.calls,
                       bn_types=sorted({type(m).__name__ for m in model.modules() if "Norm" in type(m).__name__}))

    model = small_model()  # precise BN: the ranks recompute statistics of the same global batches
    res["precise"] = dict(history=toy_fit(model, precise_bn=64, bn_momentum=0.001).to_dict(),
                          state=model.state_dict())

    model = small_model()
    res["precise_nosync"] = dict(history=toy_fit(model, precise_bn=64, bn_momentum=0.001, sync_bn=False).to_dict(),
                                 state=model.state_dict())

    model = small_model()
    res["nosync"] = dict(history=toy_fit(model, sync_bn=False).to_dict(), state=model.state_dict())

    model = small_model()  # ghost BN: 4 slices of 8 over 2 ranks, as 4 GPUs; the root's statistics
    res["ghost"] = dict(history=toy_fit(model, sync_bn=False, ghost_batch=8).to_dict(), state=model.state_dict())
    res["nan"] = dict(history=toy_fit(NaNOnRank1(at=12), iterations=20).to_dict())
    try:
        toy_fit(batch_size=31)
    except ValueError as e:
        res["odd"] = str(e)

    ckpt = out / "resume.ckpt"
    try:
        toy_fit(checkpoint=ckpt, checkpoint_every=10, callbacks=[KillAt(14)])
    except Interrupt:
        pass
    model = small_model(seed=99)  # a different init: everything must come from the checkpoint
    res["resume"] = dict(history=toy_fit(model, checkpoint=ckpt, checkpoint_every=10).to_dict(),
                         state=model.state_dict())

    store, trained, writes.calls, saves.calls = Store(out / "store", rank0=True), [], 0, 0

    def train_fn(path):
        trained.append(path)
        return toy_fit(iterations=10, checkpoint=path, checkpoint_every=5)
    first = store.run({"toy": 1}, "smoke", train_fn)
    again = store.run({"toy": 1}, "smoke", train_fn)
    res["store"] = dict(first=first.to_dict(), again=again.to_dict(), trained=len(trained),
                        writes=writes.calls, saves=saves.calls)
    if os.path.exists(FMNIST):  # last: the command line leaves the process group when done
        spec_file = out / "spec.json"
        if r == 0:
            spec_file.write_text(json.dumps({"one_cycle": [smoke_spec()]}))
        distributed.barrier()
        writes.calls = saves.calls = 0
        launch.main(["--profile", "smoke", "--spec", str(spec_file), "--device", "cpu", "--no-progress"])
        res["cli"] = dict(writes=writes.calls, saves=saves.calls)
    torch.save(res, out / f"rank{r}.pt")


# =========================================================================== the tests

def torchrun(*args, env=None, timeout=240):
    """``python -m torch.distributed.run --standalone --nproc_per_node 2 *args`` (2 CPU processes)."""
    env = {k: v for k, v in (env or os.environ).items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}", *args]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=HERE.parent,
                         start_new_session=True)  # its own process group: a hang is killed whole
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        stdout, stderr = p.communicate()
        pytest.fail(f"{' '.join(cmd)} hung for {timeout} s (a deadlock?):\n{stdout[-3000:]}\n{stderr[-6000:]}")
    assert p.returncode == 0, f"{' '.join(cmd)} failed:\n{stdout[-3000:]}\n{stderr[-6000:]}"
    return stdout


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    stdout = torchrun(__file__, "worker", str(out), env=dict(os.environ, SUPERCONV_RESULTS=str(out / "results")))
    assert stdout.count("final test acc") == (1 if os.path.exists(FMNIST) else 0)  # rank 0 prints, rank 1 not
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)], out


@pytest.fixture
def single(one_thread):
    model = small_model()
    return toy_fit(model).to_dict(), model.state_dict()


def max_diff(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


def test_sync_bn_matches_torch_batchnorm_on_the_whole_batch(ranks):
    for res in ranks[0]:
        assert res["bn"]["out"] < 1e-5 and res["bn"]["xgrad"] < 1e-5
        assert res["bn"]["wgrad"] < 1e-4 and res["bn"]["running"] < 1e-5


def test_two_ranks_train_like_one_process_with_the_same_total_batch(ranks, single):
    (r0, r1), _ = ranks
    h1, state1 = single
    h = r0["sync"]["history"]
    # every rank reports the same History (losses averaged, evaluations all-reduced, wall time max)
    assert r1["sync"]["history"] == h
    assert h["config"]["world_size"] == WORLD and h["config"]["sync_bn"] is True
    assert h["config"]["batch_size"] == 32  # the total batch, as in one process
    for k in ("lr", "momentum", "eval_iters", "iterations", "diverged"):
        assert h[k] == h1[k], k
    assert len(h["train_loss"]) == 30 and max_diff(h["train_loss"], h1["train_loss"]) < TOL
    assert max_diff(h["test_loss"], h1["test_loss"]) < TOL
    assert max_diff(h["test_acc"], h1["test_acc"]) <= 100 / 128 + 1e-9  # at most one test image flips
    assert abs(h["train_acc"] - h1["train_acc"]) <= 100 / 256 + 1e-9
    for k, v in state1.items():  # the same tensors on both ranks, and close to one process's
        assert torch.equal(r0["sync"]["state"][k], r1["sync"]["state"][k]), k
        assert torch.allclose(r0["sync"]["state"][k].double(), v.double(), rtol=TOL, atol=TOL), k
    assert r0["sync"]["bn_types"] == ["BatchNorm2d"]  # the caller's model gets its own BN back


def test_precise_bn_under_ddp_is_the_one_process_result(ranks, one_thread):
    (r0, r1), _ = ranks
    model = small_model()
    h1 = toy_fit(model, precise_bn=64, bn_momentum=0.001).to_dict()
    h = r0["precise"]["history"]
    assert r1["precise"]["history"] == h and h["config"]["precise_bn"] == 64
    assert max_diff(h["test_loss"], h1["test_loss"]) < TOL
    assert max_diff(h["test_acc"], h1["test_acc"]) <= 100 / 128 + 1e-9
    for k, v in model.state_dict().items():  # running statistics included: the precise ones
        assert torch.equal(r0["precise"]["state"][k], r1["precise"]["state"][k]), k
        assert torch.allclose(r0["precise"]["state"][k].double(), v.double(), rtol=TOL, atol=TOL), k


def test_precise_bn_with_per_rank_batchnorm_evaluates_the_ranks_average(ranks):
    (r0, r1), _ = ranks
    h = r0["precise_nosync"]["history"]
    assert r1["precise_nosync"]["history"] == h  # the same statistics, hence the same numbers, on every rank
    for k, v in r0["precise_nosync"]["state"].items():
        assert torch.equal(v, r1["precise_nosync"]["state"][k]), k


def test_ghost_batchnorm_on_two_ranks_is_the_one_process_run(ranks, one_thread):
    """BN over slices of 8 of the batch of 32: the same statistics whether 1 process holds the 4
    slices or 2 ranks hold 2 each (the moving averages are the first slice's, rank 0's)."""
    (r0, r1), _ = ranks
    model = small_model()
    h1 = toy_fit(model, ghost_batch=8).to_dict()
    h = r0["ghost"]["history"]
    assert r1["ghost"]["history"] == h and h["config"]["ghost_batch"] == 8
    assert max_diff(h["train_loss"], h1["train_loss"]) < TOL
    assert max_diff(h["test_acc"], h1["test_acc"]) <= 100 / 128 + 1e-9
    # running statistics included (rank 0's = the first slice's); 30 steps of reordered float sums
    # (all-reduced gradients) drift the weights by ~1e-4, 10x the single-step tolerance
    for k, v in model.state_dict().items():
        assert torch.allclose(r0["ghost"]["state"][k].double(), v.double(), rtol=10 * TOL, atol=10 * TOL), k


def test_per_rank_batchnorm_is_a_different_run(ranks, single):
    (r0, r1), _ = ranks
    h, h1 = r0["nosync"]["history"], single[0]
    assert r1["nosync"]["history"] == h and h["config"]["sync_bn"] is False
    for k, v in r0["nosync"]["state"].items():  # running statistics averaged: the ranks agree
        assert torch.equal(v, r1["nosync"]["state"][k]), k
    # each rank normalizes its 16 samples with their own statistics: the losses move far beyond TOL
    assert max_diff(h["train_loss"][1:], h1["train_loss"][1:]) > 100 * TOL


def test_only_rank_0_writes_checkpoints_and_records(ranks):
    (r0, r1), out = ranks
    assert r0["sync"]["saves"] == 4 and r1["sync"]["saves"] == 0  # at 10, 20, 30, and the final one
    s0, s1 = r0["store"], r1["store"]
    assert s0["trained"] == s1["trained"] == 1  # the second run(...) loaded the record on every rank
    assert s0["writes"] == 1 and s1["writes"] == 0 and s1["saves"] == 0 and s0["saves"] == 3  # 5, 10, final
    assert s0["first"] == s1["first"] == s0["again"] == s1["again"]
    records = list((out / "store" / "smoke").glob("*.json"))
    assert len(records) == 1 and not list((out / "store" / "smoke" / "checkpoints").glob("*"))
    assert json.loads(records[0].read_text())["history"]["train_loss"] == s0["first"]["train_loss"]


def test_interrupted_ddp_run_resumes_to_the_same_result(ranks):
    (r0, r1), _ = ranks
    for r in (r0, r1):
        assert comparable(r["resume"]["history"]) == comparable(r0["sync"]["history"])
        for k, v in r0["sync"]["state"].items():
            assert torch.equal(r["resume"]["state"][k], v), k


def test_a_nan_on_one_rank_stops_every_rank(ranks):
    (r0, r1), _ = ranks
    h = r0["nan"]["history"]
    assert repr(h) == repr(r1["nan"]["history"])  # (nan != nan: compare the printed values)
    # batch 11 is NaN on rank 1; the next host sync (log_every=7: at 7, 10 (evaluation), 17) stops both
    assert h["diverged"] and h["diverged_at"] == 11 and h["iterations"] == 17 and h["train_acc"] is None
    assert all(math.isfinite(v) for v in h["train_loss"][:11]) and not math.isfinite(h["train_loss"][11])


def test_batch_not_divisible_by_world_size_is_a_one_line_error(ranks, monkeypatch, one_thread):
    (r0, r1), _ = ranks
    for msg in (r0["odd"], r1["odd"]):
        assert "\n" not in msg and "batch_size=31" in msg and "multiple of 2" in msg
    monkeypatch.setenv("WORLD_SIZE", "4")  # checked before any process group is joined
    with pytest.raises(ValueError, match=r"batch_size=30 .*multiple of 4"):
        toy_fit(batch_size=30)


@pytest.mark.parametrize("world", [2, 4])
def test_batches_shards_are_the_one_process_batch(world):
    split = toy_split(64)
    full = data.Batches(split, 16, seed=3, flip=True, crop_pad=2)
    shards = [data.Batches(split, 16, seed=3, flip=True, crop_pad=2, rank=r, world_size=world) for r in range(world)]
    for it in (0, 3, 5):  # epochs of 4 batches: 5 is in the second epoch
        x, y = full.batch(it)
        parts = [s.batch(it) for s in shards]
        assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)
        assert torch.equal(torch.cat([s.indices(it) for s in shards]), full.indices(it))


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=15, world_size=2), "batch_size=15 must be a multiple of world_size=2"),
    (dict(rank=2, world_size=2), r"rank=2 must be in 0\.\.1"),
    (dict(world_size=0), "world_size=0"),
    (dict(world_size=2, drop_last=False), "drop_last=False needs world_size=1"),
])
def test_batches_sharding_rejects_bad_parameters(kwargs, match):
    args = dict(batch_size=16)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        data.Batches(toy_split(64), **args)


@pytest.mark.parametrize("device, cls", [("cpu", distributed.SyncBatchNorm), ("cuda", torch.nn.SyncBatchNorm)])
def test_sync_bn_conversion_shares_the_tensors_and_is_undone(device, cls):
    model = small_model()
    tensors = {k: v.data_ptr() for k, v in model.state_dict().items()}
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    swaps = distributed.convert_sync_bn(model, torch.device(device))  # builds modules only: no GPU needed
    converted = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(swaps) == len(converted) == len(bns) and all(type(m) is cls for m in converted)
    # the optimizer and checkpoints see the very same tensors under the same names
    assert {k: v.data_ptr() for k, v in model.state_dict().items()} == tensors
    model.eval()
    distributed.restore_bn(swaps)
    assert [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)] == bns
    assert all(not m.training for m in bns)  # the mode set meanwhile is kept


def test_rank0_store_in_one_process_is_the_store(tmp_path, one_thread):
    store, calls = Store(tmp_path, rank0=True), []

    def train(ckpt):
        calls.append(ckpt)
        return toy_fit(iterations=5, checkpoint=ckpt)
    a = store.run({"toy": 2}, "smoke", train)
    b = store.run({"toy": 2}, "smoke", train)
    assert len(calls) == 1 and comparable(b.to_dict()) == comparable(a.to_dict())
    assert Store(tmp_path).get({"toy": 2}, "smoke") is not None and not calls[0].exists()


def test_spec_files_and_command_line_errors(tmp_path):
    spec = experiments.make_spec("smoke", "one_cycle")
    for obj in (spec, [spec, spec], {"one_cycle": [spec], "pc_lr": [spec]}):
        (tmp_path / "s.json").write_text(json.dumps(obj))
        assert launch.load_specs(str(tmp_path / "s.json")) == [spec] * (1 if obj is spec else 2)
    with pytest.raises(ValueError, match="policy='nope'"):  # before any process group or training
        launch.main(["--profile", "smoke", "--policy", "nope"])


def smoke_spec():
    """The smoke profile's 1cycle run, in fp32 (bf16 rounds differently in a half batch)."""
    return experiments.make_spec("smoke", "one_cycle", precision="fp32")


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="Debian's dataset-fashion-mnist is not installed")
def test_command_line_runs_a_spec_under_torchrun_into_the_store(ranks, one_thread):
    """``python -m superconv.launch --profile smoke --spec FILE`` (called by the torchrun worker)."""
    (r0, r1), out = ranks
    spec = smoke_spec()
    ddp = Store(out / "results").get(spec, "smoke")
    assert ddp is not None and len(list((out / "results" / "smoke").glob("*.json"))) == 1
    assert r0["cli"]["writes"] == 1 and r1["cli"]["writes"] == 0 and r1["cli"]["saves"] == 0
    assert ddp.config["world_size"] == WORLD and ddp.iterations == spec["iterations"] and not ddp.diverged
    # its first steps are one process's: batch 0 from the same weights to rounding; then the
    # rising LR amplifies fp32 rounding in the stem's gradient (a sum that mostly cancels; both
    # runs are equally far, ~1e-4 relative, from a float64 run), so later steps drift apart
    train, test = experiments.load_data(spec)
    one = fit(experiments.build_model(spec, train), train, None, experiments.build_schedule(spec["schedule"]),
              momentum=spec["momentum"], iterations=5, batch_size=spec["batch_size"],
              weight_decay=spec["weight_decay"], precision="fp32", bn_momentum=spec["bn_momentum"],
              seed=spec["seed"], device="cpu", progress=False, train_eval_size=1)
    assert abs(ddp.train_loss[0] - one.train_loss[0]) < 1e-5 and max_diff(ddp.train_loss[:5], one.train_loss) < 1e-3


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(Path(sys.argv[2]))
