// Turns what the engine and the device tier report into the GUI's telemetry values: one
// TokenTelemetry per token with all its MoE layers, exact expert counts, a memory point and a
// StepStats per forward step, and paging events. Engine-thread observer (paging events may also
// arrive from the tier's copy thread); Qt-free apart from living in ui/.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/forward_observer.h"
#include "core/experts/expert_events.h"
#include "ui/telemetry_buffer.h"

namespace emoe::model {
class Model;
}
namespace emoe::experts {
class ExpertCache;
}

namespace emoe::ui {

class TelemetryCollector : public engine::ForwardObserver, public experts::ExpertEventObserver {
 public:
  using Clock = std::chrono::steady_clock;
  // time_s values are seconds since `origin`. The model must outlive the collector.
  TelemetryCollector(TelemetryBuffer& buffer, const model::Model& model, Clock::time_point origin);

  // Routing of the steps between begin and end belongs to this request; outside, only memory
  // samples and paging events are reported.
  void begin_request(int64_t request_id, std::string task);
  void end_request();
  // The next forward step starts now (called from the token callback, so sampling time between
  // steps is not billed to the step).
  void mark_step_start();
  // A generated token that was never fed back (the last one): a trace without layers, so the
  // token stream is complete.
  void push_unrouted_token(int32_t pos, int32_t token);
  // The session's device tier (null: none), after each configure(). Its residency goes to the
  // buffer now, then at most every kResidencyPeriod while steps run and at each request's end,
  // whenever it changed. The cache must outlive the collector or be replaced first.
  void set_cache(const experts::ExpertCache* cache);

  double seconds(Clock::time_point t) const {
    return std::chrono::duration<double>(t - origin_).count();
  }

  void on_routing(const engine::RoutingEvent& event) override;
  void on_layer_output(int32_t layer, std::span<const engine::BatchToken> batch,
                       const float* hidden, int64_t n_embd) override;
  void on_memory_sample(const engine::MemorySample& sample) override;
  void on_expert_event(const experts::ExpertEvent& event) override;

 private:
  static constexpr std::chrono::milliseconds kResidencyPeriod{30};  // about one GUI tick

  void report_residency();  // sends the residency when it changed
  TokenTelemetry& slot(int32_t seq, int32_t pos, int32_t token, engine::Phase phase);
  void finish_token(TokenTelemetry& t, double time_s);

  TelemetryBuffer& buffer_;
  const model::Model& model_;
  const Clock::time_point origin_;
  const int32_t n_layer_, n_expert_;

  // Engine thread only.
  bool active_ = false;
  int64_t request_id_ = 0;
  std::string task_;
  Clock::time_point step_start_;
  std::vector<TokenTelemetry> step_tokens_;         // this step's tokens, batch order
  std::unordered_map<int64_t, size_t> step_index_;  // (seq << 32 | pos) -> step_tokens_
  uint64_t step_hits_ = 0, step_misses_ = 0;
  std::vector<double> dominant_weight_;  // [n_expert] scratch
  const experts::ExpertCache* cache_ = nullptr;
  std::vector<uint8_t> residency_, residency_scratch_;  // [n_layer * n_expert]: last sent, next
  Clock::time_point residency_time_{};

  std::atomic<uint64_t> bytes_loaded_{0};  // LoadFinished bytes since the last step ended
};

}  // namespace emoe::ui
