#include "kiln/train/lm_batches.hpp"

#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"

namespace kiln::train {

LmBatches::LmBatches(std::vector<int32_t> train, std::vector<int32_t> valid, int32_t eos_id, int64_t batch_size,
                     int64_t context, AttentionLayout layout, uint64_t seed)
    : train_(std::move(train)), valid_(std::move(valid)), eos_id_(eos_id), batch_size_(batch_size),
      context_(context), layout_(layout), seed_(seed) {
  KILN_CHECK(batch_size_ >= 1 && context_ >= 2, "batches need batch_size ≥ 1 and context ≥ 2");
  KILN_CHECK(static_cast<int64_t>(train_.size()) > context_ + 1,
             "the training split has {} tokens, fewer than one window of {} (lower train.context)", train_.size(),
             context_ + 1);
  KILN_CHECK(static_cast<int64_t>(valid_.size()) > context_ + 1,
             "the validation split has {} tokens, fewer than one window of {} (lower train.context)", valid_.size(),
             context_ + 1);
}

models::DecoderBatch LmBatches::train_batch(int64_t step, int64_t micro_step) const {
  return train_batch(step, micro_step, 0, 1);
}

models::DecoderBatch LmBatches::train_batch(int64_t step, int64_t micro_step, int64_t shard, int64_t shards) const {
  KILN_CHECK(shards >= 1 && shard >= 0 && shard < shards, "batch shard {} of {} is invalid", shard, shards);
  KILN_CHECK(shards <= batch_size_, "train.batch_size ({}) must be at least the number of ranks ({})", batch_size_,
             shards);
  const uint64_t range = train_.size() - static_cast<uint64_t>(context_) - 1;
  std::vector<int64_t> starts;
  const PhiloxKey key{seed_, (static_cast<uint64_t>(step) << 16) | static_cast<uint64_t>(micro_step)};
  for (int64_t r = 0; r < batch_size_; ++r) {
    const auto bits = philox_block(key, static_cast<uint64_t>(r));
    const uint64_t draw = (uint64_t{bits[0]} << 32) | bits[1];
    starts.push_back(static_cast<int64_t>(draw % range));
  }
  const int64_t first = shard * batch_size_ / shards, last = (shard + 1) * batch_size_ / shards;
  return make_batch(train_, std::vector<int64_t>(starts.begin() + first, starts.begin() + last));
}

std::vector<models::DecoderBatch> LmBatches::validation_batches(int64_t limit) const {
  std::vector<models::DecoderBatch> batches;
  std::vector<int64_t> starts;
  for (int64_t s = 0; s + context_ + 1 <= static_cast<int64_t>(valid_.size()); s += context_) {
    starts.push_back(s);
    if (static_cast<int64_t>(starts.size()) == batch_size_) {
      batches.push_back(make_batch(valid_, starts));
      starts.clear();
      if (limit > 0 && static_cast<int64_t>(batches.size()) == limit) return batches;
    }
  }
  if (!starts.empty()) {
    LmBatches partial = *this;
    partial.batch_size_ = static_cast<int64_t>(starts.size());
    batches.push_back(partial.make_batch(valid_, starts));
  }
  return batches;
}

models::DecoderBatch LmBatches::make_batch(const std::vector<int32_t>& tokens, const std::vector<int64_t>& starts) const {
  const int64_t rows = static_cast<int64_t>(starts.size()), t = context_;
  const bool packed = layout_ == AttentionLayout::documents;
  models::DecoderBatch batch;
  const Shape shape = packed ? Shape{1, rows * t} : Shape{rows, t};
  batch.tokens = Tensor::empty(shape, DType::i64);
  batch.targets = Tensor::empty(shape, DType::i64);
  batch.positions = Tensor::empty(shape, DType::i64);
  int64_t* in = batch.tokens.data<int64_t>();
  int64_t* out = batch.targets.data<int64_t>();
  int64_t* pos = batch.positions.data<int64_t>();
  std::vector<int64_t> cu{0};
  for (int64_t r = 0; r < rows; ++r) {
    int64_t position = 0;
    for (int64_t i = 0; i < t; ++i) {
      const int64_t at = r * t + i;
      const int32_t token = tokens[starts[r] + i];
      // An end-of-document id opens the next document, as <s> does for an
      // n-gram model: the last word still predicts it, and it predicts the
      // next document's first word, but nothing before it is visible.
      if (packed && token == eos_id_ && i > 0) {
        cu.push_back(at);
        position = 0;
      }
      in[at] = token;
      out[at] = tokens[starts[r] + i + 1];
      pos[at] = packed ? position : i;
      ++position;
    }
    cu.push_back((r + 1) * t);
  }
  if (packed) batch.cu_seqlens = Tensor::from<int64_t>(cu, {static_cast<int64_t>(cu.size())}).to(DType::i32);
  return batch;
}

}  // namespace kiln::train
