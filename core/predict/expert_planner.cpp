#include "core/predict/expert_planner.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numeric>

#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"

namespace emoe::predict {
namespace {

std::vector<int32_t> moe_layers(const experts::ExpertStore& store) {
  std::vector<int32_t> out;
  for (int32_t l = 0; l < store.n_layer(); ++l) {
    if (store.layout(l).total > 0) out.push_back(l);
  }
  return out;
}

PlannerShape base_shape(const experts::ExpertStore& store) {
  PlannerShape s;
  s.n_layer = store.n_layer();
  s.n_expert = store.n_expert();
  s.capacity.assign(static_cast<size_t>(s.n_layer), 0);
  s.expert_bytes.assign(static_cast<size_t>(s.n_layer), 0);
  for (int32_t l = 0; l < s.n_layer; ++l)
    s.expert_bytes[static_cast<size_t>(l)] = store.layout(l).total;
  return s;
}

// Even split of n_slots over the MoE layers, the remainder to the lowest layers.
PlannerShape split_slots(const experts::ExpertStore& store, int64_t n_slots) {
  PlannerShape s = base_shape(store);
  const std::vector<int32_t> layers = moe_layers(store);
  if (layers.empty()) return s;
  const int64_t n = static_cast<int64_t>(layers.size());
  const int64_t each = n_slots / n, extra = n_slots % n;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = std::min<int64_t>(each + (i < extra ? 1 : 0), store.n_expert());
    s.capacity[static_cast<size_t>(layers[static_cast<size_t>(i)])] = static_cast<int32_t>(c);
  }
  return s;
}

std::vector<int32_t> sorted_unique(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

Result<PlannerShape> PlannerShape::per_layer(const experts::ExpertStore& store,
                                             int32_t experts_per_layer) {
  if (experts_per_layer < 0 || experts_per_layer > store.n_expert()) {
    return invalid_argument("planner: " + std::to_string(experts_per_layer) +
                            " experts per layer is outside 0.." + std::to_string(store.n_expert()));
  }
  PlannerShape s = base_shape(store);
  for (const int32_t l : moe_layers(store)) s.capacity[static_cast<size_t>(l)] = experts_per_layer;
  return s;
}

Result<PlannerShape> PlannerShape::from_budget(const experts::ExpertStore& store,
                                               uint64_t budget_bytes) {
  const uint64_t minimum = experts::ExpertCache::minimum_budget(store);
  if (budget_bytes < minimum) {
    return out_of_memory("planner: expert budget of " + std::to_string(budget_bytes) +
                         " bytes is below the minimum of " + std::to_string(minimum) + " bytes");
  }
  const uint64_t slot = (store.max_expert_bytes() + 63) / 64 * 64;
  const int64_t n_slots = slot > 0 ? static_cast<int64_t>(budget_bytes / slot) : 0;
  return split_slots(store, n_slots);
}

Result<PlannerShape> PlannerShape::from_cache(const experts::ExpertCache& cache) {
  return split_slots(cache.store(), cache.n_slots());
}

int64_t PlannerShape::total_capacity() const {
  return std::accumulate(capacity.begin(), capacity.end(), int64_t{0});
}

Status PlannerShape::validate() const {
  if (n_layer < 0 || n_expert < 0 || capacity.size() != static_cast<size_t>(n_layer) ||
      expert_bytes.size() != static_cast<size_t>(n_layer)) {
    return invalid_argument("planner: shape needs capacity and expert_bytes for each of " +
                            std::to_string(n_layer) + " layers");
  }
  for (int32_t l = 0; l < n_layer; ++l) {
    const int32_t c = capacity[static_cast<size_t>(l)];
    if (c < 0 || c > n_expert) {
      return invalid_argument("planner: capacity " + std::to_string(c) + " of layer " +
                              std::to_string(l) + " is outside 0.." + std::to_string(n_expert));
    }
  }
  return Status::ok();
}

std::vector<TaskLoad> task_loads(std::span<const RunningRequest> requests) {
  std::map<std::string, TaskLoad> by_task;
  for (const RunningRequest& r : requests) {
    TaskLoad& t = by_task[r.task];
    t.task = r.task;
    t.input_tokens += std::max<int64_t>(r.input_tokens, 0);
    ++t.requests;
  }
  std::vector<TaskLoad> out;
  for (auto& [name, load] : by_task) out.push_back(load);
  return out;
}

Residents residents_of(const experts::ExpertCache& cache) {
  Residents r(static_cast<size_t>(cache.store().n_layer()));
  for (int32_t l = 0; l < cache.store().n_layer(); ++l) {
    r[static_cast<size_t>(l)] = cache.resident_experts(l);
  }
  return r;
}

Result<ExpertPlanner> ExpertPlanner::create(PlannerShape shape, PlannerOptions options) {
  EMOE_RETURN_IF_ERROR(shape.validate());
  return ExpertPlanner(std::move(shape), options);
}

Status ExpertPlanner::set_task(const std::string& task, TaskModel model) {
  if (!model.sensitivity.empty() &&
      model.sensitivity.size() != static_cast<size_t>(shape_.n_layer)) {
    return invalid_argument("planner: task '" + task + "' has sensitivity for " +
                            std::to_string(model.sensitivity.size()) + " layers, the model has " +
                            std::to_string(shape_.n_layer));
  }
  for (const float s : model.sensitivity) {
    if (!(s >= 0.0f && s <= 1.0f)) {
      return invalid_argument("planner: task '" + task + "' has a sensitivity outside [0, 1]");
    }
  }
  if (model.frequency.probs.empty()) {
    model.frequency = ExpertPrediction::unknown(shape_.n_layer, shape_.n_expert);
  } else if (!model.frequency.same_shape(shape_.n_layer, shape_.n_expert)) {
    return invalid_argument("planner: task '" + task + "' has a frequency of " +
                            std::to_string(model.frequency.n_layer) + " x " +
                            std::to_string(model.frequency.n_expert) + ", the planner needs " +
                            std::to_string(shape_.n_layer) + " x " +
                            std::to_string(shape_.n_expert));
  }
  if (!(model.mean_output_tokens >= 0) || !std::isfinite(model.mean_output_tokens)) {
    return invalid_argument("planner: task '" + task + "' has an invalid mean output length");
  }
  tasks_[task] = std::move(model);
  return Status::ok();
}

Status ExpertPlanner::set_frequency(const std::string& task, ExpertPrediction frequency) {
  TaskModel m = tasks_.count(task) ? tasks_[task] : TaskModel{};
  m.frequency = std::move(frequency);
  return set_task(task, std::move(m));
}

Status ExpertPlanner::set_sensitivity(const std::string& task, std::vector<float> sensitivity) {
  TaskModel m = tasks_.count(task) ? tasks_[task] : TaskModel{};
  m.sensitivity = std::move(sensitivity);
  return set_task(task, std::move(m));
}

void ExpertPlanner::set_output_length(const std::string& task, double mean_output_tokens) {
  TaskModel& m = tasks_[task];
  if (m.frequency.probs.empty()) {
    m.frequency = ExpertPrediction::unknown(shape_.n_layer, shape_.n_expert);
  }
  m.mean_output_tokens = std::isfinite(mean_output_tokens) ? std::max(mean_output_tokens, 0.0) : 0;
}

Result<ExpertPlan> ExpertPlanner::plan(std::span<const TaskLoad> loads,
                                       const Residents& residents) const {
  const size_t n_layer = static_cast<size_t>(shape_.n_layer);
  const size_t n_expert = static_cast<size_t>(shape_.n_expert);
  if (residents.size() != n_layer) {
    return invalid_argument("planner: residents given for " + std::to_string(residents.size()) +
                            " layers, the model has " + std::to_string(n_layer));
  }
  // Weight per task: sum W + T * W_o (a task sorted by name so float sums are reproducible).
  struct Active {
    const TaskModel* model;
    double weight;
  };
  std::map<std::string, double> weights;
  for (const TaskLoad& t : loads) {
    if (t.requests < 0 || t.input_tokens < 0) {
      return invalid_argument("planner: task '" + t.task + "' has a negative load");
    }
    if (t.requests == 0 && t.input_tokens == 0) continue;
    const auto it = tasks_.find(t.task);
    if (it == tasks_.end() && !options_.allow_unknown_tasks) {
      return not_found("planner: no model for task '" + t.task + "'");
    }
    const double wo = it == tasks_.end() ? 0.0 : it->second.mean_output_tokens;
    weights[t.task] += static_cast<double>(t.input_tokens) + static_cast<double>(t.requests) * wo;
  }
  std::vector<Active> active;
  for (const auto& [name, w] : weights) {
    const auto it = tasks_.find(name);
    if (it != tasks_.end()) active.push_back({&it->second, w});
  }

  ExpertPlan plan;
  plan.layers.resize(n_layer);
  for (size_t l = 0; l < n_layer; ++l) {
    LayerPlan& lp = plan.layers[l];
    const size_t cap = static_cast<size_t>(shape_.capacity[l]);
    std::vector<int32_t> res;
    for (const int32_t e : residents[l]) {
      if (e < 0 || static_cast<size_t>(e) >= n_expert) {
        return invalid_argument("planner: resident expert " + std::to_string(e) + " of layer " +
                                std::to_string(l) + " does not exist");
      }
      res.push_back(e);
    }
    res = sorted_unique(std::move(res));
    if (cap == 0 && res.empty()) continue;  // a dense layer (or one planned empty)

    lp.score.assign(n_expert, 0.0);
    for (const Active& a : active) {
      const double s = a.model->sensitivity.empty() ? 1.0 : a.model->sensitivity[l];
      if (s <= 0) continue;
      const std::span<const float> f = a.model->frequency.row(static_cast<int32_t>(l));
      for (size_t e = 0; e < n_expert; ++e) {
        lp.score[e] += a.weight * s * static_cast<double>(f[e]);
      }
    }
    std::vector<int32_t> positive;
    for (size_t e = 0; e < n_expert; ++e) {
      if (lp.score[e] > 0) positive.push_back(static_cast<int32_t>(e));
    }
    std::vector<int32_t> chosen;
    if (positive.empty()) {
      lp.kept = true;
      chosen.assign(res.begin(),
                    res.begin() + static_cast<std::ptrdiff_t>(std::min(cap, res.size())));
    } else {
      std::stable_sort(positive.begin(), positive.end(), [&](int32_t a, int32_t b) {
        return lp.score[static_cast<size_t>(a)] > lp.score[static_cast<size_t>(b)];
      });
      chosen.assign(positive.begin(),
                    positive.begin() + static_cast<std::ptrdiff_t>(std::min(cap, positive.size())));
      std::vector<uint8_t> taken(n_expert, 0);
      for (const int32_t e : chosen) taken[static_cast<size_t>(e)] = 1;
      for (const int32_t e : res) {
        if (chosen.size() >= cap) break;
        if (!taken[static_cast<size_t>(e)]) {
          chosen.push_back(e);
          taken[static_cast<size_t>(e)] = 1;
        }
      }
      for (size_t e = 0; options_.fill_unpredicted && e < n_expert && chosen.size() < cap; ++e) {
        if (!taken[e]) {
          chosen.push_back(static_cast<int32_t>(e));
          taken[e] = 1;
        }
      }
    }
    lp.experts = sorted_unique(std::move(chosen));
    std::set_difference(lp.experts.begin(), lp.experts.end(), res.begin(), res.end(),
                        std::back_inserter(lp.load));
    std::set_difference(res.begin(), res.end(), lp.experts.begin(), lp.experts.end(),
                        std::back_inserter(lp.evict));
    lp.changed = lp.experts != res;
    if (lp.changed) plan.changed_layers.push_back(static_cast<int32_t>(l));
    plan.bytes_to_load += static_cast<uint64_t>(lp.load.size()) * shape_.expert_bytes[l];
    plan.planned_experts += static_cast<int64_t>(lp.experts.size());
  }
  return plan;
}

}  // namespace emoe::predict
