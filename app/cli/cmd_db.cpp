// emoe db info|export|import|query: the routing-history database from the command line. Every
// action prints one JSON object (info also has a readable form), so other tools can consume it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "db/routing_queries.h"
#include "db/schema.h"
#include "db/session_export.h"
#include "db/store_summary.h"
#include "db/trace_export.h"
#include "db/trace_import.h"

namespace emoe::cli {

namespace {

constexpr const char* kQueries =
    "sessions, requests, counts, trace, transitions, popularity, hitrate, events, memory, runs, "
    "compare";

// The store to read: --db FILE, else the default history.
Result<std::string> store_path(const ParsedArgs& args) {
  if (args.has("db")) return args.get_string("db");
  return default_db_path();
}

Result<int64_t> required_id(const ParsedArgs& args, std::string_view name) {
  if (!args.has(name)) return args.error("this action needs --" + std::string(name) + " ID");
  return args.get_int(name, 1);
}

Status run_info_action(const ParsedArgs& args, const std::string& path) {
  auto s = db::summarize_store(path);
  if (!s.ok()) return s.status();
  if (args.flag("json")) {
    JsonWriter j;
    j.begin_object().key("path").value(s->path).key("schema_version").value(s->schema_version);
    j.key("program_schema_version").value(int64_t{db::kSchemaVersion});
    j.key("needs_migration").value(s->needs_migration).key("journal_mode").value(s->journal_mode);
    j.key("file_bytes").value(s->file_bytes).key("wal_bytes").value(s->wal_bytes);
    j.key("sessions").value(s->sessions).key("runs").value(s->runs);
    j.key("tables").begin_object();
    for (const db::TableCount& t : s->tables) {
      j.key(t.table);
      if (t.present) {
        j.value(t.rows);
      } else {
        j.null();
      }
    }
    j.end_object().key("models").begin_array();
    for (const db::ModelSummary& m : s->models) {
      j.begin_object().key("id").value(m.id).key("path").value(m.path).key("arch").value(m.arch);
      j.key("size_bytes").value(m.size_bytes).key("sessions").value(m.sessions).end_object();
    }
    j.end_array().end_object();
    std::printf("%s\n", j.str().c_str());
    return Status::ok();
  }
  std::printf("database  %s\n", s->path.c_str());
  std::printf("schema    version %lld%s, journal %s\n", (long long)s->schema_version,
              s->needs_migration ? " (older: migrated on the next write)" : "",
              s->journal_mode.c_str());
  std::printf("size      %s (+ %s WAL)\n", human_bytes(s->file_bytes).c_str(),
              human_bytes(s->wal_bytes).c_str());
  std::printf("sessions  %lld, runs %lld\n", (long long)s->sessions, (long long)s->runs);
  for (const db::TableCount& t : s->tables) {
    if (t.present) {
      std::printf("  %-22s %12lld rows\n", t.table.c_str(), (long long)t.rows);
    } else {
      std::printf("  %-22s %12s\n", t.table.c_str(), "(absent)");
    }
  }
  for (const db::ModelSummary& m : s->models) {
    std::printf("model %lld  %s  %s, %s, %lld sessions\n", (long long)m.id, m.path.c_str(),
                m.arch.c_str(), human_bytes(m.size_bytes).c_str(), (long long)m.sessions);
  }
  return Status::ok();
}

Status run_export_action(const ParsedArgs& args, const std::string& path) {
  auto out = args.get_string("out");
  if (!out.ok() || out->empty()) return args.error("export needs --out PATH");
  auto format = args.get_string("format");
  if (!format.ok()) return format.status();
  const bool run = args.has("run");
  if (run == args.has("session")) return args.error("export needs exactly one of --session, --run");
  auto id = required_id(args, run ? "run" : "session");
  if (!id.ok()) return id.status();
  auto store = db::open_store(path, db::OpenOptions{.read_only = true});
  if (!store.ok()) return store.status();
  db::ExportOptions opts;
  opts.cancel = &interrupt_flag();
  Result<db::ExportSummary> r = invalid_argument("");
  if (*format == "jsonl") {
    if (run) return args.error("--format jsonl exports a session's routing; use --session");
    r = db::export_trace_jsonl(**store, *id, *out, opts);
  } else if (*format == "json" || *format == "csv") {
    const db::ExportFormat f = *format == "json" ? db::ExportFormat::Json : db::ExportFormat::Csv;
    r = run ? db::export_run(**store, *id, f, *out, opts)
            : db::export_session(**store, *id, f, *out, opts);
  } else {
    return args.error("--format must be json, csv or jsonl, not '" + *format + "'");
  }
  if (!r.ok()) return r.status();
  JsonWriter j;
  j.begin_object().key("out").value(*out).key("format").value(*format);
  j.key("requests").value(r->requests).key("tokens").value(r->tokens);
  j.key("routing").value(r->routing).key("expert_events").value(r->expert_events);
  j.key("memory_samples").value(r->memory_samples).end_object();
  std::printf("%s\n", j.str().c_str());
  return Status::ok();
}

Status run_import_action(const ParsedArgs& args, const std::string& path) {
  if (args.positionals().size() < 2)
    return args.error("import needs a trace file: emoe db import TRACE.jsonl");
  const std::string& trace = args.positionals()[1];
  db::ImportOptions opts;
  opts.cancel = &interrupt_flag();
  if (args.has("model-name")) {
    auto name = args.get_string("model-name");
    if (!name.ok()) return name.status();
    opts.model_name = *name;
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  auto r = db::import_trace_jsonl(path, trace, opts);
  if (!r.ok()) return r.status();
  JsonWriter j;
  j.begin_object().key("db").value(path).key("session_id").value(r->session_id);
  j.key("requests").value(r->requests).key("records").value(r->records).end_object();
  std::printf("%s\n", j.str().c_str());
  return Status::ok();
}

Result<db::RoutingFilter> filter_from(const ParsedArgs& args) {
  db::RoutingFilter f;
  if (args.has("session")) {
    auto v = args.get_int("session", 1);
    if (!v.ok()) return v.status();
    f.session_id = *v;
  }
  if (args.has("request")) {
    auto v = args.get_int("request", 1);
    if (!v.ok()) return v.status();
    f.request_id = *v;
  }
  if (args.has("task")) {
    auto v = args.get_string("task");
    if (!v.ok()) return v.status();
    f.task = *v;
  }
  if (args.has("phase")) {
    auto v = args.get_string("phase");
    if (!v.ok()) return v.status();
    if (*v != "prefill" && *v != "decode") return args.error("--phase must be prefill or decode");
    f.phase = *v == "prefill" ? 0 : 1;
  }
  if (args.has("from-us")) {
    auto v = args.get_int("from-us");
    if (!v.ok()) return v.status();
    f.from_us = *v;
  }
  if (args.has("to-us")) {
    auto v = args.get_int("to-us");
    if (!v.ok()) return v.status();
    f.to_us = *v;
  }
  return f;
}

void write_optional(JsonWriter& j, std::string_view key, const std::optional<int64_t>& v) {
  j.key(key);
  if (v) {
    j.value(*v);
  } else {
    j.null();
  }
}

void write_scalar(JsonWriter& j, const db::JsonScalar& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    j.null();
  } else if (const bool* b = std::get_if<bool>(&v)) {
    j.value(*b);
  } else if (const double* d = std::get_if<double>(&v)) {
    j.value(*d);
  } else {
    j.value(std::get<std::string>(v));
  }
}

// --runs 3,5,8
Result<std::vector<int64_t>> run_id_list(const ParsedArgs& args) {
  if (!args.has("runs")) return args.error("compare needs --runs ID,ID,...");
  auto text = args.get_string("runs");
  if (!text.ok()) return text.status();
  std::vector<int64_t> ids;
  std::stringstream in(*text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1) {
      return args.error("--runs expects comma-separated run ids, got '" + *text + "'");
    }
    ids.push_back(v);
  }
  if (ids.empty()) return args.error("--runs expects at least one run id");
  return ids;
}

// The shape of a count matrix: one past the largest layer and expert ids seen.
std::pair<int32_t, int32_t> count_shape(const std::vector<db::ExpertCount>& counts) {
  int32_t n_layer = 0, n_expert = 0;
  for (const db::ExpertCount& c : counts) {
    n_layer = std::max(n_layer, c.layer + 1);
    n_expert = std::max(n_expert, c.expert + 1);
  }
  return {n_layer, n_expert};
}

Status run_query_action(const ParsedArgs& args, const std::string& path) {
  if (args.positionals().size() < 2) {
    return args.error(std::string("query needs what to query: ") + kQueries);
  }
  const std::string& what = args.positionals()[1];
  auto filter = filter_from(args);
  if (!filter.ok()) return filter.status();
  auto q = db::RoutingQueries::open(path);
  if (!q.ok()) return q.status();
  db::RoutingQueries& Q = **q;
  auto choice_name = args.get_choice("choice", {"used", "router"});
  if (!choice_name.ok()) return choice_name.status();
  const db::ExpertChoice choice =
      *choice_name == "router" ? db::ExpertChoice::Router : db::ExpertChoice::Used;
  JsonWriter j;
  j.begin_object().key("query").value(what);
  if (what == "sessions") {
    auto r = Q.list_sessions();
    if (!r.ok()) return r.status();
    j.key("sessions").begin_array();
    for (const db::SessionInfo& s : *r) {
      j.begin_object().key("id").value(s.id).key("model").value(s.model_path);
      j.key("started_at_us").value(s.started_at_us).key("requests").value(s.request_count);
      j.key("tokens").value(s.token_count).key("config").value(s.config_json).end_object();
    }
    j.end_array();
  } else if (what == "requests") {
    auto id = required_id(args, "session");
    if (!id.ok()) return id.status();
    auto r = Q.session_requests(*id);
    if (!r.ok()) return r.status();
    j.key("requests").begin_array();
    for (const db::RequestInfo& x : *r) {
      j.begin_object().key("id").value(x.id).key("task").value(x.task.value_or(""));
      j.key("text").value(x.text.value_or(""));
      write_optional(j, "arrival_us", x.arrival_us);
      write_optional(j, "first_token_us", x.first_token_us);
      write_optional(j, "finish_us", x.finish_us);
      write_optional(j, "prompt_tokens", x.prompt_tokens);
      write_optional(j, "generated_tokens", x.generated_tokens);
      j.end_object();
    }
    j.end_array();
  } else if (what == "counts") {
    auto r = Q.expert_counts(*filter, choice);
    if (!r.ok()) return r.status();
    j.key("choice").value(choice == db::ExpertChoice::Used ? "used" : "router");
    j.key("counts").begin_array();
    for (const db::ExpertCount& c : *r) {
      j.begin_object().key("layer").value(c.layer).key("expert").value(c.expert);
      j.key("count").value(c.count).end_object();
    }
    j.end_array();
  } else if (what == "trace") {
    auto id = required_id(args, "request");
    if (!id.ok()) return id.status();
    auto r = Q.request_trace(*id);
    if (!r.ok()) return r.status();
    j.key("steps").begin_array();
    for (const db::TraceStep& s : *r) {
      j.begin_object().key("pos").value(s.pos).key("layer").value(s.layer);
      j.key("token").value(s.token_id).key("phase").value(s.phase);
      j.key("router_experts").array(s.router_experts).key("router_weights").array(s.router_weights);
      j.key("used_experts").array(s.used_experts).key("used_weights").array(s.used_weights);
      j.end_object();
    }
    j.end_array();
  } else if (what == "transitions" || what == "popularity") {
    auto all = Q.expert_counts(*filter);
    if (!all.ok()) return all.status();
    const auto [n_layer, n_expert] = count_shape(*all);
    j.key("n_layer").value(n_layer).key("n_expert").value(n_expert);
    if (what == "transitions") {
      auto layer = args.get_int("layer", 0, std::max(0, n_layer - 2));
      if (!layer.ok()) return layer.status();
      auto r = Q.transition_matrix(static_cast<int32_t>(*layer), n_expert, *filter);
      if (!r.ok()) return r.status();
      j.key("layer").value(*layer).key("counts").array(r->counts);
    } else {
      auto r = Q.task_popularity(n_layer, n_expert, *filter);
      if (!r.ok()) return r.status();
      j.key("tasks").begin_array();
      for (const db::TaskPopularity& t : *r) {
        j.begin_object().key("task").value(t.task).key("tokens").value(t.tokens);
        j.key("counts").array(t.counts).end_object();
      }
      j.end_array();
    }
  } else if (what == "hitrate") {
    auto id = required_id(args, "session");
    if (!id.ok()) return id.status();
    auto bucket_ms = args.get_float("bucket-ms", 0.001, 1e9);
    if (!bucket_ms.ok()) return bucket_ms.status();
    auto r = Q.hit_rate_over_time(*id, static_cast<int64_t>(*bucket_ms * 1000));
    if (!r.ok()) return r.status();
    j.key("points").begin_array();
    for (const db::HitRatePoint& p : *r) {
      j.begin_object().key("layer").value(p.layer).key("bucket_start_us").value(p.bucket_start_us);
      j.key("hits").value(p.hits).key("misses").value(p.misses).end_object();
    }
    j.end_array();
  } else if (what == "events") {
    auto id = required_id(args, "session");
    if (!id.ok()) return id.status();
    auto r = Q.expert_events(*id);
    if (!r.ok()) return r.status();
    j.key("events").begin_array();
    for (const db::ExpertEventRow& e : *r) {
      j.begin_object().key("time_us").value(e.time_us).key("kind").value(e.kind);
      j.key("layer").value(e.layer).key("expert").value(e.expert).key("bytes").value(e.bytes);
      j.key("micros").value(e.micros).end_object();
    }
    j.end_array();
  } else if (what == "memory") {
    auto id = required_id(args, "session");
    if (!id.ok()) return id.status();
    auto r = Q.memory_samples(*id);
    if (!r.ok()) return r.status();
    j.key("samples").begin_array();
    for (const db::MemorySampleRow& m : *r) {
      j.begin_object().key("time_us").value(m.time_us).key("dense").value(m.dense);
      j.key("experts").value(m.experts).key("budget").value(m.budget).key("kv").value(m.kv);
      j.end_object();
    }
    j.end_array();
  } else if (what == "runs") {
    auto r = Q.list_runs();
    if (!r.ok()) return r.status();
    j.key("runs").begin_array();
    for (const db::RunInfo& x : *r) {
      j.begin_object().key("id").value(x.id).key("name").value(x.name);
      write_optional(j, "session_id", x.session_id);
      j.end_object();
    }
    j.end_array();
  } else if (what == "compare") {
    auto ids = run_id_list(args);
    if (!ids.ok()) return ids.status();
    auto r = Q.compare_runs(*ids);
    if (!r.ok()) return r.status();
    j.key("runs").array(r->run_ids).key("names").begin_array();
    for (const std::string& n : r->run_names) j.value(n);
    j.end_array().key("metrics").begin_array();
    for (size_t m = 0; m < r->metrics.size(); ++m) {
      j.begin_object().key("metric").value(r->metrics[m]).key("values").begin_array();
      for (const auto& v : r->values[m]) {
        if (v) {
          write_scalar(j, *v);
        } else {
          j.null();
        }
      }
      j.end_array().end_object();
    }
    j.end_array();
  } else {
    return args.error("unknown query '" + what + "'; one of: " + kQueries);
  }
  j.end_object();
  std::printf("%s\n", j.str().c_str());
  return Status::ok();
}

}  // namespace

void declare_db(CommandSpec& spec) {
  spec.positional("action", "info | export | import | query")
      .positional("arg", std::string("import: the JSONL trace; query: one of ") + kQueries, false)
      .option("db", 0, "FILE", "the database (default: $XDG_DATA_HOME/emoe-studio/history.db)")
      .flag("json", "info: print JSON")
      .option("session", 0, "ID", "export/query: the session")
      .option("run", 0, "ID", "export: the run")
      .option("format", 0, "FMT", "export: json, csv (a directory) or jsonl (a routing trace)",
              "json")
      .option("out", 'o', "PATH", "export: the file or directory to write")
      .option("model-name", 0, "NAME", "import: the model name to record (default: the header's)")
      .option("request", 0, "ID", "query: the request")
      .option("task", 0, "TASK", "query: only requests of this task")
      .option("phase", 0, "PHASE", "query: prefill or decode")
      .option("from-us", 0, "T", "query: tokens routed at or after T (microseconds)")
      .option("to-us", 0, "T", "query: tokens routed before T (microseconds)")
      .option("choice", 0, "WHICH", "counts: used (default) or router experts", "used")
      .option("layer", 0, "L", "transitions: layer L -> L+1", "0")
      .option("bucket-ms", 0, "MS", "hitrate: bucket width", "100")
      .option("runs", 0, "ID,ID", "compare: the runs");
}

Status run_db(const ParsedArgs& args) {
  auto path = store_path(args);
  if (!path.ok()) return path.status();
  const std::string& action = args.positionals().at(0);
  if (action == "info") return run_info_action(args, *path);
  if (action == "export") return run_export_action(args, *path);
  if (action == "import") return run_import_action(args, *path);
  if (action == "query") return run_query_action(args, *path);
  return args.error("unknown action '" + action + "'; one of: info, export, import, query");
}

}  // namespace emoe::cli
