#pragma once
// Data-parallel gradient summation, as PyTorch DDP does it: parameters are
// grouped into buckets of about `bucket_bytes`; while backward is still
// running, a bucket whose gradients are all final is copied into one flat
// buffer and its sum over ranks is started without waiting. finish() starts
// the rest, waits, and writes the sums back into every .grad().
//
// "Final" is learned: the first reduced step counts how many times backward
// accumulates into each parameter and reduces everything at the end; later
// steps start a bucket once each of its parameters has been accumulated that
// many times. Buckets always start in the same order on every rank (MPI
// collectives must match), and a parameter that received no gradient on a
// rank (an MoE expert without tokens there) takes part with zeros.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "kiln/tensor/tensor.hpp"
#include "kiln/train/communicator.hpp"

namespace kiln::train {

class GradientReducer {
 public:
  GradientReducer(Communicator& comm, std::map<std::string, Tensor> parameters, int64_t bucket_bytes = 4 << 20);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Before the backward pass whose gradients are the step's last (with
  // accumulation: the last micro-batch).
  void arm();
  // After that backward: every .grad() then holds the sum over ranks.
  void finish();

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  double communication_seconds() const { return communication_seconds_; }  // blocked in wait/start, last step

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into params_
    int64_t floats = 0;
    std::vector<float> flat;
    size_t waiting = 0;  // members not final yet
    bool started = false;
  };
  void on_accumulated(size_t param);
  void start_ready_buckets();
  void start(Bucket& bucket);

  Communicator& comm_;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<size_t> bucket_of_;
  std::vector<int64_t> fired_, expected_;
  std::vector<Bucket> buckets_;
  size_t next_bucket_ = 0;
  bool armed_ = false, learned_ = false;
  double communication_seconds_ = 0;
};

}  // namespace kiln::train
