#include "core/predict/emoe_runner.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "core/engine/engine.h"
#include "core/engine/generator.h"
#include "core/experts/expert_store.h"
#include "core/metrics/accuracy.h"
#include "core/metrics/routing_counters.h"
#include "core/model/model.h"
#include "core/predict/baseline_predictors.h"
#include "core/predict/emoe_loop.h"
#include "core/predict/predictor.h"
#include "core/predict/routing_history_recorder.h"

namespace emoe::predict {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Forwards engine callbacks only while enabled, so teacher-forced accuracy passes stay out of
// the run's counters, history and recording.
class GateObserver : public engine::ForwardObserver {
 public:
  void on_routing(const engine::RoutingEvent& ev) override {
    if (!enabled) return;
    for (auto* o : targets) o->on_routing(ev);
  }
  void on_layer_output(int32_t layer, std::span<const engine::BatchToken> batch,
                       const float* hidden, int64_t n_embd) override {
    if (!enabled) return;
    for (auto* o : targets) o->on_layer_output(layer, batch, hidden, n_embd);
  }
  void on_memory_sample(const engine::MemorySample& s) override {
    if (!enabled) return;
    for (auto* o : targets) o->on_memory_sample(s);
  }
  bool enabled = false;
  std::vector<engine::ForwardObserver*> targets;
};

struct MemoryPeak : engine::ForwardObserver {
  void on_memory_sample(const engine::MemorySample& s) override {
    dense = std::max(dense, s.dense_bytes);
    kv = std::max(kv, s.kv_bytes);
  }
  uint64_t dense = 0, kv = 0;
};

Result<std::vector<int32_t>> prompt_tokens(const model::Model& model, const RunnerRequest& r,
                                           int64_t n_ctx, size_t index) {
  std::vector<int32_t> t =
      r.tokens.empty() ? model.tokenizer().encode(r.text, true, false) : r.tokens;
  if (t.empty()) {
    return invalid_argument("request " + std::to_string(index) + " has no prompt tokens");
  }
  if (r.max_new_tokens < 1) {
    return invalid_argument("request " + std::to_string(index) + ": max_new_tokens must be >= 1");
  }
  // Keep the prompt's end (what the continuation follows) when it does not fit.
  const int64_t room = n_ctx - r.max_new_tokens;
  if (room < 1) {
    return invalid_argument("request " + std::to_string(index) + ": " +
                            std::to_string(r.max_new_tokens) +
                            " new tokens do not fit the context of " + std::to_string(n_ctx));
  }
  if (static_cast<int64_t>(t.size()) > room) {
    t.erase(t.begin(), t.end() - static_cast<std::ptrdiff_t>(room));
  }
  return t;
}

// Greedy generation on `engine` with its routing recorded (and, with_logits, the teacher-forced
// logits of prompt + continuation); the record's task is set by the caller.
Result<ReferenceRun> reference_run(engine::Engine& engine, std::span<const int32_t> prompt,
                                   int32_t n_new, bool stop_at_eos, bool with_logits,
                                   int64_t request_id) {
  ReferenceRun out;
  out.prompt.assign(prompt.begin(), prompt.end());
  auto g = generate_recorded(engine, prompt, n_new, stop_at_eos, request_id);
  if (!g.ok()) return g.status().with_context("reference run");
  out.continuation = std::move(g->generated);
  out.record = std::move(g->record);
  if (with_logits) {
    std::vector<int32_t> tokens = out.prompt;
    tokens.insert(tokens.end(), out.continuation.begin(), out.continuation.end());
    const metrics::LogitsSource src = metrics::engine_source(engine);
    EMOE_RETURN_IF_ERROR(src.forward(tokens, &out.logits).with_context("reference logits"));
  }
  return out;
}

}  // namespace

std::vector<RunnerRequest> runner_requests(std::span<const sched::Request> workload,
                                           const sched::TaskClassifier& classifier,
                                           int32_t max_new_tokens_cap) {
  std::vector<RunnerRequest> out;
  out.reserve(workload.size());
  for (const sched::Request& r : workload) {
    RunnerRequest q;
    const sched::TaskType t = r.task ? *r.task : classifier.classify(r.text).task;
    q.task = std::string(sched::task_name(t));
    q.text = r.text;
    q.max_new_tokens = r.max_new_tokens;
    if (max_new_tokens_cap > 0) q.max_new_tokens = std::min(q.max_new_tokens, max_new_tokens_cap);
    out.push_back(std::move(q));
  }
  return out;
}

double RequestReport::hit_rate() const {
  const uint64_t n = topk_hits + topk_misses;
  return n > 0 ? static_cast<double>(topk_hits) / static_cast<double>(n) : 0.0;
}

double RequestReport::agreement() const {
  return positions > 0 ? static_cast<double>(top1_agree) / static_cast<double>(positions) : 0.0;
}

double RunnerSummary::decode_tokens_per_s() const {
  return run_seconds > 0 ? static_cast<double>(generated_tokens) / run_seconds : 0.0;
}

Result<RunnerReport> run_emoe(engine::InferenceSession& session,
                              std::span<const RunnerRequest> requests, const RunnerOptions& options,
                              engine::InferenceSession* reference) {
  const Clock::time_point wall0 = Clock::now();
  const model::Model& model = session.model();
  const model::ModelConfig& cfg = model.config();
  if (!cfg.is_moe() || session.store() == nullptr) {
    return invalid_argument("emoe run: the model has no experts");
  }
  if (options.mode != engine::RoutingMode::Fallback && options.mode != engine::RoutingMode::Exact) {
    return invalid_argument("emoe run: routing must be fallback or exact, got '" +
                            std::string(engine::routing_mode_name(options.mode)) + "'");
  }
  const bool planned = options.predictor != "none";
  if (planned) {
    const auto& names = predictor_names();
    if (std::find(names.begin(), names.end(), options.predictor) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      return invalid_argument("emoe run: unknown predictor '" + options.predictor +
                              "' (known: " + list + ", none)");
    }
  }
  if (options.interval < PeriodicInvoker::kMinPeriod ||
      options.interval > PeriodicInvoker::kMaxPeriod) {
    return invalid_argument("emoe run: the interval p must be in 1..200, got " +
                            std::to_string(options.interval));
  }
  if (options.profile_requests < 0 ||
      static_cast<size_t>(options.profile_requests) >= requests.size()) {
    return invalid_argument("emoe run: " + std::to_string(options.profile_requests) +
                            " profiling requests leave none of the " +
                            std::to_string(requests.size()) + " requests to measure");
  }

  engine::SessionSettings ss;
  ss.budget_bytes = options.budget_bytes;
  ss.budget_percent = options.budget_percent;
  ss.mode = options.mode;
  ss.policy = planned ? experts::EvictionPolicy::Pinned : options.policy;
  ss.n_threads = options.n_threads;
  ss.n_ctx = options.n_ctx;
  ss.device = options.device;
  auto srep = session.configure(ss);
  if (!srep.ok()) return srep.status();
  experts::ExpertCache* cache = session.cache();
  if (cache == nullptr) return internal_error("emoe run: the session has no device tier");
  const experts::ExpertStore& store = *session.store();

  HistoryShape shape;
  shape.n_layer = static_cast<int32_t>(cfg.n_layer);
  shape.n_expert = static_cast<int32_t>(cfg.n_expert);
  shape.k = static_cast<int32_t>(cfg.n_expert_used);
  for (const auto& [task, s] : options.sensitivity) {
    if (s.size() != static_cast<size_t>(shape.n_layer)) {
      return invalid_argument("emoe run: the sensitivity of task '" + task + "' has " +
                              std::to_string(s.size()) + " layers, the model " +
                              std::to_string(shape.n_layer));
    }
  }

  // With a predictor the loop owns the history; without one the run keeps its own.
  std::unique_ptr<EmoeLoop> loop;
  std::optional<RoutingHistory> own_history;
  RoutingHistory* history = nullptr;
  Predictor* predictor = nullptr;
  if (planned) {
    EmoeLoopOptions lo;
    lo.predictor = options.predictor;
    lo.interval = options.interval;
    lo.invoker_mode = options.invoker_mode;
    lo.task_aware = options.task_aware;
    lo.mode = options.mode;
    lo.sensitivity = options.sensitivity;
    lo.default_output_tokens = options.default_output_tokens;
    lo.seed = options.seed;
    lo.history_capacity = options.history_capacity;
    lo.predictor_options = options.predictor_options;
    auto l = EmoeLoop::create(*cache, shape, std::move(lo));
    if (!l.ok()) return l.status();
    loop = std::move(l).value();
    history = &loop->history();
    predictor = loop->predictor();
  } else {
    auto h = RoutingHistory::create(shape, std::max<size_t>(options.history_capacity, 1));
    if (!h.ok()) return h.status();
    own_history.emplace(std::move(h).value());
    history = &*own_history;
  }

  // The all-experts side.
  std::unique_ptr<engine::Engine> own_ref;
  engine::Engine* ref = reference != nullptr ? reference->engine() : nullptr;
  const bool is_oracle = options.predictor == "oracle";
  const bool need_ref = options.accuracy || is_oracle || options.profile_requests > 0;
  const bool measure = options.accuracy && options.mode == engine::RoutingMode::Fallback;
  if (need_ref && ref == nullptr) {
    engine::EngineOptions eo;
    eo.n_threads = options.n_threads;
    eo.n_ctx = srep->n_ctx;
    eo.device = options.device;
    auto e = engine::Engine::create(model, eo);
    if (!e.ok()) return e.status().with_context("reference engine");
    own_ref = std::move(e).value();
    ref = own_ref.get();
  }
  if (ref != nullptr && ref->expert_access().mode != engine::RoutingMode::All) {
    return invalid_argument("emoe run: the reference must use every expert (routing all)");
  }
  ReferenceCache local_cache;
  ReferenceCache& refs = options.reference_cache ? *options.reference_cache : local_cache;
  const int64_t n_ctx = std::min(srep->n_ctx, ref ? ref->options().n_ctx : srep->n_ctx);
  auto get_ref = [&](size_t i, std::span<const int32_t> prompt,
                     const RunnerRequest& r) -> Result<const ReferenceRun*> {
    auto it = refs.find(i);
    const bool usable = it != refs.end() &&
                        std::equal(prompt.begin(), prompt.end(), it->second.prompt.begin(),
                                   it->second.prompt.end()) &&
                        it->second.max_new_tokens == r.max_new_tokens &&
                        (!measure || !it->second.logits.empty());
    if (!usable) {
      auto run = reference_run(*ref, prompt, r.max_new_tokens, options.stop_at_eos, measure,
                               static_cast<int64_t>(i));
      if (!run.ok()) return run.status().with_context("request " + std::to_string(i));
      run->record.task = r.task;
      run->max_new_tokens = r.max_new_tokens;
      it = refs.insert_or_assign(i, std::move(run).value()).first;
    }
    return &it->second;
  };

  RunnerReport report;
  report.session = *srep;
  RunnerSummary& sum = report.summary;
  sum.predictor = options.predictor;
  sum.interval = options.interval;
  sum.mode = std::string(engine::routing_mode_name(options.mode));
  sum.task_aware = options.task_aware;

  // Profiling pass (cold start): all experts, routing into the history.
  ColdStartProfile cold;
  const size_t n_profile = static_cast<size_t>(options.profile_requests);
  for (size_t i = 0; i < n_profile; ++i) {
    auto prompt = prompt_tokens(model, requests[i], n_ctx, i);
    if (!prompt.ok()) return prompt.status();
    auto rr = get_ref(i, *prompt, requests[i]);
    if (!rr.ok()) return rr.status();
    EMOE_RETURN_IF_ERROR(history->add((*rr)->record));
  }
  sum.profile_requests = static_cast<int64_t>(n_profile);
  if (n_profile > 0) {
    cold = ColdStartProfile::from_history(*history);
    if (predictor) {
      const Clock::time_point t0 = Clock::now();
      EMOE_RETURN_IF_ERROR(predictor->train(*history).with_context("training the predictor"));
      sum.train_seconds = since(t0);
    }
  }

  if (loop) EMOE_RETURN_IF_ERROR(loop->start(std::move(cold)));

  // Observers of the measured runs.
  RoutingHistoryRecorder recorder(shape.n_layer, shape.n_expert, RoutingSource::Router);
  metrics::RoutingCounters counters;
  MemoryPeak memory;
  GateObserver gate;
  gate.targets = {&recorder, &counters, &memory};
  for (auto* o : options.hooks.run_observers) gate.targets.push_back(o);
  engine::ObserverScope<engine::InferenceSession> gate_scope(session, &gate);

  const experts::CacheStats warm = cache->stats();
  sum.fill_loads = warm.loads;
  sum.fill_bytes = warm.bytes_loaded;
  const size_t n_vocab = static_cast<size_t>(cfg.n_vocab);
  const size_t total = requests.size() - n_profile;

  for (size_t i = n_profile; i < requests.size(); ++i) {
    const RunnerRequest& rq = requests[i];
    auto prompt = prompt_tokens(model, rq, n_ctx, i);
    if (!prompt.ok()) return prompt.status();
    RequestReport rr;
    rr.index = i;
    rr.task = rq.task;
    rr.prompt_tokens = static_cast<int64_t>(prompt->size());

    const ReferenceRun* refrun = nullptr;
    if (options.accuracy || is_oracle) {
      auto r = get_ref(i, *prompt, rq);
      if (!r.ok()) return r.status();
      refrun = *r;
      if (is_oracle) predictor->reveal_future(refrun->record);
    }

    const experts::CacheStats before = cache->stats();
    if (loop) {
      auto step = loop->plan(rq.task, rr.prompt_tokens, rq.max_new_tokens);
      if (!step.ok()) return step.status().with_context("request " + std::to_string(i));
      rr.predict_seconds = step->predict_seconds;
      rr.invoked = step->invoked;
      rr.cold_start = step->cold_start;
      if (step->invoked) sum.predict_seconds += rr.predict_seconds;
      rr.changed_layers = step->changed_layers;
      if (rr.changed_layers > 0) ++sum.plan_changes;
      rr.load_seconds = step->load_seconds;
    }

    // The request itself.
    counters = metrics::RoutingCounters{};
    engine::GenerateOptions go;
    go.max_new_tokens = rq.max_new_tokens;
    go.stop_at_eos = options.stop_at_eos;
    Status hook_status;
    int32_t seq_id = -1;
    bool first = true;
    engine::RunHooks hooks;
    hooks.on_sequence = [&](int32_t seq) {
      seq_id = seq;
      recorder.bind_sequence(seq, static_cast<int64_t>(i), rq.task);
      if (options.hooks.begin) hook_status = options.hooks.begin(seq, i, rq);
    };
    hooks.on_token = [&](int32_t) {
      if (first && options.hooks.first_token) options.hooks.first_token(i);
      first = false;
      return true;
    };
    const experts::CacheStats run_before = cache->stats();
    gate.enabled = true;
    const Clock::time_point t2 = Clock::now();
    auto gen = session.run(*prompt, go, hooks);
    rr.run_seconds = since(t2);
    gate.enabled = false;
    if (!gen.ok()) return gen.status().with_context("request " + std::to_string(i));
    EMOE_RETURN_IF_ERROR(hook_status);
    rr.generated_tokens = static_cast<int64_t>(gen->generated.size());
    const experts::CacheStats after = cache->stats();
    rr.loads = after.loads - before.loads;
    rr.bytes_loaded = after.bytes_loaded - before.bytes_loaded;
    rr.stall_seconds = (after.stall_micros - run_before.stall_micros) * 1e-6;
    rr.topk_hits = counters.hits;
    rr.topk_misses = counters.misses;
    rr.substitutions = counters.substitutions;
    rr.decisions = counters.decisions;
    if (options.hooks.finish) {
      EMOE_RETURN_IF_ERROR(options.hooks.finish(seq_id, i, rr.prompt_tokens, rr.generated_tokens));
    }
    auto rec = recorder.finish_sequence(seq_id);
    if (!rec.ok()) return rec.status().with_context("request " + std::to_string(i));
    if (loop) {
      auto observed = loop->observe(*rec);
      if (!observed.ok()) return observed.status();
      sum.observe_seconds += *observed;
    } else {
      EMOE_RETURN_IF_ERROR(history->add(*rec));
    }

    // Accuracy: teacher forcing over prompt + the reference's continuation.
    if (measure) {
      std::vector<int32_t> tokens = *prompt;
      tokens.insert(tokens.end(), refrun->continuation.begin(), refrun->continuation.end());
      std::vector<float> cand;
      const metrics::LogitsSource src = metrics::engine_source(*session.engine());
      EMOE_RETURN_IF_ERROR(src.forward(tokens, &cand).with_context("candidate logits"));
      std::vector<int32_t> targets(tokens.size(), -1);
      for (size_t t = 0; t + 1 < tokens.size(); ++t) targets[t] = tokens[t + 1];
      if (refrun->logits.size() != tokens.size() * n_vocab) {
        return internal_error("emoe run: reference logits of request " + std::to_string(i) +
                              " do not match its tokens");
      }
      auto cmp =
          metrics::compare_logits(refrun->logits, cand, static_cast<int64_t>(n_vocab), targets);
      if (!cmp.ok()) return cmp.status().with_context("request " + std::to_string(i));
      rr.accuracy_measured = true;
      rr.positions = cmp->positions;
      rr.top1_agree = cmp->top1_agree;
      rr.kl_sum = cmp->kl_sum;
      rr.exact_match = gen->generated == refrun->continuation;
      rr.lcs = metrics::lcs_similarity(gen->generated, refrun->continuation);
    }

    sum.prompt_tokens += rr.prompt_tokens;
    sum.generated_tokens += rr.generated_tokens;
    sum.topk_hits += rr.topk_hits;
    sum.topk_misses += rr.topk_misses;
    sum.substitutions += rr.substitutions;
    sum.decisions += rr.decisions;
    sum.load_seconds += rr.load_seconds;
    sum.stall_seconds += rr.stall_seconds;
    sum.run_seconds += rr.run_seconds;
    sum.positions += rr.positions;
    sum.top1_agree += rr.top1_agree;
    sum.mean_kl += rr.kl_sum;
    sum.exact_match_rate += rr.exact_match ? 1.0 : 0.0;
    sum.mean_lcs += rr.lcs;
    report.requests.push_back(std::move(rr));
    if (options.hooks.progress && !options.hooks.progress(report.requests.size(), total)) {
      return cancelled("emoe run: cancelled after " + std::to_string(report.requests.size()) +
                       " of " + std::to_string(total) + " requests");
    }
  }

  const experts::CacheStats end = cache->stats();
  sum.requests = static_cast<int64_t>(report.requests.size());
  sum.loads = end.loads - warm.loads;
  sum.bytes_moved = end.bytes_loaded - warm.bytes_loaded;
  sum.evictions = end.evictions - warm.evictions;
  sum.peak_expert_bytes = end.peak_bytes;
  const uint64_t slots = sum.topk_hits + sum.topk_misses;
  sum.hit_rate = slots > 0 ? static_cast<double>(sum.topk_hits) / static_cast<double>(slots) : 0;
  sum.fallback_rate =
      slots > 0 ? static_cast<double>(sum.substitutions) / static_cast<double>(slots) : 0;
  if (measure) {
    sum.accuracy_measured = true;
    sum.accuracy = sum.positions > 0
                       ? static_cast<double>(sum.top1_agree) / static_cast<double>(sum.positions)
                       : 0;
    sum.mean_kl = sum.positions > 0 ? sum.mean_kl / static_cast<double>(sum.positions) : 0;
  } else {
    sum.mean_kl = 0;
    if (options.accuracy) {
      // Exact routing computes every token with the router's top-k: the full model's output.
      sum.accuracy_by_construction = true;
      sum.accuracy = 1.0;
    }
  }
  if (sum.requests > 0) {
    sum.exact_match_rate /= static_cast<double>(sum.requests);
    sum.mean_lcs /= static_cast<double>(sum.requests);
  }
  if (loop) {
    sum.invocations = loop->invocations();
    sum.predictor_calls = loop->predictor_calls();
  }
  sum.dense_bytes = memory.dense ? memory.dense : model.weights().dense_bytes;
  sum.kv_bytes = memory.kv;
  sum.expert_budget_bytes = srep->expert_budget_bytes;
  sum.all_expert_bytes = srep->all_expert_bytes;
  sum.device_bytes = sum.dense_bytes + sum.expert_budget_bytes + sum.kv_bytes;
  sum.all_experts_device_bytes = sum.dense_bytes + sum.all_expert_bytes + sum.kv_bytes;
  sum.resident_slots = srep->n_slots;
  int32_t moe_layers = 0;
  for (int32_t l = 0; l < store.n_layer(); ++l) moe_layers += store.layout(l).total > 0;
  sum.total_experts = moe_layers * store.n_expert();
  sum.expert_fraction = sum.total_experts > 0
                            ? static_cast<double>(std::min(sum.resident_slots, sum.total_experts)) /
                                  static_cast<double>(sum.total_experts)
                            : 0;
  sum.budget_clamped = srep->budget_clamped;
  sum.wall_seconds = since(wall0);
  return report;
}

void write_summary_json(JsonWriter& j, const RunnerSummary& s) {
  j.key("predictor").value(s.predictor).key("interval").value(s.interval);
  j.key("routing").value(s.mode).key("task_aware").value(s.task_aware);
  j.key("requests").value(s.requests).key("profile_requests").value(s.profile_requests);
  j.key("prompt_tokens").value(s.prompt_tokens).key("generated_tokens").value(s.generated_tokens);
  j.key("accuracy_measured").value(s.accuracy_measured);
  j.key("accuracy_by_construction").value(s.accuracy_by_construction);
  if (s.accuracy_measured || s.accuracy_by_construction) {
    j.key("accuracy").value(s.accuracy);
  } else {
    j.key("accuracy").null();
  }
  if (s.accuracy_measured) {
    j.key("mean_kl").value(s.mean_kl).key("positions").value(s.positions);
    j.key("exact_match_rate").value(s.exact_match_rate).key("mean_lcs").value(s.mean_lcs);
  } else {
    j.key("mean_kl").null().key("positions").value(s.positions);
    j.key("exact_match_rate").null().key("mean_lcs").null();
  }
  j.key("hit_rate").value(s.hit_rate).key("fallback_rate").value(s.fallback_rate);
  j.key("topk_hits").value(s.topk_hits).key("topk_misses").value(s.topk_misses);
  j.key("substitutions").value(s.substitutions);
  j.key("fill_loads").value(s.fill_loads).key("fill_bytes").value(s.fill_bytes);
  j.key("loads").value(s.loads).key("bytes_moved").value(s.bytes_moved);
  j.key("evictions").value(s.evictions).key("plan_changes").value(s.plan_changes);
  j.key("load_ms").value(s.load_seconds * 1e3).key("stall_ms").value(s.stall_seconds * 1e3);
  j.key("run_ms").value(s.run_seconds * 1e3).key("wall_ms").value(s.wall_seconds * 1e3);
  j.key("decode_tokens_per_s").value(s.decode_tokens_per_s());
  j.key("invocations").value(s.invocations).key("predictor_calls").value(s.predictor_calls);
  j.key("predict_ms").value(s.predict_seconds * 1e3);
  j.key("predict_ms_per_invocation")
      .value(s.invocations > 0 ? s.predict_seconds * 1e3 / static_cast<double>(s.invocations)
                               : 0.0);
  j.key("train_ms").value(s.train_seconds * 1e3).key("observe_ms").value(s.observe_seconds * 1e3);
  j.key("memory").begin_object();
  j.key("dense_bytes").value(s.dense_bytes).key("expert_budget_bytes").value(s.expert_budget_bytes);
  j.key("kv_bytes").value(s.kv_bytes).key("device_bytes").value(s.device_bytes);
  j.key("all_expert_bytes").value(s.all_expert_bytes);
  j.key("all_experts_device_bytes").value(s.all_experts_device_bytes);
  j.key("device_fraction")
      .value(s.all_experts_device_bytes > 0 ? static_cast<double>(s.device_bytes) /
                                                  static_cast<double>(s.all_experts_device_bytes)
                                            : 0.0);
  j.key("peak_expert_bytes").value(s.peak_expert_bytes);
  j.key("resident_slots").value(s.resident_slots).key("total_experts").value(s.total_experts);
  j.key("expert_fraction").value(s.expert_fraction).key("budget_clamped").value(s.budget_clamped);
  j.end_object();
}

void write_request_json(JsonWriter& j, const RequestReport& r) {
  j.begin_object();
  j.key("index").value(static_cast<int64_t>(r.index)).key("task").value(r.task);
  j.key("prompt_tokens").value(r.prompt_tokens).key("generated_tokens").value(r.generated_tokens);
  j.key("invoked").value(r.invoked).key("cold_start").value(r.cold_start);
  j.key("changed_layers").value(r.changed_layers);
  j.key("hit_rate").value(r.hit_rate()).key("substitutions").value(r.substitutions);
  j.key("loads").value(r.loads).key("bytes_loaded").value(r.bytes_loaded);
  j.key("load_ms").value(r.load_seconds * 1e3).key("stall_ms").value(r.stall_seconds * 1e3);
  j.key("run_ms").value(r.run_seconds * 1e3).key("predict_ms").value(r.predict_seconds * 1e3);
  if (r.accuracy_measured) {
    j.key("accuracy").value(r.agreement());
    j.key("mean_kl").value(r.positions > 0 ? r.kl_sum / static_cast<double>(r.positions) : 0.0);
    j.key("exact_match").value(r.exact_match);
  }
  j.end_object();
}

}  // namespace emoe::predict
