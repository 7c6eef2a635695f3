#include "kiln/data/subword.hpp"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kiln/base/error.hpp"
#include "kiln/base/printable.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/json_field.hpp"

namespace kiln::data {

namespace fs = std::filesystem;

namespace {

constexpr int32_t kByteEos = 256;

std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor_from(const std::string& proto,
                                                                           const std::string& source) {
  auto processor = std::make_shared<sentencepiece::SentencePieceProcessor>();
  // SentencePiece reports most defects through its status, but a few (an empty
  // piece in a unigram model: its trie builder's "zero-length key") as exceptions.
  sentencepiece::util::Status status;
  try {
    status = processor->LoadFromSerializedProto(proto);
  } catch (const std::exception& e) {
    fail("{}: not a SentencePiece model ({})", source, printable(e.what()));
  }
  KILN_CHECK(status.ok(), "{}: not a SentencePiece model ({})", source, printable(status.ToString()));
  return processor;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, const std::string& bytes) {
  io::AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace

Tokenizer Tokenizer::bytes() { return Tokenizer(); }

Tokenizer Tokenizer::train_sentencepiece(const fs::path& input, const fs::path& folder,
                                         const SentencePieceOptions& options) {
  KILN_CHECK(fs::exists(input), "{}: no such file", input.string());
  KILN_CHECK(fs::file_size(input) > 0, "{}: the corpus is empty", input.string());
  KILN_CHECK(options.model_type == "bpe" || options.model_type == "unigram",
             "tokenizer type must be bpe or unigram, got '{}'", options.model_type);
  KILN_CHECK(options.vocab_size >= 300 && options.vocab_size <= 1'000'000,
             "vocab size must be in [300, 1000000] (256 byte pieces are reserved), got {}", options.vocab_size);
  std::string proto;
  const std::string args = fmt::format(
      "--input={} --model_type={} --vocab_size={} --byte_fallback=true --character_coverage=1.0 "
      "--normalization_rule_name=identity --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads={} "
      "--max_sentence_length=100000 --minloglevel=2 --hard_vocab_limit=false",
      input.string(), options.model_type, options.vocab_size, options.threads);
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, nullptr, &proto);
  KILN_CHECK(status.ok(), "{}: SentencePiece training failed: {}", input.string(), status.ToString());
  Tokenizer t;
  t.kind_ = "sentencepiece-" + options.model_type;
  t.model_proto_ = std::move(proto);
  t.processor_ = processor_from(t.model_proto_, input.string());
  t.save(folder);
  return t;
}

Tokenizer Tokenizer::load(const fs::path& folder) {
  const fs::path config_path = folder / "tokenizer_config.json";
  KILN_CHECK(fs::exists(config_path), "{}: not a tokenizer folder (no tokenizer_config.json)", folder.string());
  const nlohmann::json config = nlohmann::json::parse(read_file(config_path), nullptr, false);
  KILN_CHECK(config.is_object() && config.contains("kind") && config["kind"].is_string(),
             "{}: malformed tokenizer configuration", config_path.string());
  Tokenizer t;
  t.kind_ = config["kind"].get<std::string>();
  if (t.kind_ == "bytes") return t;
  KILN_CHECK(t.kind_.rfind("sentencepiece-", 0) == 0, "{}: unknown tokenizer kind '{}'", config_path.string(), t.kind_);
  const fs::path model = folder / "tokenizer.model";
  KILN_CHECK(fs::exists(model), "{}: missing tokenizer.model", folder.string());
  t.model_proto_ = read_file(model);
  t.processor_ = processor_from(t.model_proto_, model.string());
  const int64_t expected = config.contains("vocab_size")
                               ? io::json_int(config, "vocab_size", 1, int64_t{1} << 31, config_path.string())
                               : t.vocab_size();
  KILN_CHECK(expected == t.vocab_size(), "{}: configuration says {} tokens, the model has {}", folder.string(),
             expected, t.vocab_size());
  return t;
}

void Tokenizer::save(const fs::path& folder) const {
  fs::create_directories(folder);
  if (processor_) write_file(folder / "tokenizer.model", model_proto_);
  const nlohmann::json config = {{"kind", kind_}, {"vocab_size", vocab_size()}, {"eos_id", eos_id()}};
  write_file(folder / "tokenizer_config.json", config.dump(2) + "\n");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  if (!processor_) {
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::vector<int> ids;
  const auto status = processor_->Encode(text, &ids);
  KILN_CHECK(status.ok(), "tokenizer: cannot encode text: {}", status.ToString());
  return {ids.begin(), ids.end()};
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  for (int32_t id : ids)
    KILN_CHECK(id >= 0 && id < vocab_size(), "tokenizer: id {} is outside the vocabulary of {}", id, vocab_size());
  if (!processor_) {
    std::string text;
    for (int32_t id : ids)
      if (id < 256) text.push_back(static_cast<char>(id));
    return text;
  }
  std::string text;
  const auto status = processor_->Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  KILN_CHECK(status.ok(), "tokenizer: cannot decode: {}", status.ToString());
  return text;
}

std::string Tokenizer::piece(int32_t id) const {
  KILN_CHECK(id >= 0 && id < vocab_size(), "tokenizer: id {} is outside the vocabulary of {}", id, vocab_size());
  if (!processor_) return id == kByteEos ? "</s>" : fmt::format("<0x{:02X}>", id);
  return processor_->IdToPiece(id);
}

int64_t Tokenizer::vocab_size() const { return processor_ ? processor_->GetPieceSize() : 257; }

int32_t Tokenizer::eos_id() const { return processor_ ? processor_->eos_id() : kByteEos; }

int32_t Tokenizer::bos_id() const { return processor_ ? processor_->bos_id() : -1; }

int32_t Tokenizer::unk_id() const { return processor_ ? processor_->unk_id() : -1; }

Tokenizer::PieceKind Tokenizer::piece_kind(int32_t id) const {
  KILN_CHECK(id >= 0 && id < vocab_size(), "tokenizer: id {} is outside the vocabulary of {}", id, vocab_size());
  if (!processor_) return id == kByteEos ? PieceKind::control : PieceKind::byte;
  if (processor_->IsUnknown(id)) return PieceKind::unknown;
  if (processor_->IsControl(id)) return PieceKind::control;
  if (processor_->IsByte(id)) return PieceKind::byte;
  if (processor_->IsUnused(id)) return PieceKind::unused;
  return PieceKind::normal;
}

float Tokenizer::score(int32_t id) const {
  KILN_CHECK(id >= 0 && id < vocab_size(), "tokenizer: id {} is outside the vocabulary of {}", id, vocab_size());
  return processor_ ? processor_->GetScore(id) : 0.0f;
}

Tokenizer Tokenizer::from_sentencepiece_file(const fs::path& model, const std::string& kind) {
  KILN_CHECK(kind.rfind("sentencepiece-", 0) == 0, "tokenizer kind '{}' is not a SentencePiece kind", kind);
  Tokenizer t;
  t.kind_ = kind;
  t.model_proto_ = read_file(model);
  t.processor_ = processor_from(t.model_proto_, model.string());
  return t;
}

std::string Tokenizer::description() const { return fmt::format("{} ({} tokens)", kind_, vocab_size()); }

}  // namespace kiln::data
