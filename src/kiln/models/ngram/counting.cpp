#include "kiln/models/ngram/counting.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <queue>

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

// A sorted run on disk: records of `order` ids then a u64 count. Deleted when destroyed.
class RunFile {
 public:
  RunFile(const fs::path& dir, int index, int order) : order_(order) {
    path_ = dir / fmt::format("kiln-ngram-{}-{}.run", ::getpid(), index);
    out_.open(path_, std::ios::binary | std::ios::trunc);
    KILN_CHECK(out_.good(), "{}: cannot create a temporary file (use --temp-dir)", path_.string());
  }
  ~RunFile() {
    in_.close();
    out_.close();
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
  RunFile(const RunFile&) = delete;
  RunFile& operator=(const RunFile&) = delete;

  void write(const NgramCounts& sorted) {
    for (size_t i = 0; i < sorted.size(); ++i) {
      const auto ids = sorted.ngram(i);
      out_.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size_bytes()));
      out_.write(reinterpret_cast<const char*>(&sorted.counts[i]), sizeof(uint64_t));
    }
    out_.flush();
    KILN_CHECK(out_.good(), "{}: write failed (disk full?)", path_.string());
  }
  void start_reading() {
    out_.close();
    in_.open(path_, std::ios::binary);
    KILN_CHECK(in_.good(), "{}: cannot reopen", path_.string());
    advance();
  }
  bool done() const { return done_; }
  const std::vector<WordId>& ids() const { return ids_; }
  uint64_t count() const { return count_; }
  void advance() {
    ids_.resize(static_cast<size_t>(order_));
    in_.read(reinterpret_cast<char*>(ids_.data()), static_cast<std::streamsize>(ids_.size() * sizeof(WordId)));
    in_.read(reinterpret_cast<char*>(&count_), sizeof count_);
    done_ = !in_.good();
  }

 private:
  int order_;
  fs::path path_;
  std::ofstream out_;
  std::ifstream in_;
  std::vector<WordId> ids_;
  uint64_t count_ = 0;
  bool done_ = false;
};

NgramCounts merge_runs(std::vector<std::unique_ptr<RunFile>>& runs, int order) {
  for (auto& run : runs) run->start_reading();
  auto later = [&](size_t a, size_t b) { return suffix_less(runs[b]->ids(), runs[a]->ids()); };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
  for (size_t i = 0; i < runs.size(); ++i)
    if (!runs[i]->done()) heap.push(i);
  NgramCounts out;
  out.order = order;
  while (!heap.empty()) {
    const size_t i = heap.top();
    heap.pop();
    const auto& ids = runs[i]->ids();
    const size_t n = out.size();
    if (n > 0 && std::equal(ids.begin(), ids.end(), out.ngram(n - 1).begin())) {
      out.counts.back() += runs[i]->count();
    } else {
      out.words.insert(out.words.end(), ids.begin(), ids.end());
      out.counts.push_back(runs[i]->count());
    }
    runs[i]->advance();
    if (!runs[i]->done()) heap.push(i);
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

}  // namespace

CountResult count_ngrams(std::istream& in, const std::string& source, Vocabulary& vocab, const CountOptions& options) {
  KILN_CHECK(options.order >= 1 && options.order <= 10, "order must be between 1 and 10, got {}", options.order);
  const int order = options.order;
  const size_t largest_capacity = capacity_for_budget(order, options.memory_bytes);
  CountResult result;
  CountTable table(order, std::min<size_t>(largest_capacity, size_t{1} << 16));
  std::vector<std::unique_ptr<RunFile>> runs;

  std::string line;
  std::vector<WordId> sentence;
  uint64_t line_number = 0, bytes = 0;
  while (std::getline(in, line)) {
    ++line_number;
    bytes += line.size() + 1;
    KILN_CHECK(valid_utf8(line), "{}:{}: invalid UTF-8", source, line_number);
    const auto words = split_words(line);
    if (words.empty()) continue;
    sentence.assign(static_cast<size_t>(order - 1), kBos);
    for (std::string_view w : words) {
      KILN_CHECK(w != "<s>" && w != "</s>" && w != "<unk>", "{}:{}: the text contains the reserved word '{}'", source,
                 line_number, w);
      sentence.push_back(vocab.add(w));
    }
    sentence.push_back(kEos);
    result.tokens += words.size();
    ++result.sentences;
    for (size_t end = static_cast<size_t>(order); end <= sentence.size(); ++end) {
      if (table.nearly_full()) {
        if (table.capacity() < largest_capacity) {
          table.grow();
        } else {
          runs.push_back(std::make_unique<RunFile>(options.temp_dir, static_cast<int>(runs.size()), order));
          runs.back()->write(table.take_sorted());
        }
      }
      table.add(sentence.data() + end - static_cast<size_t>(order), 1);
    }
    if (options.progress && (line_number & 1023) == 0) options.progress(bytes);
  }
  KILN_CHECK(!in.bad(), "{}: read error", source);
  KILN_CHECK(result.tokens > 0, "{}: the corpus is empty", source);
  if (runs.empty()) {
    result.counts = table.take_sorted();
    return result;
  }
  runs.push_back(std::make_unique<RunFile>(options.temp_dir, static_cast<int>(runs.size()), order));
  runs.back()->write(table.take_sorted());
  table = CountTable(order, 16);
  result.spilled_runs = static_cast<int>(runs.size());
  result.counts = merge_runs(runs, order);
  return result;
}

}  // namespace kiln::ngram
