#pragma once
// Expert parallelism on top of a Communicator: the exchange the MoE layers
// use to move token rows between ranks, and the gathering of every rank's
// experts (weights and optimizer moments) for a checkpoint written by rank 0.
#include <map>
#include <memory>
#include <string>

#include "kiln/io/safetensors.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/train/communicator.hpp"

namespace kiln::train {

// Runs on a duplicate of `comm`, so its collectives never pair with the
// gradient sums that are in flight during backward.
std::shared_ptr<models::ExpertExchange> make_expert_exchange(Communicator& comm);

// Names and shapes of every routed expert's weights in `config`.
std::map<std::string, Shape> routed_expert_shapes(const models::GptConfig& config);

// `local` plus every routed expert of every rank (each owned by one rank;
// the others contribute zeros to a sum). `suffixes` selects optimizer
// entries ("" for weights, ".exp_avg" and ".exp_avg_sq" for AdamW moments).
io::TensorMap gather_experts(Communicator& comm, const models::GptConfig& config, const io::TensorMap& local,
                             const std::vector<std::string>& suffixes);

// Under expert parallelism the gradient norm is the local norm of the
// replicated gradients plus the sum over ranks of the experts' part.
double clip_grad_norm_expert_parallel(Communicator& comm, const std::map<std::string, Tensor>& parameters,
                                      double max_norm);

}  // namespace kiln::train
