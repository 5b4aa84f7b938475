// Task-aware expert loading (the paper's Eq. 2, DESIGN.md section 5): from the running
// requests, each task's profiled output length, sensitivity and predicted routing frequency,
// decide which experts each MoE layer keeps in the device tier.
//
//   N[l][e] = sum over tasks of (sum of the task's input tokens W + T * W_o) * s[l] * f[l][e]
//
// Per layer the plan is the top L experts by N. Ties between positive N go to the lower id;
// slots left over when fewer than L experts have N > 0 go to current residents (ascending id:
// keeping them moves nothing) and, with fill_unpredicted, then to the lowest non-resident ids.
// A layer where N is zero for every expert (every active task insensitive there, or no task
// has a known frequency row) keeps its current residents, cut to L by ascending id. The plan
// never holds more than L[l] experts per layer or more than the budget in total.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/predict/expert_prediction.h"

namespace emoe::experts {
class ExpertStore;
class ExpertCache;
}  // namespace emoe::experts

namespace emoe::predict {

// What the device tier can hold, per layer.
struct PlannerShape {
  int32_t n_layer = 0;
  int32_t n_expert = 0;
  std::vector<int32_t> capacity;       // [n_layer] L: experts the layer may keep; 0 for dense
  std::vector<uint64_t> expert_bytes;  // [n_layer] bytes one load of the layer's expert copies

  // L experts in every layer that has experts.
  static Result<PlannerShape> per_layer(const experts::ExpertStore& store,
                                        int32_t experts_per_layer);
  // The ExpertCache's own arithmetic: budget / slot size slots (a slot fits the largest expert),
  // split evenly over the MoE layers, the remainder one each to the lowest layers (the same
  // shares ExpertCache::fill() gives). OutOfMemory below ExpertCache::minimum_budget.
  static Result<PlannerShape> from_budget(const experts::ExpertStore& store, uint64_t budget_bytes);
  // The slots of an existing cache (its clamped budget).
  static Result<PlannerShape> from_cache(const experts::ExpertCache& cache);

  int64_t total_capacity() const;
  Status validate() const;
};

// What is known about one task type.
struct TaskModel {
  double mean_output_tokens = 0;   // W_o, profiled
  std::vector<float> sensitivity;  // [n_layer] s in [0,1]; empty: sensitive (1) everywhere
  ExpertPrediction frequency;      // f [n_layer][n_expert]; unknown rows contribute nothing
};

struct RunningRequest {
  std::string task;
  int64_t input_tokens = 0;  // W
};

// One task's share of the running batch.
struct TaskLoad {
  std::string task;
  int64_t input_tokens = 0;  // sum of W over its running requests
  int64_t requests = 0;      // T
};

// Groups requests by task (sorted by task name).
std::vector<TaskLoad> task_loads(std::span<const RunningRequest> requests);

struct LayerPlan {
  std::vector<int32_t> experts;  // planned residents, ascending
  std::vector<int32_t> load;     // planned but not resident, ascending
  std::vector<int32_t> evict;    // resident but not planned, ascending
  std::vector<double> score;     // [n_expert] N
  bool kept = false;             // N was zero everywhere: the residents were kept
  bool changed = false;          // experts differ from the residents
};

struct ExpertPlan {
  std::vector<LayerPlan> layers;        // [n_layer]; dense layers are empty
  std::vector<int32_t> changed_layers;  // ascending
  uint64_t bytes_to_load = 0;           // sum over layers of |load| * expert_bytes
  int64_t planned_experts = 0;          // sum of |experts|
};

// Residents per layer, [n_layer] lists of expert ids (any order; duplicates ignored).
using Residents = std::vector<std::vector<int32_t>>;
Residents residents_of(const experts::ExpertCache& cache);

struct PlannerOptions {
  bool fill_unpredicted = false;  // fill free slots with non-resident experts (lowest ids)
  // A task without a TaskModel counts as sensitive everywhere with an unknown frequency, so it
  // adds nothing; false makes plan() refuse it instead.
  bool allow_unknown_tasks = true;
};

class ExpertPlanner {
 public:
  static Result<ExpertPlanner> create(PlannerShape shape, PlannerOptions options = {});

  const PlannerShape& shape() const { return shape_; }
  // Replaces a task's model; InvalidArgument when its shapes do not match the planner's.
  Status set_task(const std::string& task, TaskModel model);
  Status set_frequency(const std::string& task, ExpertPrediction frequency);
  Status set_sensitivity(const std::string& task, std::vector<float> sensitivity);
  void set_output_length(const std::string& task, double mean_output_tokens);
  const std::map<std::string, TaskModel>& tasks() const { return tasks_; }

  Result<ExpertPlan> plan(std::span<const TaskLoad> loads, const Residents& residents) const;
  Result<ExpertPlan> plan(std::span<const RunningRequest> requests,
                          const Residents& residents) const {
    const std::vector<TaskLoad> loads = task_loads(requests);
    return plan(std::span<const TaskLoad>(loads), residents);
  }

 private:
  ExpertPlanner(PlannerShape shape, PlannerOptions options)
      : shape_(std::move(shape)), options_(options) {}
  PlannerShape shape_;
  PlannerOptions options_;
  std::map<std::string, TaskModel> tasks_;
};

}  // namespace emoe::predict
