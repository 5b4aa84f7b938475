// Machine profiles in the store: what `emoe profile` measured for one model on this machine
// (the scheduler's inputs c, dE and the per-task mean output lengths), kept as runs rows named
// "profile" (config: the model's canonical path and size; metrics: the figures). `emoe serve`,
// `emoe experiment` and the workbench's experiments read the latest one of their model.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "core/common/status.h"
#include "core/experiment/experiment_runner.h"
#include "core/sched/task_classifier.h"

namespace emoe::model {
class Model;
}

namespace emoe::db {

inline constexpr const char* kMachineProfileRunName = "profile";

// The metrics key of a task's mean output length ("mean_output_tokens_qa").
std::string machine_profile_output_key(sched::TaskType t);

struct MachineProfile {
  int64_t run_id = 0;               // the runs row it was read from; 0: not stored
  double per_token_ms = 0;          // c: compute time of one token in one forward step
  double prefill_ms_per_token = 0;  // prompt tokens through a prefill step
  double decode_ms_per_token = 0;   // one token per step (a single sequence)
  double expert_load_ms = 0;        // dE of one expert: one device-tier load (0: dense model)
  double expert_load_bytes_per_s = 0;
  uint64_t expert_bytes = 0;  // bytes one load copies (the tier's slot)
  std::array<double, sched::kTaskCount> mean_output_tokens = {0, 0, 0, 0, 0};  // by task_index

  // What the experiment runner takes from it.
  experiment::MachineProfile scheduler_inputs() const;
};

// The latest profile stored for `model` in db_file; nullopt when the file or a profile of this
// model (same canonical path and size) does not exist.
Result<std::optional<MachineProfile>> load_machine_profile(const std::string& db_file,
                                                           const model::Model& model);

// Adds a runs row (name, config and metrics JSON objects, created now); returns its id. Creates
// the database (and its directory) when missing.
Result<int64_t> store_run_row(const std::string& db_file, const std::string& name,
                              const std::string& config_json, const std::string& metrics_json);

}  // namespace emoe::db
