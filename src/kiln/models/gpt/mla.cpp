// Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434, §2.1;
// DeepSeek-V3, arXiv 2412.19437, §2.1.1). Training and prefill materialise
// per-head keys and values ("naive"); decoding can keep only the normalised
// latent and the rotated shared key ("absorbed").
#include <cmath>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/attention.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/rope.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/kernels/cpu/decode_attention.hpp"
#include "kiln/models/gpt/model.hpp"

namespace kiln::models {

Tensor cached_attention(const Tensor& q, const Tensor& keys, const Tensor& values, int64_t start, double scale);

namespace {

struct MlaProjections {
  Tensor q_nope, q_rope;  // [B, T, H, d_nope], [B, T, H, d_rope] (rotated)
  Tensor latent;          // ĉ = RMSNorm_kv(c^KV) [B, T, d_c]
  Tensor k_rope;          // [B, T, 1, d_rope] (rotated, shared by all heads)
};

}  // namespace

// The projections both modes share: queries, the normalised latent and the rotated shared key.
static MlaProjections project(const GptConfig& c, const std::map<std::string, Tensor>& params, const std::string& p,
                              const Tensor& h, const Tensor& positions) {
  const MlaConfig& m = c.mla;
  const auto w = [&](const std::string& name) -> const Tensor& { return params.at(p + "self_attn." + name); };
  const int64_t rows = h.size(0), length = h.size(1);
  Tensor q = m.q_lora_rank > 0
                 ? ops::linear(ops::rms_norm(ops::linear(h, w("q_a_proj.weight")), w("q_a_layernorm.weight"), c.norm_eps),
                               w("q_b_proj.weight"))
                 : ops::linear(h, w("q_proj.weight"));
  q = ops::reshape(q, {rows, length, c.n_head, m.qk_head_dim()});
  const std::vector<Tensor> q_parts = ops::split(q, {m.qk_nope_head_dim, m.qk_rope_head_dim}, -1);
  const Tensor kv_a = ops::linear(h, w("kv_a_proj_with_mqa.weight"));
  const std::vector<Tensor> kv_parts = ops::split(kv_a, {m.kv_lora_rank, m.qk_rope_head_dim}, -1);
  MlaProjections out;
  out.q_nope = ops::contiguous(q_parts[0]);
  out.q_rope = ops::rope(ops::contiguous(q_parts[1]), positions, c.rope_theta, c.rope_interleaved);
  out.latent = ops::rms_norm(ops::contiguous(kv_parts[0]), w("kv_a_layernorm.weight"), c.norm_eps);
  out.k_rope = ops::rope(ops::reshape(ops::contiguous(kv_parts[1]), {rows, length, 1, m.qk_rope_head_dim}), positions,
                         c.rope_theta, c.rope_interleaved);
  return out;
}

Tensor GptModel::mla_attention(int64_t layer, const Tensor& h, const Tensor& positions, const Tensor& cu_seqlens) const {
  const GptConfig& c = config_;
  const MlaConfig& m = c.mla;
  const std::string p = layer_prefix(layer);
  const int64_t rows = h.size(0), length = h.size(1), heads = c.n_head;
  const MlaProjections x = project(c, parameters_, p, h, positions);
  const Tensor kv = ops::reshape(ops::linear(x.latent, param(p + "self_attn.kv_b_proj.weight")),
                                 {rows, length, heads, m.qk_nope_head_dim + m.v_head_dim});
  const std::vector<Tensor> kv_parts = ops::split(kv, {m.qk_nope_head_dim, m.v_head_dim}, -1);
  Tensor q = ops::concat({x.q_nope, x.q_rope}, -1);
  Tensor k = ops::concat({kv_parts[0], ops::expand(x.k_rope, {rows, length, heads, m.qk_rope_head_dim})}, -1);
  Tensor v = ops::contiguous(kv_parts[1]);
  // The attention kernel takes one head size: pad the shorter side with zeros,
  // which changes no score and no output.
  const int64_t dk = m.qk_head_dim(), dv = m.v_head_dim, width = std::max(dk, dv);
  const auto pad = [&](const Tensor& t, int64_t from) {
    if (from == width) return t;
    return ops::concat({t, Tensor::zeros({rows, length, heads, width - from})}, -1);
  };
  ops::AttentionOptions options;
  options.causal = true;
  options.cu_seqlens = cu_seqlens;
  options.scale = 1.0 / std::sqrt(static_cast<double>(dk));
  Tensor out = ops::attention(pad(q, dk), pad(k, dk), pad(v, dv), options);
  if (dv != width) out = ops::contiguous(ops::narrow(out, 3, 0, dv));
  return ops::linear(ops::reshape(out, {rows, length, heads * dv}), param(p + "self_attn.o_proj.weight"));
}

Tensor GptModel::decode_mla_attention(int64_t layer, const Tensor& h, const Tensor& positions, KvCache& cache) const {
  const GptConfig& c = config_;
  const MlaConfig& m = c.mla;
  const std::string p = layer_prefix(layer);
  const int64_t t_new = h.size(1), heads = c.n_head, slot = layer - cache.first_layer, start = cache.length;
  const int64_t dn = m.qk_nope_head_dim, dr = m.qk_rope_head_dim, dv = m.v_head_dim, dc = m.kv_lora_rank;
  const double scale = 1.0 / std::sqrt(static_cast<double>(m.qk_head_dim()));
  const MlaProjections x = project(c, parameters_, p, h, positions);
  const Tensor& w_ukv = param(p + "self_attn.kv_b_proj.weight");  // [H·(d_nope + d_v), d_c]
  Tensor attended;
  if (!cache.mla_absorbed) {
    const Tensor kv = ops::linear(x.latent, w_ukv).reshape({t_new, heads, dn + dv});
    const Tensor q = ops::concat({x.q_nope, x.q_rope}, -1).select(0, 0);
    const Tensor k = ops::concat({kv.narrow(2, 0, dn), x.k_rope.select(0, 0).expand({t_new, heads, dr})}, -1);
    cache.keys[slot].narrow(0, start, t_new).copy_(k);
    cache.values[slot].narrow(0, start, t_new).copy_(kv.narrow(2, dn, dv));
    attended = cached_attention(q, cache.keys[slot], cache.values[slot], start, scale);
  } else {
    cache.keys[slot].narrow(0, start, t_new).copy_(x.latent.reshape({t_new, 1, dc}));
    cache.values[slot].narrow(0, start, t_new).copy_(x.k_rope.select(0, 0));
    // q̃ = W_UKᵀ q^C per head, so scores read the latent directly; the
    // weighted latent sum is lifted by W_UV afterwards (linearity).
    const Tensor q_nope = x.q_nope.select(0, 0).contiguous(), q_rope = x.q_rope.select(0, 0).contiguous();
    const Tensor w = w_ukv.contiguous();
    const cpu::LatentAttentionShape shape{t_new, heads, dc, dr, dn, dv, start};
    Tensor absorbed_q = Tensor::empty({t_new, heads, dc + dr}), z = Tensor::empty({t_new, heads, dc});
    cpu::absorb_queries(q_nope.data<float>(), q_rope.data<float>(), w.data<float>(), shape, absorbed_q.data<float>());
    cpu::latent_attention(absorbed_q.data<float>(), cache.keys[slot].data<float>(), cache.values[slot].data<float>(),
                          shape, static_cast<float>(scale), z.data<float>());
    attended = Tensor::empty({t_new, heads, dv});
    cpu::lift_latents(z.data<float>(), w.data<float>(), shape, attended.data<float>());
  }
  return ops::linear(attended.reshape({1, t_new, heads * dv}), param(p + "self_attn.o_proj.weight"));
}

}  // namespace kiln::models
