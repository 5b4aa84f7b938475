#include "core/engine/mla_attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/thread_pool.h"

namespace emoe::engine {
namespace {

using kernels::TensorType;

kernels::MatrixView head_rows(const kernels::MatrixView& m, int64_t rows, int64_t head) {
  return {m.type, rows, m.cols, m.row_stride,
          static_cast<const uint8_t*>(m.data) + static_cast<size_t>(head * rows) * m.row_stride};
}

// One query head of one token over its sequence's cached latent rows.
void attend_head(const model::ModelConfig& c, const model::LayerWeights& lw, const KvCache& kv,
                 int64_t layer, const BatchToken& tok, int64_t h, const float* q, float* out) {
  thread_local std::vector<float> qcat, probs, lat;
  const int64_t r = c.n_lora_kv, width = c.n_lora_kv + c.n_rot, nope = c.n_nope();
  const int64_t n_pos = tok.pos + 1;
  const bool f16 = kv.type() == TensorType::F16;
  qcat.resize(static_cast<size_t>(width));
  probs.resize(static_cast<size_t>(n_pos));
  lat.assign(static_cast<size_t>(r), 0.0f);

  // [wk_b_h q_nope | q_pe]: the query in the cache's [latent | rope key] space.
  kernels::matmul(head_rows(lw.wk_b, r, h), q, 1, nope, qcat.data(), r, nullptr);
  std::copy(q + nope, q + nope + c.n_rot, qcat.begin() + r);
  const kernels::MatrixView keys{kv.type(), n_pos, width, kv.row_stride(),
                                 static_cast<const uint8_t*>(kv.k_row(tok.seq, layer, 0))};
  kernels::matmul(keys, qcat.data(), 1, width, probs.data(), n_pos, nullptr);
  float max_score = -INFINITY;
  for (float& p : probs) {
    p *= c.kq_scale;
    max_score = std::max(max_score, p);
  }
  double sum = 0.0;  // as ggml's soft_max
  for (float& p : probs) {
    p = std::exp(p - max_score);
    sum += p;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n_pos; ++j) {
    float p = probs[static_cast<size_t>(j)] * inv;
    if (f16) p = kernels::fp16_to_fp32(kernels::fp32_to_fp16(p));
    const void* row = kv.k_row(tok.seq, layer, j);
    if (f16) {
      const auto* v16 = static_cast<const uint16_t*>(row);
      for (int64_t i = 0; i < r; ++i) lat[i] += p * kernels::fp16_to_fp32(v16[i]);
    } else {
      const auto* v = static_cast<const float*>(row);
      for (int64_t i = 0; i < r; ++i) lat[i] += p * v[i];
    }
  }
  kernels::matmul(head_rows(lw.wv_b, c.n_embd_head_v, h), lat.data(), 1, r, out, c.n_embd_head_v,
                  nullptr);
}

}  // namespace

void mla_attention(const model::ModelConfig& c, const model::LayerWeights& lw, KvCache& kv,
                   int64_t layer, std::span<const BatchToken> batch, const float* cur, float* out,
                   kernels::ThreadPool* pool, MlaWorkspace& ws) {
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t d = c.n_embd, hk = c.n_embd_head, nope = c.n_nope();
  const int64_t n_q = c.n_head * hk, width = c.n_lora_kv + c.n_rot;
  const int64_t n_attn = c.n_head * c.n_embd_head_v;
  ws.q.resize(static_cast<size_t>(n * n_q));
  ws.kv.resize(static_cast<size_t>(n * width));
  ws.attn.resize(static_cast<size_t>(n * n_attn));
  if (c.n_lora_q > 0) {
    ws.qa.resize(static_cast<size_t>(n * c.n_lora_q));
    kernels::matmul(lw.wq_a, cur, n, d, ws.qa.data(), c.n_lora_q, pool);
    for (int64_t t = 0; t < n; ++t) {
      float* qa = ws.qa.data() + t * c.n_lora_q;
      kernels::rms_norm(qa, lw.attn_q_a_norm.data(), c.rms_eps, c.n_lora_q, qa);
    }
    kernels::matmul(lw.wq_b, ws.qa.data(), n, c.n_lora_q, ws.q.data(), n_q, pool);
  } else {
    kernels::matmul(lw.wq, cur, n, d, ws.q.data(), n_q, pool);
  }
  kernels::matmul(lw.wkv_a_mqa, cur, n, d, ws.kv.data(), width, pool);

  const kernels::RopeYarn yarn{c.yarn_ext_factor, c.yarn_attn_factor, c.yarn_beta_fast,
                               c.yarn_beta_slow, c.n_ctx_orig_yarn};
  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& bt = batch[static_cast<size_t>(t)];
    float* qt = ws.q.data() + t * n_q;
    for (int64_t h = 0; h < c.n_head; ++h) {
      kernels::rope_yarn(qt + h * hk + nope, 1, c.n_rot, c.n_rot, bt.pos, c.rope_freq_base,
                         c.rope_freq_scale, c.rope_mode, yarn);
    }
    float* kvt = ws.kv.data() + t * width;
    kernels::rms_norm(kvt, lw.attn_kv_a_norm.data(), c.rms_eps, c.n_lora_kv, kvt);
    kernels::rope_yarn(kvt + c.n_lora_kv, 1, c.n_rot, c.n_rot, bt.pos, c.rope_freq_base,
                       c.rope_freq_scale, c.rope_mode, yarn);
    kv.store(bt.seq, layer, bt.pos, kvt, nullptr);
  }

  const int64_t n_items = n * c.n_head;
  auto work = [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = i / c.n_head, h = i % c.n_head;
      attend_head(c, lw, kv, layer, batch[static_cast<size_t>(t)], h,
                  ws.q.data() + t * n_q + h * hk,
                  ws.attn.data() + t * n_attn + h * c.n_embd_head_v);
    }
  };
  if (pool && pool->size() > 1 && n_items > 1) {
    pool->parallel_for(n_items, 1, work);
  } else {
    work(0, n_items, 0);
  }
  kernels::matmul(lw.wo, ws.attn.data(), n, n_attn, out, d, pool);
}

uint64_t mla_scratch_floats(const MlaWorkspace& ws) {
  return ws.qa.capacity() + ws.q.capacity() + ws.kv.capacity() + ws.attn.capacity();
}

}  // namespace emoe::engine
