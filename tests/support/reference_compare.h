// The engine against the float64 reference forward pass (reference_forward.h) over one token
// sequence: a batched prompt followed by single-token decode steps, with every logit row,
// layer output and routing decision compared. Shared by the per-architecture tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "tests/support/engine_capture.h"
#include "tests/support/reference_forward.h"

namespace emoe::model {
class Model;
}

namespace emoe::test {

struct ReferenceComparison {
  int64_t positions = 0;  // prompt + decode rows compared
  // Normalised errors: max |engine - reference| / max |reference| over all compared values.
  double logits_rel = 0.0;
  std::vector<double> pos_logits_rel;  // per position: max |d| of its row / max |reference|
  double hidden_rel = 0.0;
  double probs_abs = 0.0;    // max |d| of the router softmax
  double weights_abs = 0.0;  // max |d| of the gate weights (where the top-k agree)
  int64_t decisions = 0;     // routing decisions compared (layers x positions)
  int64_t set_mismatches = 0;
  double min_margin = 1e300;    // smallest router-logit margin of the reference's top-k
  std::string first_mismatch;   // empty when every top-k set agreed
  bool routes_complete = true;  // the engine reported every (layer, position)
};

// Runs `model` over seq[0, n_prompt) batched, then seq[n_prompt..] one token a step, and the
// reference over all of seq, and compares them.
Result<ReferenceComparison> compare_with_reference(const model::Model& model,
                                                   const ReferenceForward& ref,
                                                   const std::vector<int32_t>& seq,
                                                   int64_t n_prompt, int n_threads = 1);

// Positions whose logit row agrees to `tol` (normalised).
int64_t positions_within(const ReferenceComparison& r, double tol);
// One line for the test log: every error and the routing agreement (rounding: with how many
// positions agree to 1e-5, for the runs that emulate ggml's activation rounding).
std::string describe_comparison(const ReferenceComparison& r, bool rounding);

// A deterministic token sequence of n ids spread over [0, n_vocab).
std::vector<int32_t> spread_tokens(int64_t n, int64_t n_vocab, int64_t salt);

}  // namespace emoe::test
