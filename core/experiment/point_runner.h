// One point of an experiment's matrix, end to end (the semantics are listed in
// experiment_runner.cpp's header comment):
//  1. the session is configured for the point (budget, routing, Pinned policy with a
//     predictor, the serving's sequences, the experiment's context);
//  2. with a predictor, an EmoeLoop gets a copy of the warm-up history, trains its predictor
//     on it and starts from the warm-up's cold-start profiles; the tier's statistics are reset
//     after this warm start;
//  3. the workload goes through the continuous-batching serving loop with the point's
//     scheduler; each admission plans the request's task (the newest admission's plan wins),
//     each completion feeds its routing back into the history and the predictor;
//  4. accuracy is measured against the full model afterwards (fallback routing only).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "core/common/status.h"
#include "core/engine/routing_mode.h"
#include "core/experiment/experiment_config.h"
#include "core/experiment/experiment_result.h"
#include "core/experiment/experiment_runner.h"
#include "core/sched/scheduler.h"
#include "core/sched/serving_loop.h"

namespace emoe::engine {
class InferenceSession;
}
namespace emoe::model {
struct ModelConfig;
}

namespace emoe::experiment {

class FullModelReference;
struct WarmUp;

// ms per expert load: serving.expert_load_ms when set, else the profiled dE (0: unknown).
double expert_load_cost_ms(const ExperimentConfig& config, const MachineProfile& profile);

// The scheduler's inputs for a point, as `emoe serve` chooses them: c = the virtual clock's
// token_ms when set, else the profiled per-token time, else 0.1 ms; W_o per task = the profiled
// mean output length, else the task's workload limit, scaled and capped as the workload is;
// dE per task switch = expert_load_cost_ms x n_layer x n_expert_used under exact routing (the
// only mode that loads on demand), else 0.
sched::SchedulerProfile point_scheduler_profile(const ExperimentConfig& config,
                                                const MachineProfile& profile,
                                                const model::ModelConfig& model,
                                                engine::RoutingMode routing);

struct PointInputs {
  engine::InferenceSession* session = nullptr;
  const ExperimentConfig* config = nullptr;
  const MachineProfile* profile = nullptr;
  const WarmUp* warm_up = nullptr;
  FullModelReference* reference = nullptr;        // accuracy, the oracle, matches_reference
  int64_t n_ctx = 0;                              // tokens per sequence
  uint64_t budget_bytes = 0;                      // the point's expert budget (not for routing all)
  std::span<const sched::ServeRequest> requests;  // the point's workload, ids = indices
  int32_t points = 0;                             // of the matrix, for progress
};

struct PointRun {
  PointResult result;
  bool cancelled = false;  // stopped between steps; `result` is incomplete
};

Result<PointRun> run_point(const ExperimentPoint& point, const PointInputs& in,
                           const ExperimentCallbacks& callbacks);

}  // namespace emoe::experiment
