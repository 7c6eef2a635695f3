"""The frame every side-by-side benchmark prints first, so that its figures
mean something on another machine: the CPU, the thread count, kiln's GEMM
ceilings (f32 and bf16, measured now by bench/gemm_bench) and PyTorch's
matmul rates with the BLAS it actually loaded, all in the same run.

Debian's PyTorch multiplies f32 through whatever libblas.so.3 is installed.
With the reference BLAS (no OpenBLAS installed) its f32 matmul runs at a few
GFLOP/s, and a ratio against it says nothing about kiln: the frame then
marks PyTorch's f32 as no fair peer and the compare scripts print no f32
ratio. OpenBLAS 0.3.21 falls back to old kernels on cores it does not know
(e.g. some Intel Xeons); OPENBLAS_CORETYPE=SkylakeX (or Haswell) set for the
PyTorch side of a benchmark only picks the right ones. Never set it in tests
or CI.

As a script: frame.py BUILD_DIR [--state FILE] prints the frame and writes
shell assignments to FILE for the compare scripts: KILN_TORCH_F32_FAIR (1 when
PyTorch's f32 is a fair peer) and the four GEMM rates (KILN_GEMM_F32,
KILN_GEMM_BF16, TORCH_GEMM_F32, TORCH_GEMM_BF16, GFLOP/s).
As a module: print_frame(build) prints it and returns the measurements.
"""
import ctypes
import json
import os
import re
import subprocess
import sys
import time

SHAPE = (2048, 768, 768)  # M, N, K: tokens × out × in of a d = 768 linear layer
OPTIMISED_BLAS = ("openblas", "mkl", "blis", "atlas")


def cpu_model():
    """Model name with family/model numbers (a virtual machine may say only "AMD EPYC")."""
    fields = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return f"{fields.get('model name', 'unknown CPU')} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')})"


def cpu_features():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                wanted = ["avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16"]
                return " ".join(w for w in wanted if w in flags) or "no AVX2"
    return "unknown"


def kiln_gemm(build):
    """Median GFLOP/s of kiln's f32 and bf16 GEMM (oneDNN) on SHAPE."""
    m, n, k = SHAPE
    out = subprocess.run([os.path.join(build, "bench", "gemm_bench"),
                          f"--benchmark_filter=BM_Gemm_(F32|BF16)_oneDNN/{m}/{n}/{k}/",
                          "--benchmark_format=json", "--benchmark_repetitions=3",
                          "--benchmark_report_aggregates_only=true"],
                         check=True, capture_output=True, text=True).stdout
    rates = {"f32": 0.0, "bf16": 0.0}  # 0: no kernel for this CPU (oneDNN's bf16 needs AVX-512)
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median" and not b.get("error_occurred"):
            rates["bf16" if "BF16" in b["run_name"] else "f32"] = b["GFLOP/s"] / 1e9
    return rates


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def sgemm_library():
    """The file whose sgemm_ PyTorch's f32 matmul binds to: dlsym from libtorch_cpu (which
    searches its dependencies in load order), then dladdr on the address."""
    with open("/proc/self/maps") as f:
        torch_lib = next((line.split()[-1] for line in f if "libtorch_cpu" in line), None)
    if torch_lib is None:
        return "unknown (libtorch_cpu not loaded)"
    try:
        address = ctypes.cast(ctypes.CDLL(torch_lib).sgemm_, ctypes.c_void_p)
    except AttributeError:
        return "none (no sgemm_ reachable from libtorch_cpu)"
    info = _DlInfo()
    dladdr = ctypes.CDLL(None).dladdr
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    if dladdr(address, ctypes.byref(info)) == 0 or not info.dli_fname:
        return "unknown"
    return os.path.realpath(info.dli_fname.decode())


def torch_gemm():
    """PyTorch's matmul GFLOP/s on SHAPE (median of 5) and the BLAS library it loaded."""
    import torch
    m, n, k = SHAPE
    rates = {}
    for name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(m, k).to(dtype), torch.randn(n, k).to(dtype)
        a @ b.t()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            a @ b.t()
            times.append(time.perf_counter() - start)
            if times[-1] > 2.0:  # a reference kernel: one more figure says nothing new
                break
        times.sort()
        rates[name] = 2 * m * n * k / times[len(times) // 2] / 1e9
    library = sgemm_library()
    core = ""
    if "openblas" in library:
        try:
            lib = ctypes.CDLL(library)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            core = lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            core = "unknown core"
    match = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    blas_info = f"built with BLAS_INFO={match.group(1)}" if match else ""
    return rates, library, core, torch.__version__, blas_info


def print_frame(build):
    threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))
    ours = kiln_gemm(build)
    theirs, library, core, version, blas_info = torch_gemm()
    fair = any(name in library.lower() for name in OPTIMISED_BLAS)
    m, n, k = SHAPE
    print(f"cpu: {cpu_model()} ({cpu_features()}), {os.cpu_count()} cores, threads {threads}")
    print(f"GEMM ceilings, {m}x{n}x{k}, GFLOP/s (medians, this run):")
    print(f"  kiln (oneDNN)   f32 {ours['f32']:7.1f}   bf16 {ours['bf16']:7.1f}"
          + ("   (bf16 slower or absent: kiln's bf16 matmuls run in f32)" if ours['bf16'] < ours['f32'] else ""))
    print(f"  PyTorch {version:8} f32 {theirs['f32']:7.1f}   bf16 {theirs['bf16']:7.1f}")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    core_text = f", OpenBLAS core {core}" if core else ""
    if coretype:
        core_text += f" (OPENBLAS_CORETYPE={coretype})"
    print(f"  PyTorch f32 BLAS: {library}{core_text}; {blas_info}")
    if not fair:
        print("  PyTorch's f32 runs on an unoptimised BLAS: no f32 ratio is printed against it "
              "(install libopenblas0-pthread: scripts/install-deps.sh)")
    elif theirs["f32"] < 0.25 * ours["f32"]:
        print("  PyTorch's f32 GEMM is under a quarter of kiln's: if OpenBLAS does not know this core, "
              "OPENBLAS_CORETYPE=SkylakeX or Haswell for the PyTorch side only (docs/benchmarks.md)")
    print()
    return {"fair_f32": fair, "kiln": ours, "torch": theirs, "blas": library}


if __name__ == "__main__":
    args = sys.argv[1:]
    state = None
    if "--state" in args:
        i = args.index("--state")
        state = args[i + 1]
        del args[i:i + 2]
    frame = print_frame(args[0] if args else "build")
    if state:
        with open(state, "w") as f:
            f.write(f"KILN_TORCH_F32_FAIR={int(frame['fair_f32'])}\n")
            for side in ("kiln", "torch"):
                for precision in ("f32", "bf16"):
                    f.write(f"{side.upper()}_GEMM_{precision.upper()}={frame[side][precision]:.1f}\n")
