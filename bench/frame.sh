# Sourced by the bench/*compare*.sh scripts after `build` is set: prints the
# frame (bench/frame.py) and exports what it measured (KILN_TORCH_F32_FAIR,
# KILN_GEMM_F32/BF16, TORCH_GEMM_F32/BF16). Also defines:
#   row LABEL KILN_JSON TORCH_JSON [f32|bf16]   one side-by-side row with its ratio
#   slow_gemm KIND                             true when that GEMM (KILN_BF16, TORCH_BF16)
#                                               runs under a third of the same side's f32
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
frame_state=$(mktemp)
/usr/bin/python3 "$bench_dir/frame.py" "$build" --state "$frame_state"
set -a
# shellcheck disable=SC1090
. "$frame_state"
set +a
rm -f "$frame_state"
row() { /usr/bin/python3 "$bench_dir/side_by_side.py" "$@"; }
slow_gemm() {
  local side=${1%_*} rate f32
  rate=$(eval echo "\${${1/_/_GEMM_}}")
  f32=$(eval echo "\${${side}_GEMM_F32}")
  awk -v r="$rate" -v f="$f32" 'BEGIN { exit !(r < f / 3) }'
}
if slow_gemm TORCH_BF16; then
  export KILN_BENCH_TORCH_BF16=skip  # PyTorch's bf16 rows would take minutes each and say nothing
  echo "PyTorch's bf16 matmul runs under a third of its f32 here: its bf16 rows are skipped"
  echo
fi
