#pragma once
// Finite-difference check of an op's backward. The function's output is
// projected on fixed pseudo-random weights w, and d(Σ w·f)/dx from backward
// is compared with central differences, element by element. Run it in f64.
#include <functional>
#include <string>

#include "kiln/autograd/node.hpp"

namespace kiln::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-4;
  uint64_t seed = 1234;
};

struct GradcheckReport {
  bool ok = true;
  double max_abs_error = 0;
  std::string message;  // first failing element, if any
};

GradcheckReport gradcheck(const std::function<Tensor(const TensorList&)>& fn, TensorList inputs,
                          const GradcheckOptions& options = {});

}  // namespace kiln::autograd
