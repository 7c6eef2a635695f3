#pragma once
// Floats as KenLM writes them in ARPA files.
#include <cstddef>

namespace kiln::ngram {

// The longest text write_arpa_number produces ("-1.17549435e-38" and the like).
inline constexpr size_t kArpaNumberChars = 24;

// Writes `value` at `out` as KenLM does (double-conversion's shortest form
// that reads back as the same float, decimal notation for decimal exponents
// in [−6, 21), d.ddde-7 otherwise, and no "-0") and returns the end. `out`
// must hold kArpaNumberChars; `value` must be finite.
char* write_arpa_number(char* out, float value);

}  // namespace kiln::ngram
