#pragma once
// `kiln export gguf`: a decoder checkpoint as a GGUF v3 file that llama.cpp
// loads (docs/interop.md): llama.cpp's `llama` architecture for the LLaMA
// block, `gpt2` for the GPT-2 block, the tokenizer's vocabulary, tensors with
// llama.cpp's names and orientation.
#include <cstdint>
#include <filesystem>
#include <string>

#include "kiln/io/gguf.hpp"

namespace kiln::train {

// What --type asks for: matrices in `matrices`, 1-D tensors (norms, biases)
// and GPT-2's position table always f32, as llama.cpp's own converter writes
// them; a q8_0 matrix whose rows are not whole blocks of 32 falls back to f16
// (the converter's rule too).
struct GgufFileType {
  io::GgmlType matrices = io::GgmlType::f32;
  uint32_t llama_file_type = 0;  // general.file_type: llama.cpp's LLAMA_FTYPE_*
};
// "f32", "f16", "bf16" or "q8_0"; anything else is an error naming the allowed ones.
GgufFileType gguf_file_type(const std::string& name);

struct GgufSummary {
  std::filesystem::path checkpoint, output;
  std::string architecture;  // llama or gpt2
  std::string tokenizer;     // tokenizer.ggml.model: llama (SentencePiece) or gpt2 (byte-level BPE)
  int64_t tensors = 0;
  int64_t f16_fallbacks = 0;  // q8_0 matrices written as f16
};
// `run` is a run folder (its latest checkpoint) or a checkpoint folder; the
// file is written atomically.
GgufSummary export_gguf(const std::filesystem::path& run, const std::filesystem::path& output, const std::string& type);

// GPT-2's byte-level alphabet (bytes_to_unicode in its encoder.py): the
// printable character a byte stands for in a byte-level BPE vocabulary, UTF-8.
std::string byte_level_character(uint8_t byte);

}  // namespace kiln::train
