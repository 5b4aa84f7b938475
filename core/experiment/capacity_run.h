// One confirming run of the capacity study: `requests` requests of exactly `prompt_tokens`
// prompt tokens, all arriving at t = 0, each generating exactly `generate_tokens` (no stop at
// EOS), served together by an engine sized for exactly that (max_sequences = requests, n_ctx =
// prompt + generate) at the outcome's expert budget. It confirms the planned limit when every
// request finishes with its tokens, all of them ran at once, the engine's KV cache is what the
// plan assumed (requests x n_ctx tokens), and the peak of dense + resident experts + KV +
// scratch measured after every step stays within the device budget.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "core/common/status.h"
#include "core/experiment/experiment_result.h"

namespace emoe::engine {
class InferenceSession;
}

namespace emoe::experiment {

struct CapacityRunSpec {
  int32_t requests = 0;
  int64_t prompt_tokens = 0;
  int32_t generate_tokens = 0;
  int64_t step_tokens = 512;  // max_batch_tokens of the serving loop
  int n_threads = 1;
};

struct CapacityRunResult {
  bool ok = false;
  std::string error;  // why it did not confirm the limit
  uint64_t peak_bytes = 0;
  uint64_t peak_kv_bytes = 0;
  int32_t peak_running = 0;   // requests admitted and unfinished at once
  double tokens_per_s = 0.0;  // generated tokens / wall time of the run
  bool cancelled = false;
};

// `plan` supplies the device budget, the expert budget and the KV bytes per token;
// `token_stream` the text the prompts are cut from (at least one token).
Result<CapacityRunResult> run_capacity_check(engine::InferenceSession& session,
                                             const CapacityOutcome& plan,
                                             const CapacityRunSpec& spec,
                                             std::span<const int32_t> token_stream,
                                             const std::atomic<bool>* cancel);

}  // namespace emoe::experiment
