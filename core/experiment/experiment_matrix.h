// The experiment matrix: every combination of a configuration's lists, as points to run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/routing_mode.h"
#include "core/experiment/experiment_config.h"

namespace emoe::experiment {

// One cell of the matrix.
struct ExperimentPoint {
  int32_t index = 0;  // in expansion order
  std::string budget;
  std::string predictor;
  int32_t interval = 40;
  std::string scheduler;
  double arrival_rate = 0.0;
  engine::RoutingMode routing = engine::RoutingMode::Fallback;
  uint64_t seed = 1;

  // "budget=60% predictor=emoe-a p=40 sched=emoe rate=2 routing=fallback seed=1"
  std::string label() const;
};

// The matrix in a fixed order: budgets outermost, then predictors, intervals, schedulers,
// arrival rates, routing modes, seeds. Points that cannot differ collapse: with routing "all"
// the budget is 100% and there is no predictor or interval ("none", 0); with predictor "none"
// the interval is 0. Duplicates after collapsing are dropped.
std::vector<ExperimentPoint> expand_matrix(const ExperimentConfig& config);

}  // namespace emoe::experiment
