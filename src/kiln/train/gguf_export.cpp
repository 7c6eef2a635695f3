#include "kiln/train/gguf_export.hpp"

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/train/checkpoint.hpp"
#include "kiln/train/interop.hpp"

namespace kiln::train {

namespace fs = std::filesystem;
using models::DecoderArch;
using models::GptConfig;

namespace {

bool printable_latin1(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
}

std::string utf8(uint32_t code_point) {
  std::string out;
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else {  // the alphabet stays below U+0800: two bytes
    out += static_cast<char>(0xc0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3f));
  }
  return out;
}

// llama.cpp's token types (llama_token_type): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
int32_t llama_token_type(data::Tokenizer::PieceKind kind) {
  switch (kind) {
    case data::Tokenizer::PieceKind::normal: return 1;
    case data::Tokenizer::PieceKind::unknown: return 2;
    case data::Tokenizer::PieceKind::control: return 3;
    case data::Tokenizer::PieceKind::unused: return 5;
    case data::Tokenizer::PieceKind::byte: return 6;
  }
  return 1;
}

// SentencePiece → llama.cpp's `llama` (SPM) vocabulary; the bytes tokenizer →
// `gpt2` byte-level BPE without merges, so every byte is its own token with
// kiln's id and text round-trips byte for byte (as SPM pieces, llama.cpp would
// spell spaces as U+2581 and tokenize differently).
std::string add_tokenizer(io::GgufWriter& gguf, const data::Tokenizer& tokenizer) {
  const bool bytes = tokenizer.kind() == "bytes";
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    const data::Tokenizer::PieceKind kind = tokenizer.piece_kind(id);
    const bool byte_token = bytes && kind == data::Tokenizer::PieceKind::byte;
    tokens.push_back(byte_token ? byte_level_character(static_cast<uint8_t>(id)) : tokenizer.piece(id));
    scores.push_back(tokenizer.score(id));
    types.push_back(byte_token ? 1 : llama_token_type(kind));
  }
  const std::string model = bytes ? "gpt2" : "llama";
  gguf.add_string("tokenizer.ggml.model", model);
  if (bytes) gguf.add_string("tokenizer.ggml.pre", "gpt-2");
  gguf.add_strings("tokenizer.ggml.tokens", tokens);
  if (!bytes) gguf.add_f32s("tokenizer.ggml.scores", scores);
  gguf.add_i32s("tokenizer.ggml.token_type", types);
  if (bytes) gguf.add_strings("tokenizer.ggml.merges", {});
  if (tokenizer.bos_id() >= 0) gguf.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(tokenizer.bos_id()));
  gguf.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(tokenizer.eos_id()));
  if (tokenizer.unk_id() >= 0)
    gguf.add_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(tokenizer.unk_id()));
  gguf.add_bool("tokenizer.ggml.add_bos_token", false);  // kiln trains documents without <s>
  gguf.add_bool("tokenizer.ggml.add_eos_token", false);
  return model;
}

// Tensors of one checkpoint, written with the types --type asks for.
class TensorWriter {
 public:
  TensorWriter(io::GgufWriter& gguf, const Checkpoint& checkpoint, GgufFileType type)
      : gguf_(gguf), checkpoint_(checkpoint), type_(type) {}

  Tensor weight(const std::string& name) const {
    const auto it = checkpoint_.weights.find(name);
    KILN_CHECK(it != checkpoint_.weights.end(), "{}: the checkpoint lacks tensor '{}'", checkpoint_.folder.string(),
               name);
    return it->second.to(DType::f32).contiguous();
  }
  // A matrix in the file's type, or f32 for 1-D tensors.
  void add(const std::string& gguf_name, const Tensor& values) { add_as(gguf_name, values, matrix_type(values)); }
  void add(const std::string& gguf_name, const std::string& kiln_name) { add(gguf_name, weight(kiln_name)); }
  void add_f32(const std::string& gguf_name, const std::string& kiln_name) {
    add_as(gguf_name, weight(kiln_name), io::GgmlType::f32);
  }
  int64_t count() const { return count_; }
  int64_t f16_fallbacks() const { return f16_fallbacks_; }

 private:
  io::GgmlType matrix_type(const Tensor& values) {
    if (values.dim() < 2) return io::GgmlType::f32;
    if (type_.matrices == io::GgmlType::q8_0 && values.size(values.dim() - 1) % io::kQ8BlockValues != 0) {
      ++f16_fallbacks_;
      return io::GgmlType::f16;
    }
    return type_.matrices;
  }
  void add_as(const std::string& gguf_name, const Tensor& values, io::GgmlType type) {
    gguf_.add_tensor(gguf_name, values, type);
    ++count_;
  }

  io::GgufWriter& gguf_;
  const Checkpoint& checkpoint_;
  GgufFileType type_;
  int64_t count_ = 0, f16_fallbacks_ = 0;
};

void add_llama(io::GgufWriter& gguf, TensorWriter& tensors, const GptConfig& c) {
  gguf.add_u32("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));
  gguf.add_u32("llama.context_length", static_cast<uint32_t>(c.max_seq_len));
  gguf.add_u32("llama.embedding_length", static_cast<uint32_t>(c.d_model));
  gguf.add_u32("llama.block_count", static_cast<uint32_t>(c.n_layer));
  gguf.add_u32("llama.feed_forward_length", static_cast<uint32_t>(c.ffn_width()));
  gguf.add_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_head));
  gguf.add_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_head));
  gguf.add_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim()));
  gguf.add_f32("llama.rope.freq_base", static_cast<float>(c.rope_theta));
  gguf.add_f32("llama.attention.layer_norm_rms_epsilon", static_cast<float>(c.norm_eps));

  // llama.cpp's LLM_ARCH_LLAMA rotates adjacent pairs (2i, 2i+1): kiln's interleaved layout as it is.
  auto rotary = [&](const std::string& name, int64_t heads) {
    const Tensor w = tensors.weight(name);
    return c.rope_interleaved ? w : half_split_to_interleaved(w, heads);
  };
  tensors.add("token_embd.weight", "model.embed_tokens.weight");
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l), b = fmt::format("blk.{}.", l);
    tensors.add(b + "attn_norm.weight", p + "input_layernorm.weight");
    tensors.add(b + "attn_q.weight", rotary(p + "self_attn.q_proj.weight", c.n_head));
    tensors.add(b + "attn_k.weight", rotary(p + "self_attn.k_proj.weight", c.n_kv_head));
    tensors.add(b + "attn_v.weight", p + "self_attn.v_proj.weight");
    tensors.add(b + "attn_output.weight", p + "self_attn.o_proj.weight");
    tensors.add(b + "ffn_norm.weight", p + "post_attention_layernorm.weight");
    tensors.add(b + "ffn_gate.weight", p + "mlp.gate_proj.weight");
    tensors.add(b + "ffn_up.weight", p + "mlp.up_proj.weight");
    tensors.add(b + "ffn_down.weight", p + "mlp.down_proj.weight");
  }
  tensors.add("output_norm.weight", "model.norm.weight");
  // Tied embeddings: llama.cpp falls back to token_embd.weight when output.weight is absent.
  if (!c.tie_embeddings) tensors.add("output.weight", "lm_head.weight");
}

// llama.cpp's LLM_ARCH_GPT2 (src/models/gpt2.cpp): kiln keeps every GPT-2
// matrix as [out, in], which is ggml's orientation already (transformers'
// Conv1D [in, out] is what llama.cpp's converter has to transpose).
void add_gpt2(io::GgufWriter& gguf, TensorWriter& tensors, const GptConfig& c) {
  gguf.add_u32("gpt2.vocab_size", static_cast<uint32_t>(c.vocab_size));
  gguf.add_u32("gpt2.context_length", static_cast<uint32_t>(c.max_seq_len));
  gguf.add_u32("gpt2.embedding_length", static_cast<uint32_t>(c.d_model));
  gguf.add_u32("gpt2.block_count", static_cast<uint32_t>(c.n_layer));
  gguf.add_u32("gpt2.feed_forward_length", static_cast<uint32_t>(c.ffn_width()));
  gguf.add_u32("gpt2.attention.head_count", static_cast<uint32_t>(c.n_head));
  gguf.add_f32("gpt2.attention.layer_norm_epsilon", static_cast<float>(c.norm_eps));

  tensors.add("token_embd.weight", "transformer.wte.weight");
  tensors.add_f32("position_embd.weight", "transformer.wpe.weight");  // the converter keeps positions f32
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = fmt::format("transformer.h.{}.", l), b = fmt::format("blk.{}.", l);
    for (const char* part : {"weight", "bias"}) {
      tensors.add(b + "attn_norm." + part, p + "ln_1." + part);
      tensors.add(b + "attn_qkv." + part, p + "attn.c_attn." + part);
      tensors.add(b + "attn_output." + part, p + "attn.c_proj." + part);
      tensors.add(b + "ffn_norm." + part, p + "ln_2." + part);
      tensors.add(b + "ffn_up." + part, p + "mlp.c_fc." + part);
      tensors.add(b + "ffn_down." + part, p + "mlp.c_proj." + part);
    }
  }
  tensors.add("output_norm.weight", "transformer.ln_f.weight");
  tensors.add("output_norm.bias", "transformer.ln_f.bias");
  if (!c.tie_embeddings) tensors.add("output.weight", "lm_head.weight");
}

}  // namespace

std::string byte_level_character(uint8_t byte) {
  if (printable_latin1(byte)) return utf8(byte);
  uint32_t before = 0;  // the bytes below this one that are not printable take 256, 257, …
  for (int b = 0; b < byte; ++b) before += printable_latin1(b) ? 0 : 1;
  return utf8(256 + before);
}

GgufFileType gguf_file_type(const std::string& name) {
  // general.file_type values: llama.cpp's LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_BF16.
  if (name == "f32") return {io::GgmlType::f32, 0};
  if (name == "f16") return {io::GgmlType::f16, 1};
  if (name == "q8_0") return {io::GgmlType::q8_0, 7};
  if (name == "bf16") return {io::GgmlType::bf16, 32};
  fail("--type must be f32, f16, bf16 or q8_0, got '{}'", name);
}

GgufSummary export_gguf(const fs::path& run, const fs::path& output, const std::string& type) {
  const GgufFileType file_type = gguf_file_type(type);
  const Checkpoint checkpoint = load_checkpoint(run, false);
  const GptConfig& c = checkpoint.config;
  KILN_CHECK(c.attention == models::AttentionKind::mha && !c.moe.enabled() && c.mtp_depth == 0,
             "{}: this checkpoint uses DeepSeek-V3 parts (MLA, MoE or MTP); GGUF export writes the LLaMA and GPT-2 "
             "blocks only (export hf writes DeepseekV3ForCausalLM)",
             checkpoint.folder.string());
  const std::optional<data::Tokenizer> loaded = checkpoint_tokenizer(checkpoint.folder);
  const data::Tokenizer tokenizer = loaded ? *loaded : data::Tokenizer::bytes();
  KILN_CHECK(tokenizer.vocab_size() == c.vocab_size, "{}: the tokenizer has {} ids, the model {}",
             checkpoint.folder.string(), tokenizer.vocab_size(), c.vocab_size);

  io::GgufWriter gguf;
  const std::string architecture = c.arch == DecoderArch::llama ? "llama" : "gpt2";
  gguf.add_string("general.architecture", architecture);
  // The run's name (runs/<name>/checkpoints/step-N), else the checkpoint folder's.
  const std::string name = checkpoint.folder.parent_path().filename() == "checkpoints"
                               ? checkpoint.folder.parent_path().parent_path().filename().string()
                               : checkpoint.folder.filename().string();
  gguf.add_string("general.name", name.empty() ? std::string("kiln") : name);
  gguf.add_u32("general.file_type", file_type.llama_file_type);
  TensorWriter tensors(gguf, checkpoint, file_type);
  if (c.arch == DecoderArch::llama) add_llama(gguf, tensors, c);
  else add_gpt2(gguf, tensors, c);
  const std::string tokenizer_model = add_tokenizer(gguf, tokenizer);

  const fs::path parent = output.parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  gguf.write(output);
  GgufSummary summary;
  summary.checkpoint = checkpoint.folder;
  summary.output = output;
  summary.architecture = architecture;
  summary.tokenizer = tokenizer_model;
  summary.tensors = tensors.count();
  summary.f16_fallbacks = tensors.f16_fallbacks();
  return summary;
}

}  // namespace kiln::train
