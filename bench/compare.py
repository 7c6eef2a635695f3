"""Runs kiln's op benchmarks and the same ops in PyTorch in one go and prints
a table of medians and ratios (PyTorch time / kiln time: above 1 means kiln
is faster). PyTorch runs twice: as shipped, and in its best configuration
(glibc huge-page tunables). Usage, from the repository root after a Release
build with benchmarks:

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/compare.py build
"""
import json
import os
import subprocess
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ)
env.setdefault("OMP_NUM_THREADS", "2")
BEST = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"


def kiln(binary):
    out = subprocess.run([os.path.join(build, "bench", binary), "--benchmark_format=json",
                          "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true"],
                         env=env, check=True, capture_output=True, text=True).stdout
    medians = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median" and not b.get("error_occurred"):  # skipped: no bf16 kernel
            name = b["run_name"].removesuffix("/real_time")
            medians[name] = b["real_time"] if b["time_unit"] == "ms" else b["real_time"] / 1e6
    return medians


def ratios(name, ratio, ratio_best):
    """f32 rows get no ratio against PyTorch on an unoptimised BLAS (bench/frame.py)."""
    bf16 = "BF16" in name or "bf16:1" in name
    if not bf16 and os.environ.get("KILN_TORCH_F32_FAIR") != "1":
        return f"{'n/a':>6} {'n/a':>10}"
    return f"{ratio:6.2f} {ratio_best:10.2f}"


def torch(extra_env):
    e = dict(env, **extra_env)
    out = subprocess.run(["/usr/bin/python3", os.path.join(here, "torch_ops.py")], env=e, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


ours = {**kiln("ops_bench"), **kiln("gemm_bench")}
shipped = torch({})
best = torch({"GLIBC_TUNABLES": BEST})
print(f"threads: {env['OMP_NUM_THREADS']}; times are medians in ms")
print(f"{'op':44} {'kiln':>9} {'torch':>9} {'torch best':>10} {'ratio':>6} {'ratio best':>10}")
for name, ms in ours.items():
    if name not in shipped:
        continue
    t, tb = shipped[name], best[name]
    print(f"{name:44} {ms:9.3f} {t:9.3f} {tb:10.3f} {ratios(name, t / ms, tb / ms)}")
