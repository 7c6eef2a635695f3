#pragma once
// DeepSeekMoE routing (DeepSeek-V3, arXiv 2412.19437, §2.1.2; Wang et al.,
// arXiv 2408.15664): sigmoid affinities, selection on affinity + bias with
// group-limited routing, gates from the unbiased affinities, the bias update
// of auxiliary-loss-free balancing and the complementary sequence-wise balance
// loss.
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kiln/models/gpt/config.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

struct ExpertRouting {
  int64_t tokens = 0, top_k = 0, experts = 0;
  std::vector<int32_t> expert;  // [tokens · top_k]: each token's experts, best biased score first
  std::vector<int64_t> load;    // [experts]: (token, slot) assignments per expert
};

// scores: sigmoid affinities [tokens, experts]; bias [experts]. Groups whose
// top-2 biased scores sum lowest are dropped (−∞); ties go to the lower index.
ExpertRouting route_tokens(const float* scores, const float* bias, int64_t tokens, const MoeConfig& config);

// g = route_scale · s_i / Σ_{j ∈ S_t} s_j over the selected experts, [tokens, top_k].
std::vector<float> routing_gates(const float* scores, const ExpertRouting& routing, double route_scale);

// b_i += γ · sign(mean load − load_i) (in place); returns max/mean load.
double update_expert_bias(Tensor& bias, const std::vector<int64_t>& load, double gamma);

// α · mean over sequences of Σ_i f_i · P_i with f_i = N_r/(K·T) · count_i and
// P_i the sequence mean of the scores normalised over experts. scores
// [B, T, E] carries the graph; routing covers the B·T tokens row-major.
Tensor sequence_balance_loss(const Tensor& scores, const ExpertRouting& routing, double alpha);

// Expert parallelism: the R ranks of a job own contiguous ranges of the
// routed experts (rank r: [r·E/R, (r+1)·E/R)); token rows travel to their
// expert's owner and back. Implemented over MPI by the train layer.
class ExpertExchange {
 public:
  virtual ~ExpertExchange() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void sum(std::span<int64_t> values) = 0;  // element-wise over ranks
  // send_counts[r] floats to rank r in rank order; recv_counts[r] from rank r.
  virtual void exchange(std::span<const float> send, const std::vector<int64_t>& send_counts, std::span<float> recv,
                        const std::vector<int64_t>& recv_counts) = 0;
};

inline int64_t first_local_expert(int64_t experts, int rank, int ranks) { return rank * experts / ranks; }

// A SwiGLU MLP: down(silu(gate(h)) ⊙ up(h)) with weights <prefix>{gate,up,down}_proj.weight.
Tensor swiglu_mlp(const std::map<std::string, Tensor>& parameters, const std::string& prefix, const Tensor& h);

// One DeepSeekMoE layer on h [B, T, d] with the Hugging Face DeepSeek-V3
// weights under `prefix` ("model.layers.3.mlp."): route, sort the (token,
// slot) pairs by expert, run each expert's GEMMs once over its rows, scale
// by the gates and add back per token, plus the shared experts. Adds the
// sequence-wise balance loss to `balance` (when α > 0) and the routed load
// per expert to `load` (when given).
// With `exchange`, only this rank's experts are in `parameters`.
Tensor moe_layer(const std::map<std::string, Tensor>& parameters, const std::string& prefix, const Tensor& h,
                 const MoeConfig& config, Tensor& balance, std::vector<int64_t>* load,
                 ExpertExchange* exchange = nullptr);

}  // namespace kiln::models
