#include "kiln/autograd/precision.hpp"

namespace kiln {

namespace {
thread_local Precision current_precision = Precision::f32;
}

Precision matmul_precision() { return current_precision; }

PrecisionGuard::PrecisionGuard(Precision precision) : previous_(current_precision) { current_precision = precision; }

PrecisionGuard::~PrecisionGuard() { current_precision = previous_; }

}  // namespace kiln
