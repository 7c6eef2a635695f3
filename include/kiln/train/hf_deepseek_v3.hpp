#pragma once
// kiln's DeepSeek-V3 decoders (MLA, DeepSeekMoE, MTP) as Hugging Face's
// DeepseekV3ForCausalLM (docs/interop.md): config.json with DeepseekV3Config's
// fields, and the state dict named as the DeepSeek-V3 release names it.
//  - Attention: MLA's projections keep their names and layout. DeepSeek's
//    modeling code rotates the rotary part of q and k in interleaved pairs
//    (it regroups them to half-split only inside its rope function, and
//    transformers' rope_interleave = true does the same), so kiln's
//    interleaved rows are written as they are; a half-split kiln model gets
//    the rotary rows of q_proj / q_b_proj (per head) and kv_a_proj_with_mqa
//    regrouped to interleaved.
//  - MoE: gate.weight, gate.e_score_correction_bias, experts.N.*,
//    shared_experts.* as the release; sigmoid scores, noaux_tc selection,
//    normalised top-k weights times routed_scaling_factor.
//  - MTP: module k is model.layers.{L + k − 1} (the release's layer 61 for
//    L = 61) with enorm, hnorm, eh_proj, its own block, shared_head.norm, and
//    the copies of the shared embedding and head the release carries,
//    embed_tokens.weight and shared_head.head.weight.
#include <nlohmann/json.hpp>

#include "kiln/data/subword.hpp"
#include "kiln/io/safetensors.hpp"
#include "kiln/models/gpt/config.hpp"

namespace kiln::train {

// A LLaMA-block checkpoint with MLA, MoE or MTP.
bool is_deepseek_v3(const models::GptConfig& config);

// DeepseekV3Config; errors for what DeepseekV3ForCausalLM cannot express
// (MoE or MTP on standard multi-head attention).
nlohmann::json deepseek_v3_config_json(const models::GptConfig& config, const data::Tokenizer& tokenizer);

// kiln's parameters → the release's state dict; every parameter is checked
// against the configuration first (a missing or mis-shaped one names itself).
io::TensorMap deepseek_v3_tensors_from_kiln(const models::GptConfig& config, const io::TensorMap& weights);

// The reverse, for import: the MTP copies of the embedding and head must equal
// the shared ones (kiln ties them), the rest is checked as on export.
models::GptConfig deepseek_v3_config_from_hf_json(const nlohmann::json& json, const std::string& source);
io::TensorMap kiln_tensors_from_deepseek_v3(const models::GptConfig& config, const io::TensorMap& hf,
                                            const std::string& source);

}  // namespace kiln::train
