#include "kiln/models/ngram/estimate_out_of_core.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <span>
#include <string>

#include <fmt/format.h>

#include "kiln/base/bounded_queue.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/ngram/arpa.hpp"
#include "kiln/models/ngram/external_sort.hpp"
#include "kneser_ney_arithmetic.hpp"

namespace kiln::ngram {

namespace fs = std::filesystem;

namespace {

// Record layouts, each an n-gram's n ids followed by:
//   level    adjusted count (2 lanes), raw count (2)      suffix order
//   context  adjusted count (2), pruned flag (1)          context order
//   child    own probability, γ of its context            suffix order
//   prob     probability                                  suffix order
//   gamma    γ, has kept children                         suffix order
size_t level_lanes(size_t n) { return n + 4; }
size_t context_lanes(size_t n) { return n + 3; }
size_t child_lanes(size_t n) { return n + 2; }
size_t prob_lanes(size_t n) { return n + 1; }
size_t gamma_lanes(size_t n) { return n + 2; }

using CountSource = std::function<const uint32_t*()>;  // count records in suffix order; nullptr at the end

class StageProgress {
 public:
  StageProgress(const OutOfCoreOptions& options, std::string name, uint64_t total)
      : options_(options), name_(std::move(name)), total_(total) {
    report();
  }
  void tick() {
    if ((++done_ & 0xffff) == 0) report();
  }
  void finish() {
    total_ = done_;
    report();
  }
  void set(uint64_t done, uint64_t total) {
    done_ = done;
    total_ = total;
    report();
  }

 private:
  void report() {
    if (options_.progress) options_.progress(name_, done_, total_);
  }
  const OutOfCoreOptions& options_;
  std::string name_;
  uint64_t done_ = 0, total_;
};

// Writes one order's level file, merging consecutive records with equal ids,
// and counts its counts-of-counts as lmplz does: from adjusted counts, except
// that below the highest order the last n-gram enters with its raw count.
class LevelWriter {
 public:
  LevelWriter(fs::path path, size_t n, bool highest, const EstimateOptions& options, size_t buffer_bytes)
      : out_(std::move(path), level_lanes(n), buffer_bytes), n_(n), options_(options),
        last_uses_raw_(options.kenlm_counts_of_counts && !highest), pending_(level_lanes(n)) {}

  void add(const uint32_t* ids, uint64_t adjusted, uint64_t raw) {
    if (has_pending_ && same_ngram(ids, pending_.data(), n_)) {
      put_u64(&pending_[n_], get_u64(&pending_[n_]) + adjusted);
      put_u64(&pending_[n_ + 2], get_u64(&pending_[n_ + 2]) + raw);
      return;
    }
    if (has_pending_) write_pending(get_u64(&pending_[n_]));
    std::copy_n(ids, n_, pending_.begin());
    put_u64(&pending_[n_], adjusted);
    put_u64(&pending_[n_ + 2], raw);
    has_pending_ = true;
  }
  // The counts-of-counts n1..n4.
  std::array<uint64_t, 4> close() {
    if (has_pending_) write_pending(get_u64(&pending_[last_uses_raw_ ? n_ + 2 : n_]));
    has_pending_ = false;
    out_.close();
    return counts_of_counts_;
  }
  uint64_t records() const { return out_.records(); }
  // Those not pruned: the n-grams of this order that the ARPA file will hold.
  uint64_t kept() const { return kept_; }
  const fs::path& path() const { return out_.path(); }

 private:
  void write_pending(uint64_t counted_as) {
    if (counted_as >= 1 && counted_as <= 4) ++counts_of_counts_[counted_as - 1];
    kept_ += !is_pruned({pending_.data(), n_}, get_u64(&pending_[n_ + 2]), options_);
    out_.write(pending_.data());
  }

  RecordWriter out_;
  size_t n_;
  const EstimateOptions& options_;
  uint64_t kept_ = 0;
  bool last_uses_raw_;
  std::vector<uint32_t> pending_;
  bool has_pending_ = false;
  std::array<uint64_t, 4> counts_of_counts_{};
};

// Writes the ARPA file on a thread of its own, order by order (ascending),
// joining each order's probabilities with the γ of its contexts as soon as the
// estimate hands both over; the highest order's probabilities arrive in
// blocks while they are interpolated. Nothing appears at `arpa` unless
// finish() returns. The counts for the header are known before any entry:
// LevelWriter counts what pruning keeps.
class OrderByOrderArpaWriter {
 public:
  OrderByOrderArpaWriter(const fs::path& arpa, const std::vector<std::string>& vocab, std::vector<uint64_t> counts)
      : writer_(arpa, vocab, counts), counts_(std::move(counts)), orders_(counts_.size()), top_blocks_(4),
        thread_([this] { write_orders(); }) {}
  OrderByOrderArpaWriter(const OrderByOrderArpaWriter&) = delete;
  OrderByOrderArpaWriter& operator=(const OrderByOrderArpaWriter&) = delete;
  ~OrderByOrderArpaWriter() {
    abandoned_ = true;
    orders_.close();
    top_blocks_.close();
    // thread_ (a jthread) joins here, before writer_ removes its temporary file.
  }

  // The next order's probabilities (suffix order) and, below the highest
  // order, the γ of every n-gram that is a context one order up; the files
  // may be removed once handed over. Never waits: the queue holds every order.
  void order_ready(std::unique_ptr<RecordReader> probs, std::unique_ptr<RecordReader> gammas = {}) {
    orders_.push(OrderFiles{std::move(probs), std::move(gammas)});
  }

  // The highest order instead as blocks of probability records in suffix
  // order, handed over while they are made; an empty block ends them. Waits
  // while the writer is behind; false once it has stopped (finish() says why).
  void streamed_top_order_begins() { orders_.push(OrderFiles{}); }
  bool top_order_block(std::vector<uint32_t> block) { return top_blocks_.push(std::move(block)); }

  // Waits for the writing to end, showing what is left, then commits.
  void finish(StageProgress progress) {
    uint64_t total = 0;
    for (uint64_t c : counts_) total += c;
    std::unique_lock lock(mutex_);
    while (!done_) {
      progress.set(written_.load(std::memory_order_relaxed), total);
      writing_ended_.wait_for(lock, std::chrono::milliseconds(200));
    }
    lock.unlock();
    thread_.join();
    if (error_) std::rethrow_exception(error_);
    writer_.commit();
    progress.set(total, total);
  }

 private:
  struct OrderFiles {
    std::unique_ptr<RecordReader> probs, gammas;  // no probs: the streamed highest order
  };

  void write_orders() {
    try {
      for (size_t n = 1; n <= counts_.size() && !abandoned_; ++n) {
        std::optional<OrderFiles> order = orders_.pop();
        if (!order) break;
        if (order->probs) write_order(n, *order->probs, order->gammas.get());
        else write_streamed_order(n);
      }
    } catch (...) {
      error_ = std::current_exception();
      top_blocks_.close();  // the estimate stops waiting for room
    }
    finish_writing();
  }

  // log10 p, and log10 γ where the n-gram is the context of a kept n-gram one
  // order up (never for ones ending in </s> or <unk>, as lmplz).
  void write_order(size_t n, RecordReader& probs, RecordReader* gammas) {
    const uint32_t* g = gammas != nullptr ? gammas->next() : nullptr;
    while (const uint32_t* p = probs.next()) {
      if (abandoned_) return;
      while (g != nullptr && ngram_before(NgramOrder::suffix, g, p, n)) g = gammas->next();
      const bool is_context = g != nullptr && same_ngram(g, p, n);
      const bool backs_off = is_context && g[n + 1] != 0 && p[n - 1] != kEos && p[n - 1] != kUnk;
      add({p, n}, arpa_log10_prob(get_float(p + n)), backs_off ? arpa_log10_backoff(get_float(g + n)) : 0.0f);
    }
  }

  void write_streamed_order(size_t n) {
    while (!abandoned_) {
      const std::optional<std::vector<uint32_t>> block = top_blocks_.pop();
      if (!block || block->empty()) return;
      for (size_t at = 0; at < block->size(); at += prob_lanes(n))
        add({block->data() + at, n}, arpa_log10_prob(get_float(block->data() + at + n)), 0.0f);
    }
  }

  void add(std::span<const uint32_t> ngram, float log10_prob, float log10_backoff) {
    writer_.add(ngram, log10_prob, log10_backoff);
    if (++since_report_ == 4096) {
      written_.fetch_add(since_report_, std::memory_order_relaxed);
      since_report_ = 0;
    }
  }

  void finish_writing() {
    written_.fetch_add(since_report_, std::memory_order_relaxed);
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    writing_ended_.notify_all();
  }

  ArpaWriter writer_;
  std::vector<uint64_t> counts_;
  BoundedQueue<OrderFiles> orders_;                 // orders 1, 2, … as they are handed over
  BoundedQueue<std::vector<uint32_t>> top_blocks_;  // the highest order, a few blocks ahead
  std::atomic<bool> abandoned_{false};
  std::mutex mutex_;  // guards done_
  std::condition_variable writing_ended_;
  bool done_ = false;
  std::exception_ptr error_;
  uint64_t since_report_ = 0;  // the writing thread's alone
  std::atomic<uint64_t> written_{0};
  std::jthread thread_;  // last: starts once the members above exist
};

class Pipeline {
 public:
  Pipeline(int order, const Vocabulary& vocab, const EstimateOptions& options, const OutOfCoreOptions& out_of_core)
      : order_(static_cast<size_t>(order)),
        options_(options),
        out_of_core_(out_of_core),
        folder_(out_of_core.temp_dir),
        io_bytes_(std::clamp<uint64_t>(out_of_core.memory_bytes / 32, uint64_t{64} << 10, uint64_t{1} << 20)),
        sort_bytes_(sort_budget(vocab)),
        levels_(order_ + 1),
        coc_(order_ + 1),
        discounts_(order_ + 1) {}

  std::vector<uint64_t> run(const CountSource& top, const Vocabulary& vocab, const fs::path& arpa,
                            EstimateReport& report) {
    split_padding(top);
    for (size_t n = order_ - 1; n >= 1; --n) derive_lower(n);
    choose_discounts(report);
    // Each order's entries are complete once the order above is normalised:
    // the writer joins and formats them on the other core while the estimate
    // goes on, and formats the highest order as it is interpolated.
    OrderByOrderArpaWriter writer(arpa, vocab.words(), kept_);
    fs::path probs = unigram_probabilities();
    for (size_t n = 2; n <= order_; ++n) {
      const fs::path gammas = folder_.new_file(fmt::format("gamma{}", n - 1));
      ExternalSorter children(folder_, {n, child_lanes(n), NgramOrder::suffix}, sort_bytes() / 2);
      context_pass(n, gammas, children);
      writer.order_ready(std::make_unique<RecordReader>(probs, prob_lanes(n - 1), io_bytes_),
                         std::make_unique<RecordReader>(gammas, gamma_lanes(n - 1), io_bytes_));
      fs::remove(gammas);
      const fs::path lower = probs;
      probs = interpolate_order(n, children, lower, n == order_ ? &writer : nullptr);
      fs::remove(lower);
    }
    if (order_ == 1) writer.order_ready(std::make_unique<RecordReader>(probs, prob_lanes(1), io_bytes_));
    if (!probs.empty()) fs::remove(probs);
    writer.finish(StageProgress(out_of_core_, "write", 0));
    return kept_;
  }

 private:
  uint64_t sort_bytes() const { return sort_bytes_; }

  // The budget less what stays resident beside the sort buffers: the
  // vocabulary (its strings, the map's nodes and buckets: about 128 bytes a
  // word, plus the text of words too long to be stored inline; the ARPA
  // writer's 16-byte slot per word), a buffer for each of the few files open
  // at once, the blocks on their way to the writer and its text buffer. Never below half the budget.
  uint64_t sort_budget(const Vocabulary& vocab) const {
    uint64_t resident = 14 * io_bytes_ + (uint64_t{2} << 20);
    for (const std::string& word : vocab.words()) resident += 144 + (word.size() > 15 ? 3 * (word.size() + 1) : 0);
    const uint64_t memory = out_of_core_.memory_bytes;
    return std::max(memory / 2, memory > resident ? memory - resident : 0);
  }

  // The top order's records, with <s>-padding n-grams moved (with their
  // counts) to the shorter n-gram starting at their last <s>.
  void split_padding(const CountSource& top) {
    std::vector<std::unique_ptr<RecordWriter>> padding(order_);
    for (size_t n = 1; n < order_; ++n)
      padding[n] = std::make_unique<RecordWriter>(folder_.new_file(fmt::format("padding{}", n)), n + 2, io_bytes_ / 4);
    LevelWriter highest(folder_.new_file(fmt::format("level{}", order_)), order_, true, options_, io_bytes_);
    std::vector<uint32_t> record(order_ + 2);
    // <unk> never occurs and <s> is never predicted: both are unigrams with count 0.
    const std::array<WordId, 2> specials{kUnk, kBos};
    if (order_ == 1)
      for (WordId w : specials) highest.add(&w, 0, 0);
    else
      for (WordId w : specials) {
        record[0] = w;
        put_u64(&record[1], 0);
        padding[1]->write(record.data());
      }
    StageProgress progress(out_of_core_, fmt::format("merge {}-gram counts", order_), 0);
    while (const uint32_t* g = top()) {
      const uint64_t count = get_u64(g + order_);
      progress.tick();
      if (order_ >= 2 && g[1] == kBos) {
        size_t last_bos = 1;
        while (last_bos + 1 < order_ && g[last_bos + 1] == kBos) ++last_bos;
        const size_t n = order_ - last_bos;
        std::copy_n(g + last_bos, n, record.begin());
        put_u64(&record[n], count);
        padding[n]->write(record.data());
        continue;
      }
      highest.add(g, count, count);
    }
    progress.finish();
    for (size_t n = 1; n < order_; ++n) {
      padding[n]->close();
      padding_[n] = padding[n]->path();
    }
    coc_[order_] = highest.close();
    levels_[order_] = highest.path();
    level_sizes_[order_] = highest.records();
    kept_[order_ - 1] = highest.kept();
  }

  // Order n from order n+1: each distinct suffix with its continuation count
  // (the number of words seen before it) and its occurrences, merged by
  // position with the padding n-grams that start with <s> (raw counts).
  void derive_lower(size_t n) {
    ExternalSorter padding(folder_, {n, n + 2, NgramOrder::suffix}, sort_bytes(), summing_counts(static_cast<int>(n)));
    {
      RecordReader unsorted(padding_[n], n + 2, io_bytes_);
      while (const uint32_t* r = unsorted.next()) padding.add(r);
    }
    fs::remove(padding_[n]);
    LevelWriter level(folder_.new_file(fmt::format("level{}", n)), n, false, options_, io_bytes_);
    RecordReader above(levels_[n + 1], level_lanes(n + 1), io_bytes_);
    StageProgress progress(out_of_core_, fmt::format("adjust {}-grams", n), level_sizes_[n + 1]);
    const uint32_t* a = above.next();
    const uint32_t* p = padding.next();
    while (a != nullptr || p != nullptr) {
      // Padding first among equals: the sums do not depend on it.
      if (p != nullptr && (a == nullptr || !ngram_before(NgramOrder::suffix, a + 1, p, n))) {
        level.add(p, get_u64(p + n), get_u64(p + n));
        p = padding.next();
      } else {
        level.add(a + 1, 1, get_u64(a + n + 1 + 2));
        a = above.next();
        progress.tick();
      }
    }
    progress.finish();
    coc_[n] = level.close();
    levels_[n] = level.path();
    level_sizes_[n] = level.records();
    kept_[n - 1] = level.kept();
  }

  // Discounts from counts-of-counts of all n-grams, pruned or not; checked
  // from the highest order down, as the in-memory estimate does.
  void choose_discounts(EstimateReport& report) {
    report.counts_of_counts.assign(order_, {});
    report.discounts.assign(order_, {});
    report.fell_back.assign(order_, false);
    for (size_t n = order_; n >= 1; --n) {
      const auto& c = coc_[n];
      const auto d = closed_form_discounts(c);
      KILN_CHECK(d || options_.discount_fallback,
                 "could not estimate discounts for order {} from counts-of-counts {}, {}, {}, {} "
                 "(is the corpus very small or artificial? --discount-fallback uses fixed discounts)",
                 n, c[0], c[1], c[2], c[3]);
      discounts_[n] = d ? *d : *options_.discount_fallback;
      report.counts_of_counts[n - 1] = c;
      report.discounts[n - 1] = discounts_[n];
      report.fell_back[n - 1] = !d;
    }
  }

  bool pruned(const uint32_t* level_record, size_t n) const {
    return is_pruned({level_record, n}, get_u64(level_record + n + 2), options_);
  }

  // The unigrams: one context, interpolated with the uniform distribution
  // over the kept words without <s>; <s> gets probability 1.
  fs::path unigram_probabilities() {
    ContextSums sums;
    uint64_t kept = 0;
    {
      RecordReader level(levels_[1], level_lanes(1), io_bytes_);
      while (const uint32_t* r = level.next()) {
        const bool drop = pruned(r, 1);
        sums.add(get_u64(r + 1), drop);
        kept += !drop;
      }
    }
    const float gamma = interpolation_weight(discounts_[1], sums);
    const float uniform = uniform_probability(kept);
    RecordWriter probs(folder_.new_file("prob1"), prob_lanes(1), io_bytes_);
    RecordReader level(levels_[1], level_lanes(1), io_bytes_);
    StageProgress progress(out_of_core_, "interpolate 1-grams", level_sizes_[1]);
    std::array<uint32_t, 2> out{};
    while (const uint32_t* r = level.next()) {
      progress.tick();
      if (pruned(r, 1)) continue;
      const float own = own_probability(discounts_[1], get_u64(r + 1), sums.denominator);
      out[0] = r[0];
      put_float(&out[1], r[0] == kBos ? 1.0f : interpolate(own, gamma, uniform));
      probs.write(out.data());
    }
    progress.finish();
    probs.close();
    fs::remove(levels_[1]);
    return probs.path();
  }

  // Order n in context order: per context h, den(h) = Σ a(hx) over all its
  // children and γ(h); each kept child's own share (a − D(a))/den(h) and γ(h)
  // go to a sort back into suffix order, and γ(h) with whether h has kept
  // children to `gammas` (in the suffix order of order n−1).
  void context_pass(size_t n, const fs::path& gammas, ExternalSorter& children) {
    const uint64_t half = sort_bytes() / 2;
    ExternalSorter by_context(folder_, {n, context_lanes(n), NgramOrder::context}, half);
    {
      RecordReader level(levels_[n], level_lanes(n), io_bytes_);
      std::vector<uint32_t> record(context_lanes(n));
      while (const uint32_t* r = level.next()) {
        std::copy_n(r, n + 2, record.begin());
        record[n + 2] = pruned(r, n);
        by_context.add(record.data());
      }
    }
    fs::remove(levels_[n]);
    RecordWriter gamma_out(gammas, gamma_lanes(n - 1), io_bytes_);
    StageProgress progress(out_of_core_, fmt::format("normalise {}-grams", n), level_sizes_[n]);
    const Discount& d = discounts_[n];
    std::vector<uint32_t> group, child(child_lanes(n)), context(gamma_lanes(n - 1));
    const size_t lanes = context_lanes(n);
    // The children of one context, at most one per word of the vocabulary.
    auto finish_group = [&] {
      if (group.empty()) return;
      ContextSums sums;
      bool has_kept = false;
      for (size_t at = 0; at < group.size(); at += lanes) {
        sums.add(get_u64(&group[at + n]), group[at + n + 2] != 0);
        has_kept |= group[at + n + 2] == 0;
      }
      const float gamma = sums.denominator > 0 ? interpolation_weight(d, sums) : 0.0f;
      std::copy_n(group.begin(), n - 1, context.begin());
      put_float(&context[n - 1], gamma);
      context[n] = has_kept;
      gamma_out.write(context.data());
      for (size_t at = 0; at < group.size(); at += lanes) {
        if (group[at + n + 2] != 0) continue;
        std::copy_n(group.begin() + static_cast<std::ptrdiff_t>(at), n, child.begin());
        put_float(&child[n], own_probability(d, get_u64(&group[at + n]), sums.denominator));
        put_float(&child[n + 1], gamma);
        children.add(child.data());
      }
      group.clear();
    };
    while (const uint32_t* r = by_context.next()) {
      progress.tick();
      if (!group.empty() && !same_ngram(r, group.data(), n - 1)) finish_group();
      group.insert(group.end(), r, r + lanes);
    }
    finish_group();
    progress.finish();
    gamma_out.close();
  }

  // p(hx) = own + γ(h)·p(suffix), the suffix's probability read in step from
  // order n−1 (suffix order on both sides). Written to a file for the order
  // above, or, for the highest order, handed to `top` in blocks (no file).
  fs::path interpolate_order(size_t n, ExternalSorter& children, const fs::path& lower_probs,
                             OrderByOrderArpaWriter* top) {
    std::optional<RecordWriter> out;
    if (top == nullptr) out.emplace(folder_.new_file(fmt::format("prob{}", n)), prob_lanes(n), io_bytes_);
    else top->streamed_top_order_begins();
    const size_t block_records = std::max<size_t>(1, io_bytes_ / (prob_lanes(n) * sizeof(uint32_t)));
    std::vector<uint32_t> block;
    RecordReader lower(lower_probs, prob_lanes(n - 1), io_bytes_);
    StageProgress progress(out_of_core_, fmt::format("interpolate {}-grams", n), 0);
    const uint32_t* l = lower.next();
    std::vector<uint32_t> record(prob_lanes(n));
    bool writer_stopped = false;
    while (const uint32_t* c = children.next()) {
      progress.tick();
      while (l != nullptr && ngram_before(NgramOrder::suffix, l, c + 1, n - 1)) l = lower.next();
      KILN_CHECK(l != nullptr && same_ngram(l, c + 1, n - 1), "estimate: internal error, a suffix is missing");
      std::copy_n(c, n, record.begin());
      put_float(&record[n], interpolate_probability(c, l, n));
      if (out) {
        out->write(record.data());
        continue;
      }
      block.insert(block.end(), record.begin(), record.end());
      if (block.size() == block_records * record.size()) {
        if (!top->top_order_block(std::move(block))) {
          writer_stopped = true;
          break;
        }
        block = {};
        block.reserve(block_records * record.size());
      }
    }
    progress.finish();
    if (!out) {
      if (!writer_stopped && !block.empty()) writer_stopped = !top->top_order_block(std::move(block));
      if (!writer_stopped) top->top_order_block({});
      return {};
    }
    out->close();
    return out->path();
  }

  static float interpolate_probability(const uint32_t* child, const uint32_t* lower, size_t n) {
    return interpolate(get_float(child + n), get_float(child + n + 1), get_float(lower + n - 1));
  }

  size_t order_;
  const EstimateOptions& options_;
  const OutOfCoreOptions& out_of_core_;
  TempFolder folder_;
  uint64_t io_bytes_;    // per file being read or written
  uint64_t sort_bytes_;  // for the sort buffers alive at one time
  std::vector<fs::path> levels_;  // levels_[n]: order n's level file, while needed
  std::vector<fs::path> padding_{std::vector<fs::path>(order_)};
  std::vector<uint64_t> level_sizes_{std::vector<uint64_t>(order_ + 1)};
  std::vector<uint64_t> kept_{std::vector<uint64_t>(order_)};  // kept_[n − 1]: order n's n-grams in the ARPA file
  std::vector<std::array<uint64_t, 4>> coc_;
  std::vector<Discount> discounts_;
};

std::vector<uint64_t> run_pipeline(int order, const CountSource& top, const Vocabulary& vocab,
                                   const EstimateOptions& options, const OutOfCoreOptions& out_of_core,
                                   const fs::path& arpa, EstimateReport* report) {
  KILN_CHECK(order >= 1, "estimate: no n-grams");
  for (size_t i = 1; i < options.prune.size(); ++i)
    KILN_CHECK(options.prune[i] >= options.prune[i - 1], "--prune thresholds must not decrease");
  KILN_CHECK(options.prune.size() <= static_cast<size_t>(order),
             "--prune gives thresholds for {} orders but the model has order {}", options.prune.size(), order);
  EstimateReport local;
  Pipeline pipeline(order, vocab, options, out_of_core);
  return pipeline.run(top, vocab, arpa, report != nullptr ? *report : local);
}

}  // namespace

std::vector<uint64_t> estimate_to_arpa_out_of_core(const SpilledCounts& counts, const Vocabulary& vocab,
                                                   const EstimateOptions& options, const OutOfCoreOptions& out_of_core,
                                                   const fs::path& arpa, EstimateReport* report) {
  // The merge reads while the first pass writes level and padding files.
  RunMerger merger = counts.merge(out_of_core.memory_bytes / 2);
  return run_pipeline(counts.order(), [&] { return merger.next(); }, vocab, options, out_of_core, arpa, report);
}

std::vector<uint64_t> estimate_to_arpa_out_of_core(NgramCounts counts, const Vocabulary& vocab,
                                                   const EstimateOptions& options, const OutOfCoreOptions& out_of_core,
                                                   const fs::path& arpa, EstimateReport* report) {
  KILN_CHECK(counts.size() > 0, "estimate: no n-grams");
  const size_t n = static_cast<size_t>(counts.order);
  size_t next = 0;
  std::vector<uint32_t> record(n + 2);
  CountSource source = [&]() -> const uint32_t* {
    if (next == counts.size()) {
      NgramCounts().words.swap(counts.words);  // on disk now: give the memory back
      std::vector<uint64_t>().swap(counts.counts);
      return nullptr;
    }
    const auto ids = counts.ngram(next);
    std::copy(ids.begin(), ids.end(), record.begin());
    put_u64(&record[n], counts.counts[next++]);
    return record.data();
  };
  return run_pipeline(counts.order, source, vocab, options, out_of_core, arpa, report);
}

}  // namespace kiln::ngram
