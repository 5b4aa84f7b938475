// Measures how an engine run differs from a llama.cpp fixture prompt (or from another engine
// run). It only measures; each test applies its own acceptance criteria to the figures, so the
// F32, quantized and F16-KV tests share one definition of "difference".
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/engine_capture.h"
#include "tests/support/fixture_reader.h"
#include "tests/support/reference_forward.h"

namespace emoe::test {

struct CompareOptions {
  // Logit tolerance of the test: an argmax (or greedy step) whose reference top1-top2 gap is
  // below it is "ambiguous" and may legitimately differ.
  double logit_tol = 5e-3;
  // Top-k order is compared only where the two reference probabilities differ by more.
  double order_prob_tol = 1e-5;
};

struct RoutingMismatch {
  int32_t layer = 0;
  int64_t pos = 0;
  std::vector<int32_t> ref, got;
  double margin = 0.0;  // reference margin in router logits
  std::string describe() const;
};

struct PromptComparison {
  int prompt = 0;
  int64_t n = 0;  // prompt positions

  // Logits at prompt positions.
  std::vector<double> pos_max_abs;  // [n]: sub ids, reference top-10 ids, full row when stored
  double max_abs_full = 0.0, max_abs_sub = 0.0, max_abs_top10 = 0.0, max_abs_lse = 0.0;
  int64_t argmax_equal = 0;
  std::vector<int64_t> argmax_diff;              // positions
  std::vector<int64_t> argmax_diff_unambiguous;  // ... whose reference gap >= logit_tol
  // Engine top-10 ids absent from the reference top-10 although their logit exceeds the
  // reference's 10th value by more than logit_tol (a wrong ranking the sub sample can miss).
  std::vector<int64_t> top10_violations;

  // Hidden state after each layer, prompt positions.
  double max_abs_hidden = 0.0;
  int32_t worst_hidden_layer = -1;
  int64_t worst_hidden_pos = -1;
  int64_t missing_hidden = 0;

  // Routing at every reference position the run covered (prompt, then decode positions).
  int64_t decisions = 0, decisions_prompt = 0;
  std::vector<RoutingMismatch> set_mismatch;
  int64_t set_mismatch_prompt = 0;
  int64_t order_mismatch = 0;  // same set, different order, probabilities apart > order_prob_tol
  int64_t missing_routes = 0;
  int64_t bad_route_shape = 0;  // event spans of the wrong width
  double max_abs_probs = 0.0, max_abs_weights = 0.0, max_abs_weights_raw = 0.0;
  double max_abs_router_logits = 0.0;

  // Greedy steps (teacher-forced rows 0..steps-1).
  int64_t steps = 0;
  std::vector<int64_t> step_argmax_diff;
  std::vector<int64_t> step_argmax_diff_unambiguous;  // reference gap >= logit_tol
  int64_t first_fragile_step = -1;                    // first step with gap < logit_tol
  double max_abs_step_top10 = 0.0, max_abs_step_lse = 0.0;

  double max_abs_logits() const {
    return std::max(max_abs_full, std::max(max_abs_sub, max_abs_top10));
  }
};

PromptComparison compare_prompt(const EngineRun& run, const PromptRef& ref, const Fixture& fx,
                                const CompareOptions& options);

// Two engine runs of the same prompt (threads, prefill mode): largest differences.
struct RunDiff {
  double max_abs_logits = 0.0;  // prompt and step rows
  double max_abs_hidden = 0.0;
  double max_abs_probs = 0.0;
  int64_t route_set_diff = 0, route_order_diff = 0, missing = 0, compared_routes = 0;
  bool bitwise_logits = true;
};
RunDiff diff_runs(const EngineRun& a, const EngineRun& b, int64_t n_layer);

// Presents a float64 reference pass over prompt + forced tokens as an EngineRun (values
// rounded to float), so the same comparisons apply to the reference: prompt rows 0..n_prompt-1,
// step rows n_prompt-1.. , routing and hidden states at every position.
EngineRun run_from_reference(const RefOutput& ref, std::span<const int32_t> tokens,
                             int64_t n_prompt, int64_t n_vocab, int64_t n_embd);

// First (position, layer), in that order, where a run's hidden state differs from the
// fixture's by more than `threshold`; layer -1 when none does.
struct Divergence {
  int64_t pos = -1;
  int32_t layer = -1;
  double max_abs = 0.0;
};
Divergence first_hidden_divergence(const EngineRun& run, const PromptRef& ref, const Fixture& fx,
                                   double threshold);

// Collects every failed expectation of a test so one run reports all of them at once.
class Failures {
 public:
  void expect(bool ok, const std::string& what) {
    if (!ok) text_ += (text_.empty() ? "" : "\n  ") + what;
  }
  bool empty() const { return text_.empty(); }
  const char* c_str() const { return text_.c_str(); }

 private:
  std::string text_;
};

// "%.3g" of a double, for messages.
std::string fmt(double v);

}  // namespace emoe::test
