// Counts the weight bytes a decode step reads: every dense matrix once, one embedding row, and
// the gate/up/down matrices of each distinct expert the step's tokens were routed to.
#pragma once

#include <cstdint>
#include <set>
#include <utility>

#include "core/engine/forward_observer.h"
#include "core/model/model_weights.h"

namespace emoe::metrics {

class DecodeTraffic : public engine::ForwardObserver {
 public:
  explicit DecodeTraffic(const model::ModelWeights& weights);

  void on_routing(const engine::RoutingEvent& ev) override;

  void begin_step() { experts_.clear(); }
  // Weight bytes read by the step since begin_step().
  uint64_t step_bytes() const;
  uint64_t dense_bytes_per_token() const { return dense_per_token_; }

 private:
  const model::ModelWeights& weights_;
  uint64_t dense_per_token_ = 0;
  std::set<std::pair<int32_t, int32_t>> experts_;  // (layer, expert) used in this step
};

}  // namespace emoe::metrics
