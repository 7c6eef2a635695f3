// The LM training loop: batches, learning, atomic checkpoints and a resume
// that continues the same loss curve.
#include "kiln/train/lm_trainer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "kiln/models/gpt/config_io.hpp"
#include "kiln/train/checkpoint.hpp"
#include "support/run_files.hpp"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;
using kiln::testing::logged_steps;

// A toy language: documents "a b c d ... " cycling through a small alphabet
// with a document end (id 0) after each.
std::vector<int32_t> toy_stream(int64_t documents, uint32_t salt) {
  std::vector<int32_t> out;
  for (int64_t d = 0; d < documents; ++d) {
    const int32_t first = 1 + static_cast<int32_t>((d * 7 + salt) % 11);
    const int64_t length = 5 + (d * 3 + salt) % 7;
    for (int64_t i = 0; i < length; ++i) out.push_back(1 + (first + i) % 15);
    out.push_back(0);
  }
  return out;
}

models::GptConfig toy_model() {
  models::GptConfig c;
  c.vocab_size = 16;
  c.d_model = 32;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.ffn_hidden = 64;
  c.max_seq_len = 32;
  c.init_std = 0.02;
  return c;
}

TrainOptions toy_options() {
  TrainOptions o;
  o.steps = 6;
  o.lr = 1e-2;
  o.min_lr = 1e-3;
  o.warmup = 2;
  o.eval_every = 3;
  o.eval_batches = 2;
  o.checkpoint_every = 3;
  o.grad_accum = 2;
  return o;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_trainer_test_" + name + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

std::vector<double> losses(const fs::path& metrics) {
  std::ifstream in(metrics);
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return out;
}

TEST(LmBatches, PackedBatchesNeverCrossDocuments) {
  const LmBatches batches(toy_stream(50, 0), toy_stream(10, 1), 0, 3, 16, AttentionLayout::documents, 9);
  const models::DecoderBatch b = batches.train_batch(4, 0);
  ASSERT_EQ(b.tokens.shape(), (Shape{1, 48}));
  const auto tokens = b.tokens.to_vector<int64_t>(), targets = b.targets.to_vector<int64_t>(),
             positions = b.positions.to_vector<int64_t>(), cu = b.cu_seqlens.to_vector<int64_t>();
  EXPECT_EQ(cu.front(), 0);
  EXPECT_EQ(cu.back(), 48);
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    EXPECT_LT(cu[s], cu[s + 1]);
    for (int64_t i = cu[s]; i < cu[s + 1]; ++i) EXPECT_EQ(positions[i], i - cu[s]) << "positions restart";
  }
  for (size_t i = 1; i < tokens.size(); ++i) {
    if (tokens[i] == 0 && i % 16 != 0) {
      EXPECT_EQ(positions[i], 0) << "an end-of-document id opens a new segment";
    }
    if (i % 16 != 0) {
      EXPECT_EQ(targets[i - 1], tokens[i]) << "next-token targets within a window";
    }
  }
  EXPECT_EQ(batches.train_batch(4, 0).tokens.to_vector<int64_t>(), tokens) << "batch k is a function of k";
  EXPECT_NE(batches.train_batch(5, 0).tokens.to_vector<int64_t>(), tokens);
}

TEST(LmTrainer, LearnsTheToyLanguage) {
  const fs::path dir = fresh_dir("learn");
  const LmBatches batches(toy_stream(400, 0), toy_stream(40, 1), 0, 4, 24, AttentionLayout::documents, 3);
  models::GptModel model(toy_model(), 11);
  TrainOptions options = toy_options();
  options.steps = 60;
  options.eval_every = 60;
  options.checkpoint_every = 60;
  LmTrainer trainer(model, batches, options, dir, {}, nlohmann::json::object());
  const EvalResult before = trainer.evaluate(0);
  const TrainResult result = trainer.run();
  EXPECT_NEAR(before.loss, std::log(16.0), 0.1) << "small init: the first loss is about ln V";
  EXPECT_LT(result.last_eval.loss, 1.0) << "the toy language is nearly deterministic";
  EXPECT_EQ(losses(dir / "metrics.jsonl").size(), 60u);
  fs::remove_all(dir);
}

TEST(LmTrainer, ResumeContinuesTheSameCurve) {
  const LmBatches batches(toy_stream(200, 0), toy_stream(30, 1), 0, 2, 16, AttentionLayout::documents, 5);
  const fs::path straight = fresh_dir("straight"), interrupted = fresh_dir("interrupted");
  {
    models::GptModel model(toy_model(), 7);
    LmTrainer(model, batches, toy_options(), straight, {}, nlohmann::json::object()).run();
  }
  {
    models::GptModel model(toy_model(), 7);
    TrainOptions options = toy_options();
    options.stop_after = 3;
    LmTrainer(model, batches, options, interrupted, {}, nlohmann::json::object()).run();
  }
  {
    models::GptModel model(toy_model(), 99);  // different init: everything must come from the checkpoint
    LmTrainer trainer(model, batches, toy_options(), interrupted, {}, nlohmann::json::object());
    trainer.resume(interrupted);
    trainer.run();
  }
  const auto a = losses(straight / "metrics.jsonl"), b = losses(interrupted / "metrics.jsonl");
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(a[i], b[i], 1e-9 * std::abs(a[i])) << "step " << i + 1;
  const Checkpoint last = load_checkpoint(interrupted, false);
  EXPECT_EQ(last.trainer_state["step"].get<int64_t>(), 6);
  EXPECT_TRUE(fs::exists(interrupted / "checkpoints" / "step-0000003" / "model.safetensors"));
  fs::remove_all(straight);
  fs::remove_all(interrupted);
}

// A crash after step 5 leaves metrics up to step 5; resuming from the step-2
// checkpoint (not the latest) must log steps 3-6 once, on the same curve.
TEST(LmTrainer, ResumeFromAnOlderCheckpointLogsEachStepOnce) {
  const LmBatches batches(toy_stream(200, 0), toy_stream(30, 1), 0, 2, 16, AttentionLayout::documents, 5);
  const fs::path straight = fresh_dir("older_straight"), interrupted = fresh_dir("older_interrupted");
  TrainOptions options = toy_options();
  options.checkpoint_every = 2;
  {
    models::GptModel model(toy_model(), 7);
    LmTrainer(model, batches, options, straight, {}, nlohmann::json::object()).run();
  }
  {
    models::GptModel model(toy_model(), 7);
    TrainOptions stopped = options;
    stopped.stop_after = 5;
    LmTrainer(model, batches, stopped, interrupted, {}, nlohmann::json::object()).run();
  }
  ASSERT_EQ(logged_steps(interrupted / "metrics.jsonl"), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  {
    models::GptModel model(toy_model(), 99);
    LmTrainer trainer(model, batches, options, interrupted, {}, nlohmann::json::object());
    trainer.resume(interrupted / "checkpoints" / "step-0000002");
    trainer.run();
  }
  EXPECT_EQ(logged_steps(interrupted / "metrics.jsonl"), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  const auto a = losses(straight / "metrics.jsonl"), b = losses(interrupted / "metrics.jsonl");
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-9 * std::abs(a[i])) << "step " << i + 1;
  fs::remove_all(straight);
  fs::remove_all(interrupted);
}

models::GptConfig toy_deepseek() {
  models::GptConfig c = toy_model();
  c.attention = models::AttentionKind::mla;
  c.mla = {.q_lora_rank = 16, .kv_lora_rank = 16, .qk_nope_head_dim = 8, .qk_rope_head_dim = 4, .v_head_dim = 8};
  c.moe.n_routed_experts = 4;
  c.moe.n_activated_experts = 2;
  c.moe.moe_inter_dim = 16;
  c.moe.n_expert_groups = 2;
  c.moe.n_limited_groups = 1;
  c.moe.route_scale = 2.5;
  c.moe.bias_update_speed = 0.01;
  c.mtp_depth = 1;
  return c;
}

TEST(LmTrainer, DeepSeekModelBalancesLogsAndResumesTheSameCurve) {
  const LmBatches batches(toy_stream(200, 0), toy_stream(30, 1), 0, 2, 16, AttentionLayout::documents, 5);
  const fs::path straight = fresh_dir("ds_straight"), interrupted = fresh_dir("ds_interrupted");
  std::vector<float> final_bias;
  {
    models::GptModel model(toy_deepseek(), 7);
    LmTrainer(model, batches, toy_options(), straight, {}, nlohmann::json::object()).run();
    final_bias = model.parameters().at("model.layers.1.mlp.gate.e_score_correction_bias").to_vector<float>();
  }
  // Steps of ±0.01 (or 0 when an expert is exactly at the mean): multiples of 0.01, |b| ≤ 0.06.
  for (float b : final_bias) {
    EXPECT_LE(std::abs(b), 0.06f + 1e-6f);
    EXPECT_NEAR(b * 100, std::round(b * 100), 1e-4);
  }
  {
    models::GptModel model(toy_deepseek(), 7);
    TrainOptions options = toy_options();
    options.stop_after = 3;
    LmTrainer(model, batches, options, interrupted, {}, nlohmann::json::object()).run();
    float moved = 0;  // after an odd number of steps an imbalanced expert cannot be back at 0
    for (float b : model.parameters().at("model.layers.1.mlp.gate.e_score_correction_bias").to_vector<float>())
      moved += std::abs(b);
    EXPECT_GT(moved, 0.0f);
  }
  {
    models::GptModel model(toy_deepseek(), 99);
    LmTrainer trainer(model, batches, toy_options(), interrupted, {}, nlohmann::json::object());
    trainer.resume(interrupted);
    trainer.run();
    EXPECT_EQ(model.parameters().at("model.layers.1.mlp.gate.e_score_correction_bias").to_vector<float>(), final_bias)
        << "the routing bias is saved and restored with the weights";
  }
  const auto a = losses(straight / "metrics.jsonl"), b = losses(interrupted / "metrics.jsonl");
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(a[i], b[i], 1e-9 * std::abs(a[i])) << "step " << i + 1;
  std::ifstream in(straight / "metrics.jsonl");
  std::string line;
  std::getline(in, line);
  const nlohmann::json first = nlohmann::json::parse(line);
  EXPECT_TRUE(first.contains("mtp_loss"));
  EXPECT_TRUE(first["expert_load_max_mean"].contains("1"));
  EXPECT_GE(first["expert_load_max_mean"]["1"].get<double>(), 1.0);
  const Checkpoint last = load_checkpoint(straight, false);
  EXPECT_EQ(models::gpt_config_json(last.config), models::gpt_config_json(toy_deepseek())) << "config.json round trip";
  EXPECT_EQ(models::gpt_config_json(last.config)["model_type"], "deepseek_v3");
  fs::remove_all(straight);
  fs::remove_all(interrupted);
}

TEST(LmTrainer, RejectsAForeignCheckpoint) {
  const LmBatches batches(toy_stream(100, 0), toy_stream(30, 1), 0, 2, 16, AttentionLayout::stream, 5);
  const fs::path dir = fresh_dir("foreign");
  {
    models::GptModel model(toy_model(), 7);
    TrainOptions options = toy_options();
    options.steps = 1;
    LmTrainer(model, batches, options, dir, {}, nlohmann::json::object()).run();
  }
  models::GptConfig other = toy_model();
  other.n_layer = 3;
  models::GptModel model(other, 7);
  LmTrainer trainer(model, batches, toy_options(), dir, {}, nlohmann::json::object());
  EXPECT_THROW(trainer.resume(dir), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::train
