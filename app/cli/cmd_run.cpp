// emoe run: a workload through eMoE's loop (core/predict/emoe_runner.h): periodic prediction,
// task-aware planning within the expert budget, fallback (or exact) routing, optional accuracy
// against the full model and recording into the history database.
#include <cstdio>
#include <memory>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/cli_paging.h"
#include "app/cli/cli_profiles.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/engine/inference_session.h"
#include "core/predict/emoe_runner.h"
#include "core/sched/builtin_workloads.h"
#include "db/recording_session.h"

namespace emoe::cli {

namespace {

Result<std::vector<sched::Request>> load_requests(const ParsedArgs& args) {
  const int sources = args.has("workload") + args.has("task-prompts") + args.has("demo-workload");
  if (sources != 1) {
    return args.error("give exactly one of --workload FILE, --task-prompts DIR, --demo-workload N");
  }
  if (args.has("workload")) {
    auto path = args.get_string("workload");
    if (!path.ok()) return path.status();
    return sched::load_workload_jsonl(*path);
  }
  auto seed = args.get_uint64("seed");
  if (!seed.ok()) return seed.status();
  sched::WorkloadOptions wo;
  wo.seed = *seed;
  sched::TaskPrompts prompts;
  if (args.has("task-prompts")) {
    auto dir = args.get_string("task-prompts");
    if (!dir.ok()) return dir.status();
    auto p = sched::load_task_prompts(*dir);
    if (!p.ok()) return p.status();
    prompts = std::move(p).value();
    auto n = args.get_int("requests", 1, 1000000);
    if (!n.ok()) return n.status();
    wo.n_requests = *n;
  } else {
    auto p = sched::builtin_task_prompts();
    if (!p.ok()) return p.status();
    prompts = std::move(p).value();
    auto n = args.get_int("demo-workload", 1, 1000000);
    if (!n.ok()) return n.status();
    wo.n_requests = *n;
  }
  for (int t = 0; t < sched::kTaskCount; ++t) {
    if (prompts[static_cast<size_t>(t)].empty()) wo.task_weights[static_cast<size_t>(t)] = 0;
  }
  return sched::generate_workload(prompts, wo);
}

}  // namespace

void declare_run(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file (with experts)")
      .option("workload", 0, "FILE", "requests, one JSON object a line (resources/workloads)")
      .option("task-prompts", 0, "DIR", "draw --requests requests from DIR/<task>.txt")
      .option("demo-workload", 0, "N", "draw N requests from the built-in task prompts")
      .option("keywords", 0, "FILE",
              "task keyword profiles for requests without a task (default: the built-in "
              "resources/task_keywords.txt)")
      .option("requests", 0, "N", "with --task-prompts: requests drawn", "40")
      .option("seed", 0, "N", "workload draw and predictor seed", "1")
      .option("predictor", 0, "NAME",
              "emoe-a, emoe-l, frequency, markov, popularity, activation-matrix, random, oracle, "
              "or none (the tier follows --policy)",
              "emoe-a")
      .option("interval", 0, "P", "run the predictor every P prompts (1..200)", "40")
      .option("budget", 0, "X", "device expert budget: 60%, 512M, 4e (experts per layer), bytes",
              "60%")
      .option("routing", 0, "MODE", "fallback (eMoE) or exact (loads missing experts)", "fallback")
      .option("policy", 0, "P", "with --predictor none: lru or lfu", "lru")
      .option("task-aware", 0, "on|off",
              "on: per-task predictions and stored sensitivity; off: one prediction, s = 1", "on")
      .option("mode", 0, "M", "invoker mode with --task-aware on: per-task or single", "per-task")
      .option("max-new-tokens", 0, "N", "cap on each request's generated tokens", "16")
      .option("profile-requests", 0, "N",
              "cold start: the first N requests run with every expert to train the predictor "
              "(not measured)",
              "0")
      .flag("accuracy", "measure top-1 agreement and KL against the model with every expert")
      .option("db", 0, "FILE",
              "record the run (routing history) into this SQLite database; default: "
              "$XDG_DATA_HOME/emoe-studio/history.db")
      .flag("no-db", "do not record the run (and load no stored sensitivity)")
      .flag("json", "print one JSON object");
  declare_engine_options(spec);
}

Status run_run(const ParsedArgs& args) {
  predict::RunnerOptions o;
  {
    auto p = args.get_string("predictor");
    if (!p.ok()) return p.status();
    o.predictor = *p;
    const auto& names = predict::predictor_names();
    if (o.predictor != "none" &&
        std::find(names.begin(), names.end(), o.predictor) == names.end()) {
      std::string list;
      for (const auto& n : names) list += n + ", ";
      return args.error("--predictor: unknown predictor '" + o.predictor + "' (" + list + "none)");
    }
  }
  auto interval = args.get_int("interval", 1, 200);
  if (!interval.ok()) return interval.status();
  o.interval = static_cast<int32_t>(*interval);
  auto routing = args.get_choice("routing", {"fallback", "exact"});
  if (!routing.ok()) return routing.status();
  o.mode = *engine::routing_mode_from_name(*routing);
  auto policy = args.get_choice("policy", {"lru", "lfu"});
  if (!policy.ok()) return policy.status();
  o.policy = *policy == "lfu" ? experts::EvictionPolicy::Lfu : experts::EvictionPolicy::Lru;
  auto aware = args.get_choice("task-aware", {"on", "off"});
  if (!aware.ok()) return aware.status();
  o.task_aware = *aware == "on";
  auto mode = args.get_choice("mode", {"per-task", "single"});
  if (!mode.ok()) return mode.status();
  o.invoker_mode = *mode == "single" ? predict::InvokerMode::Single : predict::InvokerMode::PerTask;
  auto cap = args.get_int("max-new-tokens", 1, 4096);
  if (!cap.ok()) return cap.status();
  auto prof = args.get_int("profile-requests", 0, 1000000);
  if (!prof.ok()) return prof.status();
  o.profile_requests = static_cast<int32_t>(*prof);
  o.accuracy = args.flag("accuracy");
  auto seed = args.get_uint64("seed");
  if (!seed.ok()) return seed.status();
  o.seed = *seed;
  auto eopts = engine_options(args);
  if (!eopts.ok()) return eopts.status();
  o.n_threads = eopts->n_threads;
  o.n_ctx = eopts->n_ctx;
  o.device = eopts->device;
  auto dbp = db_path(args);
  if (!dbp.ok()) return dbp.status();
  auto workload = load_requests(args);
  if (!workload.ok()) return workload.status();
  if (static_cast<int64_t>(workload->size()) <= *prof) {
    return args.error("--profile-requests " + std::to_string(*prof) + " leaves none of the " +
                      std::to_string(workload->size()) + " requests to measure");
  }
  // Requests without a task label are classified by keyword profiles (--keywords FILE, in the
  // format of resources/task_keywords.txt; default: the built-in copy of that file).
  sched::TaskClassifier classifier = sched::TaskClassifier::builtin();
  if (args.has("keywords")) {
    auto file = args.get_string("keywords");
    if (!file.ok()) return file.status();
    auto loaded = sched::TaskClassifier::load(*file);
    if (!loaded.ok()) return loaded.status();
    classifier = std::move(*loaded);
  }
  const std::vector<predict::RunnerRequest> requests =
      predict::runner_requests(*workload, classifier, static_cast<int32_t>(*cap));
  const auto limits = sched::default_task_limits();
  for (const sched::TaskType t : sched::kAllTasks) {
    o.default_output_tokens[std::string(sched::task_name(t))] =
        std::min<double>(limits[static_cast<size_t>(sched::task_index(t))].max_new_tokens,
                         static_cast<double>(*cap));
  }

  auto model = load_model(args);
  if (!model.ok()) return model.status();
  if (!(*model)->config().is_moe()) return args.error("the model has no experts");
  engine::InferenceSession session(std::move(model).value());
  {
    auto text = args.get_string("budget");
    if (!text.ok()) return text.status();
    auto bytes = parse_budget(*text, *session.store());
    if (!bytes.ok()) return args.error("--budget: " + bytes.status().message());
    o.budget_bytes = *bytes;
  }
  if (o.task_aware && *dbp) {
    auto s = load_sensitivity_profiles(**dbp, session.model());
    if (!s.ok()) return s.status().with_context("loading sensitivity profiles");
    o.sensitivity = std::move(s).value();
  }

  // Recording: a session row, one request row per measured request.
  std::unique_ptr<db::RecordingSession> rec;
  std::vector<int64_t> request_ids;
  if (*dbp) {
    JsonWriter cfg;
    cfg.begin_object().key("command").value("run").key("predictor").value(o.predictor);
    cfg.key("interval").value(o.interval).key("routing").value(*routing);
    cfg.key("budget_bytes").value(*o.budget_bytes).key("task_aware").value(o.task_aware);
    cfg.key("threads").value(o.n_threads).end_object();
    auto r = db::RecordingSession::open(**dbp, db::describe_model(session.model()), cfg.str());
    if (!r.ok()) return r.status().with_context("recording to '" + **dbp + "'");
    rec = std::move(r).value();
    o.hooks.run_observers.push_back(&rec->recorder());
    session.add_expert_observer(&rec->recorder());
    o.hooks.begin = [&](int32_t seq, size_t, const predict::RunnerRequest& r) -> Status {
      db::RequestStart st;
      st.task = r.task;
      st.text = r.text;
      auto id = rec->begin_request(seq, st);
      if (!id.ok()) return id.status();
      request_ids.push_back(*id);
      return Status::ok();
    };
    o.hooks.first_token = [&](size_t) {
      if (!request_ids.empty()) {
        (void)rec->first_token(request_ids.back(), db::RoutingRecorder::now_us());
      }
    };
    o.hooks.finish = [&](int32_t seq, size_t, int64_t prompt, int64_t gen) -> Status {
      return rec->finish_request(seq, request_ids.back(), prompt, gen);
    };
  }
  const bool json = args.flag("json");
  o.hooks.progress = [&](size_t done, size_t total) {
    if (!json) std::fprintf(stderr, "\r  request %zu/%zu", done, total);
    return !interrupt_flag().load();
  };

  auto report = predict::run_emoe(session, requests, o);
  if (!json) std::fprintf(stderr, "\n");
  Status rec_status;
  if (rec) {
    session.remove_expert_observer(&rec->recorder());
    rec_status = rec->close();
  }
  if (!report.ok()) return report.status();
  if (!rec_status.is_ok()) return rec_status.with_context("recording to '" + **dbp + "'");

  const predict::RunnerSummary& s = report->summary;
  JsonWriter j;
  j.begin_object().key("model").value(session.model().file().path());
  j.key("budget").value(*args.get_string("budget"));
  predict::write_summary_json(j, s);
  j.key("sensitivity_profiles").value(static_cast<int64_t>(o.sensitivity.size()));
  if (rec) {
    j.key("db").begin_object().key("path").value(rec->path());
    j.key("session_id").value(rec->session_id()).key("requests").array(request_ids).end_object();
  }
  if (json) {
    j.key("per_request").begin_array();
    for (const auto& r : report->requests) predict::write_request_json(j, r);
    j.end_array();
  }
  j.end_object();
  if (json) {
    std::printf("%s\n", j.str().c_str());
    return Status::ok();
  }
  std::printf("%5s %-15s %6s %5s %3s %8s %6s %6s %9s %8s\n", "req", "task", "prompt", "gen", "inv",
              "hit", "subst", "loads", "load_ms", "accuracy");
  for (const auto& r : report->requests) {
    char acc[32] = "-";
    if (r.accuracy_measured) std::snprintf(acc, sizeof acc, "%.4f", r.agreement());
    std::printf("%5zu %-15s %6lld %5lld %3s %8.4f %6llu %6llu %9.3f %8s\n", r.index, r.task.c_str(),
                static_cast<long long>(r.prompt_tokens), static_cast<long long>(r.generated_tokens),
                r.invoked ? "yes" : "", r.hit_rate(),
                static_cast<unsigned long long>(r.substitutions),
                static_cast<unsigned long long>(r.loads), r.load_seconds * 1e3, acc);
  }
  std::printf("%s\n", j.str().c_str());
  if (rec) {
    std::fprintf(stderr, "recorded session %lld in %s\n", static_cast<long long>(rec->session_id()),
                 rec->path().c_str());
  }
  return Status::ok();
}

}  // namespace emoe::cli
