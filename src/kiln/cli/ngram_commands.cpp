// `kiln ngram build | query | compile`: KenLM-compatible n-gram language models.
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/cli/commands.hpp"
#include "kiln/models/ngram/arpa.hpp"
#include "kiln/models/ngram/counting.hpp"
#include "kiln/models/ngram/estimate.hpp"
#include "kiln/models/ngram/estimate_out_of_core.hpp"
#include "kiln/models/ngram/index.hpp"
#include "kiln/models/ngram/query.hpp"

namespace kiln::cli {

namespace fs = std::filesystem;
using namespace kiln::ngram;

namespace {

uint64_t parse_size(const std::string& text) {
  KILN_CHECK(!text.empty(), "--memory: empty size");
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    fail("--memory: '{}' is not a size (e.g. 512M, 2G)", text);
  }
  const std::string unit = text.substr(used);
  double scale = 1;
  if (unit == "K" || unit == "k") scale = 1024.0;
  else if (unit == "M" || unit == "m") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") scale = 1024.0 * 1024 * 1024;
  else KILN_CHECK(unit.empty() || unit == "B", "--memory: unknown unit in '{}' (use K, M or G)", text);
  KILN_CHECK(value > 0, "--memory: size must be positive, got '{}'", text);
  return static_cast<uint64_t>(value * scale);
}

struct BuildArgs {
  int order = 0;
  std::vector<std::string> prune;  // strings: a corpus path may follow the numbers
  std::vector<std::string> fallback;
  bool fallback_given = false;
  std::string memory = "1G", temp_dir, limit_vocab, input, output;
  bool no_kenlm_quirk = false, progress = false;
};

// lmplz's --discount_fallback: no values means 0.5 1 1.5; otherwise up to
// three, the last repeated, each read as a float and within [0, j].
Discount parse_discount_fallback(const std::vector<std::string>& text) {
  KILN_CHECK(text.size() <= 3, "--discount-fallback takes at most 3 values (D1 D2 D3+), got {}", text.size());
  if (text.empty()) return Discount{0.5f, 1.0f, 1.5f};
  Discount d{};
  for (size_t j = 0; j < 3; ++j) {
    const std::string& v = text[std::min(j, text.size() - 1)];
    float value = 0;
    const auto [end, error] = std::from_chars(v.data(), v.data() + v.size(), value);
    KILN_CHECK(error == std::errc() && end == v.data() + v.size() && std::isfinite(value),
               "--discount-fallback: '{}' is not a number", v);
    KILN_CHECK(value >= 0.0f && value <= static_cast<float>(j + 1), "--discount-fallback: D{} = {} is outside [0, {}]",
               j + 1, v, j + 1);
    d[j] = value;
  }
  return d;
}

void run_build(const BuildArgs& a) {
  KILN_CHECK(a.order >= 1 && a.order <= 10, "--order must be between 1 and 10, got {}", a.order);
  KILN_CHECK(!a.output.empty(), "ngram build: -o model.arpa is required");
  EstimateOptions options;
  for (const std::string& t : a.prune) {
    try {
      size_t used = 0;
      const long long v = std::stoll(t, &used);
      KILN_CHECK(used == t.size() && v >= 0, "--prune: '{}' is not a non-negative count", t);
      options.prune.push_back(static_cast<uint64_t>(v));
    } catch (const std::logic_error&) {
      fail("--prune: '{}' is not a count", t);
    }
  }
  if (!options.prune.empty()) {
    // A unigram threshold is allowed, as lmplz allows it: words seen at most
    // that often are dropped, but never <unk>, <s> or </s>.
    KILN_CHECK(options.prune.size() <= static_cast<size_t>(a.order),
               "--prune: {} thresholds given for a model of order {}", options.prune.size(), a.order);
    for (size_t i = 1; i < options.prune.size(); ++i)
      KILN_CHECK(options.prune[i] >= options.prune[i - 1], "--prune: thresholds must not decrease ({} after {})",
                 options.prune[i], options.prune[i - 1]);
  }
  if (a.fallback_given) options.discount_fallback = parse_discount_fallback(a.fallback);
  options.kenlm_counts_of_counts = !a.no_kenlm_quirk;

  // The vocabulary list is opened before counting, which may take long: an
  // unreadable one would otherwise fail late, or silently prune every word.
  std::ifstream list;
  if (!a.limit_vocab.empty()) {
    KILN_CHECK(!fs::is_directory(a.limit_vocab), "{}: is a directory, not a vocabulary list", a.limit_vocab);
    list.open(a.limit_vocab);
    KILN_CHECK(list.good(), "{}: cannot open the vocabulary list", a.limit_vocab);
  }
  Vocabulary vocab;
  CountOptions count;
  count.order = a.order;
  count.memory_bytes = parse_size(a.memory);
  if (!a.temp_dir.empty()) count.temp_dir = a.temp_dir;
  count.keep_spilled_runs = true;  // counts over the budget are estimated from disk
  const bool from_stdin = a.input.empty() || a.input == "-";
  std::ifstream file;
  if (!from_stdin) {
    KILN_CHECK(!fs::is_directory(a.input), "{}: is a directory, not a corpus file", a.input);
    file.open(a.input);
    KILN_CHECK(file.good(), "{}: cannot open the corpus", a.input);
  }
  std::istream& in = from_stdin ? std::cin : file;
  const std::string source = from_stdin ? "<stdin>" : a.input;
  // A pipe or device (<(zcat …), /dev/stdin) has no size: the progress display then shows bytes read only.
  std::error_code no_size;
  const uintmax_t size = from_stdin ? 0 : fs::file_size(a.input, no_size);
  const int64_t total = no_size ? 0 : static_cast<int64_t>(size);
  ProgressBar bar("count", total, "B");
  if (a.progress) bar.set_enabled(true);
  count.progress = [&](uint64_t bytes) { bar.update(static_cast<int64_t>(bytes)); };
  const auto start = std::chrono::steady_clock::now();
  CountResult counted = count_ngrams(in, source, vocab, count);
  bar.finish();
  if (list.is_open()) {
    std::set<WordId> allowed;
    std::string line;
    while (std::getline(list, line))
      for (std::string_view w : split_words(line))
        if (auto id = vocab.find(w)) allowed.insert(*id);
    KILN_CHECK(!list.bad(), "{}: read error", a.limit_vocab);
    options.limit_vocab = std::move(allowed);
  }
  EstimateReport report;
  std::vector<uint64_t> written;
  // Counts that spilled, or whose in-memory estimate would outgrow the
  // budget, are estimated by passes over files in the temp folder.
  const bool out_of_core = counted.spilled || in_memory_estimate_bytes(counted.counts) > count.memory_bytes;
  if (out_of_core) {
    OutOfCoreOptions disk;
    disk.memory_bytes = count.memory_bytes;
    disk.temp_dir = count.temp_dir;
    std::unique_ptr<ProgressBar> stage_bar;
    std::string stage_name;
    disk.progress = [&](std::string_view stage, uint64_t done, uint64_t total) {
      if (stage != stage_name) {
        if (stage_bar) stage_bar->finish();
        stage_name = stage;
        stage_bar = std::make_unique<ProgressBar>(stage_name, static_cast<int64_t>(total), "n-grams");
        if (a.progress) stage_bar->set_enabled(true);
      }
      stage_bar->update(static_cast<int64_t>(done));
    };
    written = counted.spilled
                  ? estimate_to_arpa_out_of_core(*counted.spilled, vocab, options, disk, a.output, &report)
                  : estimate_to_arpa_out_of_core(std::move(counted.counts), vocab, options, disk, a.output, &report);
    if (stage_bar) stage_bar->finish();
  } else {
    const BackoffModel model = estimate_kneser_ney(std::move(counted.counts), vocab, options, &report);
    write_arpa(model, a.output);
    for (const OrderTable& t : model.orders) written.push_back(t.size());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(stderr, "{} sentences, {} tokens, {} types{}{}\n", counted.sentences, counted.tokens, vocab.size(),
             counted.spilled_runs > 0 ? fmt::format(" ({} sorted runs spilled to disk)", counted.spilled_runs) : "",
             out_of_core ? "; estimated out of core (over --memory)" : "");
  for (size_t n = 0; n < written.size(); ++n)
    fmt::print(stderr, "order {}: {} n-grams  D1={:.6g} D2={:.6g} D3+={:.6g}{}\n", n + 1, written[n],
               report.discounts[n][0], report.discounts[n][1], report.discounts[n][2],
               report.fell_back[n] ? " (fallback)" : "");
  fmt::print(stderr, "wrote {} in {:.2f} s\n", a.output, seconds);
}

bool is_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "{}: cannot open the model", path);
  char magic[8] = {};
  in.read(magic, 8);
  return in.gcount() == 8 && std::string_view(magic, 8) == "KILNNGRM";
}

NgramIndex load_model(const std::string& path) {
  return is_binary(path) ? NgramIndex::load(path) : NgramIndex::from_arpa(fs::path(path));
}

struct QueryArgs {
  std::string model, input;
  bool json = false, no_context = false, summary_only = false;
};

void run_query(const QueryArgs& a) {
  const NgramIndex model = load_model(a.model);
  std::ifstream file;
  if (!a.input.empty() && a.input != "-") {
    file.open(a.input);
    KILN_CHECK(file.good(), "{}: cannot open", a.input);
  }
  std::istream& in = file.is_open() ? file : std::cin;
  CorpusScore corpus;
  std::string line, out;
  std::vector<std::string_view> words;
  while (std::getline(in, line)) {
    split_words(line, words);
    const SentenceScore s = score_sentence(model, words, !a.no_context);
    corpus.add(s);
    if (a.summary_only) continue;
    out.clear();
    if (a.json) {
      nlohmann::json words_json = nlohmann::json::array();
      for (const WordScore& w : s.words)
        words_json.push_back({{"word", w.word}, {"id", w.id}, {"ngram", w.matched}, {"log10p", w.log10_prob}});
      out = nlohmann::json{{"words", words_json}, {"total", s.total}, {"oov", s.oov}}.dump();
    } else {
      for (const WordScore& w : s.words) fmt::format_to(std::back_inserter(out), "{}={} {} {}\t", w.word, w.id, w.matched, w.log10_prob);
      fmt::format_to(std::back_inserter(out), "Total: {} OOV: {}", s.total, s.oov);
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fputc('\n', stdout);
  }
  KILN_CHECK(corpus.tokens > 0, "query: no text to score");
  if (a.json) {
    fmt::print("{}\n", nlohmann::json{{"perplexity_including_oovs", corpus.perplexity_including_oov()},
                                      {"perplexity_excluding_oovs", corpus.perplexity_excluding_oov()},
                                      {"oovs", corpus.oov},
                                      {"tokens", corpus.tokens}}
                           .dump());
    return;
  }
  fmt::print("Perplexity including OOVs:\t{}\nPerplexity excluding OOVs:\t{}\nOOVs:\t{}\nTokens:\t{}\n",
             corpus.perplexity_including_oov(), corpus.perplexity_excluding_oov(), corpus.oov, corpus.tokens);
}

}  // namespace

void add_ngram_commands(CLI::App& app) {
  CLI::App* ngram = app.add_subcommand("ngram", "n-gram language models (interpolated modified Kneser-Ney, KenLM-compatible)");
  ngram->require_subcommand(1);

  auto b = std::make_shared<BuildArgs>();
  CLI::App* build = ngram->add_subcommand("build", "Estimate an ARPA model from a corpus (one sentence per line), like lmplz");
  build->footer(
      "The corpus is UTF-8 text, one sentence per line, words separated by spaces or tabs; <s>, </s> and <unk>\n"
      "are reserved and may not appear. The model is interpolated modified Kneser-Ney computed as lmplz computes\n"
      "it (float arithmetic, same order of operations, same number format): the ARPA file is lmplz's byte for\n"
      "byte on the reference corpora (docs/ngram.md). The ARPA file appears only when complete.\n"
      "Example: kiln ngram build --order 5 data/kjv/train.txt -o kjv5.arpa");
  build->add_option("corpus", b->input, "Corpus file, or - / nothing for stdin");
  build->add_option("-o,--output", b->output, "ARPA file to write")->required();
  build->add_option("--order", b->order, "Model order N (1–10)")->required();
  build->add_option("--prune", b->prune,
                    "Per-order raw-count thresholds, e.g. 0 1 1 or 1 1 2 (non-decreasing; the last repeats)");
  build->add_option("--discount-fallback", b->fallback,
                    "Discounts D1 D2 D3+ for orders whose estimate fails (no values: 0.5 1 1.5)")
      ->expected(0, 16);  // room for too many values, refused with a clear message, and a corpus path handed back
  build->add_option("--memory", b->memory,
                    "Memory budget of the build (e.g. 512M); beyond it counting and estimation work from sorted files "
                    "in --temp-dir")
      ->capture_default_str();
  build->add_option("--temp-dir", b->temp_dir, "Where sorted files go, removed at the end (default: the system temp folder)");
  build->add_option("--limit-vocab", b->limit_vocab,
                    "Keep only n-grams whose words are all listed in this file (whitespace-separated)");
  build->add_flag("--progress", b->progress, "Show the progress display even when stderr is not a terminal");
  build->add_flag("--no-kenlm-quirk", b->no_kenlm_quirk,
                  "Counts-of-counts from adjusted counts only (lmplz uses one raw count per order)");
  build->callback([b, build] {
    if (build->count("--discount-fallback") > 0) b->fallback_given = true;
    // `--prune 0 1 1 corpus.txt`: the option swallows the path; give it back.
    for (auto* list : {&b->prune, &b->fallback})
      while (!list->empty() && b->input.empty() && list->back().find_first_not_of("0123456789.") != std::string::npos) {
        b->input = list->back();
        list->pop_back();
      }
    run_build(*b);
  });

  auto q = std::make_shared<QueryArgs>();
  CLI::App* query = ngram->add_subcommand("query", "Score text (stdin or a file) per word and sentence, like KenLM's query");
  query->footer(
      "Each line is a sentence, scored after <s> and ending with </s>. Output per sentence: word=id n log10p for\n"
      "each word (n: length of the n-gram used; id 0: out of vocabulary), then Total and OOV; at the end the\n"
      "perplexity including and excluding OOVs, the OOV count and the token count (</s> included).");
  query->add_option("model", q->model, "ARPA file or compiled binary")->required();
  query->add_option("text", q->input, "Text file (default: stdin)");
  query->add_flag("--json", q->json, "One JSON object per sentence, then a summary object");
  query->add_flag("-n,--no-sentence-context", q->no_context, "No <s> context and no </s> (KenLM's query -n)");
  query->add_flag("-s,--summary", q->summary_only, "Print only the perplexity summary");
  query->callback([q] { run_query(*q); });

  auto c = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* compile = ngram->add_subcommand("compile", "Convert an ARPA file to the memory-mapped binary format");
  compile->footer("The binary (magic, version, checksum; hashed tables) loads in milliseconds and queries exactly as the ARPA.");
  compile->add_option("arpa", c->first, "ARPA file")->required();
  compile->add_option("-o,--output", c->second, "Binary file to write")->required();
  compile->callback([c] {
    const auto start = std::chrono::steady_clock::now();
    NgramIndex::from_arpa(fs::path(c->first)).save(c->second);
    fmt::print(stderr, "wrote {} ({} bytes) in {:.2f} s\n", c->second, fs::file_size(c->second),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  });
}

}  // namespace kiln::cli
