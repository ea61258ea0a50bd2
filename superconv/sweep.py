"""Run a chapter notebook many times: the grid, the manifest, and the executors behind the CLI.

A *sweep* runs one notebook at every point of a Cartesian grid of parameters. Its bookkeeping is
a manifest, ``<out>/<notebook stem>.sweep.json``, with one entry per grid point::

    {"name": "05_hessian_free_estimate__PROFILE=paper__MAX_LR=3", "params": {...},
     "status": "done", "notebook": "05_hessian_free_estimate__PROFILE=paper__MAX_LR=3.ipynb",
     "error": null, "attempts": 1, "pid": 1234, "host": "node7", "job_id": null, ...}

Rules (why this module exists):

* only the sweep's driver process writes the manifest, atomically (temp file + ``os.replace``),
  and a lock file keeps a second driver off the same manifest;
* started again, a sweep skips points that are ``done`` (with their notebook on disk) and reruns
  broken ones: ``failed``, ``pending``, ``done`` with the notebook gone, and ``running`` whose
  process (pid on this host, or Slurm job) is gone -- unless the notebook it left behind shows a
  clean finish (papermill's metadata), which is then recorded as done;
* an existing executed notebook is never overwritten silently: it is moved aside
  (``NAME.old-K.ipynb``) and the move is reported.

Executors: :func:`run_local` (sequential, or one worker process per GPU with
``CUDA_VISIBLE_DEVICES`` set) and :func:`run_submitit` (one submitit job per run; Slurm, or
submitit's ``local``/``debug`` clusters to try the same path without Slurm). Both call
:func:`execute` for each run, which never raises for a failing notebook: it returns the status
and the error as one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from ._io import atomic_write_text

FORMAT = "superconv-sweep-1"
STATUSES = ("pending", "running", "done", "failed")
MAX_NAME = 180  # characters of a run name before it is shortened (file systems allow 255)


# --------------------------------------------------------------------------- grid and names

def expand_grid(grid: dict[str, list]) -> list[dict]:
    """The Cartesian product, first name varying slowest: ``{"A": [1, 2], "B": [3]}`` ->
    ``[{"A": 1, "B": 3}, {"A": 2, "B": 3}]``."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def _token(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "-".join(_token(v) for v in value) or "empty"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def canonical(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def params_hash(params: dict) -> str:
    return hashlib.sha256(canonical(params).encode()).hexdigest()[:8]


def run_name(stem: str, params: dict, hashed: bool = False) -> str:
    """``05_hessian_free_estimate__PROFILE=smoke__SEEDS=0-1`` (parameters in the given order).

    Characters other than letters, digits and ``._+-=`` become ``_``; ``hashed`` (or a name
    longer than :data:`MAX_NAME`) appends a hash of the parameters, for names that would collide.
    """
    parts = [stem] + [f"{k}={_token(v)}" for k, v in params.items()]
    name = re.sub(r"[^A-Za-z0-9._+=-]", "_", "__".join(parts))
    if hashed or len(name) > MAX_NAME:
        name = name[:MAX_NAME] + "__" + params_hash(params)
    return name


def free_path(path: Path) -> Path:
    """``path`` if it does not exist, else ``stem-2.ipynb``, ``stem-3.ipynb``, ..."""
    path = Path(path)
    k, candidate = 2, path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{k}{path.suffix}")
        k += 1
    return candidate


def move_aside(path: Path) -> Path:
    """Rename an existing file to ``stem.old-K.suffix`` (smallest free K); returns the new path."""
    path = Path(path)
    k = 1
    while (target := path.with_name(f"{path.stem}.old-{k}{path.suffix}")).exists():
        k += 1
    os.replace(path, target)
    return target


# --------------------------------------------------------------------------- one run

def one_line(text: Any, limit: int = 300) -> str:
    """The first non-empty line of ``text``, at most ``limit`` characters."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@contextlib.contextmanager
def _environ(env: dict | None):
    """Set environment variables for the duration (the notebook's kernel inherits them)."""
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update({k: str(v) for k, v in (env or {}).items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a record comes (a redirected one too)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def _stream_papermill_log() -> None:
    """papermill's ``log_output`` logs every cell's output at INFO on the "papermill" logger,
    which has no handler by default (so nothing showed): give it one, once."""
    log = logging.getLogger("papermill")
    if not any(isinstance(h, _StdoutHandler) for h in log.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)


#: Arguments of every kernel the CLI starts. ipykernel warns at each start that the kernel runs
#: over TCP without encryption; the kernel manager binds it to 127.0.0.1 with a random HMAC key,
#: so only this machine reaches it, and the warning is noise on every run. Only the kernel app's
#: own log is raised to errors; cell output and tracebacks are untouched.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)


def execute(task: dict) -> dict:
    """Run one notebook through papermill in this process.

    ``task``: ``notebook``, ``output`` (paths), ``params`` (dict), ``cwd`` (the kernel's working
    directory), ``env`` (extra environment variables), ``log_output`` (stream cell output),
    ``progress_bar`` (papermill's cell progress bar).
    Returns ``{"status": "done"|"failed", "error": one line or None, "seconds", "host", "pid"}``;
    a failing notebook is a result, not an exception (the executed notebook keeps the traceback).
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    if task.get("log_output"):  # papermill logs cell output at INFO: give its logger a handler
        _stream_papermill_log()
    t0 = time.time()
    status, error = "done", None
    try:
        Path(task["output"]).parent.mkdir(parents=True, exist_ok=True)
        with _environ(task.get("env")):
            pm.execute_notebook(str(task["notebook"]), str(task["output"]), parameters=task.get("params") or {},
                                cwd=task.get("cwd"), progress_bar=bool(task.get("progress_bar")),
                                log_output=bool(task.get("log_output")), extra_arguments=list(KERNEL_ARGUMENTS))
    except PapermillExecutionError as e:
        status, error = "failed", one_line(f"{e.ename}: {one_line(e.evalue)}")
    except Exception as e:  # kernel died, bad notebook, disk full: still one line for the manifest
        status, error = "failed", one_line(f"{type(e).__name__}: {e}")
    return {"status": status, "error": error, "seconds": round(time.time() - t0, 1),
            "host": socket.gethostname(), "pid": os.getpid()}


def notebook_outcome(path: Path) -> str:
    """What an executed notebook on disk says: ``"done"`` (papermill finished, no exception),
    ``"failed"``, ``"incomplete"`` (never finished: the process died) or ``"missing"``."""
    path = Path(path)
    if not path.exists():
        return "missing"
    try:
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        return "incomplete"
    if meta.get("exception"):
        return "failed"
    return "done" if meta.get("end_time") else "incomplete"


# --------------------------------------------------------------------------- liveness

def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/PID/stat`` (Linux): state first, start time at index 19."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks, to tell a pid from a reused one."""
    stat = _proc_stat(pid)
    return stat[19] if stat and len(stat) > 19 else None


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` exists (and, when ``start`` is given, is the same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc here: trust kill()
    if stat[0] == "Z":
        return False  # a zombie is dead for our purposes
    return start is None or _proc_start(pid) == start


def slurm_job_alive(job_id: str) -> bool | None:
    """True while Slurm still lists the job (pending/running); None when ``squeue`` is absent."""
    if not shutil.which("squeue"):
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return bool(out.stdout.strip())


def entry_alive(entry: dict) -> bool | None:
    """Whether the process or job recorded in a ``running`` entry still exists (None: cannot tell)."""
    if entry.get("cluster") == "slurm" and entry.get("job_id"):
        return slurm_job_alive(entry["job_id"])
    if entry.get("pid"):
        if entry.get("host") != socket.gethostname():
            return None
        return pid_alive(int(entry["pid"]), entry.get("pid_start"))
    return False


# --------------------------------------------------------------------------- the manifest

def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class SweepLocked(RuntimeError):
    """Another live driver holds the manifest."""


class Manifest:
    """The JSON manifest of one notebook's sweeps under one output folder."""

    def __init__(self, path: Path, notebook: Path | None = None):
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(".lock")
        self.data = {"format": FORMAT, "notebook": str(notebook) if notebook else None,
                     "created": _now(), "updated": None, "runs": []}
        if self.path.exists():
            data = json.loads(self.path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"{self.path} is not a sweep manifest (format {data.get('format')!r})")
            self.data = data

    @property
    def runs(self) -> list[dict]:
        return self.data["runs"]

    def get(self, name: str) -> dict | None:
        return next((e for e in self.runs if e["name"] == name), None)

    def add(self, entry: dict) -> dict:
        self.runs.append(entry)
        return entry

    def save(self) -> None:
        self.data["updated"] = _now()
        atomic_write_text(self.path, json.dumps(self.data, indent=1) + "\n")

    # A lock file (pid, host) keeps two drivers from writing the same manifest.
    def acquire(self) -> None:
        me = {"pid": os.getpid(), "pid_start": _proc_start(os.getpid()), "host": socket.gethostname()}
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    other = json.loads(self.lock_path.read_text())
                except (OSError, ValueError):
                    other = {}
                if other.get("pid") and entry_alive(other) is not False:
                    raise SweepLocked(f"another sweep (pid {other['pid']} on {other.get('host')}) is using "
                                      f"{self.path}; wait for it, or delete {self.lock_path} if it is gone")
                self.lock_path.unlink(missing_ok=True)  # stale: its driver is dead
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return
        raise SweepLocked(f"could not lock {self.lock_path}")

    def release(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.lock_path.read_text()).get("pid") == os.getpid():
                self.lock_path.unlink()


def plan(manifest: Manifest, points: list[tuple[str, dict]], out: Path) -> tuple[list[dict], list[str]]:
    """Reconcile the manifest with the grid; returns (entries to run, notes for the user).

    ``points`` are ``(name, params)`` in grid order. New points become ``pending`` entries.
    """
    todo, notes = [], []
    for name, params in points:
        e = manifest.get(name)
        if e is None:
            e = manifest.add({"name": name, "params": params, "status": "pending",
                              "notebook": name + ".ipynb", "error": None, "attempts": 0})
        nb = out / e["notebook"]
        if e["status"] == "done":
            if nb.exists():
                continue
            notes.append(f"{name}: recorded done but {nb} is missing; running it again")
        elif e["status"] == "running":
            alive = entry_alive(e)
            who = f"Slurm job {e['job_id']}" if e.get("cluster") == "slurm" else f"pid {e.get('pid')} on {e.get('host')}"
            if alive:
                notes.append(f"{name}: still running as {who}; not started again "
                             "(start the sweep again after it ends to record it)")
                continue
            if alive is None:
                notes.append(f"{name}: cannot check {who} from here; not started again "
                             "(if it is gone, run the sweep again where it can be checked)")
                continue
            outcome = notebook_outcome(nb)
            if outcome == "done":
                e.update(status="done", error=None, finished=e.get("finished") or _now())
                notes.append(f"{name}: had finished after the sweep stopped; recorded as done")
                continue
            notes.append(f"{name}: was running when its sweep stopped ({who} is gone, notebook {outcome}); "
                         "running it again")
        todo.append(e)
    return todo, notes


# --------------------------------------------------------------------------- executors

def _child(task: dict, conn) -> None:
    """Entry point of a local worker process: run one notebook, send back the result."""
    try:
        conn.send(execute(task))
    except KeyboardInterrupt:
        pass  # Ctrl-C: the driver records the interruption
    except OSError:
        pass  # the driver is gone: the executed notebook on disk is the record
    finally:
        conn.close()


def gpu_ids(n: int) -> list[str]:
    """The first ``n`` GPUs as ``CUDA_VISIBLE_DEVICES`` values, within any mask already set."""
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [x.strip() for x in mask.split(",") if x.strip()] if mask else [str(i) for i in range(n)]
    return ids[:n]


def run_local(tasks: Iterable[dict], gpus: list[str] | None, on_start: Callable, on_finish: Callable,
              poll_s: float = 0.1) -> None:
    """Run tasks in worker processes: one at a time (``gpus`` None), or one per GPU at a time,
    each worker seeing only its GPU (``CUDA_VISIBLE_DEVICES``, so ``cuda`` = ``cuda:0`` there).

    ``on_start(task, pid=, gpu=)`` and ``on_finish(task, result)`` run in this process.
    """
    ctx = mp.get_context("spawn")  # no fork of a process that may hold CUDA or threads
    queue = list(tasks)
    slots: list[str | None] = list(gpus) if gpus else [None]
    active: dict[int, tuple] = {}
    try:
        while queue or active:
            for i, gpu in enumerate(slots):
                if i in active or not queue:
                    continue
                task = queue.pop(0)
                if gpu is not None:
                    task = {**task, "env": {**(task.get("env") or {}), "CUDA_VISIBLE_DEVICES": gpu}}
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(task, send), name=f"superconv-run-{i}")
                proc.start()
                send.close()
                active[i] = (proc, recv, task)
                on_start(task, pid=proc.pid, gpu=gpu)
            for i, (proc, recv, task) in list(active.items()):
                result = None
                if recv.poll():
                    try:
                        result = recv.recv()
                    except EOFError:
                        pass
                elif proc.is_alive():
                    continue
                proc.join()
                recv.close()
                del active[i]
                on_finish(task, result or {"status": "failed", "seconds": None,
                                           "error": f"worker process exited with code {proc.exitcode}"})
            time.sleep(poll_s)
    except KeyboardInterrupt:
        # Ctrl-C reached the workers too; give papermill a moment to shut its kernels down.
        for i, (proc, recv, task) in list(active.items()):
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            on_finish(task, {"status": "failed", "error": "interrupted (Ctrl-C)", "seconds": None})
        raise


def run_submitit(tasks: list[dict], folder: Path, cluster: str, parameters: dict, on_start: Callable,
                 on_finish: Callable, poll_s: float = 2.0) -> None:
    """One submitit job per task (a Slurm job array when ``cluster`` is ``"slurm"``).

    ``parameters`` go to ``AutoExecutor.update_parameters`` (``timeout_min``, ``gpus_per_node``,
    ``slurm_partition``, ``slurm_array_parallelism``, ...). ``on_start(task, job_id=, pid=, log=)``
    is called once the jobs are submitted; the driver then waits and calls ``on_finish``.
    """
    import submitit

    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})
    with executor.batch():
        jobs = [executor.submit(execute, t) for t in tasks]
    for job, task in zip(jobs, tasks):
        pid = int(job.job_id) if cluster == "local" and str(job.job_id).isdigit() else None
        if cluster == "debug":
            pid = os.getpid()  # debug jobs run inside this process
        on_start(task, job_id=str(job.job_id), pid=pid, log=str(job.paths.stdout))
    pending = list(zip(jobs, tasks))
    while pending:
        for job, task in list(pending):
            if not job.done():
                continue
            try:
                result = job.result()
            except Exception as e:  # the job itself died: timeout, preemption, out of memory
                result = {"status": "failed", "error": one_line(f"{type(e).__name__}: {e}"), "seconds": None}
            pending.remove((job, task))
            on_finish(task, result)
        if pending:
            time.sleep(poll_s)


# --------------------------------------------------------------------------- the driver

def drive(manifest: Manifest, entries: list[dict], *, out: Path, notebook: Path, env: dict | None = None,
          log_output: bool = False, executor: str = "local", gpus: list[str] | None = None,
          cluster: str = "slurm", submitit_parameters: dict | None = None,
          say: Callable[[str], None] = print) -> None:
    """Run ``entries`` (from :func:`plan`) and keep the manifest current.

    Only this process writes the manifest: workers and jobs report back through the executor.
    """
    out = Path(out)
    by_name = {e["name"]: e for e in entries}
    tasks = []
    for e in entries:
        target = out / e["notebook"]
        if target.exists():
            say(f"{e['name']}: kept the earlier notebook as {move_aside(target).name}")
        tasks.append({"name": e["name"], "notebook": str(notebook), "output": str(target), "params": e["params"],
                      "cwd": str(Path(notebook).parent), "env": dict(env or {}), "log_output": log_output})
    n, started, finished = len(tasks), [0], [0]

    def on_start(task, pid=None, gpu=None, job_id=None, log=None):
        e = by_name[task["name"]]
        e.update(status="running", attempts=e.get("attempts", 0) + 1, started=_now(), finished=None,
                 seconds=None, error=None, pid=pid, pid_start=_proc_start(pid) if pid else None,
                 host=socket.gethostname() if pid else None, job_id=job_id,
                 cluster=cluster if executor == "slurm" else "local", gpu=gpu, log=log,
                 store=task["env"].get("SUPERCONV_RESULTS"))
        manifest.save()
        started[0] += 1
        where = f" on GPU {gpu}" if gpu is not None else f" as job {job_id}" if job_id else ""
        say(f"[{started[0]}/{n}] started {task['name']}{where}")

    def on_finish(task, result):
        e = by_name[task["name"]]
        e.update(status=result["status"], error=result.get("error"), finished=_now(),
                 seconds=result.get("seconds"))
        if result.get("host"):
            e["host"] = result["host"]
        manifest.save()
        finished[0] += 1
        took = f" in {result['seconds']:.0f} s" if result.get("seconds") is not None else ""
        what = f"done{took}: {task['output']}" if result["status"] == "done" else \
            f"FAILED{took}: {result.get('error')} (notebook: {task['output']})"
        say(f"[{finished[0]}/{n}] {task['name']} {what}")

    if tasks and executor == "slurm":
        run_submitit(tasks, out / "slurm-logs", cluster, submitit_parameters or {}, on_start, on_finish)
    elif tasks:
        run_local(tasks, gpus, on_start, on_finish)
