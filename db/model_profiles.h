// Per-model state that outlives a session: sensitivity profiles (one per model and task, from
// the offline sensitivity measurement) and the predictor's saved state. Functions run on the
// caller's connection (a store opened with open_store); each write is one statement, so it is
// atomic on its own and can be part of a caller's transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/common/status.h"

namespace emoe::predict {
struct SensitivityProfile;
}

namespace emoe::db {

class Database;

// One row of sensitivity_profiles. Scores are the accuracy metric named by `metric` with every
// expert available (exact) and under fallback routing; sensitivity is what the planner uses as
// s (0 for an insensitive task).
struct SensitivityProfile {
  int64_t model_id = 0;
  std::string task;
  int64_t measured_at_us = 0;  // recorder clock (steady, microseconds)
  std::string metric;          // e.g. "top1_agreement"
  std::optional<double> exact_score, fallback_score, sensitivity;
  bool insensitive = false;
  std::optional<std::string> details_json;  // any JSON value; checked with json_valid
  bool operator==(const SensitivityProfile&) const = default;
};

// Inserts, or replaces every column of the existing row of (model_id, task). InvalidArgument for
// an empty task or metric or invalid details JSON; NotFound for an unknown model.
Status put_sensitivity(Database& db, const SensitivityProfile& profile);
// NotFound when the model has no profile for the task.
Result<SensitivityProfile> get_sensitivity(Database& db, int64_t model_id, const std::string& task);
// The model's profiles sorted by task (empty when none).
Result<std::vector<SensitivityProfile>> list_sensitivity(Database& db, int64_t model_id);
// Stores the sensitivity profiler's results for a model, one row per task (metric
// "top1_agreement"; details: threshold, MoE layers, the accuracy curve, s per layer), the form
// `emoe run` and the workbench read back.
Status store_profiler_results(Database& db, int64_t model_id,
                              const std::vector<predict::SensitivityProfile>& profiles);

// One row of predictor_state: what a predictor needs to resume (its history, weights, ...).
struct PredictorState {
  int64_t model_id = 0;
  int64_t updated_at_us = 0;
  int64_t prompts_seen = 0;         // prompts the predictor has observed
  std::optional<int64_t> interval;  // p, the invocation period, when one was set
  std::string state_json;  // a JSON value written by the predictor; checked with json_valid
  bool operator==(const PredictorState&) const = default;
};

// Inserts or replaces the model's state. InvalidArgument for invalid JSON or a negative
// prompts_seen; NotFound for an unknown model.
Status save_predictor_state(Database& db, const PredictorState& state);
// NotFound when nothing was saved for the model.
Result<PredictorState> load_predictor_state(Database& db, int64_t model_id);

}  // namespace emoe::db
