// What an experiment measures, and the choices made where the configuration leaves room:
//
// Model and context. The session's model (config.model is for the caller that opens it). Every
// engine of the experiment uses one context: the longest request (prompt + max_new_tokens) of
// any workload or the warm-up, at most the model's own context (4096 when larger); a tight
// context keeps the KV cache, which the engine allocates per live sequence for the whole
// context, a realistic share of the memory over time.
//
// Workload. Per arrival rate, core/experiment/point_workload.h: generated from the built-in task
// prompts (seed, request count, task mix of the configuration) or the file scaled to the rate;
// max_new_tokens cut to the cap, SLOs multiplied by slo_scale. Points with the same rate serve
// the same requests. Request i samples greedily (temperature 0, seed = the point's seed + i), so
// outputs are deterministic and the virtual clock makes a point exactly reproducible.
//
// Warm-up. config.profile_requests prompts from another stream of the built-in prompts run once,
// greedily, on the full model (every expert); their routing is the history every point starts
// from (a copy each, so points are independent and the order of points does not matter), the
// predictor of each point is trained on it, and its per-task and global popularity are the
// cold-start profiles.
//
// Per point (core/experiment/point_runner.h). The session is configured with the point's budget
// and routing (routing "all": 100%, no tier), the Pinned policy when a predictor is used (LRU
// for "none"), the serving's max_sequences and the experiment's threads; the tier's statistics
// are reset after this warm start (fallback fills the tier), so loads, bytes and evictions are
// the run's own. eMoE plans per task: when a request is admitted, the loop plans its task for its
// prompt and max_new_tokens (EmoeLoop::plan, which waits for the loads, between steps: on the
// virtual clock that wait costs nothing, on the wall clock it delays the next step). With
// concurrent requests of different tasks the newest admission's plan wins and the others run on
// whatever it left resident (fallback substitutes, exact loads on demand). When a request
// finishes, its routing (the router's top-k) goes into the history and predictor->observe().
// The oracle is given the full model's routing of each request before its plan.
//
// Scheduler inputs, as `emoe serve`: c = the virtual clock's token_ms when set (then it is what
// a token costs), else MachineProfile.per_token_ms, else 0.1 ms; the virtual clock's token_ms =
// serving.cost.token_ms, else c; W_o per task = the profiled mean output length, else the
// task's workload limit, scaled by max_new_tokens_scale and capped by max_new_tokens_cap;
// dE per task switch = expert_load_cost_ms (serving.expert_load_ms, else the profiled dE) x
// n_layer x n_expert_used under exact routing, 0 for fallback and all. On the virtual clock each
// expert load also costs expert_load_cost_ms, charged to the step that caused it.
//
// Per request: the serving loop's timing and metrics (TTFT, TPOT, E2E, SLO met);
// prefill_done_ms is the first token's time, which is exact: the step that carries a request's
// last prompt token samples its first token. Per point: the loop's run metrics, p90 TTFT/E2E
// (nearest rank over completed requests), memory after every step on the loop's clock (thinned
// evenly to at most 1000 points; peaks over all steps), hits/misses/substitutions from the
// router events, loads/bytes/evictions from the tier, stall_ms = on-demand stalls inside steps
// (plan waits excluded), predictor invocations and their time.
//
// Accuracy (config.accuracy, fallback routing): after the point, each completed request's prompt
// + its own output is teacher-forced through the full model; scored = its generated tokens,
// agreeing = those equal to the full model's argmax at that position; matches_reference = its
// output equals the full model's own greedy output (cached per request across points).
// accuracy = agreeing / scored over the point, exact_match_rate = matching / completed. Exact and
// all routing compute with the router's top-k, the full model's computation: accuracy and
// exact_match_rate 1 and matches_reference true for completed requests, by construction
// (accuracy_measured = false), whether or not config.accuracy is set.
//
// Device. config.device is resolved once per run (engine::select_compute_device; a caller may
// pass it resolved): "cuda" without CUDA runs on the CPU, with callbacks.notice told once. The
// session is configured onto that device first and every later configuration keeps the
// session's device (point_runner.cpp, capacity_run.cpp), so points, capacity runs and the
// expert tier all compute there. result.config.device is the backend that ran ("cpu" after a
// fallback). The full-model reference computes there too, holding every expert; where they do
// not fit beside the session it computes on the CPU, and callbacks.notice says so (also when
// the caller resolved the device), so a model bigger than the GPU still runs.
//
// Errors and control. Every point is validated before anything runs (scheduler, predictor,
// interval, budget >= the minimum tier, rate), errors naming the point's label; errors while a
// point runs are prefixed with its label too. point_done after each point (its error stops the
// run); cancel is checked between serving steps: the running point is dropped and the result
// holds the points done, with cancelled = true.
#include "core/experiment/experiment_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <string>

#include "core/engine/inference_session.h"
#include "core/experiment/capacity_study.h"
#include "core/experiment/full_model_reference.h"
#include "core/experiment/point_runner.h"
#include "core/experiment/point_workload.h"
#include "core/experiment/warm_up.h"
#include "core/experts/cache_model.h"
#include "core/experts/expert_store.h"
#include "core/model/model.h"
#include "core/predict/periodic_invoker.h"
#include "core/predict/predictor.h"
#include "kernels/gpu/gpu_device.h"

namespace emoe::experiment {
namespace {

using Clock = std::chrono::steady_clock;

std::string point_name(const ExperimentPoint& p) {
  return "point " + std::to_string(p.index) + " (" + p.label() + ")";
}

// The point's expert budget in bytes (unused for routing all); InvalidArgument naming the
// point for anything it cannot run.
Result<uint64_t> check_point(const ExperimentPoint& p, const ExperimentConfig& config,
                             const experts::ExpertStore& store) {
  const std::string who = point_name(p);
  if (!sched::parse_scheduler_kind(p.scheduler)) {
    return invalid_argument(who + ": unknown scheduler '" + p.scheduler +
                            "' (known: emoe, fcfs, sjf)");
  }
  if (p.predictor != "none") {
    const auto& names = predict::predictor_names();
    if (std::find(names.begin(), names.end(), p.predictor) == names.end()) {
      std::string list;
      for (const auto& n : names) list += n + ", ";
      return invalid_argument(who + ": unknown predictor '" + p.predictor + "' (known: " + list +
                              "none)");
    }
    if (p.interval < predict::PeriodicInvoker::kMinPeriod ||
        p.interval > predict::PeriodicInvoker::kMaxPeriod) {
      return invalid_argument(who + ": the interval p must be in 1..200, got " +
                              std::to_string(p.interval));
    }
  }
  if (!std::isfinite(p.arrival_rate) || p.arrival_rate < 0 ||
      (p.arrival_rate == 0 && config.workload.file.empty())) {
    return invalid_argument(who + ": the arrival rate must be > 0 (0 keeps a workload file's " +
                            "own times and needs one)");
  }
  if (p.routing == engine::RoutingMode::All) return store.total_bytes();
  auto bytes = experts::parse_budget_text(p.budget, experts::CacheShape::from_store(store));
  if (!bytes.ok()) return invalid_argument(who + ": " + bytes.status().message());
  const uint64_t minimum = experts::ExpertCache::minimum_budget(store);
  if (*bytes < minimum) {
    return invalid_argument(who + ": the expert budget of " + std::to_string(*bytes) +
                            " bytes is below the minimum of " + std::to_string(minimum) +
                            " bytes (" + std::to_string(store.n_expert_used()) +
                            " experts in every MoE layer)");
  }
  return *bytes;
}

int64_t model_context(const model::ModelConfig& c) {
  return c.n_ctx_train > 0 ? std::min<int64_t>(c.n_ctx_train, 4096) : 4096;
}

// Puts the session on `device` with the smallest tier (cheap, and it fits wherever any point
// fits); the points then keep the device as they reconfigure. A session already there stays.
Status move_session_to(engine::InferenceSession& session, const engine::ComputeDevice& device,
                       int n_threads, int64_t n_ctx) {
  if (session.report().settings.device == device.gpu) return Status::ok();
  engine::SessionSettings ss;
  ss.mode = engine::RoutingMode::Exact;
  ss.budget_bytes = experts::ExpertCache::minimum_budget(*session.store());
  ss.n_threads = n_threads;
  ss.n_ctx = n_ctx;
  ss.device = device.gpu;
  auto r = session.configure(ss);
  return r.ok() ? Status::ok() : r.status().with_context("putting the session on " + device.name);
}

}  // namespace

std::string backend_device_name(const engine::ComputeDevice& device) {
  return device.gpu ? "cuda:" + std::to_string(device.gpu->info().index) : "cpu";
}

Result<ExperimentResult> run_experiment(engine::InferenceSession& session,
                                        const ExperimentConfig& config,
                                        const MachineProfile& profile,
                                        const ExperimentCallbacks& callbacks,
                                        const engine::ComputeDevice* device) {
  const Clock::time_point wall0 = Clock::now();
  ExperimentResult result;
  result.config = config;
  result.started_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const model::Model& model = session.model();
  const model::ModelConfig& mc = model.config();
  result.model = describe_experiment_model(model);
  result.machine = describe_machine();
  if (session.store() == nullptr || !mc.is_moe()) {
    return invalid_argument("experiment: the model has no experts, so there is nothing to page");
  }
  if (config.profile_requests < 0) {
    return invalid_argument("experiment: profile_requests must be >= 0");
  }
  if (config.n_threads < 1) return invalid_argument("experiment: n_threads must be >= 1");

  // Validate every point (and the capacity study) before anything runs.
  const std::vector<ExperimentPoint> points = expand_matrix(config);
  if (points.empty()) return invalid_argument("experiment: the matrix has no points");
  std::vector<uint64_t> budgets;
  for (const ExperimentPoint& p : points) {
    auto b = check_point(p, config, *session.store());
    if (!b.ok()) return b.status();
    budgets.push_back(*b);
  }
  if (config.capacity.enabled) {
    auto plan = plan_capacity(session, config.capacity);
    if (!plan.ok()) return plan.status();
  }

  auto source = load_workload_source(config);
  if (!source.ok()) return source.status();
  const sched::TaskClassifier classifier = sched::TaskClassifier::builtin();
  std::map<double, std::vector<sched::ServeRequest>> workloads;  // by rate
  int64_t need_ctx = 2;
  for (const ExperimentPoint& p : points) {
    if (workloads.count(p.arrival_rate)) continue;
    auto w = workload_at_rate(config, *source, p.arrival_rate);
    if (!w.ok()) return w.status().with_context(point_name(p));
    std::vector<sched::ServeRequest> reqs =
        sched::serve_requests(*w, model.tokenizer(), classifier, {});
    for (const sched::ServeRequest& r : reqs) {
      need_ctx = std::max<int64_t>(
          need_ctx, static_cast<int64_t>(r.prompt.size()) + static_cast<int64_t>(r.max_new_tokens));
    }
    workloads.emplace(p.arrival_rate, std::move(reqs));
  }
  auto warm_requests = warm_up_workload(config, *source);
  if (!warm_requests.ok()) return warm_requests.status();
  for (const sched::Request& r : *warm_requests) {
    need_ctx = std::max<int64_t>(
        need_ctx, static_cast<int64_t>(model.tokenizer().encode(r.text, true, false).size()) +
                      static_cast<int64_t>(r.max_new_tokens));
  }
  const int64_t n_ctx = std::min(model_context(mc), need_ctx);

  std::optional<engine::ComputeDevice> own_device;
  if (device == nullptr) {
    auto d = engine::select_compute_device(config.device);
    if (!d.ok()) return d.status().with_context("experiment");
    own_device = std::move(d).value();
    device = &*own_device;
    if (!device->notice.empty() && callbacks.notice) callbacks.notice(device->notice);
  }
  result.config.device = backend_device_name(*device);
  EMOE_RETURN_IF_ERROR(move_session_to(session, *device, config.n_threads, n_ctx));

  std::string reference_notice;
  auto reference =
      FullModelReference::create(model, config.n_threads, n_ctx, device->gpu, &reference_notice);
  if (!reference.ok()) return reference.status();
  if (!reference_notice.empty() && callbacks.notice) callbacks.notice(reference_notice);
  predict::HistoryShape shape;
  shape.n_layer = static_cast<int32_t>(mc.n_layer);
  shape.n_expert = static_cast<int32_t>(mc.n_expert);
  shape.k = static_cast<int32_t>(mc.n_expert_used);
  const auto n_points = static_cast<int32_t>(points.size());
  auto warm =
      run_warm_up(model, **reference, *warm_requests, shape, [&](int64_t done, int64_t total) {
        if (!callbacks.progress) return;
        ExperimentProgress pr;
        pr.phase = "warm-up";
        pr.points = n_points;
        pr.requests_done = done;
        pr.requests = total;
        callbacks.progress(pr);
      });
  if (!warm.ok()) return warm.status().with_context("experiment warm-up");

  for (size_t i = 0; i < points.size(); ++i) {
    const ExperimentPoint& p = points[i];
    if (callbacks.cancel && callbacks.cancel->load(std::memory_order_relaxed)) {
      result.cancelled = true;
      break;
    }
    PointInputs in;
    in.session = &session;
    in.config = &config;
    in.profile = &profile;
    in.warm_up = &*warm;
    in.reference = reference->get();
    in.n_ctx = n_ctx;
    in.budget_bytes = budgets[i];
    in.requests = workloads.at(p.arrival_rate);
    in.points = n_points;
    auto run = run_point(p, in, callbacks);
    if (!run.ok()) return run.status().with_context(point_name(p));
    if (run->cancelled) {
      result.cancelled = true;
      break;
    }
    if (callbacks.point_done) {
      EMOE_RETURN_IF_ERROR(callbacks.point_done(run->result));
    }
    result.points.push_back(std::move(run->result));
  }

  if (config.capacity.enabled && !result.cancelled) {
    auto progress = [&](int32_t i, int32_t n) {
      if (!callbacks.progress) return;
      ExperimentProgress pr;
      pr.phase = "capacity";
      pr.point = i;
      pr.points = n;
      pr.label = config.capacity.budgets[static_cast<size_t>(i)];
      callbacks.progress(pr);
    };
    auto cap =
        run_capacity_study(session, config.capacity, config.n_threads, progress, callbacks.cancel);
    if (!cap.ok()) return cap.status().with_context("capacity study");
    result.capacity = std::move(cap).value();
    if (callbacks.cancel && callbacks.cancel->load(std::memory_order_relaxed) &&
        result.capacity.size() < config.capacity.budgets.size()) {
      result.cancelled = true;
    }
  }
  result.wall_seconds = std::chrono::duration<double>(Clock::now() - wall0).count();
  return result;
}

}  // namespace emoe::experiment
