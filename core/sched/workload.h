// Workloads: task-mixed requests with arrival times and SLOs (DESIGN.md sections 1 and 6).
//
// Mixed workload file (JSON Lines, resources/workloads/README.md): one request per line,
//   {"task": "qa", "text": "...", "arrival_ms": 12.5, "slo_ttft_ms": 500,
//    "slo_e2e_ms": 3000, "max_new_tokens": 64}
// - text (non-empty string), arrival_ms (>= 0, non-decreasing down the file) and
//   max_new_tokens (integer 1..kMaxNewTokensLimit) are required;
// - task is a task name (task_classifier.h) or null/absent: the classifier assigns one;
// - slo_ttft_ms / slo_e2e_ms are > 0, or null/absent for no SLO;
// - blank lines are skipped; any other key is an error (it is most likely a typo).
// Per-task prompt file (resources/workloads/<task>.txt): one prompt per line, UTF-8, no tabs;
// blank lines are skipped.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"
#include "core/sched/task_classifier.h"

namespace emoe::sched {

inline constexpr int32_t kMaxNewTokensLimit = 1 << 20;

struct Request {
  std::optional<TaskType> task;  // nullopt: unlabelled, the classifier assigns one
  std::string text;
  double arrival_ms = 0.0;   // from the start of the run
  double slo_ttft_ms = 0.0;  // time-to-first-token bound; 0: none
  double slo_e2e_ms = 0.0;   // end-to-end latency bound; 0: none
  int32_t max_new_tokens = 0;
};

// Errors name "<source>:<line>: " and the field.
Result<std::vector<Request>> parse_workload_jsonl(std::string_view text,
                                                  std::string_view source = "<workload>");
Result<std::vector<Request>> load_workload_jsonl(const std::string& path);
// The file format above, one line per request (tasks always written, SLOs of 0 as null).
std::string workload_to_jsonl(const std::vector<Request>& requests);

// Prompt files: errors (a tab, invalid UTF-8, no prompt at all) name the file and line.
Result<std::vector<std::string>> parse_prompt_lines(std::string_view text,
                                                    std::string_view source = "<prompts>");
Result<std::vector<std::string>> load_prompt_file(const std::string& path);

using TaskPrompts = std::array<std::vector<std::string>, kTaskCount>;  // by task_index
// dir/<task_name>.txt for all five tasks.
Result<TaskPrompts> load_task_prompts(const std::string& dir);

struct TaskRequestLimits {
  double slo_ttft_ms = 0.0;
  double slo_e2e_ms = 0.0;
  int32_t max_new_tokens = 0;
};

// The demo workload's per-task limits (resources/workloads/README.md): output lengths ordered
// as the paper's Fig. 4 (QA shortest, conversation longest), interactive SLOs for conversation
// and QA, loose ones for summarization.
std::array<TaskRequestLimits, kTaskCount> default_task_limits();

struct WorkloadOptions {
  uint64_t seed = 1;
  int64_t n_requests = 500;
  double rate_per_s = 2.0;  // Poisson arrivals: exponential inter-arrival, mean 1000/rate ms
  // Relative task mix, by task_index (the paper: uniform). Tasks without prompts must weigh 0.
  std::array<double, kTaskCount> task_weights = {1, 1, 1, 1, 1};
  std::array<TaskRequestLimits, kTaskCount> limits = default_task_limits();
  double start_ms = 0.0;  // the clock before the first arrival
};

// A seeded mixed workload: the first request arrives one exponential gap after start_ms; each
// request's task is drawn from the weights and its prompt uniformly from that task's prompts.
// Reproducible across platforms (own generator and inverse-CDF sampling, no std::
// distributions). InvalidArgument names the option that cannot work.
Result<std::vector<Request>> generate_workload(const TaskPrompts& prompts,
                                               const WorkloadOptions& options);

}  // namespace emoe::sched
