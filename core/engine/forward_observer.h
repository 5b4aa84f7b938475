// What the forward pass reports while it runs: every MoE routing decision and every layer's
// output. Paging, prediction, the database and the GUI subscribe; values passed are only valid
// during the call, so observers copy what they keep.
#pragma once

#include <cstdint>
#include <span>

#include "core/engine/batch.h"

namespace emoe::engine {

struct RoutingEvent {
  int32_t seq = 0;
  int32_t pos = 0;
  int32_t layer = 0;
  int32_t token = 0;
  Phase phase = Phase::Prefill;
  std::span<const float> router_logits;  // [n_expert]
  std::span<const float> probs;          // [n_expert], softmax of router_logits
  std::span<const int32_t> topk;         // [n_expert_used], descending probability
  std::span<const float> weights_raw;    // [n_expert_used], probs[topk]
  std::span<const float> weights;        // [n_expert_used], what multiplies the expert outputs
};

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  // Called from the engine thread, once per (token, MoE layer), in batch order per layer.
  virtual void on_routing(const RoutingEvent& /*event*/) {}
  // hidden: [batch.size()][n_embd], the residual stream after `layer` (llama.cpp's l_out).
  virtual void on_layer_output(int32_t /*layer*/, std::span<const BatchToken> /*batch*/,
                               const float* /*hidden*/, int64_t /*n_embd*/) {}
};

}  // namespace emoe::engine
