#pragma once
// One thread pool for the whole program: OpenMP's. kiln's kernels parallelise
// with `#pragma omp`, and Debian's oneDNN (the GEMM library) is built with
// DNNL_CPU_RUNTIME=OMP against the same GNU OpenMP runtime (`ldd
// libdnnl.so.2` shows libgomp.so.1), so its GEMMs run on the same worker
// threads as our kernels and never oversubscribe the cores.
//
// The count follows OpenMP's rules: it starts at OMP_NUM_THREADS (or the
// number of cores) and set_num_threads() changes it for parallel regions and
// GEMMs started afterwards by the calling thread. The GEMM kernels key their
// cached oneDNN primitives by this count (kernels/cpu/gemm.cpp), so a change
// takes effect on the next product.
namespace kiln {

// n >= 1.
void set_num_threads(int n);
int num_threads();

// Restores the previous thread count when it goes out of scope.
class NumThreadsGuard {
 public:
  explicit NumThreadsGuard(int n) : previous_(num_threads()) { set_num_threads(n); }
  ~NumThreadsGuard() { set_num_threads(previous_); }
  NumThreadsGuard(const NumThreadsGuard&) = delete;
  NumThreadsGuard& operator=(const NumThreadsGuard&) = delete;

 private:
  int previous_;
};

}  // namespace kiln
