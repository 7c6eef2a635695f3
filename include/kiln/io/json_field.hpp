#pragma once
// Typed reads of one field of a JSON object from a file kiln did not
// necessarily write (a run folder's config.json): a missing field, a wrong
// type or a number outside its range is one line naming the file and the
// field, never a JSON library exception.
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/base/error.hpp"

namespace kiln::io {

template <typename T>
T json_field(const nlohmann::json& json, const std::string& key, const std::string& source) {
  KILN_CHECK(json.is_object() && json.contains(key), "{}: missing field '{}'", source, key);
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: field '{}' has the wrong type ({})", source, key, json.at(key).type_name());
  }
}

// An optional field: `fallback` when the object lacks it; present, it must
// have the type (nlohmann's value() would throw its own exception instead).
template <typename T>
T json_field_or(const nlohmann::json& json, const std::string& key, T fallback, const std::string& source) {
  KILN_CHECK(json.is_object(), "{}: expected a JSON object, got {}", source, json.type_name());
  return json.contains(key) ? json_field<T>(json, key, source) : fallback;
}

// An integer field in [lo, hi]: sizes that no model on this machine could
// hold are refused before anything is allocated from them.
inline int64_t json_int(const nlohmann::json& json, const std::string& key, int64_t lo, int64_t hi,
                        const std::string& source) {
  KILN_CHECK(json.is_object() && json.contains(key), "{}: missing field '{}'", source, key);
  const nlohmann::json& value = json.at(key);
  KILN_CHECK(value.is_number_integer(), "{}: field '{}' must be an integer, got {}", source, key,
             value.dump().substr(0, 40));
  const int64_t v = value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                        ? INT64_MAX
                        : value.get<int64_t>();
  KILN_CHECK(v >= lo && v <= hi, "{}: field '{}' must be in [{}, {}], got {}", source, key, lo, hi,
             value.dump().substr(0, 40));
  return v;
}

}  // namespace kiln::io
