// One OpenMP pool for kiln and oneDNN: set_num_threads() reaches oneDNN's
// GEMMs, and the process has exactly one OpenMP runtime. The first test
// watches the process's thread count (/proc/self/task) and must run before
// anything in this executable starts an OpenMP parallel region, so it is the
// first test of its own executable. No timing is asserted.
#include "kiln/base/threads.hpp"

#include <dnnl.h>
#include <gtest/gtest.h>
#include <link.h>

#include <filesystem>
#include <string>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln {
namespace {

int64_t process_threads() {
  int64_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Big enough that oneDNN parallelises it over every thread it is given.
void run_gemms() {
  const int64_t n = 512;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  cpu::gemm(cpu::GemmShape{false, true, n, n, n, n, n, n}, 1.0f, a.data(), b.data(), 0.0f, c.data());
  std::vector<bf16> a16(n * n, bf16(0.5f)), b16(n * n, bf16(0.25f));
  if (cpu::has_bf16_gemm())
    cpu::gemm(cpu::GemmShape{false, true, n, n, n, n, n, n}, 1.0f, a16.data(), b16.data(), 0.0f, c.data());
  cpu::gemm_batched(cpu::GemmShape{false, true, n / 4, n / 4, n, n, n, n / 4}, cpu::GemmBatch{4, n * n / 4, n * n / 4, n * n / 16},
                    1.0f, a.data(), b.data(), 0.0f, c.data());
  EXPECT_FLOAT_EQ(c[0], 0.125f * n);
}

TEST(Threads, OneDnnRunsOnTheThreadCountWeSet) {
  const int64_t before = process_threads();
  set_num_threads(1);
  run_gemms();
  // With one thread oneDNN never opens a parallel team: libgomp starts no worker.
  EXPECT_EQ(process_threads(), before) << "oneDNN started threads although set_num_threads(1)";
  set_num_threads(2);
  run_gemms();
  // With two, libgomp starts exactly one worker (the caller is the other), so
  // oneDNN's GEMMs ran on our OpenMP pool and not on a pool of their own.
  EXPECT_EQ(process_threads(), before + 1);
  set_num_threads(1);
}

TEST(Threads, OneDnnSharesOurOpenMpRuntime) {
#ifdef KILN_FUZZ_BUILD
  GTEST_SKIP() << "the clang sanitizer build runs libomp beside oneDNN's libgomp; the Release build checks this";
#endif
  EXPECT_EQ(dnnl_version()->cpu_runtime, DNNL_RUNTIME_OMP);
  std::vector<std::string> runtimes;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        for (const char* runtime : {"libgomp", "libiomp", "libomp."})
          if (name.find(runtime) != std::string::npos) static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &runtimes);
  ASSERT_EQ(runtimes.size(), 1u) << "more than one OpenMP runtime loaded: the GEMMs would use a second pool";
  EXPECT_NE(runtimes[0].find("libgomp"), std::string::npos) << runtimes[0];
}

TEST(Threads, SetAndRestore) {
  set_num_threads(2);
  EXPECT_EQ(num_threads(), 2);
  {
    NumThreadsGuard guard(1);
    EXPECT_EQ(num_threads(), 1);
  }
  EXPECT_EQ(num_threads(), 2);
  EXPECT_THROW(set_num_threads(0), Error);
  EXPECT_EQ(num_threads(), 2);
}

}  // namespace
}  // namespace kiln
