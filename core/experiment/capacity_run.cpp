#include "core/experiment/capacity_run.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/engine/inference_session.h"
#include "core/experiment/memory_timeline.h"
#include "core/experts/expert_store.h"
#include "core/sched/serving_loop.h"

namespace emoe::experiment {
namespace {

using Clock = std::chrono::steady_clock;

// Request i's prompt: the stream's first token (BOS when the tokenizer adds one), then the
// rest of the stream from an offset of its own, wrapping around, so prompts are real text and
// not all identical.
std::vector<int32_t> cut_prompt(std::span<const int32_t> stream, int64_t length, int32_t i) {
  std::vector<int32_t> p;
  p.reserve(static_cast<size_t>(length));
  p.push_back(stream[0]);
  const std::span<const int32_t> body = stream.size() > 1 ? stream.subspan(1) : stream;
  const size_t n = body.size();
  const size_t offset = (static_cast<size_t>(i) * 997) % n;
  for (int64_t j = 1; j < length; ++j) p.push_back(body[(offset + static_cast<size_t>(j)) % n]);
  return p;
}

}  // namespace

Result<CapacityRunResult> run_capacity_check(engine::InferenceSession& session,
                                             const CapacityOutcome& plan,
                                             const CapacityRunSpec& spec,
                                             std::span<const int32_t> token_stream,
                                             const std::atomic<bool>* cancel) {
  CapacityRunResult out;
  if (spec.requests < 1 || spec.prompt_tokens < 1 || spec.generate_tokens < 1) {
    out.error = "the device budget holds no request of " + std::to_string(spec.prompt_tokens) +
                " prompt + " + std::to_string(spec.generate_tokens) + " generated tokens";
    return out;
  }
  if (token_stream.empty()) return invalid_argument("capacity run: no prompt text");
  if (session.store() == nullptr) return invalid_argument("capacity run: the model has no experts");
  const uint64_t all_experts = session.store()->total_bytes();
  engine::SessionSettings ss;
  // Every expert needs no tier (they stay in the mapped weights, counted in full); a smaller
  // budget serves with fallback routing from a filled tier.
  if (plan.expert_bytes >= all_experts) {
    ss.mode = engine::RoutingMode::All;
    ss.budget_percent = 100;
  } else {
    ss.mode = engine::RoutingMode::Fallback;
    ss.budget_bytes = plan.expert_bytes;
  }
  ss.n_threads = spec.n_threads;
  ss.max_sequences = spec.requests;
  ss.n_ctx = spec.prompt_tokens + spec.generate_tokens;
  // The device the session computes on (an experiment's: run_experiment put it there).
  ss.device = session.report().settings.device;
  auto rep = session.configure(ss);
  if (!rep.ok()) {
    out.error = "configuring the engine failed: " + rep.status().message();
    return out;
  }

  std::vector<sched::ServeRequest> requests;
  requests.reserve(static_cast<size_t>(spec.requests));
  for (int32_t i = 0; i < spec.requests; ++i) {
    sched::ServeRequest r;
    r.id = i;
    r.prompt = cut_prompt(token_stream, spec.prompt_tokens, i);
    r.max_new_tokens = spec.generate_tokens;
    requests.push_back(std::move(r));
  }
  MemoryTimeline memory;
  session.add_observer(&memory);
  int32_t live = 0;
  sched::ServingOptions so;
  so.max_batch_tokens = spec.step_tokens;
  so.stop_at_eos = false;
  so.capacity.max_sequences = spec.requests;
  so.clock = sched::ClockKind::Virtual;
  so.cancel = cancel;
  so.on_step = [&](const sched::StepInfo& s) { memory.stamp(s.end_ms); };
  so.on_request = [&](const sched::RequestEvent& e) {
    if (e.kind == sched::RequestEvent::Kind::Admitted) {
      out.peak_running = std::max(out.peak_running, ++live);
    } else if (e.kind == sched::RequestEvent::Kind::Finished) {
      --live;
    }
  };
  auto scheduler = sched::make_scheduler(sched::SchedulerKind::Fcfs, {});
  const Clock::time_point t0 = Clock::now();
  auto served = sched::serve(*session.engine(), *scheduler, requests, so);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  session.remove_observer(&memory);
  if (!served.ok()) {
    out.error = "serving failed: " + served.status().message();
    return out;
  }
  if (served->cancelled) {
    out.cancelled = true;
    out.error = "cancelled";
    return out;
  }
  out.peak_bytes = memory.peak_total_bytes();
  out.peak_kv_bytes = memory.peak_kv_bytes();
  out.tokens_per_s =
      seconds > 0 ? static_cast<double>(served->run.generated_tokens) / seconds : 0.0;

  for (const sched::ServedRequest& r : served->requests) {
    if (r.state != sched::RequestState::Finished ||
        static_cast<int32_t>(r.generated.size()) != spec.generate_tokens) {
      out.error = "request " + std::to_string(r.id) + " ended " +
                  sched::request_state_name(r.state) + " with " +
                  std::to_string(r.generated.size()) + " of " +
                  std::to_string(spec.generate_tokens) + " tokens" +
                  (r.reject_reason.empty() ? "" : " (" + r.reject_reason + ")");
      return out;
    }
  }
  if (out.peak_running != spec.requests) {
    out.error = "only " + std::to_string(out.peak_running) + " of " +
                std::to_string(spec.requests) + " requests ran at once";
    return out;
  }
  const uint64_t want_kv = static_cast<uint64_t>(spec.requests) * static_cast<uint64_t>(ss.n_ctx) *
                           plan.kv_bytes_per_token;
  if (out.peak_kv_bytes != want_kv) {
    out.error = "the engine's KV cache peaked at " + std::to_string(out.peak_kv_bytes) +
                " bytes; the plan assumes " + std::to_string(want_kv) + " (" +
                std::to_string(spec.requests) + " sequences x " + std::to_string(ss.n_ctx) +
                " tokens x " + std::to_string(plan.kv_bytes_per_token) + " bytes)";
    return out;
  }
  if (out.peak_bytes > plan.device_bytes) {
    out.error = "the measured peak of " + std::to_string(out.peak_bytes) +
                " bytes exceeds the device budget of " + std::to_string(plan.device_bytes);
    return out;
  }
  out.ok = true;
  return out;
}

}  // namespace emoe::experiment
