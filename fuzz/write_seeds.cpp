// Writes the seed corpus of every fuzz target — small valid files made by
// kiln's own writers — into <out>/<target>/. The fuzzers mutate from these.
#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/data/shard.hpp"
#include "kiln/data/subword.hpp"
#include "kiln/data/wav.hpp"
#include "kiln/data/wordpiece.hpp"
#include "kiln/io/png.hpp"
#include "kiln/io/safetensors.hpp"
#include "kiln/models/bert/bert_config_io.hpp"
#include "kiln/models/cpc/cpc_config_io.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/models/ngram/arpa.hpp"
#include "kiln/models/ngram/index.hpp"
#include "kiln/models/oadtr/detector_config_io.hpp"
#include "kiln/models/vision/vision_config_io.hpp"
#include "kiln/models/vit/vit_config_io.hpp"
#include "kiln/models/vlm/vlm_config_io.hpp"
#include "kiln/train/interop.hpp"

namespace fs = std::filesystem;
using namespace kiln;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> big_endian(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
          static_cast<uint8_t>(v)};
}

// An IDX pair of 3 images of 4×4 and their labels, concatenated as idx_fuzz splits them (halves).
std::vector<uint8_t> idx_pair() {
  std::vector<uint8_t> images{0, 0, 8, 3};
  for (uint32_t d : {3u, 4u, 4u})
    for (uint8_t b : big_endian(d)) images.push_back(b);
  for (int i = 0; i < 48; ++i) images.push_back(static_cast<uint8_t>(i * 5));
  std::vector<uint8_t> labels{0, 0, 8, 1};
  for (uint8_t b : big_endian(3)) labels.push_back(b);
  for (uint8_t l : {0, 1, 2}) labels.push_back(l);
  while (labels.size() < images.size()) labels.push_back(0);  // equal halves; the tail is junk to reject
  std::vector<uint8_t> out = images;
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

void gpt_seeds(const fs::path& dir) {
  models::GptConfig llama;
  llama.vocab_size = 512;
  llama.max_seq_len = 64;
  write_text(dir / "llama.json", models::gpt_config_json(llama).dump(2));
  models::GptConfig gpt2 = llama;
  gpt2.arch = models::DecoderArch::gpt2;
  write_text(dir / "gpt2.json", models::gpt_config_json(gpt2).dump(2));
  models::GptConfig deepseek = llama;
  deepseek.attention = models::AttentionKind::mla;
  deepseek.moe.n_routed_experts = 4;
  deepseek.moe.moe_inter_dim = 32;
  deepseek.mtp_depth = 1;
  write_text(dir / "deepseek.json", models::gpt_config_json(deepseek).dump(2));
}

void config_json_seeds(const fs::path& dir) {
  gpt_seeds(dir);
  models::BertConfig bert;
  write_text(dir / "bert.json", models::bert_config_json(bert).dump(2));
  const models::VitConfig vit;
  write_text(dir / "vit.json", models::vit_config_json(vit).dump(2));
  models::MaeConfig mae;
  mae.encoder.sincos_positions = true;
  mae.encoder.n_classes = 0;
  write_text(dir / "mae.json", models::mae_config_json(mae).dump(2));
  write_text(dir / "cpc.json", models::cpc_config_json(models::CpcConfig{}, 20480).dump(2));
  models::OadtrConfig oadtr;
  oadtr.feature_dim = 40;
  oadtr.classes = 4;
  write_text(dir / "oadtr.json", models::oadtr_config_json(oadtr).dump(2));
  models::GruDetectorConfig gru;
  gru.feature_dim = 40;
  gru.classes = 4;
  write_text(dir / "gru.json", models::gru_detector_config_json(gru).dump(2));
  write_text(dir / "navit.json", models::navit_config_json(models::NavitConfig{}).dump(2));
  models::VlmConfig vlm;
  vlm.decoder = models::VlmConfig::default_decoder();
  write_text(dir / "vlm.json", models::vlm_config_json(vlm).dump(2));
}

void write_seeds(const fs::path& source, const fs::path& out) {
  for (const char* target : {"safetensors_fuzz", "model_config_json_fuzz", "toml_config_fuzz", "arpa_fuzz", "kbin_fuzz",
                             "idx_fuzz", "image_file_fuzz", "wav_fuzz", "token_shard_fuzz", "wordpiece_vocab_fuzz",
                             "tokenizer_config_fuzz", "hf_config_fuzz", "sentencepiece_model_fuzz"})
    fs::create_directories(out / target);

  io::save_safetensors(out / "safetensors_fuzz" / "small.safetensors",
                       {{"w", Tensor::from<float>({1, 2, 3, 4, 5, 6}, {2, 3})},
                        {"ids", Tensor::from<int64_t>({7, 8}, {2})}},
                       {{"format", "pt"}});
  config_json_seeds(out / "model_config_json_fuzz");
  for (const auto& entry : fs::directory_iterator(source / "configs"))
    if (entry.path().extension() == ".toml")
      fs::copy_file(entry.path(), out / "toml_config_fuzz" / entry.path().filename(),
                    fs::copy_options::overwrite_existing);

  // n-gram models: kiln's ARPA output is byte-identical to lmplz's on these references.
  const fs::path toy = source / "tests/data/ngram/kenlm-toy";
  fs::create_directories(out / "arpa_fuzz");
  for (const char* name : {"order3.arpa", "order3_prune_0_1_1.arpa", "order4.arpa"})
    fs::copy_file(toy / name, out / "arpa_fuzz" / name, fs::copy_options::overwrite_existing);
  fs::create_directories(out / "kbin_fuzz");
  ngram::NgramIndex::build(ngram::read_arpa(toy / "order3.arpa")).save(out / "kbin_fuzz" / "order3.kbin");

  write_bytes(out / "idx_fuzz" / "three.idx", idx_pair());
  fs::create_directories(out / "image_file_fuzz");
  std::vector<uint8_t> rgb(8 * 8 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  io::write_png(out / "image_file_fuzz" / "8x8.png", 8, 8, rgb);

  std::vector<float> tone(1600);
  for (size_t i = 0; i < tone.size(); ++i) tone[i] = 0.3f * std::sin(0.05f * static_cast<float>(i));
  fs::create_directories(out / "wav_fuzz");
  data::write_wav(out / "wav_fuzz" / "tone.wav", tone);

  fs::create_directories(out / "token_shard_fuzz");
  data::write_shard(out / "token_shard_fuzz" / "small.bin", {1, 2, 3, 4, 5, 2, 6, 7}, {0, 5, 8}, 8);

  const std::vector<std::string> vocab{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s", "god", "in", "."};
  fs::create_directories(out / "wordpiece_vocab_fuzz");
  data::write_wordpiece_vocab(out / "wordpiece_vocab_fuzz" / "vocab.txt", vocab);

  const fs::path bytes_dir = out / "tmp-bytes-tokenizer";
  data::Tokenizer::bytes().save(bytes_dir);
  fs::create_directories(out / "tokenizer_config_fuzz");
  fs::copy_file(bytes_dir / "tokenizer_config.json", out / "tokenizer_config_fuzz" / "bytes.json",
                fs::copy_options::overwrite_existing);
  fs::remove_all(bytes_dir);
  // Hugging Face config.json as `kiln export hf` writes it, for the LLaMA and GPT-2 blocks.
  const data::Tokenizer bytes = data::Tokenizer::bytes();
  models::GptConfig llama;
  llama.vocab_size = bytes.vocab_size();
  llama.max_seq_len = 64;
  write_text(out / "hf_config_fuzz" / "llama.json", train::hf_config_json(llama, bytes).dump(2));
  models::GptConfig gpt2 = llama;
  gpt2.arch = models::DecoderArch::gpt2;
  gpt2.tie_embeddings = true;
  write_text(out / "hf_config_fuzz" / "gpt2.json", train::hf_config_json(gpt2, bytes).dump(2));
  // A small BPE model (256 byte pieces, specials and a few merges) trained on the n-gram toy corpus.
  const fs::path spm_dir = out / "tmp-sentencepiece";
  data::Tokenizer::train_sentencepiece(toy / "corpus.txt", spm_dir, {.model_type = "bpe", .vocab_size = 300, .threads = 1});
  fs::copy_file(spm_dir / "tokenizer.model", out / "sentencepiece_model_fuzz" / "bpe.model",
                fs::copy_options::overwrite_existing);
  fs::remove_all(spm_dir);
  fmt::print("seeds written to {}\n", out.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fmt::print(stderr, "usage: {} SOURCE_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    write_seeds(argv[1], argv[2]);
  } catch (const std::exception& e) {
    fmt::print(stderr, "fuzz_write_seeds: {}\n", e.what());
    return 1;
  }
  return 0;
}
