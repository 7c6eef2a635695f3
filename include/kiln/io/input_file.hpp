#pragma once
// A path from a configuration or a command line, checked before anything
// reads it: a missing file, a directory, a device or a name the file system
// refuses is one line naming the option, never a filesystem exception.
#include <filesystem>
#include <string>

namespace kiln::io {

// Fails unless `path` names an existing regular file (symbolic links followed).
// `what` names where the path came from ("data.train").
void check_input_file(const std::filesystem::path& path, const std::string& what);

}  // namespace kiln::io
