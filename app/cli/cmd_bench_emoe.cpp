// emoe bench-emoe: the paper's memory-versus-accuracy and reuse-interval studies (PAPER.md
// sections 4.4 and 4.8) on a model, by default the built-in demo model: accuracy (top-1
// agreement with every expert) for expert budgets 20%..100% and several residency policies,
// then accuracy and latency of eMoE-A at 60% against the interval p, and predictor costs.
// The all-experts reference of each request is computed once and shared by every run.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "app/cli/cli_common.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/engine/inference_session.h"
#include "core/model/demo_model.h"
#include "core/predict/emoe_runner.h"
#include "core/sched/builtin_workloads.h"

namespace emoe::cli {

namespace {

struct Config {
  std::string label;      // "emoe-a", "exact-lru", ...
  std::string predictor;  // runner predictor ("none" for exact + LRU)
  engine::RoutingMode mode = engine::RoutingMode::Fallback;
};

void write_point(JsonWriter& j, const std::string& label, double percent,
                 const predict::RunnerSummary& s) {
  j.begin_object().key("config").value(label).key("budget_percent").value(percent);
  j.key("expert_fraction").value(s.expert_fraction).key("budget_clamped").value(s.budget_clamped);
  j.key("accuracy")
      .value(s.accuracy)
      .key("accuracy_by_construction")
      .value(s.accuracy_by_construction);
  j.key("mean_kl").value(s.mean_kl).key("hit_rate").value(s.hit_rate);
  j.key("fallback_rate").value(s.fallback_rate).key("loads").value(s.loads);
  j.key("bytes_moved").value(s.bytes_moved).key("load_ms").value(s.load_seconds * 1e3);
  j.key("stall_ms").value(s.stall_seconds * 1e3).key("run_ms").value(s.run_seconds * 1e3);
  j.key("device_bytes").value(s.device_bytes);
  j.key("all_experts_device_bytes").value(s.all_experts_device_bytes);
  j.key("invocations").value(s.invocations);
  j.key("predict_ms").value(s.predict_seconds * 1e3).key("train_ms").value(s.train_seconds * 1e3);
  j.end_object();
}

}  // namespace

void declare_bench_emoe(CommandSpec& spec) {
  spec.option("model", 'm', "MODEL", "GGUF model file; default: the demo model (generated)")
      .option("requests", 0, "N", "measured requests per configuration", "30")
      .option("profile-requests", 0, "N", "profiling pass that trains the predictors", "20")
      .option("max-new-tokens", 0, "N", "greedy tokens per request", "8")
      .option("interval", 0, "P", "interval of the budget sweep", "40")
      .option("seed", 0, "N", "workload seed", "1")
      .option("predictors", 0, "LIST", "budget-sweep predictors",
              "emoe-a,emoe-l,frequency,popularity,random")
      .flag("json", "print one JSON object");
  declare_engine_options(spec);
}

Status run_bench_emoe(const ParsedArgs& args) {
  const auto t_start = std::chrono::steady_clock::now();
  auto n_req = args.get_int("requests", 1, 100000);
  if (!n_req.ok()) return n_req.status();
  auto n_prof = args.get_int("profile-requests", 0, 100000);
  if (!n_prof.ok()) return n_prof.status();
  auto cap = args.get_int("max-new-tokens", 1, 1024);
  if (!cap.ok()) return cap.status();
  auto interval = args.get_int("interval", 1, 200);
  if (!interval.ok()) return interval.status();
  auto seed = args.get_uint64("seed");
  if (!seed.ok()) return seed.status();
  auto eopts = engine_options(args);
  if (!eopts.ok()) return eopts.status();
  auto plist = args.get_string("predictors");
  if (!plist.ok()) return plist.status();
  std::vector<Config> configs;
  {
    const auto& names = predict::predictor_names();
    size_t start = 0;
    while (start <= plist->size()) {
      const size_t comma = std::min(plist->find(',', start), plist->size());
      const std::string name = plist->substr(start, comma - start);
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        return args.error("--predictors: unknown predictor '" + name + "'");
      }
      configs.push_back({name, name, engine::RoutingMode::Fallback});
      start = comma + 1;
    }
    configs.push_back({"exact-lru", "none", engine::RoutingMode::Exact});
  }
  const bool json = args.flag("json");

  std::string path;
  if (args.has("model")) {
    auto m = args.get_string("model");
    if (!m.ok()) return m.status();
    path = *m;
  } else {
    std::error_code ec;
    const auto dir = std::filesystem::temp_directory_path(ec) / "emoe-bench-demo";
    if (ec) return internal_error("no temporary directory: " + ec.message());
    auto p = model::ensure_demo_model(dir.string());
    if (!p.ok()) return p.status().with_context("writing the demo model");
    path = *p;
  }
  if (!json) std::fprintf(stderr, "bench-emoe: %s\n", path.c_str());
  auto m = model::Model::load(path);
  if (!m.ok()) return m.status();
  if (!(*m)->config().is_moe()) return args.error("the model has no experts");
  engine::InferenceSession session(std::move(m).value());

  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status();
  sched::WorkloadOptions wo;
  wo.seed = *seed;
  wo.n_requests = *n_req + *n_prof;
  auto w = sched::generate_workload(*prompts, wo);
  if (!w.ok()) return w.status();
  const auto requests =
      predict::runner_requests(*w, sched::TaskClassifier::builtin(), static_cast<int32_t>(*cap));

  predict::ReferenceCache refs;
  auto base = [&](const std::string& predictor, double percent, int32_t p) {
    predict::RunnerOptions o;
    o.predictor = predictor;
    o.budget_percent = percent;
    o.interval = p;
    o.accuracy = true;
    o.profile_requests = static_cast<int32_t>(*n_prof);
    o.n_threads = eopts->n_threads;
    o.n_ctx = eopts->n_ctx > 0 ? eopts->n_ctx : 512;
    o.seed = *seed;
    o.reference_cache = &refs;
    o.hooks.progress = [](size_t, size_t) { return !interrupt_flag().load(); };
    return o;
  };

  JsonWriter j;
  j.begin_object().key("model").value(path);
  j.key("requests").value(*n_req).key("profile_requests").value(*n_prof);
  j.key("max_new_tokens").value(*cap).key("interval").value(*interval);
  j.key("threads").value(eopts->n_threads);
  j.key("memory_vs_accuracy").begin_array();
  const double budgets[] = {20, 40, 60, 80, 100};
  for (const double b : budgets) {
    for (const Config& c : configs) {
      predict::RunnerOptions o = base(c.predictor, b, static_cast<int32_t>(*interval));
      o.mode = c.mode;
      auto r = predict::run_emoe(session, requests, o);
      if (!r.ok()) return r.status().with_context(c.label + " at " + std::to_string(b) + "%");
      write_point(j, c.label, b, r->summary);
      if (!json) {
        std::fprintf(stderr,
                     "  %3.0f%% (%.2f of experts) %-10s accuracy %.4f  hit %.4f  loads %llu  "
                     "stall %.1f ms\n",
                     b, r->summary.expert_fraction, c.label.c_str(), r->summary.accuracy,
                     r->summary.hit_rate, static_cast<unsigned long long>(r->summary.loads),
                     r->summary.stall_seconds * 1e3);
      }
    }
  }
  j.end_array();

  j.key("interval_sweep").begin_array();
  for (const int32_t p : {1, 10, 20, 40, 60, 80}) {
    auto r = predict::run_emoe(session, requests, base("emoe-a", 60, p));
    if (!r.ok()) return r.status().with_context("emoe-a, p = " + std::to_string(p));
    const auto& s = r->summary;
    j.begin_object().key("interval").value(p).key("accuracy").value(s.accuracy);
    j.key("mean_kl").value(s.mean_kl).key("hit_rate").value(s.hit_rate);
    j.key("invocations").value(s.invocations).key("loads").value(s.loads);
    j.key("bytes_moved").value(s.bytes_moved);
    j.key("predict_ms").value(s.predict_seconds * 1e3).key("load_ms").value(s.load_seconds * 1e3);
    j.key("run_ms").value(s.run_seconds * 1e3);
    j.key("ms_per_request")
        .value(s.requests > 0 ? (s.run_seconds + s.load_seconds + s.predict_seconds) * 1e3 /
                                    static_cast<double>(s.requests)
                              : 0.0);
    j.key("predictor_share")
        .value(s.run_seconds > 0 ? s.predict_seconds / (s.run_seconds + s.predict_seconds) : 0.0);
    j.end_object();
    if (!json) {
      std::fprintf(stderr, "  emoe-a 60%% p=%-3d accuracy %.4f  invocations %lld  loads %llu\n", p,
                   s.accuracy, static_cast<long long>(s.invocations),
                   static_cast<unsigned long long>(s.loads));
    }
  }
  j.end_array();

  // Predictor costs at 60%, p = 1 (every prompt), so the per-call time is averaged widely.
  j.key("predictor_cost").begin_array();
  for (const Config& c : configs) {
    if (c.predictor == "none") continue;
    auto r = predict::run_emoe(session, requests, base(c.predictor, 60, 1));
    if (!r.ok()) return r.status().with_context(c.label + " cost");
    const auto& s = r->summary;
    j.begin_object().key("predictor").value(c.label).key("calls").value(s.predictor_calls);
    j.key("predict_us_per_call")
        .value(s.predictor_calls > 0
                   ? s.predict_seconds * 1e6 / static_cast<double>(s.predictor_calls)
                   : 0.0);
    j.key("train_ms").value(s.train_seconds * 1e3);
    j.key("observe_us_per_request")
        .value(s.requests > 0 ? s.observe_seconds * 1e6 / static_cast<double>(s.requests) : 0.0);
    j.key("accuracy_p1").value(s.accuracy).end_object();
  }
  j.end_array();
  j.key("wall_s").value(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  j.end_object();
  std::printf("%s\n", j.str().c_str());
  return Status::ok();
}

}  // namespace emoe::cli
