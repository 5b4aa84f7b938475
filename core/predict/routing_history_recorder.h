// Builds PromptRecords from the engine's routing events while requests run. Engine sequence
// ids are mapped to requests by the caller (bind_sequence, as db::RoutingRecorder does) before
// the sequence is decoded; events of unbound sequences are counted, never guessed.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/engine/engine.h"
#include "core/engine/forward_observer.h"
#include "core/predict/routing_history.h"

namespace emoe::predict {

// Which experts a token is counted for. The history models what the loader must make resident,
// so it counts the experts actually computed (`used`); `Router` counts the router's top-k,
// which differs only under fallback routing.
enum class RoutingSource { Used = 0, Router = 1 };

class RoutingHistoryRecorder : public engine::ForwardObserver {
 public:
  RoutingHistoryRecorder(int32_t n_layer, int32_t n_expert,
                         RoutingSource source = RoutingSource::Used);

  // Starts a record for a request; rebinding a bound sequence discards its partial record.
  void bind_sequence(int32_t seq, int64_t request_id, std::string task);
  // Ends the sequence's record and hands it over; NotFound when the sequence is not bound.
  Result<PromptRecord> finish_sequence(int32_t seq);
  // Forgets a sequence without producing a record (a cancelled request).
  void unbind_sequence(int32_t seq);

  void on_routing(const engine::RoutingEvent& event) override;

  int64_t unmapped_events() const { return unmapped_.load(); }
  // Events whose layer or expert ids were outside the shape (skipped, not clamped).
  int64_t rejected_events() const { return rejected_.load(); }

 private:
  struct SeqState {
    PromptRecord record;
    int32_t last_prefill_pos = -1;  // a token is counted once, at its first routing event
    int32_t last_decode_pos = -1;
  };

  int32_t n_layer_;
  int32_t n_expert_;
  RoutingSource source_;
  std::mutex mu_;  // on_routing runs on the engine thread, bind/finish on the caller's
  std::unordered_map<int32_t, SeqState> seqs_;
  std::atomic<int64_t> unmapped_{0};
  std::atomic<int64_t> rejected_{0};
};

// A greedy generation with its routing recorded: the reference side of accuracy measurements
// and of the oracle, and the warm-up that seeds a routing history.
struct RecordedGeneration {
  std::vector<int32_t> generated;
  PromptRecord record;  // the router's top-k of every token (task empty, id request_id)
};

// Generates greedily from `prompt` on a fresh sequence of `engine` (freed afterwards), with a
// recorder of the router's top-k attached for the run.
Result<RecordedGeneration> generate_recorded(engine::Engine& engine,
                                             std::span<const int32_t> prompt,
                                             int32_t max_new_tokens, bool stop_at_eos,
                                             int64_t request_id = 0);

}  // namespace emoe::predict
