#pragma once
// Sorting n-gram records that do not fit in memory. A record is a fixed number
// of 32-bit lanes, the n-gram's ids first; records collect in a buffer of
// bounded size that is sorted and written to disk as a run when full, and
// reading merges the runs. All files live in a TempFolder and go with it, on
// success or on error.
#include <bit>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln::ngram {

// suffix: by the last word, then the one before, … (KenLM's suffix order).
// context: by the context (the words but the last) in suffix order, then by
// the last word, so the children of a context are adjacent and the contexts
// come in the suffix order of the order below.
enum class NgramOrder { suffix, context };

struct RecordLayout {
  size_t key_lanes = 0;  // the n-gram's length
  size_t lanes = 0;      // key and payload
  NgramOrder order = NgramOrder::suffix;
  size_t bytes() const { return lanes * sizeof(uint32_t); }
};

// Payload values in lanes: a count in two, a float in one.
inline uint64_t get_u64(const uint32_t* lanes) { return uint64_t{lanes[0]} | uint64_t{lanes[1]} << 32; }
inline void put_u64(uint32_t* lanes, uint64_t value) {
  lanes[0] = static_cast<uint32_t>(value);
  lanes[1] = static_cast<uint32_t>(value >> 32);
}
inline float get_float(const uint32_t* lanes) { return std::bit_cast<float>(lanes[0]); }
inline void put_float(uint32_t* lanes, float value) { lanes[0] = std::bit_cast<uint32_t>(value); }

bool ngram_before(NgramOrder order, const uint32_t* a, const uint32_t* b, size_t n);
bool same_ngram(const uint32_t* a, const uint32_t* b, size_t n);

// A fresh folder (kiln-ngram-XXXXXX) in `parent`, removed with its contents when destroyed.
class TempFolder {
 public:
  explicit TempFolder(const std::filesystem::path& parent);
  ~TempFolder();
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  // A path for a new file in the folder, never handed out before.
  std::filesystem::path new_file(const std::string& stem);

 private:
  std::filesystem::path path_;
  int files_ = 0;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Writes records to a file through a buffer.
class RecordWriter {
 public:
  RecordWriter(std::filesystem::path path, size_t lanes, size_t buffer_bytes = size_t{1} << 20);
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;
  void write(const uint32_t* record);
  void close();  // flushes; the file is then complete
  uint64_t records() const { return records_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void flush();

  std::filesystem::path path_;
  size_t lanes_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::vector<uint32_t> buffer_;
  size_t used_ = 0;
  uint64_t records_ = 0;
};

// Reads them back in order.
class RecordReader {
 public:
  RecordReader(std::filesystem::path path, size_t lanes, size_t buffer_bytes = size_t{1} << 20);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;
  // The next record, valid until the next call; nullptr at the end.
  const uint32_t* next();

 private:
  std::filesystem::path path_;
  size_t lanes_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::vector<uint32_t> buffer_;
  size_t filled_ = 0, position_ = 0;
};

// Folds the payload of `from` into `into`, an earlier record with the same
// key (adding counts, say). Without one, equal keys are all kept.
using Combine = std::function<void(uint32_t* into, const uint32_t* from)>;

// Sorted runs on disk merged into one sorted stream.
class RunMerger {
 public:
  RunMerger(std::vector<std::filesystem::path> runs, RecordLayout layout, uint64_t buffer_bytes, Combine combine);
  const uint32_t* next();  // as RecordReader::next

 private:
  void push_heap_of(size_t run);

  RecordLayout layout_;
  Combine combine_;
  std::vector<std::unique_ptr<RecordReader>> readers_;
  std::vector<const uint32_t*> current_;
  std::vector<size_t> heap_;  // runs with a current record, earliest on top
  std::vector<uint32_t> out_;
};

// Merges runs in batches into fewer, longer ones (in `folder`) until at most
// `most` remain, so that a merge never holds too many files open at once.
void reduce_runs(std::vector<std::filesystem::path>& runs, RecordLayout layout, const Combine& combine,
                 TempFolder& folder, size_t most = 64);

class ExternalSorter {
 public:
  // memory_bytes bounds the buffer and its sort index (two lanes a record),
  // and later the merge's read buffers.
  ExternalSorter(TempFolder& folder, RecordLayout layout, uint64_t memory_bytes, Combine combine = {});
  void add(const uint32_t* record);
  // After the last add: the records in order (combined), one at a time; nullptr at the end.
  const uint32_t* next();
  int spilled_runs() const { return static_cast<int>(runs_.size()); }

 private:
  std::vector<uint32_t> sorted_index();  // of the buffered records
  void spill();
  void finish();

  TempFolder& folder_;
  RecordLayout layout_;
  uint64_t memory_bytes_;
  Combine combine_;
  size_t capacity_;  // records the buffer holds
  std::vector<uint32_t> buffer_;
  std::vector<std::filesystem::path> runs_;
  bool finished_ = false;
  // Reading: from the buffer when nothing spilled, otherwise by merging the runs.
  std::vector<uint32_t> order_;
  size_t position_ = 0;
  std::vector<uint32_t> out_;
  std::unique_ptr<RunMerger> merger_;
};

}  // namespace kiln::ngram
