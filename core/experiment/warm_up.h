// The experiment's warm-up (profiling) pass, run once and shared by every point: prompts on the
// full model (every expert) whose routing seeds the routing history, from which each point's
// predictor is trained and the cold-start popularity profiles are taken. Points receive copies,
// so they stay independent and comparable (the same history, whatever ran before them).
#pragma once

#include <functional>
#include <optional>
#include <span>

#include "core/common/status.h"
#include "core/experiment/full_model_reference.h"
#include "core/predict/periodic_invoker.h"
#include "core/predict/routing_history.h"
#include "core/sched/workload.h"

namespace emoe::model {
class Model;
}

namespace emoe::experiment {

struct WarmUp {
  std::optional<predict::RoutingHistory> history;  // warm-up records, oldest first
  predict::ColdStartProfile cold;  // per task and global popularity (empty without records)
};

// Runs each request greedily on the full model (a prompt too long for the context keeps its
// end). progress(done, total) after each.
Result<WarmUp> run_warm_up(const model::Model& model, FullModelReference& reference,
                           std::span<const sched::Request> requests,
                           const predict::HistoryShape& shape,
                           const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace emoe::experiment
