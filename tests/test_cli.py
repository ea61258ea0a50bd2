"""`python -m superconv`: validation before anything runs, the sweep's manifest and resume, the
executors (local sequential, one worker per GPU, submitit), and one real chapter run.

The sweep logic runs on a tiny synthetic notebook written here (a parameters cell, and a cell
that logs what it saw, or raises when a `mark/breakX` file exists), so each run costs one kernel
start; one real chapter runs at the smoke profile.
"""

import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from superconv import cli
from superconv import sweep as sw

ROOT = Path(__file__).resolve().parents[1]
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
REAL_CHAPTER = "05_hessian_free_estimate"  # the quickest training chapter at smoke (measured)

PARAMS = '''\
PROFILE = None  # "smoke", "laptop" or "paper"
DEVICE = "auto"  # "auto", "cpu", "cuda"
SEEDS = None  # list of seeds
X = 0  # the swept knob (an int)
'''
BODY = '''\
import json, os, pathlib
mark = pathlib.Path("mark")  # relative: the kernel runs in the notebook's folder
mark.mkdir(exist_ok=True)
if (mark / f"break{X}").exists():
    raise ValueError(f"X={X} is broken on purpose")
with open(mark / "log.jsonl", "a") as f:
    f.write(json.dumps({"X": X, "SEEDS": SEEDS, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                        "store": os.environ.get("SUPERCONV_RESULTS")}) + "\\n")
'''


def toy_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(BODY)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "toy.ipynb"
    nbformat.write(nb, path)
    return path


def log(nb: Path) -> list:
    f = nb.parent / "mark" / "log.jsonl"
    return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


def call(argv) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def entries(manifest: Path) -> dict:
    return {e["params"]["X"]: e for e in json.loads(manifest.read_text())["runs"]}


# --------------------------------------------------------------------------- pieces

def test_values_names_and_chapters(tmp_path):
    assert cli.parse_value("3") == 3 and cli.parse_value("1e-3") == 1e-3 and cli.parse_value("None") is None
    assert cli.parse_value("paper") == "paper" and cli.parse_value("cuda:1") == "cuda:1"
    assert cli.parse_value('"3"') == "3" and cli.parse_value("(0, 1)") == [0, 1]
    assert cli.split_values("1,3") == ["1", "3"]
    assert cli.split_values("[0,1],[2,3]") == ["[0,1]", "[2,3]"]
    assert cli.split_values("'a,b',c") == ["'a,b'", "c"]
    assert sw.expand_grid({"A": [1, 2], "B": [3, 4]}) == [{"A": 1, "B": 3}, {"A": 1, "B": 4},
                                                         {"A": 2, "B": 3}, {"A": 2, "B": 4}]
    assert sw.run_name("03_one_cycle", {"PROFILE": "paper", "SEEDS": [0, 1]}) == "03_one_cycle__PROFILE=paper__SEEDS=0-1"
    assert sw.run_name("c", {"DEVICE": "cuda:1"}).endswith("DEVICE=cuda_1")
    long = sw.run_name("c", {"X": "y" * 400})
    assert len(long) < 200 and long != sw.run_name("c", {"X": "y" * 399})
    one = ROOT / "chapters" / "03_one_cycle.ipynb"
    if one.exists():
        for text in ("3", "03", "03_one_cycle", "one_cycle", str(one)):
            assert cli.resolve_chapter(text) == one
    # a new file never replaces an old one: -2, -3, ...
    (tmp_path / "a.ipynb").write_text("{}")
    assert sw.free_path(tmp_path / "a.ipynb").name == "a-2.ipynb"
    (tmp_path / "a-2.ipynb").write_text("{}")
    assert sw.free_path(tmp_path / "a.ipynb").name == "a-3.ipynb"
    assert sw.move_aside(tmp_path / "a.ipynb").name == "a.old-1.ipynb"


def test_help_explains_every_flag():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("run", "sweep"):
        text = sub[name].format_help()
        for action in sub[name]._actions:
            for flag in action.option_strings:
                assert flag in text
            assert action.help, action.dest
        assert "papermill " in text and "examples:" in text and "first cell runs" in text
    with pytest.raises(SystemExit):  # argparse prints help and exits 0; main() maps that to 0
        parser.parse_args(["run", "--help"])
    assert cli.main(["params", "--help"]) == 0


# --------------------------------------------------------------------------- validation

def _not_started(*_, **__):
    raise AssertionError("a job was started despite a bad command line")


@contextlib.contextmanager
def nothing_starts():
    with mock.patch.object(sw, "execute", _not_started), mock.patch.object(sw, "run_local", _not_started), \
            mock.patch.object(sw, "run_submitit", _not_started), mock.patch.object(sw.Manifest, "acquire", _not_started):
        yield


def _bad_chapter(text):
    try:
        cli.resolve_chapter(text)
        return False
    except cli.UsageError:
        return True


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=12)
_word = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
_device_ok = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def _bad_cases(toy: str):
    profile = _text.filter(lambda s: cli.parse_value(s) not in (None, "smoke", "laptop", "paper"))
    device = _text.filter(lambda s: not (isinstance(cli.parse_value(s), str) and _device_ok.match(cli.parse_value(s))))
    seeds = st.one_of(
        st.lists(st.integers(-5, -1), min_size=1, max_size=3),                       # negative
        st.integers(0, 9).map(lambda i: [i, i]),                                     # repeated
        st.lists(st.floats(0.5, 3.5), min_size=1, max_size=3),                       # not integers
        st.just([]),
    ).map(repr)
    unknown = _word.filter(lambda w: w.upper() not in ("PROFILE", "DEVICE", "SEEDS", "X"))
    x_bad = st.one_of(_word.filter(lambda w: w not in ("None", "True", "False")), st.just("'1'"),  # X's default is an int
                      st.lists(st.integers(), max_size=2).map(repr), st.booleans().map(repr),
                      st.sampled_from(["1e999", "-1e999", "1+2j", "{1, 2}", "b'x'", "{1: 2}"]))
    base = ["sweep", toy, "--grid", "X=1,2"]
    return st.one_of(
        profile.map(lambda v: ["run", toy, f"--profile={v}"]),
        device.map(lambda v: ["run", toy, "-p", "DEVICE", v]),
        seeds.map(lambda v: ["run", toy, "-p", "SEEDS", v]),
        seeds.map(lambda v: ["sweep", toy, "--grid", f"seeds={v}"]),
        unknown.map(lambda n: ["run", toy, "-p", n, "1"]),
        unknown.map(lambda n: ["sweep", toy, "--grid", f"{n}=1,2"]),
        x_bad.map(lambda v: ["run", toy, "-p", "X", v]),
        _text.filter(_bad_chapter).map(lambda c: ["run", c]),
        _text.filter(lambda s: s not in ("local", "slurm")).map(lambda e: base + [f"--executor={e}"]),
        st.integers(-3, 0).map(lambda n: base + [f"--gpus={n}"]),
        st.integers(1, 64).map(lambda n: base + [f"--gpus={n}"]),                   # no GPU here
        st.sampled_from(["--slurm-time=60", "--slurm-partition=gpu", "--slurm-mem=16", "--slurm-cluster=local"])
          .map(lambda f: base + [f]),                                               # slurm flag, local executor
        st.sampled_from(["--slurm-time=0", "--slurm-time=x", "--slurm-mem=-1", "--slurm-mem=nan",
                         "--slurm-cpus-per-task=0", "--slurm-gpus-per-node=-1", "--slurm-array-parallelism=0",
                         "--slurm-partition= ", "--slurm-cluster=moon"])
          .map(lambda f: base + ["--executor=slurm", "--slurm-cluster=local", f] if "cluster" not in f
               else base + ["--executor=slurm", f]),
        st.just(base + ["--executor=slurm", "--gpus=1", "--slurm-cluster=local"]),
        st.just(["sweep", toy, "--grid", "X=1,1"]),
        st.just(["sweep", toy, "--grid", "X=1", "-p", "X", "2"]),
    )


def test_bad_command_lines_fail_in_one_line_before_anything_starts(tmp_path):
    if sw.shutil.which("sbatch"):
        pytest.skip("the bad-flag cases assume no Slurm on this machine")
    toy = str(toy_notebook(tmp_path / "nb"))
    out = tmp_path / "never"

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(_bad_cases(toy))
    def check(argv):
        rc, stdout, stderr = call(argv + ["--out", str(out)])
        assert rc == 2, (argv, stdout, stderr)
        assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
        assert "error:" in stderr and not stdout
        assert not out.exists()

    with nothing_starts():
        check()


def test_error_messages_name_the_flag_and_the_allowed_values(tmp_path):
    toy = str(toy_notebook(tmp_path / "nb"))
    with nothing_starts():
        cases = {
            ("run", toy, "--profile", "huge"): ["--profile", "'smoke', 'laptop', 'paper'"],
            ("run", toy, "-p", "max_lr", "3"): ["-p max_lr", "allowed: PROFILE, DEVICE, SEEDS, X"],
            ("run", toy, "-p", "X", "'a'"): ["-p X", "a number"],
            ("sweep", toy, "--grid", "seeds=0,0"): ["--grid seeds", "distinct"],
            ("sweep", toy, "--grid", "X=1", "--slurm-time", "5"): ["--slurm-time", "--executor slurm"],
            ("sweep", toy, "--grid", "X=1", "--executor", "pbs"): ["--executor", "'local', 'slurm'"],
            ("run", "no_such_chapter"): ["CHAPTER", "allowed:"],
        }
        for argv, needles in cases.items():
            rc, _, err = call(list(argv) + ["--out", tmp_path / "never"])
            assert rc == 2 and all(n in err for n in needles), (argv, err)


def test_a_chapters_own_checks_run_before_launch_and_in_dry_run(tmp_path):
    # what each notebook's first cell refuses, the CLI refuses first (exit 2, one line, nothing
    # started): for run, for every grid point of a sweep, and under --dry-run
    cases = {
        ("run", "1", "-p", "MAX_LR", "abc"): "MAX_LR='abc' is not allowed; allowed: a finite number > 0",
        ("run", "1", "-p", "MAX_LR", "0.01", "-p", "BASE_LR", "0.1"): "BASE_LR < MAX_LR",
        ("run", "2", "-p", "RAMP_ITERATIONS", "1", "--dry-run"): "RAMP_ITERATIONS=1",
        ("run", "6", "-p", "TRAIN_SIZES", "[7, 10]", "--dry-run"): "multiples of 10",
        ("run", "8", "-p", "HOLD", "weeks"): "'iterations', 'epochs'",
        ("run", "5", "-p", "INC", "5", "-p", "EVERY", "6", "--dry-run"): "EVERY",
        ("run", "11", "-p", "SHOW_PAPER_PROFILE", "2"): "SHOW_PAPER_PROFILE=2",
        ("sweep", "1", "--grid", "max_lr=0.2,abc", "--dry-run"): "--grid point MAX_LR='abc'",
        ("sweep", "3", "--grid", "budgets=[100],[0]"): "BUDGETS[0]=0",
        ("run", "1", "-p", "POLICIES", "[\'triangle\']"): "POLICIES[0]='triangle'",
    }
    with nothing_starts():
        for argv, needle in cases.items():
            rc, out, err = call(list(argv) + ["--out", tmp_path / "never"])
            assert rc == 2 and needle in err and err.count("\n") == 1 and not out, (argv, err)
        rc, out, _ = call(["run", "1", "-p", "MAX_LR", "2", "--dry-run", "--out", tmp_path / "never"])
        assert rc == 0 and "-p MAX_LR 2" in out
        # a sweep judges each point whole: -p BASE_LR 0.6 is fine once the grid sets MAX_LR above it
        rc, out, err = call(["sweep", "1", "-p", "BASE_LR", "0.6", "--grid", "max_lr=0.8,1.0", "--dry-run",
                             "--out", tmp_path / "never"])
        assert rc == 0 and out.count("-p MAX_LR") == 2, err
        rc, _, err = call(["sweep", "1", "-p", "BASE_LR", "0.6", "--grid", "max_lr=0.5,1.0", "--dry-run"])
        assert rc == 2 and "--grid point MAX_LR=0.5: BASE_LR=0.6 with MAX_LR=0.5" in err
    assert not (tmp_path / "never").exists()


def test_every_chapter_declares_exactly_its_parameters_cell():
    # the checks the CLI runs are the notebook's own: one Chapter per book notebook, with the
    # names of its parameters cell, whose defaults pass at every profile
    from superconv import scorecard
    assert sorted(Path(c.notebook).name for c in scorecard.CHAPTERS) == sorted(p.name for p in cli.chapters())
    for c in scorecard.CHAPTERS:
        path = cli.resolve_chapter(Path(c.notebook).stem)
        known = cli.notebook_parameters(path)
        assert set(known) == set(c.parameters), c.notebook
        assert cli.chapter_of(path) is c
        for profile in ("smoke", "laptop", "paper"):
            c.check({**{n: v["default"] for n, v in known.items()}, "PROFILE": profile})


# --------------------------------------------------------------------------- run

def test_run_keeps_the_failed_notebook_and_never_overwrites(tmp_path):
    nb = toy_notebook(tmp_path / "nb")
    (nb.parent / "mark").mkdir()
    (nb.parent / "mark" / "break5").touch()
    out = tmp_path / "runs"
    rc, stdout, stderr = call(["run", nb, "-p", "x", "5", "--out", out])
    failed = out / "toy__X=5.failed.ipynb"  # a failed run never takes the canonical name
    assert rc == 1 and "ValueError: X=5 is broken on purpose" in stderr and failed.exists()
    assert str(failed) in stderr and not (out / "toy__X=5.ipynb").exists()
    assert sw.notebook_outcome(failed) == "failed" and not list(out.glob("*.running.ipynb"))
    rc, stdout, _ = call(["run", nb, "-p", "X", "4", "--out", out, "--log-output"])
    assert rc == 0 and (out / "toy__X=4.ipynb").exists() and not list(out.glob("*.running.ipynb"))
    assert "Executing" in stdout or "X = 4" in stdout, stdout  # --log-output streams the cells here
    rc, stdout, _ = call(["run", nb, "-p", "X", "4", "--out", out, "--dry-run"])
    assert rc == 0 and "exists; writing toy__X=4-2.ipynb" in stdout and "-p X 4" in stdout
    rc, stdout, _ = call(["run", nb, "-p", "X", "4", "--out", out, "--dry-run", "--overwrite"])
    assert rc == 0 and "exists" not in stdout and "toy__X=4.ipynb" in stdout


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_run_a_real_chapter_into_a_store(tmp_path, capfd):
    store, out = tmp_path / "store", tmp_path / "runs"
    t0 = time.perf_counter()
    # smoke, made lighter still through -p (a bool and two ints, which also checks that they arrive)
    rc, stdout, stderr = call(["run", "5", "--profile", "smoke", "-p", "probes", "False", "-p", "EVERY", "2",
                               "-p", "RAMP", "20", "--out", out, "--store", store])
    assert rc == 0, stderr
    executed = out / f"{REAL_CHAPTER}__PROFILE=smoke__RAMP=20__EVERY=2__PROBES=False.ipynb"  # the notebook's order
    assert sw.notebook_outcome(executed) == "done"
    injected = next(c.source for c in nbformat.read(executed, as_version=4).cells
                    if "injected-parameters" in c.metadata.get("tags", []))
    assert "PROBES = False" in injected and "RAMP = 20" in injected and 'PROFILE = "smoke"' in injected
    assert list((store / "smoke").glob("*.json")), "the chapter wrote its runs to the --store"
    assert "without encryption" not in capfd.readouterr().err  # the kernel's TCP warning is silenced
    print(f"real chapter run: {time.perf_counter() - t0:.1f} s")


# --------------------------------------------------------------------------- sweep

def test_sweep_failure_then_fix_and_resume(tmp_path):
    nb = toy_notebook(tmp_path / "nb")
    (nb.parent / "mark").mkdir()
    (nb.parent / "mark" / "break2").touch()
    out, store = tmp_path / "runs", tmp_path / "store"
    argv = ["sweep", nb, "--grid", "x=1,2", "--profile", "smoke", "--out", out, "--store", store]
    rc, stdout, stderr = call(argv)
    manifest = out / "toy.sweep.json"
    runs = entries(manifest)
    assert rc == 1 and "X=2 is broken on purpose" in stderr
    assert {x: e["status"] for x, e in runs.items()} == {1: "done", 2: "failed"}
    assert runs[2]["error"] == "ValueError: X=2 is broken on purpose"
    assert runs[1]["params"] == {"PROFILE": "smoke", "X": 1}
    assert runs[1]["notebook"] == "toy__PROFILE=smoke__X=1.ipynb" and (out / runs[1]["notebook"]).exists()
    assert all(r["store"] == str(store.resolve()) and r["cuda"] is None for r in log(nb))
    assert not (out / "toy.sweep.lock").exists()

    (nb.parent / "mark" / "break2").unlink()  # fix it, start the same command again
    rc, stdout, stderr = call(argv)
    runs = entries(manifest)
    assert rc == 0, stderr
    assert {x: e["status"] for x, e in runs.items()} == {1: "done", 2: "done"}
    assert sorted(r["X"] for r in log(nb)) == [1, 2], "only the failed point ran again"
    assert runs[2]["attempts"] == 2 and runs[1]["attempts"] == 1
    assert (out / "toy__PROFILE=smoke__X=2.old-1.ipynb").exists() and "kept the earlier notebook" in stdout


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_sweep_reruns_stale_running_entries_only(tmp_path):
    nb = toy_notebook(tmp_path / "nb")
    out = tmp_path / "runs"
    host = socket.gethostname()
    names = {x: sw.run_name("toy", {"X": x}) for x in (1, 2, 3)}
    finished = {"cells": [], "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"papermill": {"end_time": "2026-01-01T00:00:00", "exception": None}}}
    out.mkdir()
    (out / f"{names[2]}.ipynb").write_text(json.dumps(finished))   # finished after its driver died
    (out / f"{names[3]}.ipynb").write_text(json.dumps({"metadata": {"papermill": {"end_time": None}}}))
    run = lambda x, pid: {"name": names[x], "params": {"X": x}, "status": "running", "notebook": names[x] + ".ipynb",
                          "error": None, "attempts": 1, "pid": pid, "host": host, "cluster": "local"}
    manifest = sw.Manifest(out / "toy.sweep.json", nb)
    manifest.add(run(1, _dead_pid()))     # dead, no notebook -> run again
    manifest.add(run(2, _dead_pid()))     # dead, clean notebook -> done, not run
    manifest.add(run(3, os.getpid()))     # alive (this process) -> left alone
    manifest.save()
    rc, stdout, stderr = call(["sweep", nb, "--grid", "X=1,2,3", "--out", out])
    runs = entries(out / "toy.sweep.json")
    assert [r["X"] for r in log(nb)] == [1]
    assert runs[1]["status"] == "done" and runs[1]["attempts"] == 2
    assert runs[2]["status"] == "done" and "recorded as done" in stdout
    assert runs[3]["status"] == "running" and "still running" in stdout
    assert rc == 1, "not every point is done yet"
    # a second driver on the same manifest is refused while the first holds the lock
    lock = sw.Manifest(out / "toy.sweep.json")
    lock.acquire()
    try:
        rc, _, err = call(["sweep", nb, "--grid", "X=1,2,3", "--out", out])
        assert rc == 2 and "another sweep" in err
    finally:
        lock.release()


def test_sweep_one_worker_per_gpu(tmp_path, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nb = toy_notebook(tmp_path / "nb")
    out = tmp_path / "runs"
    rc, _, err = call(["sweep", nb, "--grid", "X=1,2", "--gpus", "2", "--device", "cpu", "--out", out])
    assert rc == 2 and "--gpus" in err  # each worker owns a GPU: DEVICE cpu makes no sense
    t0 = time.perf_counter()
    rc, stdout, stderr = call(["sweep", nb, "--grid", "X=1,2", "--gpus", "2", "--out", out])
    assert rc == 0, (stdout, stderr)
    seen = {r["X"]: r["cuda"] for r in log(nb)}
    assert sorted(seen) == [1, 2] and sorted(seen.values()) == ["0", "1"], seen
    runs = entries(out / "toy.sweep.json")
    assert {e["gpu"] for e in runs.values()} == {"0", "1"}
    print(f"2 runs on 2 worker processes: {time.perf_counter() - t0:.1f} s")


@pytest.mark.parametrize("cluster", ["local"])
def test_sweep_through_submitit(tmp_path, cluster):
    nb = toy_notebook(tmp_path / "nb")
    out, store = tmp_path / "runs", tmp_path / "store"
    rc, stdout, stderr = call(["sweep", nb, "--grid", "seeds=0,1", "--executor", "slurm", "--slurm-cluster", cluster,
                               "--slurm-time", "5", "--slurm-gpus-per-node", "0", "--out", out, "--store", store])
    runs = json.loads((out / "toy.sweep.json").read_text())["runs"]
    assert rc == 0, (stdout, stderr, runs)
    assert sorted(r["SEEDS"] for r in log(nb)) == [[0], [1]]
    assert all(r["store"] == str(store.resolve()) for r in log(nb))
    assert all(e["status"] == "done" and e["job_id"] and e["cluster"] == cluster for e in runs)
    assert all(Path(e["log"]).parent == out / "slurm-logs" and e["store"] == str(store.resolve()) for e in runs)
    rc, stdout, _ = call(["sweep", nb, "--grid", "seeds=0,1", "--executor", "slurm", "--slurm-cluster", cluster,
                          "--out", out, "--store", store])
    assert rc == 0 and "2 already done" in stdout and len(log(nb)) == 2
