#include "kiln/cli/commands.hpp"

namespace kiln::cli {

void add_demo_commands(CLI::App& app) { app.add_subcommand("demo", "Fashion-MNIST MLP demonstration (being built)"); }

}  // namespace kiln::cli
