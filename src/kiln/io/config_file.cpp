#include "kiln/io/config_file.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "kiln/base/error.hpp"
#include "kiln/base/printable.hpp"

namespace kiln::io {

namespace {

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(key);
  while (std::getline(in, part, '.')) parts.push_back(part);
  return parts;
}

void collect_keys(const toml::table& table, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [name, node] : table) {
    const std::string key = prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
    if (const toml::table* sub = node.as_table()) collect_keys(*sub, key, out);
    else out.push_back(key);
  }
}

}  // namespace

ConfigFile ConfigFile::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  KILN_CHECK(in.good(), "{}: cannot open config file", path.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path.string());
}

ConfigFile ConfigFile::parse(std::string_view text, std::string source_name) {
  ConfigFile config;
  config.source_ = std::move(source_name);
  try {
    config.table_ = toml::parse(text, config.source_);
  } catch (const toml::parse_error& e) {
    fail("{}:{}: {}", config.source_, e.source().begin.line, e.description());
  }
  return config;
}

void ConfigFile::apply_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  KILN_CHECK(eq != std::string::npos && eq > 0, "--set {}: expected section.key=value", printable(assignment));
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};  // a bare word is a string
  }
  const std::vector<std::string> parts = split_key(key);
  KILN_CHECK(!parts.empty(), "--set {}: empty key", printable(assignment));
  toml::table* table = &table_;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    toml::node* next = table->get(parts[i]);
    if (next == nullptr) {
      table->insert(parts[i], toml::table{});
      next = table->get(parts[i]);
    }
    KILN_CHECK(next->is_table(), "--set {}: '{}' is not a section", printable(assignment), printable(parts[i]));
    table = next->as_table();
  }
  table->insert_or_assign(parts.back(), *parsed.get("v"));
}

const toml::node* ConfigFile::find(const std::string& key) {
  const toml::node* node = table_.at_path(key).node();
  if (node != nullptr) used_.insert(key);
  return node;
}

bool ConfigFile::has(const std::string& key) const { return table_.at_path(key).node() != nullptr; }

void ConfigFile::bad_value(const std::string& key, const std::string& expected) const {
  fail("{}: {} must be {}", source_, key, expected);
}

int64_t ConfigFile::get_int(const std::string& key, int64_t fallback, int64_t min, int64_t max) {
  const toml::node* node = find(key);
  if (node == nullptr) return fallback;
  // Type first: toml++ converts a float node to int64_t, undefined beyond its range (found by toml_config_fuzz).
  if (!node->is_integer()) bad_value(key, fmt::format("an integer in [{}, {}]", min, max));
  const auto value = node->value<int64_t>();
  if (!value) bad_value(key, fmt::format("an integer in [{}, {}]", min, max));
  if (*value < min || *value > max) bad_value(key, fmt::format("in [{}, {}], got {}", min, max, *value));
  return *value;
}

double ConfigFile::get_double(const std::string& key, double fallback, double min, double max) {
  const toml::node* node = find(key);
  if (node == nullptr) return fallback;
  const auto value = node->value<double>();
  if (!value || !(node->is_floating_point() || node->is_integer())) bad_value(key, "a number");
  if (!(*value >= min && *value <= max)) bad_value(key, fmt::format("in [{}, {}], got {}", min, max, *value));
  return *value;
}

bool ConfigFile::get_bool(const std::string& key, bool fallback) {
  const toml::node* node = find(key);
  if (node == nullptr) return fallback;
  if (!node->is_boolean()) bad_value(key, "true or false");
  return *node->value<bool>();
}

std::string ConfigFile::get_string(const std::string& key, const std::string& fallback,
                                   const std::vector<std::string>& allowed) {
  const toml::node* node = find(key);
  if (node == nullptr) return fallback;
  if (!node->is_string()) bad_value(key, "a string");
  std::string value = *node->value<std::string>();
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    std::string options;
    for (const auto& a : allowed) options += (options.empty() ? "" : ", ") + a;
    bad_value(key, fmt::format("one of {}, got '{}'", options, printable(value)));
  }
  return value;
}

std::vector<int64_t> ConfigFile::get_ints(const std::string& key, const std::vector<int64_t>& fallback, int64_t min,
                                          int64_t max, int64_t scalar_copies) {
  const toml::node* node = find(key);
  if (node == nullptr) return fallback;
  const std::string expected = fmt::format("an integer or an array of integers in [{}, {}]", min, max);
  const auto checked = [&](const toml::node& item) {
    if (!item.is_integer()) bad_value(key, expected);
    const int64_t value = *item.value<int64_t>();
    if (value < min || value > max) bad_value(key, fmt::format("in [{}, {}], got {}", min, max, value));
    return value;
  };
  if (!node->is_array()) return std::vector<int64_t>(static_cast<size_t>(scalar_copies), checked(*node));
  std::vector<int64_t> out;
  for (const toml::node& item : *node->as_array()) out.push_back(checked(item));
  return out;
}

std::vector<double> ConfigFile::get_doubles(const std::string& key, const std::vector<double>& fallback) {
  const toml::node* node = find(key);
  if (node == nullptr) return fallback;
  const toml::array* array = node->as_array();
  if (array == nullptr) bad_value(key, "an array of numbers");
  std::vector<double> out;
  for (const toml::node& item : *array) {
    const auto v = item.value<double>();
    if (!v) bad_value(key, "an array of numbers");
    out.push_back(*v);
  }
  return out;
}

void ConfigFile::check_all_used() const {
  std::vector<std::string> keys;
  collect_keys(table_, "", keys);
  for (const std::string& key : keys)
    KILN_CHECK(used_.count(key) != 0, "{}: unknown key '{}'", source_, printable(key));
}

std::string ConfigFile::to_json() const {
  std::ostringstream out;
  out << toml::json_formatter{table_};
  return out.str();
}

}  // namespace kiln::io
