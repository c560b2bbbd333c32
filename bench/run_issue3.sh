#!/usr/bin/env bash
# Numbers for bench/README.md: fp32 train-step images/s of both models at 256 px, batch 16,
# and the wall time of `seglab demo` from an empty cache. Run with nothing else on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
lscpu | grep -E "Model name|^CPU\(s\)" | sed 's/  */ /g'
python -c "import torch; print('torch', torch.__version__, 'threads', torch.get_num_threads())"
python bench/train_step.py --model resnet34_unet --size 256 --batch 16 --reps 5
python bench/train_step.py --model unet --size 256 --batch 16 --reps 5
export SEGLAB_CACHE_DIR="$(mktemp -d)" SEGLAB_RUNS_DIR="$(mktemp -d)"
start=$(date +%s.%N)
seglab demo | tail -4  # piped: headless
echo "seglab demo wall time: $(echo "$(date +%s.%N) - $start" | bc) s"
