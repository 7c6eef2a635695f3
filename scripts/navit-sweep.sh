#!/usr/bin/env bash
# The resolution sweep of SPEC-VLM §10: a fixed-resolution ViT (28×28,
# learned positions resized bicubically at test time) against NaViT with 2D
# RoPE and with factorised positions (trained on Fashion-MNIST at 16–56 px),
# each evaluated on the t10k images resampled to 16, 24, 32, 48, 64 and 80 px.
#   scripts/navit-sweep.sh [build] [runs folder]
# Lengths: VIT_EPOCHS (default 2), NAVIT_STEPS (default 900, batches of 64);
# threads: OMP_NUM_THREADS (default 2). Prints the CPU, the thread count, each
# run's training time and the accuracy table (markdown).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
runs=${2:-"$root/runs/navit-sweep"}
kiln="$build/kiln"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
vit_epochs=${VIT_EPOCHS:-2}
navit_steps=${NAVIT_STEPS:-900}
sizes=(16 24 32 48 64 80)
mkdir -p "$runs"
cd "$root"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; OMP_NUM_THREADS=$OMP_NUM_THREADS"

seconds() { /usr/bin/python3 -c "import json,sys; print(round(json.loads(open(sys.argv[1]).readlines()[-1])['elapsed_s']))" "$1"; }

"$kiln" vit train -c configs/fmnist-vit.toml --set train.epochs="$vit_epochs" --set train.crop_pad=0 \
  --set run.dir="$runs/vit" > "$runs/vit.log" 2>&1
echo "vit: $vit_epochs epochs in $(seconds "$runs/vit/metrics.jsonl") s"
for positions in rope2d factorized; do
  "$kiln" navit train -c configs/fmnist-navit.toml --set vision.positions=$positions \
    --set train.max_steps="$navit_steps" --set run.dir="$runs/$positions" > "$runs/$positions.log" 2>&1
  echo "navit $positions: $navit_steps steps in $(seconds "$runs/$positions/metrics.jsonl") s"
  "$kiln" navit eval "$runs/$positions" --image-size "${sizes[@]}" > "$runs/$positions.eval" 2>&1
done
for size in "${sizes[@]}"; do
  "$kiln" vit eval "$runs/vit" --image-size "$size" > "$runs/vit.$size.eval" 2>&1
done

accuracy_navit() { awk -v s="$2" '$1 == s && $2 == "px" { print $4 }' "$runs/$1.eval"; }
accuracy_vit() { sed -n 's/.*accuracy \([0-9.]*\)%.*/\1%/p' "$runs/vit.$1.eval"; }
echo
echo "| test size | patches | kiln vit (28 px, bicubic positions) | navit rope2d | navit factorized |"
echo "|---|---|---|---|---|"
for size in "${sizes[@]}"; do
  echo "| $size px | $(( (size / 4) * (size / 4) )) | $(accuracy_vit "$size") | $(accuracy_navit rope2d "$size") | $(accuracy_navit factorized "$size") |"
done
