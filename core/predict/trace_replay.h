// Trace replay: recorded or imported routing runs through the device tier's policy (a
// CacheModel), the routing mode, and optionally a predictor + ExpertPlanner driving pinned
// residency, without running the model. Load time is modelled from expert bytes and a
// bandwidth. The result is what the live run's paging statistics would have been.
//
// Steps are reconstructed the way the generator makes them: a request's prefill positions in
// chunks of prefill_chunk (512) by position, then one step per decode position. Within a step,
// layer by layer (ascending), the replay does what moe_forward does to the tier:
//  - exact: acquire(layer, e, load) once for each expert of the step's top-k, ascending id;
//  - fallback: acquire(layer, e, no load) once for each top-k expert that was not resident at
//    the layer's start (a miss), then once for each expert used (a hit), ascending id.
// The per token-rank counts (top-k hits/misses, substitutions) are RoutingCounters'.
//
// Fallback substitutes. The engine picks the best-scoring resident experts by the router's
// full probabilities; a trace keeps only the top-k. Fallback never loads, so residency (and
// with it every top-k hit/miss and every miss acquisition) is exact whatever the substitutes.
// The substitutes decide which experts are acquired as hits: when the trace recorded used
// experts and they are all resident in the replay, they are taken as recorded (a replay of the
// recorded configuration is then exact); otherwise they are the resident top-k experts in rank
// order, then the lowest resident ids (the probabilities of the rest are unknown).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/engine/routing_mode.h"
#include "core/experts/cache_model.h"
#include "core/predict/periodic_invoker.h"

namespace emoe::predict {

// One request's routing: positions in ascending order, per position and layer k slots.
struct ReplayRequest {
  int64_t id = 0;
  std::string task;
  std::vector<int32_t> pos;         // [n_tokens] ascending
  std::vector<uint8_t> phase;       // [n_tokens] 0 prefill, 1 decode
  std::vector<int32_t> router;      // [n_tokens][n_layer][k] top-k in rank order, -1: none
  std::vector<float> weights;       // same shape, or empty when the trace has none
  std::vector<int32_t> used;        // same shape, -1: none; empty: used = router
  std::vector<int32_t> step_begin;  // [n_steps + 1] token index where each step starts

  int32_t n_tokens() const { return static_cast<int32_t>(pos.size()); }
  int32_t n_steps() const {
    return step_begin.empty() ? 0 : static_cast<int32_t>(step_begin.size()) - 1;
  }
  int64_t prefill_tokens() const;
  int64_t decode_tokens() const { return n_tokens() - prefill_tokens(); }
};

struct ReplayInput {
  int32_t n_layer = 0;
  int32_t n_expert = 0;
  int32_t k = 0;  // slots per (token, layer)
  std::vector<ReplayRequest> requests;

  int64_t tokens() const;
  int64_t token_layer_events() const;          // (token, layer) pairs with routing
  std::vector<uint8_t> routed_layers() const;  // [n_layer] 1 where any token has routing
  Status validate() const;
};

// Regroups a request's positions into steps: prefill positions by pos / prefill_chunk, each
// decode position alone.
void assign_steps(ReplayRequest& request, int64_t prefill_chunk = 512);

// Collects routing decisions in any order (one request at a time) into a ReplayInput.
class ReplayInputBuilder {
 public:
  // Dimensions of 0 are inferred at finish(): layers and experts as the largest id + 1, k as
  // the longest decision.
  explicit ReplayInputBuilder(int32_t n_layer = 0, int32_t n_expert = 0, int32_t k = 0);

  void begin_request(int64_t id, std::string task = {});
  // One (pos, layer) decision of the current request. used: the experts computed, or nullopt
  // semantics via has_used = false (then used = router). phase: 0 prefill, 1 decode.
  Status add(int32_t pos, int32_t layer, int32_t phase, std::span<const int32_t> router,
             std::span<const float> weights = {}, std::span<const int32_t> used = {},
             bool has_used = false);
  int64_t decisions() const { return static_cast<int64_t>(recs_.size()); }
  // Duplicate (request, pos, layer) or a token whose records disagree on the phase:
  // InvalidArgument.
  Result<ReplayInput> finish(int64_t prefill_chunk = 512);

 private:
  struct Rec {
    int32_t request, pos, layer, phase;
    uint32_t off, n_router, n_used;
    bool has_used;
  };
  int32_t n_layer_, n_expert_, k_;
  std::vector<std::pair<int64_t, std::string>> requests_;
  std::vector<Rec> recs_;
  std::vector<int32_t> experts_;  // router then used ids, per Rec at off
  std::vector<float> weights_;    // per router id at off (NaN: none)
  bool any_weights_ = false;
};

struct ReplayOptions {
  engine::RoutingMode mode = engine::RoutingMode::Exact;  // exact or fallback
  experts::EvictionPolicy policy = experts::EvictionPolicy::Lru;
  uint64_t budget_bytes = 0;
  double bandwidth_bytes_per_s = 25e9;
  double load_latency_s = 0;
  // Fallback starts from a full tier (ExpertCache::fill, as the CLI and InferenceSession do);
  // exact from an empty one unless set.
  bool fill_first = false;
  // A predictor name (predictor_names()) drives pinned residency: before every request the
  // periodic invoker's prediction (run on request 0 and every interval-th after) goes into the
  // ExpertPlanner as the request's task frequency, and the plan is pinned into the tier (the
  // policy becomes Pinned). Empty: no planner.
  std::string predictor;
  int32_t interval = 40;
  InvokerMode invoker_mode = InvokerMode::Single;
  uint64_t seed = 42;
  int64_t prefill_chunk = 512;  // only used to check the input's steps
};

struct ReplayLayerReport {
  // Per token and rank (RoutingCounters): was the router's expert resident at the layer start.
  uint64_t decisions = 0;        // (token, layer) pairs
  uint64_t topk_hits = 0;        // top-k slots whose expert was resident
  uint64_t topk_misses = 0;      // ... was not
  uint64_t substitutions = 0;    // fallback: used experts outside the top-k
  uint64_t short_decisions = 0;  // fallback: fewer experts used than the top-k has
  // Acquisitions (ExpertCache semantics: once per expert, layer and step).
  uint64_t hits = 0, misses = 0, loads = 0, bytes_loaded = 0, evictions = 0;
  double stall_s = 0;  // modelled on-demand load time

  double topk_hit_rate() const;
  double fallback_rate() const;  // substitutions over top-k slots
};

struct ReplayReport {
  std::vector<ReplayLayerReport> layers;  // [n_layer]
  ReplayLayerReport total;
  std::vector<uint64_t> rank_hits, rank_misses;     // [k] top-k hits/misses per rank
  uint64_t fill_loads = 0, fill_bytes = 0;          // the warm start (counted in loads)
  uint64_t prefetch_loads = 0, prefetch_bytes = 0;  // planner loads (counted in loads)
  double prefetch_s = 0;  // modelled time of the planner's loads, between requests
  uint64_t pinned_overflows = 0, dropped_prefetches = 0;
  int64_t predictor_invocations = 0, plan_changes = 0;
  uint64_t peak_bytes = 0;
  int64_t requests = 0, steps = 0, tokens = 0, token_layer_events = 0;
  int32_t n_slots = 0;
  uint64_t slot_bytes = 0, budget_bytes = 0;
  double replay_seconds = 0;     // wall time of the replay itself
  double events_per_second = 0;  // token_layer_events / replay_seconds
};

// The input's layers and experts must fit the shape, and every routed layer must have experts.
Result<ReplayReport> replay_trace(const ReplayInput& input, const experts::CacheShape& shape,
                                  const ReplayOptions& options);

}  // namespace emoe::predict
