#pragma once
// A whole JSON file read or written: a missing file, invalid JSON or a value
// that is not an object is one line naming the file; writes are atomic
// (io/atomic_file), two-space indented, with a final newline.
#include <filesystem>

#include <nlohmann/json.hpp>

namespace kiln::io {

nlohmann::json read_json_object(const std::filesystem::path& path);
void write_json_file(const std::filesystem::path& path, const nlohmann::json& json);

}  // namespace kiln::io
