// Perplexity of a model over a token stream, evaluated in context-sized chunks the way
// llama.cpp's perplexity tool does: each chunk starts with BOS and only the second half of its
// positions is scored, so every scored token has at least n_ctx/2 tokens of context.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>

#include "core/common/status.h"
#include "core/engine/engine.h"

namespace emoe::engine {

struct PerplexityResult {
  double perplexity = 0;
  double mean_nll = 0;  // nats per scored token
  int64_t scored_tokens = 0;
  int64_t chunks = 0;
};

// n_ctx: chunk length (<= the engine's context). progress(done, total) after each chunk;
// returning false cancels.
Result<PerplexityResult> perplexity(Engine& engine, std::span<const int32_t> tokens, int64_t n_ctx,
                                    const std::function<bool(int64_t, int64_t)>& progress = {});

}  // namespace emoe::engine
