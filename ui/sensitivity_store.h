// The per-model sensitivity profiles the Sensitivity dock shows and eMoE's task-aware planner
// uses: read from and measured into the history database (db/model_profiles.h), in the layout
// `emoe profile-sensitivity` stores (docs/EMOE.md: details_json's per-block "sensitivity").
// Both run on the engine thread.
#pragma once

#include <QStringList>
#include <functional>
#include <string>

#include "core/common/status.h"
#include "ui/engine_controller.h"

namespace emoe::model {
class Model;
}

namespace emoe::ui {

// The model's stored profiles as a task x layer matrix; an empty one with a note when there
// are none (no database, no model row, no rows). Rows whose layer count does not match the
// model are skipped, with a line in *warnings.
SensitivityMatrix read_sensitivity_matrix(const std::string& db_path, const model::Model& model,
                                          QStringList* warnings);

struct SensitivityRun {
  double threshold = 0.85;
  int n_threads = 1;
  // (fraction done, task being profiled); false cancels.
  std::function<bool(double, const std::string&)> progress;
};

// Profiles every task over the first built-in prompts on an all-experts engine of its own and
// stores one row per task (adding the model's row when missing). Returns the tasks profiled.
Result<int> profile_and_store_sensitivity(const std::string& db_path, const model::Model& model,
                                          const SensitivityRun& run);

}  // namespace emoe::ui
