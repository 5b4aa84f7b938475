// Prompt processing and token-by-token generation over an Engine sequence, with sampling,
// stop conditions and cancellation between steps.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/common/status.h"
#include "core/engine/engine.h"
#include "core/engine/sampler.h"

namespace emoe::engine {

struct GenerateOptions {
  int32_t max_new_tokens = 64;
  SamplerParams sampling;  // temperature 0: greedy
  bool stop_at_eos = true;
  int64_t prefill_chunk = 512;                // prompt tokens per forward step
  const std::atomic<bool>* cancel = nullptr;  // checked between steps
};

enum class StopReason { Length, EndOfSequence, Cancelled, ContextFull };
const char* stop_reason_name(StopReason r);

struct GenerateResult {
  std::vector<int32_t> generated;
  double prefill_seconds = 0;  // wall time of the prompt steps (to the first logits)
  double decode_seconds = 0;   // wall time of the single-token steps
  int64_t prompt_tokens = 0;
  int64_t decode_steps = 0;  // forward steps after the prompt (generated - 1 when not stopped)
  StopReason stop = StopReason::Length;
};

// on_token is called with each generated token; returning false stops like a cancel.
using TokenCallback = std::function<bool(int32_t token)>;

// Runs `prompt` into sequence `seq` (which must be empty) and generates up to
// max_new_tokens. The prompt must not be empty.
Result<GenerateResult> generate(Engine& engine, int32_t seq, std::span<const int32_t> prompt,
                                const GenerateOptions& options, const TokenCallback& on_token = {});

}  // namespace emoe::engine
