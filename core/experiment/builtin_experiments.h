// The experiment configurations shipped in resources/experiments, compiled into the program
// (core/CMakeLists.txt generates the text), so the CLI and the workbench offer them with no
// resource path at run time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"
#include "core/experiment/experiment_config.h"

namespace emoe::experiment {

// "demo" (the default: schedulers x arrival rates x budgets plus a capacity study on the demo
// model) and "p_sweep" (predictors x intervals p).
const std::vector<std::string>& builtin_experiment_names();
// The file's text; empty for an unknown name.
std::string_view builtin_experiment_text(std::string_view name);
// Parsed, with source "builtin:<name>". NotFound lists the names.
Result<ExperimentConfig> builtin_experiment(std::string_view name);

}  // namespace emoe::experiment
