// A decoder LM's training run, as `kiln train` starts it: the tokenizer
// (trained when the run has none), the data tokenised or read from prepared
// shards, the model, and the trainer.
#include "kiln/train/lm_runs.hpp"

#include <omp.h>

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/io/input_file.hpp"
#include "kiln/data/shard.hpp"
#include "kiln/train/checkpoint.hpp"
#include "kiln/train/lm_trainer.hpp"
#include "kiln/train/run_config.hpp"
#include "kiln/train/text_corpus.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

data::Tokenizer train_tokenizer(const std::string& type, int64_t vocab_size, const std::filesystem::path& input,
                                const std::filesystem::path& output) {
  if (type == "bytes") {
    data::Tokenizer t = data::Tokenizer::bytes();
    t.save(output);
    return t;
  }
  data::SentencePieceOptions options;
  options.model_type = type;
  options.vocab_size = vocab_size;
  options.threads = std::max(1, omp_get_max_threads());
  fmt::print(stderr, "training a SentencePiece {} tokenizer ({} pieces) on {}\n", type, vocab_size, input.string());
  return data::Tokenizer::train_sentencepiece(input, output, options);
}

namespace {

// The logits of one rank's batch and their gradient alone take
// 8·B·T·V bytes: a batch that could never fit this machine is refused before
// anything is allocated for it (in long double: the product overflows int64
// for the sizes the config's ranges allow).
void check_batch_fits(const RunConfig& run, int64_t vocab, int ranks) {
  const long double per_rank = static_cast<long double>(run.batch_size) / ranks;
  const long double bytes = 8.0L * per_rank * static_cast<long double>(run.context) * static_cast<long double>(vocab);
  const auto memory = static_cast<long double>(physical_memory_bytes());
  KILN_CHECK(bytes <= memory,
             "train.batch_size = {} with train.context = {} and {} tokens in the vocabulary needs {:.1f} GiB for the "
             "logits and their gradient alone; this machine has {:.1f} GiB",
             run.batch_size, run.context, vocab, static_cast<double>(bytes / (1L << 30)),
             static_cast<double>(memory / (1L << 30)));
}

}  // namespace

void run_lm_training(io::ConfigFile& file, bool resume, Communicator& comm) {
  const std::string effective = file.to_json();
  RunConfig run = read_run_config(file);
  if (run.threads > 0) omp_set_num_threads(static_cast<int>(run.threads));
  io::check_input_file(run.train_text, "data.train");
  io::check_input_file(run.valid_text, "data.valid");
  fs::create_directories(run.run_dir);

  const bool reuse_tokenizer = fs::exists(run.tokenizer_dir / "tokenizer_config.json");
  // One rank trains a missing tokenizer; the others load what it wrote.
  if (!reuse_tokenizer && comm.is_root())
    train_tokenizer(run.tokenizer_kind, run.tokenizer.vocab_size, run.train_text, run.tokenizer_dir);
  comm.barrier();
  const data::Tokenizer tokenizer = data::Tokenizer::load(run.tokenizer_dir);
  run.model.vocab_size = tokenizer.vocab_size();
  run.model.validate();
  check_batch_fits(run, tokenizer.vocab_size(), comm.size());
  // Prepared shards (kiln data prepare) are read as they are; text is tokenised now.
  auto tokens_of = [&](const fs::path& path, const char* label) {
    if (path.extension() == ".bin") {
      KILN_CHECK(reuse_tokenizer, "{}: a prepared shard needs the tokenizer it was made with (set tokenizer.dir)",
                 path.string());
      return data::TokenShard::open(path).all_tokens();
    }
    return encode_documents(path, tokenizer, label);
  };
  std::vector<int32_t> train_tokens = tokens_of(run.train_text, "train");
  std::vector<int32_t> valid_tokens = tokens_of(run.valid_text, "valid");
  for (const auto* tokens : {&train_tokens, &valid_tokens})
    for (int32_t id : *tokens)
      KILN_CHECK(id >= 0 && id < tokenizer.vocab_size(), "the data holds token id {}, outside the tokenizer's {} ids",
                 id, tokenizer.vocab_size());
  const LmBatches batches(std::move(train_tokens), std::move(valid_tokens), tokenizer.eos_id(), run.batch_size,
                                 run.context, run.layout, run.seed);
  models::GptModel model(run.model, run.seed);
  if (comm.size() > 1)
    fmt::print(stderr, "rank {} of {} ({}): {} of {} sequences of every batch\n", comm.rank(), comm.size(), comm.backend(),
               (comm.rank() + 1) * run.batch_size / comm.size() - comm.rank() * run.batch_size / comm.size(),
               run.batch_size);
  if (comm.is_root())
    fmt::print(stderr, "model: {} layers, d_model {}, {} heads ({} kv), {:.2f}M parameters; tokenizer {}\n",
             run.model.n_layer, run.model.d_model, run.model.n_head, run.model.n_kv_head,
             static_cast<double>(run.model.parameter_count()) / 1e6, tokenizer.description());
  if (comm.is_root())
    fmt::print(stderr, "data: {} train tokens, {} validation tokens; {} tokens per step; threads {}\n",
             batches.train_tokens(), batches.valid_tokens(), batches.tokens_per_batch() * run.train.grad_accum,
             omp_get_max_threads());
  LmTrainer trainer(model, batches, run.train, run.run_dir, run.tokenizer_dir,
                           nlohmann::json::parse(effective), &comm);
  if (resume) {
    const auto latest = latest_checkpoint(run.run_dir);
    KILN_CHECK(latest.has_value(), "--resume: {} has no checkpoint yet", run.run_dir.string());
    trainer.resume(*latest);
    if (comm.is_root()) fmt::print(stderr, "resumed from {}\n", latest->string());
  }
  const TrainResult result = trainer.run();
  if (!comm.is_root()) return;
  fmt::print("step {}: train loss {:.4f}, validation loss {:.4f} nats/token, perplexity {:.2f} ({} tokens), {:.0f} tokens/s\n",
             result.last_step, result.last_train_loss, result.last_eval.loss, result.last_eval.perplexity,
             result.last_eval.tokens, result.tokens_per_second);
  fmt::print("checkpoint: {}\n", (run.run_dir / "checkpoints" / "latest").string());
}

}  // namespace kiln::train
