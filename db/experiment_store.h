// Experiments in the store (schema v3, docs/DATABASE.md): an experiments row, one runs row per
// matrix point with every metric, and per point its requests and memory samples, written as the
// experiment goes (a crash loses at most the point in flight) and read back into an
// ExperimentResult so reports and comparisons need nothing but the database.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/experiment/experiment_result.h"

namespace emoe::db {

class Database;

// Adds the experiments row (status "running") from the result's config, model and machine;
// model_id may be empty. Returns its id.
Result<int64_t> begin_experiment(Database& db, const experiment::ExperimentResult& header,
                                 std::optional<int64_t> model_id);
// One point: its runs row, requests and memory samples, in one transaction. Returns the run id.
Result<int64_t> store_experiment_point(Database& db, int64_t experiment_id,
                                       const experiment::PointResult& point);
// Capacity, wall time and the final status ("done", "cancelled" or "failed").
Status finish_experiment(Database& db, int64_t experiment_id,
                         const experiment::ExperimentResult& result, const std::string& status);

struct ExperimentRow {
  int64_t id = 0;
  std::string name;
  int64_t created_at_us = 0;
  std::string status;
  std::string model_path;
  int64_t points = 0;
  double wall_seconds = 0.0;
};
Result<std::vector<ExperimentRow>> list_experiments(Database& db);

// The experiment as it was stored: configuration (re-parsed), model, machine, every stored
// point with its requests and memory, the capacity study. NotFound for an unknown id.
Result<experiment::ExperimentResult> load_experiment(Database& db, int64_t experiment_id);
// Points picked by run id (possibly from several experiments, e.g. to compare runs side by
// side), in the given order; the configuration, model and machine are the first run's
// experiment's. NotFound names a run id that is not an experiment point.
Result<experiment::ExperimentResult> load_experiment_runs(Database& db,
                                                          std::span<const int64_t> run_ids);

}  // namespace emoe::db
