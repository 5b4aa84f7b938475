// Causal grouped-query attention of a batch's tokens over their sequences' KV caches.
#pragma once

#include <cstdint>
#include <span>

#include "core/engine/batch.h"
#include "core/engine/kv_cache.h"

namespace emoe::kernels {
class ThreadPool;
}

namespace emoe::engine {

struct AttentionShape {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;  // applied to q.k before the softmax (1/sqrt(head_dim))
};

// q: [batch.size()][n_head * head_dim] (RoPE applied); out: same shape. Token t attends to
// positions 0..batch[t].pos of its sequence, which must already be stored in `kv`. With an F16
// cache, q and the attention probabilities are rounded to F16 before their products, as ggml
// does, so results match llama.cpp's F16 cache.
void attention(const AttentionShape& shape, const KvCache& kv, int64_t layer,
               std::span<const BatchToken> batch, const float* q, float* out,
               kernels::ThreadPool* pool);

}  // namespace emoe::engine
