#pragma once
// Run configuration from a TOML file plus command-line overrides
// (`--set model.n_layer=4`). Values are read through typed getters that
// remember every key they touched, so after a config struct is filled,
// `check_all_used()` turns any key nobody read into an error naming it —
// a misspelt option never silently falls back to a default.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace kiln::io {

class ConfigFile {
 public:
  ConfigFile() = default;
  static ConfigFile load(const std::filesystem::path& path);
  static ConfigFile parse(std::string_view text, std::string source_name);

  // "section.key=value", value in TOML syntax (bare words are taken as strings).
  void apply_override(const std::string& assignment);

  int64_t get_int(const std::string& key, int64_t fallback, int64_t min, int64_t max);
  double get_double(const std::string& key, double fallback, double min, double max);
  bool get_bool(const std::string& key, bool fallback);
  std::string get_string(const std::string& key, const std::string& fallback,
                         const std::vector<std::string>& allowed = {});
  std::vector<double> get_doubles(const std::string& key, const std::vector<double>& fallback);
  // An array of integers, each in [min, max]; a single integer stands for
  // `scalar_copies` copies of itself (a per-layer value given once).
  std::vector<int64_t> get_ints(const std::string& key, const std::vector<int64_t>& fallback, int64_t min,
                                int64_t max, int64_t scalar_copies);
  bool has(const std::string& key) const;

  // Errors on the first key present in the file or overrides but never read.
  void check_all_used() const;
  // The effective configuration (file + overrides), for config.json / logs.
  std::string to_json() const;
  const std::string& source() const { return source_; }

 private:
  const toml::node* find(const std::string& key);
  [[noreturn]] void bad_value(const std::string& key, const std::string& expected) const;

  toml::table table_;
  std::string source_ = "<defaults>";
  std::set<std::string> used_;
};

}  // namespace kiln::io
