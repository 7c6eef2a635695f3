#include "kiln/train/run_config.hpp"

#include <limits>

namespace kiln::train {

RunConfig read_run_config(ConfigFile& f) {
  constexpr int64_t kBig = std::numeric_limits<int32_t>::max();
  RunConfig r;
  models::GptConfig& m = r.model;
  const std::string arch = f.get_string("model.arch", "llama", {"llama", "gpt2"});
  m.arch = arch == "llama" ? models::DecoderArch::llama : models::DecoderArch::gpt2;
  m.n_layer = f.get_int("model.n_layer", m.n_layer, 1, 1024);
  m.d_model = f.get_int("model.d_model", m.d_model, 1, 1 << 16);
  m.n_head = f.get_int("model.n_head", m.n_head, 1, 1024);
  m.n_kv_head = f.get_int("model.n_kv_head", m.n_head, 1, 1024);
  m.ffn_hidden = f.get_int("model.ffn_hidden", 0, 0, 1 << 20);
  m.ffn_multiple_of = f.get_int("model.ffn_multiple_of", m.ffn_multiple_of, 1, 1 << 16);
  m.max_seq_len = f.get_int("model.max_seq_len", 0, 0, 1 << 20);
  m.norm_eps = f.get_double("model.norm_eps", m.arch == models::DecoderArch::llama ? 1e-6 : 1e-5, 1e-12, 1e-1);
  m.rope_theta = f.get_double("model.rope_theta", m.rope_theta, 1, 1e9);
  m.rope_interleaved = f.get_bool("model.rope_interleaved", m.rope_interleaved);
  m.tie_embeddings = f.get_bool("model.tie_embeddings", m.arch == models::DecoderArch::gpt2);
  m.init_std = f.get_double("model.init_std", m.arch == models::DecoderArch::llama ? 0.006 : 0.02, 1e-6, 1.0);
  m.scaled_residual_init = f.get_bool("model.scaled_residual_init", m.arch == models::DecoderArch::gpt2);
  // DeepSeek-V2/V3 switches (DeepSeek-V2, arXiv 2405.04434; DeepSeek-V3, arXiv 2412.19437); names follow the
  // Hugging Face DeepSeek-V3 config.
  const std::string attention = f.get_string("model.attention", "mha", {"mha", "mla"});
  m.attention = attention == "mla" ? models::AttentionKind::mla : models::AttentionKind::mha;
  m.mla.q_lora_rank = f.get_int("model.q_lora_rank", m.mla.q_lora_rank, 0, 1 << 16);
  m.mla.kv_lora_rank = f.get_int("model.kv_lora_rank", m.mla.kv_lora_rank, 1, 1 << 16);
  m.mla.qk_nope_head_dim = f.get_int("model.qk_nope_head_dim", m.mla.qk_nope_head_dim, 1, 4096);
  m.mla.qk_rope_head_dim = f.get_int("model.qk_rope_head_dim", m.mla.qk_rope_head_dim, 2, 4096);
  m.mla.v_head_dim = f.get_int("model.v_head_dim", m.mla.v_head_dim, 1, 4096);
  models::MoeConfig& moe = m.moe;
  moe.n_routed_experts = f.get_int("model.n_routed_experts", 0, 0, 4096);
  moe.n_shared_experts = f.get_int("model.n_shared_experts", moe.n_shared_experts, 0, 64);
  moe.n_activated_experts = f.get_int("model.n_activated_experts", moe.n_activated_experts, 1, 4096);
  moe.moe_inter_dim = f.get_int("model.moe_inter_dim", 0, 0, 1 << 20);
  moe.n_expert_groups = f.get_int("model.n_expert_groups", 1, 1, 4096);
  moe.n_limited_groups = f.get_int("model.n_limited_groups", moe.n_expert_groups, 1, 4096);
  moe.first_k_dense = f.get_int("model.first_k_dense", moe.first_k_dense, 0, 1024);
  moe.route_scale = f.get_double("model.route_scale", moe.route_scale, 1e-6, 1e6);
  moe.bias_update_speed = f.get_double("model.bias_update_speed", moe.bias_update_speed, 0, 1);
  moe.seq_aux_alpha = f.get_double("model.seq_aux_alpha", moe.seq_aux_alpha, 0, 1);
  m.mtp_depth = f.get_int("model.mtp_depth", 0, 0, 8);

  TrainOptions& t = r.train;
  r.batch_size = f.get_int("train.batch_size", r.batch_size, 1, kBig);
  r.context = f.get_int("train.context", r.context, 2, 1 << 20);
  if (m.max_seq_len == 0) m.max_seq_len = r.context;
  const std::string layout = f.get_string("train.attention", "documents", {"documents", "stream"});
  r.layout = layout == "documents" ? AttentionLayout::documents : AttentionLayout::stream;
  t.steps = f.get_int("train.steps", t.steps, 1, kBig);
  t.grad_accum = f.get_int("train.grad_accum", t.grad_accum, 1, 1 << 16);
  t.lr = f.get_double("train.lr", t.lr, 0, 10);
  t.min_lr = f.get_double("train.min_lr", t.lr / 10, 0, 10);
  t.warmup = f.get_int("train.warmup", t.warmup, 0, kBig);
  t.schedule = f.get_string("train.schedule", t.schedule, {"cosine", "linear", "multistep", "constant"});
  t.weight_decay = f.get_double("train.weight_decay", t.weight_decay, 0, 10);
  t.beta1 = f.get_double("train.beta1", t.beta1, 0, 0.999999);
  t.beta2 = f.get_double("train.beta2", t.beta2, 0, 0.999999);
  t.grad_clip = f.get_double("train.grad_clip", t.grad_clip, 0, 1e6);
  t.eval_every = f.get_int("train.eval_every", t.eval_every, 1, kBig);
  t.eval_batches = f.get_int("train.eval_batches", t.eval_batches, 0, kBig);
  t.checkpoint_every = f.get_int("train.checkpoint_every", t.checkpoint_every, 1, kBig);
  t.log_every = f.get_int("train.log_every", t.log_every, 1, kBig);
  t.gradient_checkpointing = f.get_bool("train.gradient_checkpointing", false);
  t.precision = f.get_string("train.precision", "f32", {"f32", "bf16", "fp8"});
  t.stop_after = f.get_int("train.stop_after", 0, 0, kBig);
  t.mtp_lambda = f.get_double("train.mtp_lambda", t.mtp_lambda, 0, 100);
  t.mtp_lambda_late = f.get_double("train.mtp_lambda_late", t.mtp_lambda_late, 0, 100);
  t.mtp_lambda_switch = f.get_double("train.mtp_lambda_switch", t.mtp_lambda_switch, 0, 1);
  t.expert_parallel = f.get_bool("train.expert_parallel", false);
  r.seed = static_cast<uint64_t>(f.get_int("train.seed", 1234, 0, std::numeric_limits<int64_t>::max()));
  r.threads = f.get_int("train.threads", 0, 0, 1024);

  r.train_text = f.get_string("data.train", "data/kjv/train.txt");
  r.valid_text = f.get_string("data.valid", "data/kjv/valid.txt");
  r.tokenizer_kind = f.get_string("tokenizer.type", "bpe", {"bpe", "unigram", "bytes"});
  r.tokenizer.model_type = r.tokenizer_kind == "bytes" ? "bpe" : r.tokenizer_kind;
  r.tokenizer.vocab_size = f.get_int("tokenizer.vocab_size", 4096, 300, 1'000'000);
  r.run_dir = f.get_string("run.dir", "runs/default");
  r.tokenizer_dir = f.get_string("tokenizer.dir", (r.run_dir / "tokenizer").string());
  f.check_all_used();
  m.validate();
  KILN_CHECK(r.context <= m.max_seq_len, "train.context ({}) is longer than model.max_seq_len ({})", r.context,
             m.max_seq_len);
  return r;
}

}  // namespace kiln::train
