#include "app/cli/cli_db.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "app/cli/cli_paging.h"
#include "core/experts/expert_cache.h"
#include "core/gguf/gguf_file.h"
#include "db/database.h"
#include "db/routing_recorder.h"

namespace emoe::cli {

namespace fs = std::filesystem;

void declare_db_options(CommandSpec& spec, bool opt_in) {
  spec.option("db", 0, "FILE",
              std::string(opt_in ? "with --record: " : "") +
                  "record the run (routing history) into this SQLite database; default: "
                  "$XDG_DATA_HOME/emoe-studio/history.db")
      .flag("no-db", "do not record the run")
      .option("task", 0, "TASK", "task label of the recorded requests", "cli");
}

Result<std::string> default_db_path() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  fs::path dir;
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && *xdg && fs::path(xdg).is_absolute()) {
    dir = fs::path(xdg);
  } else {
    const char* home = std::getenv("HOME");
    if (!home || !*home) {
      return invalid_argument(
          "no data directory for the run history (neither XDG_DATA_HOME nor HOME is set); "
          "give --db FILE or --no-db");
    }
    dir = fs::path(home) / ".local" / "share";
  }
  return (dir / "emoe-studio" / "history.db").string();
}

Result<std::optional<std::string>> db_path(const ParsedArgs& args) {
  if (args.flag("no-db")) {
    if (args.has("db")) return args.error("--db and --no-db contradict each other");
    return std::optional<std::string>();
  }
  if (args.has("db")) {
    auto p = args.get_string("db");
    if (!p.ok()) return p.status();
    if (p->empty()) return args.error("--db expects a file name");
    // Absolute, so the path reported at the end names the file whatever the working directory.
    std::error_code ec;
    const fs::path abs = fs::absolute(*p, ec);
    return std::optional<std::string>(ec ? *p : abs.lexically_normal().string());
  }
  auto p = default_db_path();
  if (!p.ok()) return args.error(p.status().message());
  return std::optional<std::string>(*p);
}

std::string session_config_json(const SessionConfig& c) {
  JsonWriter j;
  j.begin_object().key("command").value(c.command);
  if (c.engine) {
    j.key("threads").value(int64_t{c.engine->n_threads}).key("ctx").value(c.engine->n_ctx);
    j.key("kv_type").value(c.engine->kv_type == kernels::TensorType::F16 ? "f16" : "f32");
  }
  const bool tier = c.paging && c.paging->cache;
  j.key("routing").value(
      engine::routing_mode_name(c.paging ? c.paging->access.mode : engine::RoutingMode::All));
  if (tier) {
    j.key("budget_bytes").value(c.paging->cache->budget_bytes());
    j.key("policy").value(c.policy);
  } else {
    j.key("budget_bytes").null().key("policy").null();
  }
  if (c.sampling) {
    const engine::SamplerParams& s = *c.sampling;
    j.key("sampling").begin_object();
    j.key("temperature").value(double{s.temperature}).key("top_k").value(int64_t{s.top_k});
    j.key("top_p").value(double{s.top_p}).key("repeat_penalty").value(double{s.repeat_penalty});
    j.key("repeat_last_n").value(int64_t{s.repeat_last_n}).key("seed").value(s.seed);
    j.end_object();
  }
  if (c.extra) c.extra(j);
  j.end_object();
  return j.str();
}

SessionConfig session_config(const ParsedArgs& args, std::string command) {
  SessionConfig c;
  c.command = std::move(command);
  auto policy = args.get_string("policy");
  if (policy.ok()) c.policy = *policy;
  return c;
}

namespace {

Status prepare_directory(const std::string& path) {
  const fs::path parent = fs::absolute(fs::path(path)).parent_path();
  std::error_code ec;
  if (fs::is_directory(parent, ec)) return Status::ok();
  fs::create_directories(parent, ec);
  if (ec) {
    return io_error("cannot create the directory '" + parent.string() + "': " + ec.message());
  }
  return Status::ok();
}

Status recording_error(const std::string& path, const Status& s) {
  return Status(s.code(), "cannot record to '" + path + "': " + s.message() +
                              " (--no-db runs without recording)");
}

}  // namespace

Result<std::unique_ptr<CliRecording>> CliRecording::open(const ParsedArgs& args,
                                                         const model::Model& model,
                                                         const std::string& config_json) {
  auto path = db_path(args);
  if (!path.ok()) return path.status();
  if (!*path) return std::unique_ptr<CliRecording>();
  auto task = args.get_string("task");
  if (!task.ok()) return task.status();
  if (task->empty()) return args.error("--task expects a label");
  Status dir = prepare_directory(**path);
  if (!dir.is_ok()) return recording_error(**path, dir);
  auto session = db::RecordingSession::open(**path, db::describe_model(model), config_json);
  if (!session.ok()) return recording_error(**path, session.status());
  std::unique_ptr<CliRecording> r(new CliRecording());
  r->session_ = std::move(session).value();
  r->task_ = *task;
  return r;
}

CliRecording::~CliRecording() { detach(); }

void CliRecording::attach(engine::Engine& engine, experts::ExpertCache* cache) {
  detach();
  engine_ = &engine;
  cache_ = cache;
  engine_->add_observer(&session_->recorder());
  if (cache_) cache_->add_observer(&session_->recorder());
}

void CliRecording::detach() {
  if (engine_) engine_->remove_observer(&session_->recorder());
  if (cache_) cache_->remove_observer(&session_->recorder());
  engine_ = nullptr;
  cache_ = nullptr;
}

Result<int64_t> CliRecording::begin_request(int32_t seq, const std::string& text) {
  db::RequestStart start;
  start.task = task_;
  start.text = text;
  auto id = session_->begin_request(seq, start);
  if (!id.ok()) return recording_error(session_->path(), id.status());
  request_ids_.push_back(*id);
  return id;
}

Status CliRecording::first_token(int64_t request_id) {
  return session_->first_token(request_id, db::RoutingRecorder::now_us());
}

Status CliRecording::finish_request(int32_t seq, int64_t request_id, int64_t prompt_tokens,
                                    int64_t generated_tokens) {
  return session_->finish_request(seq, request_id, prompt_tokens, generated_tokens);
}

Status CliRecording::close() {
  if (closed_) return Status::ok();
  closed_ = true;
  detach();
  Status s = session_->close();
  if (!s.is_ok()) return s;
  // What was committed, not what was pushed: the figure a later query will see.
  db::OpenOptions o;
  o.create = false;
  auto conn = db::Database::open(session_->path(), o);
  if (!conn.ok()) return conn.status();
  auto n = (*conn)->query_int(
      "SELECT count(*) FROM routing WHERE request_id IN (SELECT id FROM requests WHERE "
      "session_id=" +
      std::to_string(session_->session_id()) + ")");
  if (!n.ok()) return n.status();
  routing_rows_ = *n;
  return Status::ok();
}

const std::string& CliRecording::path() const { return session_->path(); }
int64_t CliRecording::session_id() const { return session_->session_id(); }

void CliRecording::write_json(JsonWriter& j) const {
  j.key("db").begin_object().key("path").value(path()).key("session_id").value(session_id());
  j.key("requests").array(request_ids_).key("routing_rows").value(routing_rows_).end_object();
}

void CliRecording::print_summary() const {
  std::fprintf(stderr, "recorded session %lld in %s (%lld routing rows)\n",
               static_cast<long long>(session_id()), path().c_str(),
               static_cast<long long>(routing_rows_));
}

Status close_recording(CliRecording* rec, Status work) {
  if (!rec) return work;
  Status s = rec->close();
  if (!work.is_ok()) return work;
  if (!s.is_ok())
    return Status(s.code(), "recording to '" + rec->path() + "' failed: " + s.message());
  return Status::ok();
}

}  // namespace emoe::cli
