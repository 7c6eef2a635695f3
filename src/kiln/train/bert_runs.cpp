// BERT runs: `kiln train` with model.arch = "bert" pre-trains a masked LM on
// a text corpus (one sentence or verse per line) with a WordPiece vocabulary
// learnt from it; `kiln finetune` trains a sequence classifier on [CLS] —
// from a pre-trained run or from scratch — on lines with a parallel label
// file (KJV: which of the 66 books a verse is from). Both on the one loop.
#include "kiln/train/bert_runs.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/data/wordpiece.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/safetensors.hpp"
#include "kiln/models/bert/bert.hpp"
#include "kiln/models/bert/bert_config_io.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/io/input_file.hpp"
#include "kiln/train/model_folder.hpp"
#include "kiln/train/training_loop.hpp"
#include "kiln/train/image_trainer.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

// `what` names the option the path came from; a directory or a device is refused
// before reading (a line of /dev/zero would never end).
std::vector<std::string> read_lines(const fs::path& path, const std::string& what) {
  io::check_input_file(path, what);
  std::ifstream in(path);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  KILN_CHECK(!lines.empty(), "{}: empty", path.string());
  return lines;
}

void save_bert(const fs::path& dir, const models::BertModel& model, const data::WordPieceTokenizer& tokenizer,
               const nlohmann::json& extra = {}) {
  nlohmann::json config = models::bert_config_json(model.config());
  if (!extra.is_null()) config["kiln"] = extra;
  train::save_model_folder(dir, config, model.parameters(), [&](const fs::path& staging) {
    data::write_wordpiece_vocab(staging / "vocab.txt", tokenizer.vocab());
  });
}

struct Sequences {
  std::vector<int32_t> stream;        // every line's ids followed by [SEP]
  std::vector<int64_t> line_starts;   // offsets of the lines in the stream
};

Sequences encode_lines(const std::vector<std::string>& lines, const data::WordPieceTokenizer& t) {
  Sequences s;
  for (const std::string& line : lines) {
    s.line_starts.push_back(static_cast<int64_t>(s.stream.size()));
    for (int32_t id : t.encode(line)) s.stream.push_back(id);
    s.stream.push_back(t.sep_id());
  }
  return s;
}

// B windows of [CLS] + (L − 1) stream tokens, each starting at a line start.
models::BertBatch mlm_windows(const Sequences& s, int64_t batch, int64_t length, const PhiloxKey& key,
                              const data::WordPieceTokenizer& t, bool fixed_order, int64_t first_window) {
  Tensor tokens = Tensor::empty({batch, length}, DType::i64);
  const int64_t span = length - 1, total = static_cast<int64_t>(s.stream.size());
  std::vector<int64_t> usable;
  for (int64_t start : s.line_starts)
    if (start + span <= total) usable.push_back(start);
  KILN_CHECK(!usable.empty(), "the corpus is shorter than one sequence of {} tokens", length);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t pick = 0;
    if (fixed_order) {
      pick = usable[static_cast<size_t>((first_window + b) * 7919 % static_cast<int64_t>(usable.size()))];
    } else {
      const auto bits = philox_block(key, static_cast<uint64_t>(b));
      pick = usable[((uint64_t{bits[0]} << 32) | bits[1]) % usable.size()];
    }
    tokens.data<int64_t>()[b * length] = t.cls_id();
    for (int64_t i = 0; i < span; ++i) tokens.data<int64_t>()[b * length + 1 + i] = s.stream[pick + i];
  }
  return {tokens, Tensor(), Tensor()};
}

std::pair<Tensor, Tensor> masked(models::BertBatch& batch, const data::WordPieceTokenizer& t, double rate,
                                 bool whole_word, uint64_t seed, uint64_t draw) {
  const int64_t n = batch.tokens.numel();
  std::vector<uint8_t> maskable(static_cast<size_t>(n)), continues(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(batch.tokens.data<int64_t>()[i]);
    maskable[i] = id != t.cls_id() && id != t.sep_id() && (!t.pad_id() || id != *t.pad_id());
    continues[i] = t.token(id).rfind("##", 0) == 0;
  }
  const Tensor labels = models::mask_tokens(batch.tokens, maskable, continues,
                                            {.rate = rate, .mask_id = t.mask_id(), .vocab_size = t.vocab_size(),
                                             .whole_word = whole_word},
                                            seed, draw);
  return {batch.tokens, labels};
}

}  // namespace

void run_bert_pretraining(io::ConfigFile& f, bool resume) {
  const fs::path run_dir = f.get_string("run.dir", "runs/kjv-bert");
  const fs::path train_text = f.get_string("data.train", "data/kjv/train.txt");
  const fs::path valid_text = f.get_string("data.valid", "data/kjv/valid.txt");
  const int64_t vocab_size = f.get_int("tokenizer.vocab_size", 4000, 64, 1 << 20);
  const bool lowercase = f.get_bool("tokenizer.lowercase", true);
  const std::string merge_score = f.get_string("tokenizer.merge_score", "frequency", {"frequency", "likelihood"});
  models::BertConfig m = models::read_bert_config(f);
  const int64_t steps = f.get_int("train.steps", 2000, 1, 1 << 30);
  const int64_t batch = f.get_int("train.batch_size", 32, 1, 1 << 16);
  const int64_t length = f.get_int("train.seq_len", 128, 8, m.max_positions);
  const double lr = f.get_double("train.lr", 1e-3, 0, 10);
  const int64_t warmup = f.get_int("train.warmup", steps / 10, 0, 1 << 30);
  const double weight_decay = f.get_double("train.weight_decay", 0.01, 0, 10);
  const double mask_rate = f.get_double("train.mask_rate", 0.15, 0.01, 0.9);
  const bool whole_word = f.get_bool("train.whole_word_mask", false);
  const int64_t eval_every = f.get_int("train.eval_every", 500, 1, 1 << 30);
  const auto seed = static_cast<uint64_t>(f.get_int("train.seed", 1234, 0, 1LL << 62));
  f.check_all_used();

  data::WordPieceOptions wp;
  wp.lowercase = lowercase;
  const std::vector<std::string> lines = read_lines(train_text, "data.train"), valid_lines = read_lines(valid_text, "data.valid");
  fs::create_directories(run_dir);
  const fs::path vocab_path = run_dir / "vocab.txt";
  if (!fs::exists(vocab_path)) {
    const auto start = std::chrono::steady_clock::now();
    data::WordPieceVocabOptions vo;
    vo.tokenizer = wp;
    vo.score = merge_score == "frequency" ? data::MergeScore::frequency : data::MergeScore::likelihood;
    data::write_wordpiece_vocab(vocab_path, data::build_wordpiece_vocab(lines, vocab_size, vo));
    fmt::print(stderr, "WordPiece vocabulary learnt from {} in {:.1f} s: {}\n", train_text.string(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), vocab_path.string());
  }
  const data::WordPieceTokenizer tokenizer = data::WordPieceTokenizer::load(vocab_path, wp);
  KILN_CHECK(tokenizer.pad_id().has_value(), "{}: the vocabulary has no [PAD]", vocab_path.string());
  m.vocab_size = tokenizer.vocab_size();
  models::BertModel model(m, seed);
  const Sequences train_seq = encode_lines(lines, tokenizer), valid_seq = encode_lines(valid_lines, tokenizer);
  fmt::print(stderr, "BERT: {} layers, width {}, {:.2f}M parameters; {} WordPiece tokens; {} train / {} valid tokens\n",
             m.n_layer, m.d_model, static_cast<double>(m.parameter_count(true)) / 1e6, m.vocab_size,
             train_seq.stream.size(), valid_seq.stream.size());
  train::LoopOptions o;
  o.steps = steps;
  o.schedule = {.kind = "linear", .warmup = warmup, .lr = lr, .min_lr = 0.0};
  o.adamw.weight_decay = weight_decay;
  o.eval_every = eval_every;
  o.items_per_step = batch * length;
  o.unit = "tokens";
  o.seed = seed;
  o.resume = resume;
  const auto loss = [&](int64_t step, nlohmann::json&) {
    // New windows and a new masking every step: each epoch sees other masks (dynamic masking).
    models::BertBatch b = mlm_windows(train_seq, batch, length, {seed, 0x77000000ULL + static_cast<uint64_t>(step)},
                                      tokenizer, false, 0);
    auto [tokens, labels] = masked(b, tokenizer, mask_rate, whole_word, seed, static_cast<uint64_t>(step));
    const Tensor loss = model.mlm_loss(b, labels, true, seed, static_cast<uint64_t>(step));
    return train::backward_loss(loss);
  };
  const auto evaluate = [&](int64_t, nlohmann::json& record) {
    NoGradGuard no_grad;
    double total = 0;
    const int64_t batches = 8;
    for (int64_t k = 0; k < batches; ++k) {
      models::BertBatch b = mlm_windows(valid_seq, batch, length, {seed, 0}, tokenizer, true, k * batch);
      auto [tokens, labels] = masked(b, tokenizer, mask_rate, whole_word, seed + 1, static_cast<uint64_t>(k));
      total += model.mlm_loss(b, labels, false).item();
    }
    record["val_loss"] = total / static_cast<double>(batches);
    save_bert(run_dir / "model", model, tokenizer);
  };
  const train::LoopResult result = train::run_training_loop(
      model.parameters(), optim::gradient_trained(model.parameters()), {.step = loss, .evaluate = evaluate}, o, run_dir);
  const double last = result.last_loss;
  fmt::print("pre-trained {} steps: train MLM loss {:.4f}; checkpoint {}\n", steps, last, (run_dir / "model").string());
}

namespace {

struct Labelled {
  std::vector<std::vector<int32_t>> ids;
  std::vector<int64_t> labels;
};

// `split` names the data.<split> and data.<split>_labels options.
Labelled labelled_lines(const std::string& split, const fs::path& text, const fs::path& label_file,
                        const data::WordPieceTokenizer& t,
                        std::map<std::string, int64_t>& classes, int64_t max_len, bool add_classes) {
  const std::vector<std::string> lines = read_lines(text, "data." + split), names = read_lines(label_file, "data." + split + "_labels");
  KILN_CHECK(lines.size() == names.size(), "{} has {} lines but {} has {} labels", text.string(), lines.size(),
             label_file.string(), names.size());
  Labelled out;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto it = classes.find(names[i]);
    if (it == classes.end()) {
      KILN_CHECK(add_classes, "{}:{}: label '{}' does not occur in the training labels", label_file.string(), i + 1,
                 names[i]);
      it = classes.emplace(names[i], static_cast<int64_t>(classes.size())).first;
    }
    std::vector<int32_t> ids{t.cls_id()};
    for (int32_t id : t.encode(lines[i])) {
      if (static_cast<int64_t>(ids.size()) + 1 >= max_len) break;
      ids.push_back(id);
    }
    ids.push_back(t.sep_id());
    out.ids.push_back(std::move(ids));
    out.labels.push_back(it->second);
  }
  return out;
}

models::BertBatch pad_batch(const Labelled& data, const std::vector<int64_t>& items, int32_t pad) {
  int64_t longest = 0;
  for (int64_t i : items) longest = std::max<int64_t>(longest, static_cast<int64_t>(data.ids[i].size()));
  const auto b = static_cast<int64_t>(items.size());
  Tensor tokens = Tensor::full({b, longest}, pad, DType::i64);
  Tensor mask = Tensor::zeros({b, longest}, DType::u8);
  for (int64_t r = 0; r < b; ++r)
    for (size_t j = 0; j < data.ids[items[r]].size(); ++j) {
      tokens.data<int64_t>()[r * longest + static_cast<int64_t>(j)] = data.ids[items[r]][j];
      mask.data<uint8_t>()[r * longest + static_cast<int64_t>(j)] = 1;
    }
  return {tokens, Tensor(), mask};
}

}  // namespace

void run_bert_finetuning(io::ConfigFile& f, const std::string& from, bool resume) {
  const fs::path run_dir = f.get_string("run.dir", from.empty() ? "runs/kjv-books-scratch" : "runs/kjv-books");
  const fs::path train_text = f.get_string("data.train", "data/kjv/train.txt");
  const fs::path train_labels = f.get_string("data.train_labels", "data/kjv/train.books.txt");
  const fs::path test_text = f.get_string("data.test", "data/kjv/test.txt");
  const fs::path test_labels = f.get_string("data.test_labels", "data/kjv/test.books.txt");
  const std::string vocab_option = f.get_string("tokenizer.vocab", "");
  models::BertConfig m = models::read_bert_config(f);
  const int64_t epochs = f.get_int("train.epochs", 3, 1, 1000);
  const int64_t batch = f.get_int("train.batch_size", 32, 1, 1 << 16);
  const int64_t max_len = f.get_int("train.max_len", 64, 4, 1 << 16);
  const double lr = f.get_double("train.lr", 1e-4, 0, 10);
  const double weight_decay = f.get_double("train.weight_decay", 0.01, 0, 10);
  const auto seed = static_cast<uint64_t>(f.get_int("train.seed", 1234, 0, 1LL << 62));
  f.check_all_used();

  // The pre-trained run fixes the architecture and the vocabulary; from scratch the config does.
  fs::path vocab_path = vocab_option;
  std::map<std::string, Tensor> pretrained;
  if (!from.empty()) {
    train::ModelFolder folder = train::load_model_folder(from, "a kiln BERT run");
    m = models::bert_config_from_json(folder.config, (folder.dir / "config.json").string());
    vocab_path = folder.dir / "vocab.txt";
    pretrained = std::move(folder.weights);
  }
  KILN_CHECK(!vocab_path.empty(), "from scratch, set tokenizer.vocab (a vocab.txt, e.g. runs/kjv-bert/vocab.txt)");
  const data::WordPieceTokenizer tokenizer = data::WordPieceTokenizer::load(vocab_path);
  KILN_CHECK(tokenizer.pad_id().has_value(), "{}: the vocabulary has no [PAD]", vocab_path.string());
  std::map<std::string, int64_t> classes;
  const Labelled train_set = labelled_lines("train", train_text, train_labels, tokenizer, classes, max_len, true);
  const Labelled test_set = labelled_lines("test", test_text, test_labels, tokenizer, classes, max_len, false);
  m.vocab_size = tokenizer.vocab_size();
  m.n_classes = static_cast<int64_t>(classes.size());
  models::BertModel model(m, seed + 7);
  if (!pretrained.empty()) {
    std::map<std::string, Tensor> encoder;
    for (const auto& [name, t] : pretrained)
      if (name.rfind("bert.", 0) == 0) encoder.emplace(name, t);
    model.load_parameters(encoder, true);
  }
  fmt::print(stderr, "fine-tuning {} BERT ({} layers, width {}) on {} lines, {} classes; {} test lines\n",
             from.empty() ? "a freshly initialised" : "the pre-trained", m.n_layer, m.d_model, train_set.ids.size(),
             m.n_classes, test_set.ids.size());
  std::map<std::string, Tensor> trained;
  for (const auto& [name, p] : model.parameters())
    if (name.rfind("cls.predictions", 0) != 0) trained.emplace(name, p);  // the MLM head plays no part
  const auto n = static_cast<int64_t>(train_set.ids.size());
  const int64_t per_epoch = n / batch, total = per_epoch * epochs;
  KILN_CHECK(per_epoch >= 1, "{}: {} lines, fewer than one batch of {}", train_text.string(), n, batch);
  const auto evaluate = [&] {
    NoGradGuard no_grad;
    train::Evaluation e;
    for (int64_t first = 0; first < static_cast<int64_t>(test_set.ids.size()); first += 128) {
      std::vector<int64_t> items, truth;
      for (int64_t i = first; i < std::min<int64_t>(first + 128, static_cast<int64_t>(test_set.ids.size())); ++i) {
        items.push_back(i);
        truth.push_back(test_set.labels[i]);
      }
      train::add_predictions(e, model.classify(pad_batch(test_set, items, *tokenizer.pad_id()), false), truth,
                             m.n_classes);
    }
    return e;
  };
  train::LoopOptions o;
  o.label = "finetune";
  o.steps = total;
  o.steps_per_epoch = per_epoch;
  o.schedule = {.kind = "linear", .warmup = total / 10, .lr = lr, .min_lr = 0.0};
  o.adamw.weight_decay = weight_decay;
  o.unit = "lines";
  o.items_per_step = batch;
  o.seed = seed;
  o.resume = resume;
  int64_t order_epoch = -1;
  std::vector<int64_t> order;
  train::LoopHooks hooks;
  hooks.step = [&](int64_t step, nlohmann::json&) {
    if (step / per_epoch != order_epoch) {
      order_epoch = step / per_epoch;
      order = philox_permutation(n, {seed, 0x66740000ULL + static_cast<uint64_t>(order_epoch)});
    }
    const int64_t k = step % per_epoch;
    const std::vector<int64_t> items(order.begin() + k * batch, order.begin() + (k + 1) * batch);
    std::vector<int64_t> y;
    for (int64_t i : items) y.push_back(train_set.labels[i]);
    const Tensor loss = ops::cross_entropy(
        model.classify(pad_batch(train_set, items, *tokenizer.pad_id()), true, seed, static_cast<uint64_t>(step)),
        Tensor::from<int64_t>(y, {batch}));
    return train::backward_loss(loss);
  };
  hooks.evaluate = [&](int64_t, nlohmann::json& record) { record["val_accuracy"] = evaluate().accuracy; };
  const auto start = std::chrono::steady_clock::now();
  const train::LoopResult result = train::run_training_loop(model.parameters(), trained, hooks, o, run_dir);
  const int64_t step = result.last_step;
  const train::Evaluation e = evaluate();
  save_bert(run_dir / "model", model, tokenizer, {{"labels", classes}});
  train::write_confusion_png(e, m.n_classes, run_dir / "confusion.png");
  fmt::print("{}: test accuracy {:.2f}% ({} of {}) after {} epochs ({} steps, {:.0f} s); confusion matrix {}\n",
             from.empty() ? "from scratch" : "pre-trained + fine-tuned", 100 * e.accuracy, e.correct, e.total,
             epochs, step, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
             (run_dir / "confusion.png").string());
}

}  // namespace kiln::train
