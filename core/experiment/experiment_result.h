// What an experiment measured (docs/EXPERIMENTS.md): per matrix point the served requests
// (queued, prefill, decode, done; TTFT, TPOT, E2E, SLO met), the run's SLO attainment and
// throughput, memory over time, expert loads and bytes moved, and accuracy against the full
// model; plus the capacity study. Plain data: the runner fills it, the database stores and
// reloads it, reports and the GUI draw it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/common/json_writer.h"
#include "core/experiment/experiment_matrix.h"
#include "core/sched/request_metrics.h"

namespace emoe::model {
class Model;
}

namespace emoe::experiment {

// One served request of a point.
struct RequestOutcome {
  int64_t id = 0;  // index in the workload
  std::string task;
  std::string state;              // sched::request_state_name: "finished", "rejected", ...
  std::string stop_reason;        // finished ones: engine::stop_reason_name
  sched::RequestTiming timing;    // absolute times on the point's clock (ms)
  sched::RequestMetrics metrics;  // derived from timing
  double prefill_done_ms = -1.0;  // when its last prompt token went through; < 0: never
  // Accuracy against the full model, teacher-forced over the request's own prompt + output:
  // how many of its generated tokens equal the full model's argmax at that position.
  int64_t scored_tokens = 0;
  int64_t agreeing_tokens = 0;
  bool matches_reference = false;  // its output equals the full model's greedy output
};

// Device-tier memory after one forward step (bytes).
struct MemoryPoint {
  double time_ms = 0.0;  // on the point's clock
  uint64_t dense_bytes = 0, expert_bytes = 0, expert_budget = 0, kv_bytes = 0, scratch_bytes = 0;
  uint64_t total() const { return dense_bytes + expert_bytes + kv_bytes + scratch_bytes; }
};

struct PointResult {
  ExperimentPoint point;
  sched::RunMetrics run;                 // SLO attainment, throughput, TTFT/E2E statistics
  std::vector<RequestOutcome> requests;  // in workload order
  std::vector<MemoryPoint> memory;       // at most ~1000 samples, evenly thinned, in time order
  // Expert tier (after the warm start).
  uint64_t hits = 0, misses = 0, substitutions = 0, decisions = 0;
  uint64_t loads = 0, bytes_moved = 0, evictions = 0;
  double stall_ms = 0.0;
  double hit_rate = 0.0;  // router top-k experts resident / top-k slots
  // Memory (bytes).
  uint64_t dense_bytes = 0, expert_budget_bytes = 0, all_expert_bytes = 0;
  uint64_t peak_expert_bytes = 0, peak_total_bytes = 0;
  double expert_fraction = 1.0;  // resident slots / all experts
  // Accuracy over the completed requests (when measured; exact and all routing are exact by
  // construction and report 1).
  bool accuracy_measured = false;
  double accuracy = 0.0;          // agreeing / scored tokens
  double exact_match_rate = 0.0;  // share of requests whose output equals the full model's
  // Predictor.
  int64_t predictor_invocations = 0;
  double predict_ms = 0.0;  // summed over invocations
  // Run.
  int64_t steps = 0;
  double wall_seconds = 0.0;    // the whole point, warm-up included
  double per_token_ms = 0.0;    // c the eMoE scheduler used
  double expert_load_ms = 0.0;  // dE per expert the scheduler used
  int64_t run_id = 0;           // the database's runs row; 0: not stored
};

// One expert budget of the capacity study.
struct CapacityOutcome {
  std::string budget;  // as configured ("100%", "60%")
  double expert_fraction = 1.0;
  uint64_t device_bytes = 0, dense_bytes = 0, expert_bytes = 0, scratch_bytes = 0;
  uint64_t kv_bytes = 0, kv_bytes_per_token = 0;
  int64_t max_context_tokens = 0;  // KV tokens the rest of the device budget holds
  int32_t max_batch = 0;           // requests of prompt_tokens + generate_tokens that fit
  int64_t max_prompt = 0;          // prompt tokens per request at `batch` requests
  // The confirming runs: max_batch requests at once, and `batch` requests of max_prompt.
  bool batch_run_ok = false, prompt_run_ok = false;
  std::string batch_run_error, prompt_run_error;
  uint64_t batch_run_peak_bytes = 0, prompt_run_peak_bytes = 0;  // measured, <= device_bytes
  double batch_run_tokens_per_s = 0.0;  // generated tokens / wall time at max_batch
};

struct MachineInfo {
  std::string cpu;  // /proc/cpuinfo model name
  int32_t cores = 0;
  uint64_t memory_bytes = 0;
  std::string os;
};

struct ModelInfo {
  std::string path;
  std::string arch;
  std::string name;
  int64_t n_layer = 0, n_expert = 0, n_expert_used = 0, n_embd = 0, n_vocab = 0;
  uint64_t file_bytes = 0;
};

struct ExperimentResult {
  ExperimentConfig config;
  ModelInfo model;
  MachineInfo machine;
  int64_t started_at_us = 0;  // Unix epoch
  double wall_seconds = 0.0;
  std::vector<PointResult> points;  // in expand_matrix order (a cancelled run: those done)
  std::vector<CapacityOutcome> capacity;
  bool cancelled = false;
  int64_t experiment_id = 0;  // the database's experiments row; 0: not stored
};

// The result as one JSON document (docs/EXPERIMENTS.md; the JSON summary, `emoe experiment
// --json` and the report's raw data), and its per-request table as CSV.
std::string experiment_result_to_json(const ExperimentResult& result, bool with_requests = true);
std::string experiment_requests_csv(const ExperimentResult& result);
// One point as a JSON object (its parameters and every metric; with_requests adds "memory"
// [[time_ms, dense, experts, budget, kv, scratch], ...] and "per_request").
void write_point_json(JsonWriter& j, const PointResult& r, bool with_requests);
void write_capacity_json(JsonWriter& j, const CapacityOutcome& c);

MachineInfo describe_machine();
// The model's canonical path (as the database's model rows have it), file size, architecture
// and shape.
ModelInfo describe_experiment_model(const model::Model& model);

}  // namespace emoe::experiment
