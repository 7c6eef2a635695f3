#pragma once
// Text ↔ token ids. Two kinds, one value type:
//  - SentencePiece (BPE or unigram, byte fallback on, so nothing is ever
//    out of vocabulary), trained from a text file through the library;
//  - bytes: the 256 byte values plus an end-of-document id.
// A tokenizer folder holds tokenizer_config.json and, for SentencePiece,
// tokenizer.model; it is copied beside every checkpoint.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace kiln::data {

struct SentencePieceOptions {
  std::string model_type = "bpe";  // bpe | unigram
  int64_t vocab_size = 4096;
  int threads = 2;
};

class Tokenizer {
 public:
  static Tokenizer bytes();
  // Trains on `input` (one sentence or document per line) and writes the folder.
  static Tokenizer train_sentencepiece(const std::filesystem::path& input, const std::filesystem::path& folder,
                                       const SentencePieceOptions& options);
  static Tokenizer load(const std::filesystem::path& folder);
  void save(const std::filesystem::path& folder) const;

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string piece(int32_t id) const;  // a printable name for one id
  int64_t vocab_size() const;
  int32_t eos_id() const;
  int32_t bos_id() const;  // −1 when the tokenizer has none (bytes)
  int32_t unk_id() const;  // −1 when the tokenizer has none (bytes)
  // What one id is, for formats that list the vocabulary (GGUF): SentencePiece's
  // piece kinds; the bytes tokenizer's 256 ids are bytes and its last is control.
  enum class PieceKind { normal, unknown, control, unused, byte };
  PieceKind piece_kind(int32_t id) const;
  float score(int32_t id) const;  // the SentencePiece score (0 for bytes)
  // A SentencePiece model file from elsewhere (a Hugging Face tokenizer.model);
  // `kind` names it ("sentencepiece-bpe").
  static Tokenizer from_sentencepiece_file(const std::filesystem::path& model, const std::string& kind);
  std::string kind() const { return kind_; }
  std::string description() const;

 private:
  std::string kind_ = "bytes";
  std::string model_proto_;  // serialized SentencePiece model
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace kiln::data
