#include "kiln/models/ngram/counting.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>
#include <queue>
#include <unordered_map>

#include "kiln/base/error.hpp"

namespace kiln::ngram {

namespace fs = std::filesystem;

bool suffix_less(std::span<const WordId> a, std::span<const WordId> b) {
  for (size_t i = a.size(); i-- > 0;)
    if (a[i] != b[i]) return a[i] < b[i];
  return false;
}

namespace {

// Rough heap cost of one hash-table entry: node, key string, bucket.
uint64_t entry_bytes(int order) { return 64 + 4 * static_cast<uint64_t>(order); }

std::span<const WordId> key_ids(const std::string& key) {
  return {reinterpret_cast<const WordId*>(key.data()), key.size() / sizeof(WordId)};
}

using CountTable = std::unordered_map<std::string, uint64_t>;

// Sorted (suffix order) entries of a table.
std::vector<const CountTable::value_type*> sorted_entries(const CountTable& table) {
  std::vector<const CountTable::value_type*> entries;
  entries.reserve(table.size());
  for (const auto& e : table) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(),
            [](const auto* a, const auto* b) { return suffix_less(key_ids(a->first), key_ids(b->first)); });
  return entries;
}

// A sorted run on disk: records of `order` ids then a u64 count. Deleted when closed.
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

  void write(std::span<const WordId> ids, uint64_t count) {
    out_.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size_bytes()));
    out_.write(reinterpret_cast<const char*>(&count), sizeof count);
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

}  // namespace

CountResult count_ngrams(std::istream& in, const std::string& source, Vocabulary& vocab, const CountOptions& options) {
  KILN_CHECK(options.order >= 1 && options.order <= 10, "order must be between 1 and 10, got {}", options.order);
  const int order = options.order;
  CountResult result;
  CountTable table;
  std::vector<std::unique_ptr<RunFile>> runs;
  const uint64_t budget_entries = std::max<uint64_t>(1, options.memory_bytes / entry_bytes(order));
  auto spill = [&] {
    auto run = std::make_unique<RunFile>(options.temp_dir, static_cast<int>(runs.size()), order);
    for (const auto* e : sorted_entries(table)) run->write(key_ids(e->first), e->second);
    table = CountTable();
    runs.push_back(std::move(run));
  };

  std::string line;
  std::vector<WordId> sentence;
  std::string key(static_cast<size_t>(order) * sizeof(WordId), '\0');
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
      std::memcpy(key.data(), sentence.data() + end - order, key.size());
      ++table[key];
    }
    if (table.size() >= budget_entries) spill();
    if (options.progress && (line_number & 1023) == 0) options.progress(bytes);
  }
  KILN_CHECK(!in.bad(), "{}: read error", source);
  KILN_CHECK(result.tokens > 0, "{}: the corpus is empty", source);
  if (runs.empty()) {
    result.counts.order = order;
    for (const auto* e : sorted_entries(table)) {
      const auto ids = key_ids(e->first);
      result.counts.words.insert(result.counts.words.end(), ids.begin(), ids.end());
      result.counts.counts.push_back(e->second);
    }
    return result;
  }
  spill();
  result.spilled_runs = static_cast<int>(runs.size());
  result.counts = merge_runs(runs, order);
  return result;
}

}  // namespace kiln::ngram
