#include "ui/telemetry_collector.h"

#include <algorithm>

#include "core/experts/expert_cache.h"
#include "core/model/model.h"

namespace emoe::ui {

TelemetryCollector::TelemetryCollector(TelemetryBuffer& buffer, const model::Model& model,
                                       Clock::time_point origin)
    : buffer_(buffer),
      model_(model),
      origin_(origin),
      n_layer_(static_cast<int32_t>(model.config().n_layer)),
      n_expert_(static_cast<int32_t>(model.config().n_expert)),
      step_start_(Clock::now()) {}

void TelemetryCollector::begin_request(int64_t request_id, std::string task) {
  active_ = true;
  request_id_ = request_id;
  task_ = std::move(task);
  step_tokens_.clear();
  step_index_.clear();
  step_hits_ = step_misses_ = 0;
  bytes_loaded_.store(0);  // loads before the request (a tier fill) are not its steps'
  step_start_ = Clock::now();
}

void TelemetryCollector::end_request() {
  active_ = false;
  report_residency();
  // A failed step leaves partial traces; they never reach the GUI.
  step_tokens_.clear();
  step_index_.clear();
  step_hits_ = step_misses_ = 0;
}

void TelemetryCollector::mark_step_start() { step_start_ = Clock::now(); }

TokenTelemetry& TelemetryCollector::slot(int32_t seq, int32_t pos, int32_t token,
                                         engine::Phase phase) {
  const int64_t key = (static_cast<int64_t>(seq) << 32) | static_cast<uint32_t>(pos);
  auto [it, inserted] = step_index_.try_emplace(key, step_tokens_.size());
  if (inserted) {
    TokenTelemetry t;
    t.request_id = request_id_;
    t.pos = pos;
    t.token_id = token;
    t.phase = phase;
    step_tokens_.push_back(std::move(t));
  }
  return step_tokens_[it->second];
}

void TelemetryCollector::on_routing(const engine::RoutingEvent& ev) {
  if (!active_) return;
  TokenTelemetry& t = slot(ev.seq, ev.pos, ev.token, ev.phase);
  LayerTrace lt;
  lt.layer = ev.layer;
  lt.router_experts.assign(ev.topk.begin(), ev.topk.end());
  lt.router_weights.assign(ev.weights.begin(), ev.weights.end());
  lt.router_resident.assign(ev.resident.begin(), ev.resident.end());
  lt.used_experts.assign(ev.used.begin(), ev.used.end());
  lt.used_weights.assign(ev.used_weights.begin(), ev.used_weights.end());
  lt.used_loaded.resize(lt.used_experts.size(), 0);
  for (size_t j = 0; j < lt.used_experts.size(); ++j) {
    // A used expert in its router rank that was not resident was loaded on demand (exact
    // routing). Fallback only uses resident experts, so its substitutions never count.
    lt.used_loaded[j] = j < ev.topk.size() && j < ev.resident.size() && ev.used[j] == ev.topk[j] &&
                        ev.resident[j] == 0;
  }
  for (uint8_t r : ev.resident) (r ? step_hits_ : step_misses_)++;
  t.layers.push_back(std::move(lt));
}

void TelemetryCollector::on_layer_output(int32_t layer, std::span<const engine::BatchToken> batch,
                                         const float* /*hidden*/, int64_t /*n_embd*/) {
  // Dense models report no routing; the first layer's output still names the step's tokens.
  if (!active_ || layer != 0) return;
  for (const engine::BatchToken& b : batch) slot(b.seq, b.pos, b.token, b.phase);
}

void TelemetryCollector::finish_token(TokenTelemetry& t, double time_s) {
  t.time_s = time_s;
  t.piece = model_.tokenizer().token_to_piece(t.token_id, false);
  std::sort(t.layers.begin(), t.layers.end(),
            [](const LayerTrace& a, const LayerTrace& b) { return a.layer < b.layer; });
  t.dominant_expert = -1;
  if (n_expert_ > 0 && !t.layers.empty()) {
    dominant_weight_.assign(static_cast<size_t>(n_expert_), 0.0);
    for (const LayerTrace& l : t.layers) {
      for (size_t j = 0; j < l.used_experts.size() && j < l.used_weights.size(); ++j) {
        const int32_t e = l.used_experts[j];
        if (e >= 0 && e < n_expert_) dominant_weight_[static_cast<size_t>(e)] += l.used_weights[j];
      }
    }
    // The lowest id wins ties.
    t.dominant_expert =
        static_cast<int32_t>(std::max_element(dominant_weight_.begin(), dominant_weight_.end()) -
                             dominant_weight_.begin());
  }
  for (const LayerTrace& l : t.layers)
    buffer_.add_counts(request_id_, task_, n_layer_, n_expert_, l);
}

void TelemetryCollector::on_memory_sample(const engine::MemorySample& ms) {
  const Clock::time_point now = Clock::now();
  const double time_s = seconds(now);
  MemoryPoint mp;
  mp.time_s = time_s;
  mp.dense_bytes = ms.dense_bytes;
  mp.expert_bytes = ms.expert_bytes;
  mp.kv_bytes = ms.kv_bytes;
  mp.expert_budget = ms.expert_budget;
  buffer_.push_memory(mp);
  if (!active_) return;

  StepStats st;
  st.time_s = time_s;
  st.phase = engine::Phase::Decode;
  st.n_tokens = static_cast<int32_t>(step_tokens_.size());
  st.seconds = std::chrono::duration<double>(now - step_start_).count();
  st.hits = step_hits_;
  st.misses = step_misses_;
  st.bytes_loaded = bytes_loaded_.exchange(0);
  for (TokenTelemetry& t : step_tokens_) {
    if (t.phase == engine::Phase::Prefill) st.phase = engine::Phase::Prefill;
    finish_token(t, time_s);
    buffer_.push_token(std::move(t));
  }
  buffer_.push_step(st);
  if (now - residency_time_ >= kResidencyPeriod) report_residency();
  step_tokens_.clear();
  step_index_.clear();
  step_hits_ = step_misses_ = 0;
  step_start_ = now;
}

void TelemetryCollector::push_unrouted_token(int32_t pos, int32_t token) {
  TokenTelemetry t;
  t.request_id = request_id_;
  t.pos = pos;
  t.token_id = token;
  t.phase = engine::Phase::Decode;
  t.time_s = seconds(Clock::now());
  t.piece = model_.tokenizer().token_to_piece(token, false);
  buffer_.push_token(std::move(t));
}

void TelemetryCollector::set_cache(const experts::ExpertCache* cache) {
  cache_ = cache;
  residency_.clear();
  if (cache_ == nullptr) {
    buffer_.set_residency({});  // no tier: every expert is on the device, no overlay
    return;
  }
  report_residency();
}

void TelemetryCollector::report_residency() {
  residency_time_ = Clock::now();
  if (cache_ == nullptr || n_layer_ <= 0 || n_expert_ <= 0) return;
  residency_scratch_.assign(static_cast<size_t>(n_layer_) * static_cast<size_t>(n_expert_), 0);
  for (int32_t l = 0; l < n_layer_; ++l) {
    const size_t row = static_cast<size_t>(l) * static_cast<size_t>(n_expert_);
    for (int32_t e : cache_->resident_experts(l)) {
      if (e >= 0 && e < n_expert_) residency_scratch_[row + static_cast<size_t>(e)] = 1;
    }
  }
  if (residency_scratch_ == residency_) return;
  residency_ = residency_scratch_;
  buffer_.set_residency(residency_);
}

void TelemetryCollector::on_expert_event(const experts::ExpertEvent& e) {
  // Hits are one per expert and step; StepStats counts them, the event ring would only churn.
  if (e.kind == experts::ExpertEventKind::Hit) return;
  if (e.kind == experts::ExpertEventKind::LoadFinished) bytes_loaded_.fetch_add(e.bytes);
  ExpertEventPoint p;
  p.time_s = seconds(Clock::now());
  p.kind = e.kind;
  p.layer = e.layer;
  p.expert = e.expert;
  p.bytes = e.bytes;
  buffer_.push_event(p);
}

}  // namespace emoe::ui
