// Plain values the engine thread hands to the GUI: everything a view draws comes as one of
// these, copied out of the engine (never references into engine state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/batch.h"
#include "core/engine/routing_mode.h"
#include "core/experts/expert_events.h"

namespace emoe::ui {

// One MoE layer of one token: the router's top-k and what was computed.
struct LayerTrace {
  int32_t layer = 0;
  std::vector<int32_t> router_experts;   // [k] descending probability
  std::vector<float> router_weights;     // [k] renormalised gate weights
  std::vector<uint8_t> router_resident;  // [k] 1 when router_experts[j] was resident (a hit)
  std::vector<int32_t> used_experts;     // [<= k] experts computed with
  std::vector<float> used_weights;       // [<= k]
  // Per used expert: loaded on demand for this token (exact routing, a miss).
  std::vector<uint8_t> used_loaded;  // [<= k]
};

struct TokenTelemetry {
  int64_t request_id = 0;
  int32_t pos = 0;  // position in its request's sequence
  int32_t token_id = 0;
  std::string piece;  // detokenized text of this token (UTF-8, may be a partial character)
  engine::Phase phase = engine::Phase::Prefill;
  double time_s = 0;  // seconds since the controller started
  // The expert with the largest used weight summed over layers (-1 without MoE layers); the
  // console tints the token by it.
  int32_t dominant_expert = -1;
  std::vector<LayerTrace> layers;  // one per MoE layer, ascending layer
};

// Expert counts accumulated since the last drain for one request (exact: never sampled or
// dropped, so the heatmap equals the routing capture).
struct CountDelta {
  int64_t request_id = 0;
  std::string task;
  std::vector<int64_t> used;    // [n_layer * n_expert], experts computed with
  std::vector<int64_t> router;  // [n_layer * n_expert], the router's top-k
};

struct MemoryPoint {
  double time_s = 0;
  uint64_t dense_bytes = 0;
  uint64_t expert_bytes = 0;  // resident experts
  uint64_t kv_bytes = 0;
  uint64_t expert_budget = 0;  // the device tier's expert budget (0: no tier, all experts)
};

struct ExpertEventPoint {
  double time_s = 0;
  experts::ExpertEventKind kind = experts::ExpertEventKind::Hit;
  int32_t layer = 0;
  int32_t expert = 0;
  uint64_t bytes = 0;
};

// One forward step: throughput and paging per step.
struct StepStats {
  double time_s = 0;  // end of the step
  engine::Phase phase = engine::Phase::Decode;
  int32_t n_tokens = 0;
  double seconds = 0;         // wall time of the step
  uint64_t hits = 0;          // router top-k experts found resident in this step
  uint64_t misses = 0;        // and not resident
  uint64_t bytes_loaded = 0;  // expert bytes copied into the tier during this step
};

struct RequestStats {
  int64_t request_id = 0;
  std::string task;
  std::string prompt;
  std::string output;  // generated text
  double arrival_s = 0;
  double ttft_ms = 0;  // arrival to the first generated token
  double e2e_ms = 0;   // arrival to the last
  std::optional<double> slo_ttft_ms, slo_e2e_ms;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_tok_s = 0;
  double decode_tok_s = 0;
  std::string stop_reason;  // engine::stop_reason_name, or "error"
  std::string error;        // non-empty when the request failed
};

// eMoE's loop around one request (a predictor is set): what was planned before it and what its
// router actually chose. The actual set of a layer is its top-k experts by the router's top-k
// counts over the request (prefill and decode; docs/PREDICTORS.md's A); precision and recall
// compare the planned residents P with it, micro-averaged over layers: |P ∩ A| / |P| and
// |P ∩ A| / |A|.
struct PredictionStats {
  int64_t request_id = 0;
  std::string task;       // the planner's key (classified when the prompt asked for "auto")
  std::string predictor;  // predict::predictor_names()
  int32_t interval = 0;   // p
  bool task_aware = true;
  int64_t config_request = 0;  // 0-based index of the request since this configuration began
  bool invoked = false;        // the predictor ran before this request
  bool cold_start = false;
  int64_t invocations = 0;  // of this configuration so far, this request included
  int32_t n_layer = 0, n_expert = 0, k = 0;
  std::vector<std::vector<int32_t>> predicted;  // [n_layer] planned residents, ascending
  std::vector<uint32_t> actual;                 // [n_layer * n_expert] router top-k counts
  int64_t true_positives = 0, predicted_total = 0, actual_total = 0;
  double precision = 0, recall = 0;
  int32_t changed_layers = 0;
  uint64_t loads = 0, bytes_loaded = 0;  // by the plan and during the request
  double predict_ms = 0, load_ms = 0;
  uint64_t expert_budget_bytes = 0, peak_expert_bytes = 0;
};

// What one drain of the telemetry buffer returns.
struct TelemetryBatch {
  std::vector<TokenTelemetry> tokens;  // in generation order; oldest dropped when over capacity
  int64_t dropped_tokens = 0;          // traces dropped since the last drain (counts never are)
  std::vector<CountDelta> counts;
  std::vector<MemoryPoint> memory;
  std::vector<ExpertEventPoint> events;  // oldest dropped when over capacity
  std::vector<StepStats> steps;
  std::vector<RequestStats> finished;
  std::vector<PredictionStats> predictions;  // one per request run with a predictor
  // The device tier's residency when it changed since the last drain ([n_layer * n_expert], 1
  // where the expert is resident); an empty vector: no device tier. Unset: unchanged.
  std::optional<std::vector<uint8_t>> residency;
  bool empty() const {
    return tokens.empty() && counts.empty() && memory.empty() && events.empty() && steps.empty() &&
           finished.empty() && predictions.empty() && !residency;
  }
};

}  // namespace emoe::ui
