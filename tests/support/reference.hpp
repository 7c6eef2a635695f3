#pragma once
// Test helpers: golden data written by tests/reference/*.py, and closeness
// checks that report the worst element.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/gradcheck.hpp"
#include "kiln/io/safetensors.hpp"

namespace kiln::testing {

inline io::TensorMap load_reference(const std::string& name) {
  return io::load_safetensors(std::string(KILN_TEST_DATA_DIR) + "/reference/" + name + ".safetensors").tensors;
}

inline const Tensor& at(const io::TensorMap& map, const std::string& key) {
  auto it = map.find(key);
  if (it == map.end()) throw Error("reference data has no tensor '" + key + "'");
  return it->second;
}

// |actual − expected| ≤ atol + rtol·|expected| for every element.
inline ::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << actual.describe() << " vs expected " << expected.describe();
  const auto a = actual.to_vector<double>();
  const auto e = expected.to_vector<double>();
  double worst = 0;
  size_t worst_at = 0;
  bool ok = true;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(a[i] - e[i]);
    const double excess = err - (atol + rtol * std::abs(e[i]));
    if (excess > 0 || std::isnan(a[i]) != std::isnan(e[i])) ok = false;
    if (err > worst || std::isnan(err)) {
      worst = err;
      worst_at = i;
    }
  }
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "element " << worst_at << ": " << a[worst_at] << " vs expected "
                                       << e[worst_at] << " (abs error " << worst << ", rtol " << rtol << ", atol "
                                       << atol << ")";
}

// Reference inputs as fresh leaves that record gradients.
inline Tensor input_leaf(const io::TensorMap& map, const std::string& key) {
  Tensor t = at(map, key).clone();
  if (is_floating(t.dtype())) t.set_requires_grad(true);
  return t;
}

using OpUnderTest = std::function<Tensor(const autograd::TensorList&)>;

struct ParityTolerance {
  double rtol = 1e-5, atol = 1e-6;            // forward
  double grad_rtol = 1e-4, grad_atol = 1e-5;  // gradients: one more product, another summation order
};

// The golden case `name` from tests/reference/*.py: inputs "<name>.in<i>" run
// through `fn` must give "<name>.out", and back-propagating "<name>.dout"
// must give "<name>.grad<i>" for every input.
inline void expect_matches_reference(const io::TensorMap& ref, const std::string& name, int inputs,
                                     const OpUnderTest& fn, const ParityTolerance& tol = {}) {
  autograd::TensorList leaves;
  for (int i = 0; i < inputs; ++i) leaves.push_back(input_leaf(ref, name + ".in" + std::to_string(i)));
  const Tensor out = fn(leaves);
  EXPECT_TRUE(all_close(out, at(ref, name + ".out"), tol.rtol, tol.atol)) << name << " forward";
  backward(out, at(ref, name + ".dout"));
  for (int i = 0; i < inputs; ++i)
    EXPECT_TRUE(all_close(leaves[i].grad(), at(ref, name + ".grad" + std::to_string(i)), tol.grad_rtol, tol.grad_atol))
        << name << ": gradient of input " << i;
}

// The same inputs in f64 through `fn`, against central finite differences.
inline void expect_gradients_match_finite_differences(const io::TensorMap& ref, const std::string& name, int inputs,
                                                      const OpUnderTest& fn) {
  autograd::TensorList x;
  for (int i = 0; i < inputs; ++i)
    x.push_back(at(ref, name + ".in" + std::to_string(i)).to(DType::f64).set_requires_grad(true));
  const auto report = autograd::gradcheck(fn, x);
  EXPECT_TRUE(report.ok) << name << ": " << report.message;
}

}  // namespace kiln::testing
