// The bounded hand-over between the engine thread (producer) and the GUI timer (consumer).
// Traces, memory points, events and steps are rings that drop their oldest entries when full
// (counted); expert counts are accumulated per request and never dropped; request results are
// never dropped. push_* and drain() are thread-safe and never block for long (one mutex, O(1)
// amortised per push).
#pragma once

#include <cstddef>
#include <mutex>

#include "ui/telemetry.h"

namespace emoe::ui {

struct TelemetryCapacity {
  size_t tokens = 4096;
  size_t memory = 8192;
  size_t events = 65536;
  size_t steps = 8192;
};

class TelemetryBuffer {
 public:
  explicit TelemetryBuffer(TelemetryCapacity capacity = {});

  // Expert counts are sized by the first add_counts of a model; reset() forgets them.
  void push_token(TokenTelemetry token);
  void add_counts(int64_t request_id, const std::string& task, int32_t n_layer, int32_t n_expert,
                  const LayerTrace& layer);
  void push_memory(const MemoryPoint& point);
  void push_event(const ExpertEventPoint& event);
  void push_step(const StepStats& step);
  void push_finished(RequestStats stats);
  void push_prediction(PredictionStats stats);  // never dropped
  // The latest residency snapshot replaces any one not yet drained (empty: no device tier).
  void set_residency(std::vector<uint8_t> resident);

  TelemetryBatch drain();
  void reset();

 private:
  TelemetryCapacity capacity_;
  std::mutex mu_;
  TelemetryBatch pending_;
};

}  // namespace emoe::ui
