#pragma once
// The two splits of the generated vision sets (Fashion-MNIST canvases, KJV
// OCR lines): each sample is a pure function of (seed, split, index).
#include <cstdint>
#include <string_view>

#include "kiln/base/error.hpp"

namespace kiln::data {

enum class DataSplit : uint32_t { train = 0, test = 1 };

inline std::string_view split_name(DataSplit split) { return split == DataSplit::train ? "train" : "test"; }

// "train" or "test"; `key` names the option in the error ("--split").
inline DataSplit parse_data_split(std::string_view text, std::string_view key = "split") {
  if (text == "train") return DataSplit::train;
  if (text == "test") return DataSplit::test;
  fail("{} = \"{}\": expected \"train\" or \"test\"", key, text);
}

}  // namespace kiln::data
