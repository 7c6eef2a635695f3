#pragma once
// Test helpers: golden data written by tests/reference/*.py, and closeness
// checks that report the worst element.
#include <gtest/gtest.h>

#include <algorithm>
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

// The largest |a − b| over two tensors of one shape (compared as doubles).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

// The same names, shapes and values, exactly.
inline void expect_same_tensors(const io::TensorMap& a, const io::TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_EQ(t.shape(), b.at(name).shape()) << name;
    EXPECT_EQ(max_abs_diff(t, b.at(name)), 0.0) << name;
  }
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
