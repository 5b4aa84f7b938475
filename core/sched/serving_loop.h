// Continuous batching (DESIGN.md sections 3 and 6, docs/SCHEDULING.md): requests arrive on a
// clock, a Scheduler admits them on every arrival and completion, and every forward step is one
// batch that mixes one decode token per running request with prefill chunks of newly admitted
// ones. Each request samples from its own logits row with its own Sampler (greedy or seeded), so
// it generates exactly what engine::generate() would alone, and leaves at EOS, at
// max_new_tokens or at a full context, freeing its engine sequence.
//
// Clocks: Virtual advances by a cost model per step (reproducible, for policy experiments and
// tests); Measured advances by each step's wall time but jumps over idle gaps; Wall is real
// time and sleeps until the next arrival.
//
// Not thread-safe: one thread (the engine thread) drives the loop; telemetry callbacks run on
// it, between steps.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/engine/engine.h"
#include "core/engine/generator.h"
#include "core/engine/sampler.h"
#include "core/sched/request_metrics.h"
#include "core/sched/scheduler.h"
#include "core/sched/workload.h"

namespace emoe::tokenizer {
class Tokenizer;
}

namespace emoe::sched {

struct ServeRequest {
  int64_t id = 0;  // the caller's id; unique within a loop
  TaskType task = TaskType::Conversation;
  std::vector<int32_t> prompt;  // token ids, not empty
  double arrival_ms = 0.0;
  double slo_ttft_ms = 0.0;  // 0: none
  double slo_e2e_ms = 0.0;   // 0: none
  int32_t max_new_tokens = 16;
  engine::SamplerParams sampling;  // temperature 0: greedy
};

// Workload requests tokenized (with the tokenizer's special prefix, as the CLI does); an
// unlabelled request gets the classifier's task; ids are the indices; request i samples with
// `sampling` and seed sampling.seed + i.
std::vector<ServeRequest> serve_requests(std::span<const Request> workload,
                                         const tokenizer::Tokenizer& tokenizer,
                                         const TaskClassifier& classifier,
                                         const engine::SamplerParams& sampling = {});

enum class ClockKind { Virtual, Measured, Wall };
const char* clock_kind_name(ClockKind k);

// The virtual clock's cost of one forward step: step_ms + tokens * token_ms, plus extra_ms()
// when set (called once after each step; e.g. the expert loads the step and the admissions
// before it caused, which a virtual clock would otherwise get for free).
struct StepCostModel {
  double step_ms = 1.0;
  double token_ms = kDefaultPerTokenMs;
  std::function<double()> extra_ms;
};

enum class RequestState { Pending, Waiting, Prefill, Decode, Finished, Rejected };
const char* request_state_name(RequestState s);

// A lifecycle change or a generated token, for telemetry.
struct RequestEvent {
  enum class Kind { Arrived, Admitted, Token, Finished, Rejected };
  Kind kind = Kind::Arrived;
  int64_t id = 0;
  double time_ms = 0.0;
  int32_t token = -1;  // Token: the sampled token
  int32_t seq = -1;    // Admitted and later: the engine sequence
};

// One forward step, after it ran.
struct StepInfo {
  int64_t step = 0;
  double start_ms = 0.0, end_ms = 0.0;  // on the loop's clock
  double wall_ms = 0.0;                 // the engine's time for the step
  int32_t prefill_tokens = 0;
  int32_t decode_tokens = 0;
  int32_t sequences = 0;              // distinct sequences in the batch
  int32_t running = 0;                // admitted and unfinished, after the step
  int32_t waiting = 0;                // arrived and not admitted, after the step
  std::span<const int64_t> admitted;  // ids admitted right before this step
  std::span<const int64_t> finished;  // ids that finished in this step
};

struct ServingOptions {
  // Tokens per forward step: decode tokens first (one per running request), then prompt
  // chunks in admission order. At least 1; a step always carries every decode token.
  int64_t max_batch_tokens = 256;
  int64_t prefill_chunk = 0;  // prompt tokens of one request per step; 0: no extra limit
  bool stop_at_eos = true;
  // The scheduler's capacity. max_sequences 0 (or more than the engine has): the engine's.
  EngineCapacity capacity;
  ClockKind clock = ClockKind::Virtual;
  StepCostModel cost;                         // Virtual clock only
  const std::atomic<bool>* cancel = nullptr;  // checked between steps
  std::function<void(const StepInfo&)> on_step;
  std::function<void(const RequestEvent&)> on_request;
};

struct ServedRequest {
  int64_t id = 0;
  TaskType task = TaskType::Conversation;
  RequestState state = RequestState::Pending;
  engine::StopReason stop = engine::StopReason::Length;  // when Finished
  std::string reject_reason;                             // when Rejected
  std::vector<int32_t> generated;
  RequestTiming timing;
  RequestMetrics metrics;
};

struct ServingResult {
  std::vector<ServedRequest> requests;  // in submission order
  RunMetrics run;
  int64_t steps = 0;
  int64_t scheduler_calls = 0;
  double end_ms = 0.0;  // the clock when the loop stopped
  bool cancelled = false;
};

class ServingLoop {
 public:
  // InvalidArgument for unusable options. The engine and scheduler must outlive the loop, and
  // nothing else may use the engine's sequences meanwhile.
  static Result<std::unique_ptr<ServingLoop>> create(engine::Engine& engine, Scheduler& scheduler,
                                                     ServingOptions options);
  ~ServingLoop();
  ServingLoop(const ServingLoop&) = delete;
  ServingLoop& operator=(const ServingLoop&) = delete;

  // Adds a request (its arrival may lie in the future; one in the past arrives at the next
  // step). InvalidArgument for a duplicate id, an empty prompt, an out-of-range token or
  // max_new_tokens < 1. A request that can never fit (prompt longer than the context, more
  // tokens than the capacity) is accepted and rejected when it arrives.
  Status submit(ServeRequest request);

  // Admits, runs one forward step (or waits for the next arrival when nothing can run) and
  // samples. Returns false when every submitted request is finished or rejected.
  Result<bool> step();
  // Steps until done or cancelled; then result().
  Result<ServingResult> run();

  ServingResult result() const;
  double now_ms() const;
  std::vector<ServedRequest> snapshot() const;  // every request as it stands

 private:
  struct Impl;
  explicit ServingLoop(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// create + submit all + run.
Result<ServingResult> serve(engine::Engine& engine, Scheduler& scheduler,
                            std::span<const ServeRequest> requests, const ServingOptions& options);

}  // namespace emoe::sched
