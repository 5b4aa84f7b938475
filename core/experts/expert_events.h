// Paging telemetry: what the device tier reports to observers (GUI, database, benchmarks).
// Called from the thread that caused the event (engine thread, or the loader thread for load
// completion); observers copy what they keep and must not call back into the cache.
#pragma once

#include <cstdint>

namespace emoe::experts {

enum class ExpertEventKind {
  LoadStarted,   // bytes: expert size
  LoadFinished,  // bytes, micros: copy time
  Evicted,       // bytes freed
  Hit,           // a computation found the expert resident
  Miss,          // it was not resident (exact: loaded on demand, micros = stall)
};

struct ExpertEvent {
  ExpertEventKind kind = ExpertEventKind::Hit;
  int32_t layer = 0;
  int32_t expert = 0;
  uint64_t bytes = 0;
  double micros = 0;
  uint64_t resident_bytes = 0;  // device-tier bytes in use right after the event
};

class ExpertEventObserver {
 public:
  virtual ~ExpertEventObserver() = default;
  virtual void on_expert_event(const ExpertEvent& event) = 0;
};

}  // namespace emoe::experts
