#include "kiln/train/checkpoint.hpp"

#include <unistd.h>

#include <fstream>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/train/model_folder.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  io::AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  KILN_CHECK(!json.is_discarded(), "{}: not valid JSON", path.string());
  return json;
}

}  // namespace


std::optional<fs::path> latest_checkpoint(const fs::path& run_dir) {
  const fs::path link = run_dir / "checkpoints" / "latest";
  std::error_code error;
  const fs::path target = fs::read_symlink(link, error);
  if (error) return std::nullopt;
  return run_dir / "checkpoints" / target;
}

fs::path save_checkpoint(const fs::path& run_dir, int64_t step, const models::GptConfig& config,
                         const io::TensorMap& weights, const io::TensorMap& optimizer,
                         const nlohmann::json& trainer_state, const fs::path& tokenizer_dir) {
  const fs::path root = run_dir / "checkpoints";
  fs::create_directories(root);
  const std::string name = fmt::format("step-{:07}", step);
  const fs::path final_path = root / name;
  save_model_folder(final_path, models::gpt_config_json(config), weights, [&](const fs::path& staging) {
    if (!optimizer.empty()) io::save_safetensors(staging / "trainer_state.safetensors", optimizer);
    write_text(staging / "trainer_state.json", trainer_state.dump(2) + "\n");
    if (!tokenizer_dir.empty()) fs::copy(tokenizer_dir, staging / "tokenizer", fs::copy_options::recursive);
  });
  // Swap the `latest` link atomically: a new link under a temporary name, renamed over the old.
  const fs::path temporary_link = root / fmt::format("latest.partial-{}", ::getpid());
  fs::remove(temporary_link);
  fs::create_directory_symlink(name, temporary_link);
  fs::rename(temporary_link, root / "latest");
  return final_path;
}

Checkpoint load_checkpoint(const fs::path& path, bool with_optimizer) {
  fs::path folder = path;
  if (!fs::exists(folder / "config.json")) {
    const auto latest = latest_checkpoint(path);
    KILN_CHECK(latest.has_value(), "{}: neither a checkpoint folder (config.json) nor a run with checkpoints",
               path.string());
    folder = *latest;
  }
  ModelFolder model = load_model_folder(folder, "a kiln checkpoint");
  Checkpoint checkpoint;
  checkpoint.folder = folder;
  checkpoint.config = models::gpt_config_from_json(model.config, (folder / "config.json").string());
  checkpoint.weights = std::move(model.weights);
  checkpoint.trainer_state = fs::exists(folder / "trainer_state.json") ? read_json(folder / "trainer_state.json")
                                                                       : nlohmann::json::object();
  if (with_optimizer) {
    KILN_CHECK(fs::exists(folder / "trainer_state.safetensors"), "{}: no optimizer state to resume from",
               folder.string());
    checkpoint.optimizer = io::load_safetensors(folder / "trainer_state.safetensors").tensors;
  }
  return checkpoint;
}

}  // namespace kiln::train
