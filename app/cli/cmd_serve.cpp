// emoe serve: a workload through the serving loop (core/sched/serving_loop.h): continuous
// batching on one engine with several sequences, a scheduler (eMoE, FCFS or SJF) admitting on
// every arrival and completion, and per-request latency metrics (TTFT, TPOT, E2E, SLO met). The
// eMoE scheduler's inputs (c, dE, mean output lengths) come from the latest `emoe profile` of
// the model in the database, else from defaults; the output says which. With a database the run
// is stored as a runs row named "serve" (config: the options; metrics: the flat summary).
#include <cstdio>
#include <memory>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/cli_paging.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/metrics/routing_counters.h"
#include "core/sched/builtin_workloads.h"
#include "core/sched/serving_loop.h"
#include "db/machine_profiles.h"
#include "db/recording_session.h"

namespace emoe::cli {

namespace {

Result<std::vector<sched::Request>> load_requests(const ParsedArgs& args) {
  if (args.has("workload") == args.has("demo-workload")) {
    return args.error("give exactly one of --workload FILE, --demo-workload N");
  }
  if (args.has("workload")) {
    auto path = args.get_string("workload");
    if (!path.ok()) return path.status();
    auto w = sched::load_workload_jsonl(*path);
    if (!w.ok()) return args.error("--workload: " + w.status().message());
    return w;
  }
  sched::WorkloadOptions wo;
  auto n = args.get_int("demo-workload", 1, 1000000);
  if (!n.ok()) return n.status();
  wo.n_requests = *n;
  auto seed = args.get_uint64("workload-seed");
  if (!seed.ok()) return seed.status();
  wo.seed = *seed;
  auto rate = args.get_float("rate");
  if (!rate.ok()) return rate.status();
  if (!(*rate > 0)) return args.error("--rate must be > 0 requests per second");
  wo.rate_per_s = *rate;
  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status();
  return sched::generate_workload(*prompts, wo);
}

struct ProfileChoice {
  sched::SchedulerProfile profile;
  std::string source;  // "db run N" or "defaults"
  double expert_load_ms = 0;
};

// The scheduler's inputs: the latest stored profile of the model, else defaults (c = the
// virtual clock's default token cost, G_i from the per-task workload limits, dE = 0).
Result<ProfileChoice> scheduler_profile(const std::optional<std::string>& dbp,
                                        const model::Model& model, const PagingSetup& paging) {
  ProfileChoice c;
  c.profile.per_token_ms = sched::kDefaultPerTokenMs;
  const auto limits = sched::default_task_limits();
  for (size_t t = 0; t < limits.size(); ++t) {
    c.profile.mean_output_tokens[t] = limits[t].max_new_tokens;
  }
  c.source = "defaults";
  if (dbp) {
    auto p = db::load_machine_profile(*dbp, model);
    if (!p.ok()) return p.status().with_context("loading the profile from '" + *dbp + "'");
    if (*p) {
      c.source = "db run " + std::to_string((*p)->run_id);
      if ((*p)->per_token_ms > 0) c.profile.per_token_ms = (*p)->per_token_ms;
      for (size_t t = 0; t < limits.size(); ++t) {
        if ((*p)->mean_output_tokens[t] > 0) {
          c.profile.mean_output_tokens[t] = (*p)->mean_output_tokens[t];
        }
      }
      c.expert_load_ms = (*p)->expert_load_ms;
    }
  }
  // dE: only exact routing loads experts on demand. A task switch is charged one load per
  // expert a token uses in every MoE layer (the working set of a new task, an upper bound).
  if (paging.cache && paging.access.mode == engine::RoutingMode::Exact && c.expert_load_ms > 0) {
    c.profile.expert_load = sched::working_set_switch_estimator(
        c.expert_load_ms, model.config().n_layer, model.config().n_expert_used);
  }
  return c;
}

}  // namespace

void declare_serve(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file")
      .option("workload", 0, "FILE", "requests, one JSON object a line (emoe workload)")
      .option("demo-workload", 0, "N", "draw N requests from the built-in task prompts")
      .option("workload-seed", 0, "S", "with --demo-workload: the draw's seed", "1")
      .option("rate", 0, "R", "with --demo-workload: mean arrivals per second", "2")
      .option("max-new-tokens", 0, "N", "cap on each request's max_new_tokens")
      .option("keywords", 0, "FILE",
              "task keyword profiles for requests without a task (default: built in)")
      .option("scheduler", 0, "NAME", "emoe, fcfs or sjf", "emoe")
      .option("max-sequences", 0, "N", "concurrent requests (engine sequences)", "4")
      .option("max-batch-tokens", 0, "N", "tokens per forward step", "256")
      .option("prefill-chunk", 0, "N", "prompt tokens of one request per step (0: no limit)", "0")
      .option("max-tokens", 0, "N", "T_max: tokens held by admitted requests (0: no limit)", "0")
      .option("starvation-ms", 0, "MS", "eMoE: admit a request waiting longer (0: off)", "0")
      .option("clock", 0, "CLOCK",
              "virtual (step_ms + tokens x c, reproducible), measured (step wall times) or wall",
              "measured")
      .option("step-ms", 0, "MS", "virtual clock: fixed cost of a step", "1")
      .option("db", 0, "FILE",
              "store the run (runs row 'serve') and read the profile from this SQLite database; "
              "default: $XDG_DATA_HOME/emoe-studio/history.db")
      .flag("no-db", "neither store the run nor read a stored profile")
      .flag("json", "print one JSON object");
  declare_engine_options(spec);
  declare_sampling_options(spec);
  declare_paging_options(spec);
}

Status run_serve(const ParsedArgs& args) {
  auto kind_name = args.get_choice("scheduler", {"emoe", "fcfs", "sjf"});
  if (!kind_name.ok()) return kind_name.status();
  const sched::SchedulerKind kind = *sched::parse_scheduler_kind(*kind_name);
  auto clock_name = args.get_choice("clock", {"virtual", "measured", "wall"});
  if (!clock_name.ok()) return clock_name.status();
  sched::ServingOptions so;
  so.clock = *clock_name == "virtual"    ? sched::ClockKind::Virtual
             : *clock_name == "measured" ? sched::ClockKind::Measured
                                         : sched::ClockKind::Wall;
  auto max_seq = args.get_int("max-sequences", 1, 4096);
  if (!max_seq.ok()) return max_seq.status();
  auto batch = args.get_int("max-batch-tokens", 1, int64_t{1} << 20);
  if (!batch.ok()) return batch.status();
  auto chunk = args.get_int("prefill-chunk", 0, int64_t{1} << 20);
  if (!chunk.ok()) return chunk.status();
  auto max_tokens = args.get_int("max-tokens", 0, int64_t{1} << 40);
  if (!max_tokens.ok()) return max_tokens.status();
  auto starvation = args.get_float("starvation-ms", 0.0, 1e12);
  if (!starvation.ok()) return starvation.status();
  auto step_ms = args.get_float("step-ms", 0.0, 1e9);
  if (!step_ms.ok()) return step_ms.status();
  so.max_batch_tokens = *batch;
  so.prefill_chunk = *chunk;
  so.capacity.max_sequences = static_cast<int32_t>(*max_seq);
  so.capacity.max_tokens = *max_tokens;
  so.cost.step_ms = *step_ms;
  so.cancel = &interrupt_flag();
  auto eopts = engine_options(args);
  if (!eopts.ok()) return eopts.status();
  eopts->max_sequences = static_cast<int>(*max_seq);
  auto sampling = sampling_options(args);
  if (!sampling.ok()) return sampling.status();
  auto dbp = db_path(args);
  if (!dbp.ok()) return dbp.status();

  auto workload = load_requests(args);
  if (!workload.ok()) return workload.status();
  if (args.has("max-new-tokens")) {
    auto cap = args.get_int("max-new-tokens", 1, sched::kMaxNewTokensLimit);
    if (!cap.ok()) return cap.status();
    for (sched::Request& r : *workload) {
      r.max_new_tokens = std::min<int32_t>(r.max_new_tokens, static_cast<int32_t>(*cap));
    }
  }
  sched::TaskClassifier classifier = sched::TaskClassifier::builtin();
  if (args.has("keywords")) {
    auto loaded = sched::TaskClassifier::load(*args.get_string("keywords"));
    if (!loaded.ok()) return loaded.status();
    classifier = std::move(*loaded);
  }

  auto model = load_model(args);
  if (!model.ok()) return model.status();
  auto paging = paging_setup(args, **model);
  if (!paging.ok()) return paging.status();
  eopts->experts = paging->access;
  auto engine = engine::Engine::create(**model, *eopts);
  if (!engine.ok()) return engine.status();

  auto choice = scheduler_profile(*dbp, **model, *paging);
  if (!choice.ok()) return choice.status();
  choice->profile.starvation_ms = *starvation;
  so.cost.token_ms = choice->profile.per_token_ms;
  const bool json = args.flag("json");
  if (!json) {
    std::fprintf(stderr, "scheduler %s, profile from %s: c = %.4g ms/token, dE = %.4g ms/expert\n",
                 kind_name->c_str(), choice->source.c_str(), choice->profile.per_token_ms,
                 choice->expert_load_ms);
  }
  auto scheduler = sched::make_scheduler(kind, choice->profile);

  const std::vector<sched::ServeRequest> requests =
      sched::serve_requests(*workload, (*model)->tokenizer(), classifier, *sampling);
  metrics::RoutingCounters counters;
  (*engine)->add_observer(&counters);
  int64_t finished = 0;
  so.on_request = [&](const sched::RequestEvent& e) {
    if (e.kind != sched::RequestEvent::Kind::Finished &&
        e.kind != sched::RequestEvent::Kind::Rejected) {
      return;
    }
    ++finished;
    if (!json)
      std::fprintf(stderr, "\r  request %lld/%zu", static_cast<long long>(finished),
                   requests.size());
  };
  auto result = sched::serve(**engine, *scheduler, requests, so);
  if (!json) std::fprintf(stderr, "\n");
  (*engine)->remove_observer(&counters);
  if (!result.ok()) return result.status();
  if (result->cancelled) return cancelled("interrupted");
  const sched::RunMetrics& m = result->run;

  // The stored run: config = the options, metrics = the flat summary.
  int64_t run_id = 0;
  if (*dbp) {
    SessionConfig cfg = session_config(args, "serve");
    cfg.engine = &(*engine)->options();
    cfg.paging = &*paging;
    cfg.sampling = &*sampling;
    cfg.extra = [&](JsonWriter& j) {
      j.key("model").value(db::describe_model(**model).path);
      j.key("workload")
          .value(args.has("workload") ? *args.get_string("workload")
                                      : "demo:" + *args.get_string("demo-workload"));
      j.key("scheduler").value(*kind_name).key("clock").value(*clock_name);
      j.key("max_sequences").value(*max_seq).key("max_batch_tokens").value(*batch);
      j.key("prefill_chunk").value(*chunk).key("max_tokens").value(*max_tokens);
      j.key("profile").value(choice->source);
    };
    JsonWriter met;
    met.begin_object();
    sched::write_run_metrics_json(met, m);
    met.key("per_token_ms").value(choice->profile.per_token_ms);
    met.key("steps").value(result->steps).end_object();
    auto id = db::store_run_row(**dbp, "serve", session_config_json(cfg), met.str());
    if (!id.ok()) return id.status().with_context("storing the run in '" + **dbp + "'");
    run_id = *id;
  }

  JsonWriter j;
  j.begin_object().key("model").value((*model)->file().path());
  j.key("scheduler").value(*kind_name).key("clock").value(*clock_name);
  j.key("max_sequences").value(*max_seq).key("max_batch_tokens").value(*batch);
  j.key("profile").begin_object().key("source").value(choice->source);
  j.key("per_token_ms").value(choice->profile.per_token_ms);
  j.key("expert_load_ms").value(choice->expert_load_ms).key("mean_output_tokens").begin_array();
  for (double v : choice->profile.mean_output_tokens) j.value(v);
  j.end_array().end_object();
  sched::write_run_metrics_json(j, m);
  j.key("ttft_ms").begin_object().key("mean").value(m.mean_ttft_ms).key("p50").value(m.p50_ttft_ms);
  j.key("p99").value(m.p99_ttft_ms).end_object();
  j.key("e2e_ms").begin_object().key("mean").value(m.mean_e2e_ms).key("p50").value(m.p50_e2e_ms);
  j.key("p99").value(m.p99_e2e_ms).end_object();
  j.key("steps").value(result->steps).key("scheduler_calls").value(result->scheduler_calls);
  write_paging_json(j, *paging, counters);
  if (*dbp) {
    j.key("db").begin_object().key("path").value(**dbp).key("run_id").value(run_id).end_object();
  }
  if (json) {
    j.key("per_request").begin_array();
    for (const sched::ServedRequest& r : result->requests) {
      const sched::Request& w = (*workload)[static_cast<size_t>(r.id)];
      j.begin_object().key("id").value(r.id).key("task").value(sched::task_name(r.task));
      j.key("text").value(w.text).key("state").value(sched::request_state_name(r.state));
      if (r.state == sched::RequestState::Finished) {
        j.key("stop").value(engine::stop_reason_name(r.stop));
      }
      if (r.state == sched::RequestState::Rejected) j.key("reject_reason").value(r.reject_reason);
      j.key("max_new_tokens").value(w.max_new_tokens);
      j.key("prompt_tokens").value(r.timing.prompt_tokens);
      j.key("generated_tokens").array(r.generated);
      j.key("arrival_ms").value(r.timing.arrival_ms);
      j.key("slo_ttft_ms").value(r.timing.slo_ttft_ms).key("slo_e2e_ms").value(r.timing.slo_e2e_ms);
      j.key("queue_ms").value(r.metrics.queue_ms).key("ttft_ms").value(r.metrics.ttft_ms);
      j.key("tpot_ms").value(r.metrics.tpot_ms).key("e2e_ms").value(r.metrics.e2e_ms);
      j.key("slo_met").value(r.metrics.slo_met).end_object();
    }
    j.end_array();
  }
  j.end_object();
  if (json) {
    std::printf("%s\n", j.str().c_str());
    return Status::ok();
  }
  std::printf("%5s %-15s %-9s %6s %5s %9s %9s %9s %9s %4s\n", "req", "task", "state", "prompt",
              "gen", "queue_ms", "ttft_ms", "tpot_ms", "e2e_ms", "slo");
  for (const sched::ServedRequest& r : result->requests) {
    std::printf("%5lld %-15s %-9s %6lld %5zu %9.2f %9.2f %9.3f %9.2f %4s\n",
                static_cast<long long>(r.id), std::string(sched::task_name(r.task)).c_str(),
                sched::request_state_name(r.state), static_cast<long long>(r.timing.prompt_tokens),
                r.generated.size(), r.metrics.queue_ms, r.metrics.ttft_ms, r.metrics.tpot_ms,
                r.metrics.e2e_ms, r.metrics.slo_met ? "yes" : "no");
  }
  std::printf(
      "%lld requests (%lld completed, %lld rejected), SLO attainment %.1f%%, %.2f tok/s, "
      "TTFT mean/p50/p99 %.2f/%.2f/%.2f ms, E2E mean/p50/p99 %.2f/%.2f/%.2f ms\n",
      static_cast<long long>(m.requests), static_cast<long long>(m.completed),
      static_cast<long long>(m.rejected), 100.0 * m.slo_attainment, m.throughput_tokens_per_s,
      m.mean_ttft_ms, m.p50_ttft_ms, m.p99_ttft_ms, m.mean_e2e_ms, m.p50_e2e_ms, m.p99_e2e_ms);
  if (*dbp) {
    std::fprintf(stderr, "stored run %lld in %s\n", static_cast<long long>(run_id),
                 dbp->value().c_str());
  }
  return Status::ok();
}

}  // namespace emoe::cli
