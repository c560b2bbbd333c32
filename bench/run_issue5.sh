#!/usr/bin/env bash
# Every CPU number in bench/README.md for the speed issue, in one go (about 40 minutes on 2 cores).
# Run from the repository root with nothing else on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=../shared/reference/train_step_reference.py
mini=../shared/data/oxford-pet-mini
echo "## train step, resnet34_unet"; python -m bench.train_step --model resnet34_unet --reference $ref --reps 5
echo "## train step, unet"; python -m bench.train_step --model unet --reference $ref --reps 3
echo "## peak memory, resnet34_unet bf16cl, one impl and one malloc setting per process"
for malloc in reuse system; do
  SEGLAB_MALLOC=$malloc python -m bench.train_step --model resnet34_unet --variants bf16cl --reps 3 | tail -1
  SEGLAB_MALLOC=$malloc python -m bench.train_step --model resnet34_unet --variants bf16cl --reps 3 \
    --reference $ref --no-seglab | tail -1
done
echo "## train step, resnet34_unet, glibc's default malloc"
SEGLAB_MALLOC=system python -m bench.train_step --model resnet34_unet --variants fp32,bf16cl --reference $ref --reps 5
echo "## end to end on oxford-pet-mini"
python -m bench.end_to_end --data $mini --model resnet34_unet --epochs 3 --baseline-epochs 2 --baseline-with-reuse
echo "## fp32 vs bf16 val Dice"; python -m bench.precision_dice
echo "## dashboard vs headless"; python -m bench.dashboard_overhead --epochs 4 --repeats 2
echo "## peer: smp Unet(resnet34), where installed"
python -m bench.train_step --model resnet34_unet --variants fp32,bf16cl --peer --reps 5
python -c "import segmentation_models_pytorch" 2>/dev/null && python -m bench.peer_dice --data $mini --epochs 15 --size 128
