#pragma once
// kiln's encoders as Hugging Face folders (docs/interop.md), and back:
//  - BERT → BertForMaskedLM (BertForSequenceClassification once fine-tuned):
//    config.json with BertConfig's fields, every parameter under its own name
//    (kiln already keeps transformers' names and nn.Linear's [out, in]; the
//    decoder of the MLM head stays tied to the word embeddings), vocab.txt,
//    tokenizer_config.json for BertTokenizer;
//  - ViT → ViTForImageClassification (a fixed sin-cos position table written
//    as position_embeddings), preprocessor_config.json with the pixel
//    normalisation the model was trained with;
//  - MAE → ViTMAEForPreTraining, with both fixed position tables
//    (vit.embeddings.position_embeddings, decoder.decoder_pos_embed).
// Import reads BERT and ViT folders into a kiln run folder's model/.
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "kiln/train/interop.hpp"

namespace kiln::train {

// The model/ folder of a kiln BERT, ViT or MAE run (or that folder itself);
// nothing for a decoder run.
std::optional<std::filesystem::path> encoder_model_folder(const std::filesystem::path& run);

ExportSummary export_hf_encoder(const std::filesystem::path& model_folder, const std::filesystem::path& output,
                                const PixelNormalisation& pixels);

// A BertForMaskedLM / BertForSequenceClassification / BertForPreTraining or
// ViTForImageClassification folder → <run>/model (config, weights, vocab.txt).
// Parameters the architecture does not carry but kiln's model has (BERT's
// pooler or MLM head) are initialised as kiln initialises them and named in
// the summary.
bool is_encoder_config(const nlohmann::json& config);
ImportSummary import_hf_encoder(const std::filesystem::path& folder, const nlohmann::json& config,
                                const std::filesystem::path& run);

}  // namespace kiln::train
