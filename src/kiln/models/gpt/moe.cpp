// DeepSeekMoE layer: routing, dispatch by expert (tokens sorted by expert,
// one set of GEMMs per expert over its rows), combine, and balancing.
#include "kiln/models/gpt/moe.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "kiln/autograd/function.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/gpt/model.hpp"

namespace kiln::models {

namespace {

// Indices of the `k` largest values, largest first; equal values: lower index first.
void top_k(const std::vector<float>& values, int64_t k, std::vector<int32_t>& out) {
  std::vector<int32_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  out.assign(order.begin(), order.begin() + k);
}

}  // namespace

ExpertRouting route_tokens(const float* scores, const float* bias, int64_t tokens, const MoeConfig& config) {
  const int64_t experts = config.n_routed_experts, k = config.n_activated_experts;
  const int64_t groups = config.n_expert_groups, per_group = experts / groups;
  ExpertRouting routing{tokens, k, experts, std::vector<int32_t>(static_cast<size_t>(tokens * k)),
                        std::vector<int64_t>(static_cast<size_t>(experts), 0)};
  std::vector<float> biased(static_cast<size_t>(experts)), group_score(static_cast<size_t>(groups));
  std::vector<int32_t> chosen, kept_groups, pair;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t e = 0; e < experts; ++e) biased[e] = scores[t * experts + e] + (bias != nullptr ? bias[e] : 0.0f);
    if (groups > 1) {
      for (int64_t g = 0; g < groups; ++g) {
        const std::vector<float> members(biased.begin() + g * per_group, biased.begin() + (g + 1) * per_group);
        top_k(members, 2, pair);
        group_score[g] = members[pair[0]] + members[pair[1]];
      }
      top_k(group_score, config.n_limited_groups, kept_groups);
      std::vector<bool> keep(static_cast<size_t>(groups), false);
      for (int32_t g : kept_groups) keep[g] = true;
      for (int64_t e = 0; e < experts; ++e)
        if (!keep[e / per_group]) biased[e] = -INFINITY;
    }
    top_k(biased, k, chosen);
    for (int64_t s = 0; s < k; ++s) {
      routing.expert[t * k + s] = chosen[s];
      ++routing.load[chosen[s]];
    }
  }
  return routing;
}

std::vector<float> routing_gates(const float* scores, const ExpertRouting& routing, double route_scale) {
  const int64_t k = routing.top_k, experts = routing.experts;
  std::vector<float> gates(routing.expert.size());
  for (int64_t t = 0; t < routing.tokens; ++t) {
    double total = 0;
    for (int64_t s = 0; s < k; ++s) total += scores[t * experts + routing.expert[t * k + s]];
    for (int64_t s = 0; s < k; ++s)
      gates[t * k + s] = static_cast<float>(route_scale * scores[t * experts + routing.expert[t * k + s]] / total);
  }
  return gates;
}

double update_expert_bias(Tensor& bias, const std::vector<int64_t>& load, double gamma) {
  KILN_CHECK(bias.numel() == static_cast<int64_t>(load.size()), "expert bias has {} entries, the loads {}",
             bias.numel(), load.size());
  const double total = std::accumulate(load.begin(), load.end(), 0.0);
  const double mean = total / static_cast<double>(load.size());
  float* b = bias.data<float>();
  for (size_t i = 0; i < load.size(); ++i) {
    const double error = mean - static_cast<double>(load[i]);
    b[i] += static_cast<float>(gamma * static_cast<double>((error > 0) - (error < 0)));
  }
  const int64_t most = *std::max_element(load.begin(), load.end());
  return mean > 0 ? static_cast<double>(most) / mean : 0.0;
}

Tensor sequence_balance_loss(const Tensor& scores, const ExpertRouting& routing, double alpha) {
  KILN_CHECK(scores.dim() == 3 && scores.size(0) * scores.size(1) == routing.tokens,
             "sequence_balance_loss: scores {} do not cover {} routed tokens", scores.describe(), routing.tokens);
  const int64_t rows = scores.size(0), length = scores.size(1), experts = scores.size(2), k = routing.top_k;
  // f_i per sequence: a constant (counts carry no gradient), pre-divided by B for the mean over sequences.
  Tensor fraction = Tensor::zeros({rows, 1, experts});
  float* f = fraction.data<float>();
  const double unit = static_cast<double>(experts) / static_cast<double>(k * length) / static_cast<double>(rows);
  for (int64_t t = 0; t < routing.tokens; ++t)
    for (int64_t s = 0; s < k; ++s) f[(t / length) * experts + routing.expert[t * k + s]] += static_cast<float>(unit);
  const Tensor normalised = ops::div(scores, ops::sum(scores, -1, true));
  const Tensor p = ops::mean(normalised, 1, true);  // [B, 1, E]
  return ops::scale(ops::sum(ops::mul(p, fraction)), alpha);
}

Tensor swiglu_mlp(const std::map<std::string, Tensor>& parameters, const std::string& prefix, const Tensor& h) {
  const auto weight = [&](const char* name) -> const Tensor& {
    auto it = parameters.find(prefix + name);
    KILN_CHECK(it != parameters.end(), "model has no parameter '{}{}'", prefix, name);
    return it->second;
  };
  const Tensor gate = ops::linear(h, weight("gate_proj.weight"));
  const Tensor up = ops::linear(h, weight("up_proj.weight"));
  return ops::linear(ops::swiglu(gate, up), weight("down_proj.weight"));
}

namespace {

// Rows to their owners and back, differentiably: the gradient of an exchange
// is the reverse exchange of the gradient.
Tensor exchange_rows(ExpertExchange& exchange, const Tensor& rows, const std::vector<int64_t>& send_rows,
                     const std::vector<int64_t>& recv_rows) {
  const int64_t d = rows.size(1);
  std::vector<int64_t> send_counts, recv_counts;
  int64_t received = 0;
  for (size_t r = 0; r < send_rows.size(); ++r) {
    send_counts.push_back(send_rows[r] * d);
    recv_counts.push_back(recv_rows[r] * d);
    received += recv_rows[r];
  }
  const Tensor in = rows.contiguous();
  Tensor out = Tensor::empty({received, d});
  exchange.exchange({in.data<float>(), static_cast<size_t>(in.numel())}, send_counts,
                    {out.data<float>(), static_cast<size_t>(out.numel())}, recv_counts);
  return autograd::record("exchange_rows", {rows}, {out},
                          [&exchange, send_counts, recv_counts, sent = in.size(0), d](const autograd::TensorList& g) {
                            const Tensor grad = g[0].contiguous();
                            Tensor back = Tensor::empty({sent, d});
                            exchange.exchange({grad.data<float>(), static_cast<size_t>(grad.numel())}, recv_counts,
                                              {back.data<float>(), static_cast<size_t>(back.numel())}, send_counts);
                            return autograd::TensorList{back};
                          })[0];
}

// The routed rows `routed_in` [N·K, d] (sorted by expert, hence by owner)
// go to the owners of their experts, run there, and come back in order.
Tensor run_experts_remotely(const std::map<std::string, Tensor>& parameters, const std::string& prefix,
                            const Tensor& routed_in, const std::vector<int64_t>& local_load, int64_t experts,
                            ExpertExchange& exchange) {
  const int ranks = exchange.size(), me = exchange.rank();
  // Every rank's per-expert counts: row r of [ranks, experts].
  std::vector<int64_t> counts(static_cast<size_t>(ranks * experts), 0);
  std::copy(local_load.begin(), local_load.end(), counts.begin() + me * experts);
  exchange.sum(counts);
  const auto owned = [&](int r) {
    return std::pair{first_local_expert(experts, r, ranks), first_local_expert(experts, r + 1, ranks)};
  };
  const auto [first, last] = owned(me);
  std::vector<int64_t> send_rows(static_cast<size_t>(ranks), 0), recv_rows(static_cast<size_t>(ranks), 0);
  for (int r = 0; r < ranks; ++r) {
    const auto [lo, hi] = owned(r);
    for (int64_t e = lo; e < hi; ++e) send_rows[r] += counts[me * experts + e];
    for (int64_t e = first; e < last; ++e) recv_rows[r] += counts[r * experts + e];
  }
  const Tensor received = exchange_rows(exchange, routed_in, send_rows, recv_rows);  // by source, then expert
  // Regroup by expert: rows of expert e from every source, sources in order.
  std::vector<int64_t> source_offset(static_cast<size_t>(ranks), 0);
  for (int r = 1; r < ranks; ++r) source_offset[r] = source_offset[r - 1] + recv_rows[r - 1];
  std::vector<int64_t> by_expert, inverse(static_cast<size_t>(received.size(0)));
  std::vector<int64_t> expert_rows;
  for (int64_t e = first; e < last; ++e) {
    int64_t rows_e = 0;
    for (int r = 0; r < ranks; ++r) {
      int64_t start = source_offset[r];
      for (int64_t f = first; f < e; ++f) start += counts[r * experts + f];
      for (int64_t i = 0; i < counts[r * experts + e]; ++i) {
        inverse[start + i] = static_cast<int64_t>(by_expert.size());
        by_expert.push_back(start + i);
      }
      rows_e += counts[r * experts + e];
    }
    expert_rows.push_back(rows_e);
  }
  std::vector<Tensor> outputs;
  if (!by_expert.empty()) {
    const int64_t total = static_cast<int64_t>(by_expert.size());
    const Tensor grouped = ops::embedding(received, Tensor::from<int64_t>(by_expert, {total}));
    int64_t offset = 0;
    for (int64_t e = first; e < last; ++e) {
      const int64_t rows_e = expert_rows[e - first];
      if (rows_e > 0)
        outputs.push_back(swiglu_mlp(parameters, fmt::format("{}experts.{}.", prefix, e), ops::narrow(grouped, 0, offset, rows_e)));
      offset += rows_e;
    }
  }
  // With no rows here the (empty) result must still hang off the graph: every
  // rank has to take part in the reverse exchange during backward.
  Tensor computed = ops::narrow(received, 0, 0, 0);
  if (!outputs.empty()) {
    const Tensor by_expert_out = outputs.size() == 1 ? outputs[0] : ops::concat(outputs, 0);
    computed = ops::embedding(by_expert_out, Tensor::from<int64_t>(inverse, {static_cast<int64_t>(inverse.size())}));
  }
  return exchange_rows(exchange, computed, recv_rows, send_rows);
}

}  // namespace

Tensor moe_layer(const std::map<std::string, Tensor>& parameters, const std::string& prefix, const Tensor& h,
                 const MoeConfig& m, Tensor& balance, std::vector<int64_t>* load, ExpertExchange* exchange) {
  const auto param = [&](const std::string& name) -> const Tensor& {
    auto it = parameters.find(prefix + name);
    KILN_CHECK(it != parameters.end(), "model has no parameter '{}{}'", prefix, name);
    return it->second;
  };
  KILN_CHECK(h.dim() == 3, "moe_layer: input must be [B, T, d], got {}", h.describe());
  const int64_t rows = h.size(0), length = h.size(1), d = h.size(2), n = rows * length;
  const int64_t experts = m.n_routed_experts, k = m.n_activated_experts;
  const Tensor x = ops::reshape(h, {n, d});
  Tensor scores;
  {
    // The router stays in f32 under bf16 and FP8 (DeepSeek-V3 keeps gating out of low precision).
    std::optional<PrecisionGuard> router_precision;
    if (matmul_precision() != Precision::f32) router_precision.emplace(Precision::f32);
    scores = ops::sigmoid(ops::linear(x, param("gate.weight")));  // [N, E]
  }
  const Tensor score_values = scores.detach().contiguous();
  const ExpertRouting routing =
      route_tokens(score_values.data<float>(), param("gate.e_score_correction_bias").data<float>(), n, m);
  if (load != nullptr) {
    load->resize(static_cast<size_t>(experts), 0);
    for (int64_t e = 0; e < experts; ++e) (*load)[e] += routing.load[e];
  }
  if (m.seq_aux_alpha > 0) {
    const Tensor layer_balance =
        sequence_balance_loss(ops::reshape(scores, {rows, length, experts}), routing, m.seq_aux_alpha);
    balance = balance.defined() ? ops::add(balance, layer_balance) : layer_balance;
  }
  // Gates from the unbiased scores of the chosen experts, normalised, scaled.
  std::vector<int64_t> chosen_flat(routing.expert.size());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t s = 0; s < k; ++s) chosen_flat[t * k + s] = t * experts + routing.expert[t * k + s];
  const Tensor chosen = ops::reshape(
      ops::embedding(ops::reshape(scores, {n * experts, 1}), Tensor::from<int64_t>(chosen_flat, {n, k})), {n, k});
  const Tensor gates = ops::scale(ops::div(chosen, ops::sum(chosen, 1, true)), m.route_scale);
  // Dispatch: (token, slot) pairs in expert order (a stable counting sort).
  std::vector<int64_t> offset(static_cast<size_t>(experts + 1), 0);
  for (int64_t e = 0; e < experts; ++e) offset[e + 1] = offset[e] + routing.load[e];
  std::vector<int64_t> pair_order(static_cast<size_t>(n * k)), token_order(static_cast<size_t>(n * k));
  {
    std::vector<int64_t> next(offset.begin(), offset.end() - 1);
    for (int64_t pair = 0; pair < n * k; ++pair) {
      const int64_t slot = next[routing.expert[pair]]++;
      pair_order[slot] = pair;
      token_order[slot] = pair / k;
    }
  }
  const Tensor token_index = Tensor::from<int64_t>(token_order, {n * k});
  const Tensor routed_in = ops::embedding(x, token_index);  // [N·K, d]
  Tensor expert_out;
  if (exchange != nullptr && exchange->size() > 1) {
    expert_out = run_experts_remotely(parameters, prefix, routed_in, routing.load, experts, *exchange);
  } else {
    std::vector<Tensor> outputs;
    for (int64_t e = 0; e < experts; ++e) {
      if (routing.load[e] == 0) continue;
      const Tensor rows_e = ops::narrow(routed_in, 0, offset[e], routing.load[e]);
      outputs.push_back(swiglu_mlp(parameters, fmt::format("{}experts.{}.", prefix, e), rows_e));
    }
    expert_out = outputs.size() == 1 ? outputs[0] : ops::concat(outputs, 0);
  }
  const Tensor pair_gates =
      ops::embedding(ops::reshape(gates, {n * k, 1}), Tensor::from<int64_t>(pair_order, {n * k}));  // [N·K, 1]
  Tensor out = ops::scatter_add_rows(ops::mul(expert_out, pair_gates), token_index, n);
  if (m.n_shared_experts > 0) out = ops::add(out, swiglu_mlp(parameters, prefix + "shared_experts.", x));
  return ops::reshape(out, {rows, length, d});
}

Tensor GptModel::moe_feed_forward(int64_t layer, const Tensor& h, Tensor& balance) const {
  // Loads count only in passes that record gradients: training forwards and
  // checkpoint recomputations, never evaluation, generation or the no-grad
  // first pass of a checkpointed segment — so each step counts each token once.
  std::vector<int64_t>* load = grad_enabled() ? &expert_loads_[layer] : nullptr;
  return moe_layer(parameters_, layer_prefix(layer) + "mlp.", h, config_.moe, balance, load, expert_exchange_.get());
}

bool is_routed_expert_parameter(const std::string& name) { return name.find(".mlp.experts.") != std::string::npos; }

void GptModel::enable_expert_parallel(std::shared_ptr<ExpertExchange> exchange) {
  KILN_CHECK(config_.moe.enabled(), "expert parallelism needs an MoE model (model.n_routed_experts > 0)");
  KILN_CHECK(exchange->size() <= config_.moe.n_routed_experts, "{} ranks cannot share {} experts", exchange->size(),
             config_.moe.n_routed_experts);
  const int64_t first = first_local_expert(config_.moe.n_routed_experts, exchange->rank(), exchange->size());
  const int64_t last = first_local_expert(config_.moe.n_routed_experts, exchange->rank() + 1, exchange->size());
  for (auto it = parameters_.begin(); it != parameters_.end();) {
    const size_t at = it->first.find(".mlp.experts.");
    if (at == std::string::npos) {
      ++it;
      continue;
    }
    const int64_t expert = std::stoll(it->first.substr(at + 13));
    it = expert >= first && expert < last ? std::next(it) : parameters_.erase(it);
  }
  expert_exchange_ = std::move(exchange);
}

ExpertLoads GptModel::take_expert_loads() const {
  ExpertLoads loads;
  loads.swap(expert_loads_);
  return loads;
}

std::map<int64_t, double> GptModel::update_router_bias(const ExpertLoads& loads) {
  std::map<int64_t, double> imbalance;
  for (const auto& [layer, load] : loads) {
    Tensor& bias = parameters_.at(layer_prefix(layer) + "mlp.gate.e_score_correction_bias");
    imbalance[layer] = update_expert_bias(bias, load, config_.moe.bias_update_speed);
  }
  return imbalance;
}

}  // namespace kiln::models
