#include "kiln/train/run_config.hpp"

#include <limits>

#include "kiln/models/gpt/config_io.hpp"

namespace kiln::train {

RunConfig read_run_config(io::ConfigFile& f) {
  constexpr int64_t kBig = std::numeric_limits<int32_t>::max();
  RunConfig r;
  r.model = models::read_gpt_config(f);
  models::GptConfig& m = r.model;

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
