#pragma once
// Each family of subcommands registers itself on the `kiln` program.
#include <CLI/CLI.hpp>

namespace kiln::cli {

void add_ngram_commands(CLI::App& app);
void add_plan_commands(CLI::App& app);
void add_lm_commands(CLI::App& app);
void add_vision_commands(CLI::App& app);
// `kiln vlm train|eval|generate` (docs/vlm.md).
void add_vlm_commands(CLI::App& app);
// `kiln navit train|eval`: the native-resolution packed classifier (docs/vlm.md).
void add_navit_commands(CLI::App& app);
void add_bert_commands(CLI::App& app);
void add_speech_commands(CLI::App& app);
// `kiln export hf|gguf` and `kiln import hf` (docs/interop.md).
void add_interop_commands(CLI::App& app);
// `kiln data speech` and `kiln data streams`; call after add_lm_commands, which creates `data`.
void add_speech_data_commands(CLI::App& app);
// `kiln data render-ocr` and `kiln data fashion-canvas`; call after add_lm_commands.
void add_vision_data_commands(CLI::App& app);

}  // namespace kiln::cli
