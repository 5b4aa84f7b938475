// What the commands store in and read back from the history database about a model besides
// sessions: per-task sensitivity profiles (profile-sensitivity -> run) and machine profiles,
// the scheduler's inputs (profile -> serve), and run rows.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/common/status.h"

namespace emoe::model {
class Model;
}

namespace emoe::cli {

// The per-block sensitivity s of each task stored for `model` by profile-sensitivity (empty when
// the file or the model's profiles do not exist); cmd_profile_sensitivity.cpp.
Result<std::map<std::string, std::vector<float>>> load_sensitivity_profiles(
    const std::string& db_file, const model::Model& model);

// The scheduler's inputs as `emoe profile` measured them for one model (cmd_profile.cpp).
struct MachineProfile {
  int64_t run_id = 0;               // the runs row it was read from; 0: not stored
  double per_token_ms = 0;          // c: compute time of one token in one forward step
  double prefill_ms_per_token = 0;  // prompt tokens through a prefill step
  double decode_ms_per_token = 0;   // one token per step (a single sequence)
  double expert_load_ms = 0;        // dE of one expert: one device-tier load (0: dense model)
  double expert_load_bytes_per_s = 0;
  uint64_t expert_bytes = 0;  // bytes one load copies (the tier's slot)
  std::array<double, 5> mean_output_tokens = {0, 0, 0, 0, 0};  // by sched::task_index
};
// The latest profile stored for `model` in db_file; nullopt when the file or a profile of this
// model (same canonical path and size) does not exist.
Result<std::optional<MachineProfile>> load_machine_profile(const std::string& db_file,
                                                           const model::Model& model);
// Adds a runs row (name, config and metrics JSON objects, created now); returns its id. Creates
// the database (and its directory) when missing.
Result<int64_t> store_run_row(const std::string& db_file, const std::string& name,
                              const std::string& config_json, const std::string& metrics_json);

}  // namespace emoe::cli
