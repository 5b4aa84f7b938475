#include "core/engine/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/vec_dot.h"

namespace emoe::engine {
namespace {

using kernels::TensorType;

void attend_one_head(const AttentionShape& s, const KvCache& kv, int64_t layer,
                     const BatchToken& tok, int64_t head, const float* q, float* out) {
  thread_local std::vector<float> scores;
  thread_local std::vector<uint16_t> q16;
  const int64_t hd = s.head_dim;
  const int64_t kv_head = head / (s.n_head / s.n_head_kv);
  const int64_t n_pos = tok.pos + 1;
  const bool f16 = kv.type() == TensorType::F16;
  scores.resize(static_cast<size_t>(n_pos));

  const void* qx = q;
  if (f16) {
    q16.resize(static_cast<size_t>(hd));
    for (int64_t i = 0; i < hd; ++i) q16[i] = kernels::fp32_to_fp16(q[i]);
    qx = q16.data();
  }
  const size_t head_off = static_cast<size_t>(kv_head * hd) * (f16 ? 2 : 4);
  float max_score = -INFINITY;
  for (int64_t j = 0; j < n_pos; ++j) {
    const auto* krow = static_cast<const uint8_t*>(kv.k_row(tok.seq, layer, j)) + head_off;
    const float sc = kernels::vec_dot(kv.type(), hd, krow, qx) * s.scale;
    scores[j] = sc;
    max_score = std::max(max_score, sc);
  }
  // ggml sums the exponentials in double before normalising.
  double sum = 0.0;
  for (int64_t j = 0; j < n_pos; ++j) {
    const float e = std::exp(scores[j] - max_score);
    scores[j] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  std::fill(out, out + hd, 0.0f);
  for (int64_t j = 0; j < n_pos; ++j) {
    const float p = scores[j] * inv;
    const auto* vrow = static_cast<const uint8_t*>(kv.v_row(tok.seq, layer, j)) + head_off;
    if (f16) {
      const float p16 = kernels::fp16_to_fp32(kernels::fp32_to_fp16(p));
      const auto* v = reinterpret_cast<const uint16_t*>(vrow);
      for (int64_t d = 0; d < hd; ++d) out[d] += p16 * kernels::fp16_to_fp32(v[d]);
    } else {
      const auto* v = reinterpret_cast<const float*>(vrow);
      for (int64_t d = 0; d < hd; ++d) out[d] += p * v[d];
    }
  }
}

}  // namespace

void attention(const AttentionShape& shape, const KvCache& kv, int64_t layer,
               std::span<const BatchToken> batch, const float* q, float* out,
               kernels::ThreadPool* pool) {
  const int64_t n_q = shape.n_head * shape.head_dim;
  const int64_t n_items = static_cast<int64_t>(batch.size()) * shape.n_head;
  auto work = [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = i / shape.n_head;
      const int64_t h = i % shape.n_head;
      attend_one_head(shape, kv, layer, batch[static_cast<size_t>(t)], h,
                      q + t * n_q + h * shape.head_dim, out + t * n_q + h * shape.head_dim);
    }
  };
  if (pool && pool->size() > 1 && n_items > 1) {
    pool->parallel_for(n_items, 1, work);
  } else {
    work(0, n_items, 0);
  }
}

}  // namespace emoe::engine
