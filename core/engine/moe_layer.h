// The MoE feed-forward block of one layer for a batch: router, softmax, top-k, gate weights,
// then each selected expert run once over the group of tokens that chose it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/engine/batch.h"
#include "core/engine/forward_observer.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"

namespace emoe::kernels {
class ThreadPool;
}

namespace emoe::engine {

// Buffers reused across steps so the hot path does not allocate once warmed up.
struct MoeWorkspace {
  std::vector<float> logits;    // [n_tokens][n_expert]
  std::vector<float> probs;     // [n_tokens][n_expert]
  std::vector<int32_t> topk;    // [n_tokens][k]
  std::vector<float> w_raw;     // [n_tokens][k]
  std::vector<float> w;         // [n_tokens][k]
  std::vector<float> slot_out;  // [n_tokens][k][n_embd], expert output times its weight
  std::vector<float> xs, gate, up, h, down;  // one expert's gathered group
  std::vector<std::vector<int32_t>> groups;  // per expert: indices t * k + slot
};

// x: [batch.size()][n_embd] (after ffn_norm); out: [batch.size()][n_embd], overwritten with
// the block's output (before the residual add). Routing is reported to each observer.
void moe_forward(const model::ModelConfig& config, const model::LayerWeights& weights,
                 int32_t layer, std::span<const BatchToken> batch, const float* x, float* out,
                 kernels::ThreadPool* pool, std::span<ForwardObserver* const> observers,
                 MoeWorkspace& ws);

// Top-k indices of p in descending order; equal values keep the lower index first.
void top_k_desc(const float* p, int64_t n, int64_t k, int32_t* out);

}  // namespace emoe::engine
