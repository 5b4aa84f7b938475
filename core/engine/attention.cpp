#include "core/engine/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/thread_pool.h"

namespace emoe::engine {
namespace {

using kernels::TensorType;

// One KV head of one token: the G query heads that share it read the cached rows once.
// q: [G][head_dim] contiguous, out: [G][head_dim]. Both products are matmuls over the cache, so
// with an F16 cache the other operand is converted to F16 first (vec_dot_type), exactly as
// ggml's mul_mat treats the query and the softmax probabilities.
void attend_kv_group(const AttentionShape& s, const KvCache& kv, int64_t layer,
                     const BatchToken& tok, int64_t kv_head, const float* q, float* out) {
  thread_local std::vector<float> probs;  // [G][n_pos]
  const int64_t hd = s.head_dim;
  const int64_t group = s.n_head / s.n_head_kv;
  const int64_t n_pos = tok.pos + 1;
  const size_t elem = kv.type() == TensorType::F16 ? 2 : 4;
  probs.resize(static_cast<size_t>(group * n_pos));

  const auto* k0 = static_cast<const uint8_t*>(kv.k_row(tok.seq, layer, 0)) + kv_head * hd * elem;
  const kernels::MatrixView keys{kv.type(), n_pos, hd, kv.k_stride(), k0};
  kernels::matmul(keys, q, group, hd, probs.data(), n_pos, nullptr);

  for (int64_t h = 0; h < group; ++h) {
    float* p = probs.data() + h * n_pos;
    float max_score = -INFINITY;
    for (int64_t j = 0; j < n_pos; ++j) {
      p[j] *= s.scale;
      max_score = std::max(max_score, p[j]);
    }
    // ggml sums the exponentials in double before normalising.
    double sum = 0.0;
    for (int64_t j = 0; j < n_pos; ++j) {
      p[j] = std::exp(p[j] - max_score);
      sum += p[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < n_pos; ++j) p[j] *= inv;
  }

  const kernels::MatrixView values{kv.type(), hd, n_pos, kv.v_stride(),
                                   kv.v_dim_row(tok.seq, layer, kv_head * hd)};
  kernels::matmul(values, probs.data(), group, n_pos, out, hd, nullptr);
}

}  // namespace

void attention(const AttentionShape& shape, const KvCache& kv, int64_t layer,
               std::span<const BatchToken> batch, const float* q, float* out,
               kernels::ThreadPool* pool) {
  const int64_t n_q = shape.n_head * shape.head_dim;
  const int64_t group_width = (shape.n_head / shape.n_head_kv) * shape.head_dim;
  const int64_t n_items = static_cast<int64_t>(batch.size()) * shape.n_head_kv;
  auto work = [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = i / shape.n_head_kv;
      const int64_t g = i % shape.n_head_kv;
      attend_kv_group(shape, kv, layer, batch[static_cast<size_t>(t)], g,
                      q + t * n_q + g * group_width, out + t * n_q + g * group_width);
    }
  };
  if (pool && pool->size() > 1 && n_items > 1) {
    pool->parallel_for(n_items, 1, work);
  } else {
    work(0, n_items, 0);
  }
}

}  // namespace emoe::engine
