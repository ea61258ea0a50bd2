#!/usr/bin/env bash
# One prepared check on a lent GPU machine (one H100/H200-class GPU, no internet, this repo's
# working tree, no CIFAR-10), in under 8 minutes, into ONE report file:
#   (a) nvidia-smi and the torch/CUDA versions;
#   (b) the package's unit tests with training on CUDA (SUPERCONV_TEST_DEVICE=auto);
#   (c) ResNet-20/56 training throughput, batch 1000 and 512, bf16 + channels_last, eager and
#       torch.compile, with achieved TFLOP/s (FLOPs counted by torch's FlopCounterMode);
#   (d) a 1,000-iteration slice of the paper's ResNet-56 1cycle run (schedule scaled, batch 1000)
#       through superconv.experiments + fit, projected to the 10k-iteration headline run;
#   (e) a note that a 2-GPU DDP check needs two GPUs.
# Every stage runs under its own `timeout` (and the whole under a budget), a failed stage is
# recorded and the next one runs; the report is rewritten after every stage.
#
#   bash benchmarks/gpu_check.sh                   # report: $OUT/gpu_report.md, else benchmarks/gpu_report.md
#   GPU_CHECK_DRY=1 bash benchmarks/gpu_check.sh   # CPU, tiny sizes: tests the script, numbers mean nothing
# Knobs: PYTHON (default python3), GPU_CHECK_BUDGET_S (default 420: the stages, wall clock from
# the start; the last stage's kill grace and the test summary add at most 40 s), GPU_CHECK_PYTEST_ARGS
# (replaces the default "--maxfail=20"; e.g. "-x").
set -u
cd "$(dirname "$0")/.." || exit 2
REPO=$(pwd)
PY=${PYTHON:-python3}
DRY=${GPU_CHECK_DRY:-0}
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-420}      # all stages together; the stages' own caps are below
if [ -n "${OUT:-}" ]; then REPORT="$OUT/gpu_report.md"; else REPORT="$REPO/benchmarks/gpu_report.md"; fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
DRYFLAG=""; [ "$DRY" = "1" ] && DRYFLAG="--dry"
export PY REPO WORK   # the stage functions run in a child bash (timeout cannot run a function)
trap 'rm -rf "$WORK/train/data"' EXIT   # the synthetic dataset (180 MB); the logs stay in $WORK
: > "$WORK/stages.md"

# stage ID TITLE CAP_SECONDS CMD...: run CMD (a program, or an exported function) under timeout,
# the cap cut to the budget left; log to $WORK/ID.log, record the status, and on failure put the
# log's tail into fragment ID. `timeout` signals its whole process group (compile workers too).
stage() {
  local id=$1 title=$2 cap=$3; shift 3
  local left=$(( START + BUDGET - $(date +%s) ))
  (( cap > left )) && cap=$left
  if (( cap < 5 )); then
    echo "| $title | skipped: the time budget (${BUDGET} s) is spent | 0 |" >> "$WORK/stages.md"
    echo "Skipped: the time budget was spent." >> "$WORK/$id.md"
    LAST_STATUS="skipped (budget spent)"
    assemble; return
  fi
  local t0; t0=$(date +%s)
  if declare -F "$1" >/dev/null; then set -- bash -c "$*"; fi  # an exported function: through bash
  timeout -k 10 "$cap" "$@" > "$WORK/$id.log" 2>&1
  local rc=$? dt=$(( $(date +%s) - t0 )) status
  case $rc in
    0) status="ok" ;;
    124|137) status="TIMED OUT (cap ${cap} s)" ;;
    *) status="FAILED (exit $rc)" ;;
  esac
  echo "| $title | $status | $dt |" >> "$WORK/stages.md"
  if [ "$rc" != 0 ]; then
    { echo; echo "**Stage $status.** Last lines of its output:"; echo; echo '```'
      tail -n 25 "$WORK/$id.log"; echo '```'; } >> "$WORK/$id.md"
  fi
  LAST_STATUS=$status
  assemble
}

section() {  # section ID HEADING: the fragment, or a note that the stage has not run
  echo; echo "## $2"; echo
  if [ -s "$WORK/$1.md" ]; then cat "$WORK/$1.md"; else echo "(not run)"; fi
}

assemble() {
  {
    echo "# GPU check: ${DEVICE_NAME:-unknown device}"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - START )) s so far, by \`benchmarks/gpu_check.sh\`."
    [ "$DRY" = "1" ] && echo "**DRY RUN (GPU_CHECK_DRY=1): CPU and tiny sizes; it tests the script, the numbers mean nothing.**"
    echo
    echo "| stage | status | seconds |"; echo "|---|---|---:|"
    cat "$WORK/stages.md"
    section env "(a) Machine"
    section tests "(b) Unit tests with training on CUDA"
    section throughput "(c) Training throughput"
    section train "(d) Paper-profile 1cycle slice → the 10k-iteration headline run"
    section ddp "(e) Two-GPU DDP"
  } > "$REPORT.tmp" && mv "$REPORT.tmp" "$REPORT"
}

# ---- setup: superconv importable (the tree as is; no dependencies are installed)
setup() {
  if ! "$PY" -c "import superconv" 2>/dev/null; then
    export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
    "$PY" -c "import superconv" 2>/dev/null || "$PY" -m pip install -q --no-deps -e "$REPO"
  fi
  "$PY" -c "import superconv, torch; print('superconv', superconv.__file__, 'torch', torch.__version__)"
}
export -f setup
stage setup "setup (superconv importable)" 60 setup
"$PY" -c "import superconv" 2>/dev/null || export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
read -r NGPU DEVICE_NAME < <(timeout 20 "$PY" -c "import torch; c = torch.cuda.is_available(); \
print(torch.cuda.device_count() if c else 0, torch.cuda.get_device_name(0) if c else 'no CUDA device')" 2>/dev/null \
  || echo "0 unknown device")

# ---- (a) machine
env_stage() {
  {
    if command -v nvidia-smi >/dev/null 2>&1; then
      echo '```'; nvidia-smi; echo '```'; echo
      echo '```'
      nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm,mig.mode.current --format=csv
      echo '```'; echo
    else
      echo "nvidia-smi: not found on this machine."; echo
    fi
  } > "$WORK/env.md.part"
  "$PY" benchmarks/gpu_report.py env --out "$WORK/env.md.py" && cat "$WORK/env.md.part" "$WORK/env.md.py" > "$WORK/env.md"
}
export -f env_stage
stage env "(a) machine" 30 env_stage

# ---- (c) throughput: eager rows first, compiled rows while the stage's time allows
# (the deadline leaves 25 s of the cap for the process to exit: compiler worker pools take a while)
TP_CAP=190; [ "$DRY" = "1" ] && TP_CAP=120
stage throughput "(c) throughput" $TP_CAP "$PY" benchmarks/gpu_report.py throughput --out "$WORK/throughput.md" \
  --deadline $(( $(date +%s) + TP_CAP - 25 )) $DRYFLAG

# ---- (d) paper-profile slice of the headline 1cycle run
stage train "(d) paper-profile run" 80 "$PY" benchmarks/gpu_report.py train --out "$WORK/train.md" \
  --work "$WORK/train" $DRYFLAG

# ---- (e) DDP: nothing to run on one GPU
cat > "$WORK/ddp.md" <<EOF
Not run: this machine has $NGPU CUDA device(s); a data-parallel check needs two (one process per
GPU under torchrun, NCCL). Without GPUs, \`tests/test_distributed.py\` (part of (b)'s selection)
runs \`fit\` under torchrun as 2 CPU processes with gloo and compares them with one process. On a
2-GPU machine: \`torchrun --standalone --nproc_per_node 2 -m superconv.launch --profile paper
--policy one_cycle\` (needs CIFAR-10 there).
EOF
echo "| (e) 2-GPU DDP | not possible on $NGPU GPU(s) | 0 |" >> "$WORK/stages.md"
assemble

# ---- (b) unit tests on CUDA, last: they get what is left of the budget (up to 150 s)
if [ "$DRY" = "1" ]; then
  SELECTION="tests/test_data.py"
else
  # the package's unit tests: every tests/test_*.py except the book build, the browser check and
  # the chapters' papermill runs (CPU/papermill, minutes each)
  SELECTION=$(ls tests/test_*.py | grep -v -E '^tests/test_(book|browser|chapters)\.py$' | tr '\n' ' ')
fi
PYTEST_ARGS=${GPU_CHECK_PYTEST_ARGS:---maxfail=20}
TIMEOUT_ARG=""
"$PY" -c "import pytest_timeout" 2>/dev/null && TIMEOUT_ARG="--timeout=90"
TEST_CMD="SUPERCONV_TEST_DEVICE=auto $PY -m pytest -q -p gpu_report -p no:cacheprovider${TIMEOUT_ARG:+ $TIMEOUT_ARG} $PYTEST_ARGS <selection>"
run_tests() {
  SUPERCONV_TEST_DEVICE=auto GPU_CHECK_TESTLOG="$WORK/tests.tsv" PYTHONPATH="$REPO/benchmarks${PYTHONPATH:+:$PYTHONPATH}" \
    "$PY" -m pytest -q -p gpu_report -p no:cacheprovider $TIMEOUT_ARG $PYTEST_ARGS $SELECTION
}
export -f run_tests
export SELECTION TIMEOUT_ARG PYTEST_ARGS
: > "$WORK/tests.tsv"
LAST_STATUS="not run"
stage tests_run "(b) unit tests on CUDA" 150 run_tests
NOTE="$LAST_STATUS"
[ -z "$TIMEOUT_ARG" ] && NOTE="$NOTE; pytest-timeout is not installed, so only the stage's cap limits a hanging test"
timeout 30 "$PY" benchmarks/gpu_report.py tests --out "$WORK/tests.md" --log "$WORK/tests.tsv" \
  --pytest-log "$WORK/tests_run.log" --selection "$SELECTION" --command "$TEST_CMD" --status "$NOTE" \
  || echo "(could not summarize the test log)" > "$WORK/tests.md"
[ -s "$WORK/tests_run.md" ] && cat "$WORK/tests_run.md" >> "$WORK/tests.md"
assemble
echo "report: $REPORT ($(( $(date +%s) - START )) s); stage logs: $WORK"
