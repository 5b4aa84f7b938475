// Applies ExpertPlans to a device tier with the Pinned policy, between requests. The cache is
// told a layer's set (set_plan) only when it differs from what this applier last pinned there,
// so weights move only when a layer's top-L set changes. A layer never pinned by this applier
// (e.g. filled by ExpertCache::fill()) is first pinned to the residents its plan keeps, which
// loads nothing but protects them from other layers' loads; after that first apply, a plan
// that changes one layer makes exactly one set_plan call.
#pragma once

#include <cstdint>
#include <vector>

#include "core/common/status.h"
#include "core/predict/expert_planner.h"

namespace emoe::experts {
class ExpertCache;
}

namespace emoe::predict {

struct ApplyReport {
  std::vector<int32_t> pinned_layers;  // layers set_plan was called for, in call order (a
                                       // first-time changed layer appears twice)
  int32_t set_plan_calls = 0;
  uint64_t bytes_requested = 0;  // the plan's bytes_to_load for those layers
};

class PlanApplier {
 public:
  // The cache must use EvictionPolicy::Pinned (other policies ignore plans, so residents would
  // follow LRU/LFU instead) and outlive the applier.
  explicit PlanApplier(experts::ExpertCache& cache);

  // Layers that shrink are applied first, so the cache's total of planned experts never
  // exceeds its slots midway. With wait, returns after the loads have finished (wait_layer).
  Result<ApplyReport> apply(const ExpertPlan& plan, bool wait = false);

  // What this applier has pinned per layer (empty and unpinned alike read as empty).
  const std::vector<std::vector<int32_t>>& pinned() const { return pinned_; }
  bool is_pinned(int32_t layer) const;

 private:
  experts::ExpertCache* cache_;
  std::vector<std::vector<int32_t>> pinned_;  // [n_layer] ascending
  std::vector<uint8_t> has_pin_;              // [n_layer]
};

}  // namespace emoe::predict
