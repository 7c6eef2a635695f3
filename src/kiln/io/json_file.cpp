#include "kiln/io/json_file.hpp"

#include <fstream>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"

namespace kiln::io {

nlohmann::json read_json_object(const std::filesystem::path& path) {
  std::ifstream in(path);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  KILN_CHECK(!json.is_discarded() && json.is_object(), "{}: not a JSON object", path.string());
  return json;
}

void write_json_file(const std::filesystem::path& path, const nlohmann::json& json) {
  const std::string text = json.dump(2) + "\n";
  AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

}  // namespace kiln::io
