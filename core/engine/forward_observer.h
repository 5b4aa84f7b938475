// What the forward pass reports while it runs: every MoE routing decision and every layer's
// output. Paging, prediction, the database and the GUI subscribe; values passed are only valid
// during the call, so observers copy what they keep.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

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
  std::span<const float> weights;        // [n_expert_used], gate weights of the router's top-k
  // What was computed: equal to topk/weights except in fallback routing, where missing experts
  // are replaced by the best-scoring resident ones (possibly fewer than n_expert_used).
  std::span<const int32_t> used;        // [<= n_expert_used]
  std::span<const float> used_weights;  // what multiplies the expert outputs
  std::span<const uint8_t> resident;    // [n_expert_used]: 1 when topk[j] was resident (a hit)
};

// Device-tier memory after a forward step (bytes).
struct MemorySample {
  uint64_t dense_bytes = 0;    // non-expert weights
  uint64_t expert_bytes = 0;   // resident experts (all of them without a device tier)
  uint64_t expert_budget = 0;  // the tier's budget; 0 without one
  uint64_t kv_bytes = 0;       // KV cache allocated for live sequences
  uint64_t scratch_bytes = 0;  // step buffers
};

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  // Called from the engine thread, once per (token, MoE layer), in batch order per layer.
  virtual void on_routing(const RoutingEvent& /*event*/) {}
  // hidden: [batch.size()][n_embd], the residual stream after `layer` (llama.cpp's l_out).
  virtual void on_layer_output(int32_t /*layer*/, std::span<const BatchToken> /*batch*/,
                               const float* /*hidden*/, int64_t /*n_embd*/) {}
  // Once per successful decode() step.
  virtual void on_memory_sample(const MemorySample& /*sample*/) {}
};

// Keeps observers attached to an engine or a session (anything with add_observer and
// remove_observer) until the scope ends, however it ends.
template <typename Host>
class ObserverScope {
 public:
  explicit ObserverScope(Host& host) : host_(host) {}
  ObserverScope(Host& host, ForwardObserver* observer) : host_(host) { add(observer); }
  ~ObserverScope() {
    for (ForwardObserver* o : attached_) host_.remove_observer(o);
  }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

  void add(ForwardObserver* observer) {
    host_.add_observer(observer);
    attached_.push_back(observer);
  }

 private:
  Host& host_;
  std::vector<ForwardObserver*> attached_;
};

}  // namespace emoe::engine
