#include "core/sched/serving_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"

namespace emoe::sched {

std::vector<ServeRequest> serve_requests(std::span<const Request> workload,
                                         const tokenizer::Tokenizer& tokenizer,
                                         const TaskClassifier& classifier,
                                         const engine::SamplerParams& sampling) {
  std::vector<ServeRequest> out;
  out.reserve(workload.size());
  for (size_t i = 0; i < workload.size(); ++i) {
    const Request& w = workload[i];
    ServeRequest r;
    r.id = static_cast<int64_t>(i);
    r.task = w.task ? *w.task : classifier.classify(w.text).task;
    r.prompt = tokenizer.encode(w.text, true, false);
    r.arrival_ms = w.arrival_ms;
    r.slo_ttft_ms = w.slo_ttft_ms;
    r.slo_e2e_ms = w.slo_e2e_ms;
    r.max_new_tokens = w.max_new_tokens;
    r.sampling = sampling;
    r.sampling.seed = sampling.seed + i;
    out.push_back(std::move(r));
  }
  return out;
}

const char* clock_kind_name(ClockKind k) {
  switch (k) {
    case ClockKind::Virtual:
      return "virtual";
    case ClockKind::Measured:
      return "measured";
    case ClockKind::Wall:
      return "wall";
  }
  return "unknown";
}

const char* request_state_name(RequestState s) {
  switch (s) {
    case RequestState::Pending:
      return "pending";
    case RequestState::Waiting:
      return "waiting";
    case RequestState::Prefill:
      return "prefill";
    case RequestState::Decode:
      return "decode";
    case RequestState::Finished:
      return "finished";
    case RequestState::Rejected:
      return "rejected";
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Live {
  ServeRequest req;
  ServedRequest out;
  int32_t seq = -1;
  int64_t prefilled = 0;  // prompt tokens already through the engine
  std::optional<engine::Sampler> sampler;
  std::vector<int32_t> history;  // prompt + generated (the repetition penalty's window)
  OutputEstimate estimate;
};

}  // namespace

struct ServingLoop::Impl {
  Impl(engine::Engine& e, Scheduler& s, ServingOptions o) : engine(e), scheduler(s), opt(o) {}

  Status arrive();
  Status admit(std::vector<int64_t>* admitted);
  void finish(Live& r, engine::StopReason stop, std::vector<int64_t>* finished);
  void emit(RequestEvent::Kind kind, const Live& r, int32_t token = -1) {
    if (opt.on_request) opt.on_request({kind, r.req.id, now, token, r.seq});
  }
  SchedRequest view(const Live& r) const;
  double clock_now() const { return ms_between(t0, Clock::now()); }
  bool done() const { return pending.empty() && waiting.empty() && active.empty(); }

  engine::Engine& engine;
  Scheduler& scheduler;
  ServingOptions opt;
  std::vector<std::unique_ptr<Live>> reqs;  // submission order
  std::unordered_map<int64_t, Live*> by_id;
  std::vector<Live*> pending;  // not yet arrived
  std::vector<Live*> waiting;  // arrived, not admitted (arrival order)
  std::vector<Live*> active;   // admitted, unfinished (admission order)
  double now = 0.0;
  Clock::time_point t0 = Clock::now();
  bool started = false;
  bool need_schedule = false;
  bool cancelled = false;
  int64_t steps = 0, scheduler_calls = 0;
  engine::Batch batch;
  std::vector<float> logits;
};

SchedRequest ServingLoop::Impl::view(const Live& r) const {
  SchedRequest v;
  v.id = r.req.id;
  v.task = r.req.task;
  v.arrival_ms = r.req.arrival_ms;
  v.slo_ttft_ms = r.req.slo_ttft_ms;
  v.slo_e2e_ms = r.req.slo_e2e_ms;
  v.input_tokens = static_cast<int64_t>(r.req.prompt.size());
  v.max_new_tokens = r.req.max_new_tokens;
  v.generated = static_cast<int64_t>(r.out.generated.size());
  v.prefill_remaining = v.input_tokens - r.prefilled;
  v.estimate = r.seq >= 0 ? r.estimate
                          : scheduler.profile().start_estimate(r.req.task, r.req.max_new_tokens);
  return v;
}

Status ServingLoop::Impl::arrive() {
  // Stable: equal arrival times keep submission order.
  std::vector<Live*> still;
  for (Live* r : pending) {
    if (r->req.arrival_ms > now) {
      still.push_back(r);
      continue;
    }
    const int64_t n_ctx = engine.options().n_ctx;
    const auto w = static_cast<int64_t>(r->req.prompt.size());
    std::string why;
    if (w > n_ctx) {
      why = "the prompt has " + std::to_string(w) + " tokens but the context holds " +
            std::to_string(n_ctx);
    } else if (auto c = capacity_refusal(view(*r), {}, opt.capacity)) {
      why = std::string("it exceeds the engine's capacity (") + refusal_reason_name(*c) +
            ") even when nothing else runs";
    }
    if (!why.empty()) {
      r->out.state = RequestState::Rejected;
      r->out.reject_reason = why;
      r->out.timing.rejected = true;
      emit(RequestEvent::Kind::Rejected, *r);
      continue;
    }
    r->out.state = RequestState::Waiting;
    waiting.push_back(r);
    need_schedule = true;
    emit(RequestEvent::Kind::Arrived, *r);
  }
  pending = std::move(still);
  return Status::ok();
}

Status ServingLoop::Impl::admit(std::vector<int64_t>* admitted) {
  std::vector<SchedRequest> w, run;
  for (const Live* r : waiting) w.push_back(view(*r));
  for (const Live* r : active) run.push_back(view(*r));
  SchedulerInput in{now, w, run, opt.capacity};
  const Admission a = scheduler.schedule(in);
  ++scheduler_calls;
  need_schedule = false;
  for (int64_t id : a.admitted) {
    auto it = std::find_if(waiting.begin(), waiting.end(),
                           [id](const Live* r) { return r->req.id == id; });
    if (it == waiting.end()) {
      return internal_error(std::string("scheduler '") + scheduler_kind_name(scheduler.kind()) +
                            "' admitted request " + std::to_string(id) + ", which is not waiting");
    }
    Live* r = *it;
    auto seq = engine.new_sequence();
    if (!seq.ok()) return seq.status().with_context("admitting request " + std::to_string(id));
    waiting.erase(it);
    r->seq = *seq;
    r->out.state = RequestState::Prefill;
    r->out.timing.admit_ms = now;
    r->estimate = scheduler.profile().start_estimate(r->req.task, r->req.max_new_tokens);
    r->sampler.emplace(r->req.sampling);
    r->history = r->req.prompt;
    active.push_back(r);
    admitted->push_back(id);
    emit(RequestEvent::Kind::Admitted, *r);
  }
  return Status::ok();
}

void ServingLoop::Impl::finish(Live& r, engine::StopReason stop, std::vector<int64_t>* finished) {
  engine.free_sequence(r.seq);
  r.out.state = RequestState::Finished;
  r.out.stop = stop;
  r.out.timing.finish_ms = now;
  finished->push_back(r.req.id);
  need_schedule = true;
  emit(RequestEvent::Kind::Finished, r);
}

ServingLoop::ServingLoop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServingLoop::~ServingLoop() {
  // Leave the engine with no sequences of ours.
  for (Live* r : impl_->active) impl_->engine.free_sequence(r->seq);
}

Result<std::unique_ptr<ServingLoop>> ServingLoop::create(engine::Engine& engine,
                                                         Scheduler& scheduler,
                                                         ServingOptions options) {
  if (options.max_batch_tokens < 1) {
    return invalid_argument("serving loop: max_batch_tokens must be >= 1");
  }
  if (options.prefill_chunk < 0)
    return invalid_argument("serving loop: prefill_chunk must be >= 0");
  const StepCostModel& c = options.cost;
  if (!std::isfinite(c.step_ms) || !std::isfinite(c.token_ms) || c.step_ms < 0 || c.token_ms < 0 ||
      (options.clock == ClockKind::Virtual && c.step_ms + c.token_ms <= 0)) {
    return invalid_argument(
        "serving loop: the virtual clock's step costs must be finite, >= 0 "
        "and not both 0");
  }
  const EngineCapacity& cap = options.capacity;
  if (cap.max_tokens < 0 || cap.max_sequences < 0 || cap.max_kv_tokens < 0) {
    return invalid_argument("serving loop: capacity limits must be >= 0");
  }
  const int32_t engine_seqs = engine.options().max_sequences;
  if (options.capacity.max_sequences == 0 || options.capacity.max_sequences > engine_seqs) {
    options.capacity.max_sequences = engine_seqs;
  }
  return std::unique_ptr<ServingLoop>(
      new ServingLoop(std::make_unique<Impl>(engine, scheduler, std::move(options))));
}

Status ServingLoop::submit(ServeRequest request) {
  Impl& m = *impl_;
  const std::string who = "request " + std::to_string(request.id);
  if (m.by_id.count(request.id)) return invalid_argument(who + ": duplicate id");
  if (request.prompt.empty()) return invalid_argument(who + ": the prompt has no tokens");
  const int32_t n_vocab = m.engine.model().config().n_vocab;
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= n_vocab) {
      return invalid_argument(who + ": token id " + std::to_string(t) + " out of range [0, " +
                              std::to_string(n_vocab) + ")");
    }
  }
  if (request.max_new_tokens < 1) return invalid_argument(who + ": max_new_tokens must be >= 1");
  if (!std::isfinite(request.arrival_ms) || request.arrival_ms < 0) {
    return invalid_argument(who + ": arrival_ms must be a finite number >= 0");
  }
  if (!(request.slo_ttft_ms >= 0) || !(request.slo_e2e_ms >= 0)) {
    return invalid_argument(who + ": SLOs must be >= 0");
  }
  EMOE_RETURN_IF_ERROR(request.sampling.validate().with_context(who));
  auto live = std::make_unique<Live>();
  live->out.id = request.id;
  live->out.task = request.task;
  RequestTiming& t = live->out.timing;
  t.arrival_ms = request.arrival_ms;
  t.slo_ttft_ms = request.slo_ttft_ms;
  t.slo_e2e_ms = request.slo_e2e_ms;
  t.prompt_tokens = static_cast<int64_t>(request.prompt.size());
  live->req = std::move(request);
  Live* p = live.get();
  m.by_id.emplace(p->req.id, p);
  m.reqs.push_back(std::move(live));
  // Pending stays sorted by arrival, equal arrivals in submission order.
  auto pos = std::upper_bound(m.pending.begin(), m.pending.end(), p->req.arrival_ms,
                              [](double a, const Live* r) { return a < r->req.arrival_ms; });
  m.pending.insert(pos, p);
  return Status::ok();
}

Result<bool> ServingLoop::step() {
  Impl& m = *impl_;
  if (!m.started) {
    m.started = true;
    m.t0 = Clock::now();
  }
  if (m.opt.clock == ClockKind::Wall) m.now = std::max(m.now, m.clock_now());
  EMOE_RETURN_IF_ERROR(m.arrive());
  std::vector<int64_t> admitted, finished;
  if (!m.waiting.empty() && (m.need_schedule || m.active.empty())) {
    EMOE_RETURN_IF_ERROR(m.admit(&admitted));
    if (m.active.empty() && !m.waiting.empty()) {
      return internal_error(std::string("scheduler '") + scheduler_kind_name(m.scheduler.kind()) +
                            "' admitted nothing while the engine is idle");
    }
  }

  // The batch: every decode token, then prompt chunks in admission order within the budget.
  engine::Batch& batch = m.batch;
  batch.clear();
  std::vector<Live*> owner;  // per batch token
  int32_t n_decode = 0, n_prefill = 0;
  for (Live* r : m.active) {
    if (r->out.state != RequestState::Decode) continue;
    batch.push_back({r->out.generated.back(), r->seq, m.engine.sequence_length(r->seq), true,
                     engine::Phase::Decode});
    owner.push_back(r);
    ++n_decode;
  }
  int64_t budget = m.opt.max_batch_tokens - n_decode;
  for (Live* r : m.active) {
    if (budget <= 0) break;
    if (r->out.state != RequestState::Prefill) continue;
    const auto w = static_cast<int64_t>(r->req.prompt.size());
    int64_t take = std::min(budget, w - r->prefilled);
    if (m.opt.prefill_chunk > 0) take = std::min(take, m.opt.prefill_chunk);
    for (int64_t j = r->prefilled; j < r->prefilled + take; ++j) {
      batch.push_back({r->req.prompt[static_cast<size_t>(j)], r->seq, static_cast<int32_t>(j),
                       j == w - 1, engine::Phase::Prefill});
      owner.push_back(r);
    }
    budget -= take;
    n_prefill += static_cast<int32_t>(take);
  }

  if (batch.empty()) {
    if (m.pending.empty()) return !m.done();
    // Idle until the next arrival.
    const double next = m.pending.front()->req.arrival_ms;
    if (m.opt.clock == ClockKind::Wall) {
      while (m.clock_now() < next) {
        if (m.opt.cancel && m.opt.cancel->load(std::memory_order_relaxed)) break;
        const double left = next - m.clock_now();
        std::this_thread::sleep_for(
            std::chrono::duration<double, std::milli>(std::min(left, 20.0)));
      }
      m.now = std::max(m.now, m.clock_now());
    } else {
      m.now = std::max(m.now, next);
    }
    return true;
  }

  const double start = m.now;
  const auto t_step = Clock::now();
  EMOE_RETURN_IF_ERROR(
      m.engine.decode(batch, &m.logits).with_context("serving step " + std::to_string(m.steps)));
  const double wall = ms_between(t_step, Clock::now());
  switch (m.opt.clock) {
    case ClockKind::Virtual:
      m.now += m.opt.cost.step_ms + static_cast<double>(batch.size()) * m.opt.cost.token_ms +
               (m.opt.cost.extra_ms ? m.opt.cost.extra_ms() : 0.0);
      break;
    case ClockKind::Measured:
      m.now += wall;
      break;
    case ClockKind::Wall:
      m.now = std::max(m.now, m.clock_now());
      break;
  }
  ++m.steps;

  // Sample from each logits row, in batch order.
  const tokenizer::Vocab& vocab = m.engine.model().tokenizer().vocab();
  const int64_t n_vocab = m.engine.model().config().n_vocab;
  const int64_t n_ctx = m.engine.options().n_ctx;
  int64_t row = 0;
  std::unordered_set<int32_t> seqs;
  for (size_t i = 0; i < batch.size(); ++i) {
    Live& r = *owner[i];
    seqs.insert(r.seq);
    if (batch[i].phase == engine::Phase::Prefill) ++r.prefilled;
    if (!batch[i].logits) continue;
    const std::span<const float> lrow(m.logits.data() + row * n_vocab,
                                      static_cast<size_t>(n_vocab));
    ++row;
    const int32_t token = r.sampler->sample(lrow, r.history);
    r.out.generated.push_back(token);
    r.history.push_back(token);
    r.estimate.on_token();
    if (r.out.generated.size() == 1) r.out.timing.first_token_ms = m.now;
    r.out.timing.generated_tokens = static_cast<int64_t>(r.out.generated.size());
    r.out.state = RequestState::Decode;
    m.emit(RequestEvent::Kind::Token, r, token);
    // The stop conditions of engine::generate, in its order.
    if (m.opt.stop_at_eos && (token == vocab.eos || (vocab.eot >= 0 && token == vocab.eot))) {
      m.finish(r, engine::StopReason::EndOfSequence, &finished);
    } else if (static_cast<int64_t>(r.out.generated.size()) >= r.req.max_new_tokens) {
      m.finish(r, engine::StopReason::Length, &finished);
    } else if (m.engine.sequence_length(r.seq) >= n_ctx) {
      m.finish(r, engine::StopReason::ContextFull, &finished);
    }
  }
  std::erase_if(m.active, [](const Live* r) { return r->out.state == RequestState::Finished; });

  if (m.opt.on_step) {
    StepInfo s;
    s.step = m.steps - 1;
    s.start_ms = start;
    s.end_ms = m.now;
    s.wall_ms = wall;
    s.prefill_tokens = n_prefill;
    s.decode_tokens = n_decode;
    s.sequences = static_cast<int32_t>(seqs.size());
    s.running = static_cast<int32_t>(m.active.size());
    s.waiting = static_cast<int32_t>(m.waiting.size());
    s.admitted = admitted;
    s.finished = finished;
    m.opt.on_step(s);
  }
  return !m.done();
}

Result<ServingResult> ServingLoop::run() {
  Impl& m = *impl_;
  while (true) {
    if (m.opt.cancel && m.opt.cancel->load(std::memory_order_relaxed)) {
      m.cancelled = true;
      break;
    }
    auto more = step();
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  return result();
}

double ServingLoop::now_ms() const { return impl_->now; }

std::vector<ServedRequest> ServingLoop::snapshot() const {
  std::vector<ServedRequest> out;
  out.reserve(impl_->reqs.size());
  for (const auto& r : impl_->reqs) {
    out.push_back(r->out);
    out.back().metrics = compute_request_metrics(r->out.timing);
  }
  return out;
}

ServingResult ServingLoop::result() const {
  ServingResult res;
  res.requests = snapshot();
  std::vector<RequestTiming> timings;
  std::vector<RequestMetrics> metrics;
  for (const ServedRequest& r : res.requests) {
    timings.push_back(r.timing);
    metrics.push_back(r.metrics);
  }
  res.run = summarize_run(timings, metrics);
  res.steps = impl_->steps;
  res.scheduler_calls = impl_->scheduler_calls;
  res.end_ms = impl_->now;
  res.cancelled = impl_->cancelled;
  return res;
}

Result<ServingResult> serve(engine::Engine& engine, Scheduler& scheduler,
                            std::span<const ServeRequest> requests, const ServingOptions& options) {
  auto loop = ServingLoop::create(engine, scheduler, options);
  if (!loop.ok()) return loop.status();
  for (const ServeRequest& r : requests) EMOE_RETURN_IF_ERROR((*loop)->submit(r));
  return (*loop)->run();
}

}  // namespace emoe::sched
