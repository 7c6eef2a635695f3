// kiln's n-gram estimator and scorer against KenLM's own outputs
// (tests/data/ngram), plus the properties any correct model must have.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include <unistd.h>

#include "kiln/base/error.hpp"
#include "kiln/models/ngram/arpa.hpp"
#include "kiln/models/ngram/counting.hpp"
#include "kiln/models/ngram/estimate.hpp"
#include "kiln/models/ngram/index.hpp"
#include "kiln/models/ngram/kbin_format.hpp"
#include "kiln/models/ngram/query.hpp"

namespace kiln::ngram {
namespace {

namespace fs = std::filesystem;
using kiln::Error;

const fs::path kData = fs::path(KILN_TEST_DATA_DIR) / "ngram";

using ArpaMap = std::map<std::string, std::pair<double, double>>;

double probability_mass(const NgramIndex& model, const std::vector<std::string>& context_words);
void expect_every_context_sums_to_one(const BackoffModel& model, size_t stride, const std::string& name);

ArpaMap as_map(const BackoffModel& m) {
  ArpaMap out;
  for (const OrderTable& t : m.orders)
    for (size_t i = 0; i < t.size(); ++i) {
      std::string key;
      for (WordId w : t.ngram(i)) key += (key.empty() ? "" : " ") + m.vocab[w];
      out[key] = {t.log10_prob[i], t.log10_backoff[i]};
    }
  return out;
}

BackoffModel build(const fs::path& corpus, int order, const EstimateOptions& options = {},
                   uint64_t memory = uint64_t{1} << 30) {
  std::ifstream in(corpus);
  Vocabulary vocab;
  CountOptions count;
  count.order = order;
  count.memory_bytes = memory;
  const CountResult counted = count_ngrams(in, corpus.string(), vocab, count);
  return estimate_kneser_ney(counted.counts, vocab, options);
}

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// kiln's ARPA file must be lmplz's byte for byte: same n-grams in the same
// order, every float computed in lmplz's float arithmetic and printed as KenLM
// prints it. On a mismatch, the first differing line and how many differ.
void expect_same_arpa_bytes(const BackoffModel& ours, const fs::path& reference) {
  const fs::path path = fs::temp_directory_path() / ("kiln_arpa_" + std::to_string(::getpid()) + ".arpa");
  write_arpa(ours, path);
  const std::string mine = file_bytes(path), theirs = file_bytes(reference);
  fs::remove(path);
  if (mine == theirs) return;
  std::istringstream a(mine), b(theirs);
  std::string la, lb, first;
  size_t line = 0, differing = 0;
  while (std::getline(b, lb)) {
    ++line;
    if (!std::getline(a, la)) la = "<end of file>";
    if (la == lb) continue;
    if (differing++ == 0) first = fmt::format("line {}: kiln '{}' lmplz '{}'", line, la, lb);
  }
  ADD_FAILURE() << reference << ": " << differing << " of " << line << " lines differ; first at " << first;
}

TEST(NgramBuild, ArpaIsByteIdenticalToLmplzOnTheToyCorpus) {
  expect_same_arpa_bytes(build(kData / "kenlm-toy/corpus.txt", 3), kData / "kenlm-toy/order3.arpa");
  expect_same_arpa_bytes(build(kData / "kenlm-toy/corpus.txt", 4), kData / "kenlm-toy/order4.arpa");
  EstimateOptions pruned;
  pruned.prune = {0, 1, 1};
  expect_same_arpa_bytes(build(kData / "kenlm-toy/corpus.txt", 3, pruned), kData / "kenlm-toy/order3_prune_0_1_1.arpa");
}

// The options beyond plain estimation, against lmplz's own files: a unigram
// threshold, --limit_vocab_file, and --discount_fallback without and with values.
TEST(NgramBuild, ArpaIsByteIdenticalToLmplzWithPruningLimitsAndFallbacks) {
  const fs::path toy = kData / "kenlm-toy";
  EstimateOptions pruned;
  pruned.prune = {1, 1, 2};
  expect_same_arpa_bytes(build(toy / "corpus.txt", 3, pruned), toy / "order3_prune_1_1_2.arpa");

  std::ifstream in(toy / "corpus.txt");
  Vocabulary vocab;
  const CountResult counted = count_ngrams(in, "toy", vocab, {});
  EstimateOptions limited;
  // The words of limit_vocab.txt.
  limited.limit_vocab = std::set<WordId>{*vocab.find("the"), *vocab.find("cat"), *vocab.find("sat")};
  expect_same_arpa_bytes(estimate_kneser_ney(counted.counts, vocab, limited), toy / "order3_limit_vocab.arpa");

  EstimateOptions fallback;
  fallback.discount_fallback = Discount{0.5f, 1.0f, 1.5f};
  expect_same_arpa_bytes(build(toy / "tiny.txt", 3, fallback), toy / "tiny_order3_fallback.arpa");
  fallback.discount_fallback = Discount{0.4f, 0.9f, 0.9f};  // lmplz repeats the last value given
  expect_same_arpa_bytes(build(toy / "tiny.txt", 3, fallback), toy / "tiny_order3_fallback_0.4_0.9.arpa");
}

TEST(NgramBuild, ArpaIsByteIdenticalToLmplzOnKjv) {
  expect_same_arpa_bytes(build(kData / "kenlm-small/train2000.txt", 3), kData / "kenlm-small/kjv2000.o3.arpa");
}

TEST(NgramBuild, DiscountsAndTheCountsOfCountsQuirk) {
  std::ifstream in(kData / "kenlm-toy/corpus.txt");
  Vocabulary vocab;
  CountOptions count;
  const CountResult counted = count_ngrams(in, "toy", vocab, count);
  EstimateReport with, without;
  estimate_kneser_ney(counted.counts, vocab, {}, &with);
  EstimateOptions plain;
  plain.kenlm_counts_of_counts = false;
  estimate_kneser_ney(counted.counts, vocab, plain, &without);
  EXPECT_EQ(with.counts_of_counts[0], (std::array<uint64_t, 4>{3, 5, 2, 2}));
  EXPECT_EQ(without.counts_of_counts[0], (std::array<uint64_t, 4>{3, 5, 3, 2}));
  EXPECT_NEAR(with.discounts[0][1], 1.723077, 1e-6);
  EXPECT_NEAR(without.discounts[0][1], 1.584615, 1e-6);
  EXPECT_NEAR(with.discounts[2][0], 0.655172, 1e-6);
}

TEST(NgramBuild, DiscountFallback) {
  std::istringstream corpus("a a b a\nb a a b\n");
  Vocabulary vocab;
  const CountResult counted = count_ngrams(corpus, "toy0", vocab, {});
  EXPECT_THROW(estimate_kneser_ney(counted.counts, vocab, {}), Error);
  EstimateOptions fallback;
  fallback.discount_fallback = Discount{0.5, 1.0, 1.5};
  const ArpaMap m = as_map(estimate_kneser_ney(counted.counts, vocab, fallback));
  EXPECT_NEAR(m.at("<unk>").first, -0.90309, 1e-6);
  EXPECT_NEAR(m.at("a").first, -0.46943438, 1e-6);
  EXPECT_NEAR(m.at("<s> a").first, -0.37712017, 1e-6);
  EXPECT_NEAR(m.at("b a").first, -0.2984526, 1e-6);
  EXPECT_NEAR(m.at("a a b").first, -0.20102891, 1e-6);
  EXPECT_NEAR(m.at("a").second, -0.30103, 1e-6);
}

TEST(NgramBuild, LimitVocabularyPrunesOtherWords) {
  std::ifstream in(kData / "kenlm-toy/corpus.txt");
  Vocabulary vocab;
  const CountResult counted = count_ngrams(in, "toy", vocab, {});
  EstimateOptions limited;
  limited.limit_vocab = std::set<WordId>{*vocab.find("the"), *vocab.find("cat"), *vocab.find("sat")};
  const ArpaMap m = as_map(estimate_kneser_ney(counted.counts, vocab, limited));
  EXPECT_TRUE(m.count("the cat sat"));
  EXPECT_TRUE(m.count("<s> the"));
  EXPECT_FALSE(m.count("dog"));
  EXPECT_FALSE(m.count("the dog"));
  for (const auto& [ngram, values] : m)
    for (const std::string w : {"dog", "mat", "fish", "on"}) EXPECT_EQ(ngram.find(w), std::string::npos) << ngram;
  // Words outside the list are out of vocabulary for the model: they score as <unk>.
  const NgramIndex model = NgramIndex::build(estimate_kneser_ney(counted.counts, vocab, limited));
  EXPECT_FALSE(model.word_id("dog").has_value());
  const std::string_view sentence[] = {"the", "dog"};
  EXPECT_EQ(score_sentence(model, sentence, true).oov, 1u);
}

// log10 p(<unk>) as lmplz computes it, rebuilt from the trigram counts alone:
// a unigram's adjusted count is the number of distinct words before it (the
// bigram types are the last two words of the trigrams, padding included);
// γ = (D1·k1 + D2·k2 + D3+·k3+ + adjusted counts of the dropped unigrams) /
// Σ adjusted counts, where k_j counts kept unigrams of adjusted count j; and
// p(<unk>) = γ · 1/V with V the number of surviving unigrams without <s>.
// Everything in float in lmplz's order (its AddRight, MergeRight, Interpolate).
float expected_unk_log10(const NgramCounts& trigrams, const Discount& d, const std::function<bool(WordId)>& dropped) {
  std::set<std::pair<WordId, WordId>> bigrams;
  for (size_t i = 0; i < trigrams.size(); ++i) bigrams.insert({trigrams.ngram(i)[1], trigrams.ngram(i)[2]});
  std::map<WordId, uint64_t> adjusted;
  for (const auto& [before, word] : bigrams) ++adjusted[word];
  uint64_t denominator = 0, dropped_mass = 0, kept[3] = {0, 0, 0};
  size_t surviving = 2;  // <unk> and <s>, which never occur after a word
  for (const auto& [word, count] : adjusted) {
    denominator += count;
    if (dropped(word)) {
      dropped_mass += count;
    } else {
      ++kept[std::min<uint64_t>(count, 3) - 1];
      ++surviving;
    }
  }
  float gamma = 0.0f;
  for (int j = 0; j < 3; ++j) gamma += d[static_cast<size_t>(j)] * static_cast<float>(kept[j]);
  gamma += static_cast<float>(dropped_mass);
  gamma /= static_cast<float>(denominator);
  const float uniform = static_cast<float>(1.0 / static_cast<double>(static_cast<float>(surviving - 1)));
  return std::log10(gamma * uniform);
}

// lmplz --limit_vocab_file: every n-gram with a word outside the list is
// pruned (its count joins its context's backoff mass), and the uniform
// distribution the unigrams interpolate with covers only the surviving words
// (lmplz's counts_pruned[0] − 1), not the corpus vocabulary. Here 3 listed
// words + <unk> + </s> make V = 5 where the corpus has 13 words.
TEST(NgramBuild, LimitVocabularyInterpolatesWithTheSurvivingVocabulary) {
  std::ifstream in(kData / "kenlm-toy/corpus.txt");
  Vocabulary vocab;
  const CountResult counted = count_ngrams(in, "toy", vocab, {});
  EstimateOptions limited;
  limited.limit_vocab = std::set<WordId>{*vocab.find("the"), *vocab.find("cat"), *vocab.find("sat")};
  EstimateReport report;
  const BackoffModel model = estimate_kneser_ney(counted.counts, vocab, limited, &report);
  EXPECT_EQ(model.orders[0].size(), 6u);
  const float expected = expected_unk_log10(counted.counts, report.discounts[0], [&](WordId w) {
    return w > kEos && limited.limit_vocab->count(w) == 0;
  });
  EXPECT_EQ(as_map(model).at("<unk>").first, expected);
  EXPECT_NEAR(expected, -0.82833, 1e-5);  // γ/5; γ/16 (the corpus vocabulary, the old bug) would be −1.3334
  expect_every_context_sums_to_one(model, 1, "toy order 3 limited to the cat sat");
}

// lmplz --prune with a unigram threshold (KenLM's AdjustCounts marks each
// unigram whose raw count is at most the threshold; <unk>, <s> and </s> are
// always kept): the dropped words' adjusted counts join the unigram backoff
// mass and the uniform term counts only the surviving words. As thresholds
// never decrease, the words of every surviving n-gram survive as unigrams.
TEST(NgramBuild, UnigramPruningDropsRareWordsButKeepsTheSpecials) {
  std::ifstream in(kData / "kenlm-toy/corpus.txt");
  Vocabulary vocab;
  const CountResult counted = count_ngrams(in, "toy", vocab, {});
  std::map<WordId, uint64_t> raw;  // occurrences: each word ends exactly one padded trigram per occurrence
  for (size_t i = 0; i < counted.counts.size(); ++i) raw[counted.counts.ngram(i)[2]] += counted.counts.counts[i];
  for (uint64_t threshold : {1, 2}) {
    EstimateOptions pruned;
    pruned.prune = {threshold, threshold, threshold + 1};
    EstimateReport report;
    const BackoffModel model = estimate_kneser_ney(counted.counts, vocab, pruned, &report);
    const ArpaMap m = as_map(model);
    size_t dropped = 0;
    for (WordId w = kEos + 1; w < vocab.size(); ++w) {
      EXPECT_EQ(m.count(vocab.word(w)) == 1, raw[w] > threshold) << vocab.word(w) << " seen " << raw[w] << " times";
      dropped += raw[w] <= threshold;
    }
    EXPECT_GT(dropped, 0u) << threshold;
    EXPECT_TRUE(m.count("<unk>") && m.count("<s>") && m.count("</s>"));
    for (const OrderTable& t : model.orders)
      for (size_t i = 0; i < t.size(); ++i)
        for (WordId w : t.ngram(i)) EXPECT_TRUE(m.count(model.vocab[w])) << model.vocab[w];
    const float expected = expected_unk_log10(counted.counts, report.discounts[0],
                                              [&](WordId w) { return w > kEos && raw[w] <= threshold; });
    EXPECT_EQ(m.at("<unk>").first, expected) << threshold;
    expect_every_context_sums_to_one(model, 1, fmt::format("toy order 3 pruned {} {} {}", threshold, threshold,
                                                           threshold + 1));
  }
  // A threshold of at least the number of sentences (20) would make lmplz
  // prune </s> yet still write it, with a header one unigram short; kiln keeps
  // </s> as a word, and the file reads back.
  EstimateOptions all;
  all.prune = {20};
  const BackoffModel model = estimate_kneser_ney(counted.counts, vocab, all);
  const size_t frequent = static_cast<size_t>(std::count_if(raw.begin(), raw.end(), [](const auto& r) {
    return r.first > kEos && r.second > 20;
  }));
  EXPECT_EQ(frequent, 1u);  // "the"
  EXPECT_EQ(model.orders[0].size(), 3 + frequent);
  EXPECT_LT(as_map(model).at("</s>").first, 0.0f);
  const fs::path path = fs::temp_directory_path() / ("kiln_all_pruned_" + std::to_string(::getpid()) + ".arpa");
  write_arpa(model, path);
  EXPECT_EQ(read_arpa(path).orders[0].size(), 3 + frequent);
  fs::remove(path);
}

// Floats in lmplz's form: shortest digits that read back as the same float,
// decimal notation down to 10^-6, exponent form (no '+', no padding) below.
TEST(NgramArpa, NumbersArePrintedAsKenLMPrintsThem) {
  const std::vector<std::pair<float, std::string>> cases = {
      {0.0f, "0"},          {-0.5f, "-0.5"},          {-100.0f, "-100"},      {-12.25f, "-12.25"},
      {-0.00001234f, "-0.00001234"}, {-0.000001f, "-0.000001"}, {-9.5e-7f, "-9.5e-7"}, {-1.2345e-7f, "-1.2345e-7"},
      {-1e-10f, "-1e-10"},  {-0.30103f, "-0.30103"},  {-1.4293128f, "-1.4293128"}};
  BackoffModel model;
  model.vocab = {"<unk>", "<s>", "</s>"};
  OrderTable& t = model.orders.emplace_back();
  t.n = 1;
  for (size_t i = 0; i < cases.size(); ++i) {
    if (i >= 3) model.vocab.push_back("w" + std::to_string(i));
    t.words.push_back(static_cast<WordId>(i));
    t.log10_prob.push_back(cases[i].first);
    t.log10_backoff.push_back(0.0f);
  }
  const fs::path path = fs::temp_directory_path() / ("kiln_numbers_" + std::to_string(::getpid()) + ".arpa");
  write_arpa(model, path);
  std::istringstream lines(file_bytes(path));
  fs::remove(path);
  std::string line;
  while (std::getline(lines, line) && line != "\\1-grams:") {
  }
  for (const auto& [value, text] : cases) {
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line.substr(0, line.find('\t')), text) << value;
  }
}

TEST(NgramBuild, SpilledBuildIsByteIdentical) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_spill_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_arpa(build(kData / "kenlm-small/train2000.txt", 4), dir / "memory.arpa");
  std::ifstream in(kData / "kenlm-small/train2000.txt");
  Vocabulary vocab;
  CountOptions count;
  count.order = 4;
  count.memory_bytes = 64 << 10;  // a few hundred entries: dozens of runs
  count.temp_dir = dir;
  const CountResult counted = count_ngrams(in, "train2000", vocab, count);
  EXPECT_GT(counted.spilled_runs, 10);
  write_arpa(estimate_kneser_ney(counted.counts, vocab, {}), dir / "spilled.arpa");
  auto bytes = [](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  EXPECT_EQ(bytes(dir / "memory.arpa"), bytes(dir / "spilled.arpa"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2) << "runs are cleaned up";
  fs::remove_all(dir);
}

double probability_mass(const NgramIndex& model, const std::vector<std::string>& context_words) {
  double mass = 0;
  for (size_t id = 0; id < model.vocab_size(); ++id) {
    const WordId unigram[] = {static_cast<WordId>(id)};
    if (id == kBos || !model.find(unigram)) continue;  // <s>, or a word pruned from the model
    std::vector<WordId> context;
    for (const std::string& w : context_words) context.push_back(model.word_id(w).value_or(kUnk));
    std::vector<std::string_view> words;
    for (const std::string& w : context_words) words.push_back(w);
    const std::string_view word = model.word(static_cast<WordId>(id));
    words.push_back(word);
    // Score the last word after the given context with no sentence markers.
    const SentenceScore s = score_sentence(model, words, false);
    mass += std::pow(10.0, s.words.back().log10_prob);
  }
  return mass;
}

TEST(NgramQuery, EveryContextSumsToOne) {
  for (int order : {3, 4}) {
    const NgramIndex model = NgramIndex::build(build(kData / "kenlm-toy/corpus.txt", order));
    for (const auto& context : std::vector<std::vector<std::string>>{
             {}, {"<s>"}, {"the", "cat"}, {"sat", "on"}, {"zzz", "the"}, {"<s>", "<s>"}, {"a", "cat", "sat"}}) {
      std::string name;
      for (const auto& w : context) name += w + " ";
      EXPECT_NEAR(probability_mass(model, context), 1.0, 1e-6) << "order " << order << " context '" << name << "'";
    }
  }
  const NgramIndex pruned = NgramIndex::build(read_arpa(kData / "kenlm-toy/order3_prune_0_1_1.arpa"));
  EXPECT_NEAR(probability_mass(pruned, {"the", "cat"}), 1.0, 1e-6);
}

// Every n-gram of a model below the highest order is a context; each one's
// distribution over the vocabulary (without <s>) must sum to one.
void expect_every_context_sums_to_one(const BackoffModel& model, size_t stride, const std::string& name) {
  const NgramIndex index = NgramIndex::build(model);
  size_t checked = 0;
  for (int n = 1; n < model.order(); ++n) {
    const OrderTable& t = model.orders[static_cast<size_t>(n) - 1];
    for (size_t i = 0; i < t.size(); i += stride) {
      std::vector<std::string> context;
      for (WordId w : t.ngram(i)) context.push_back(model.vocab[w]);
      EXPECT_NEAR(probability_mass(index, context), 1.0, 1e-6) << name << ": context '" << fmt::format("{}", fmt::join(context, " ")) << "'";
      ++checked;
    }
  }
  EXPECT_NEAR(probability_mass(index, {}), 1.0, 1e-6) << name << ": no context";
  EXPECT_NEAR(probability_mass(index, {"never-seen", "words"}), 1.0, 1e-6) << name;
  EXPECT_EQ(checked > 0, model.order() > 1);
}

TEST(NgramQuery, EveryContextOfEveryOrderSumsToOne) {
  const fs::path toy = kData / "kenlm-toy/corpus.txt";
  for (int order = 1; order <= 5; ++order) {
    EstimateOptions options;  // the toy corpus is too small for some orders' closed-form discounts
    options.discount_fallback = Discount{0.5, 1.0, 1.5};
    expect_every_context_sums_to_one(build(toy, order, options), 1, fmt::format("toy order {}", order));
  }
  EstimateOptions pruned;
  pruned.prune = {0, 1, 1, 2};
  expect_every_context_sums_to_one(build(toy, 4, pruned), 1, "toy order 4 pruned 0 1 1 2");
  expect_every_context_sums_to_one(build(kData / "kenlm-small/train2000.txt", 3), 97, "KJV 2000 lines, order 3");
}

TEST(NgramBuild, LowOrdersHaveTheSpecialWords) {
  for (int order : {1, 2}) {
    EstimateOptions options;
    options.discount_fallback = Discount{0.5, 1.0, 1.5};
    const ArpaMap m = as_map(build(kData / "kenlm-toy/corpus.txt", order, options));
    EXPECT_TRUE(m.count("<unk>") && m.count("<s>") && m.count("</s>")) << order;
    EXPECT_EQ(m.at("<s>").first, 0.0) << order;
  }
}

// A model where an n-gram's suffix is missing (hand-made, or pruned by
// another tool) is scored by the longest match, not by stopping early.
TEST(NgramQuery, ModelsWithoutEverySuffixUseTheLongestMatch) {
  const std::string text = "\\data\\\nngram 1=5\nngram 2=1\nngram 3=1\n\n\\1-grams:\n-1\t<unk>\t0\n0\t<s>\t0\n"
                           "-1\t</s>\t0\n-1\ta\t-0.5\n-1\tb\t-0.25\n\n\\2-grams:\n-0.5\ta b\t-0.125\n\n"
                           "\\3-grams:\n-0.1\ta b a\n\n\\end\\\n";
  std::istringstream in(text);
  const NgramIndex model = NgramIndex::build(read_arpa(in, "hand.arpa"));
  EXPECT_FALSE(model.suffix_closed());  // "b a" is missing
  const std::string_view words[] = {"a", "b", "a", "b"};
  const SentenceScore s = score_sentence(model, words, false);
  ASSERT_EQ(s.words.size(), 4u);
  EXPECT_EQ(s.words[2].matched, 3);
  EXPECT_FLOAT_EQ(s.words[2].log10_prob, -0.1f);
  // "b" after "b a": "a b" matches; the longer context "b a" is absent, so no backoff is added.
  EXPECT_EQ(s.words[3].matched, 2);
  EXPECT_FLOAT_EQ(s.words[3].log10_prob, -0.5f);
  EXPECT_TRUE(NgramIndex::build(read_arpa(kData / "kenlm-toy/order3.arpa")).suffix_closed());
}

std::string query_text(const NgramIndex& model, const fs::path& text, bool context) {
  std::ifstream in(text);
  std::ostringstream out;
  CorpusScore corpus;
  std::string line;
  while (std::getline(in, line)) {
    const auto words = split_words(line);
    const SentenceScore s = score_sentence(model, words, context);
    corpus.add(s);
    for (const WordScore& w : s.words) out << fmt::format("{}={} {} {}\t", w.word, w.id, w.matched, w.log10_prob);
    out << fmt::format("Total: {} OOV: {}\n", s.total, s.oov);
  }
  out << fmt::format("Perplexity including OOVs:\t{}\nPerplexity excluding OOVs:\t{}\nOOVs:\t{}\nTokens:\t{}\n",
                     corpus.perplexity_including_oov(), corpus.perplexity_excluding_oov(), corpus.oov, corpus.tokens);
  return out.str();
}

std::string file_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(NgramQuery, ReproducesKenLMQueryOutputExactly) {
  const fs::path toy = kData / "kenlm-toy";
  EXPECT_EQ(query_text(NgramIndex::build(read_arpa(toy / "order3.arpa")), toy / "test.txt", true),
            file_text(toy / "query_order3.txt"));
  EXPECT_EQ(query_text(NgramIndex::build(read_arpa(toy / "order4.arpa")), toy / "test.txt", true),
            file_text(toy / "query_order4.txt"));
  EXPECT_EQ(query_text(NgramIndex::build(read_arpa(toy / "order3_prune_0_1_1.arpa")), toy / "test.txt", true),
            file_text(toy / "query_order3_prune.txt"));
  EXPECT_EQ(query_text(NgramIndex::build(read_arpa(toy / "order3.arpa")), toy / "test.txt", false),
            file_text(toy / "query_order3_nocontext.txt"));
  const fs::path small = kData / "kenlm-small";
  EXPECT_EQ(query_text(NgramIndex::build(read_arpa(small / "kjv2000.o3.arpa")), small / "test200.txt", true),
            file_text(small / "test200.query.txt"));
}

TEST(NgramQuery, OwnModelGivesKenLMTotalsAndPerplexities) {
  const NgramIndex model = NgramIndex::build(build(kData / "kenlm-small/train2000.txt", 3));
  std::ifstream totals(kData / "kenlm-small/test200.totals.tsv"), text(kData / "kenlm-small/test200.txt");
  std::string header, row, line;
  std::getline(totals, header);
  CorpusScore corpus;
  while (std::getline(totals, row) && std::getline(text, line)) {
    std::istringstream fields(row);
    int number, oov, tokens;
    double total;
    fields >> number >> total >> oov >> tokens;
    const SentenceScore s = score_sentence(model, split_words(line), true);
    corpus.add(s);
    EXPECT_NEAR(s.total, total, 2e-5 * std::max(1.0, std::abs(total))) << "line " << number;
    EXPECT_EQ(static_cast<int>(s.oov), oov);
    EXPECT_EQ(static_cast<int>(s.words.size()), tokens);
  }
  EXPECT_NEAR(corpus.perplexity_including_oov(), 41.7162315662129, 1e-4);
  EXPECT_NEAR(corpus.perplexity_excluding_oov(), 36.42489590886867, 1e-4);
  EXPECT_EQ(corpus.oov, 112u);
  EXPECT_EQ(corpus.tokens, 6269u);
}

TEST(NgramBinary, LoadsTheSameModel) {
  const fs::path path = fs::temp_directory_path() / ("kiln_model_" + std::to_string(::getpid()) + ".kbin");
  const NgramIndex built = NgramIndex::build(read_arpa(kData / "kenlm-small/kjv2000.o3.arpa"));
  built.save(path);
  const NgramIndex loaded = NgramIndex::load(path);
  const fs::path text = kData / "kenlm-small/test200.txt";
  EXPECT_EQ(query_text(loaded, text, true), query_text(built, text, true));
  // Truncated and corrupted copies are refused.
  std::string bytes = file_text(path);
  for (const auto& bad : {bytes.substr(0, bytes.size() / 2), bytes.substr(0, 10), std::string("KILNNGRX") + bytes.substr(8),
                          bytes.substr(0, bytes.size() - 100) + std::string(100, '\1')}) {
    std::ofstream(path, std::ios::binary) << bad;
    EXPECT_THROW(NgramIndex::load(path), Error);
  }
  fs::remove(path);
}

// A table with no empty slot ends no probe sequence: a lookup of a missing
// key would loop forever. Such a file, with its checksum recomputed so that it
// looks well-formed, must be refused at load with a line naming the table.
TEST(NgramBinary, RefusesATableWithoutAnEmptySlot) {
  const fs::path path = fs::temp_directory_path() / ("kiln_full_" + std::to_string(::getpid()) + ".kbin");
  NgramIndex::build(read_arpa(kData / "kenlm-small/kjv2000.o3.arpa")).save(path);
  const std::string good = file_text(path);
  kbin::Header h;
  std::memcpy(&h, good.data(), sizeof h);
  const uint64_t vocab_at = kbin::blocks_at(h);
  uint64_t table_at = kbin::tables_at(h);
  table_at += h.capacities[0] * sizeof(kbin::NgramSlot);  // the 2-gram table follows the 1-grams
  // fill(at, slots, stride): every empty 64-bit key in a table gets a key that no lookup asks for.
  auto filled = [&](uint64_t at, uint64_t slots, size_t stride) {
    std::string bytes = good;
    for (uint64_t i = 0; i < slots; ++i) {
      uint64_t key;
      std::memcpy(&key, bytes.data() + at + i * stride, 8);
      if (key != 0) continue;
      key = 0x5a5a5a5a5a5a5a5aull + i;
      std::memcpy(bytes.data() + at + i * stride, &key, 8);
    }
    kbin::seal(reinterpret_cast<std::byte*>(bytes.data()), bytes.size());
    return bytes;
  };
  auto error_of = [&](const std::string& bytes) -> std::string {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      NgramIndex::load(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(good), "");
  EXPECT_NE(error_of(filled(table_at, h.capacities[1], sizeof(kbin::NgramSlot))).find("corrupt 2-gram table"),
            std::string::npos);
  EXPECT_NE(error_of(filled(vocab_at, h.vocab_capacity, sizeof(kbin::VocabSlot))).find("corrupt vocabulary index"),
            std::string::npos);
  // Loaded lazily, neither table is scanned, but every probe stops after the
  // header's longest probe sequence: lookups end, and find what was written.
  const fs::path text = kData / "kenlm-small/test200.txt";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << good;
  const std::string expected = query_text(NgramIndex::load(path, NgramIndex::Verify::full), text, true);
  for (const auto& [at, slots, stride] : {std::tuple{table_at, h.capacities[1], sizeof(kbin::NgramSlot)},
                                          std::tuple{vocab_at, h.vocab_capacity, sizeof(kbin::VocabSlot)}}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << filled(at, slots, stride);
    const NgramIndex lazy = NgramIndex::load(path, NgramIndex::Verify::lazy);
    EXPECT_EQ(query_text(lazy, text, true), expected);
    const WordId missing[] = {kUnk, kUnk};
    EXPECT_FALSE(lazy.find(missing));
  }
  fs::remove(path);
}

// Loading maps the file and checks the header and the block checksums; each
// 4 KiB block is verified before its first use. A lazy load reads no block,
// and a corrupt block is refused by the lookup that reads it, in one line.
TEST(NgramBinary, LazyLoadVerifiesEachBlockBeforeItsFirstUse) {
  const fs::path path = fs::temp_directory_path() / ("kiln_lazy_" + std::to_string(::getpid()) + ".kbin");
  const BackoffModel model = read_arpa(kData / "kenlm-small/kjv2000.o3.arpa");
  const NgramIndex built = NgramIndex::build(model);
  built.save(path);
  const std::string good = file_text(path);
  kbin::Header h;
  std::memcpy(&h, good.data(), sizeof h);
  ASSERT_GT(h.block_count, 4u);
  ASSERT_LE(good.size(), NgramIndex::kFullVerifyBytes);
  // The highest order's slots hold no backoff: 12 bytes, the others 16.
  ASSERT_EQ(h.order, 3u);
  EXPECT_EQ(good.size(), kbin::tables_at(h) + (h.capacities[0] + h.capacities[1]) * 16 + h.capacities[2] * 12);
  EXPECT_EQ(NgramIndex::load(path).verified_blocks().first, h.block_count);  // small: all verified at load
  const fs::path text = kData / "kenlm-small/test200.txt";
  {
    const NgramIndex lazy = NgramIndex::load(path, NgramIndex::Verify::lazy);
    EXPECT_EQ(lazy.verified_blocks(), std::make_pair(uint64_t{0}, h.block_count));
    const WordId the[] = {lazy.word_id("the").value()};
    ASSERT_TRUE(lazy.find(the));
    EXPECT_GT(lazy.verified_blocks().first, 0u);
    EXPECT_LT(lazy.verified_blocks().first, h.block_count);
    EXPECT_EQ(query_text(lazy, text, true), query_text(built, text, true));
  }
  // One changed byte in the last block (the end of the 3-gram table).
  std::string bad = good;
  bad[bad.size() - 3] ^= 0x20;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
  EXPECT_THROW(NgramIndex::load(path, NgramIndex::Verify::full), Error);
  const NgramIndex lazy = NgramIndex::load(path, NgramIndex::Verify::lazy);
  const WordId the[] = {lazy.word_id("the").value()};
  EXPECT_TRUE(lazy.find(the));  // the 1-grams are in good blocks
  std::string error;
  try {
    for (size_t i = 0; i < model.orders[2].size(); ++i) lazy.find(model.orders[2].ngram(i));
  } catch (const Error& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("checksum mismatch"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  {
    // Verified in the background: every good block in time, the bad one
    // never, and its lookup still refuses it.
    const NgramIndex ahead = NgramIndex::load(path, NgramIndex::Verify::background);
    for (int waited = 0; ahead.verified_blocks().first + 1 < h.block_count && waited < 10000; ++waited)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(ahead.verified_blocks(), std::make_pair(h.block_count - 1, h.block_count));
    EXPECT_THROW(
        for (size_t i = 0; i < model.orders[2].size(); ++i) ahead.find(model.orders[2].ngram(i)), Error);
  }
  // A binary of the previous format version is refused with a line saying so.
  std::string old = good;
  const uint32_t version = 2;
  std::memcpy(old.data() + 8, &version, 4);
  kbin::seal(reinterpret_cast<std::byte*>(old.data()), old.size());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << old;
  try {
    NgramIndex::load(path);
    ADD_FAILURE() << "a version 2 file was loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("version 2"), std::string::npos) << e.what();
  }
  fs::remove(path);
}

TEST(NgramArpa, ReaderRejectsMalformedFilesNamingTheLine) {
  const std::string good = "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1\t<unk>\t0\n0\t<s>\t-0.5\n-0.5\t</s>\t0\n\n"
                           "\\2-grams:\n-0.2\t<s> </s>\n\n\\end\\\n";
  EXPECT_NO_THROW({
    std::istringstream in(good);
    read_arpa(in, "good.arpa");
  });
  auto error_of = [](const std::string& text) -> std::string {
    std::istringstream in(text);
    try {
      read_arpa(in, "bad.arpa");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  EXPECT_NE(error_of(replace("ngram 2=1", "ngram 2=2")).find("bad.arpa:"), std::string::npos);
  EXPECT_NE(error_of(replace("\\2-grams:", "\\3-grams:")).find("bad.arpa:10"), std::string::npos);
  EXPECT_NE(error_of(replace("-0.5\t</s>", "x\t</s>")).find("bad.arpa:8: 'x' is not a number"), std::string::npos);
  EXPECT_NE(error_of(replace("-0.5\t</s>\t0", "-0.5\t<s>\t0")).find("duplicate unigram"), std::string::npos);
  EXPECT_NE(error_of(replace("\\end\\\n", "")).find("expected \\end\\"), std::string::npos);
  EXPECT_NE(error_of(replace("\\end\\\n", "\\end\\\nmore\n")).find("after \\end\\"), std::string::npos);
  EXPECT_NE(error_of(replace("-0.2\t<s> </s>", "0.2\t<s> </s>")).find("positive"), std::string::npos);
  EXPECT_NE(error_of(replace("-0.2\t<s> </s>", "-0.2\t<s> </s>\t-1")).find("highest order"), std::string::npos);
  EXPECT_NE(error_of("no header\n").find("bad.arpa:1"), std::string::npos);
  // A corrupt field is escaped and cut: a message stays one short line whatever the file holds.
  const std::string corrupt = error_of(replace("-0.5\t</s>", "\x1b[2J" + std::string(500, 'x') + "\t</s>"));
  EXPECT_NE(corrupt.find("'\\x1b[2Jxxx"), std::string::npos) << corrupt;
  EXPECT_EQ(corrupt.find('\x1b'), std::string::npos) << corrupt;
  EXPECT_LT(corrupt.size(), 120u) << corrupt;
}

// Compiling while reading (NgramIndex::from_arpa, what `kiln ngram compile`
// and an ARPA query use) gives the bytes of building from the parsed model,
// suffix-closed or not, and names the line of a duplicate n-gram.
TEST(NgramBinary, CompilingWhileReadingGivesTheSameBytes) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_stream_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path hand = dir / "hand.arpa";
  std::ofstream(hand) << "\\data\\\nngram 1=5\nngram 2=1\nngram 3=1\n\n\\1-grams:\n-1\t<unk>\t0\n0\t<s>\t0\n"
                         "-1\t</s>\t0\n-1\ta\t-0.5\n-1\tb\t-0.25\n\n\\2-grams:\n-0.5\ta b\t-0.125\n\n"
                         "\\3-grams:\n-0.1\ta b a\n\n\\end\\\n";
  for (const fs::path& arpa : {kData / "kenlm-small/kjv2000.o3.arpa", kData / "kenlm-toy/order4.arpa",
                               kData / "kenlm-toy/order3_prune_0_1_1.arpa", hand}) {
    const NgramIndex streamed = NgramIndex::from_arpa(arpa);
    EXPECT_EQ(streamed.suffix_closed(), arpa != hand) << arpa;
    streamed.save(dir / "streamed.kbin");
    NgramIndex::build(read_arpa(arpa)).save(dir / "parsed.kbin");
    EXPECT_EQ(file_text(dir / "streamed.kbin"), file_text(dir / "parsed.kbin")) << arpa;
  }
  std::string text = file_text(hand);
  text.replace(text.find("ngram 2=1"), 9, "ngram 2=2");
  text.replace(text.find("-0.5\ta b\t-0.125\n"), 17, "-0.5\ta b\t-0.125\n-0.4\ta b\n");
  std::ofstream(dir / "twice.arpa") << text;
  try {
    NgramIndex::from_arpa(dir / "twice.arpa");
    ADD_FAILURE() << "a duplicate 2-gram was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("twice.arpa:15: duplicate 2-gram 'a b'"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(NgramCount, BadCorporaNameTheLine) {
  auto error_of = [](const std::string& text) -> std::string {
    std::istringstream in(text);
    Vocabulary vocab;
    try {
      count_ngrams(in, "corpus.txt", vocab, {});
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of("a b\nc <s> d\n").find("corpus.txt:2"), std::string::npos);
  EXPECT_NE(error_of("ok\n\xff\xfe\n").find("corpus.txt:2: invalid UTF-8"), std::string::npos);
  EXPECT_NE(error_of("\n\n").find("empty"), std::string::npos);
  EXPECT_TRUE(valid_utf8("床前明月光"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));  // overlong
}

}  // namespace
}  // namespace kiln::ngram
