#include "core/engine/moe_layer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include "core/engine/moe_routing.h"
#include "core/experts/expert_cache.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"

namespace emoe::engine {

void top_k_desc(const float* p, int64_t n, int64_t k, int32_t* out) {
  int32_t idx[256];
  std::vector<int32_t> big;
  int32_t* order = idx;
  if (n > 256) {
    big.resize(static_cast<size_t>(n));
    order = big.data();
  }
  std::iota(order, order + n, 0);
  std::partial_sort(order, order + k, order + n,
                    [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  std::copy(order, order + k, out);
}

namespace {

// The shared expert, added to `out` after the routed sum as llama.cpp adds ffn_shexp_out to
// moe_out: out += g * down(silu(gate x) * up x), with g = sigmoid(gate_inp . x) for Qwen2-MoE
// and no gate for DeepSeek.
void add_shared_expert(const model::ModelConfig& c, const model::LayerWeights& lw, const float* x,
                       int64_t n, float* out, kernels::ThreadPool* pool, MoeWorkspace& ws) {
  const int64_t d = c.n_embd;
  const int64_t ff = c.n_ff_shexp;
  ws.sh_logit.resize(static_cast<size_t>(n));
  ws.sh_gate.resize(static_cast<size_t>(n * ff));
  ws.sh_up.resize(ws.sh_gate.size());
  ws.sh_h.resize(ws.sh_gate.size());
  ws.sh_out.resize(static_cast<size_t>(n * d));
  // The gate vector is a one-row F32 matrix, the product ggml computes for it.
  const kernels::MatrixView gate_inp{kernels::TensorType::F32, 1, d, static_cast<size_t>(d) * 4,
                                     lw.shexp_gate_inp.data()};
  if (!c.shexp_gated) {
    kernels::matmul(lw.ffn_gate_shexp, x, n, d, ws.sh_gate.data(), ff, pool);
    kernels::matmul(lw.ffn_up_shexp, x, n, d, ws.sh_up.data(), ff, pool);
    kernels::silu_mul(ws.sh_gate.data(), ws.sh_up.data(), n * ff, ws.sh_h.data());
    kernels::matmul(lw.ffn_down_shexp, ws.sh_h.data(), n, ff, ws.sh_out.data(), d, pool);
    kernels::add(out, ws.sh_out.data(), n * d, out);
    return;
  }
  kernels::matmul(gate_inp, x, n, d, ws.sh_logit.data(), 1, pool);
  kernels::matmul(lw.ffn_gate_shexp, x, n, d, ws.sh_gate.data(), ff, pool);
  kernels::matmul(lw.ffn_up_shexp, x, n, d, ws.sh_up.data(), ff, pool);
  kernels::silu_mul(ws.sh_gate.data(), ws.sh_up.data(), n * ff, ws.sh_h.data());
  kernels::matmul(lw.ffn_down_shexp, ws.sh_h.data(), n, ff, ws.sh_out.data(), d, pool);
  for (int64_t t = 0; t < n; ++t) {
    // llama.cpp forms the sigmoid as silu(g) / g, which is NaN at g = 0; the plain logistic
    // function agrees with it everywhere else.
    const float g = 1.0f / (1.0f + std::exp(-ws.sh_logit[static_cast<size_t>(t)]));
    const float* src = ws.sh_out.data() + t * d;
    float* dst = out + t * d;
    for (int64_t j = 0; j < d; ++j) dst[j] += src[j] * g;
  }
}

}  // namespace

Status moe_forward(const model::ModelConfig& c, const model::LayerWeights& lw, int32_t layer,
                   std::span<const BatchToken> batch, const float* x, float* out,
                   kernels::ThreadPool* pool, std::span<ForwardObserver* const> observers,
                   const ExpertAccess& access, MoeWorkspace& ws) {
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t n_exp = c.n_expert;
  const int64_t k = c.n_expert_used;
  const int64_t d = c.n_embd;
  const int64_t ff = c.n_ff_exp;
  experts::ExpertCache* cache = access.cache;
  ws.logits.resize(static_cast<size_t>(n * n_exp));
  kernels::matmul(lw.router, x, n, d, ws.logits.data(), n_exp, pool);
  EMOE_RETURN_IF_ERROR(route_tokens(c, lw, layer, batch, observers, access, ws));

  // Each expert runs once over its group: one weight pass serves every token that uses it.
  ws.slot_out.assign(static_cast<size_t>(n * k * d), 0.0f);
  for (int32_t e = 0; e < n_exp; ++e) {
    const std::vector<int32_t>& group = ws.groups[static_cast<size_t>(e)];
    const int64_t m = static_cast<int64_t>(group.size());
    if (m == 0) continue;
    experts::ExpertHandle handle;
    experts::ExpertMatrices mats{lw.gate_exps.expert(e), lw.up_exps.expert(e),
                                 lw.down_exps.expert(e)};
    if (cache) {
      // Fallback only chose resident experts; exact and all load what is missing.
      auto h = cache->acquire(layer, e, access.mode != RoutingMode::Fallback);
      if (!h.ok()) return h.status();
      if (!*h) {
        return internal_error("expert " + std::to_string(e) + " of layer " + std::to_string(layer) +
                              " left the device tier during its step");
      }
      handle = std::move(h).value();
      mats = handle.matrices();
    }
    ws.xs.resize(static_cast<size_t>(m * d));
    ws.gate.resize(static_cast<size_t>(m * ff));
    ws.up.resize(ws.gate.size());
    ws.h.resize(ws.gate.size());
    ws.down.resize(ws.xs.size());
    for (int64_t i = 0; i < m; ++i) {
      const int64_t t = group[static_cast<size_t>(i)] / k;
      std::memcpy(ws.xs.data() + i * d, x + t * d, static_cast<size_t>(d) * 4);
    }
    kernels::matmul(mats.gate, ws.xs.data(), m, d, ws.gate.data(), ff, pool);
    kernels::matmul(mats.up, ws.xs.data(), m, d, ws.up.data(), ff, pool);
    kernels::silu_mul(ws.gate.data(), ws.up.data(), m * ff, ws.h.data());
    kernels::matmul(mats.down, ws.h.data(), m, ff, ws.down.data(), d, pool);
    for (int64_t i = 0; i < m; ++i) {
      const int64_t slot = group[static_cast<size_t>(i)];
      const float wt = ws.used_w[static_cast<size_t>(slot)];
      float* dst = ws.slot_out.data() + slot * d;
      const float* src = ws.down.data() + i * d;
      for (int64_t j = 0; j < d; ++j) dst[j] = src[j] * wt;
    }
  }
  // Sum the weighted expert outputs in top-k slot order, as ggml adds its views.
  for (int64_t t = 0; t < n; ++t) {
    float* o = out + t * d;
    std::memcpy(o, ws.slot_out.data() + t * k * d, static_cast<size_t>(d) * 4);
    for (int64_t j = 1; j < k; ++j) kernels::add(o, ws.slot_out.data() + (t * k + j) * d, d, o);
  }
  if (c.has_shared_expert()) add_shared_expert(c, lw, x, n, out, pool, ws);
  return Status::ok();
}

}  // namespace emoe::engine
