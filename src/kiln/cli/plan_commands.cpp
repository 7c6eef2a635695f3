// `kiln plan`: DeepSeek LLM's scaling-law batch size and learning rate for a
// compute budget, given directly or as model shape × training tokens.
#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/cli/commands.hpp"
#include "kiln/train/scaling_law.hpp"

namespace kiln::cli {

namespace {

struct PlanOptions {
  double compute = 0;
  int64_t n_layer = 0, d_model = 0, seq_len = 0;
  double tokens = 0;
};

void run_plan(const PlanOptions& o) {
  double compute = o.compute;
  if (compute == 0) {
    KILN_CHECK(o.n_layer > 0 && o.d_model > 0 && o.seq_len > 0 && o.tokens > 0,
               "plan: give --compute FLOPS, or all of --layers, --d-model, --seq-len and --tokens");
    const double m = train::flops_per_token(o.n_layer, o.d_model, o.seq_len);
    compute = m * o.tokens;
    fmt::print("model          {} layers × d {} at context {}: M = {:.4e} FLOPs/token (72·L·d² + 6·L·d·l)\n",
               o.n_layer, o.d_model, o.seq_len, m);
  }
  const train::ScalingPlan p = train::plan_for_compute(compute);
  fmt::print("compute        C = {:.4e} FLOPs\n", p.compute);
  fmt::print("batch size     B_opt = 0.2920·C^0.3271 = {:.4e} tokens", p.batch_tokens);
  if (o.seq_len > 0) fmt::print(" ({:.0f} sequences of {})", p.batch_tokens / static_cast<double>(o.seq_len), o.seq_len);
  fmt::print("\nlearning rate  η_opt = 0.3118·C^−0.1250 = {:.4e}\n", p.learning_rate);
  fmt::print("model scale    M_opt = 0.1715·C^0.5243 = {:.4e} FLOPs/token\n", p.flops_per_token);
  fmt::print("data           D_opt = 5.8316·C^0.4757 = {} tokens\n", human_count(p.tokens));
  fmt::print("(DeepSeek LLM, arXiv 2401.02954 §3; a broad band around these values is near-optimal)\n");
}

}  // namespace

void add_plan_commands(CLI::App& app) {
  auto options = std::make_shared<PlanOptions>();
  CLI::App* plan = app.add_subcommand("plan", "Compute-optimal batch size and learning rate (DeepSeek LLM scaling laws)");
  plan->add_option("--compute", options->compute, "Training compute budget C in FLOPs, e.g. 1e18");
  plan->add_option("--layers", options->n_layer, "Number of layers (to derive C from the model)");
  plan->add_option("--d-model", options->d_model, "Model width");
  plan->add_option("--seq-len", options->seq_len, "Context length");
  plan->add_option("--tokens", options->tokens, "Training tokens D (C = M·D)");
  plan->callback([options] { run_plan(*options); });
}

}  // namespace kiln::cli
