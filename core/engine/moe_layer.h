// The MoE feed-forward block of one layer for a batch: router, softmax, top-k, gate weights,
// the routing mode's choice of experts actually used, then each used expert run once over the
// group of tokens that use it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/common/status.h"
#include "core/engine/batch.h"
#include "core/engine/forward_observer.h"
#include "core/engine/routing_mode.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"

namespace emoe::kernels {
class ThreadPool;
}
namespace emoe::experts {
class ExpertCache;
}

namespace emoe::engine {

// Where expert weights come from: with no cache, the host tier (the mapped file), which only
// RoutingMode::All may use; with a cache, only its resident copies.
struct ExpertAccess {
  RoutingMode mode = RoutingMode::All;
  experts::ExpertCache* cache = nullptr;
};

// Buffers reused across steps so the hot path does not allocate once warmed up.
struct MoeWorkspace {
  std::vector<float> logits;       // [n_tokens][n_expert]
  std::vector<float> probs;        // [n_tokens][n_expert], the gating function's output
  std::vector<float> sel;          // [n_expert], one token's selection scores (bias, groups)
  std::vector<float> group_score;  // [n_expert_groups]
  std::vector<int32_t> topk;       // [n_tokens][k], the router's choice
  std::vector<float> w_raw;        // [n_tokens][k]
  std::vector<float> w;            // [n_tokens][k]
  std::vector<int32_t> used;       // [n_tokens][k], experts computed with (-1: slot unused)
  std::vector<float> used_w;       // [n_tokens][k]
  std::vector<uint8_t> hit;        // [n_tokens][k], topk[j] resident at routing time
  std::vector<uint8_t> resident;   // [n_expert], this layer's residency snapshot
  std::vector<float> slot_out;     // [n_tokens][k][n_embd], expert output times its weight
  std::vector<float> xs, gate, up, h, down;  // one expert's gathered group
  std::vector<std::vector<int32_t>> groups;  // per expert: indices t * k + slot
  // Shared expert: gate logit [n_tokens], FFN [n_tokens][n_ff_shexp], output [n_tokens][n_embd]
  std::vector<float> sh_logit, sh_gate, sh_up, sh_h, sh_out;
};

// x: [batch.size()][n_embd] (after ffn_norm); out: [batch.size()][n_embd], overwritten with
// the block's output (before the residual add): the routed experts' weighted sum, plus the
// shared expert(s) when the model has them (dense weights, never paged; gated for qwen2moe).
// The router follows build_moe_ffn: softmax or sigmoid (ModelConfig::gating) gives `probs`;
// experts are selected on probs + exp_probs_b, restricted to the best expert groups when the
// model groups them (each group scored by its two best selection scores); the weights are the
// selected probs, renormalised if the model says so (sum clamped to >= 2^-14, as ggml) and
// multiplied by expert_weights_scale. Routing is reported
// to each observer. Fails only when the device tier cannot make room for an expert that exact
// routing needs.
Status moe_forward(const model::ModelConfig& config, const model::LayerWeights& weights,
                   int32_t layer, std::span<const BatchToken> batch, const float* x, float* out,
                   kernels::ThreadPool* pool, std::span<ForwardObserver* const> observers,
                   const ExpertAccess& access, MoeWorkspace& ws);

// Top-k indices of p in descending order; equal values keep the lower index first.
void top_k_desc(const float* p, int64_t n, int64_t k, int32_t* out);

}  // namespace emoe::engine
