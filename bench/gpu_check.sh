#!/usr/bin/env bash
# The GPU check (issue 20): on one CUDA GPU, in at most 8 minutes, run
#   pytest      the CUDA-marked tests (tests/gpu: bf16/fp16 + GradScaler, channels_last, pinned memory,
#               --compile or its fallback, a GPU checkpoint loading and evaluating on the CPU)
#   train_steps bench/train_step.py's images/s for every model: fp32 and bf16 + channels_last eager, then
#               bf16 + channels_last compiled while its time budget lasts (a compile that fails or runs out of
#               time is recorded as a fallback, as `seglab train --compile` falls back)
#   demo        `seglab demo --headless --device cuda`: wall time and test Dice
#   small_data  `seglab train --preset small-data` on oxford-pet-mini (--time-budget 1.5), then
#               `seglab evaluate RUN --split test`: test Dice
#   torchrun    a 1-process torchrun of `seglab train` (run status must be 'finished'), and an all-reduce over
#               the backend seglab uses for several processes (NCCL for CUDA tensors): bench/collective_probe.py
# and write gpu_results.json, gpu_results.md and gpu_check.log (every step's output) into the output folder.
# A failed step is recorded and the others still run; the exit code is 1 when any step failed.
#
# Usage: bash bench/gpu_check.sh [--dry-run] [--out DIR] [--data DIR] [--keep-work]
#   --out DIR    output folder (default: $OUT, else ./gpu_check_out)
#   --data DIR   the small-data step's dataset (default: ../shared/data/oxford-pet-mini, else
#                shared/data/oxford-pet-mini; the dry run: tests/fixtures/oxford-pet-tiny)
#   --dry-run    every step on the CPU at tiny sizes (one model in the train-step sweep), in about 2 minutes:
#                tests/test_gpu_check_dry_run.py runs it, so the script cannot rot before a GPU arrives
#   --keep-work  keep the runs, cache and per-step logs (a temporary folder, removed by default; kept out of
#                the output folder, so that only the three result files come back from a device machine)
# Python: $PYTHON, else python3 (the one with torch and seglab's dependencies).
set -euo pipefail

caller_dir=$(pwd)
dry_run=0 out="" data="" keep_work=0
while (($#)); do
    case $1 in
        --dry-run) dry_run=1 ;;
        --out) out=${2:?--out needs a folder}; shift ;;
        --out=*) out=${1#--out=} ;;
        --data) data=${2:?--data needs a folder}; shift ;;
        --data=*) data=${1#--data=} ;;
        --keep-work) keep_work=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
absolute() { case $1 in /*) echo "$1" ;; *) echo "$caller_dir/$1" ;; esac; }

out=$(absolute "${out:-${OUT:-./gpu_check_out}}")
[[ -z $data ]] || data=$(absolute "$data")
cd "$(dirname "$0")/.."
repo=$(pwd)
mkdir -p "$out"
rm -f "$out/gpu_results.json" "$out/gpu_results.md" "$out/gpu_check.log"
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
mkdir -p "$work/logs" "$work/steps"

py=${PYTHON:-python3}
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 COLUMNS=160
export SEGLAB_RUNS_DIR="$work/runs" SEGLAB_CACHE_DIR="$work/cache" SEGLAB_CONFIG_DIR="$work/config"

if ((dry_run)); then
    device=cpu
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # tiny models train fastest on one thread (tests/conftest.py)
    total_s=240
    pytest_s=60
    sweep=(--models unet --compile-models unet --size 32 --batch 2 --reps 1 --warmup 1
           --budget 100 --eager-timeout 40 --min-compile-s 20 --compile-backend aot_eager)
    sweep_s=110
    demo=(--epochs 1) demo_s=60
    data=${data:-$repo/tests/fixtures/oxford-pet-tiny}
    small=(--epochs 1 --image-size 32 --width 8 --workers 0) small_s=60 eval_s=30
    torchrun_s=60 probe_s=30
else
    device=cuda
    total_s=480  # the whole check, every limit below included
    pytest_s=120
    sweep=(--models all --compile-models all --size 256 --batch 16 --reps 5 --warmup 2
           --budget 110 --eager-timeout 40 --min-compile-s 25)
    sweep_s=120
    demo=() demo_s=45
    if [[ -z $data ]]; then
        data=$repo/../shared/data/oxford-pet-mini
        [[ -d $data || ! -d $repo/shared/data/oxford-pet-mini ]] || data=$repo/shared/data/oxford-pet-mini
    fi
    small=(--time-budget 1.5) small_s=120 eval_s=25
    torchrun_s=30 probe_s=20
fi
dry_flag=()
if ((dry_run)); then dry_flag=(--dry-run); fi

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
started=$(now)
deadline=$(($(date +%s) + total_s))

finish() {
    local name
    for name in pytest train_steps demo small_data torchrun; do
        [[ -f $work/logs/$name.log ]] || continue
        { echo "======== $name"; cat "$work/logs/$name.log"; } >>"$out/gpu_check.log"
    done
    if ((keep_work)); then echo "work folder kept: $work"; else rm -rf "$work"; fi
}
trap finish EXIT

# A step: step_begin NAME; step_run LABEL LIMIT_S COMMAND... (each appended to the step's log; once one fails
# the rest are skipped); step_end reads the log into WORK/steps/NAME.json (bench/gpu_report.py record).
step_begin() {
    step=$1 step_rc=0 step_limit=0 step_start=$(now)
    log=$work/logs/$step.log
    : >"$log"
    echo ">> $step"
}
step_run() {
    local label=$1 limit=$2 part_start left
    shift 2
    ((step_rc == 0)) || return 0
    left=$((deadline - $(date +%s)))
    ((limit <= left)) || limit=$left
    if ((limit < 5)); then
        echo "# $label: not run, the check's $total_s s are spent" >>"$log"
        step_rc=124
        return 0
    fi
    step_limit=$((step_limit + limit))
    echo "\$ $*" >>"$log"
    part_start=$(now)
    timeout --kill-after=5 "$limit" "$@" >>"$log" 2>&1 || step_rc=$?
    echo "# $label took $(since "$part_start") s" >>"$log"
    ((step_rc == 0)) || echo "# $label: exit code $step_rc" >>"$log"
}
step_end() {
    "$py" -m bench.gpu_report record --step "$step" --rc "$step_rc" --seconds "$(since "$step_start")" \
        --limit "$step_limit" --work "$work" "${dry_flag[@]}" || echo "$step: could not record its result" >&2
}

echo "GPU check$( ((dry_run)) && echo ' (dry run, on the CPU)'): device $device, output $out"

step_begin pytest
step_run pytest "$pytest_s" "$py" -m pytest -q -m cuda tests/gpu -p no:cacheprovider
step_end

step_begin train_steps
step_run sweep "$sweep_s" "$py" -m bench.gpu_report train-steps --device "$device" "${sweep[@]}" \
    --json "$work/steps/train_steps.data.json"
step_end

step_begin demo
step_run demo "$demo_s" "$py" -m tui.cli demo --headless --device "$device" "${demo[@]}"
step_end

step_begin small_data
run=""
step_run train "$small_s" "$py" -m tui.cli train --preset small-data --data "$data" --device "$device" \
    --name small-data "${small[@]}"
((step_rc != 0)) || run=$("$py" -m bench.gpu_report run-folder "$log" 2>>"$log") || step_rc=1
step_run evaluate "$eval_s" "$py" -m tui.cli evaluate "$run" --split test --device "$device"
step_end

step_begin torchrun
step_run train "$torchrun_s" "$py" -m torch.distributed.run --standalone --nproc-per-node=1 -m tui.cli train \
    --data synthetic --synthetic-count 48 --synthetic-size 32 --image-size 32 --width 8 --batch-size 8 \
    --epochs 1 --workers 0 --device "$device" --name torchrun-smoke
step_run probe "$probe_s" "$py" -m torch.distributed.run --standalone --nproc-per-node=1 \
    -m bench.collective_probe --device "$device"
step_end

status=0
"$py" -m bench.gpu_report report --work "$work" --out "$out" --seconds "$(since "$started")" "${dry_flag[@]}" \
    || status=$?
echo "written: $out/gpu_results.json, $out/gpu_results.md, $out/gpu_check.log"
exit "$status"
