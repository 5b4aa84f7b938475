// eMoE's serving loop over a sequence of requests (DESIGN.md sections 3 and 5, docs/EMOE.md):
// before each request the periodic invoker gives the predicted per-task expert frequency f, the
// ExpertPlanner (Eq. 2) turns it, the request's input tokens, the task's mean output length and
// its sensitivity into the top-L experts per layer within the device budget, the PlanApplier
// moves weights only where a layer's set changed (waiting for them before the request starts;
// that time is counted apart from the request's), the request runs with fallback (or exact)
// routing, and its routing (the router's top-k) goes into the history and predictor->observe().
//
// Accuracy, when asked for, compares the run with the same model using every expert
// (RoutingMode::All): next-token top-1 agreement and KL under teacher forcing over the prompt
// plus the reference's greedy continuation (core/metrics/accuracy.h), per request.
//
// Requests run one at a time, greedy, so the running batch the planner sees is the request
// itself. Not thread-safe; the session must not be used by anything else during run_emoe().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/common/json_writer.h"
#include "core/common/status.h"
#include "core/engine/inference_session.h"
#include "core/engine/routing_mode.h"
#include "core/experts/expert_cache.h"
#include "core/predict/periodic_invoker.h"
#include "core/predict/routing_history.h"
#include "core/sched/task_classifier.h"
#include "core/sched/workload.h"

namespace emoe::predict {

struct RunnerRequest {
  std::string task;  // a task name; the planner's and the predictors' key
  std::string text;
  std::vector<int32_t> tokens;  // the prompt; empty: the text tokenized (with BOS)
  int32_t max_new_tokens = 16;  // greedy tokens generated (and teacher-forced for accuracy)
};

// Workload requests as runner requests: unlabelled ones get the classifier's task; each
// request's max_new_tokens is cut to max_new_tokens_cap when that is > 0.
std::vector<RunnerRequest> runner_requests(std::span<const sched::Request> workload,
                                           const sched::TaskClassifier& classifier,
                                           int32_t max_new_tokens_cap = 0);

// The reference (every expert) side of each request: it does not depend on the configuration
// under test, so a sweep over budgets and predictors computes it once (bench-emoe).
struct ReferenceRun {
  std::vector<int32_t> prompt;        // the tokens it was computed for
  int32_t max_new_tokens = 0;         // what the continuation was asked for
  std::vector<int32_t> continuation;  // greedy tokens after the prompt
  PromptRecord record;                // its routing (router top-k = used with every expert)
  std::vector<float> logits;          // [prompt + continuation][n_vocab] teacher-forced
};
using ReferenceCache = std::map<size_t, ReferenceRun>;  // by request index

// Called around each measured request (the candidate run), e.g. to record it into a database.
struct RunnerHooks {
  // The candidate's engine sequence, before its first step; an error stops the run.
  std::function<Status(int32_t seq, size_t index, const RunnerRequest& request)> begin;
  std::function<void(size_t index)> first_token;
  std::function<Status(int32_t seq, size_t index, int64_t prompt_tokens, int64_t generated_tokens)>
      finish;
  // Observers that see only the measured runs (not the teacher-forced accuracy passes).
  std::vector<engine::ForwardObserver*> run_observers;
  // After each request (done, total); false cancels between requests.
  std::function<bool(size_t done, size_t total)> progress;
};

struct RunnerOptions {
  // A predictor name (predictor_names()), or "none": no planner; the tier then follows
  // `policy` (the exact + LRU baseline).
  std::string predictor = "emoe-a";
  int32_t interval = 40;  // p, 1..200
  InvokerMode invoker_mode = InvokerMode::PerTask;
  // Off: task-agnostic loading (the paper's Fig. 13 baseline): one prediction (Single mode)
  // serves every task, and s = 1 everywhere.
  bool task_aware = true;
  engine::RoutingMode mode = engine::RoutingMode::Fallback;       // Fallback or Exact
  experts::EvictionPolicy policy = experts::EvictionPolicy::Lru;  // only without a planner
  std::optional<uint64_t> budget_bytes;  // the device tier's expert budget; else the percent
  double budget_percent = 60;
  int n_threads = 1;
  int64_t n_ctx = 0;  // 0: the model's context, at most 4096
  // The GPU the session, its tier and the reference engine made here compute on
  // (core/engine/compute_device.h); null: the CPU.
  std::shared_ptr<kernels::gpu::Device> device;
  bool accuracy = false;
  bool stop_at_eos = false;  // false: every request generates exactly max_new_tokens
  // Cold start: the first profile_requests requests run only on the all-experts reference;
  // their routing seeds the history, trains the predictor and gives per-task popularity
  // profiles. They are not measured. 0: cold start from the popularity of the history so far.
  int32_t profile_requests = 0;
  // s per task ([n_layer] per block, 0 insensitive); a task without one is sensitive.
  std::map<std::string, std::vector<float>> sensitivity;
  // W_o per task until the history has the task's outputs; else the request's max_new_tokens.
  std::map<std::string, double> default_output_tokens;
  uint64_t seed = 42;
  size_t history_capacity = 4096;
  PredictorOptions predictor_options;         // shape and seed are set by the runner
  ReferenceCache* reference_cache = nullptr;  // reused and filled when given
  RunnerHooks hooks;
};

struct RequestReport {
  size_t index = 0;  // in the request list
  std::string task;
  int64_t prompt_tokens = 0, generated_tokens = 0;
  bool invoked = false;     // the predictor ran before this request
  bool cold_start = false;  // some layer's frequency came from a cold-start profile
  int32_t changed_layers = 0;
  uint64_t loads = 0, bytes_loaded = 0;  // plan loads plus on-demand loads (exact)
  double load_seconds = 0;               // waiting for the plan's loads, before the request
  double stall_seconds = 0;              // on-demand load stalls inside the request (exact)
  double run_seconds = 0;                // the request itself
  double predict_seconds = 0;            // the invoker's call (predictor runs included)
  uint64_t topk_hits = 0, topk_misses = 0, substitutions = 0, decisions = 0;
  // Accuracy against every expert (when measured).
  bool accuracy_measured = false;
  int64_t positions = 0, top1_agree = 0;
  double kl_sum = 0;
  bool exact_match = false;  // the greedy continuations are equal
  double lcs = 0;

  double hit_rate() const;  // top-k experts resident / top-k slots
  double agreement() const;
};

struct RunnerSummary {
  std::string predictor;
  int32_t interval = 0;
  std::string mode;  // "fallback" / "exact"
  bool task_aware = true;
  int64_t requests = 0, profile_requests = 0, prompt_tokens = 0, generated_tokens = 0;
  // Accuracy (the measured requests together). With exact routing it is 1 by construction and
  // not measured (accuracy_by_construction).
  bool accuracy_measured = false, accuracy_by_construction = false;
  int64_t positions = 0, top1_agree = 0;
  double accuracy = 0, mean_kl = 0, exact_match_rate = 0, mean_lcs = 0;
  uint64_t topk_hits = 0, topk_misses = 0, substitutions = 0, decisions = 0;
  double hit_rate = 0, fallback_rate = 0;              // fallback_rate: substitutions / top-k slots
  uint64_t fill_loads = 0, fill_bytes = 0;             // the tier's warm start (before request 0)
  uint64_t loads = 0, bytes_moved = 0, evictions = 0;  // after the warm start
  double load_seconds = 0, stall_seconds = 0, run_seconds = 0, wall_seconds = 0;
  int64_t plan_changes = 0;  // requests before which some layer's set changed
  // Predictor.
  int64_t invocations = 0, predictor_calls = 0;
  double predict_seconds = 0;  // summed over the invoked requests
  double train_seconds = 0;    // train() on the profiling pass
  double observe_seconds = 0;  // online observe() after every request
  // Device memory (bytes): dense weights + the expert budget + KV cache, against all experts.
  uint64_t dense_bytes = 0, expert_budget_bytes = 0, kv_bytes = 0, device_bytes = 0;
  uint64_t all_expert_bytes = 0, all_experts_device_bytes = 0;
  uint64_t peak_expert_bytes = 0;                 // the tier's peak (never above the budget)
  int32_t resident_slots = 0, total_experts = 0;  // experts the tier holds / all of them
  double expert_fraction = 0;                     // resident_slots / total_experts
  bool budget_clamped = false;

  double decode_tokens_per_s() const;
};

struct RunnerReport {
  std::vector<RequestReport> requests;  // the measured ones, in order
  RunnerSummary summary;
  engine::SessionReport session;
};

// Configures `session` (budget, routing, Pinned policy with a planner) and runs the requests.
// `reference`: the all-experts side for accuracy and the oracle; null makes an engine with
// every expert over the session's model. The session keeps the last configuration.
Result<RunnerReport> run_emoe(engine::InferenceSession& session,
                              std::span<const RunnerRequest> requests, const RunnerOptions& options,
                              engine::InferenceSession* reference = nullptr);

// The summary's keys into an open JSON object ("accuracy", "hit_rate", "bytes_moved", ...;
// docs/EMOE.md lists them), and one request as an object.
void write_summary_json(JsonWriter& j, const RunnerSummary& s);
void write_request_json(JsonWriter& j, const RequestReport& r);

}  // namespace emoe::predict
