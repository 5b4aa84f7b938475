// Turns what the engine and the expert cache report into RoutingWriter records. Engine sequence
// ids are mapped to request ids by the caller (bind_sequence) before the sequence is decoded;
// routing of an unbound sequence is counted in unmapped_events(), not guessed.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "core/engine/forward_observer.h"
#include "core/experts/expert_events.h"
#include "db/routing_writer.h"

namespace emoe::db {

class RoutingRecorder : public engine::ForwardObserver, public experts::ExpertEventObserver {
 public:
  // writer must outlive the recorder. session_id tags expert events and memory samples.
  RoutingRecorder(RoutingWriter& writer, int64_t session_id);

  void bind_sequence(int32_t seq, int64_t request_id);
  void unbind_sequence(int32_t seq);

  void on_routing(const engine::RoutingEvent& event) override;
  void on_memory_sample(const engine::MemorySample& sample) override;
  void on_expert_event(const experts::ExpertEvent& event) override;

  // The first push failure (the writer's error); observers cannot return one.
  Status status() const;
  int64_t unmapped_events() const { return unmapped_.load(); }

  // Microseconds on the recorder's clock (steady, since the epoch of steady_clock).
  static int64_t now_us();

 private:
  void push(Record record);

  RoutingWriter& writer_;
  int64_t session_id_;
  mutable std::mutex mu_;
  struct SeqState {
    int64_t request_id = 0;
    int32_t last_token_pos = -1;  // tokens are recorded once, at their first routing event
  };
  std::unordered_map<int32_t, SeqState> seqs_;
  Status error_;
  std::atomic<int64_t> unmapped_{0};
};

}  // namespace emoe::db
