// eMoE's per-request steps over a device tier (DESIGN.md section 5, docs/EMOE.md), shared by
// run_emoe (a request list) and the Studio's engine worker (one request at a time): before a
// request, plan() asks the periodic invoker for the predicted frequency f, has the ExpertPlanner
// (Eq. 2) choose the top-L experts per layer from it, the task's mean output length and
// sensitivity, and has the PlanApplier pin them (waiting for the loads); after it, observe()
// adds the request's routing to the history and to the predictor.
//
// The tier must use EvictionPolicy::Pinned and outlive the loop. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/engine/routing_mode.h"
#include "core/predict/expert_planner.h"
#include "core/predict/periodic_invoker.h"
#include "core/predict/planned_access.h"
#include "core/predict/predictor.h"
#include "core/predict/routing_history.h"

namespace emoe::experts {
class ExpertCache;
}

namespace emoe::predict {

struct EmoeLoopOptions {
  std::string predictor = "emoe-a";  // one of predictor_names()
  int32_t interval = 40;             // p, 1..200
  InvokerMode invoker_mode = InvokerMode::PerTask;
  // Off: one prediction (Single mode) serves every task under one planner key, s = 1.
  bool task_aware = true;
  // Exact routing loads misses on demand; the planner then leaves k slots per layer unplanned.
  engine::RoutingMode mode = engine::RoutingMode::Fallback;
  // s per task ([n_layer] per block); a task without one is sensitive everywhere.
  std::map<std::string, std::vector<float>> sensitivity;
  // W_o per task until the history has the task's outputs; else the request's max_new_tokens.
  std::map<std::string, double> default_output_tokens;
  uint64_t seed = 42;
  size_t history_capacity = 4096;
  PredictorOptions predictor_options;  // shape and seed are set by the loop
};

// What plan() did before one request.
struct EmoeStep {
  bool invoked = false;     // the predictor ran for this request
  bool cold_start = false;  // some layer's frequency came from the cold-start profile
  int32_t changed_layers = 0;
  double predict_seconds = 0;  // the invoker's call
  double load_seconds = 0;     // applying the plan, waiting for its loads
  uint64_t bytes_requested = 0;
  std::vector<std::vector<int32_t>> planned;  // [n_layer] planned residents, ascending
};

class EmoeLoop {
 public:
  // Checks the predictor name, p and the sensitivity shapes; makes the history and predictor.
  static Result<std::unique_ptr<EmoeLoop>> create(experts::ExpertCache& cache, HistoryShape shape,
                                                  EmoeLoopOptions options);

  // Before the first plan() (e.g. to seed the history and train the predictor); start() fixes
  // the cold-start profile. plan() starts with an empty one when start() was not called.
  RoutingHistory& history() { return history_; }
  Predictor* predictor() { return predictor_.get(); }
  Status start(ColdStartProfile cold = {});
  bool started() const { return invoker_.has_value(); }

  Result<EmoeStep> plan(const std::string& task, int64_t prompt_tokens, int32_t max_new_tokens);
  // The finished request's routing (router top-k counts) into the history and the predictor;
  // returns the seconds predictor->observe() took.
  Result<double> observe(const PromptRecord& record);

  const EmoeLoopOptions& options() const { return options_; }
  const HistoryShape& shape() const { return shape_; }
  int64_t invocations() const { return invoker_ ? invoker_->invocations() : 0; }
  int64_t predictor_calls() const { return invoker_ ? invoker_->predictor_calls() : 0; }
  int64_t plan_changes() const { return plan_changes_; }

 private:
  EmoeLoop(experts::ExpertCache& cache, HistoryShape shape, EmoeLoopOptions options,
           RoutingHistory history)
      : cache_(&cache), shape_(shape), options_(std::move(options)), history_(std::move(history)) {}

  experts::ExpertCache* cache_;
  HistoryShape shape_;
  EmoeLoopOptions options_;
  RoutingHistory history_;
  std::unique_ptr<Predictor> predictor_;
  std::optional<PeriodicInvoker> invoker_;
  std::optional<ExpertPlanner> planner_;
  std::optional<PlanApplier> applier_;
  int64_t plan_changes_ = 0;
};

// The mean generated tokens of the task's requests in the history (of all requests when
// any_task); -1 when there are none.
double mean_output_tokens(const RoutingHistory& history, const std::string& task, bool any_task);

}  // namespace emoe::predict
