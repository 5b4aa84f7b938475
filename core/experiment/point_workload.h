// The requests of an experiment, per arrival rate (docs/EXPERIMENTS.md):
//  - generated (no workload file): generate_workload over the built-in task prompts with the
//    configuration's seed, request count and task mix, drawn at the point's rate;
//  - a JSONL file: its requests, with arrival times scaled so that the mean rate (requests /
//    last arrival) is the point's rate; rate 0 keeps the file's own times;
// then every request's max_new_tokens is scaled by max_new_tokens_scale (rounded, at least 1)
// and cut to max_new_tokens_cap (when > 0), and its SLOs are
// multiplied by slo_scale. The same rate always gives the same requests, so points that differ
// only in budget, predictor or scheduler serve identical workloads.
//
// The warm-up prompts are drawn the same way from the built-in prompts, with a seed derived from
// (and different from) the workload's: another stream over the same prompt pool, so the
// warm-up is not the measured request sequence replayed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/experiment/experiment_config.h"
#include "core/sched/workload.h"

namespace emoe::experiment {

struct WorkloadSource {
  sched::TaskPrompts prompts;                       // the built-in task prompts
  std::optional<std::vector<sched::Request>> file;  // the workload file's requests, if any
  std::string file_path;                            // as resolved
};

// Loads the built-in prompts and the workload file (a relative path is resolved against the
// directory of config.source). Errors name the file.
Result<WorkloadSource> load_workload_source(const ExperimentConfig& config);

// The requests served at `rate` (requests/s). InvalidArgument for rate <= 0 without a file, or
// a negative or non-finite rate.
Result<std::vector<sched::Request>> workload_at_rate(const ExperimentConfig& config,
                                                     const WorkloadSource& source, double rate);

// config.profile_requests warm-up prompts (empty when 0), max_new_tokens capped as above.
Result<std::vector<sched::Request>> warm_up_workload(const ExperimentConfig& config,
                                                     const WorkloadSource& source);

}  // namespace emoe::experiment
