#include "kiln/data/vlm_batch.hpp"

#include <algorithm>
#include <cmath>

#include "kiln/base/error.hpp"
#include "kiln/data/mrope_positions.hpp"
#include "kiln/kernels/cpu/patchify.hpp"

namespace kiln::data {

namespace {

int64_t merge_side(int64_t patches_per_token) {
  const auto m = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(patches_per_token))));
  KILN_CHECK(patches_per_token >= 1 && m * m == patches_per_token,
             "patches per language-model token must be a square (m² for an m×m merge), got {}", patches_per_token);
  return m;
}

void check_image(const SampleImage& image, int64_t merge, int64_t patch_dim, int64_t index, int64_t sample) {
  KILN_CHECK(image.grid_height >= 1 && image.grid_width >= 1,
             "image {} of sample {}: an empty {}×{} patch grid", index, sample, image.grid_height, image.grid_width);
  KILN_CHECK(image.grid_height % merge == 0 && image.grid_width % merge == 0,
             "image {} of sample {}: {}×{} patches is not a multiple of merge_size {}", index, sample,
             image.grid_height, image.grid_width, merge);
  KILN_CHECK(static_cast<int64_t>(image.patches.size()) == image.patch_count() * patch_dim,
             "image {} of sample {}: {} values for {}×{} patches of {}", index, sample, image.patches.size(),
             image.grid_height, image.grid_width, patch_dim);
}

void append_bytes(SampleText& text, const std::string& bytes, bool targets) {
  for (unsigned char c : bytes) {
    text.tokens.push_back(c);
    text.labels.push_back(targets ? int64_t{c} : -100);
  }
}

void append_token(SampleText& text, int64_t id, bool target) {
  text.tokens.push_back(id);
  text.labels.push_back(target ? id : -100);
}

}  // namespace

SampleText sample_text(const VlmSample& sample, int64_t patches_per_token) {
  merge_side(patches_per_token);
  SampleText text;
  for (const SampleImage& image : sample.images) {
    append_token(text, VlmTokens::vision_start, false);
    for (int64_t k = 0; k < image.patch_count() / patches_per_token; ++k)
      append_token(text, VlmTokens::image_pad, false);
    append_token(text, VlmTokens::vision_end, false);
  }
  append_bytes(text, sample.prompt, false);
  append_bytes(text, sample.answer, true);
  append_token(text, VlmTokens::endoftext, true);
  return text;
}

int64_t sample_vision_tokens(const VlmSample& sample) {
  int64_t n = 0;
  for (const SampleImage& image : sample.images) n += image.patch_count();
  return n;
}

int64_t sample_llm_tokens(const VlmSample& sample, int64_t patches_per_token) {
  return static_cast<int64_t>(sample.images.size()) * 2 + sample_vision_tokens(sample) / patches_per_token +
         static_cast<int64_t>(sample.prompt.size() + sample.answer.size()) + 1;
}

VlmBatch make_vlm_batch(std::span<const VlmSample> samples, int64_t patches_per_token, VlmLayout layout,
                        int64_t first_sample) {
  const int64_t merge = merge_side(patches_per_token);
  KILN_CHECK(!samples.empty(), "a vision-language batch needs at least one sample");
  int64_t patch_dim = 0;
  std::vector<SampleText> texts;
  std::vector<data::MropePositions> positions;
  std::vector<int64_t> lengths;
  int64_t vision_tokens = 0;
  VlmBatch batch;
  for (size_t s = 0; s < samples.size(); ++s) {
    const int64_t sample = first_sample + static_cast<int64_t>(s);
    std::vector<LlmGrid> grids;
    for (size_t i = 0; i < samples[s].images.size(); ++i) {
      const SampleImage& image = samples[s].images[i];
      if (patch_dim == 0 && image.patch_count() > 0)
        patch_dim = static_cast<int64_t>(image.patches.size()) / image.patch_count();
      check_image(image, merge, patch_dim, static_cast<int64_t>(i), sample);
      grids.push_back({image.grid_height / merge, image.grid_width / merge});
      batch.image_grids.push_back(image.grid_height);
      batch.image_grids.push_back(image.grid_width);
      vision_tokens += image.patch_count();
    }
    texts.push_back(sample_text(samples[s], patches_per_token));
    const std::string name = "sample " + std::to_string(sample);
    positions.push_back(mrope_position_ids(texts.back().tokens, VlmTokens::image_pad, grids, name));
    lengths.push_back(static_cast<int64_t>(texts.back().tokens.size()));
  }

  // Vision stream: images in sample order, one segment each, positions in merge
  // order; padded_all gives every image the largest image's length.
  const int64_t images = static_cast<int64_t>(batch.image_grids.size() / 2);
  const bool pad_images = layout == VlmLayout::padded_all;
  int64_t longest_image = 0;
  for (const VlmSample& sample : samples)
    for (const SampleImage& image : sample.images) longest_image = std::max(longest_image, image.patch_count());
  const int64_t vision_slots = pad_images ? images * longest_image : vision_tokens;
  batch.patches = Tensor::zeros({vision_slots, std::max<int64_t>(patch_dim, 1)});
  batch.vision_positions = Tensor::zeros({2, vision_slots}, DType::i64);
  batch.vision_cu_seqlens = Tensor::empty({images + 1}, DType::i32);
  if (pad_images) {
    batch.vision_key_mask = Tensor::zeros({images, longest_image}, DType::u8);
    batch.vision_rows = Tensor::empty({vision_tokens}, DType::i64);
  }
  float* patch_out = batch.patches.data<float>();
  int64_t* rows = batch.vision_positions.data<int64_t>();
  int64_t* cols = rows + vision_slots;
  int32_t* cu_v = batch.vision_cu_seqlens.data<int32_t>();
  cu_v[0] = 0;
  int64_t token = 0, real = 0, image_index = 0;
  for (const VlmSample& sample : samples)
    for (const SampleImage& image : sample.images) {
      const int64_t n = image.patch_count();
      std::copy(image.patches.begin(), image.patches.end(), patch_out + token * patch_dim);
      std::vector<int32_t> r(static_cast<size_t>(n)), c(static_cast<size_t>(n));
      cpu::merge_order_positions(image.grid_height, image.grid_width, merge, r.data(), c.data());
      for (int64_t k = 0; k < n; ++k) {
        rows[token + k] = r[k];
        cols[token + k] = c[k];
        if (pad_images) {
          batch.vision_key_mask.data<uint8_t>()[image_index * longest_image + k] = 1;
          batch.vision_rows.data<int64_t>()[real + k] = token + k;
        }
      }
      real += n;
      token += pad_images ? longest_image : n;
      cu_v[++image_index] = static_cast<int32_t>(token);
    }

  // Text stream.
  const int64_t count = static_cast<int64_t>(samples.size());
  const int64_t longest = *std::max_element(lengths.begin(), lengths.end());
  for (int64_t length : lengths) batch.real_tokens += length;
  const bool padded = layout != VlmLayout::rmpad;
  const int64_t row_count = padded ? count : 1, row_length = padded ? longest : batch.real_tokens;
  batch.token_slots = row_count * row_length;
  batch.tokens = Tensor::full({row_count, row_length}, static_cast<double>(VlmTokens::endoftext), DType::i64);
  batch.targets = Tensor::full({row_count, row_length}, -100.0, DType::i64);
  batch.positions = Tensor::full({3, row_count, row_length}, 1.0, DType::i64);
  int64_t* tok = batch.tokens.data<int64_t>();
  int64_t* tgt = batch.targets.data<int64_t>();
  int64_t* pos = batch.positions.data<int64_t>();
  const int64_t plane = batch.token_slots;
  std::vector<int64_t> placeholders;
  std::vector<int32_t> cu_t{0};
  int64_t offset = 0;
  for (int64_t s = 0; s < count; ++s) {
    const SampleText& text = texts[s];
    const MropePositions& p = positions[s];
    const int64_t base = padded ? s * row_length : offset;
    bool any_target = false;
    for (int64_t j = 0; j < lengths[s]; ++j) {
      tok[base + j] = text.tokens[j];
      // targets shift inside the sample: position j predicts token j + 1 of the same sample
      if (j + 1 < lengths[s] && text.labels[j + 1] != -100) {
        tgt[base + j] = text.labels[j + 1];
        any_target = true;
        ++batch.target_count;
      }
      pos[base + j] = p.t[j];
      pos[plane + base + j] = p.h[j];
      pos[2 * plane + base + j] = p.w[j];
      if (text.tokens[j] == VlmTokens::image_pad) placeholders.push_back(base + j);
    }
    KILN_CHECK(any_target, "sample {} has no target tokens", first_sample + s);
    offset += lengths[s];
    cu_t.push_back(static_cast<int32_t>(offset));
  }
  if (!padded) batch.cu_seqlens = Tensor::from(cu_t, {count + 1});
  batch.placeholder_rows = Tensor::from(placeholders, {static_cast<int64_t>(placeholders.size())});
  KILN_CHECK(static_cast<int64_t>(placeholders.size()) * patches_per_token == vision_tokens,
             "{} <|image_pad|> tokens but the images give {} features", placeholders.size(),
             vision_tokens / patches_per_token);
  return batch;
}

}  // namespace kiln::data
