#pragma once
// What every fuzz target shares: the input as a file (kiln's readers take
// paths), and the rule that a reader either accepts an input or rejects it
// with kiln::Error — any other exception is a bug, and escapes to libFuzzer,
// which reports it as a crash with the input that caused it.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "kiln/base/error.hpp"

namespace kiln::fuzz {

// A folder of this process, in memory (/dev/shm) where the machine has one.
inline std::filesystem::path scratch_folder() {
  static const std::filesystem::path folder = [] {
    const std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    auto dir = base / ("kiln-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir;
  }();
  return folder;
}

inline std::filesystem::path write_input(const uint8_t* data, size_t size, const std::string& name) {
  const std::filesystem::path path = scratch_folder() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

template <typename Read>
void accept_or_reject(Read&& read) {
  try {
    read();
  } catch (const Error&) {
    // a clean, one-line rejection
  }
}

}  // namespace kiln::fuzz
