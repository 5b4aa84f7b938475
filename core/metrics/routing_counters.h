// Per token-layer hit/miss counts from routing events: whether each of the router's top-k
// experts was resident, and how many fallback substitutions were made.
#pragma once

#include <cstdint>

#include "core/engine/forward_observer.h"

namespace emoe::metrics {

class RoutingCounters : public engine::ForwardObserver {
 public:
  void on_routing(const engine::RoutingEvent& ev) override {
    for (uint8_t r : ev.resident) (r ? hits : misses) += 1;
    for (int32_t e : ev.used) {
      bool in_topk = false;
      for (int32_t t : ev.topk) in_topk = in_topk || t == e;
      if (!in_topk) ++substitutions;
    }
    if (ev.used.size() < ev.topk.size()) ++short_decisions;
    ++decisions;
  }

  uint64_t decisions = 0;        // (token, layer) routing decisions
  uint64_t hits = 0;             // top-k experts that were resident
  uint64_t misses = 0;           // top-k experts that were not
  uint64_t substitutions = 0;    // fallback: resident experts used instead of missing ones
  uint64_t short_decisions = 0;  // fallback: fewer than k experts were resident
};

}  // namespace emoe::metrics
