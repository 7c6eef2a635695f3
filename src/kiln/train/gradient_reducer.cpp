#include "kiln/train/gradient_reducer.hpp"

#include <cstring>

#include "kiln/autograd/engine.hpp"
#include "kiln/base/error.hpp"

namespace kiln::train {

namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

GradientReducer::GradientReducer(Communicator& comm, std::map<std::string, Tensor> parameters, int64_t bucket_bytes)
    : comm_(comm) {
  // Reverse name order puts later layers first, roughly the order backward finishes them.
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) params_.emplace_back(it->first, it->second);
  const int64_t bucket_floats = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(float)));
  bucket_of_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    if (buckets_.empty() || buckets_.back().floats >= bucket_floats) buckets_.emplace_back();
    Bucket& b = buckets_.back();
    b.members.push_back(i);
    b.floats += params_[i].second.numel();
    bucket_of_[i] = buckets_.size() - 1;
  }
  for (Bucket& b : buckets_) b.flat.resize(static_cast<size_t>(b.floats));
  fired_.assign(params_.size(), 0);
  expected_.assign(params_.size(), 0);
  if (comm_.size() > 1)
    for (size_t i = 0; i < params_.size(); ++i) set_gradient_hook(params_[i].second, [this, i] { on_accumulated(i); });
}

GradientReducer::~GradientReducer() {
  if (comm_.size() > 1)
    for (auto& [name, p] : params_) set_gradient_hook(p, {});
}

void GradientReducer::arm() {
  if (comm_.size() == 1) return;
  armed_ = true;
  next_bucket_ = 0;
  std::fill(fired_.begin(), fired_.end(), 0);
  for (Bucket& b : buckets_) {
    b.started = false;
    b.waiting = 0;
    for (size_t i : b.members) b.waiting += expected_[i] > 0 ? 1 : 0;
    // A bucket with a parameter that never got a gradient while learning waits for finish().
    for (size_t i : b.members)
      if (!learned_ || expected_[i] == 0) b.waiting = params_.size() + 1;
  }
  communication_seconds_ = 0;
}

void GradientReducer::on_accumulated(size_t param) {
  if (!armed_) return;
  ++fired_[param];
  if (!learned_ || fired_[param] != expected_[param]) {
    KILN_CHECK(!learned_ || fired_[param] < expected_[param] || !buckets_[bucket_of_[param]].started,
               "gradient of '{}' arrived after its bucket was reduced (the graph changed between steps)",
               params_[param].first);
    return;
  }
  Bucket& b = buckets_[bucket_of_[param]];
  if (b.waiting <= params_.size() && --b.waiting == 0) start_ready_buckets();
  comm_.poll();
}

void GradientReducer::start_ready_buckets() {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].waiting == 0) start(buckets_[next_bucket_++]);
}

void GradientReducer::start(Bucket& b) {
  int64_t offset = 0;
  for (size_t i : b.members) {
    const Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    float* dst = b.flat.data() + offset;
    if (g.defined()) {
      const Tensor c = g.contiguous();
      std::memcpy(dst, c.data<float>(), static_cast<size_t>(p.numel()) * sizeof(float));
    } else {
      std::memset(dst, 0, static_cast<size_t>(p.numel()) * sizeof(float));
    }
    offset += p.numel();
  }
  const auto t0 = std::chrono::steady_clock::now();
  comm_.start_allreduce_sum(b.flat);
  communication_seconds_ += seconds(std::chrono::steady_clock::now() - t0);
  b.started = true;
}

void GradientReducer::finish() {
  if (comm_.size() == 1) return;
  KILN_CHECK(armed_, "GradientReducer::finish without arm()");
  armed_ = false;
  while (next_bucket_ < buckets_.size()) start(buckets_[next_bucket_++]);
  const auto t0 = std::chrono::steady_clock::now();
  comm_.wait_all();
  communication_seconds_ += seconds(std::chrono::steady_clock::now() - t0);
  for (Bucket& b : buckets_) {
    int64_t offset = 0;
    for (size_t i : b.members) {
      Tensor& p = params_[i].second;
      Tensor g = p.grad();
      if (!g.defined() || !g.is_contiguous()) {
        g = Tensor::empty(p.shape());
        p.set_grad(g);
      }
      std::memcpy(g.data<float>(), b.flat.data() + offset, static_cast<size_t>(p.numel()) * sizeof(float));
      offset += p.numel();
    }
  }
  if (!learned_) {
    expected_ = fired_;
    learned_ = true;
  }
}

}  // namespace kiln::train
