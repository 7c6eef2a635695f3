#pragma once
// A trained model as a folder: model.safetensors + config.json (Hugging Face
// layout). Written into a staging folder beside it and renamed into place, so
// a crash leaves either the previous folder or the new one, never a mix.
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/io/safetensors.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::train {

// Removes what writers killed mid-write left in `folder`: staging folders
// (`<name>.partial-<pid>`), temporaries (`<name>.tmp.<pid>`), and previous
// folders renamed away (`<name>.old-<pid>`, put back when `<name>` is missing),
// for processes that no longer exist.
void remove_stale_temporaries(const std::filesystem::path& folder);

// Calls `write(staging)` to fill a fresh folder beside `dir`, then renames it
// to `dir` (replacing what was there). Stale temporaries beside it go first.
void write_folder_staged(const std::filesystem::path& dir,
                         const std::function<void(const std::filesystem::path& staging)>& write);

// `extra_files` writes anything else the folder holds (a vocabulary) into the staging folder.
void save_model_folder(const std::filesystem::path& dir, const nlohmann::json& config,
                       const std::map<std::string, Tensor>& weights,
                       const std::function<void(const std::filesystem::path& staging)>& extra_files = {});

struct ModelFolder {
  std::filesystem::path dir;
  nlohmann::json config;
  io::TensorMap weights;
};

// Accepts a model folder or a run folder holding model/. `what` names the
// expected kind in errors ("a kiln cpc run").
ModelFolder load_model_folder(const std::filesystem::path& run_or_model, const std::string& what);

}  // namespace kiln::train
