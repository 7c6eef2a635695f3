#include "kiln/io/config_file.hpp"

#include <gtest/gtest.h>

#include "kiln/base/error.hpp"

namespace kiln::io {
namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigFile, ReadsTypedValuesAndOverrides) {
  ConfigFile c = ConfigFile::parse("[model]\nn_layer = 4\nnorm_eps = 1e-6\n[train]\nlr = 3e-4\n", "test.toml");
  c.apply_override("model.n_layer=6");
  c.apply_override("train.schedule=cosine");
  c.apply_override("train.steps=[0.316, 0.1]");
  EXPECT_EQ(c.get_int("model.n_layer", 1, 1, 64), 6);
  EXPECT_DOUBLE_EQ(c.get_double("model.norm_eps", 1e-5, 0, 1), 1e-6);
  EXPECT_DOUBLE_EQ(c.get_double("train.lr", 0, 0, 1), 3e-4);
  EXPECT_EQ(c.get_string("train.schedule", "const", {"cosine", "const"}), "cosine");
  EXPECT_EQ(c.get_doubles("train.steps", {}), (std::vector<double>{0.316, 0.1}));
  EXPECT_EQ(c.get_int("model.missing", 7, 0, 10), 7);
  EXPECT_NO_THROW(c.check_all_used());
}

TEST(ConfigFile, UnknownAndOutOfRangeKeysAreNamed) {
  ConfigFile c = ConfigFile::parse("[model]\nn_layer = 0\nn_layr = 3\n", "tiny.toml");
  EXPECT_NE(error_of([&] { c.get_int("model.n_layer", 1, 1, 64); }).find("model.n_layer"), std::string::npos);
  EXPECT_NE(error_of([&] { c.check_all_used(); }).find("unknown key 'model.n_layr'"), std::string::npos);
  ConfigFile d = ConfigFile::parse("[train]\nschedule = \"cosin\"\n", "d.toml");
  EXPECT_NE(error_of([&] { d.get_string("train.schedule", "", {"cosine"}); }).find("train.schedule"),
            std::string::npos);
  EXPECT_NE(error_of([] { ConfigFile::parse("[model\n", "bad.toml"); }).find("bad.toml:1"), std::string::npos);
  EXPECT_NE(error_of([&] { d.apply_override("novalue"); }).find("section.key=value"), std::string::npos);
  // Found by toml_config_fuzz: a float where an integer belongs was converted first (undefined beyond int64).
  ConfigFile f = ConfigFile::parse("[train]\nbatch_size = 3.3e43\nsteps = nan\n", "f.toml");
  EXPECT_NE(error_of([&] { f.get_int("train.batch_size", 1, 1, 64); }).find("train.batch_size must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_int("train.steps", 1, 1, 64); }).find("train.steps must be an integer"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::io
