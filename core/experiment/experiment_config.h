// An experiment configuration (docs/EXPERIMENTS.md): one model, one workload and a matrix of
// configurations to serve it under (device budgets x predictors x predictor intervals p x
// schedulers x arrival rates x routing modes x seeds), plus the serving options, the clock
// (virtual or wall) and an optional capacity study. Stored as a JSON file the user edits, so
// every error names file, line and field ("exp.json:7: field 'matrix.budgets[1]': ...").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/status.h"
#include "core/engine/routing_mode.h"
#include "core/sched/scheduler.h"
#include "core/sched/serving_loop.h"
#include "core/sched/task_classifier.h"

namespace emoe::experiment {

// Where the requests come from.
struct WorkloadSpec {
  // A JSONL workload (core/sched/workload.h), relative paths resolved against the
  // configuration's directory. Empty: generated from the built-in task prompts.
  std::string file;
  // Generated workloads only: requests, seed and task mix (by task_index; the paper: uniform).
  int64_t requests = 40;
  uint64_t seed = 1;
  std::array<double, sched::kTaskCount> task_weights = {1, 1, 1, 1, 1};
  // Every request's max_new_tokens is cut to this when > 0 (keeps demo experiments short).
  int32_t max_new_tokens_cap = 0;
  // Multiplies every request's max_new_tokens (rounded, at least 1) before the cap: shorter
  // runs that keep the tasks' output-length order (the paper's Fig. 4), which SJF and eMoE's
  // G_i rely on; a cap alone makes every task equally long.
  double max_new_tokens_scale = 1.0;
  // Multiplies every request's SLOs (ttft and e2e); 1: as generated / as in the file.
  double slo_scale = 1.0;
};

// The capacity study (the paper's section 4.6): at one fixed device budget, the largest batch
// (at prompt_tokens per request) and the longest prompt (at `batch` requests) each expert
// budget can hold, with the KV cache getting what the experts leave.
struct CapacitySpec {
  bool enabled = false;
  // The device budget: bytes, or 0 for what all experts + dense + scratch + a batch of `batch`
  // requests of prompt_tokens + generate_tokens KV need (the paper's baseline point).
  uint64_t device_bytes = 0;
  std::vector<std::string> budgets = {"100%", "60%"};  // expert budgets compared, budget grammar
  int64_t prompt_tokens = 64;                          // per request, for the max-batch search
  int32_t batch = 4;                                   // requests, for the max-prompt search
  int32_t generate_tokens = 4;                         // per request in the confirming runs
  int32_t max_batch_limit = 256;                       // the search stops here
};

// The serving options shared by every point of the matrix.
struct ServingSpec {
  int32_t max_sequences = 4;
  int64_t max_batch_tokens = 256;
  int64_t prefill_chunk = 0;
  int64_t max_tokens = 0;  // T_max; 0: no limit
  sched::ClockKind clock = sched::ClockKind::Virtual;
  // Virtual clock: step_ms + tokens * token_ms per step; token_ms 0: the profiled c (else 0.1).
  sched::StepCostModel cost = {1.0, 0.0, {}};
  double starvation_ms = 0.0;  // eMoE scheduler
  // Virtual clock: ms one expert load (host -> device tier) costs, added to the step that
  // caused it (plans applied at admission included), and dE for the eMoE scheduler under exact
  // routing. 0: the profiled dE (emoe profile), else loads are free.
  double expert_load_ms = 0.0;
};

struct ExperimentConfig {
  std::string name = "experiment";
  std::string model;   // GGUF path (resolved like the workload file), or "demo": the demo model
  std::string source;  // the file it was read from ("" when built in code)
  WorkloadSpec workload;
  // The matrix. Each list has at least one entry; an empty one in the file is an error.
  std::vector<std::string> budgets = {"60%"};        // expert budgets, cli_paging grammar
  std::vector<std::string> predictors = {"emoe-a"};  // predictor_names() or "none"
  std::vector<int32_t> intervals = {40};             // p, 1..200
  std::vector<std::string> schedulers = {"emoe"};    // emoe, fcfs, sjf
  // Requests/s. Generated workloads are drawn at each rate; a file's arrival times are scaled
  // so its mean rate is the given one. 0 (file only): the file's own times.
  std::vector<double> arrival_rates = {2.0};
  std::vector<engine::RoutingMode> routing = {engine::RoutingMode::Fallback};
  std::vector<uint64_t> seeds = {1};  // sampling/predictor seed per point
  ServingSpec serving;
  int32_t profile_requests = 20;  // warm-up prompts on the full model: history + training
  bool accuracy = true;           // per-request agreement with the full model
  int n_threads = 1;
  // Where the engine computes: "cpu", "cuda" (GPU 0) or "cuda:N" (core/engine/compute_device.h).
  // Checked for syntax only here; without CUDA a run falls back to the CPU. A finished run's
  // result holds the backend that actually ran ("cpu" or "cuda:N").
  std::string device = "cpu";
  CapacitySpec capacity;
};

// Keys and value rules are in docs/EXPERIMENTS.md. Unknown keys, wrong types, out-of-range
// values, empty lists and malformed JSON are InvalidArgument naming source, line and field.
Result<ExperimentConfig> parse_experiment_config(std::string_view json,
                                                 std::string_view source = "<config>");
Result<ExperimentConfig> load_experiment_config(const std::string& path);
// The canonical JSON (every key, defaults written out); parse(to_json(c)) == c.
std::string experiment_config_to_json(const ExperimentConfig& config);

}  // namespace emoe::experiment
