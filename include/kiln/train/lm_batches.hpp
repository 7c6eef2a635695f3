#pragma once
// Training and validation batches for a decoder LM, cut from one token stream
// (documents joined by an end-of-document id).
//
// A batch is B windows of T+1 tokens. Training windows start at positions
// drawn from Philox(seed, step), so batch k of a run is the same whether or
// not the run was interrupted and resumed. Validation windows tile the
// validation stream in order.
//
// Two attention layouts:
//  - documents (default): the B windows are packed into one row [1, B·T];
//    cu_seqlens split it at window boundaries and before every
//    end-of-document id, which starts the next document the way <s> starts an
//    n-gram sentence; positions restart at 0 there, and attention never
//    crosses a boundary. Every token is predicted exactly once, as in the
//    n-gram model's perplexity. No padding exists, so no FLOPs go to it.
//  - stream: DeepSeek's pretraining layout — rows [B, T], plain causal
//    attention across document boundaries, positions 0..T−1.
#include <cstdint>
#include <vector>

#include "kiln/models/gpt/model.hpp"

namespace kiln::train {

enum class AttentionLayout { documents, stream };

class LmBatches {
 public:
  LmBatches(std::vector<int32_t> train, std::vector<int32_t> valid, int32_t eos_id, int64_t batch_size,
            int64_t context, AttentionLayout layout, uint64_t seed);

  models::DecoderBatch train_batch(int64_t step, int64_t micro_step) const;
  // Data parallelism: rank `shard` of `shards` takes windows
  // [shard·B/shards, (shard+1)·B/shards) of the same global batch, so any
  // number of ranks trains on the same data (and resumes onto any other).
  models::DecoderBatch train_batch(int64_t step, int64_t micro_step, int64_t shard, int64_t shards) const;
  // At most `limit` batches (0: all) tiling the validation tokens.
  std::vector<models::DecoderBatch> validation_batches(int64_t limit) const;
  int64_t tokens_per_batch() const { return batch_size_ * context_; }
  int64_t train_tokens() const { return static_cast<int64_t>(train_.size()); }
  int64_t valid_tokens() const { return static_cast<int64_t>(valid_.size()); }

  // Builds one batch from window start offsets into `tokens` (exposed for tests).
  models::DecoderBatch make_batch(const std::vector<int32_t>& tokens, const std::vector<int64_t>& starts) const;

 private:
  std::vector<int32_t> train_, valid_;
  int32_t eos_id_;
  int64_t batch_size_, context_;
  AttentionLayout layout_;
  uint64_t seed_;
};

}  // namespace kiln::train
