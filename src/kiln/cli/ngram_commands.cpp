#include "kiln/cli/commands.hpp"

namespace kiln::cli {

void add_ngram_commands(CLI::App& app) { app.add_subcommand("ngram", "n-gram language models (being built)"); }

}  // namespace kiln::cli
