// `kiln export gguf` read back by an independent reader
// (tests/support/gguf_reader.hpp): every header field and key with its type,
// every tensor's llama.cpp name, dimensions (innermost first), ggml type and
// values — f32 exact, f16 and bf16 within their rounding, q8_0 dequantised
// within half a step of its block and equal byte for byte to ggml's reference
// quantizer as written out here — for the `llama` and `gpt2` architectures,
// the SentencePiece vocabulary and the bytes tokenizer's byte-level BPE.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include <unistd.h>

#include "kiln/base/error.hpp"
#include "kiln/data/subword.hpp"
#include "kiln/io/gguf.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/tensor/bf16.hpp"
#include "kiln/train/checkpoint.hpp"
#include "kiln/train/gguf_export.hpp"
#include "kiln/train/interop.hpp"
#include "support/gguf_reader.hpp"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;
using models::DecoderArch;
using models::GptConfig;
using testing::GgufFile;
using testing::GgufTensorInfo;

constexpr uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8, kBF16 = 30;

class GgufExport : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_gguf_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path make_run(const std::string& name, const GptConfig& config, const data::Tokenizer& tokenizer) {
    const fs::path run = dir_ / name;
    tokenizer.save(dir_ / (name + "-tokenizer"));
    models::GptModel model(config, 7);
    save_checkpoint(run, 3, config, model.parameters(), {}, nlohmann::json{{"step", 3}}, dir_ / (name + "-tokenizer"));
    return run;
  }

  // d_model 64 (rows of whole q8_0 blocks) but an FFN width of 48: ffn_down's rows are not, and fall back to f16.
  static GptConfig tiny(DecoderArch arch, bool interleaved, bool tied, int64_t vocab) {
    GptConfig c;
    c.arch = arch;
    c.vocab_size = vocab;
    c.n_layer = 2;
    c.d_model = 64;
    c.n_head = 4;
    c.n_kv_head = arch == DecoderArch::llama ? 2 : 4;
    c.ffn_hidden = 48;
    c.max_seq_len = 16;
    c.norm_eps = arch == DecoderArch::llama ? 1e-6 : 1e-5;
    c.rope_interleaved = interleaved;
    c.tie_embeddings = tied;
    c.init_std = 0.2;
    return c;
  }

  fs::path dir_;
};

uint64_t u32(const GgufFile& g, const std::string& key) {
  EXPECT_TRUE(g.kv.count(key)) << key;
  if (!g.kv.count(key)) return 0;
  EXPECT_EQ(g.kv.at(key).type, 4u) << key;
  return g.kv.at(key).u;
}

double f32(const GgufFile& g, const std::string& key) {
  EXPECT_TRUE(g.kv.count(key)) << key;
  if (!g.kv.count(key)) return 0;
  EXPECT_EQ(g.kv.at(key).type, 6u) << key;
  return g.kv.at(key).f;
}

std::string text(const GgufFile& g, const std::string& key) {
  EXPECT_TRUE(g.kv.count(key)) << key;
  if (!g.kv.count(key)) return {};
  EXPECT_EQ(g.kv.at(key).type, 8u) << key;
  return g.kv.at(key).s;
}

float half_value(const char* at) {
  uint16_t bits;
  std::memcpy(&bits, at, 2);
  return io::half_to_float(bits);
}

// ggml's quantize_row_q8_0_ref, restated: d = amax / 127 in single precision, q = roundf(x · (1/d)).
std::string reference_q8_0_block(const float* x) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
  std::string block(34, '\0');
  const uint16_t scale = io::float_to_half(d);
  std::memcpy(block.data(), &scale, 2);
  for (int j = 0; j < 32; ++j) block[2 + j] = static_cast<char>(static_cast<int8_t>(roundf(x[j] * id)));
  return block;
}

// The tensor's values as stored, checked against `expected` (the kiln tensor in ggml's orientation).
void expect_values(const GgufFile& g, const GgufTensorInfo& info, const Tensor& expected, uint32_t type) {
  EXPECT_EQ(info.type, type);
  const std::vector<float> values = expected.contiguous().to_vector<float>();
  const char* data = g.tensor_data(info);
  if (type == kQ8_0) {
    for (size_t block = 0; block < values.size() / 32; ++block) {
      const char* b = data + 34 * block;
      ASSERT_EQ(std::string(b, 34), reference_q8_0_block(values.data() + 32 * block)) << "block " << block;
      const float d = half_value(b);
      for (size_t j = 0; j < 32; ++j) {
        const float got = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
        ASSERT_LE(std::abs(got - values[32 * block + j]), 0.57f * d + 1e-7f) << block << "/" << j;
      }
    }
    return;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    if (type == kF32) {
      float got;
      std::memcpy(&got, data + 4 * i, 4);
      ASSERT_EQ(got, v) << i;
    } else if (type == kF16) {
      ASSERT_LE(std::abs(half_value(data + 2 * i) - v), std::abs(v) / 1024 + 6e-8) << i;
    } else {
      uint16_t bits;
      std::memcpy(&bits, data + 2 * i, 2);
      const float got = std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
      ASSERT_LE(std::abs(got - v), std::abs(v) / 256) << i;
      ASSERT_EQ(bits, bf16::round_from(v)) << i;
    }
  }
}

// For each GGUF tensor name: the kiln parameter, and the head count when llama.cpp wants its rows interleaved.
using Sources = std::map<std::string, std::pair<std::string, int64_t>>;

Sources llama_sources(const GptConfig& c) {
  Sources s = {{"token_embd.weight", {"model.embed_tokens.weight", 0}}, {"output_norm.weight", {"model.norm.weight", 0}}};
  if (!c.tie_embeddings) s["output.weight"] = {"lm_head.weight", 0};
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l), b = fmt::format("blk.{}.", l);
    s[b + "attn_norm.weight"] = {p + "input_layernorm.weight", 0};
    s[b + "attn_q.weight"] = {p + "self_attn.q_proj.weight", c.n_head};
    s[b + "attn_k.weight"] = {p + "self_attn.k_proj.weight", c.n_kv_head};
    s[b + "attn_v.weight"] = {p + "self_attn.v_proj.weight", 0};
    s[b + "attn_output.weight"] = {p + "self_attn.o_proj.weight", 0};
    s[b + "ffn_norm.weight"] = {p + "post_attention_layernorm.weight", 0};
    s[b + "ffn_gate.weight"] = {p + "mlp.gate_proj.weight", 0};
    s[b + "ffn_up.weight"] = {p + "mlp.up_proj.weight", 0};
    s[b + "ffn_down.weight"] = {p + "mlp.down_proj.weight", 0};
  }
  return s;
}

Sources gpt2_sources(const GptConfig& c) {
  Sources s = {{"token_embd.weight", {"transformer.wte.weight", 0}},
               {"position_embd.weight", {"transformer.wpe.weight", 0}},
               {"output_norm.weight", {"transformer.ln_f.weight", 0}},
               {"output_norm.bias", {"transformer.ln_f.bias", 0}}};
  if (!c.tie_embeddings) s["output.weight"] = {"lm_head.weight", 0};
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string p = fmt::format("transformer.h.{}.", l), b = fmt::format("blk.{}.", l);
    for (const std::string part : {"weight", "bias"}) {
      s[b + "attn_norm." + part] = {p + "ln_1." + part, 0};
      s[b + "attn_qkv." + part] = {p + "attn.c_attn." + part, 0};
      s[b + "attn_output." + part] = {p + "attn.c_proj." + part, 0};
      s[b + "ffn_norm." + part] = {p + "ln_2." + part, 0};
      s[b + "ffn_up." + part] = {p + "mlp.c_fc." + part, 0};
      s[b + "ffn_down." + part] = {p + "mlp.c_proj." + part, 0};
    }
  }
  return s;
}

// Every tensor of the file against the checkpoint, with the type --type gives it.
void expect_tensors(const GgufFile& g, const Checkpoint& checkpoint, const Sources& sources, const std::string& type,
                    bool interleaved) {
  ASSERT_EQ(g.tensors.size(), sources.size());
  const uint32_t matrices = type == "f32" ? kF32 : type == "f16" ? kF16 : type == "bf16" ? kBF16 : kQ8_0;
  uint64_t offset = 0;
  for (const auto& info : g.tensors) {
    SCOPED_TRACE(info.name);
    ASSERT_TRUE(sources.count(info.name));
    const auto& [kiln_name, heads] = sources.at(info.name);
    Tensor expected = checkpoint.weights.at(kiln_name).to(DType::f32);
    if (heads > 0 && !interleaved) expected = half_split_to_interleaved(expected, heads);
    std::vector<uint64_t> dims;
    for (int64_t d = expected.dim() - 1; d >= 0; --d) dims.push_back(static_cast<uint64_t>(expected.size(d)));
    EXPECT_EQ(info.dims, dims);
    // Tensors follow one another in order, each aligned to 32 bytes.
    EXPECT_EQ(info.offset, offset);
    uint64_t count = 1;
    for (uint64_t d : dims) count *= d;
    uint32_t want = kF32;
    if (expected.dim() == 2 && info.name != "position_embd.weight")
      want = matrices == kQ8_0 && dims[0] % 32 != 0 ? kF16 : matrices;
    expect_values(g, info, expected, want);
    offset = (offset + testing::gguf_tensor_bytes(want, count, dims[0]) + 31) / 32 * 32;
  }
}

uint32_t file_type_of(const std::string& type) {
  return type == "f32" ? 0 : type == "f16" ? 1 : type == "q8_0" ? 7 : 32;
}

TEST_F(GgufExport, LlamaEveryKeyAndTensorInEveryType) {
  const data::Tokenizer bytes = data::Tokenizer::bytes();
  for (const bool interleaved : {true, false}) {
    for (const std::string type : {"f32", "f16", "bf16", "q8_0"}) {
      const GptConfig config = tiny(DecoderArch::llama, interleaved, false, bytes.vocab_size());
      const std::string name = fmt::format("llama-{}-{}", interleaved, type);
      SCOPED_TRACE(name);
      const fs::path run = make_run(name, config, bytes);
      const fs::path file = dir_ / (name + ".gguf");
      const GgufSummary summary = export_gguf(run, file, type);
      EXPECT_EQ(summary.architecture, "llama");
      EXPECT_EQ(summary.tensors, 2 + 9 * 2 + 1);
      EXPECT_EQ(summary.f16_fallbacks, type == "q8_0" ? 2 : 0);  // ffn_down: rows of 48
      const GgufFile g = testing::read_gguf(file.string());
      EXPECT_EQ(g.version, 3u);
      const std::vector<std::string> keys = {
          "general.architecture", "general.name", "general.file_type", "llama.vocab_size", "llama.context_length",
          "llama.embedding_length", "llama.block_count", "llama.feed_forward_length", "llama.attention.head_count",
          "llama.attention.head_count_kv", "llama.rope.dimension_count", "llama.rope.freq_base",
          "llama.attention.layer_norm_rms_epsilon", "tokenizer.ggml.model", "tokenizer.ggml.pre",
          "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
          "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"};
      EXPECT_EQ(g.key_order, keys);
      EXPECT_EQ(text(g, "general.architecture"), "llama");
      EXPECT_EQ(text(g, "general.name"), name);
      EXPECT_EQ(u32(g, "general.file_type"), file_type_of(type));
      EXPECT_EQ(u32(g, "llama.vocab_size"), 257u);
      EXPECT_EQ(u32(g, "llama.context_length"), 16u);
      EXPECT_EQ(u32(g, "llama.embedding_length"), 64u);
      EXPECT_EQ(u32(g, "llama.block_count"), 2u);
      EXPECT_EQ(u32(g, "llama.feed_forward_length"), 48u);
      EXPECT_EQ(u32(g, "llama.attention.head_count"), 4u);
      EXPECT_EQ(u32(g, "llama.attention.head_count_kv"), 2u);
      EXPECT_EQ(u32(g, "llama.rope.dimension_count"), 16u);
      EXPECT_EQ(f32(g, "llama.rope.freq_base"), 10000.0);
      EXPECT_EQ(f32(g, "llama.attention.layer_norm_rms_epsilon"), static_cast<double>(1e-6f));
      // The bytes tokenizer as GPT-2's byte-level BPE: byte b is token b, no merges.
      EXPECT_EQ(text(g, "tokenizer.ggml.model"), "gpt2");
      EXPECT_EQ(text(g, "tokenizer.ggml.pre"), "gpt-2");
      const auto& tokens = g.kv.at("tokenizer.ggml.tokens");
      ASSERT_EQ(tokens.strings.size(), 257u);
      EXPECT_EQ(tokens.strings['A'], "A");
      EXPECT_EQ(tokens.strings[' '], "\xc4\xa0");   // U+0120 Ġ
      EXPECT_EQ(tokens.strings['\n'], "\xc4\x8a");  // U+010A Ċ
      EXPECT_EQ(tokens.strings[0xad], "\xc5\x83");  // U+0143 Ń
      EXPECT_EQ(tokens.strings[0xff], "\xc3\xbf");  // ÿ is printable: itself
      EXPECT_EQ(tokens.strings[256], "</s>");
      const auto& kinds = g.kv.at("tokenizer.ggml.token_type");
      EXPECT_EQ(kinds.element, 5u);
      ASSERT_EQ(kinds.numbers.size(), 257u);
      EXPECT_EQ(kinds.numbers[10], 1);   // normal
      EXPECT_EQ(kinds.numbers[256], 3);  // control
      EXPECT_EQ(g.kv.at("tokenizer.ggml.merges").element, 8u);
      EXPECT_TRUE(g.kv.at("tokenizer.ggml.merges").strings.empty());
      EXPECT_EQ(u32(g, "tokenizer.ggml.eos_token_id"), 256u);
      EXPECT_EQ(g.kv.at("tokenizer.ggml.add_bos_token").u, 0u);
      expect_tensors(g, load_checkpoint(run, false), llama_sources(config), type, interleaved);
    }
  }
}

TEST_F(GgufExport, Gpt2EveryKeyAndTensor) {
  const data::Tokenizer bytes = data::Tokenizer::bytes();
  for (const bool tied : {true, false}) {
    for (const std::string type : {"f32", "q8_0"}) {
      const GptConfig config = tiny(DecoderArch::gpt2, true, tied, bytes.vocab_size());
      const std::string name = fmt::format("gpt2-{}-{}", tied, type);
      SCOPED_TRACE(name);
      const fs::path run = make_run(name, config, bytes);
      const fs::path file = dir_ / (name + ".gguf");
      const GgufSummary summary = export_gguf(run, file, type);
      EXPECT_EQ(summary.architecture, "gpt2");
      const GgufFile g = testing::read_gguf(file.string());
      EXPECT_EQ(text(g, "general.architecture"), "gpt2");
      EXPECT_EQ(u32(g, "general.file_type"), file_type_of(type));
      EXPECT_EQ(u32(g, "gpt2.vocab_size"), 257u);
      EXPECT_EQ(u32(g, "gpt2.context_length"), 16u);
      EXPECT_EQ(u32(g, "gpt2.embedding_length"), 64u);
      EXPECT_EQ(u32(g, "gpt2.block_count"), 2u);
      EXPECT_EQ(u32(g, "gpt2.feed_forward_length"), 48u);
      EXPECT_EQ(u32(g, "gpt2.attention.head_count"), 4u);
      EXPECT_EQ(f32(g, "gpt2.attention.layer_norm_epsilon"), static_cast<double>(1e-5f));
      EXPECT_EQ(g.kv.count("llama.context_length"), 0u);
      EXPECT_EQ(text(g, "tokenizer.ggml.model"), "gpt2");
      expect_tensors(g, load_checkpoint(run, false), gpt2_sources(config), type, true);
    }
  }
}

TEST_F(GgufExport, SentencePieceVocabularyWithScoresAndKinds) {
  const data::Tokenizer sp = data::Tokenizer::train_sentencepiece(
      std::string(KILN_TEST_DATA_DIR) + "/text/kjv-train2000.txt", dir_ / "sp", {"bpe", 320, 1});
  const GptConfig config = tiny(DecoderArch::llama, true, true, sp.vocab_size());
  const fs::path run = make_run("sp", config, sp);
  const GgufSummary summary = export_gguf(run, dir_ / "sp.gguf", "f16");
  EXPECT_EQ(summary.tokenizer, "llama");
  EXPECT_EQ(summary.tensors, 2 + 9 * 2);  // tied: no output.weight
  const GgufFile g = testing::read_gguf((dir_ / "sp.gguf").string());
  EXPECT_EQ(text(g, "tokenizer.ggml.model"), "llama");
  EXPECT_EQ(g.kv.count("tokenizer.ggml.merges"), 0u);
  const auto& tokens = g.kv.at("tokenizer.ggml.tokens").strings;
  const auto& scores = g.kv.at("tokenizer.ggml.scores").numbers;
  const auto& kinds = g.kv.at("tokenizer.ggml.token_type").numbers;
  ASSERT_EQ(tokens.size(), 320u);
  ASSERT_EQ(scores.size(), 320u);
  ASSERT_EQ(kinds.size(), 320u);
  int bytes = 0;
  for (int32_t id = 0; id < 320; ++id) {
    EXPECT_EQ(tokens[id], sp.piece(id)) << id;
    EXPECT_EQ(scores[id], static_cast<double>(sp.score(id))) << id;
    if (kinds[id] == 6) {
      ++bytes;
      EXPECT_EQ(tokens[id], fmt::format("<0x{:02X}>", bytes - 1)) << id;
    }
  }
  EXPECT_EQ(bytes, 256);  // byte fallback: all 256 byte pieces
  EXPECT_EQ(kinds[sp.unk_id()], 2);
  EXPECT_EQ(kinds[sp.bos_id()], 3);
  EXPECT_EQ(kinds[sp.eos_id()], 3);
  EXPECT_EQ(u32(g, "tokenizer.ggml.bos_token_id"), static_cast<uint64_t>(sp.bos_id()));
  EXPECT_EQ(u32(g, "tokenizer.ggml.eos_token_id"), static_cast<uint64_t>(sp.eos_id()));
  EXPECT_EQ(u32(g, "tokenizer.ggml.unknown_token_id"), static_cast<uint64_t>(sp.unk_id()));
}

TEST_F(GgufExport, Q8BlocksAsGgmlDefinesThem) {
  // One block by hand: amax 127 → d = 1, q = x rounded half away from zero (roundf, not to even).
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = -127.0f;
  x[2] = 0.5f;
  x[3] = -1.5f;
  x[4] = 2.5f;
  x[5] = 50.4f;
  const std::string block = io::quantize_q8_0(x.data(), 32);
  ASSERT_EQ(block.size(), 34u);
  EXPECT_EQ(half_value(block.data()), 1.0f);
  const std::vector<int> expected = {127, -127, 1, -2, 3, 50, 0};
  for (size_t j = 0; j < expected.size(); ++j) EXPECT_EQ(static_cast<int8_t>(block[2 + j]), expected[j]) << j;
  // A block of small values: the scale is amax / 127 rounded to f16.
  std::vector<float> small(32, 0.001f);
  small[7] = -0.0254f;
  const std::string scaled = io::quantize_q8_0(small.data(), 32);
  EXPECT_EQ(half_value(scaled.data()), io::half_to_float(io::float_to_half(0.0254f / 127.0f)));
  EXPECT_EQ(static_cast<int8_t>(scaled[2 + 7]), -127);
  EXPECT_EQ(static_cast<int8_t>(scaled[2]), 5);  // 0.001 / 0.0002
  // An all-zero block: scale 0, every q 0 (no division by zero).
  const std::string zeros = io::quantize_q8_0(std::vector<float>(32, 0.0f).data(), 32);
  EXPECT_EQ(zeros, std::string(34, '\0'));
  EXPECT_EQ(io::ggml_bytes(io::GgmlType::q8_0, 64), 68u);
  EXPECT_THROW(io::quantize_q8_0(x.data(), 31), Error);
  io::GgufWriter writer;
  EXPECT_THROW(writer.add_tensor("odd", Tensor::zeros({2, 48}), io::GgmlType::q8_0), Error);
}

TEST_F(GgufExport, RefusesUnknownTypesAndDeepSeekParts) {
  EXPECT_THROW(gguf_file_type("q4_0"), Error);
  GptConfig config = tiny(DecoderArch::llama, true, false, 257);
  config.attention = models::AttentionKind::mla;
  const fs::path run = make_run("mla", config, data::Tokenizer::bytes());
  try {
    export_gguf(run, dir_ / "mla.gguf", "f32");
    FAIL() << "exported an MLA model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("DeepSeek-V3 parts"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "mla.gguf"));
}

TEST_F(GgufExport, HalfConversionRoundsToNearestEven) {
  EXPECT_EQ(io::float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(io::float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(io::float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(io::float_to_half(65520.0f), 0x7c00);  // rounds up to inf
  EXPECT_EQ(io::float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // halfway, to even
  EXPECT_EQ(io::float_to_half(1.0f + 3.0f / 2048), 0x3c02);  // halfway, to even (up)
  EXPECT_EQ(io::float_to_half(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(io::float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // halfway to 0: even
  EXPECT_EQ(io::float_to_half(std::ldexp(3.0f, -26)), 0x0001);
  for (uint32_t h = 0; h < 0x7c00; ++h) ASSERT_EQ(io::float_to_half(io::half_to_float(static_cast<uint16_t>(h))), h);
}

}  // namespace
}  // namespace kiln::train
