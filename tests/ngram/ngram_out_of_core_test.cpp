// The out-of-core estimate against the in-memory one: the same ARPA bytes
// (and so lmplz's, on the reference files) whatever the memory budget, and no
// temporary file left behind on success or on error. Plus the external sort
// it rests on, against std::sort.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "kiln/base/error.hpp"
#include "kiln/models/ngram/arpa.hpp"
#include "kiln/models/ngram/counting.hpp"
#include "kiln/models/ngram/estimate.hpp"
#include "kiln/models/ngram/estimate_out_of_core.hpp"
#include "kiln/models/ngram/external_sort.hpp"

namespace kiln::ngram {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(KILN_TEST_DATA_DIR) / "ngram";

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

size_t entries(const fs::path& dir) { return static_cast<size_t>(std::distance(fs::directory_iterator(dir), {})); }

struct Case {
  fs::path corpus;
  int order;
  EstimateOptions options;
  std::vector<std::string> limit_vocab;  // words, turned into ids once counted
};

class NgramOutOfCore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_ooc_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "temp");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static Vocabulary count(const Case& c, uint64_t memory, const fs::path& temp, CountResult& counted,
                          EstimateOptions& options, bool keep_runs) {
    std::ifstream in(c.corpus);
    Vocabulary vocab;
    CountOptions opts;
    opts.order = c.order;
    opts.memory_bytes = memory;
    opts.temp_dir = temp;
    opts.keep_spilled_runs = keep_runs;
    counted = count_ngrams(in, c.corpus.string(), vocab, opts);
    options = c.options;
    if (!c.limit_vocab.empty()) {
      std::set<WordId> allowed;
      for (const std::string& w : c.limit_vocab)
        if (auto id = vocab.find(w)) allowed.insert(*id);
      options.limit_vocab = allowed;
    }
    return vocab;
  }

  std::string in_memory(const Case& c) {
    CountResult counted;
    EstimateOptions options;
    const Vocabulary vocab = count(c, uint64_t{1} << 30, dir_ / "temp", counted, options, false);
    write_arpa(estimate_kneser_ney(std::move(counted.counts), vocab, options), dir_ / "memory.arpa");
    return file_bytes(dir_ / "memory.arpa");
  }

  // Counting and estimating within `memory`: the counts spill (tiny budgets)
  // and every sort of the estimate spills runs too.
  std::string out_of_core(const Case& c, uint64_t memory, int* spilled_runs = nullptr) {
    CountResult counted;
    EstimateOptions options;
    const Vocabulary vocab = count(c, memory, dir_ / "temp", counted, options, true);
    if (spilled_runs != nullptr) *spilled_runs = counted.spilled_runs;
    OutOfCoreOptions disk;
    disk.memory_bytes = memory;
    disk.temp_dir = dir_ / "temp";
    if (counted.spilled) estimate_to_arpa_out_of_core(*counted.spilled, vocab, options, disk, dir_ / "disk.arpa");
    else estimate_to_arpa_out_of_core(std::move(counted.counts), vocab, options, disk, dir_ / "disk.arpa");
    counted.spilled.reset();
    EXPECT_EQ(entries(dir_ / "temp"), 0u) << "temporary files are removed";
    return file_bytes(dir_ / "disk.arpa");
  }

  fs::path dir_;
};

std::vector<Case> reference_cases() {
  const fs::path toy = kData / "kenlm-toy", kjv = kData / "kenlm-small/train2000.txt";
  EstimateOptions prune011, prune112, prune0112, fallback;
  prune011.prune = {0, 1, 1};
  prune112.prune = {1, 1, 2};
  prune0112.prune = {0, 1, 1, 2};
  fallback.discount_fallback = Discount{0.4f, 0.9f, 0.9f};
  EstimateOptions no_quirk;
  no_quirk.kenlm_counts_of_counts = false;
  return {
      {toy / "corpus.txt", 3, {}, {}},
      {toy / "corpus.txt", 4, {}, {}},
      {toy / "corpus.txt", 3, prune011, {}},
      {toy / "corpus.txt", 3, prune112, {}},
      {toy / "corpus.txt", 3, {}, {"the", "cat", "sat"}},
      {toy / "tiny.txt", 3, fallback, {}},
      {kjv, 1, {}, {}},
      {kjv, 2, no_quirk, {}},
      {kjv, 3, {}, {}},
      {kjv, 5, {}, {}},
      {kjv, 4, prune0112, {}},
      {kjv, 3, prune112, {"the", "lord", "and", "of", "god", "said", "unto", "israel", "king", "his"}},
  };
}

TEST_F(NgramOutOfCore, ArpaIsByteIdenticalToTheInMemoryEstimate) {
  for (const Case& c : reference_cases()) {
    SCOPED_TRACE(c.corpus.filename().string() + " order " + std::to_string(c.order));
    const std::string expected = in_memory(c);
    int spilled = 0;
    // A budget that makes counting spill a few dozen runs; the estimate's sorts spill too.
    const uint64_t small = c.corpus.filename() == "train2000.txt" ? 64 << 10 : 1 << 10;
    EXPECT_EQ(out_of_core(c, small, &spilled), expected) << small << " bytes";
    if (c.corpus.filename() != "tiny.txt") {  // tiny.txt fits the smallest table
      EXPECT_GT(spilled, 1);
    }
    EXPECT_EQ(out_of_core(c, uint64_t{1} << 30), expected) << "counts in memory, estimate on disk";
  }
}

TEST_F(NgramOutOfCore, MatchesLmplzReferenceFiles) {
  Case kjv{kData / "kenlm-small/train2000.txt", 3, {}, {}};
  EXPECT_EQ(out_of_core(kjv, 32 << 10), file_bytes(kData / "kenlm-small/kjv2000.o3.arpa"));
  Case limited{kData / "kenlm-toy/corpus.txt", 3, {}, {"the", "cat", "sat"}};
  EXPECT_EQ(out_of_core(limited, 1 << 10), file_bytes(kData / "kenlm-toy/order3_limit_vocab.arpa"));
}

TEST_F(NgramOutOfCore, AFailedEstimateLeavesNoFiles) {
  // Counts-of-counts of this corpus give no closed-form discounts.
  fs::path corpus = dir_ / "bad.txt";
  std::ofstream(corpus) << "a a b a\nb a a b\n";
  fs::path previous = dir_ / "disk.arpa";
  std::ofstream(previous) << "an earlier model\n";
  Case bad{corpus, 3, {}, {}};
  EXPECT_THROW(out_of_core(bad, 1 << 10), Error);
  EXPECT_EQ(entries(dir_ / "temp"), 0u);
  EXPECT_EQ(file_bytes(previous), "an earlier model\n") << "the earlier file is untouched";
  EXPECT_EQ(entries(dir_), 3u) << "no half-written ARPA file beside it";
}

TEST(NgramExternalSort, SortsAndCombinesLikeStdSortInAnyBudget) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_sort_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::mt19937 random(7);
  const size_t n = 3, lanes = n + 2;
  std::vector<std::vector<uint32_t>> records(20000, std::vector<uint32_t>(lanes));
  for (auto& r : records) {
    for (size_t k = 0; k < n; ++k) r[k] = random() % 6;  // many duplicates
    put_u64(&r[n], random() % 1000);
  }
  for (NgramOrder order : {NgramOrder::suffix, NgramOrder::context}) {
    auto before = [&](const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
      return ngram_before(order, a.data(), b.data(), n);
    };
    std::vector<std::vector<uint32_t>> expected = records;
    std::stable_sort(expected.begin(), expected.end(), before);
    std::vector<std::vector<uint32_t>> combined;
    for (const auto& r : expected) {
      if (!combined.empty() && same_ngram(combined.back().data(), r.data(), n))
        put_u64(&combined.back()[n], get_u64(&combined.back()[n]) + get_u64(&r[n]));
      else combined.push_back(r);
    }
    for (uint64_t memory : {uint64_t{2} << 10, uint64_t{64} << 10, uint64_t{16} << 20}) {
      TempFolder folder(dir);
      ExternalSorter sorter(folder, {n, lanes, order}, memory, summing_counts(static_cast<int>(n)));
      for (const auto& r : records) sorter.add(r.data());
      std::vector<std::vector<uint32_t>> got;
      while (const uint32_t* r = sorter.next()) got.emplace_back(r, r + lanes);
      EXPECT_EQ(got, combined) << "budget " << memory;
      EXPECT_EQ(sorter.spilled_runs() > 0, memory < (1 << 20));
      // Context order: the children of one context are adjacent, contexts in suffix order.
      if (order == NgramOrder::context) {
        for (size_t i = 1; i < got.size(); ++i)
          EXPECT_FALSE(ngram_before(NgramOrder::suffix, got[i].data(), got[i - 1].data(), n - 1));
      }
    }
    EXPECT_EQ(entries(dir), 0u);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::ngram
