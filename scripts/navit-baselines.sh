#!/usr/bin/env bash
# NaViT at native resolution against the fixed-resolution baselines of
# SPEC-VLM §10 (every canvas resized to 32×32, or padded onto 88×88), the
# same encoder (configs/fmnist-navit.toml) at about equal training time: the
# three runs train side by side, one thread each, so they share the machine
# alike, with step counts in proportion to one step's measured cost (a pad
# step of 64 images is 484 tokens each, a resize step 64). Each is then
# evaluated on the test canvases and on the garments resampled to 16–80 px.
#   scripts/navit-baselines.sh [build] [runs folder]
# NATIVE_STEPS (150), RESIZE_STEPS (464), PAD_STEPS (20): each run warms up
# over its first tenth; TEST_IMAGES (2000); SWEEP_PAD=1 also sweeps the pad
# model (slow: 484 tokens per image at every size).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
runs=${2:-"$root/runs/navit-baselines"}
kiln="$build/kiln"
test_images=${TEST_IMAGES:-2000}
mkdir -p "$runs"
cd "$root"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores; one thread per run; load average $(cut -d' ' -f1-3 /proc/loadavg)"

train() {  # mode steps
  OMP_NUM_THREADS=1 "$kiln" navit train -c configs/fmnist-navit.toml --set data.image_mode="$1" \
    --set train.max_steps="$2" --set train.warmup_steps=$(( ($2 + 9) / 10 )) --set eval.test_images="$test_images" \
    --set run.dir="$runs/$1" > "$runs/$1.log" 2>&1
}
train native "${NATIVE_STEPS:-150}" & train resize "${RESIZE_STEPS:-464}" & train pad "${PAD_STEPS:-20}" &
wait
sweep=(native resize)
[[ ${SWEEP_PAD:-0} == 1 ]] && sweep+=(pad)
for mode in "${sweep[@]}"; do
  OMP_NUM_THREADS=1 "$kiln" navit eval "$runs/$mode" --test-images "$test_images" --image-size 16 24 32 48 64 80 \
    > "$runs/$mode.eval" 2>&1 &
done
wait

summary() {  # mode: steps, training seconds, images and tokens seen, test-canvas accuracy
  /usr/bin/python3 - "$runs/$1/metrics.jsonl" "$1" <<'PY'
import json, sys
steps = [json.loads(line) for line in open(sys.argv[1])]
print(f"| {sys.argv[2]} | {len(steps)} | {steps[-1]['elapsed_s']:.0f} s | {64 * len(steps):,} | "
      f"{sum(s['vision_tokens'] for s in steps):,} | {100 * steps[-1]['val_accuracy']:.2f}% |")
PY
}
echo
echo "| image_mode | steps | training time | images seen | patch tokens | test canvases |"
echo "|---|---|---|---|---|---|"
for mode in native resize pad; do summary "$mode"; done
echo
for mode in "${sweep[@]}"; do echo "== $mode"; sed -n '3,$p' "$runs/$mode.eval"; done
