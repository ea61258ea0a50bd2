"""``python -m superconv``: run a chapter notebook, or a grid of runs, from the command line.

Three subcommands (``--help`` on each explains every flag):

* ``run CHAPTER``    one papermill execution, kept under ``--out``;
* ``sweep CHAPTER``  the Cartesian ``--grid``, locally (one worker per GPU) or on Slurm through
  submitit, with a manifest that makes it resumable (see ``superconv.sweep``);
* ``params CHAPTER`` the notebook's parameters, defaults and help.

Everything is validated before anything runs: an unknown chapter or parameter, a value of the wrong
kind, a bad executor or resource flag is one line on stderr naming the flag and what is allowed,
and exit code 2. Besides the generic checks (names, PROFILE, DEVICE, seed lists, the type of a
non-None default), a book chapter's parameters go through its own checks
(``study.CHAPTER.check``, the same that the notebook's first cell runs), for ``run``, for every
point of a ``sweep`` grid and under ``--dry-run`` alike.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from . import chapter, scorecard
from . import sweep as sw
from .verdicts import papermill_command

CHAPTERS_DIR = Path(__file__).resolve().parents[1] / "chapters"
PROG = "python -m superconv"
EXECUTORS = ("local", "slurm")
CLUSTERS = ("slurm", "local", "debug")
SLURM_DEFAULTS = {"slurm_time": 720, "slurm_gpus_per_node": 1, "slurm_cpus_per_task": 8}
_NO_DEFAULT = object()  # a parameter whose default is not a literal


class UsageError(Exception):
    """A bad command line: one line, exit code 2, nothing started."""


# --------------------------------------------------------------------------- chapters

def chapters(root: Path = CHAPTERS_DIR) -> list[Path]:
    return sorted(root.glob("[0-9]*.ipynb")) if root.is_dir() else []


def resolve_chapter(text: str, root: Path = CHAPTERS_DIR) -> Path:
    """``"3"``, ``"03"``, ``"03_one_cycle"``, ``"one_cycle"`` or a path to an ``.ipynb``."""
    known = chapters(root)
    numbers = ", ".join(str(int(re.match(r"\d+", p.stem).group())) for p in known)
    allowed = (f"a number ({numbers}), a name ({', '.join(p.stem for p in known)}) or a path to an .ipynb"
               if known else "a path to an .ipynb (no chapters/ folder next to the package)")
    path = Path(text).expanduser()
    if text.endswith(".ipynb") or os.sep in text:
        if path.is_file() and path.suffix == ".ipynb":
            return path.resolve()
        raise UsageError(f"CHAPTER {text!r}: no such notebook; allowed: {allowed}")
    if text.isdigit():
        hits = [p for p in known if int(re.match(r"\d+", p.stem).group()) == int(text)]
    else:
        hits = [p for p in known if p.stem == text] or \
               [p for p in known if re.sub(r"^\d+_", "", p.stem) == text] or \
               [p for p in known if text in p.stem]
    if len(hits) != 1:
        why = "is ambiguous" if hits else "is not a chapter"
        raise UsageError(f"CHAPTER {text!r} {why}; allowed: {allowed}")
    return hits[0]


def chapter_of(path: Path):
    """The book chapter's ``studies.base.Chapter`` of a notebook (by its file name), or None for
    a notebook that is not one of the book's."""
    return next((c for c in scorecard.CHAPTERS if Path(c.notebook).name == path.name), None)


def check_chapter(path: Path, known: dict, params: dict, where: str) -> None:
    """The chapter's own parameter checks (what its first cell runs) on the notebook's defaults
    overlaid with ``params``; a bad value is a ``UsageError`` that says ``where`` it came from."""
    ch = chapter_of(path)
    if ch is None:
        return
    try:
        with _cwd(path.parent):  # the kernel's folder: a relative path parameter means the same there
            ch.check({**{n: known[n]["default"] for n in known}, **params})
    except ValueError as e:  # ParameterError, or a spec builder's own ValueError
        raise UsageError(f"{where}: {sw.one_line(e)}") from None


@contextlib.contextmanager
def _cwd(folder: Path):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def notebook_parameters(path: Path) -> dict[str, dict]:
    """``{NAME: {"default": value, "help": text}}`` from the cell tagged ``parameters``."""
    import papermill as pm
    try:
        found = pm.inspect_notebook(str(path))
    except Exception as e:
        raise UsageError(f"CHAPTER {str(path)!r}: cannot read its parameters ({sw.one_line(e)})")
    if not found:
        raise UsageError(f"CHAPTER {str(path)!r} has no cell tagged 'parameters'; papermill cannot set any")
    out = {}
    for name, p in found.items():
        try:
            default = ast.literal_eval(p.get("default") or "None")
        except (ValueError, SyntaxError):
            default = _NO_DEFAULT
        out[name] = {"default": default, "help": p.get("help") or ""}
    return out


# --------------------------------------------------------------------------- values

def parse_value(text: str) -> Any:
    """One rule for ``-p`` and ``--grid`` values: a Python literal if it parses as one
    (``3``, ``0.5``, ``1e-3``, ``True``, ``None``, ``"3"``, ``[0, 1]``), else the text as a
    string (``paper``, ``cuda:1``). Tuples become lists."""
    try:
        value = ast.literal_eval(text)
    except Exception:  # not a literal (or absurdly nested): take it as text
        return text
    return _lists(value)


def _lists(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


def split_values(text: str) -> list[str]:
    """``"1,3"`` -> ``["1", "3"]``; commas inside brackets or quotes do not split:
    ``"[0,1],[2,3]"`` -> ``["[0,1]", "[2,3]"]``."""
    parts, cur, depth, quote = [], "", 0, None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == "," and depth <= 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def _show(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_.:+-]+", text) else repr(text)


def _short(value: Any) -> str:
    r = repr(value)
    return r if len(r) <= 80 else r[:77] + "..."


def _plain(value: Any) -> bool:
    """What papermill can write into a parameters cell: numbers, strings, bools, None, lists/dicts."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "True or False"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "a dict"}.get(type(value), type(value).__name__)


def is_seed_list(name: str) -> bool:
    return name == "SEEDS" or name.endswith("_SEEDS")


def check_value(flag: str, name: str, value: Any, default: Any, device_rule: str = "here") -> Any:
    """Generic checks of one notebook parameter; returns the value (seed lists normalised).

    ``device_rule``: ``"here"`` (DEVICE must work on this machine), ``"syntax"`` (jobs run
    elsewhere, e.g. Slurm) or ``"gpus"`` (one GPU per worker: 'auto', 'cuda' or 'cuda:0').
    """
    if not _plain(value):
        raise UsageError(f"{flag}: {name}={_short(value)} is not allowed; allowed: a finite number, a string, "
                         "True/False, None, or a list/dict of those")
    try:
        if name == "PROFILE":
            chapter.profile(name, value)
        elif name == "DEVICE":
            value = (chapter.device if device_rule == "here" else chapter.device_syntax)(name, value)
            if device_rule == "gpus" and value not in ("auto", "cuda", "cuda:0"):
                raise chapter.ParameterError(f"DEVICE={_short(value)} is not allowed with --gpus (each worker sees "
                                             "its one GPU as cuda:0); allowed: 'auto', 'cuda', 'cuda:0'")
        elif is_seed_list(name) and value is not None:
            if isinstance(value, int) and not isinstance(value, bool):
                value = [value]  # one seed -> a list of one, so `--grid seeds=0,1,2` is three runs
            value = chapter.seed_list(name, value)
        elif value is not None and default not in (None, _NO_DEFAULT) and _kind(value) != _kind(default):
            raise chapter.ParameterError(f"{name}={_short(value)} is not allowed; allowed: {_kind(default)} like "
                                         f"the notebook's default {_short(default)}, or None")
    except chapter.ParameterError as e:
        raise UsageError(f"{flag}: {e}") from None
    return value


def parameter_name(flag: str, text: str, known: dict, stem: str) -> str:
    """The notebook's name for ``text``: exact, else upper-cased (``max_lr`` -> ``MAX_LR``)."""
    for cand in (text, text.upper()):
        if cand in known:
            return cand
    raise UsageError(f"{flag}: unknown parameter {_show(text)} of {stem}; allowed: {', '.join(known)}")


def fixed_parameters(args, known: dict, stem: str, device_rule: str) -> dict:
    """``--profile``, ``--device`` and every ``-p NAME VALUE``, checked; in the notebook's order."""
    given: dict[str, tuple[str, Any]] = {}
    pairs = [("--profile", "PROFILE", args.profile), ("--device", "DEVICE", args.device)]
    pairs += [(f"-p {_show(n)}", n, parse_value(v)) for n, v in (args.parameter or [])]
    for flag, text, value in pairs:
        if flag.startswith("--") and value is None:
            continue
        name = parameter_name(flag, text, known, stem)
        value = check_value(flag, name, value, known[name]["default"], device_rule)
        if name in given and given[name][1] != value:
            raise UsageError(f"{flag}: {name} is already set to {_short(given[name][1])} by {given[name][0]}; "
                             "allowed: one value per parameter")
        given[name] = (flag, value)
    return {n: given[n][1] for n in known if n in given}


def parse_grid(items: list[str], known: dict, stem: str, fixed: dict, device_rule: str) -> dict[str, list]:
    grid: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--grid {_show(item)}: expected NAME=V1,V2,... (e.g. seeds=0,1,2 max_lr=1,3)")
        text, _, values = item.partition("=")
        flag = f"--grid {_show(text)}"
        name = parameter_name(flag, text.strip(), known, stem)
        if name in grid:
            raise UsageError(f"{flag}: {name} appears twice in --grid; allowed: each parameter once")
        if name in fixed:
            raise UsageError(f"{flag}: {name} is also set by -p/--profile/--device; allowed: either fixed or swept")
        raw = split_values(values)
        if not values.strip() or any(not r for r in raw):
            raise UsageError(f"{flag}: empty value in {_show(values)}; allowed: comma-separated values")
        vals = [check_value(flag, name, parse_value(r), known[name]["default"], device_rule) for r in raw]
        seen = [json.dumps(v, sort_keys=True) for v in vals]
        if len(set(seen)) != len(seen):
            raise UsageError(f"{flag}: repeated value in {_show(values)}; allowed: distinct values")
        grid[name] = vals
    return grid


# --------------------------------------------------------------------------- shared steps

def _prepare(args, device_rule: str):
    path = resolve_chapter(args.chapter)
    known = notebook_parameters(path)
    fixed = fixed_parameters(args, known, path.stem, device_rule)
    if args.command == "run":  # a sweep checks each grid point instead (the grid may complete -p)
        check_chapter(path, known, fixed, f"{path.stem} with -p/--profile/--device")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; allowed: a folder (created if missing)")
    env = {}
    if args.store is not None:
        store = Path(args.store).expanduser()
        if store.exists() and not store.is_dir():
            raise UsageError(f"--store {str(store)!r} is a file; allowed: a folder (created if missing)")
        env["SUPERCONV_RESULTS"] = str(store.resolve())  # absolute: the kernel runs in the chapter's folder
    return path, known, fixed, out, env


def _papermill_line(path: Path, output: Path, params: dict, env: dict | None = None) -> str:
    """The papermill command that does what the CLI does for one run (in the chapter's folder)."""
    return papermill_command(path, params, output, cwd=path.parent, env=env)


# --------------------------------------------------------------------------- run

def cmd_run(args) -> int:
    path, known, fixed, out, env = _prepare(args, "here")
    output = out / (sw.run_name(path.stem, fixed) + ".ipynb")
    if output.exists() and not args.overwrite:
        new = sw.free_path(output)
        print(f"note: {output} exists; writing {new.name} instead (--overwrite replaces it)")
        output = new
    if args.dry_run:
        print(f"would run: {_papermill_line(path, output, fixed, env)}")
        return 0
    where = f", results in {env['SUPERCONV_RESULTS']}" if env else ""
    print(f"running {path.name} -> {output}{where}")
    # papermill writes as it goes: under a temporary name, so that a killed run never leaves a
    # half-written notebook under the canonical one; renamed when it ends (".failed" on failure)
    partial = output.with_name(output.stem + ".running.ipynb")
    result = sw.execute({"notebook": str(path), "output": str(partial), "params": fixed, "cwd": str(path.parent),
                         "env": env, "log_output": args.log_output, "progress_bar": sys.stderr.isatty()})
    if result["status"] == "done":
        partial.replace(output)
        print(f"done in {result['seconds']:.0f} s: {output}")
        return 0
    failed = output.with_name(output.stem + ".failed.ipynb")
    if partial.exists():
        partial.replace(failed)
    print(f"FAILED after {result['seconds']:.0f} s: {result['error']}\n"
          f"the executed notebook (with the traceback) is {failed}", file=sys.stderr)
    return 1


# --------------------------------------------------------------------------- sweep

def _executor_options(args) -> tuple[str, list[str] | None, dict]:
    """Check executor flags; returns (cluster, GPU ids for local workers, submitit parameters)."""
    slurm_flags = {f: getattr(args, f) for f in ("slurm_partition", "slurm_time", "slurm_gpus_per_node",
                                                  "slurm_cpus_per_task", "slurm_mem", "slurm_array_parallelism",
                                                  "slurm_account", "slurm_qos", "slurm_constraint", "slurm_cluster")}
    if args.executor == "local":
        for f, v in slurm_flags.items():
            if v is not None:
                raise UsageError(f"--{f.replace('_', '-')} applies to --executor slurm only; allowed with "
                                 "--executor local: --gpus N")
        gpus = None
        if args.gpus is not None:
            have = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if args.gpus > have:
                raise UsageError(f"--gpus {args.gpus}: this machine has {have} CUDA device(s); allowed: 1..{have} "
                                 "(or leave it out to run one at a time)" if have else
                                 f"--gpus {args.gpus}: this machine has no CUDA device; allowed: leave --gpus out "
                                 "(runs one at a time) or use --executor slurm")
            gpus = sw.gpu_ids(args.gpus)
        return "local", gpus, {}
    if args.gpus is not None:
        raise UsageError("--gpus applies to --executor local only; allowed with --executor slurm: "
                         "--slurm-gpus-per-node G")
    cluster = args.slurm_cluster or "slurm"
    if cluster == "slurm" and not shutil.which("sbatch"):
        raise UsageError("--executor slurm: sbatch is not on PATH (not a Slurm login node?); allowed here: "
                         "--executor local, or --slurm-cluster local/debug to try the Slurm path without Slurm")
    pick = lambda f: slurm_flags[f] if slurm_flags[f] is not None else SLURM_DEFAULTS.get(f)  # noqa: E731
    params = {"name": "superconv", "timeout_min": pick("slurm_time"), "gpus_per_node": pick("slurm_gpus_per_node"),
              "cpus_per_task": pick("slurm_cpus_per_task"), "mem_gb": slurm_flags["slurm_mem"],
              "slurm_partition": slurm_flags["slurm_partition"],
              "slurm_array_parallelism": slurm_flags["slurm_array_parallelism"],
              "slurm_account": slurm_flags["slurm_account"], "slurm_qos": slurm_flags["slurm_qos"],
              "slurm_constraint": slurm_flags["slurm_constraint"]}
    return cluster, None, params


def cmd_sweep(args) -> int:
    if args.executor == "slurm":
        device_rule = "syntax"
    else:
        device_rule = "gpus" if args.gpus is not None else "here"
    cluster, gpus, submitit_params = _executor_options(args)
    path, known, fixed, out, env = _prepare(args, device_rule)
    grid = parse_grid(args.grid, known, path.stem, fixed, device_rule)
    manifest_path = out / f"{path.stem}.sweep.json"
    try:
        manifest = sw.Manifest(manifest_path, notebook=path)
    except (OSError, ValueError) as e:
        raise UsageError(f"--out {str(out)!r}: cannot read the manifest ({sw.one_line(e)})")

    # One name per grid point; a hash is added where names would collide.
    points = []
    for point in sw.expand_grid(grid):
        params = {n: {**fixed, **point}[n] for n in known if n in fixed or n in point}
        check_chapter(path, known, params, "--grid point " + ", ".join(f"{n}={_short(v)}" for n, v in point.items()))
        points.append((sw.run_name(path.stem, params), params))
    names = [n for n, _ in points]
    points = [(sw.run_name(path.stem, p, hashed=names.count(n) > 1 or
                           (manifest.get(n) is not None and manifest.get(n)["params"] != p)), p) for n, p in points]

    if args.dry_run:
        todo, notes = sw.plan(manifest, points, out)
        for note in notes:
            print(note)
        print(f"{len(points)} grid point(s), {len(todo)} to run with --executor {args.executor}"
              f"{f' on GPUs {gpus}' if gpus else ''}; manifest {manifest_path}")
        for e in todo:
            print(f"  {_papermill_line(path, out / e['notebook'], e['params'], env)}")
        return 0

    try:
        manifest.acquire()
    except sw.SweepLocked as e:
        raise UsageError(f"--out {str(out)!r}: {e}")
    try:
        todo, notes = sw.plan(manifest, points, out)
        for note in notes:
            print(note)
        manifest.data["notebook"] = str(path)
        manifest.save()
        skipped = len(points) - len(todo)
        print(f"sweep of {path.name}: {len(points)} grid point(s), {skipped} already done or running, "
              f"{len(todo)} to run; manifest {manifest_path}")
        sw.drive(manifest, todo, out=out, notebook=path, env=env, log_output=args.log_output,
                 executor=args.executor, gpus=gpus, cluster=cluster, submitit_parameters=submitit_params)
    except KeyboardInterrupt:
        manifest.save()
        jobs = "; submitted Slurm jobs keep running and are recorded when the sweep is started again after they end" \
            if args.executor == "slurm" else ""
        print(f"interrupted{jobs}; start the same command again to resume (manifest {manifest_path})", file=sys.stderr)
        return 130
    finally:
        manifest.release()
    counts = {s: 0 for s in sw.STATUSES}
    failed = []
    for name, _ in points:
        e = manifest.get(name)
        counts[e["status"]] += 1
        if e["status"] == "failed":
            failed.append(f"  {name}: {e['error']}")
    print(f"sweep of {path.name}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v) +
          f"; manifest {manifest_path}")
    if failed:
        print("failed runs (start the same command again to rerun them):\n" + "\n".join(failed), file=sys.stderr)
    return 0 if counts["done"] == len(points) else 1


# --------------------------------------------------------------------------- params

def cmd_params(args) -> int:
    path = resolve_chapter(args.chapter)
    known = notebook_parameters(path)
    print(f"{path.name} parameters (set with -p NAME VALUE or --grid NAME=V1,V2):")
    width = max(map(len, known))
    for name, p in known.items():
        default = "(not a literal)" if p["default"] is _NO_DEFAULT else repr(p["default"])
        print(f"  {name:<{width}}  default {default:<8} {p['help']}")
    return 0


# --------------------------------------------------------------------------- the parser

class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def _int_at_least(lo: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: an integer >= {lo}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: an integer >= {lo}")
        return value
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: a number > 0")
    return value


def _nonempty(text: str) -> str:
    if not text.strip() or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: a non-empty name without spaces")
    return text


VALUES_HELP = """\
values: each VALUE is read as a Python literal -- 3, 0.5, 1e-3, True, None, "text", [0, 1] --
and anything that is not a literal is taken as a string (so `-p PROFILE paper`, `-p DEVICE cuda:1`
need no quotes; quote a string that looks like a number: -p NAME '"3"'). A single seed given to
SEEDS or any *_SEEDS parameter becomes a list of one (`--grid seeds=0,1,2` = three runs with
SEEDS=[0], [1], [2]). Names may be given in lower case (max_lr -> MAX_LR).
(papermill's own -p reads only numbers, True/False/None and strings; a list needs -y "SEEDS: [0, 1]".)

checks: before anything runs, the CLI checks the chapter, every parameter name (the notebook's
`parameters` cell), PROFILE (smoke/laptop/paper), DEVICE (auto/cpu/cuda/cuda:N/mps, and that it
exists here unless the jobs go to Slurm), seed lists (distinct integers >= 0), and that a value
has the type of the notebook's default when that is not None. Then a book chapter's own
checks (MAX_LR > 0, BASE_LR < MAX_LR, batch sizes that fit the training set, ...), the same that
the notebook's first cell runs, on the values of every run (each grid point of a sweep)."""

RUN_EPILOG = VALUES_HELP + """

examples:
  python -m superconv run 3 --profile paper --device cuda --out runs/
  python -m superconv run 05_hessian_free_estimate -p MAX_LR 2.0 -p SEEDS "[0, 1]" --store /data/results
  python -m superconv run chapters/02_lr_range_test.ipynb --profile smoke --dry-run

the papermill equivalent of the first example (what it runs, in the chapter's folder):
  papermill chapters/03_one_cycle.ipynb runs/03_one_cycle__PROFILE=paper__DEVICE=cuda.ipynb \\
      -p PROFILE paper -p DEVICE cuda --cwd chapters
"""

SWEEP_EPILOG = VALUES_HELP + """

resuming: the manifest OUT/<chapter>.sweep.json has one entry per grid point (parameters, status
pending/running/done/failed, notebook, error line, pid or job id). Run the same command again to
resume: done points are skipped; failed ones, and 'running' ones whose process or job is gone,
run again (an earlier notebook is kept as NAME.old-K.ipynb). Exit code: 0 when every grid point
is done, 1 otherwise, 2 for a bad command line, 130 when interrupted.

examples:
  python -m superconv sweep 3 --profile paper --grid seeds=0,1,2 --out runs/ --executor local --gpus 4
  python -m superconv sweep 05_hessian_free_estimate --profile paper --device cuda \\
      --grid max_lr=1,3 inc=1,10 --executor slurm --slurm-partition gpu --slurm-time 120 --out runs/
  python -m superconv sweep 1 --grid "POLICIES=['triangular'],['exp_range']" --profile smoke --dry-run

each grid point is one papermill run, e.g. for the first example:
  CUDA_VISIBLE_DEVICES=0 papermill chapters/03_one_cycle.ipynb runs/03_one_cycle__PROFILE=paper__SEEDS=0.ipynb \\
      -p PROFILE paper -y "SEEDS: [0]" --cwd chapters
"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Run the book's chapter notebooks through papermill: one run, or a grid of runs "
                                 "on local GPUs or Slurm. Every run keeps its executed notebook under --out; the "
                                 "training results go to the results store, where chapters find them later.",
                     epilog="examples:\n  python -m superconv params 3\n"
                            "  python -m superconv run 3 --profile paper --device cuda\n"
                            "  python -m superconv sweep 3 --profile paper --grid seeds=0,1,2 --gpus 3\n"
                            "see `python -m superconv run --help` and `... sweep --help` for every flag")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,sweep,params}")

    common = _Parser(add_help=False)
    common.add_argument("chapter", metavar="CHAPTER",
                        help="the notebook: a number (3), a name (03_one_cycle, one_cycle) or a path to an .ipynb")
    common.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="set a notebook parameter (repeatable), e.g. -p MAX_LR 3 -p SEEDS '[0, 1]'")
    common.add_argument("--profile", help="shorthand for -p PROFILE ...: smoke (seconds, for tests), laptop "
                                          "(minutes on a CPU), paper (the paper's settings, for a GPU)")
    common.add_argument("--device", help="shorthand for -p DEVICE ...: auto, cpu, cuda, cuda:N or mps")
    common.add_argument("--out", default="runs", metavar="DIR",
                        help="folder for the executed notebooks (and a sweep's manifest); default: runs")
    common.add_argument("--store", metavar="DIR", help="results store for the runs (sets SUPERCONV_RESULTS); "
                                                       "default: the notebooks' own (results/ in a checkout)")
    common.add_argument("--log-output", action="store_true", help="stream the notebooks' cell output here")
    common.add_argument("--dry-run", action="store_true", help="check everything and print what would run, "
                                                               "as papermill commands; run nothing")

    run = sub.add_parser("run", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
                         help="execute one chapter notebook", epilog=RUN_EPILOG,
                         description="Execute one chapter notebook through papermill. The executed notebook is "
                                     "OUT/<chapter>__<NAME=VALUE>....ipynb; an existing one is never replaced "
                                     "silently: the new run gets a -2, -3, ... suffix (and says so) unless "
                                     "--overwrite.")
    run.add_argument("--overwrite", action="store_true", help="replace an existing executed notebook of the same name")
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser("sweep", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
                           help="execute a chapter at every point of a parameter grid", epilog=SWEEP_EPILOG,
                           description="Execute a chapter at every point of the Cartesian product of --grid, "
                                       "locally or on Slurm, keeping a resumable manifest under --out.")
    sweep.add_argument("--grid", nargs="+", required=True, metavar="NAME=V1,V2",
                       help="swept parameters: NAME=comma-separated values; commas inside [] or quotes do not "
                            "split (seeds=0,1,2 max_lr=1,3 -> 6 runs)")
    sweep.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="local: on this machine, one run at a time, or one per GPU with --gpus; "
                            "slurm: one Slurm job per run through submitit (default: local)")
    sweep.add_argument("--gpus", type=_int_at_least(1), metavar="N",
                       help="local only: N worker processes, each with one GPU (CUDA_VISIBLE_DEVICES); "
                            "DEVICE must then be auto, cuda or cuda:0")
    slurm = sweep.add_argument_group("slurm (with --executor slurm; passed to submitit's AutoExecutor)")
    slurm.add_argument("--slurm-partition", type=_nonempty, metavar="P", help="partition (default: the cluster's)")
    slurm.add_argument("--slurm-time", type=_int_at_least(1), metavar="MIN",
                       help=f"time limit per run in minutes (default {SLURM_DEFAULTS['slurm_time']})")
    slurm.add_argument("--slurm-gpus-per-node", type=_int_at_least(0), metavar="G",
                       help=f"GPUs per run (default {SLURM_DEFAULTS['slurm_gpus_per_node']})")
    slurm.add_argument("--slurm-cpus-per-task", type=_int_at_least(1), metavar="C",
                       help=f"CPU cores per run (default {SLURM_DEFAULTS['slurm_cpus_per_task']})")
    slurm.add_argument("--slurm-mem", type=_positive_float, metavar="GB", help="memory per run in GB "
                                                                              "(default: the cluster's)")
    slurm.add_argument("--slurm-array-parallelism", type=_int_at_least(1), metavar="K",
                       help="at most K runs of the job array at once (default: submitit's, 256)")
    slurm.add_argument("--slurm-account", type=_nonempty, metavar="A", help="account to charge")
    slurm.add_argument("--slurm-qos", type=_nonempty, metavar="Q", help="quality of service")
    slurm.add_argument("--slurm-constraint", type=_nonempty, metavar="F", help="node features, e.g. h100")
    slurm.add_argument("--slurm-cluster", choices=CLUSTERS,
                       help="submitit cluster: slurm (default); local runs each job as a subprocess here and "
                            "debug inside this process -- the same code path, to try it without Slurm")
    sweep.set_defaults(func=cmd_sweep)

    params = sub.add_parser("params", formatter_class=argparse.RawDescriptionHelpFormatter,
                            help="list a chapter's parameters, defaults and help",
                            description="List a chapter's parameters (the cell tagged 'parameters').")
    params.add_argument("chapter", metavar="CHAPTER", help="a number (3), a name or a path to an .ipynb")
    params.set_defaults(func=cmd_params)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a bad flag (2, already printed)
        return e.code if isinstance(e.code, int) else 2
    try:
        return args.func(args)
    except UsageError as e:
        print(f"{PROG} {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before anything ran (a sweep handles its own)
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
