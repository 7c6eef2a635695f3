#include "kiln/models/ngram/external_sort.hpp"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "kiln/base/error.hpp"

namespace kiln::ngram {

namespace fs = std::filesystem;

namespace {

// The sort and its readers visit records in an order unrelated to where they
// lie in a buffer far larger than the caches: asking for the record this many
// steps ahead hides most of each miss.
constexpr size_t kPrefetchDistance = 16;

void prefetch(const uint32_t* record) { __builtin_prefetch(record); }

}  // namespace

bool ngram_before(NgramOrder order, const uint32_t* a, const uint32_t* b, size_t n) {
  if (order == NgramOrder::context && n > 1) {
    for (size_t i = n - 1; i-- > 0;)
      if (a[i] != b[i]) return a[i] < b[i];
    return a[n - 1] < b[n - 1];
  }
  for (size_t i = n; i-- > 0;)
    if (a[i] != b[i]) return a[i] < b[i];
  return false;
}

bool same_ngram(const uint32_t* a, const uint32_t* b, size_t n) { return std::equal(a, a + n, b); }

TempFolder::TempFolder(const fs::path& parent) {
  std::string pattern = (parent / "kiln-ngram-XXXXXX").string();
  KILN_CHECK(::mkdtemp(pattern.data()) != nullptr, "{}: cannot create a temporary folder there (use --temp-dir)",
             parent.string());
  path_ = pattern;
}

TempFolder::~TempFolder() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

fs::path TempFolder::new_file(const std::string& stem) { return path_ / fmt::format("{}-{}", stem, files_++); }

RecordWriter::RecordWriter(fs::path path, size_t lanes, size_t buffer_bytes)
    : path_(std::move(path)), lanes_(lanes) {
  file_.reset(std::fopen(path_.c_str(), "wb"));
  KILN_CHECK(file_ != nullptr, "{}: cannot create a temporary file (use --temp-dir)", path_.string());
  buffer_.resize(std::max<size_t>(1, buffer_bytes / (lanes_ * sizeof(uint32_t))) * lanes_);
}

RecordWriter::~RecordWriter() = default;

void RecordWriter::write(const uint32_t* record) {
  if (used_ == buffer_.size()) flush();
  std::copy_n(record, lanes_, buffer_.data() + used_);
  used_ += lanes_;
  ++records_;
}

void RecordWriter::flush() {
  const size_t written = std::fwrite(buffer_.data(), sizeof(uint32_t), used_, file_.get());
  KILN_CHECK(written == used_, "{}: write failed (disk full? use --temp-dir)", path_.string());
  used_ = 0;
}

void RecordWriter::close() {
  if (file_ == nullptr) return;
  flush();
  const bool closed = std::fclose(file_.release()) == 0;
  KILN_CHECK(closed, "{}: write failed (disk full? use --temp-dir)", path_.string());
  std::vector<uint32_t>().swap(buffer_);
}

RecordReader::RecordReader(fs::path path, size_t lanes, size_t buffer_bytes) : path_(std::move(path)), lanes_(lanes) {
  file_.reset(std::fopen(path_.c_str(), "rb"));
  KILN_CHECK(file_ != nullptr, "{}: cannot reopen a temporary file", path_.string());
  buffer_.resize(std::max<size_t>(1, buffer_bytes / (lanes_ * sizeof(uint32_t))) * lanes_);
}

RecordReader::~RecordReader() = default;

const uint32_t* RecordReader::next() {
  if (position_ == filled_) {
    if (file_ == nullptr) return nullptr;
    filled_ = std::fread(buffer_.data(), sizeof(uint32_t), buffer_.size(), file_.get());
    position_ = 0;
    KILN_CHECK(!std::ferror(file_.get()) && filled_ % lanes_ == 0, "{}: read error in a temporary file", path_.string());
    if (filled_ < buffer_.size()) {  // the end: give the file and its buffer back early
      file_.reset();
    }
    if (filled_ == 0) {
      std::vector<uint32_t>().swap(buffer_);
      return nullptr;
    }
  }
  const uint32_t* record = buffer_.data() + position_;
  position_ += lanes_;
  return record;
}

RunMerger::RunMerger(std::vector<fs::path> runs, RecordLayout layout, uint64_t buffer_bytes, Combine combine)
    : layout_(layout), combine_(std::move(combine)), out_(layout.lanes) {
  const uint64_t per_run = std::max<uint64_t>(uint64_t{4} << 10, buffer_bytes / std::max<size_t>(runs.size(), 1));
  for (const fs::path& run : runs) readers_.push_back(std::make_unique<RecordReader>(run, layout_.lanes, per_run));
  current_.resize(readers_.size());
  for (size_t r = 0; r < readers_.size(); ++r) {
    current_[r] = readers_[r]->next();
    if (current_[r] != nullptr) push_heap_of(r);
  }
}

void RunMerger::push_heap_of(size_t run) {
  heap_.push_back(run);
  std::push_heap(heap_.begin(), heap_.end(), [&](size_t a, size_t b) {
    return ngram_before(layout_.order, current_[b], current_[a], layout_.key_lanes);
  });
}

const uint32_t* RunMerger::next() {
  auto later = [&](size_t a, size_t b) { return ngram_before(layout_.order, current_[b], current_[a], layout_.key_lanes); };
  bool have = false;
  while (!heap_.empty()) {
    const size_t run = heap_.front();
    if (have && !(combine_ && same_ngram(current_[run], out_.data(), layout_.key_lanes))) break;
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
    if (have) combine_(out_.data(), current_[run]);
    else std::copy_n(current_[run], layout_.lanes, out_.data());
    have = true;
    current_[run] = readers_[run]->next();
    if (current_[run] != nullptr) push_heap_of(run);
    else readers_[run].reset();
  }
  return have ? out_.data() : nullptr;
}

void reduce_runs(std::vector<fs::path>& runs, RecordLayout layout, const Combine& combine, TempFolder& folder,
                 size_t most) {
  while (runs.size() > most) {
    std::vector<fs::path> fewer;
    for (size_t first = 0; first < runs.size(); first += most) {
      std::vector<fs::path> batch(runs.begin() + static_cast<std::ptrdiff_t>(first),
                                  runs.begin() + static_cast<std::ptrdiff_t>(std::min(first + most, runs.size())));
      RecordWriter merged(folder.new_file("merged"), layout.lanes);
      {
        RunMerger merger(batch, layout, (uint64_t{64} << 10) * batch.size(), combine);
        while (const uint32_t* r = merger.next()) merged.write(r);
      }
      merged.close();
      for (const fs::path& run : batch) fs::remove(run);
      fewer.push_back(merged.path());
    }
    runs = std::move(fewer);
  }
}

ExternalSorter::ExternalSorter(TempFolder& folder, RecordLayout layout, uint64_t memory_bytes, Combine combine)
    : folder_(folder),
      layout_(layout),
      memory_bytes_(memory_bytes),
      combine_(std::move(combine)),
      capacity_(std::clamp<uint64_t>(memory_bytes / (layout.bytes() + 2 * sizeof(uint32_t)), 16, uint64_t{1} << 31)),
      out_(layout.lanes) {}

void ExternalSorter::add(const uint32_t* record) {
  KILN_CHECK(!finished_, "external sort: internal error, a record added after reading began");
  // Pages of the reservation become resident only as records fill them, so a
  // small input costs little; growing by copying would briefly need 1.5×.
  if (buffer_.capacity() == 0) buffer_.reserve(capacity_ * layout_.lanes);
  if (buffer_.size() == capacity_ * layout_.lanes) spill();
  buffer_.insert(buffer_.end(), record, record + layout_.lanes);
}

// A stable radix sort of positions, one counting pass per key word from the
// least significant (the first word in suffix order; the last word, then the
// first, in context order). A pass whose word is the same for all is skipped.
std::vector<uint32_t> ExternalSorter::sorted_index() {
  const size_t count = buffer_.size() / layout_.lanes, lanes = layout_.lanes, n = layout_.key_lanes;
  std::vector<uint32_t> index(count), scratch(count);
  for (size_t i = 0; i < count; ++i) index[i] = static_cast<uint32_t>(i);
  if (count < 2) return index;
  std::vector<size_t> positions;
  if (layout_.order == NgramOrder::context && n > 1) positions.push_back(n - 1);
  for (size_t k = 0; k < n; ++k)
    if (!(layout_.order == NgramOrder::context && n > 1 && k == n - 1)) positions.push_back(k);
  uint32_t largest = 0;
  for (size_t i = 0; i < count; ++i)
    for (size_t k = 0; k < n; ++k) largest = std::max(largest, buffer_[i * lanes + k]);
  std::vector<uint32_t> starts(static_cast<size_t>(largest) + 2);
  const uint32_t* records = buffer_.data();
  for (size_t k : positions) {
    std::fill(starts.begin(), starts.end(), 0);
    for (size_t i = 0; i < count; ++i) ++starts[records[i * lanes + k] + 1];
    if (std::find(starts.begin(), starts.end(), count) != starts.end()) continue;
    for (size_t w = 1; w < starts.size(); ++w) starts[w] += starts[w - 1];
    for (size_t i = 0; i < count; ++i) {
      if (i + kPrefetchDistance < count) prefetch(records + size_t{index[i + kPrefetchDistance]} * lanes + k);
      scratch[starts[records[index[i] * lanes + k]]++] = index[i];
    }
    std::swap(index, scratch);
  }
  return index;
}

void ExternalSorter::spill() {
  const std::vector<uint32_t> index = sorted_index();
  RecordWriter run(folder_.new_file("run"), layout_.lanes);
  const size_t lanes = layout_.lanes;
  for (size_t k = 0; k < index.size();) {
    if (k + kPrefetchDistance < index.size()) prefetch(buffer_.data() + size_t{index[k + kPrefetchDistance]} * lanes);
    std::copy_n(buffer_.data() + index[k] * lanes, lanes, out_.data());
    for (++k; combine_ && k < index.size() && same_ngram(buffer_.data() + index[k] * lanes, out_.data(), layout_.key_lanes); ++k)
      combine_(out_.data(), buffer_.data() + index[k] * lanes);
    run.write(out_.data());
  }
  run.close();
  runs_.push_back(run.path());
  buffer_.clear();
}

void ExternalSorter::finish() {
  finished_ = true;
  if (runs_.empty()) {
    order_ = sorted_index();
    return;
  }
  if (!buffer_.empty()) spill();
  std::vector<uint32_t>().swap(buffer_);
  reduce_runs(runs_, layout_, combine_, folder_);
  merger_ = std::make_unique<RunMerger>(runs_, layout_, memory_bytes_, combine_);
}

const uint32_t* ExternalSorter::next() {
  if (!finished_) finish();
  if (merger_) return merger_->next();
  if (position_ == order_.size()) return nullptr;
  const size_t lanes = layout_.lanes;
  if (position_ + kPrefetchDistance < order_.size())
    prefetch(buffer_.data() + size_t{order_[position_ + kPrefetchDistance]} * lanes);
  std::copy_n(buffer_.data() + order_[position_] * lanes, lanes, out_.data());
  for (++position_; combine_ && position_ < order_.size() &&
                    same_ngram(buffer_.data() + order_[position_] * lanes, out_.data(), layout_.key_lanes);
       ++position_)
    combine_(out_.data(), buffer_.data() + order_[position_] * lanes);
  return out_.data();
}

}  // namespace kiln::ngram
