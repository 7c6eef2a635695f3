#include "kiln/models/ngram/counting.hpp"

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "kiln/base/bounded_queue.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/ngram/ngram_lookup.hpp"

namespace kiln::ngram {

namespace fs = std::filesystem;

bool suffix_less(std::span<const WordId> a, std::span<const WordId> b) {
  for (size_t i = a.size(); i-- > 0;)
    if (a[i] != b[i]) return a[i] < b[i];
  return false;
}

void sort_suffix_order(NgramCounts& counts) {
  const size_t n = static_cast<size_t>(counts.order), size = counts.size();
  if (size < 2) return;
  WordId largest = 0;
  for (WordId w : counts.words) largest = std::max(largest, w);
  std::vector<size_t> starts(static_cast<size_t>(largest) + 2);
  NgramCounts scratch;
  scratch.order = counts.order;
  scratch.words.resize(counts.words.size());
  scratch.counts.resize(size);
  // Least significant key first: the first word, last the last word.
  for (size_t position = 0; position < n; ++position) {
    std::fill(starts.begin(), starts.end(), 0);
    for (size_t i = 0; i < size; ++i) ++starts[counts.words[i * n + position] + 1];
    if (std::find(starts.begin(), starts.end(), size) != starts.end()) continue;  // one word for all: nothing moves
    for (size_t k = 1; k < starts.size(); ++k) starts[k] += starts[k - 1];
    for (size_t i = 0; i < size; ++i) {
      const size_t to = starts[counts.words[i * n + position]]++;
      std::copy_n(counts.words.begin() + static_cast<std::ptrdiff_t>(i * n), n,
                  scratch.words.begin() + static_cast<std::ptrdiff_t>(to * n));
      scratch.counts[to] = counts.counts[i];
    }
    std::swap(counts.words, scratch.words);
    std::swap(counts.counts, scratch.counts);
  }
}

namespace {

// n-gram → count, open addressing with the ids inline (count 0 = empty slot),
// so its size in bytes is known exactly and the budget can be kept.
class CountTable {
 public:
  CountTable(int order, size_t capacity) : n_(static_cast<size_t>(order)) { reset(capacity); }

  static uint64_t bytes_for(int order, size_t capacity) {
    return capacity * (sizeof(WordId) * static_cast<uint64_t>(order) + sizeof(uint64_t));
  }
  size_t size() const { return size_; }
  size_t capacity() const { return counts_.size(); }
  bool nearly_full() const { return (size_ + 1) * 10 > capacity() * 7; }

  void add(const WordId* ids, uint64_t count) {
    const size_t mask = capacity() - 1;
    for (size_t slot = hash_ngram({ids, n_}) & mask;; slot = (slot + 1) & mask) {
      WordId* key = keys_.data() + slot * n_;
      if (counts_[slot] == 0) {
        std::copy_n(ids, n_, key);
        counts_[slot] = count;
        ++size_;
        return;
      }
      if (std::equal(ids, ids + n_, key)) {
        counts_[slot] += count;
        return;
      }
    }
  }

  void grow() {
    CountTable bigger(static_cast<int>(n_), capacity() * 2);
    for (size_t slot = 0; slot < capacity(); ++slot)
      if (counts_[slot] != 0) bigger.add(keys_.data() + slot * n_, counts_[slot]);
    *this = std::move(bigger);
  }

  // The entries in suffix order; the table is left empty with its capacity.
  NgramCounts take_sorted() {
    NgramCounts out;
    out.order = static_cast<int>(n_);
    out.words.reserve(size_ * n_);
    out.counts.reserve(size_);
    for (size_t slot = 0; slot < capacity(); ++slot) {
      if (counts_[slot] == 0) continue;
      out.words.insert(out.words.end(), keys_.begin() + static_cast<std::ptrdiff_t>(slot * n_),
                       keys_.begin() + static_cast<std::ptrdiff_t>((slot + 1) * n_));
      out.counts.push_back(counts_[slot]);
    }
    reset(capacity());
    sort_suffix_order(out);
    return out;
  }

 private:
  void reset(size_t capacity) {
    keys_.assign(capacity * n_, 0);
    counts_.assign(capacity, 0);
    size_ = 0;
  }

  size_t n_;
  std::vector<WordId> keys_;
  std::vector<uint64_t> counts_;
  size_t size_ = 0;
};

// Writes a sorted table as a run of count records.
void write_run(const NgramCounts& sorted, const fs::path& path) {
  const size_t n = static_cast<size_t>(sorted.order);
  RecordWriter run(path, n + 2);
  std::vector<uint32_t> record(n + 2);
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto ids = sorted.ngram(i);
    std::copy(ids.begin(), ids.end(), record.begin());
    put_u64(record.data() + n, sorted.counts[i]);
    run.write(record.data());
  }
  run.close();
}

NgramCounts merge_into_memory(RunMerger& merger, int order) {
  const size_t n = static_cast<size_t>(order);
  NgramCounts out;
  out.order = order;
  while (const uint32_t* record = merger.next()) {
    out.words.insert(out.words.end(), record, record + n);
    out.counts.push_back(get_u64(record + n));
  }
  return out;
}

// The largest power-of-two capacity whose table, and the sorted copy and sort
// buffer made when it spills (each at most 70% of it), fit the budget.
size_t capacity_for_budget(int order, uint64_t budget) {
  size_t capacity = 16;
  while (CountTable::bytes_for(order, capacity * 2) * 24 / 10 <= budget) capacity *= 2;
  return capacity;
}

// Sentences as padded word ids, a block at a time: made by the reading
// thread, counted by the caller's.
struct SentenceBlock {
  std::vector<WordId> ids;       // each sentence: (order−1)×<s>, its words, </s>
  std::vector<size_t> ends;      // where each sentence ends in `ids`
  uint64_t tokens = 0, bytes = 0;
};

// Reads, checks and looks up words on a thread of its own, so that the
// vocabulary's hash lookups overlap the counting of n-grams.
class SentenceReader {
 public:
  SentenceReader(std::istream& in, const std::string& source, Vocabulary& vocab, int order)
      : in_(in), source_(source), vocab_(vocab), order_(static_cast<size_t>(order)), thread_([this] { read(); }) {}
  ~SentenceReader() {
    blocks_.close();
    // thread_ joins here.
  }
  SentenceReader(const SentenceReader&) = delete;
  SentenceReader& operator=(const SentenceReader&) = delete;

  // The next block; nullopt at the end of the text. Rethrows the reader's error.
  std::optional<SentenceBlock> next() {
    std::optional<SentenceBlock> block = blocks_.pop();
    if (!block) {
      thread_.join();
      if (error_) std::rethrow_exception(error_);
    }
    return block;
  }

 private:
  static constexpr size_t kBlockIds = size_t{1} << 16;

  void read() {
    try {
      std::string line;
      std::vector<std::string_view> words;
      uint64_t line_number = 0;
      SentenceBlock block;
      while (std::getline(in_, line)) {
        ++line_number;
        block.bytes += line.size() + 1;
        KILN_CHECK(valid_utf8(line), "{}:{}: invalid UTF-8", source_, line_number);
        split_words(line, words);
        if (words.empty()) continue;
        block.ids.insert(block.ids.end(), order_ - 1, kBos);
        for (std::string_view w : words) {
          KILN_CHECK(w != "<s>" && w != "</s>" && w != "<unk>", "{}:{}: the text contains the reserved word '{}'",
                     source_, line_number, w);
          block.ids.push_back(vocab_.add(w));
        }
        block.ids.push_back(kEos);
        block.ends.push_back(block.ids.size());
        block.tokens += words.size();
        if (block.ids.size() >= kBlockIds && !blocks_.push(std::exchange(block, {}))) return;
      }
      KILN_CHECK(!in_.bad(), "{}: read error", source_);
      if (!block.ends.empty() || block.bytes > 0) blocks_.push(std::move(block));
    } catch (...) {
      error_ = std::current_exception();
    }
    blocks_.close();
  }

  std::istream& in_;
  const std::string& source_;
  Vocabulary& vocab_;
  size_t order_;
  BoundedQueue<SentenceBlock> blocks_{4};
  std::exception_ptr error_;
  std::jthread thread_;  // last: starts once the members above exist
};

}  // namespace

CountResult count_ngrams(std::istream& in, const std::string& source, Vocabulary& vocab, const CountOptions& options) {
  KILN_CHECK(options.order >= 1 && options.order <= 10, "order must be between 1 and 10, got {}", options.order);
  const int order = options.order;
  const size_t largest_capacity = capacity_for_budget(order, options.memory_bytes);
  CountResult result;
  CountTable table(order, std::min<size_t>(largest_capacity, size_t{1} << 16));
  std::unique_ptr<TempFolder> folder;
  std::vector<fs::path> runs;

  uint64_t bytes = 0;
  {
    SentenceReader reader(in, source, vocab, order);
    while (std::optional<SentenceBlock> block = reader.next()) {
      size_t start = 0;
      for (size_t end_of_sentence : block->ends) {
        for (size_t end = start + static_cast<size_t>(order); end <= end_of_sentence; ++end) {
          if (table.nearly_full()) {
            if (table.capacity() < largest_capacity) {
              table.grow();
            } else {
              if (!folder) folder = std::make_unique<TempFolder>(options.temp_dir);
              runs.push_back(folder->new_file("counts"));
              write_run(table.take_sorted(), runs.back());
            }
          }
          table.add(block->ids.data() + end - static_cast<size_t>(order), 1);
        }
        start = end_of_sentence;
      }
      result.tokens += block->tokens;
      result.sentences += block->ends.size();
      bytes += block->bytes;
      if (options.progress) options.progress(bytes);
    }
  }
  KILN_CHECK(result.tokens > 0, "{}: the corpus is empty", source);
  if (runs.empty()) {
    result.counts = table.take_sorted();
    return result;
  }
  runs.push_back(folder->new_file("counts"));
  write_run(table.take_sorted(), runs.back());
  table = CountTable(order, 16);
  result.spilled_runs = static_cast<int>(runs.size());
  reduce_runs(runs, count_record_layout(order), summing_counts(order), *folder);
  if (options.keep_spilled_runs) {
    result.spilled = std::make_unique<SpilledCounts>(std::move(folder), std::move(runs), order);
    return result;
  }
  RunMerger merger(std::move(runs), count_record_layout(order), options.memory_bytes / 4, summing_counts(order));
  result.counts = merge_into_memory(merger, order);
  return result;
}

RecordLayout count_record_layout(int order) {
  const size_t n = static_cast<size_t>(order);
  return {n, n + 2, NgramOrder::suffix};
}

Combine summing_counts(int order) {
  const size_t n = static_cast<size_t>(order);
  return [n](uint32_t* into, const uint32_t* from) { put_u64(into + n, get_u64(into + n) + get_u64(from + n)); };
}

SpilledCounts::SpilledCounts(std::unique_ptr<TempFolder> folder, std::vector<fs::path> runs, int order)
    : folder_(std::move(folder)), runs_(std::move(runs)), order_(order) {}

RunMerger SpilledCounts::merge(uint64_t buffer_bytes) const {
  return RunMerger(runs_, count_record_layout(order_), buffer_bytes, summing_counts(order_));
}

}  // namespace kiln::ngram
