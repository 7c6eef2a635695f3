#include "kiln/train/training_state.hpp"

#include <fstream>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/safetensors.hpp"
#include "kiln/train/model_folder.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimizerPrefix = "optimizer.";

void check_same_schedule(const nlohmann::json& saved, const nlohmann::json& now, const fs::path& run_dir) {
  for (const auto& [key, value] : now.items()) {
    const std::string before = saved.contains(key) ? saved[key].dump() : "nothing";
    KILN_CHECK(before == value.dump(), "--resume: {} was trained with {} = {}, this run asks {}", run_dir.string(), key,
               before, value.dump());
  }
}

}  // namespace

fs::path training_state_dir(const fs::path& run_dir) { return run_dir / "trainer_state"; }

void save_training_state(const fs::path& run_dir, const nlohmann::json& progress, const nlohmann::json& schedule,
                         const std::map<std::string, Tensor>& parameters, const optim::AdamW& adamw) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, p] : parameters) tensors.emplace(kModelPrefix + name, p);
  for (const auto& [key, t] : adamw.state()) tensors.emplace(kOptimizerPrefix + key, t);
  nlohmann::json state = progress;
  state["schedule"] = schedule;
  write_folder_staged(training_state_dir(run_dir), [&](const fs::path& staging) {
    io::save_safetensors(staging / "trainer_state.safetensors", tensors, {{"format", "pt"}});
    const std::string text = state.dump(2) + "\n";
    io::AtomicFile file(staging / "trainer_state.json");
    file.write(text.data(), text.size());
    file.commit();
  });
}

nlohmann::json restore_training_state(const fs::path& run_dir, const nlohmann::json& schedule,
                                      const std::map<std::string, Tensor>& parameters, optim::AdamW& adamw) {
  const fs::path dir = training_state_dir(run_dir);
  std::ifstream in(dir / "trainer_state.json");
  KILN_CHECK(in.good(), "--resume: {} has no trainer_state/ to continue from", run_dir.string());
  const nlohmann::json state = nlohmann::json::parse(in, nullptr, false);
  KILN_CHECK(!state.is_discarded() && state.contains("step") && state.contains("schedule"),
             "--resume: {} is not a valid training state", (dir / "trainer_state.json").string());
  check_same_schedule(state["schedule"], schedule, run_dir);
  const io::TensorMap saved = io::load_safetensors(dir / "trainer_state.safetensors").tensors;
  io::TensorMap moments;
  for (const auto& [key, t] : saved) {
    if (key.rfind(kOptimizerPrefix, 0) == 0) moments.emplace(key.substr(std::string(kOptimizerPrefix).size()), t);
    if (key.rfind(kModelPrefix, 0) != 0) continue;
    const std::string name = key.substr(std::string(kModelPrefix).size());
    KILN_CHECK(parameters.count(name) == 1, "--resume: {} holds parameter '{}', which this model lacks",
               run_dir.string(), name);
  }
  for (const auto& [name, p] : parameters) {
    auto it = saved.find(kModelPrefix + name);
    KILN_CHECK(it != saved.end(), "--resume: {} has no saved '{}'", run_dir.string(), name);
    KILN_CHECK(it->second.shape() == p.shape(), "--resume: {} saved '{}' as {}, this model has {}", run_dir.string(),
               name, it->second.describe(), p.describe());
    Tensor target = p;  // shares storage with the model's parameter
    target.copy_(it->second);
  }
  adamw.load_state(moments);
  return state;
}

std::ofstream open_metrics(const fs::path& path, bool resume, int64_t resumed_step) {
  std::string kept;
  if (resume) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      if (!record.is_discarded() && record.value("step", int64_t{0}) <= resumed_step) kept += line + "\n";
    }
  }
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  remove_stale_temporaries(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  {
    // Renamed into place: a crash here keeps the old file rather than a cut one.
    io::AtomicFile file(path);
    file.write(kept.data(), kept.size());
    file.commit();
  }
  std::ofstream out(path, std::ios::app);
  KILN_CHECK(out.good(), "{}: cannot write metrics", path.string());
  return out;
}

}  // namespace kiln::train
