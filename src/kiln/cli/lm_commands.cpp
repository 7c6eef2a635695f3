// `kiln tokenizer train`, `kiln train`, `kiln eval`, `kiln generate`:
// decoder language models end to end.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/cli/commands.hpp"
#include "kiln/data/incremental_decoder.hpp"
#include "kiln/data/prepare.hpp"
#include "kiln/data/shard.hpp"
#include "kiln/data/subword.hpp"
#include "kiln/models/gpt/generate.hpp"
#include "kiln/train/bert_runs.hpp"
#include "kiln/train/checkpoint.hpp"
#include "kiln/train/lm_batches.hpp"
#include "kiln/train/lm_runs.hpp"
#include "kiln/train/plot.hpp"
#include "kiln/train/speech_runs.hpp"
#include "kiln/train/text_corpus.hpp"
#include "kiln/train/token_logprobs.hpp"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

struct TokenizerTrainArgs {
  std::string type = "bpe";
  int64_t vocab_size = 4096;
  std::string input, output;
};


struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  bool resume = false;
};

void train_on(const TrainArgs& args, train::Communicator& comm) {
  io::ConfigFile file = args.config.empty() ? io::ConfigFile() : io::ConfigFile::load(args.config);
  for (const std::string& o : args.overrides) file.apply_override(o);
  const std::string arch =
      file.has("model.arch") ? file.get_string("model.arch", "llama", {"llama", "gpt2", "bert", "cpc", "oadtr", "gru"})
                             : "llama";
  if (arch == "bert" || arch == "cpc" || arch == "oadtr" || arch == "gru") {
    KILN_CHECK(comm.size() == 1, "{} training runs in one process (MPI is for the decoder models)", arch);
    if (arch == "bert") return train::run_bert_pretraining(file, args.resume);
    if (arch == "cpc") return train::run_cpc_pretraining(file, args.resume);
    return train::run_detector_training(file, args.resume);
  }
  train::run_lm_training(file, args.resume, comm);
}

// Under mpirun a failing rank says why, then ends every rank: the others may
// be waiting in a collective and would otherwise hang.
void run_train(const TrainArgs& args) {
  const std::unique_ptr<train::Communicator> comm = train::make_communicator();
  try {
    train_on(args, *comm);
  } catch (const std::exception& error) {
    if (comm->size() == 1) throw;
    fmt::print(stderr, "kiln: error on rank {} of {}: {}\n", comm->rank(), comm->size(), error.what());
    std::fflush(stderr);
    comm->abort(1);
  }
}

struct LoadedModel {
  train::Checkpoint checkpoint;
  data::Tokenizer tokenizer;
  std::unique_ptr<models::GptModel> model;
};

LoadedModel load_model(const fs::path& path) {
  LoadedModel loaded;
  loaded.checkpoint = train::load_checkpoint(path, false);
  const fs::path tokenizer_dir = loaded.checkpoint.folder / "tokenizer";
  loaded.tokenizer = data::Tokenizer::load(tokenizer_dir);
  KILN_CHECK(loaded.tokenizer.vocab_size() == loaded.checkpoint.config.vocab_size,
             "{}: the tokenizer has {} tokens but the model expects {}", tokenizer_dir.string(),
             loaded.tokenizer.vocab_size(), loaded.checkpoint.config.vocab_size);
  loaded.model = std::make_unique<models::GptModel>(
      models::GptModel::with_weights(loaded.checkpoint.config, loaded.checkpoint.weights));
  return loaded;
}

struct EvalArgs {
  std::string checkpoint, text, tokens, logprobs;
  int64_t context = 0, batch_size = 8;
};

// --tokens: one given id sequence, scored in one pass; --logprobs writes every position's distribution.
void run_eval_tokens(const EvalArgs& args, const LoadedModel& loaded) {
  const std::vector<int32_t> ids = train::read_token_ids(args.tokens, loaded.checkpoint.config.vocab_size);
  const train::TokenLogprobs scored = train::score_token_ids(*loaded.model, ids);
  if (!args.logprobs.empty()) train::write_logprobs_json(args.logprobs, scored);
  fmt::print("{}: {} tokens, {} predictions scored, loss {:.6f} nats/token, perplexity {:.6f}{}\n", args.tokens,
             ids.size(), ids.size() - 1, scored.mean_nll, scored.perplexity,
             args.logprobs.empty() ? "" : "; log-probabilities in " + args.logprobs);
}

void run_eval(const EvalArgs& args) {
  KILN_CHECK(args.text.empty() != args.tokens.empty(), "eval: give either --text or --tokens");
  KILN_CHECK(args.logprobs.empty() || !args.tokens.empty(), "eval: --logprobs needs --tokens");
  const LoadedModel loaded = load_model(args.checkpoint);
  if (!args.tokens.empty()) return run_eval_tokens(args, loaded);
  const int64_t context = args.context > 0 ? args.context : loaded.checkpoint.config.max_seq_len;
  KILN_CHECK(context <= loaded.checkpoint.config.max_seq_len || loaded.checkpoint.config.arch == models::DecoderArch::llama,
             "--context {} is longer than the model's {}", context, loaded.checkpoint.config.max_seq_len);
  std::vector<int32_t> tokens = train::encode_documents(args.text, loaded.tokenizer, "eval");
  const train::LmBatches batches(tokens, tokens, loaded.tokenizer.eos_id(), args.batch_size, context,
                                 train::AttentionLayout::documents, 0);
  NoGradGuard no_grad;
  double total = 0;
  int64_t count = 0;
  for (const auto& batch : batches.validation_batches(0)) {
    const auto [sum, n] = loaded.model->loss_sum(batch);
    total += sum;
    count += n;
  }
  fmt::print("{}: {} tokens scored, loss {:.4f} nats/token, perplexity {:.3f}\n", args.text, count,
             total / static_cast<double>(count), std::exp(total / static_cast<double>(count)));
}

struct GenerateArgs {
  std::string checkpoint, prompt, prompt_ids;
  int64_t max_tokens = 100;
  models::SamplingOptions sampling;
  int64_t samples = 1;
  bool stats = false;
  bool speculative = false;
  bool ignore_eos = false;
  std::string cache = "absorbed";
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Greedy decoding twice, plainly and with the MTP module drafting, on the
// same prompt: prints the text once, then acceptance, speed-up and whether
// both outputs agree token for token.
void run_speculative(const GenerateArgs& args, const LoadedModel& loaded, const std::vector<int32_t>& prompt) {
  models::SamplingOptions sampling = args.sampling;
  sampling.temperature = 0;
  sampling.stop_id = args.ignore_eos ? -1 : loaded.tokenizer.eos_id();
  sampling.mla_absorbed = args.cache == "absorbed";
  // Warm both paths first (kernel generation, first-touch of the caches) so the timings compare decoding only.
  models::generate(*loaded.model, prompt, std::min<int64_t>(args.max_tokens, 8), sampling);
  models::SpeculativeStats warm;
  models::generate_speculative(*loaded.model, prompt, std::min<int64_t>(args.max_tokens, 8), sampling, warm);
  auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> plain = models::generate(*loaded.model, prompt, args.max_tokens, sampling);
  const double plain_s = seconds_since(start);
  models::SpeculativeStats stats;
  start = std::chrono::steady_clock::now();
  const std::vector<int32_t> drafted =
      models::generate_speculative(*loaded.model, prompt, args.max_tokens, sampling, stats);
  const double speculative_s = seconds_since(start);
  std::vector<int32_t> text = prompt;
  for (int32_t id : drafted)
    if (id != loaded.tokenizer.eos_id()) text.push_back(id);
  fmt::print("{}\n", loaded.tokenizer.decode(text));
  fmt::print(stderr,
             "speculative: {} tokens, {} main forwards, draft acceptance {:.1f}% ({}/{}), {:.1f} tokens/s vs {:.1f} "
             "greedy, speed-up {:.2f}x; output {} greedy decoding\n"
             "speculative time: {:.2f} ms per two-token verification, {:.2f} ms per draft, against {:.2f} ms per "
             "greedy token\n",
             drafted.size(), stats.main_forwards, 100 * stats.acceptance(), stats.accepted, stats.drafted,
             static_cast<double>(drafted.size()) / speculative_s, static_cast<double>(plain.size()) / plain_s,
             plain_s / speculative_s, plain == drafted ? "identical to" : "DIFFERS from",
             1e3 * stats.verify_seconds / static_cast<double>(std::max<int64_t>(stats.main_forwards, 1)),
             1e3 * stats.draft_seconds / static_cast<double>(std::max<int64_t>(stats.main_forwards, 1)),
             1e3 * plain_s / static_cast<double>(std::max<size_t>(plain.size(), 1)));
  KILN_CHECK(plain == drafted, "speculative decoding diverged from greedy decoding");
}

void run_generate(const GenerateArgs& args) {
  KILN_CHECK(args.prompt.empty() != args.prompt_ids.empty(), "generate: give either --prompt or --prompt-ids");
  const LoadedModel loaded = load_model(args.checkpoint);
  std::vector<int32_t> prompt = args.prompt_ids.empty()
                                    ? loaded.tokenizer.encode(args.prompt)
                                    : train::read_token_ids(args.prompt_ids, loaded.checkpoint.config.vocab_size);
  KILN_CHECK(!prompt.empty(), "--prompt is empty");
  const models::GptConfig& config = loaded.checkpoint.config;
  KILN_CHECK(config.arch == models::DecoderArch::llama ||
                 static_cast<int64_t>(prompt.size()) + args.max_tokens <= config.max_seq_len,
             "the prompt ({} tokens) plus --max-tokens {} exceed the model's context of {} (learned positions)",
             prompt.size(), args.max_tokens, config.max_seq_len);
  KILN_CHECK(args.max_tokens >= 1, "--max-tokens must be at least 1");
  if (args.speculative) return run_speculative(args, loaded, prompt);
  for (int64_t s = 0; s < args.samples; ++s) {
    models::SamplingOptions sampling = args.sampling;
    sampling.mla_absorbed = args.cache == "absorbed";
    sampling.seed += static_cast<uint64_t>(s);
    sampling.stop_id = args.ignore_eos ? -1 : loaded.tokenizer.eos_id();
    data::IncrementalDecoder text(loaded.tokenizer, prompt);
    fmt::print("{}", text.prompt_text());
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    // The first token comes from the prompt's pass, each later one from one decoding step.
    double first_token_s = 0, streaming_s = 0;
    const auto produced = models::generate(*loaded.model, prompt, args.max_tokens, sampling, [&](int32_t id) {
      if (first_token_s == 0) first_token_s = seconds_since(start);
      const auto streamed = std::chrono::steady_clock::now();
      if (id != loaded.tokenizer.eos_id()) {
        const std::string piece = text.push(id);
        if (!piece.empty()) {
          fmt::print("{}", piece);
          std::fflush(stdout);
        }
      }
      streaming_s += seconds_since(streamed);
    });
    const double seconds = seconds_since(start);
    fmt::print("\n");
    std::fflush(stdout);  // the text's newline before the --stats line on stderr
    if (args.stats) {
      const bool mla = config.attention == models::AttentionKind::mla;
      const int64_t values = config.kv_cache_values_per_token(sampling.mla_absorbed);
      const auto steps = static_cast<double>(produced.size()) - 1;
      const double decoding_s = seconds - first_token_s;
      fmt::print(stderr,
                 "{} tokens in {:.3f} s ({:.1f} tokens/s); KV cache ({}) {} values per token per layer, {} bytes per "
                 "token in f32 over {} layers\n",
                 produced.size(), seconds, static_cast<double>(produced.size()) / seconds,
                 mla ? (sampling.mla_absorbed ? "MLA latent + rotary key" : "MLA naive per-head K/V")
                     : (config.n_kv_head < config.n_head ? "GQA" : "MHA"),
                 values, values * 4 * config.n_layer, config.n_layer);
      fmt::print(stderr,
                 "prompt: {} tokens in {:.4f} s ({:.1f} tokens/s, first token included); then {} decoding steps in "
                 "{:.4f} s ({:.1f} tokens/s; {:.1f} without the {:.4f} s of streaming the text)\n",
                 prompt.size(), first_token_s, static_cast<double>(prompt.size()) / first_token_s, steps, decoding_s,
                 steps / decoding_s, steps / (decoding_s - streaming_s), streaming_s);
    }
  }
}

}  // namespace

void add_lm_commands(CLI::App& app) {
  auto tok = std::make_shared<TokenizerTrainArgs>();
  CLI::App* tokenizer = app.add_subcommand("tokenizer", "Tokenizers (SentencePiece BPE/unigram, bytes)");
  tokenizer->require_subcommand(1);
  CLI::App* tok_train = tokenizer->add_subcommand("train", "Train a tokenizer on a text file and save its folder");
  tok_train->add_option("--type", tok->type, "bpe, unigram (SentencePiece, byte fallback) or bytes")
      ->check(CLI::IsMember({"bpe", "unigram", "bytes"}))
      ->capture_default_str();
  tok_train->add_option("--vocab-size", tok->vocab_size, "Number of pieces (SentencePiece)")->capture_default_str();
  tok_train->add_option("--input", tok->input, "Training text, one sentence or document per line");
  tok_train->add_option("-o,--output", tok->output, "Folder to write the tokenizer to")->required();
  tok_train->callback([tok] {
    KILN_CHECK(tok->type == "bytes" || !tok->input.empty(), "tokenizer train: --input is required for {}", tok->type);
    const data::Tokenizer t = train::train_tokenizer(tok->type, tok->vocab_size, tok->input, tok->output);
    fmt::print("{}: {}\n", tok->output, t.description());
  });

  struct EncodeArgs {
    std::string tokenizer, text;
    bool ids = false;
  };
  auto encode = std::make_shared<EncodeArgs>();
  CLI::App* tok_encode = tokenizer->add_subcommand(
      "encode", "Write each line of a text as space-separated pieces (e.g. to train an n-gram model on the same tokens)");
  tok_encode->add_option("tokenizer", encode->tokenizer, "Tokenizer folder (or a checkpoint's tokenizer/)")->required();
  tok_encode->add_option("text", encode->text, "Text file (default: stdin)");
  tok_encode->add_flag("--ids", encode->ids,
                       "Write token ids instead of pieces, each line's ids followed by the end-of-document id, as "
                       "training sees them (input for kiln eval --tokens)");
  tok_encode->callback([encode] {
    const data::Tokenizer t = data::Tokenizer::load(encode->tokenizer);
    std::ifstream file;
    if (!encode->text.empty()) {
      file.open(encode->text);
      KILN_CHECK(file.good(), "{}: cannot open", encode->text);
    }
    std::istream& in = file.is_open() ? file : std::cin;
    std::string line, out;
    while (std::getline(in, line)) {
      // Training skips blank lines (they are no document); --ids does too, so the ids match.
      if (encode->ids && line.find_first_not_of(" \t\r") == std::string::npos) continue;
      out.clear();
      std::vector<int32_t> ids = t.encode(line);
      if (encode->ids) ids.push_back(t.eos_id());
      for (int32_t id : ids) {
        if (!out.empty()) out += ' ';
        out += encode->ids ? std::to_string(id) : t.piece(id);
      }
      out += '\n';
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
  });

  struct PrepareArgs {
    std::string tokenizer, input, output;
    data::PrepareOptions options;
  };
  auto prep = std::make_shared<PrepareArgs>();
  CLI::App* data_cmd = app.add_subcommand("data", "Training data: tokenised shards (prepare), synthesised speech and keyword streams (speech, streams), previews of the vision-language tasks (render-ocr, fashion-canvas)");
  data_cmd->require_subcommand(1);
  CLI::App* prepare = data_cmd->add_subcommand(
      "prepare", "Tokenise text (one document per line) or JSONL (a \"text\" field) into train.bin and valid.bin shards");
  prepare->add_option("--tokenizer", prep->tokenizer, "Tokenizer folder")->required();
  prepare->add_option("--input", prep->input, "Text or .jsonl file")->required();
  prepare->add_option("-o,--output", prep->output, "Folder for train.bin and valid.bin")->required();
  prepare->add_option("--valid-fraction", prep->options.valid_fraction, "Share of documents for validation")
      ->capture_default_str();
  prepare->add_option("--seed", prep->options.seed, "Seed of the split")->capture_default_str();
  prepare->callback([prep] {
    const data::Tokenizer t = data::Tokenizer::load(prep->tokenizer);
    const data::PrepareReport r = data::prepare_shards(prep->input, t, prep->output, prep->options);
    fmt::print("{} documents: {} train tokens, {} validation tokens ({} documents) in {}\n", r.documents,
               r.train_tokens, r.valid_tokens, r.valid_documents, prep->output);
  });

  auto train = std::make_shared<TrainArgs>();
  CLI::App* train_cmd = app.add_subcommand("train", "Train a model from a TOML config: decoder LMs (LLaMA/DeepSeek-V3 or GPT-2 block; under mpirun data/expert-parallel), BERT (model.arch = \"bert\"), CPC (\"cpc\") or an online detector (\"oadtr\", \"gru\")");
  train_cmd->add_option("-c,--config", train->config, "TOML run configuration (configs/*.toml)");
  train_cmd->add_option("--set", train->overrides, "Override a field, e.g. --set model.n_layer=4 (repeatable)");
  train_cmd->add_flag("--resume", train->resume, "Continue from the run folder's latest checkpoint (decoder LMs) or training state (BERT, CPC, OadTR, GRU)");
  train_cmd->callback([train] { run_train(*train); });

  auto eval = std::make_shared<EvalArgs>();
  CLI::App* eval_cmd = app.add_subcommand(
      "eval", "Perplexity of a checkpoint on a text file (one document per line) or on a token-id sequence");
  eval_cmd->add_option("checkpoint", eval->checkpoint, "Checkpoint folder or run folder")->required();
  eval_cmd->add_option("--text", eval->text, "Text to score");
  eval_cmd->add_option("--tokens", eval->tokens,
                       "Token ids to score as one sequence: whitespace-separated, or a JSON array");
  eval_cmd->add_option("--logprobs", eval->logprobs,
                       "With --tokens: write {tokens, logprobs[T][V], ppl} as JSON (docs/interop.md)");
  eval_cmd->add_option("--context", eval->context, "Window length (default: the model's)");
  eval_cmd->callback([eval] { run_eval(*eval); });

  auto plot = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* plot_cmd = app.add_subcommand("plot", "Draw a run's loss curves (metrics.jsonl) to a PNG, and the expert load of MoE runs");
  plot_cmd->add_option("run", plot->first, "Run folder")->required();
  plot_cmd->add_option("-o,--output", plot->second, "PNG to write (default: <run>/loss.png)");
  plot_cmd->callback([plot] {
    const fs::path out = plot->second.empty() ? fs::path(plot->first) / "loss.png" : fs::path(plot->second);
    for (const fs::path& written : train::plot_run(plot->first, out)) fmt::print("{}\n", written.string());
  });

  auto gen = std::make_shared<GenerateArgs>();
  CLI::App* gen_cmd = app.add_subcommand("generate", "Sample text from a checkpoint, streamed as it is produced");
  gen_cmd->add_option("checkpoint", gen->checkpoint, "Checkpoint folder or run folder")->required();
  gen_cmd->add_option("-p,--prompt", gen->prompt, "Text to continue");
  gen_cmd->add_option("--prompt-ids", gen->prompt_ids,
                      "Token ids to continue instead of text: a file as kiln eval --tokens reads it");
  gen_cmd->add_flag("--ignore-eos", gen->ignore_eos,
                    "Keep generating past the end-of-document token (for measuring speed over a fixed length)");
  gen_cmd->add_option("-n,--max-tokens", gen->max_tokens, "New tokens at most")->capture_default_str();
  gen_cmd->add_option("-t,--temperature", gen->sampling.temperature, "0 = greedy")->capture_default_str();
  gen_cmd->add_option("--top-k", gen->sampling.top_k, "Keep the k most likely tokens (0 = all)")->capture_default_str();
  gen_cmd->add_option("--top-p", gen->sampling.top_p, "Nucleus sampling mass")->capture_default_str();
  gen_cmd->add_option("--seed", gen->sampling.seed, "Random seed")->capture_default_str();
  gen_cmd->add_option("--samples", gen->samples, "How many continuations")->capture_default_str();
  gen_cmd->add_flag("--stats", gen->stats, "Print speed and KV-cache size");
  gen_cmd->add_flag("--speculative", gen->speculative,
                    "Greedy decoding with the MTP module drafting one token ahead; reports acceptance and speed-up");
  gen_cmd->add_option("--cache", gen->cache, "MLA KV cache: absorbed (latent + rotary key) or naive (per-head K/V)")
      ->check(CLI::IsMember({"absorbed", "naive"}))
      ->capture_default_str();
  gen_cmd->callback([gen] { run_generate(*gen); });
}

}  // namespace kiln::cli
