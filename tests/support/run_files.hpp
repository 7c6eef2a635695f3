#pragma once
// Reading back what a run wrote: a file's bytes, and the steps logged in a
// metrics.jsonl (each step must appear once, in order, after any resume).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::testing {

inline std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::vector<int64_t> logged_steps(const std::filesystem::path& metrics) {
  std::vector<int64_t> steps;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) steps.push_back(nlohmann::json::parse(line).at("step").get<int64_t>());
  return steps;
}

}  // namespace kiln::testing
