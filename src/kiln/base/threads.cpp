#include "kiln/base/threads.hpp"

#include <omp.h>

#include "kiln/base/error.hpp"

namespace kiln {

void set_num_threads(int n) {
  KILN_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got {}", n);
  omp_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace kiln
