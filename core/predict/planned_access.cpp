#include "core/predict/planned_access.h"

#include <algorithm>
#include <iterator>

#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"

namespace emoe::predict {

PlanApplier::PlanApplier(experts::ExpertCache& cache)
    : cache_(&cache),
      pinned_(static_cast<size_t>(cache.store().n_layer())),
      has_pin_(static_cast<size_t>(cache.store().n_layer()), 0) {}

bool PlanApplier::is_pinned(int32_t layer) const {
  return layer >= 0 && static_cast<size_t>(layer) < has_pin_.size() &&
         has_pin_[static_cast<size_t>(layer)] != 0;
}

Result<ApplyReport> PlanApplier::apply(const ExpertPlan& plan, bool wait) {
  const experts::ExpertStore& store = cache_->store();
  if (plan.layers.size() != pinned_.size()) {
    return invalid_argument("apply: the plan has " + std::to_string(plan.layers.size()) +
                            " layers, the cache " + std::to_string(pinned_.size()));
  }
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    if (store.layout(static_cast<int32_t>(l)).total == 0 && !plan.layers[l].experts.empty()) {
      return invalid_argument("apply: layer " + std::to_string(l) + " has no experts to plan");
    }
  }
  // Phase 1: a layer never pinned before has unplanned residents that another layer's load
  // could evict; pinning the residents it keeps first (no loads) protects them.
  ApplyReport report;
  auto call = [&](int32_t l, const std::vector<int32_t>& experts) -> Status {
    EMOE_RETURN_IF_ERROR(
        cache_->set_plan(l, experts).with_context("apply: layer " + std::to_string(l)));
    pinned_[static_cast<size_t>(l)] = experts;
    has_pin_[static_cast<size_t>(l)] = 1;
    report.pinned_layers.push_back(l);
    ++report.set_plan_calls;
    return Status::ok();
  };
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const LayerPlan& lp = plan.layers[l];
    if (has_pin_[l] || store.layout(static_cast<int32_t>(l)).total == 0) continue;
    std::vector<int32_t> kept;
    std::set_difference(lp.experts.begin(), lp.experts.end(), lp.load.begin(), lp.load.end(),
                        std::back_inserter(kept));
    EMOE_RETURN_IF_ERROR(call(static_cast<int32_t>(l), kept));
  }
  // Phase 2: layers whose plan differs from their pin. Shrinking layers go first, so the
  // cache's total of planned experts never exceeds its slots midway and their released experts
  // are the victims of the growing layers' loads; then layers by the loads they need.
  struct Change {
    int32_t layer;
    int64_t delta;  // planned experts gained
    size_t loads;
  };
  std::vector<Change> changes;
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const LayerPlan& lp = plan.layers[l];
    if (store.layout(static_cast<int32_t>(l)).total == 0 || lp.experts == pinned_[l]) continue;
    changes.push_back(
        {static_cast<int32_t>(l),
         static_cast<int64_t>(lp.experts.size()) - static_cast<int64_t>(pinned_[l].size()),
         lp.load.size()});
  }
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    if ((a.delta < 0) != (b.delta < 0)) return a.delta < 0;
    return a.loads < b.loads;
  });
  for (const Change& c : changes) {
    const LayerPlan& lp = plan.layers[static_cast<size_t>(c.layer)];
    EMOE_RETURN_IF_ERROR(call(c.layer, lp.experts));
    report.bytes_requested += static_cast<uint64_t>(lp.load.size()) * store.layout(c.layer).total;
  }
  if (wait) {
    for (const int32_t l : report.pinned_layers) cache_->wait_layer(l);
  }
  return report;
}

}  // namespace emoe::predict
