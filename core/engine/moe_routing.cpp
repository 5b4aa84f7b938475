#include "core/engine/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/experts/expert_cache.h"
#include "kernels/cpu/ops.h"

namespace emoe::engine {
namespace {

// Fallback routing: the best-scoring resident experts (at most k, ranked by the selection
// scores), with their gate weights (probs) rescaled so they sum to what the router's top-k
// weights summed to (1 when it renormalises).
int64_t choose_resident(const float* score, const float* probs, int64_t n_exp, int64_t k,
                        const uint8_t* resident, float topk_weight_sum, int32_t* used,
                        float* used_w) {
  int64_t n_used = 0;
  float sum = 0.0f;
  for (int64_t j = 0; j < k; ++j) {
    int32_t best = -1;
    for (int32_t e = 0; e < n_exp; ++e) {
      if (!resident[e]) continue;
      bool taken = false;
      for (int64_t i = 0; i < n_used; ++i) taken = taken || used[i] == e;
      if (!taken && (best < 0 || score[e] > score[best])) best = e;
    }
    if (best < 0) break;
    used[n_used] = best;
    used_w[n_used] = probs[best];
    sum += probs[best];
    ++n_used;
  }
  for (int64_t i = 0; i < n_used; ++i) used_w[i] = used_w[i] / sum * topk_weight_sum;
  for (int64_t i = n_used; i < k; ++i) used[i] = -1;
  return n_used;
}

// Selection scores: probs plus the selection bias, with every expert outside the best
// n_group_used groups masked to -inf (llama.cpp's grouped top-k for DeepSeek-V3-style files).
const float* selection_scores(const model::ModelConfig& c, const model::LayerWeights& lw,
                              const float* probs, MoeWorkspace& ws) {
  const int64_t n_exp = c.n_expert;
  if (lw.exp_probs_b.empty() && c.n_expert_groups <= 1) return probs;
  ws.sel.assign(probs, probs + n_exp);
  if (!lw.exp_probs_b.empty())
    kernels::add(ws.sel.data(), lw.exp_probs_b.data(), n_exp, ws.sel.data());
  if (c.n_expert_groups > 1) {
    const int64_t per = n_exp / c.n_expert_groups;
    ws.group_score.resize(static_cast<size_t>(c.n_expert_groups));
    for (int64_t g = 0; g < c.n_expert_groups; ++g) {
      int32_t best[2];
      top_k_desc(ws.sel.data() + g * per, per, 2, best);
      ws.group_score[static_cast<size_t>(g)] =
          ws.sel[g * per + best[0]] + ws.sel[g * per + best[1]];
    }
    std::vector<int32_t> keep(static_cast<size_t>(c.n_group_used));
    top_k_desc(ws.group_score.data(), c.n_expert_groups, c.n_group_used, keep.data());
    for (int64_t g = 0; g < c.n_expert_groups; ++g) {
      if (std::find(keep.begin(), keep.end(), g) != keep.end()) continue;
      std::fill_n(ws.sel.begin() + g * per, per, -INFINITY);
    }
  }
  return ws.sel.data();
}

}  // namespace

Status route_tokens(const model::ModelConfig& c, const model::LayerWeights& lw, int32_t layer,
                    std::span<const BatchToken> batch, std::span<ForwardObserver* const> observers,
                    const ExpertAccess& access, MoeWorkspace& ws) {
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t n_exp = c.n_expert;
  const int64_t k = c.n_expert_used;
  experts::ExpertCache* cache = access.cache;
  if (!cache && access.mode != RoutingMode::All) {
    return invalid_argument("routing mode '" + std::string(routing_mode_name(access.mode)) +
                            "' needs an expert device tier");
  }
  if (ws.logits.size() != static_cast<size_t>(n * n_exp)) {
    return internal_error("route_tokens: router logits hold " + std::to_string(ws.logits.size()) +
                          " values, expected " + std::to_string(n * n_exp));
  }
  ws.probs.resize(ws.logits.size());
  ws.topk.resize(static_cast<size_t>(n * k));
  ws.w_raw.resize(ws.topk.size());
  ws.w.resize(ws.topk.size());
  ws.used.resize(ws.topk.size());
  ws.used_w.resize(ws.topk.size());
  ws.hit.resize(ws.topk.size());
  ws.resident.assign(static_cast<size_t>(n_exp), 1);
  if (cache) {
    for (int32_t e = 0; e < n_exp; ++e) ws.resident[e] = cache->resident(layer, e) ? 1 : 0;
  }

  ws.groups.resize(static_cast<size_t>(n_exp));
  for (auto& g : ws.groups) g.clear();
  for (int64_t t = 0; t < n; ++t) {
    float* probs = ws.probs.data() + t * n_exp;
    std::memcpy(probs, ws.logits.data() + t * n_exp, static_cast<size_t>(n_exp) * 4);
    if (c.gating == model::GatingFunc::Sigmoid) {
      for (int64_t e = 0; e < n_exp; ++e) probs[e] = 1.0f / (1.0f + std::exp(-probs[e]));
    } else {
      kernels::softmax(probs, n_exp);
    }
    const float* sel = selection_scores(c, lw, probs, ws);
    int32_t* topk = ws.topk.data() + t * k;
    top_k_desc(sel, n_exp, k, topk);
    float* w_raw = ws.w_raw.data() + t * k;
    float* w = ws.w.data() + t * k;
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
      w_raw[j] = probs[topk[j]];
      sum += w_raw[j];
    }
    // ggml clamps the sum to the smallest normal F16 before dividing.
    sum = std::max(sum, 6.103515625e-5f);
    const bool scale = c.expert_weights_scale != 0.0f && c.expert_weights_scale != 1.0f;
    float w_sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
      w[j] = c.expert_weights_norm ? w_raw[j] / sum : w_raw[j];
      if (scale) w[j] *= c.expert_weights_scale;
      w_sum += w[j];
    }
    int32_t* used = ws.used.data() + t * k;
    float* used_w = ws.used_w.data() + t * k;
    uint8_t* hit = ws.hit.data() + t * k;
    for (int64_t j = 0; j < k; ++j) hit[j] = ws.resident[static_cast<size_t>(topk[j])];
    int64_t n_used = k;
    const bool all_hit = std::all_of(hit, hit + k, [](uint8_t h) { return h != 0; });
    if (access.mode == RoutingMode::Fallback && !all_hit) {
      n_used = choose_resident(sel, probs, n_exp, k, ws.resident.data(), w_sum, used, used_w);
    } else {
      std::copy(topk, topk + k, used);
      std::copy(w, w + k, used_w);
    }
    for (int64_t j = 0; j < n_used; ++j) {
      ws.groups[static_cast<size_t>(used[j])].push_back(static_cast<int32_t>(t * k + j));
    }
    if (!observers.empty()) {
      const BatchToken& bt = batch[static_cast<size_t>(t)];
      RoutingEvent ev;
      ev.seq = bt.seq;
      ev.pos = bt.pos;
      ev.layer = layer;
      ev.token = bt.token;
      ev.phase = bt.phase;
      ev.router_logits = {ws.logits.data() + t * n_exp, static_cast<size_t>(n_exp)};
      ev.probs = {probs, static_cast<size_t>(n_exp)};
      ev.topk = {topk, static_cast<size_t>(k)};
      ev.weights_raw = {w_raw, static_cast<size_t>(k)};
      ev.weights = {w, static_cast<size_t>(k)};
      ev.used = {used, static_cast<size_t>(n_used)};
      ev.used_weights = {used_w, static_cast<size_t>(n_used)};
      ev.resident = {hit, static_cast<size_t>(k)};
      for (ForwardObserver* o : observers) o->on_routing(ev);
    }
  }

  // Fallback never loads, but a wanted expert that was missing is still a miss for the tier's
  // statistics and telemetry (once per expert and step, as exact mode counts its loads);
  // without this, hit rates from cache events would read 100% under fallback.
  if (cache && access.mode == RoutingMode::Fallback) {
    for (int32_t e = 0; e < n_exp; ++e) {
      if (ws.resident[static_cast<size_t>(e)]) continue;
      if (std::find(ws.topk.begin(), ws.topk.begin() + n * k, e) == ws.topk.begin() + n * k) {
        continue;
      }
      auto h = cache->acquire(layer, e, false);  // counts the miss; a late arrival is a hit
      if (!h.ok()) return h.status();
    }
  }

  return Status::ok();
}

}  // namespace emoe::engine
