#pragma once
// `kiln train` dispatches on the configuration's model family; the families
// other than decoder LMs are trained by these, each in its command file.
// (Their training logic is to move into train/ onto one shared loop.)
#include "kiln/io/config_file.hpp"

namespace kiln::cli {

void run_bert_pretraining(io::ConfigFile& file, bool resume);   // bert_commands.cpp
void run_cpc_pretraining(io::ConfigFile& file, bool resume);    // speech_commands.cpp
void run_detector_training(io::ConfigFile& file, bool resume);  // speech_commands.cpp

}  // namespace kiln::cli
