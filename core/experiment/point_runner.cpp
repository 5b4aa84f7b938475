#include "core/experiment/point_runner.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/inference_session.h"
#include "core/experiment/full_model_reference.h"
#include "core/experiment/memory_timeline.h"
#include "core/experiment/warm_up.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/metrics/routing_counters.h"
#include "core/model/model.h"
#include "core/predict/emoe_loop.h"
#include "core/predict/routing_history_recorder.h"

namespace emoe::experiment {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxMemoryPoints = 1000;  // per point, after thinning

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Everything the serving callbacks touch. They cannot return errors to the loop, so the first
// one is kept and stops the point after the step.
struct PointState {
  const ExperimentPoint* point = nullptr;
  const PointInputs* in = nullptr;
  const ExperimentCallbacks* callbacks = nullptr;
  experts::ExpertCache* cache = nullptr;
  predict::EmoeLoop* loop = nullptr;
  predict::RoutingHistoryRecorder* recorder = nullptr;
  MemoryTimeline* memory = nullptr;
  std::map<int64_t, const predict::PromptRecord*> oracle_future;  // by request id
  Status error;
  int64_t requests_done = 0;
  int64_t steps = 0;
  double predict_seconds = 0.0;
  double plan_stall_micros = 0.0;  // the tier's stall counter while plans loaded

  void progress() {
    if (!callbacks->progress) return;
    ExperimentProgress p;
    p.phase = "point";
    p.point = point->index;
    p.points = in->points;
    p.requests_done = requests_done;
    p.requests = static_cast<int64_t>(in->requests.size());
    p.label = point->label();
    callbacks->progress(p);
  }

  Status on_admitted(const sched::RequestEvent& e) {
    if (!loop) return Status::ok();
    const sched::ServeRequest& r = in->requests[static_cast<size_t>(e.id)];
    const std::string task(sched::task_name(r.task));
    recorder->bind_sequence(e.seq, e.id, task);
    if (auto it = oracle_future.find(e.id); it != oracle_future.end()) {
      loop->predictor()->reveal_future(*it->second);
    }
    const double stall0 = cache->stats().stall_micros;
    auto step = loop->plan(task, static_cast<int64_t>(r.prompt.size()), r.max_new_tokens);
    if (!step.ok()) return step.status().with_context("planning request " + std::to_string(e.id));
    plan_stall_micros += cache->stats().stall_micros - stall0;
    if (step->invoked) predict_seconds += step->predict_seconds;
    return Status::ok();
  }

  Status on_finished(const sched::RequestEvent& e) {
    if (!loop) return Status::ok();
    auto rec = recorder->finish_sequence(e.seq);
    if (!rec.ok()) return rec.status().with_context("request " + std::to_string(e.id));
    auto observed = loop->observe(*rec);
    if (!observed.ok()) return observed.status().with_context("request " + std::to_string(e.id));
    return Status::ok();
  }

  void on_request(const sched::RequestEvent& e) {
    if (error.is_ok()) {
      using K = sched::RequestEvent::Kind;
      if (e.kind == K::Admitted) error = on_admitted(e);
      if (e.kind == K::Finished) error = on_finished(e);
      if (e.kind == K::Finished || e.kind == K::Rejected) {
        ++requests_done;
        progress();
      }
    }
    if (callbacks->request_event) callbacks->request_event(point->index, e);
  }
};

RequestOutcome outcome_of(const sched::ServedRequest& r) {
  RequestOutcome o;
  o.id = r.id;
  o.task = std::string(sched::task_name(r.task));
  o.state = sched::request_state_name(r.state);
  if (r.state == sched::RequestState::Finished) o.stop_reason = engine::stop_reason_name(r.stop);
  o.timing = r.timing;
  o.metrics = r.metrics;
  // The step that carries a request's last prompt token also asks for its logits and samples
  // its first token, so prefill ends exactly when the first token appears.
  o.prefill_done_ms = r.timing.first_token_ms;
  return o;
}

// Accuracy against the full model: fallback routing changes what is computed, so it is
// measured; exact and all routing compute every token with the router's top-k, which is the
// full model's computation, so they agree by construction (reported as 1, not measured).
Status fill_accuracy(const ExperimentPoint& point, const PointInputs& in,
                     const sched::ServingResult& served, PointResult& out) {
  const bool by_construction = point.routing != engine::RoutingMode::Fallback;
  int64_t completed = 0, matching = 0, scored = 0, agreeing = 0;
  for (size_t i = 0; i < served.requests.size(); ++i) {
    const sched::ServedRequest& r = served.requests[i];
    RequestOutcome& o = out.requests[i];
    if (!r.metrics.completed) continue;
    ++completed;
    if (by_construction) {
      o.matches_reference = true;
      ++matching;
      continue;
    }
    if (!in.config->accuracy) continue;
    const sched::ServeRequest& q = in.requests[static_cast<size_t>(r.id)];
    const std::string who = "accuracy of request " + std::to_string(r.id);
    auto a = in.reference->agreement(q.prompt, r.generated);
    if (!a.ok()) return a.status().with_context(who);
    auto ref = in.reference->greedy(q.prompt, q.max_new_tokens);
    if (!ref.ok()) return ref.status().with_context(who);
    o.scored_tokens = a->scored;
    o.agreeing_tokens = a->agreeing;
    o.matches_reference = r.generated == (*ref)->generated;
    scored += a->scored;
    agreeing += a->agreeing;
    matching += o.matches_reference ? 1 : 0;
  }
  if (by_construction) {
    out.accuracy_measured = false;
    out.accuracy = 1.0;
    out.exact_match_rate = 1.0;
    return Status::ok();
  }
  if (!in.config->accuracy) return Status::ok();
  out.accuracy_measured = true;
  out.accuracy = scored > 0 ? static_cast<double>(agreeing) / static_cast<double>(scored) : 0.0;
  out.exact_match_rate =
      completed > 0 ? static_cast<double>(matching) / static_cast<double>(completed) : 0.0;
  return Status::ok();
}

}  // namespace

double expert_load_cost_ms(const ExperimentConfig& config, const MachineProfile& profile) {
  return config.serving.expert_load_ms > 0 ? config.serving.expert_load_ms : profile.expert_load_ms;
}

sched::SchedulerProfile point_scheduler_profile(const ExperimentConfig& config,
                                                const MachineProfile& profile,
                                                const model::ModelConfig& model,
                                                engine::RoutingMode routing) {
  sched::SchedulerProfile p;
  // On a virtual clock with its own token cost, that cost is what a token takes, so eMoE's
  // latency model (Eq. 3) must use it too; otherwise the machine's profiled c.
  const bool virtual_cost =
      config.serving.clock == sched::ClockKind::Virtual && config.serving.cost.token_ms > 0;
  p.per_token_ms = virtual_cost               ? config.serving.cost.token_ms
                   : profile.per_token_ms > 0 ? profile.per_token_ms
                                              : sched::kDefaultPerTokenMs;
  const auto limits = sched::default_task_limits();
  for (size_t t = 0; t < limits.size(); ++t) {
    double w = profile.mean_output_tokens[t] > 0 ? profile.mean_output_tokens[t]
                                                 : static_cast<double>(limits[t].max_new_tokens);
    w = std::max(1.0, w * config.workload.max_new_tokens_scale);
    if (config.workload.max_new_tokens_cap > 0) {
      w = std::min(w, static_cast<double>(config.workload.max_new_tokens_cap));
    }
    p.mean_output_tokens[t] = w;
  }
  p.starvation_ms = config.serving.starvation_ms;
  // A task switch is charged the working set of a new task (as `emoe serve`).
  const double load_ms = expert_load_cost_ms(config, profile);
  if (routing == engine::RoutingMode::Exact && load_ms > 0) {
    p.expert_load =
        sched::working_set_switch_estimator(load_ms, model.n_layer, model.n_expert_used);
  }
  return p;
}

Result<PointRun> run_point(const ExperimentPoint& point, const PointInputs& in,
                           const ExperimentCallbacks& callbacks) {
  const Clock::time_point wall0 = Clock::now();
  engine::InferenceSession& session = *in.session;
  const ExperimentConfig& config = *in.config;
  const model::Model& model = session.model();
  const model::ModelConfig& mc = model.config();
  const bool all = point.routing == engine::RoutingMode::All;
  const bool planned = point.predictor != "none" && !all;

  engine::SessionSettings ss;
  if (all) {
    ss.budget_percent = 100;
  } else {
    ss.budget_bytes = in.budget_bytes;
  }
  ss.mode = point.routing;
  ss.policy = planned ? experts::EvictionPolicy::Pinned : experts::EvictionPolicy::Lru;
  ss.n_threads = config.n_threads;
  ss.n_ctx = in.n_ctx;
  ss.max_sequences = config.serving.max_sequences;
  // The experiment's device: run_experiment put the session there before the first point.
  ss.device = session.report().settings.device;
  auto report = session.configure(ss);
  if (!report.ok()) return report.status().with_context("configuring the session");
  experts::ExpertCache* cache = session.cache();
  if (!all && cache == nullptr) return internal_error("the session has no device tier");

  const sched::SchedulerProfile sched_profile =
      point_scheduler_profile(config, *in.profile, mc, point.routing);
  const auto kind = sched::parse_scheduler_kind(point.scheduler);
  if (!kind) return invalid_argument("unknown scheduler '" + point.scheduler + "'");

  predict::HistoryShape shape;
  shape.n_layer = static_cast<int32_t>(mc.n_layer);
  shape.n_expert = static_cast<int32_t>(mc.n_expert);
  shape.k = static_cast<int32_t>(mc.n_expert_used);

  // The predictor loop, warm-started from a copy of the shared warm-up history.
  std::unique_ptr<predict::EmoeLoop> loop;
  if (planned) {
    predict::EmoeLoopOptions lo;
    lo.predictor = point.predictor;
    lo.interval = point.interval;
    lo.mode = point.routing;
    lo.seed = point.seed;
    for (sched::TaskType t : sched::kAllTasks) {
      lo.default_output_tokens[std::string(sched::task_name(t))] =
          sched_profile.mean_output_tokens[static_cast<size_t>(sched::task_index(t))];
    }
    auto l = predict::EmoeLoop::create(*cache, shape, std::move(lo));
    if (!l.ok()) return l.status();
    loop = std::move(l).value();
    const WarmUp& w = *in.warm_up;
    if (w.history && !w.history->empty()) {
      for (size_t i = 0; i < w.history->size(); ++i) {
        EMOE_RETURN_IF_ERROR(loop->history().add(w.history->at(i)));
      }
      EMOE_RETURN_IF_ERROR(
          loop->predictor()->train(loop->history()).with_context("training the predictor"));
    }
    EMOE_RETURN_IF_ERROR(loop->start(w.cold));
  }

  PointState st;
  st.point = &point;
  st.in = &in;
  st.callbacks = &callbacks;
  st.cache = cache;
  st.loop = loop.get();
  // The oracle is handed each request's true future before it is planned: the full model's
  // routing of that request, computed here so it stays outside the serving clock.
  if (point.predictor == "oracle" && loop) {
    for (const sched::ServeRequest& r : in.requests) {
      // The loop rejects what cannot fit the context; such a request is never planned.
      if (static_cast<int64_t>(r.prompt.size()) >= in.n_ctx) continue;
      auto ref = in.reference->greedy(r.prompt, r.max_new_tokens);
      if (!ref.ok())
        return ref.status().with_context("the oracle's future of request " + std::to_string(r.id));
      st.oracle_future[r.id] = &(*ref)->record;
    }
  }

  metrics::RoutingCounters counters;
  MemoryTimeline memory;
  predict::RoutingHistoryRecorder recorder(shape.n_layer, shape.n_expert,
                                           predict::RoutingSource::Router);
  st.recorder = &recorder;
  st.memory = &memory;
  engine::ObserverScope<engine::InferenceSession> observers(session);
  observers.add(&counters);
  observers.add(&memory);
  if (loop) observers.add(&recorder);
  // Loads and bytes count from here: the warm start (fill) is not part of the run.
  if (cache) cache->reset_stats();

  auto scheduler = sched::make_scheduler(*kind, sched_profile);
  sched::ServingOptions so;
  so.max_batch_tokens = config.serving.max_batch_tokens;
  so.prefill_chunk = config.serving.prefill_chunk;
  so.capacity.max_tokens = config.serving.max_tokens;
  so.capacity.max_sequences = config.serving.max_sequences;
  so.clock = config.serving.clock;
  so.cost.step_ms = config.serving.cost.step_ms;
  so.cost.token_ms =
      config.serving.cost.token_ms > 0 ? config.serving.cost.token_ms : sched_profile.per_token_ms;
  // Loads since the previous step (on demand, or a plan applied at an admission) cost virtual
  // time, so a smaller tier that loads more is slower on the virtual clock too.
  uint64_t loads_seen = 0;
  const double load_ms = expert_load_cost_ms(config, *in.profile);
  if (cache && load_ms > 0) {
    so.cost.extra_ms = [&, cache, load_ms]() {
      const uint64_t loads = cache->stats().loads;
      const double ms = static_cast<double>(loads - loads_seen) * load_ms;
      loads_seen = loads;
      return ms;
    };
  }
  so.cancel = callbacks.cancel;  // also wakes the wall clock's wait for the next arrival
  so.on_step = [&](const sched::StepInfo& s) {
    memory.stamp(s.end_ms);
    ++st.steps;
  };
  so.on_request = [&](const sched::RequestEvent& e) { st.on_request(e); };
  auto created = sched::ServingLoop::create(*session.engine(), *scheduler, so);
  if (!created.ok()) return created.status();
  sched::ServingLoop& serving = **created;
  for (const sched::ServeRequest& r : in.requests) {
    sched::ServeRequest q = r;
    q.sampling.seed = point.seed + static_cast<uint64_t>(r.id);
    EMOE_RETURN_IF_ERROR(serving.submit(std::move(q)));
  }

  PointRun run;
  st.progress();
  while (true) {
    if (callbacks.cancel && callbacks.cancel->load(std::memory_order_relaxed)) {
      run.cancelled = true;
      return run;
    }
    auto more = serving.step();
    if (!more.ok()) return more.status();
    EMOE_RETURN_IF_ERROR(st.error);
    if (!*more) break;
  }
  const sched::ServingResult served = serving.result();

  PointResult& out = run.result;
  out.point = point;
  out.run = served.run;
  out.steps = served.steps;
  out.requests.reserve(served.requests.size());
  for (const sched::ServedRequest& r : served.requests) out.requests.push_back(outcome_of(r));
  out.memory = thin_evenly(memory.points(), kMaxMemoryPoints);

  out.hits = counters.hits;
  out.misses = counters.misses;
  out.substitutions = counters.substitutions;
  out.decisions = counters.decisions;
  const uint64_t slots = counters.hits + counters.misses;
  out.hit_rate = slots > 0 ? static_cast<double>(counters.hits) / static_cast<double>(slots) : 0;
  if (cache) {
    const experts::CacheStats cs = cache->stats();
    out.loads = cs.loads;
    out.bytes_moved = cs.bytes_loaded;
    out.evictions = cs.evictions;
    // On-demand stalls inside the steps only; waiting for a plan's loads happens between steps.
    out.stall_ms = std::max(0.0, cs.stall_micros - st.plan_stall_micros) * 1e-3;
    out.peak_expert_bytes = std::max(cs.peak_bytes, memory.peak_expert_bytes());
  } else {
    out.peak_expert_bytes = memory.peak_expert_bytes();
  }
  out.dense_bytes = model.weights().dense_bytes;
  out.all_expert_bytes = report->all_expert_bytes;
  out.expert_budget_bytes = all ? report->all_expert_bytes : report->expert_budget_bytes;
  out.peak_total_bytes = memory.peak_total_bytes();
  int32_t moe_layers = 0;
  const experts::ExpertStore& store = *session.store();
  for (int32_t l = 0; l < store.n_layer(); ++l) moe_layers += store.layout(l).total > 0;
  const int32_t total_experts = moe_layers * store.n_expert();
  out.expert_fraction = all || total_experts == 0
                            ? 1.0
                            : static_cast<double>(std::min(report->n_slots, total_experts)) /
                                  static_cast<double>(total_experts);

  if (loop) out.predictor_invocations = loop->invocations();
  out.predict_ms = st.predict_seconds * 1e3;
  out.per_token_ms = sched_profile.per_token_ms;
  out.expert_load_ms = in.profile->expert_load_ms;

  EMOE_RETURN_IF_ERROR(fill_accuracy(point, in, served, out));
  out.wall_seconds = seconds_since(wall0);
  return run;
}

}  // namespace emoe::experiment
