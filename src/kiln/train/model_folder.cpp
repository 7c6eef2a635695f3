#include "kiln/train/model_folder.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <fstream>
#include <system_error>
#include <vector>

#include <fmt/core.h>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

bool process_is_gone(const std::string& pid_text) {
  if (pid_text.empty() || pid_text.size() > 9 || pid_text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const auto pid = static_cast<pid_t>(std::stol(pid_text));
  return pid != ::getpid() && ::kill(pid, 0) == -1 && errno == ESRCH;
}

}  // namespace

void remove_stale_temporaries(const fs::path& folder) {
  std::error_code error;
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(folder, error)) entries.push_back(entry.path());
  for (const fs::path& path : entries) {
    const std::string name = path.filename().string();
    for (const std::string marker : {".partial-", ".old-", ".tmp."}) {
      const size_t at = name.rfind(marker);
      if (at == std::string::npos || at == 0 || !process_is_gone(name.substr(at + marker.size()))) continue;
      const fs::path complete = folder / name.substr(0, at);
      // A writer killed between its two renames left the previous folder under
      // its .old- name and nothing under the real one: put it back.
      if (marker == ".old-" && !fs::exists(fs::symlink_status(complete, error)))
        fs::rename(path, complete, error);
      else
        fs::remove_all(path, error);
    }
  }
}

void write_folder_staged(const fs::path& dir, const std::function<void(const fs::path&)>& write) {
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  fs::create_directories(parent);
  remove_stale_temporaries(parent);
  const fs::path staging = parent / fmt::format("{}.partial-{}", dir.filename().string(), ::getpid());
  fs::remove_all(staging);
  fs::create_directories(staging);
  write(staging);
  const fs::path old = parent / fmt::format("{}.old-{}", dir.filename().string(), ::getpid());
  fs::remove_all(old);
  if (fs::exists(dir)) fs::rename(dir, old);
  fs::rename(staging, dir);
  fs::remove_all(old);
}

void save_model_folder(const fs::path& dir, const nlohmann::json& config, const std::map<std::string, Tensor>& weights,
                       const std::function<void(const fs::path&)>& extra_files) {
  write_folder_staged(dir, [&](const fs::path& staging) {
    io::save_safetensors(staging / "model.safetensors", weights, {{"format", "pt"}});
    const std::string text = config.dump(2) + "\n";
    io::AtomicFile file(staging / "config.json");
    file.write(text.data(), text.size());
    file.commit();
    if (extra_files) extra_files(staging);
  });
}

ModelFolder load_model_folder(const fs::path& run_or_model, const std::string& what) {
  ModelFolder folder;
  folder.dir = fs::exists(run_or_model / "config.json") ? run_or_model : run_or_model / "model";
  std::ifstream in(folder.dir / "config.json");
  KILN_CHECK(in.good(), "{}: no config.json (expected {} or its model/ folder)", run_or_model.string(), what);
  folder.config = nlohmann::json::parse(in, nullptr, false);
  KILN_CHECK(!folder.config.is_discarded() && folder.config.is_object(), "{}: config.json is not valid JSON",
             (folder.dir / "config.json").string());
  folder.weights = io::load_safetensors(folder.dir / "model.safetensors").tensors;
  return folder;
}

}  // namespace kiln::train
