#pragma once
// Test helpers: golden data written by tests/reference/*.py, and closeness
// checks that report the worst element.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

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

}  // namespace kiln::testing
