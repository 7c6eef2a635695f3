#pragma once
// Counting the highest-order n-grams of a corpus within a memory budget.
// Counts accumulate in an open-addressing table with the ids stored inline;
// when it would outgrow the budget it is sorted and written to disk as a run,
// and the runs are merged at the end, into memory or (for the out-of-core
// estimate) as a stream. Spilled or not, the result is the same sorted,
// aggregated set.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kiln/models/ngram/external_sort.hpp"
#include "kiln/models/ngram/vocabulary.hpp"

namespace kiln::ngram {

// Distinct n-grams of one length with their counts, in suffix order (by last
// word, then the one before, ...), the order KenLM's pipeline sorts in.
struct NgramCounts {
  int order = 0;
  std::vector<WordId> words;  // order ids per entry
  std::vector<uint64_t> counts;
  size_t size() const { return counts.size(); }
  std::span<const WordId> ngram(size_t i) const {
    return {words.data() + i * static_cast<size_t>(order), static_cast<size_t>(order)};
  }
};

// a before b in suffix order (same lengths).
bool suffix_less(std::span<const WordId> a, std::span<const WordId> b);

// Sorts into suffix order (a stable radix sort, one pass per word position).
void sort_suffix_order(NgramCounts& counts);

struct CountOptions {
  int order = 3;
  uint64_t memory_bytes = uint64_t{1} << 30;  // the table plus its sort buffer
  std::filesystem::path temp_dir = std::filesystem::temp_directory_path();
  std::function<void(uint64_t bytes_read)> progress;
  // When counting spills: leave the sorted runs on disk (CountResult::spilled)
  // for a streaming merge, rather than merging them into memory.
  bool keep_spilled_runs = false;
};

// On disk a count record is the n ids, then the count in two lanes.
RecordLayout count_record_layout(int order);
// Adds the counts of count records with equal ids.
Combine summing_counts(int order);

// Counting's sorted runs, left on disk; removed when destroyed.
class SpilledCounts {
 public:
  SpilledCounts(std::unique_ptr<TempFolder> folder, std::vector<std::filesystem::path> runs, int order);
  int order() const { return order_; }
  // The distinct n-grams with their summed counts, in suffix order.
  RunMerger merge(uint64_t buffer_bytes) const;

 private:
  std::unique_ptr<TempFolder> folder_;
  std::vector<std::filesystem::path> runs_;
  int order_;
};

struct CountResult {
  NgramCounts counts;  // empty when the runs were kept on disk (`spilled`)
  std::unique_ptr<SpilledCounts> spilled;
  uint64_t tokens = 0;     // words read, without <s> and </s>
  uint64_t sentences = 0;
  int spilled_runs = 0;
};

// Reads one sentence per line; each sentence is padded as (order−1)×<s> … </s>.
// Literal <s>, </s>, <unk> and invalid UTF-8 are errors naming `source` and line.
CountResult count_ngrams(std::istream& in, const std::string& source, Vocabulary& vocab, const CountOptions& options);

}  // namespace kiln::ngram
