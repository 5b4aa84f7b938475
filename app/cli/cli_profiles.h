// Per-task sensitivity profiles as the commands read them back from the history database
// (profile-sensitivity -> run). Machine profiles and run rows are in db/machine_profiles.h.
#pragma once

#include <map>
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

}  // namespace emoe::cli
