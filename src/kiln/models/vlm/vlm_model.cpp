#include "kiln/models/vlm/vlm_model.hpp"

#include <algorithm>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/data/mrope_positions.hpp"
#include "kiln/models/parameters.hpp"

namespace kiln::models {

namespace {

using data::VlmTokens;

// The vision tower draws from its own Philox seed, so its weights do not
// repeat the decoder's streams.
constexpr uint64_t kVisionSeedSalt = 0x5649'5349'4f4eULL;

bool is_vision_parameter(const std::string& name) { return name.rfind("visual.", 0) == 0; }

}  // namespace

VlmModel::VlmModel(VlmConfig config, uint64_t seed)
    : config_((config.validate(), std::move(config))), encoder_(config_.vision), decoder_(config_.decoder, seed) {
  uint64_t stream = 0;
  encoder_.add_parameters(vision_parameters_, seed ^ kVisionSeedSalt, stream);
  add_projector_parameters(vision_parameters_, config_.projector_shape(), config_.decoder.init_std,
                           seed ^ kVisionSeedSalt, stream);
  collect_parameters();
}

void VlmModel::collect_parameters() {
  parameters_ = vision_parameters_;
  for (const auto& [name, tensor] : decoder_.parameters()) parameters_[name] = tensor;
}

void VlmModel::load_parameters(const std::map<std::string, Tensor>& weights) {
  for (const auto& [name, tensor] : weights)
    KILN_CHECK(parameters_.count(name) != 0, "checkpoint has tensor '{}', which this vision-language model does not have",
               name);
  std::map<std::string, Tensor> vision, text;
  for (const auto& [name, tensor] : weights) (is_vision_parameter(name) ? vision : text)[name] = tensor;
  load_named_parameters(vision_parameters_, vision, "this vision-language model");
  decoder_.load_parameters(text);
  collect_parameters();
}

void VlmModel::load_vision_encoder(const std::map<std::string, Tensor>& weights, const std::string& source) {
  std::map<std::string, Tensor> encoder, from_checkpoint;
  for (const auto& [name, tensor] : vision_parameters_)
    if (!is_projector_parameter(name)) encoder[name] = tensor;
  for (const auto& [name, tensor] : weights)
    if (is_vision_parameter(name) && !is_projector_parameter(name)) from_checkpoint[name] = tensor;
  KILN_CHECK(!from_checkpoint.empty(), "{} has no visual.* tensors to start the vision encoder from", source);
  load_named_parameters(encoder, from_checkpoint, "this vision-language model's encoder (" + source + ")");
  for (const auto& [name, tensor] : encoder) vision_parameters_[name] = tensor;
  collect_parameters();
}

Tensor VlmModel::image_features(const Tensor& patches, const Tensor& cu_v, const Tensor& positions) const {
  const Tensor encoded = encoder_.forward(vision_parameters_, patches, cu_v, positions);
  return project_vision_features(vision_parameters_, config_.projector_shape(), encoded);
}

Tensor VlmModel::input_embeddings(const Tensor& tokens, const Tensor& placeholder_rows, const Tensor& features) const {
  const int64_t rows = tokens.size(0), length = tokens.size(1), n = rows * length, d = config_.decoder.d_model;
  KILN_CHECK(features.dim() == 2 && features.size(0) == placeholder_rows.numel() && features.size(1) == d,
             "{} <|image_pad|> tokens but the images give {} features", placeholder_rows.numel(),
             features.dim() == 2 ? features.size(0) : 0);
  const Tensor embedded = ops::reshape(decoder_.embed(tokens), {n, d});
  if (placeholder_rows.numel() == 0) return ops::reshape(embedded, {rows, length, d});
  // E·(1 − mask) + scatter(features): the placeholder rows take the features, and
  // the <|image_pad|> embedding receives no gradient.
  Tensor keep = Tensor::ones({n, 1});
  const Tensor index = placeholder_rows.to(DType::i64).contiguous();
  for (int64_t i = 0; i < index.numel(); ++i) {
    const int64_t row = index.data<int64_t>()[i];
    KILN_CHECK(row >= 0 && row < n, "placeholder row {} outside the {} tokens", row, n);
    keep.data<float>()[row] = 0;
  }
  const Tensor mixed = ops::add(ops::mul(embedded, keep), ops::scatter_add_rows(features, index, n));
  return ops::reshape(mixed, {rows, length, d});
}

DecoderBatch VlmModel::decoder_batch(const data::VlmBatch& batch, const VlmOptions& options) const {
  Tensor encoded;
  {
    const GradModeGuard recording(grad_enabled() && !options.freeze_vision);
    // Padded images are encoded with the key mask; their real patches then go to the projector.
    encoded = batch.vision_key_mask.defined()
                  ? ops::embedding(encoder_.forward(vision_parameters_, batch.patches, batch.vision_cu_seqlens,
                                                    batch.vision_positions, batch.vision_key_mask),
                                   batch.vision_rows)
                  : encoder_.forward(vision_parameters_, batch.patches, batch.vision_cu_seqlens, batch.vision_positions);
  }
  Tensor features = project_vision_features(vision_parameters_, config_.projector_shape(), encoded);
  if (options.blind) features = ops::scale(features, 0.0);
  DecoderBatch d;
  d.tokens = batch.tokens;
  d.targets = batch.targets;
  d.positions = batch.positions;
  d.cu_seqlens = batch.cu_seqlens;
  d.input_embeddings = input_embeddings(batch.tokens, batch.placeholder_rows, features);
  return d;
}

Tensor VlmModel::logits(const data::VlmBatch& batch, const VlmOptions& options) const {
  return decoder_.logits(decoder_batch(batch, options));
}

Tensor VlmModel::loss(const data::VlmBatch& batch, const VlmOptions& options) const {
  DecoderOptions decoder_options;
  decoder_options.loss_normalizer = options.loss_normalizer;
  decoder_options.gradient_checkpointing = options.gradient_checkpointing;
  return decoder_.loss(decoder_batch(batch, options), decoder_options);
}

std::string VlmModel::generate(const std::vector<data::SampleImage>& images, const std::string& prompt,
                               int64_t max_new, bool blind) const {
  NoGradGuard no_grad;
  // The prompt as a batch of one sample whose one-byte answer and end token
  // are cut off again: the answer continues the prompt.
  const int64_t per_token = config_.patches_per_token();
  const std::vector<data::VlmSample> one{{images, prompt, " "}};
  const int64_t prompt_length = data::sample_llm_tokens(one[0], per_token) - 2;
  const int64_t room = config_.decoder.max_seq_len - prompt_length;
  KILN_CHECK(room >= 1, "the image needs {} tokens; only {} fit in model.max_seq_len", prompt_length,
             config_.decoder.max_seq_len);
  max_new = std::min(max_new, room);
  const data::VlmBatch full = data::make_vlm_batch(one, per_token, data::VlmLayout::rmpad);
  Tensor features = image_features(full.patches, full.vision_cu_seqlens, full.vision_positions);
  if (blind) features = ops::scale(features, 0.0);
  const Tensor tokens = full.tokens.narrow(1, 0, prompt_length).contiguous();
  const Tensor embeddings = input_embeddings(tokens, full.placeholder_rows, features);
  const Tensor positions = full.positions.narrow(2, 0, prompt_length).contiguous();
  int64_t largest = 0;
  for (int64_t i = 0; i < positions.numel(); ++i) largest = std::max(largest, positions.data<int64_t>()[i]);

  KvCache cache = decoder_.new_cache(prompt_length + max_new);
  cache.rope_delta = largest + 1 - prompt_length;
  Tensor logits = decoder_.decode_inputs(embeddings, positions, cache);
  std::string answer;
  for (int64_t step = 0; step < max_new; ++step) {
    const Tensor last = logits.narrow(0, logits.size(0) - 1, 1).contiguous();
    const float* row = last.data<float>();
    const int64_t next = std::max_element(row, row + config_.decoder.vocab_size) - row;
    if (next >= 256) break;  // <|endoftext|> (or a special token the model should never emit here)
    answer.push_back(static_cast<char>(next));
    if (step + 1 == max_new) break;
    logits = decoder_.decode(Tensor::from(std::vector<int64_t>{next}, {1}), cache);
  }
  return answer;
}

}  // namespace kiln::models
