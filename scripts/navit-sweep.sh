#!/usr/bin/env bash
# The resolution sweep of SPEC-VLM §10: a fixed-resolution ViT (28×28,
# learned positions resized bicubically at test time) against NaViT with 2D
# RoPE and with factorised positions (trained on Fashion-MNIST at 16–56 px),
# each evaluated on the t10k images resampled to 16, 24, 32, 48, 64 and 80 px.
#   scripts/navit-sweep.sh [build] [runs folder]
# Lengths: VIT_STEPS (default 468 = one epoch of 128 images), NAVIT_STEPS
# (default 250 batches of 64 canvases, about the same compute: a canvas has
# 136 patches on average, a 28×28 image 49), each warming up over its first
# tenth; TEST_IMAGES (default 2000, the
# first test images; 0 = all 10,000); threads: OMP_NUM_THREADS (default 2).
# Prints the CPU, the thread count, each run's training time and the accuracy
# table (markdown).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
runs=${2:-"$root/runs/navit-sweep"}
kiln="$build/kiln"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
vit_steps=${VIT_STEPS:-468}
navit_steps=${NAVIT_STEPS:-250}
test_images=${TEST_IMAGES:-2000}
sizes=(16 24 32 48 64 80)
mkdir -p "$runs"
cd "$root"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores; OMP_NUM_THREADS=$OMP_NUM_THREADS; load average $(cut -d' ' -f1-3 /proc/loadavg)"

seconds() { /usr/bin/python3 -c "import json,sys; print(round(json.loads(open(sys.argv[1]).readlines()[-1])['elapsed_s']))" "$1"; }

"$kiln" vit train -c configs/fmnist-vit.toml --set train.epochs=100 --set train.max_steps="$vit_steps" \
  --set train.warmup_steps=$(( vit_steps / 10 )) --set train.crop_pad=0 --set run.dir="$runs/vit" > "$runs/vit.log" 2>&1
echo "vit: $vit_steps steps in $(seconds "$runs/vit/metrics.jsonl") s"
for positions in rope2d factorized; do
  "$kiln" navit train -c configs/fmnist-navit.toml --set vision.positions=$positions \
    --set train.max_steps="$navit_steps" --set train.warmup_steps=$(( navit_steps / 10 )) --set run.dir="$runs/$positions" > "$runs/$positions.log" 2>&1
  echo "navit $positions: $navit_steps steps in $(seconds "$runs/$positions/metrics.jsonl") s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$kiln" navit eval "$runs/$positions" --test-images "$test_images" --image-size "${sizes[@]}" \
    > "$runs/$positions.eval" 2>&1
done
for size in "${sizes[@]}"; do
  "$kiln" vit eval "$runs/vit" --test-images "$test_images" --image-size "$size" > "$runs/vit.$size.eval" 2>&1
done

accuracy_navit() { awk -v s="$2" '$1 == s { print $NF }' "$runs/$1.eval"; }
accuracy_vit() { sed -n 's/.*accuracy \([0-9.]*\)%.*/\1%/p' "$runs/vit.$1.eval"; }
echo
echo "| test images | patches | kiln vit (28 px, bicubic positions) | navit rope2d | navit factorized |"
echo "|---|---|---|---|---|"
echo "| 28×28 (the ViT's own; all 10,000) | 49 | $(sed -n 's/^test set: accuracy \([0-9.]*\)%.*/\1%/p' "$runs/vit.log") | — | — |"
echo "| test canvases | 16–256 | — | $(accuracy_navit rope2d canvases) | $(accuracy_navit factorized canvases) |"
for size in "${sizes[@]}"; do
  echo "| ${size}×$size | $(( (size / 4) * (size / 4) )) | $(accuracy_vit "$size") | $(accuracy_navit rope2d "${size}×$size") | $(accuracy_navit factorized "${size}×$size") |"
done
