// kiln: self-supervised pretraining, from n-gram LMs to DeepSeek-V3-style
// transformers. Every failure a user can cause ends as one line on stderr
// and a non-zero exit status.
#include <cstdio>
#include <exception>

#include <fmt/core.h>

#include "kiln/base/error.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/cli/commands.hpp"

int main(int argc, char** argv) {
  kiln::keep_freed_memory();
  CLI::App app{"kiln — self-supervised pretraining in C++"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kiln 0.1.0");
  kiln::cli::add_ngram_commands(app);
  kiln::cli::add_plan_commands(app);
  kiln::cli::add_lm_commands(app);
  kiln::cli::add_speech_data_commands(app);
  kiln::cli::add_vision_data_commands(app);
  kiln::cli::add_vision_commands(app);
  kiln::cli::add_navit_commands(app);
  kiln::cli::add_vlm_commands(app);
  kiln::cli::add_bert_commands(app);
  kiln::cli::add_speech_commands(app);
  kiln::cli::add_interop_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kiln::Error& e) {
    fmt::print(stderr, "kiln: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "kiln: internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}
