#pragma once
// Running the `kiln` program from a test as a user would: one shell command,
// its exit status and everything it printed (stdout and stderr together).
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace kiln::testing {

struct CommandResult {
  int status;          // the exit status, or -1 when the command did not exit normally
  std::string output;  // stdout and stderr together
};

inline CommandResult run_shell(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer{};
  while (pipe != nullptr && std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  const int status = pipe != nullptr ? ::pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// `kiln <args>` on one OpenMP thread (tests run side by side under ctest -j),
// from the source folder so configs' relative paths resolve.
inline CommandResult run_kiln(const std::string& args) {
  return run_shell("cd " + std::string(KILN_SOURCE_DIR) + " && OMP_NUM_THREADS=1 " + std::string(KILN_BINARY) + " " +
                   args);
}

}  // namespace kiln::testing
