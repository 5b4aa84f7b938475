#include "db/routing_queries.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <system_error>

#include "db/database.h"
#include "core/common/json_reader.h"
#include "db/schema.h"

namespace emoe::db {

namespace {

// The WHERE conditions of a RoutingFilter over aliases q (requests) and t (tokens), built from
// the set fields only so that SQLite can use the indexes of the ones that are set (see
// docs/DATABASE.md). `where` is empty or starts with " AND".
struct FilterSql {
  std::string where;
  bool needs_tokens = false;  // the phase or time filter reads t
  std::vector<std::variant<int64_t, std::string>> args;
};

FilterSql filter_sql(const RoutingFilter& f) {
  FilterSql s;
  auto add = [&](const char* cond, std::variant<int64_t, std::string> v) {
    s.where += " AND ";
    s.where += cond;
    s.args.push_back(std::move(v));
  };
  if (f.session_id) add("q.session_id = ?", *f.session_id);
  if (f.request_id) add("q.id = ?", *f.request_id);
  if (f.task && f.task->empty()) {
    s.where += " AND (q.task IS NULL OR q.task = '')";
  } else if (f.task) {
    add("q.task = ?", *f.task);  // plain equality: requests_session_task serves it
  }
  if (f.phase) add("t.phase = ?", int64_t{*f.phase});
  if (f.from_us) add("t.time_us >= ?", *f.from_us);
  if (f.to_us) add("t.time_us < ?", *f.to_us);
  s.needs_tokens = f.phase || f.from_us || f.to_us;
  return s;
}

// Binds the filter's arguments to ?first, ?first+1, ... (anonymous ? are numbered in order).
Status bind_filter(Statement& st, const FilterSql& f, int first) {
  int i = first;
  for (const auto& a : f.args) {
    if (const auto* n = std::get_if<int64_t>(&a)) {
      EMOE_RETURN_IF_ERROR(st.bind_int(i++, *n));
    } else {
      EMOE_RETURN_IF_ERROR(st.bind_text(i++, std::get<std::string>(a)));
    }
  }
  return Status::ok();
}

// FROM clause for routing rows r with their request q and, when a filter needs it, their token
// row t (an inner join: a position without a token row cannot pass a phase or time filter).
std::string routing_from(const FilterSql& f) {
  std::string s = " FROM routing r JOIN requests q ON q.id = r.request_id";
  if (f.needs_tokens) s += " JOIN tokens t ON t.request_id = r.request_id AND t.pos = r.pos";
  return s;
}

template <typename T>
std::optional<T> opt_int(const Statement& st, int col) {
  if (st.column_is_null(col)) return std::nullopt;
  return static_cast<T>(st.column_int(col));
}
std::optional<double> opt_double(const Statement& st, int col) {
  if (st.column_is_null(col)) return std::nullopt;
  return st.column_double(col);
}
std::optional<std::string> opt_text(const Statement& st, int col) {
  if (st.column_is_null(col)) return std::nullopt;
  return st.column_text(col);
}

// Steps through all rows, calling row() for each; stops at the first error.
template <typename F>
Status for_each_row(Statement& st, F&& row) {
  while (true) {
    auto r = st.step();
    if (!r.ok()) return r.status();
    if (!*r) return Status::ok();
    EMOE_RETURN_IF_ERROR(row());
  }
}

// One read transaction for a query made of several statements, so that all of them see the
// same snapshot (a writer may commit between two statements otherwise). Declared before the
// statements, it ends after they are finalized.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Database& db) : db_(db), status_(db.exec("BEGIN DEFERRED")) {}
  ~ReadSnapshot() {
    if (status_.is_ok()) (void)db_.exec("COMMIT");
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  const Status& status() const { return status_; }

 private:
  Database& db_;
  Status status_;
};

// --- flat JSON object parser --------------------------------------------------------------

}  // namespace

Result<std::vector<std::pair<std::string, JsonScalar>>> parse_flat_json_object(
    std::string_view text) {
  JsonError error;
  auto doc = parse_json(text, {}, &error);
  if (!doc.ok()) {
    return invalid_argument("malformed JSON at byte " + std::to_string(error.offset) + ": " +
                            error.problem);
  }
  if (!doc->is_object()) return invalid_argument("malformed JSON at byte 0: expected an object");
  std::vector<std::pair<std::string, JsonScalar>> out;
  for (const auto& [key, v] : doc->members()) {
    switch (v.type()) {
      case JsonValue::Type::Null:
        out.emplace_back(key, std::monostate{});
        break;
      case JsonValue::Type::Bool:
        out.emplace_back(key, v.as_bool());
        break;
      case JsonValue::Type::Number:
        out.emplace_back(key, v.as_double());
        break;
      case JsonValue::Type::String:
        out.emplace_back(key, v.as_string());
        break;
      default:
        return invalid_argument("value of \"" + key + "\" is not a scalar (a " +
                                JsonValue::type_name(v.type()) + "); expected a flat object");
    }
  }
  return out;
}

std::string json_scalar_to_string(const JsonScalar& v) {
  if (std::holds_alternative<std::monostate>(v)) return "null";
  if (const bool* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const double* d = std::get_if<double>(&v)) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, *d);
    return std::string(buf, r.ptr);
  }
  return std::get<std::string>(v);
}

RoutingQueries::RoutingQueries(std::unique_ptr<Database> db) : db_(std::move(db)) {}
RoutingQueries::~RoutingQueries() = default;

Result<std::unique_ptr<RoutingQueries>> RoutingQueries::open(const std::string& path) {
  OpenOptions o;
  o.read_only = true;
  auto db = open_store(path, o);
  if (!db.ok()) return db.status();
  return std::unique_ptr<RoutingQueries>(new RoutingQueries(std::move(*db)));
}

Status RoutingQueries::require_session(int64_t session_id) {
  auto st = db_->prepare("SELECT 1 FROM sessions WHERE id = ?1");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, session_id));
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return not_found("session " + std::to_string(session_id) + " is not in '" + db_->path() + "'");
  }
  return Status::ok();
}

Result<std::vector<ExpertCount>> RoutingQueries::expert_counts(const RoutingFilter& filter,
                                                               ExpertChoice choice) {
  const std::string col = choice == ExpertChoice::Used ? "r.used_expert" : "r.router_expert";
  const FilterSql f = filter_sql(filter);
  const std::string sql = "SELECT r.layer, " + col + ", count(*)" + routing_from(f) + " WHERE " +
                          col + " IS NOT NULL" + f.where + " GROUP BY 1, 2 ORDER BY 1, 2";
  auto st = db_->prepare(sql);
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(bind_filter(*st, f, 1));
  std::vector<ExpertCount> out;
  EMOE_RETURN_IF_ERROR(for_each_row(*st, [&] {
    out.push_back({static_cast<int32_t>(st->column_int(0)), static_cast<int32_t>(st->column_int(1)),
                   st->column_int(2)});
    return Status::ok();
  }));
  return out;
}

Result<std::vector<TraceStep>> RoutingQueries::request_trace(int64_t request_id) {
  ReadSnapshot snapshot(*db_);
  EMOE_RETURN_IF_ERROR(snapshot.status());
  auto exists = db_->prepare("SELECT 1 FROM requests WHERE id = ?1");
  if (!exists.ok()) return exists.status();
  EMOE_RETURN_IF_ERROR(exists->bind_int(1, request_id));
  auto found = exists->step();
  if (!found.ok()) return found.status();
  if (!*found) {
    return not_found("request " + std::to_string(request_id) + " is not in '" + db_->path() + "'");
  }
  auto st = db_->prepare(
      "SELECT r.pos, r.layer, r.rank, r.router_expert, r.router_weight, r.used_expert,"
      " r.used_weight, t.token_id, t.phase FROM routing r"
      " LEFT JOIN tokens t ON t.request_id = r.request_id AND t.pos = r.pos"
      " WHERE r.request_id = ?1 ORDER BY r.pos, r.layer, r.rank");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, request_id));
  std::vector<TraceStep> out;
  EMOE_RETURN_IF_ERROR(for_each_row(*st, [&] {
    const auto pos = static_cast<int32_t>(st->column_int(0));
    const auto layer = static_cast<int32_t>(st->column_int(1));
    if (out.empty() || out.back().pos != pos || out.back().layer != layer) {
      TraceStep s;
      s.pos = pos;
      s.layer = layer;
      if (!st->column_is_null(7)) {
        s.token_id = static_cast<int32_t>(st->column_int(7));
        s.phase = static_cast<int32_t>(st->column_int(8));
      }
      out.push_back(std::move(s));
    }
    TraceStep& s = out.back();
    if (!st->column_is_null(3)) {
      s.router_experts.push_back(static_cast<int32_t>(st->column_int(3)));
      s.router_weights.push_back(static_cast<float>(st->column_double(4)));
    }
    if (!st->column_is_null(5)) {
      s.used_experts.push_back(static_cast<int32_t>(st->column_int(5)));
      s.used_weights.push_back(static_cast<float>(st->column_double(6)));
    }
    return Status::ok();
  }));
  return out;
}

Result<TransitionMatrix> RoutingQueries::transition_matrix(int32_t layer, int32_t n_expert,
                                                           const RoutingFilter& filter) {
  if (n_expert <= 0) return invalid_argument("transition_matrix: n_expert must be positive");
  const FilterSql f = filter_sql(filter);
  const std::string sql =
      "SELECT r.used_expert, n.used_expert, count(*)" + routing_from(f) +
      " JOIN routing n ON n.request_id = r.request_id AND n.pos = r.pos AND n.layer = r.layer + 1"
      " WHERE r.layer = ?1 AND r.used_expert IS NOT NULL AND n.used_expert IS NOT NULL" +
      f.where + " GROUP BY 1, 2";
  auto st = db_->prepare(sql);
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, layer));
  EMOE_RETURN_IF_ERROR(bind_filter(*st, f, 2));
  TransitionMatrix m;
  m.n_expert = n_expert;
  m.counts.assign(static_cast<size_t>(n_expert) * n_expert, 0);
  EMOE_RETURN_IF_ERROR(for_each_row(*st, [&]() -> Status {
    const int64_t a = st->column_int(0), b = st->column_int(1);
    if (a < 0 || b < 0 || a >= n_expert || b >= n_expert) {
      return corrupt("routing at layer " + std::to_string(layer) + " names expert " +
                     std::to_string(a >= n_expert || a < 0 ? a : b) + ", outside [0, " +
                     std::to_string(n_expert) + ")");
    }
    m.counts[static_cast<size_t>(a * n_expert + b)] += st->column_int(2);
    return Status::ok();
  }));
  return m;
}

Result<std::vector<TaskPopularity>> RoutingQueries::task_popularity(int32_t n_layer,
                                                                    int32_t n_expert,
                                                                    const RoutingFilter& filter) {
  if (n_layer <= 0 || n_expert <= 0) {
    return invalid_argument("task_popularity: n_layer and n_expert must be positive");
  }
  ReadSnapshot snapshot(*db_);
  EMOE_RETURN_IF_ERROR(snapshot.status());
  const FilterSql f = filter_sql(filter);
  std::map<std::string, TaskPopularity> by_task;
  auto entry = [&](const std::string& task) -> TaskPopularity& {
    TaskPopularity& p = by_task[task];
    if (p.counts.empty()) {
      p.task = task;
      p.counts.assign(static_cast<size_t>(n_layer) * n_expert, 0);
    }
    return p;
  };
  {
    const std::string sql = "SELECT coalesce(q.task, ''), r.layer, r.used_expert, count(*)" +
                            routing_from(f) + " WHERE r.used_expert IS NOT NULL" + f.where +
                            " GROUP BY 1, 2, 3";
    auto st = db_->prepare(sql);
    if (!st.ok()) return st.status();
    EMOE_RETURN_IF_ERROR(bind_filter(*st, f, 1));
    EMOE_RETURN_IF_ERROR(for_each_row(*st, [&]() -> Status {
      const int64_t layer = st->column_int(1), expert = st->column_int(2);
      if (layer < 0 || layer >= n_layer || expert < 0 || expert >= n_expert) {
        return corrupt("routing names layer " + std::to_string(layer) + " expert " +
                       std::to_string(expert) + ", outside [0, " + std::to_string(n_layer) +
                       ") x [0, " + std::to_string(n_expert) + ")");
      }
      entry(st->column_text(0)).counts[static_cast<size_t>(layer * n_expert + expert)] +=
          st->column_int(3);
      return Status::ok();
    }));
  }
  {
    const std::string sql =
        "SELECT coalesce(q.task, ''), count(*) FROM tokens t JOIN requests q ON q.id = "
        "t.request_id WHERE 1" +
        f.where + " GROUP BY 1";
    auto st = db_->prepare(sql);
    if (!st.ok()) return st.status();
    EMOE_RETURN_IF_ERROR(bind_filter(*st, f, 1));
    EMOE_RETURN_IF_ERROR(for_each_row(*st, [&] {
      entry(st->column_text(0)).tokens += st->column_int(1);
      return Status::ok();
    }));
  }
  std::vector<TaskPopularity> out;
  out.reserve(by_task.size());
  for (auto& [task, p] : by_task) out.push_back(std::move(p));
  return out;
}

Result<std::vector<HitRatePoint>> RoutingQueries::hit_rate_over_time(int64_t session_id,
                                                                     int64_t bucket_us) {
  if (bucket_us <= 0) return invalid_argument("hit_rate_over_time: bucket_us must be positive");
  ReadSnapshot snapshot(*db_);
  EMOE_RETURN_IF_ERROR(snapshot.status());
  EMOE_RETURN_IF_ERROR(require_session(session_id));
  auto st = db_->prepare(
      "SELECT e.layer, ((e.time_us - s.t0) / ?2) * ?2 AS b, sum(e.kind = 3), sum(e.kind = 4)"
      " FROM expert_events e,"
      " (SELECT min(time_us) AS t0 FROM expert_events WHERE session_id = ?1) s"
      " WHERE e.session_id = ?1 AND e.kind IN (3, 4) GROUP BY 1, 2 ORDER BY 1, 2");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, session_id));
  EMOE_RETURN_IF_ERROR(st->bind_int(2, bucket_us));
  std::vector<HitRatePoint> out;
  EMOE_RETURN_IF_ERROR(for_each_row(*st, [&] {
    out.push_back({static_cast<int32_t>(st->column_int(0)), st->column_int(1), st->column_int(2),
                   st->column_int(3)});
    return Status::ok();
  }));
  return out;
}

Result<std::vector<SessionInfo>> RoutingQueries::list_sessions() {
  auto st = db_->prepare(
      "SELECT s.id, s.model_id, m.path, s.started_at, s.config,"
      " (SELECT count(*) FROM requests q WHERE q.session_id = s.id),"
      " (SELECT count(*) FROM tokens t JOIN requests q ON q.id = t.request_id"
      "  WHERE q.session_id = s.id)"
      " FROM sessions s LEFT JOIN models m ON m.id = s.model_id ORDER BY s.id");
  if (!st.ok()) return st.status();
  std::vector<SessionInfo> out;
  EMOE_RETURN_IF_ERROR(for_each_row(*st, [&] {
    SessionInfo s;
    s.id = st->column_int(0);
    s.model_id = opt_int<int64_t>(*st, 1);
    s.model_path = st->column_text(2);
    s.started_at_us = st->column_int(3);
    s.config_json = st->column_text(4);
    s.request_count = st->column_int(5);
    s.token_count = st->column_int(6);
    out.push_back(std::move(s));
    return Status::ok();
  }));
  return out;
}

Result<std::vector<RequestInfo>> RoutingQueries::session_requests(int64_t session_id) {
  ReadSnapshot snapshot(*db_);
  EMOE_RETURN_IF_ERROR(snapshot.status());
  EMOE_RETURN_IF_ERROR(require_session(session_id));
  auto st = db_->prepare(
      "SELECT id, session_id, task, text, slo_ttft_ms, slo_e2e_ms, arrival_us, first_token_us,"
      " finish_us, prompt_tokens, generated_tokens FROM requests WHERE session_id = ?1"
      " ORDER BY id");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, session_id));
  std::vector<RequestInfo> out;
  EMOE_RETURN_IF_ERROR(for_each_row(*st, [&] {
    RequestInfo r;
    r.id = st->column_int(0);
    r.session_id = st->column_int(1);
    r.task = opt_text(*st, 2);
    r.text = opt_text(*st, 3);
    r.slo_ttft_ms = opt_double(*st, 4);
    r.slo_e2e_ms = opt_double(*st, 5);
    r.arrival_us = opt_int<int64_t>(*st, 6);
    r.first_token_us = opt_int<int64_t>(*st, 7);
    r.finish_us = opt_int<int64_t>(*st, 8);
    r.prompt_tokens = opt_int<int64_t>(*st, 9);
    r.generated_tokens = opt_int<int64_t>(*st, 10);
    out.push_back(std::move(r));
    return Status::ok();
  }));
  return out;
}

Result<std::vector<MemorySampleRow>> RoutingQueries::memory_samples(int64_t session_id) {
  ReadSnapshot snapshot(*db_);
  EMOE_RETURN_IF_ERROR(snapshot.status());
  EMOE_RETURN_IF_ERROR(require_session(session_id));
  auto st = db_->prepare(
      "SELECT id, time_us, dense, experts, budget, kv, scratch FROM memory_samples"
      " WHERE session_id = ?1 ORDER BY time_us, id");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, session_id));
  std::vector<MemorySampleRow> out;
  EMOE_RETURN_IF_ERROR(for_each_row(*st, [&] {
    out.push_back({st->column_int(0), st->column_int(1), st->column_int(2), st->column_int(3),
                   st->column_int(4), st->column_int(5), st->column_int(6)});
    return Status::ok();
  }));
  return out;
}

Result<std::vector<ExpertEventRow>> RoutingQueries::expert_events(int64_t session_id,
                                                                  std::optional<int32_t> kind) {
  if (kind && (*kind < 0 || *kind > 4)) {
    return invalid_argument("expert_events: kind " + std::to_string(*kind) +
                            " is not an expert event kind (0..4)");
  }
  ReadSnapshot snapshot(*db_);
  EMOE_RETURN_IF_ERROR(snapshot.status());
  EMOE_RETURN_IF_ERROR(require_session(session_id));
  // Two statements rather than "?2 IS NULL OR kind = ?2", so that a kind uses its index.
  auto st = db_->prepare(std::string("SELECT id, time_us, kind, layer, expert, bytes, micros"
                                     " FROM expert_events WHERE session_id = ?1") +
                         (kind ? " AND kind = ?2" : "") + " ORDER BY time_us, id");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, session_id));
  if (kind) EMOE_RETURN_IF_ERROR(st->bind_int(2, *kind));
  std::vector<ExpertEventRow> out;
  EMOE_RETURN_IF_ERROR(for_each_row(*st, [&] {
    out.push_back({st->column_int(0), st->column_int(1), static_cast<int32_t>(st->column_int(2)),
                   static_cast<int32_t>(st->column_int(3)), static_cast<int32_t>(st->column_int(4)),
                   st->column_int(5), st->column_double(6)});
    return Status::ok();
  }));
  return out;
}

Result<std::vector<RunInfo>> RoutingQueries::list_runs() {
  auto st = db_->prepare(
      "SELECT id, name, session_id, created_at_us, config, metrics FROM runs ORDER BY id");
  if (!st.ok()) return st.status();
  std::vector<RunInfo> out;
  EMOE_RETURN_IF_ERROR(for_each_row(*st, [&] {
    RunInfo r;
    r.id = st->column_int(0);
    r.name = st->column_text(1);
    r.session_id = opt_int<int64_t>(*st, 2);
    r.created_at_us = opt_int<int64_t>(*st, 3);
    r.config_json = opt_text(*st, 4);
    r.metrics_json = opt_text(*st, 5);
    out.push_back(std::move(r));
    return Status::ok();
  }));
  return out;
}

Result<RunComparison> RoutingQueries::compare_runs(const std::vector<int64_t>& run_ids) {
  ReadSnapshot snapshot(*db_);
  EMOE_RETURN_IF_ERROR(snapshot.status());
  auto st = db_->prepare("SELECT name, metrics FROM runs WHERE id = ?1");
  if (!st.ok()) return st.status();
  RunComparison out;
  std::vector<std::map<std::string, JsonScalar>> per_run;
  std::set<std::string> names;
  for (const int64_t id : run_ids) {
    EMOE_RETURN_IF_ERROR(st->bind_int(1, id));
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return not_found("run " + std::to_string(id) + " is not in '" + db_->path() + "'");
    out.run_ids.push_back(id);
    out.run_names.push_back(st->column_text(0));
    std::map<std::string, JsonScalar> metrics;
    if (!st->column_is_null(1)) {
      auto parsed = parse_flat_json_object(st->column_text(1));
      if (!parsed.ok()) {
        return corrupt("metrics of run " + std::to_string(id) + " in '" + db_->path() +
                       "': " + parsed.status().message());
      }
      for (auto& [k, v] : *parsed) {
        names.insert(k);
        metrics.emplace(k, std::move(v));
      }
    }
    per_run.push_back(std::move(metrics));
    st->reset();
  }
  out.metrics.assign(names.begin(), names.end());
  for (const std::string& name : out.metrics) {
    std::vector<std::optional<JsonScalar>> row;
    for (const auto& m : per_run) {
      auto it = m.find(name);
      row.push_back(it == m.end() ? std::nullopt : std::optional<JsonScalar>(it->second));
    }
    out.values.push_back(std::move(row));
  }
  return out;
}

}  // namespace emoe::db
