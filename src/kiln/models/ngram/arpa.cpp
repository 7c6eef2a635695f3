#include "kiln/models/ngram/arpa.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <cmath>
#include <fstream>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/base/printable.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/models/ngram/arpa_number.hpp"
#include "kiln/models/ngram/ngram_lookup.hpp"

namespace kiln::ngram {

ArpaWriter::ArpaWriter(const std::filesystem::path& path, const std::vector<std::string>& vocab,
                       std::vector<uint64_t> counts)
    : path_(path), counts_(std::move(counts)), file_(path), slots_(vocab.size()) {
  KILN_CHECK(!counts_.empty(), "{}: internal error, a model without orders", path_.string());
  for (size_t id = 0; id < vocab.size(); ++id) {
    const std::string& word = vocab[id];
    WordSlot& slot = slots_[id];
    if (word.size() <= sizeof slot.text) {
      std::memcpy(slot.text, word.data(), word.size());
      slot.length = static_cast<uint8_t>(word.size());
      continue;
    }
    KILN_CHECK(word.size() <= UINT32_MAX, "{}: a word of {} bytes is too long to write", path_.string(), word.size());
    slot.length = kLongWord;
    const uint64_t offset = long_words_.size();
    const auto length = static_cast<uint32_t>(word.size());
    std::memcpy(slot.text, &offset, sizeof offset);
    std::memcpy(slot.text + sizeof offset, &length, sizeof length);
    long_words_ += word;
  }
  std::string header = "\\data\\\n";
  for (size_t n = 1; n <= counts_.size(); ++n) header += fmt::format("ngram {}={}\n", n, counts_[n - 1]);
  append(header);
}

void ArpaWriter::add(std::span<const WordId> ngram, float log10_prob, float log10_backoff) {
  KILN_CHECK(ngram.size() >= order_ && ngram.size() <= counts_.size(), "{}: internal error, a {}-gram after the {}-grams",
             path_.string(), ngram.size(), order_);
  while (order_ < ngram.size()) start_next_section();
  size_t longest = 2 * kArpaNumberChars + 2 + ngram.size() * (sizeof(WordSlot) + 1);
  for (WordId w : ngram)
    if (slots_[w].length == kLongWord) longest += long_word(w).length;
  char* out = reserve(longest);
  out = write_arpa_number(out, log10_prob);
  for (size_t k = 0; k < ngram.size(); ++k) {
    *out++ = k == 0 ? '\t' : ' ';
    const WordSlot& slot = slots_[ngram[k]];
    if (slot.length != kLongWord) {
      std::memcpy(out, slot.text, sizeof slot.text);  // the whole slot: a fixed-size copy, cut by the length
      out += slot.length;
    } else {
      const LongWord w = long_word(ngram[k]);
      out = std::copy_n(long_words_.data() + w.offset, w.length, out);
    }
  }
  if (order_ < counts_.size()) {
    *out++ = '\t';
    out = write_arpa_number(out, log10_backoff);
  }
  *out++ = '\n';
  used_ = static_cast<size_t>(out - buffer_.data());
  ++written_;
  if (used_ >= kFlushBytes) flush();
}

ArpaWriter::LongWord ArpaWriter::long_word(WordId id) const {
  LongWord w;
  std::memcpy(&w.offset, slots_[id].text, sizeof w.offset);
  std::memcpy(&w.length, slots_[id].text + sizeof w.offset, sizeof w.length);
  return w;
}

char* ArpaWriter::reserve(size_t bytes) {
  if (buffer_.size() < used_ + bytes) buffer_.resize(std::max(used_ + bytes, kFlushBytes + (kFlushBytes >> 4)));
  return buffer_.data() + used_;
}

void ArpaWriter::append(std::string_view text) {
  std::copy(text.begin(), text.end(), reserve(text.size()));
  used_ += text.size();
}

void ArpaWriter::flush() {
  file_.write(buffer_.data(), used_);
  used_ = 0;
}

void ArpaWriter::start_next_section() {
  KILN_CHECK(order_ == 0 || written_ == counts_[order_ - 1], "{}: internal error, {} of {} {}-grams written",
             path_.string(), written_, counts_[order_ - 1], order_);
  ++order_;
  written_ = 0;
  append(fmt::format("\n\\{}-grams:\n", order_));
}

void ArpaWriter::commit() {
  while (order_ < counts_.size()) start_next_section();  // orders whose entries were all pruned
  KILN_CHECK(written_ == counts_[order_ - 1], "{}: internal error, {} of {} {}-grams written", path_.string(), written_,
             counts_[order_ - 1], order_);
  append("\n\\end\\\n");
  flush();
  file_.commit();
}

void write_arpa(const BackoffModel& model, const std::filesystem::path& path) {
  std::vector<uint64_t> counts;
  for (const OrderTable& t : model.orders) counts.push_back(t.size());
  ArpaWriter writer(path, model.vocab, std::move(counts));
  for (const OrderTable& t : model.orders)
    for (size_t i = 0; i < t.size(); ++i) writer.add(t.ngram(i), t.log10_prob[i], t.log10_backoff[i]);
  writer.commit();
}

namespace {

class ArpaParser {
 public:
  ArpaParser(std::istream& in, std::string source, ArpaSink& sink)
      : in_(in), source_(std::move(source)), sink_(sink) {}

  void parse() {
    std::string line;
    // Header: optional comment/blank lines, then \data\.
    while (next(line)) {
      if (line == "\\data\\") break;
      KILN_CHECK(line.empty() || line[0] == '#', "{}:{}: expected \\data\\ before '{}'", source_, line_, clip(line));
    }
    KILN_CHECK(line == "\\data\\", "{}: no \\data\\ section", source_);
    std::vector<uint64_t> counts;
    while (next(line) && !line.empty()) {
      KILN_CHECK(line.rfind("ngram ", 0) == 0, "{}:{}: expected 'ngram N=count', got '{}'", source_, line_, clip(line));
      const size_t eq = line.find('=');
      KILN_CHECK(eq != std::string::npos, "{}:{}: expected 'ngram N=count'", source_, line_);
      const uint64_t n = integer(std::string_view(line).substr(6, eq - 6));
      KILN_CHECK(n == counts.size() + 1, "{}:{}: ngram counts must be numbered 1, 2, … in order", source_, line_);
      counts.push_back(integer(std::string_view(line).substr(eq + 1)));
    }
    KILN_CHECK(!counts.empty(), "{}:{}: \\data\\ lists no n-gram counts", source_, line_);
    sink_.begin(counts);
    for (size_t n = 1; n <= counts.size(); ++n) {
      read_section(static_cast<int>(n), counts[n - 1], counts.size());
      if (n > 1) continue;
      KILN_CHECK(vocab_.size() >= 3 && vocab_[kUnk] == "<unk>",
                 "{}: the model has no <unk> (KenLM would score it −100; kiln requires it)", source_);
      sink_.vocabulary(vocab_);
    }
    while (next(line) && line.empty()) {
    }
    KILN_CHECK(line == "\\end\\", "{}:{}: expected \\end\\, got '{}'", source_, line_, clip(line));
    while (next(line)) KILN_CHECK(line.empty(), "{}:{}: text after \\end\\", source_, line_);
  }

 private:
  bool next(std::string& line) {
    if (pending_) {
      line = std::move(*pending_);
      pending_.reset();
      return true;
    }
    if (!std::getline(in_, line)) return false;
    ++line_;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return true;
  }

  // Fields of a corrupt file, escaped and cut so that a message stays one line.
  static std::string clip(std::string_view s) { return printable(s, 40); }

  uint64_t integer(std::string_view text) {
    uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    KILN_CHECK(error == std::errc() && end == text.data() + text.size(), "{}:{}: '{}' is not a count", source_, line_,
               clip(text));
    return value;
  }

  // Parsed straight to float (correctly rounded), as KenLM stores it.
  float number(std::string_view text) {
    KILN_CHECK(!text.empty(), "{}:{}: missing number", source_, line_);
    std::string_view digits = text;
    if (digits.size() > 1 && digits[0] == '+') digits.remove_prefix(1);
    float value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    KILN_CHECK(error == std::errc() && end == digits.data() + digits.size() && std::isfinite(value),
               "{}:{}: '{}' is not a number", source_, line_, clip(text));
    return value;
  }

  WordId word_id(std::string_view word, int n) {
    if (n == 1) {
      KILN_CHECK(ids_.find(word) == ids_.end(), "{}:{}: duplicate unigram '{}'", source_, line_, clip(word));
      WordId id;
      if (word == "<unk>") id = kUnk;
      else if (word == "<s>") id = kBos;
      else if (word == "</s>") id = kEos;
      else id = static_cast<WordId>(std::max<size_t>(vocab_.size(), 3));
      if (vocab_.size() < 3) vocab_.resize(3);
      if (id >= vocab_.size()) vocab_.resize(id + 1);
      vocab_[id] = std::string(word);
      ids_.emplace(std::string(word), id);
      return id;
    }
    auto it = ids_.find(word);
    KILN_CHECK(it != ids_.end(), "{}:{}: word '{}' is not among the unigrams", source_, line_, clip(word));
    return it->second;
  }

  void read_section(int n, uint64_t count, size_t highest) {
    std::string line;
    while (next(line) && line.empty()) {
    }
    KILN_CHECK(line == fmt::format("\\{}-grams:", n), "{}:{}: expected \\{}-grams:, got '{}'", source_, line_, n,
               clip(line));
    std::vector<WordId> ids;
    for (uint64_t i = 0; i < count; ++i) {
      KILN_CHECK(next(line) && !line.empty() && line[0] != '\\', "{}:{}: the {}-gram section has fewer than the {} "
                 "entries \\data\\ announced", source_, line_, n, count);
      const size_t tab1 = line.find('\t');
      KILN_CHECK(tab1 != std::string::npos, "{}:{}: expected 'prob<TAB>n-gram[<TAB>backoff]'", source_, line_);
      const size_t tab2 = line.find('\t', tab1 + 1);
      float prob = number(std::string_view(line).substr(0, tab1));
      const std::string_view words = std::string_view(line).substr(tab1 + 1, tab2 == std::string::npos ? std::string::npos : tab2 - tab1 - 1);
      const float backoff = tab2 == std::string::npos ? 0.0f : number(std::string_view(line).substr(tab2 + 1));
      ids.clear();
      for_each_word(words, [&](std::string_view w) {
        KILN_CHECK(static_cast<int>(ids.size()) < n, "{}:{}: expected {} words, got more", source_, line_, n);
        ids.push_back(word_id(w, n));
      });
      KILN_CHECK(static_cast<int>(ids.size()) == n, "{}:{}: expected {} words, got {}", source_, line_, n, ids.size());
      if (n == 1 && ids[0] == kBos && prob <= -99.0f) prob = 0.0f;  // SRILM writes −99 for <s>
      KILN_CHECK(prob <= 0.0f, "{}:{}: positive log probability {}", source_, line_, prob);
      KILN_CHECK(static_cast<size_t>(n) < highest || backoff == 0.0f, "{}:{}: a backoff on the highest order",
                 source_, line_);
      KILN_CHECK(sink_.add(n, ids, prob, backoff), "{}:{}: duplicate {}-gram '{}'", source_, line_, n, clip(words));
    }
    if (next(line) && !line.empty()) {
      KILN_CHECK(line[0] == '\\', "{}:{}: the {}-gram section has more than the {} entries \\data\\ announced",
                 source_, line_, n, count);
      pending_ = line;  // the next section's header
    }
  }

  std::istream& in_;
  std::string source_;
  uint64_t line_ = 0;
  std::optional<std::string> pending_;
  template <typename Visit>
  static void for_each_word(std::string_view text, Visit visit) {
    auto separator = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\0'; };
    size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && separator(text[i])) ++i;
      const size_t start = i;
      while (i < text.size() && !separator(text[i])) ++i;
      if (i > start) visit(text.substr(start, i - start));
    }
  }

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  ArpaSink& sink_;
  std::vector<std::string> vocab_;  // id → word
  std::unordered_map<std::string, WordId, Hash, std::equal_to<>> ids_;
};

// The whole model in memory, each order's duplicates found by an NgramLookup.
class ModelSink final : public ArpaSink {
 public:
  void begin(const std::vector<uint64_t>& counts) override {
    model_.orders.resize(counts.size());
    for (size_t n = 1; n <= counts.size(); ++n) {
      model_.orders[n - 1].n = static_cast<int>(n);
      seen_.emplace_back(model_.orders[n - 1].words, static_cast<int>(n));
    }
  }
  bool add(int n, std::span<const WordId> ngram, float log10_prob, float log10_backoff) override {
    OrderTable& table = model_.orders[static_cast<size_t>(n) - 1];
    const size_t position = table.size();
    table.words.insert(table.words.end(), ngram.begin(), ngram.end());
    if (seen_[static_cast<size_t>(n) - 1].insert(position).has_value()) return false;
    table.log10_prob.push_back(log10_prob);
    table.log10_backoff.push_back(log10_backoff);
    return true;
  }
  void vocabulary(const std::vector<std::string>& vocab) override { model_.vocab = vocab; }
  BackoffModel take() { return std::move(model_); }

 private:
  BackoffModel model_;
  std::vector<NgramLookup> seen_;
};

}  // namespace

void read_arpa(std::istream& in, const std::string& source, ArpaSink& sink) { ArpaParser(in, source, sink).parse(); }

void read_arpa(const std::filesystem::path& path, ArpaSink& sink) {
  std::ifstream in(path);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  read_arpa(in, path.string(), sink);
}

BackoffModel read_arpa(std::istream& in, const std::string& source) {
  ModelSink sink;
  read_arpa(in, source, sink);
  return sink.take();
}

BackoffModel read_arpa(const std::filesystem::path& path) {
  ModelSink sink;
  read_arpa(path, sink);
  return sink.take();
}

}  // namespace kiln::ngram
