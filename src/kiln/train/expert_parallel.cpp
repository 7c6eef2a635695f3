#include "kiln/train/expert_parallel.hpp"

#include "kiln/optim/optimizer.hpp"

#include <cmath>
#include <cstring>

#include "kiln/base/error.hpp"

namespace kiln::train {

namespace {

class CommunicatorExchange final : public models::ExpertExchange {
 public:
  explicit CommunicatorExchange(std::unique_ptr<Communicator> comm) : comm_(std::move(comm)) {}
  int rank() const override { return comm_->rank(); }
  int size() const override { return comm_->size(); }
  void sum(std::span<int64_t> values) override { comm_->allreduce_sum(values); }
  void exchange(std::span<const float> send, const std::vector<int64_t>& send_counts, std::span<float> recv,
                const std::vector<int64_t>& recv_counts) override {
    comm_->alltoallv(send, send_counts, recv, recv_counts);
  }

 private:
  std::unique_ptr<Communicator> comm_;
};

}  // namespace

std::shared_ptr<models::ExpertExchange> make_expert_exchange(Communicator& comm) {
  return std::make_shared<CommunicatorExchange>(comm.duplicate());
}

std::map<std::string, Shape> routed_expert_shapes(const models::GptConfig& c) {
  std::map<std::string, Shape> shapes;
  const int64_t d = c.d_model, w = c.expert_width();
  for (int64_t layer = 0; layer < c.n_layer + c.mtp_depth; ++layer) {
    if (!c.is_moe_layer(layer)) continue;
    for (int64_t e = 0; e < c.moe.n_routed_experts; ++e) {
      const std::string p = fmt::format("model.layers.{}.mlp.experts.{}.", layer, e);
      shapes[p + "gate_proj.weight"] = {w, d};
      shapes[p + "up_proj.weight"] = {w, d};
      shapes[p + "down_proj.weight"] = {d, w};
    }
  }
  return shapes;
}

io::TensorMap gather_experts(Communicator& comm, const models::GptConfig& config, const io::TensorMap& local,
                             const std::vector<std::string>& suffixes) {
  io::TensorMap full = local;
  for (const auto& [name, shape] : routed_expert_shapes(config))
    for (const std::string& suffix : suffixes) {
      const std::string key = name + suffix;
      Tensor value = Tensor::zeros(shape);
      if (auto it = local.find(key); it != local.end()) value.copy_(it->second);
      comm.allreduce_sum(std::span<float>(value.data<float>(), static_cast<size_t>(value.numel())));
      full[key] = value;
    }
  return full;
}

double clip_grad_norm_expert_parallel(Communicator& comm, const std::map<std::string, Tensor>& parameters,
                                      double max_norm) {
  const double replicated =
      optim::grad_squared_sum(parameters, [](const std::string& name) { return !models::is_routed_expert_parameter(name); });
  double experts = optim::grad_squared_sum(parameters, models::is_routed_expert_parameter);
  comm.allreduce_sum(std::span<double>(&experts, 1));
  const double norm = std::sqrt(replicated + experts);
  optim::scale_grads_to_norm(parameters, norm, max_norm);
  return norm;
}

}  // namespace kiln::train
