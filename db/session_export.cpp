#include "db/session_export.h"

#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "core/common/json_writer.h"
#include "db/database.h"
#include "db/json_reader.h"

namespace emoe::db {

namespace {

namespace fs = std::filesystem;

// ---- numbers and fields -------------------------------------------------------------------

// Shortest text that reads back to the same double; to_chars is locale-independent.
void append_double(std::string& o, double d) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  o.append(buf, r.ptr);
}

// Gate weights are float32 values stored as REAL: written as the shortest text that reads
// back to the same float (0.7, not 0.699999988079071). Other doubles keep full precision.
void append_weight(std::string& o, double d) {
  if (!(std::fabs(d) <= std::numeric_limits<float>::max())) return append_double(o, d);
  const float f = static_cast<float>(d);
  if (static_cast<double>(f) != d) return append_double(o, d);
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  o.append(buf, r.ptr);
}

void append_int(std::string& o, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  o.append(buf, r.ptr);
}

enum class Kind { Int, Real, Weight, Text, Json };

struct Column {
  std::string name;
  Kind kind;
};

// One cell of the current row. NULL (and a non-finite real) is null in JSON and an empty
// field in CSV; a JSON column is embedded as JSON when it parses, else kept as a string.
void append_cell(std::string& o, const Statement& st, int col, Kind kind, bool json) {
  const double d = kind == Kind::Real || kind == Kind::Weight ? st.column_double(col) : 0.0;
  if (st.column_is_null(col) || !std::isfinite(d)) {
    if (json) o += "null";
    return;
  }
  if (kind == Kind::Int) {
    append_int(o, st.column_int(col));
  } else if (kind == Kind::Weight) {
    append_weight(o, d);
  } else if (kind == Kind::Real) {
    append_double(o, d);
  } else if (!json) {
    o += csv_field(st.column_text(col));
  } else {
    const std::string text = st.column_text(col);
    o += kind == Kind::Json && is_valid_json(text) ? text : JsonWriter::escape(text);
  }
}

// ---- output files -------------------------------------------------------------------------

std::string errno_text(int e) { return std::strerror(e); }

std::string temp_suffix() {
  static std::atomic<uint64_t> counter{0};
  const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
  return ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(t % 1000000007) + "-" +
         std::to_string(counter.fetch_add(1));
}

// A file written through a large buffer; the first failure is kept and reported by close().
class OutFile {
 public:
  OutFile() = default;
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  ~OutFile() {
    if (f_) std::fclose(f_);
  }

  Status open(const std::string& path) {
    path_ = path;
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) return io_error("cannot create '" + path + "': " + errno_text(errno));
    return Status::ok();
  }

  void write(std::string_view s) {
    buf_.append(s);
    if (buf_.size() >= kFlushBytes) drain();
  }

  Status close() {
    drain();
    if (error_.is_ok() && std::fflush(f_) != 0) {
      error_ = io_error("cannot write '" + path_ + "': " + errno_text(errno));
    }
    // Durable before the rename makes it visible.
    if (error_.is_ok() && ::fsync(::fileno(f_)) != 0) {
      error_ = io_error("cannot sync '" + path_ + "': " + errno_text(errno));
    }
    if (std::fclose(f_) != 0 && error_.is_ok()) {
      error_ = io_error("cannot close '" + path_ + "': " + errno_text(errno));
    }
    f_ = nullptr;
    return error_;
  }

  const Status& status() const { return error_; }

 private:
  static constexpr size_t kFlushBytes = size_t{1} << 18;
  void drain() {
    if (!buf_.empty() && error_.is_ok() &&
        std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
      error_ = io_error("cannot write '" + path_ + "': " + errno_text(errno));
    }
    buf_.clear();
  }
  std::FILE* f_ = nullptr;
  std::string path_;
  std::string buf_;
  Status error_;
};

// The destination's temporary sibling; removed unless commit() renamed it into place.
class TempPath {
 public:
  explicit TempPath(std::string dest) : dest_(std::move(dest)), tmp_(dest_ + temp_suffix()) {}
  ~TempPath() {
    if (!committed_) {
      std::error_code ec;
      fs::remove_all(tmp_, ec);
    }
  }
  const std::string& path() const { return tmp_; }

  Status commit_file() {
    std::error_code ec;
    fs::rename(tmp_, dest_, ec);
    if (ec) return io_error("cannot rename '" + tmp_ + "' to '" + dest_ + "': " + ec.message());
    committed_ = true;
    return Status::ok();
  }

  // A directory cannot be renamed over a non-empty one: an existing export is moved aside,
  // the new one moved in, then the old one removed.
  Status commit_dir(const std::vector<std::string>& replaceable_names) {
    std::error_code ec;
    const fs::path dest(dest_);
    std::optional<std::string> aside;
    if (fs::exists(dest, ec)) {
      if (!fs::is_directory(dest, ec)) {
        return io_error("'" + dest_ + "' exists and is not a directory");
      }
      for (const auto& entry : fs::directory_iterator(dest, ec)) {
        const std::string name = entry.path().filename().string();
        bool ours = false;
        for (const auto& n : replaceable_names) ours = ours || n == name;
        if (!ours || !entry.is_regular_file()) {
          return io_error("'" + dest_ + "' exists and holds '" + name +
                          "', which is not an export file; choose an empty or new directory");
        }
      }
      if (ec) return io_error("cannot list '" + dest_ + "': " + ec.message());
      aside = dest_ + temp_suffix();
      fs::rename(dest, *aside, ec);
      if (ec) return io_error("cannot move '" + dest_ + "' aside: " + ec.message());
    }
    fs::rename(tmp_, dest, ec);
    if (ec) {
      std::error_code ignored;
      if (aside) fs::rename(*aside, dest, ignored);
      return io_error("cannot rename '" + tmp_ + "' to '" + dest_ + "': " + ec.message());
    }
    committed_ = true;
    if (aside) fs::remove_all(*aside, ec);
    return Status::ok();
  }

 private:
  std::string dest_;
  std::string tmp_;
  bool committed_ = false;
};

// ---- tables ---------------------------------------------------------------------------------

// key: which id ?1 binds. Session-scoped tables bind the session id; per-request ones are run
// once per request of the session (in id order), which keeps every query a primary-key range
// scan that streams instead of a join that SQLite might sort in full first.
enum class Key { Session, Model, Run, Request };

struct Table {
  const char* name;
  bool single;  // at most one row: a JSON object (or null) instead of an array
  Key key;
  // "column:kind ..." with kind i (integer), r (real), w (float32 weight), t (text), j (JSON);
  // the names are the store's column names.
  const char* columns;
  const char* from;  // the rest of the SELECT
  int64_t ExportSummary::*counter;
};

const Table kRunTable{"run",
                      true,
                      Key::Run,
                      "id:i name:t session_id:i created_at_us:i config:j metrics:j",
                      "FROM runs WHERE id=?1",
                      nullptr};

const Table kSessionTables[] = {
    {"session", true, Key::Session, "id:i model_id:i started_at:i config:j",
     "FROM sessions WHERE id=?1", nullptr},
    {"model", true, Key::Model, "id:i path:t sha256:t size_bytes:i arch:t hparams:j",
     "FROM models WHERE id=?1", nullptr},
    {"requests", false, Key::Session,
     "id:i session_id:i task:t text:t slo_ttft_ms:r slo_e2e_ms:r arrival_us:i first_token_us:i "
     "finish_us:i prompt_tokens:i generated_tokens:i",
     "FROM requests WHERE session_id=?1 ORDER BY id", &ExportSummary::requests},
    {"tokens", false, Key::Request, "request_id:i pos:i token_id:i phase:i time_us:i",
     "FROM tokens WHERE request_id=?1 ORDER BY pos", &ExportSummary::tokens},
    {"routing", false, Key::Request,
     "request_id:i pos:i layer:i rank:i router_expert:i router_weight:w used_expert:i "
     "used_weight:w",
     "FROM routing WHERE request_id=?1 ORDER BY pos, layer, rank", &ExportSummary::routing},
    {"expert_events", false, Key::Session,
     "id:i session_id:i time_us:i kind:i layer:i expert:i bytes:i micros:r",
     "FROM expert_events WHERE session_id=?1 ORDER BY time_us, id", &ExportSummary::expert_events},
    {"memory_samples", false, Key::Session,
     "id:i session_id:i time_us:i dense:i experts:i budget:i kv:i scratch:i",
     "FROM memory_samples WHERE session_id=?1 ORDER BY time_us, id",
     &ExportSummary::memory_samples},
};

// A table's columns, parsed from its spec once per export, and its SELECT.
struct Columns {
  std::vector<Column> list;
  std::string sql;
};

Columns columns_of(const Table& t) {
  Columns c;
  std::string_view spec = t.columns;
  c.sql = "SELECT ";
  while (!spec.empty()) {
    const size_t end = std::min(spec.find(' '), spec.size());
    const std::string_view item = spec.substr(0, end);
    const size_t colon = item.find(':');
    static constexpr std::pair<char, Kind> kKinds[] = {{'i', Kind::Int},
                                                       {'r', Kind::Real},
                                                       {'w', Kind::Weight},
                                                       {'t', Kind::Text},
                                                       {'j', Kind::Json}};
    Kind kind = Kind::Text;
    for (const auto& [ch, k] : kKinds) {
      if (item[colon + 1] == ch) kind = k;
    }
    c.list.push_back({std::string(item.substr(0, colon)), kind});
    if (c.list.size() > 1) c.sql += ", ";
    c.sql += c.list.back().name;
    spec.remove_prefix(std::min(end + 1, spec.size()));
  }
  c.sql += ' ';
  c.sql += t.from;
  return c;
}

std::vector<std::string> csv_file_names() {
  std::vector<std::string> names{std::string(kRunTable.name) + ".csv"};
  for (const Table& t : kSessionTables) names.push_back(std::string(t.name) + ".csv");
  return names;
}

// Where rows go: one JSON document, or one CSV file per table.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status begin_table(const Table& t, const Columns& c) = 0;
  virtual Status row(const Table& t, const Columns& c, const Statement& st) = 0;
  virtual Status end_table(const Table& t) = 0;
};

class JsonSink : public Sink {
 public:
  explicit JsonSink(OutFile& out) : out_(out) {}
  Status begin_table(const Table& t, const Columns&) override {
    line_.clear();
    line_ += ",\n";
    line_ += JsonWriter::escape(t.name);
    line_ += ':';
    if (!t.single) line_ += '[';
    out_.write(line_);
    rows_ = 0;
    return out_.status();
  }
  Status row(const Table& t, const Columns& cols, const Statement& st) override {
    line_.clear();
    if (!t.single) line_ += rows_ == 0 ? "\n" : ",\n";
    line_ += '{';
    for (size_t c = 0; c < cols.list.size(); ++c) {
      if (c) line_ += ',';
      line_ += JsonWriter::escape(cols.list[c].name);
      line_ += ':';
      append_cell(line_, st, static_cast<int>(c), cols.list[c].kind, true);
    }
    line_ += '}';
    out_.write(line_);
    ++rows_;
    return out_.status();
  }
  Status end_table(const Table& t) override {
    if (t.single) {
      if (rows_ == 0) out_.write("null");
    } else {
      out_.write(rows_ == 0 ? "]" : "\n]");
    }
    return out_.status();
  }

 private:
  OutFile& out_;
  std::string line_;
  int64_t rows_ = 0;
};

class CsvSink : public Sink {
 public:
  explicit CsvSink(std::string dir) : dir_(std::move(dir)) {}
  Status begin_table(const Table& t, const Columns& cols) override {
    file_ = std::make_unique<OutFile>();
    EMOE_RETURN_IF_ERROR(file_->open(dir_ + "/" + t.name + ".csv"));
    line_.clear();
    for (size_t c = 0; c < cols.list.size(); ++c) {
      if (c) line_ += ',';
      line_ += cols.list[c].name;
    }
    line_ += "\r\n";  // RFC 4180 line ends
    file_->write(line_);
    return file_->status();
  }
  Status row(const Table&, const Columns& cols, const Statement& st) override {
    line_.clear();
    for (size_t c = 0; c < cols.list.size(); ++c) {
      if (c) line_ += ',';
      append_cell(line_, st, static_cast<int>(c), cols.list[c].kind, false);
    }
    line_ += "\r\n";
    file_->write(line_);
    return file_->status();
  }
  Status end_table(const Table&) override {
    Status s = file_->close();
    file_.reset();
    return s;
  }

 private:
  std::string dir_;
  std::unique_ptr<OutFile> file_;
  std::string line_;
};

// Counts rows, reports progress, honours cancel.
class Progress {
 public:
  explicit Progress(const ExportOptions& o) : o_(o) {}
  Status tick() {
    ++rows_;
    if (o_.progress && o_.progress_every > 0 && rows_ % o_.progress_every == 0) {
      o_.progress(rows_);
    }
    if (o_.cancel && o_.cancel->load(std::memory_order_relaxed)) {
      return cancelled("export cancelled after " + std::to_string(rows_) + " rows");
    }
    return Status::ok();
  }
  Status check_cancel() const {
    if (o_.cancel && o_.cancel->load(std::memory_order_relaxed)) {
      return cancelled("export cancelled");
    }
    return Status::ok();
  }
  void finish() const {
    if (o_.progress) o_.progress(rows_);
  }

 private:
  const ExportOptions& o_;
  int64_t rows_ = 0;
};

// A read transaction, so that every table comes from one snapshot; none when the caller
// already holds a transaction on this connection.
class ReadTransaction {
 public:
  explicit ReadTransaction(Database& db) : db_(db) {}
  Status begin() {
    if (sqlite3_get_autocommit(db_.handle()) == 0) return Status::ok();
    EMOE_RETURN_IF_ERROR(db_.exec("BEGIN"));
    open_ = true;
    return Status::ok();
  }
  ~ReadTransaction() {
    if (open_) (void)db_.exec("COMMIT");
  }

 private:
  Database& db_;
  bool open_ = false;
};

struct Ids {
  std::optional<int64_t> session, model, run;
};

// Streams one table into the sink. ids that are absent give an empty table.
Status export_table(Database& db, const Table& t, const Ids& ids, Sink& sink,
                    ExportSummary& summary, Progress& progress) {
  const Columns cols = columns_of(t);
  EMOE_RETURN_IF_ERROR(sink.begin_table(t, cols));
  std::optional<int64_t> key;
  switch (t.key) {
    case Key::Session:
    case Key::Request:
      key = ids.session;
      break;
    case Key::Model:
      key = ids.model;
      break;
    case Key::Run:
      key = ids.run;
      break;
  }
  if (key) {
    auto st = db.prepare(cols.sql);
    if (!st.ok()) return st.status();
    auto emit_rows = [&](Statement& s) -> Status {
      while (true) {
        auto more = s.step();
        if (!more.ok()) return more.status();
        if (!*more) break;
        EMOE_RETURN_IF_ERROR(sink.row(t, cols, s));
        if (t.counter) ++(summary.*(t.counter));
        EMOE_RETURN_IF_ERROR(progress.tick());
      }
      s.reset();
      return Status::ok();
    };
    if (t.key == Key::Request) {
      auto reqs = db.prepare("SELECT id FROM requests WHERE session_id=?1 ORDER BY id");
      if (!reqs.ok()) return reqs.status();
      EMOE_RETURN_IF_ERROR(reqs->bind_int(1, *key));
      while (true) {
        auto more = reqs->step();
        if (!more.ok()) return more.status();
        if (!*more) break;
        EMOE_RETURN_IF_ERROR(st->bind_int(1, reqs->column_int(0)));
        EMOE_RETURN_IF_ERROR(emit_rows(*st));
      }
    } else {
      EMOE_RETURN_IF_ERROR(st->bind_int(1, *key));
      EMOE_RETURN_IF_ERROR(emit_rows(*st));
    }
  }
  return sink.end_table(t);
}

Result<std::optional<int64_t>> optional_int(Database& db, const std::string& sql, int64_t id,
                                            bool* found) {
  auto st = db.prepare(sql);
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, id));
  auto row = st->step();
  if (!row.ok()) return row.status();
  *found = *row;
  if (!*row || st->column_is_null(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(st->column_int(0));
}

// Resolves what to export: the session (and its model), or the run (and its session, if the
// run names one that exists).
Result<Ids> resolve(Database& db, std::optional<int64_t> session_id,
                    std::optional<int64_t> run_id) {
  Ids ids;
  bool found = false;
  if (run_id) {
    auto s = optional_int(db, "SELECT session_id FROM runs WHERE id=?1", *run_id, &found);
    if (!s.ok()) return s.status();
    if (!found) return not_found("run " + std::to_string(*run_id) + " does not exist");
    ids.run = run_id;
    session_id = *s;
  }
  if (session_id) {
    auto m = optional_int(db, "SELECT model_id FROM sessions WHERE id=?1", *session_id, &found);
    if (!m.ok()) return m.status();
    if (found) {
      ids.session = session_id;
      ids.model = *m;
    } else if (!run_id) {
      return not_found("session " + std::to_string(*session_id) + " does not exist");
    }
    // A run whose session was deleted is still exported, with "session": null.
  }
  return ids;
}

Result<ExportSummary> export_tables(Database& db, std::optional<int64_t> session_id,
                                    std::optional<int64_t> run_id, ExportFormat format,
                                    const std::string& path, const ExportOptions& options) {
  ReadTransaction tx(db);
  EMOE_RETURN_IF_ERROR(tx.begin());
  auto ids = resolve(db, session_id, run_id);
  if (!ids.ok()) return ids.status();
  Progress progress(options);
  ExportSummary summary;
  TempPath tmp(path);
  auto write_all = [&](Sink& sink) -> Status {
    if (run_id) {
      EMOE_RETURN_IF_ERROR(export_table(db, kRunTable, *ids, sink, summary, progress));
    }
    for (const Table& t : kSessionTables) {
      EMOE_RETURN_IF_ERROR(export_table(db, t, *ids, sink, summary, progress));
    }
    return progress.check_cancel();
  };
  if (format == ExportFormat::Json) {
    OutFile out;
    EMOE_RETURN_IF_ERROR(out.open(tmp.path()));
    out.write(run_id ? "{\"format\":\"emoe-run\",\"version\":1"
                     : "{\"format\":\"emoe-session\",\"version\":1");
    JsonSink sink(out);
    EMOE_RETURN_IF_ERROR(write_all(sink));
    out.write("}\n");
    EMOE_RETURN_IF_ERROR(out.close());
    EMOE_RETURN_IF_ERROR(tmp.commit_file());
  } else {
    std::error_code ec;
    if (!fs::create_directory(tmp.path(), ec)) {
      return io_error("cannot create directory '" + tmp.path() +
                      "': " + (ec ? ec.message() : std::string("it already exists")));
    }
    CsvSink sink(tmp.path());
    EMOE_RETURN_IF_ERROR(write_all(sink));
    EMOE_RETURN_IF_ERROR(tmp.commit_dir(csv_file_names()));
  }
  progress.finish();
  return summary;
}

// ---- JSONL trace --------------------------------------------------------------------------

struct TraceHeader {
  std::string model;
  std::optional<int64_t> n_layer, n_expert, top_k;
};

TraceHeader trace_header(Database& db, int64_t session_id, std::optional<int64_t> model_id) {
  TraceHeader h;
  h.model = "session " + std::to_string(session_id);
  if (!model_id) return h;
  auto st = db.prepare("SELECT path, hparams FROM models WHERE id=?1");
  if (!st.ok() || !st->bind_int(1, *model_id).is_ok()) return h;
  auto row = st->step();
  if (!row.ok() || !*row) return h;
  if (!st->column_is_null(0)) h.model = st->column_text(0);
  auto hp = parse_json(st->column_text(1));
  if (!hp.ok()) return h;
  auto get = [&](const char* key) -> std::optional<int64_t> {
    const JsonValue* v = hp->find(key);
    if (v && v->is_integer() && v->as_int() > 0) return v->as_int();
    return std::nullopt;
  };
  h.n_layer = get("n_layer");
  h.n_expert = get("n_expert");
  h.top_k = get("n_expert_used");
  return h;
}

// One (pos, layer) of a request while its rank rows are collected.
struct TraceRecord {
  int64_t pos = -1, layer = -1;
  std::vector<int64_t> experts, used;
  std::vector<double> weights, used_weights;
  bool weights_complete = true, used_weights_complete = true;
  std::optional<int64_t> token, phase, time_us;
};

void append_int_array(std::string& o, const std::vector<int64_t>& v) {
  o += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) o += ',';
    append_int(o, v[i]);
  }
  o += ']';
}

void append_weight_array(std::string& o, const std::vector<double>& v) {
  o += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) o += ',';
    append_weight(o, v[i]);
  }
  o += ']';
}

}  // namespace

std::string csv_field(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string o = "\"";
  for (char c : value) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}

Result<ExportSummary> export_session(Database& db, int64_t session_id, ExportFormat format,
                                     const std::string& path, const ExportOptions& options) {
  auto r = export_tables(db, session_id, std::nullopt, format, path, options);
  if (!r.ok()) {
    return r.status().with_context("exporting session " + std::to_string(session_id) + " to '" +
                                   path + "'");
  }
  return r;
}

Result<ExportSummary> export_run(Database& db, int64_t run_id, ExportFormat format,
                                 const std::string& path, const ExportOptions& options) {
  auto r = export_tables(db, std::nullopt, run_id, format, path, options);
  if (!r.ok()) {
    return r.status().with_context("exporting run " + std::to_string(run_id) + " to '" + path +
                                   "'");
  }
  return r;
}

Result<ExportSummary> export_trace_jsonl(Database& db, int64_t session_id, const std::string& path,
                                         const ExportOptions& options) {
  auto body = [&]() -> Result<ExportSummary> {
    ReadTransaction tx(db);
    EMOE_RETURN_IF_ERROR(tx.begin());
    auto ids = resolve(db, session_id, std::nullopt);
    if (!ids.ok()) return ids.status();
    const TraceHeader h = trace_header(db, session_id, ids->model);
    TempPath tmp(path);
    OutFile out;
    EMOE_RETURN_IF_ERROR(out.open(tmp.path()));
    std::string line = "{\"format\":\"emoe-trace\",\"version\":1,\"model\":";
    line += JsonWriter::escape(h.model);
    const std::pair<const char*, std::optional<int64_t>> dims[] = {
        {"n_layer", h.n_layer}, {"n_expert", h.n_expert}, {"top_k", h.top_k}};
    for (const auto& [name, v] : dims) {
      if (!v) continue;
      line += ",\"";
      line += name;
      line += "\":";
      append_int(line, *v);
    }
    line += "}\n";
    out.write(line);

    Progress progress(options);
    ExportSummary summary;
    auto reqs = db.prepare("SELECT id, task, text FROM requests WHERE session_id=?1 ORDER BY id");
    if (!reqs.ok()) return reqs.status();
    auto rows = db.prepare(
        "SELECT r.pos, r.layer, r.router_expert, r.router_weight, r.used_expert, r.used_weight, "
        "t.token_id, t.phase, t.time_us FROM routing r LEFT JOIN tokens t "
        "ON t.request_id=r.request_id AND t.pos=r.pos WHERE r.request_id=?1 "
        "ORDER BY r.pos, r.layer, r.rank");
    if (!rows.ok()) return rows.status();
    EMOE_RETURN_IF_ERROR(reqs->bind_int(1, session_id));
    while (true) {
      auto more = reqs->step();
      if (!more.ok()) return more.status();
      if (!*more) break;
      const int64_t request_id = reqs->column_int(0);
      std::optional<std::string> task, text;
      if (!reqs->column_is_null(1)) task = reqs->column_text(1);
      if (!reqs->column_is_null(2)) text = reqs->column_text(2);
      ++summary.requests;
      bool first = true;
      TraceRecord rec;
      auto flush = [&]() -> Status {
        if (rec.pos < 0) return Status::ok();
        line.clear();
        line += "{\"request\":";
        append_int(line, request_id);
        line += ",\"pos\":";
        append_int(line, rec.pos);
        line += ",\"layer\":";
        append_int(line, rec.layer);
        line += ",\"experts\":";
        append_int_array(line, rec.experts);
        const bool weights = rec.weights_complete && !rec.experts.empty();
        if (weights) {
          line += ",\"weights\":";
          append_weight_array(line, rec.weights);
        }
        // used_* only where they differ from the router's choice (fallback routing).
        const bool used_weights = rec.used_weights_complete && !rec.used.empty();
        const bool same = rec.used == rec.experts && used_weights == weights &&
                          (!weights || rec.used_weights == rec.weights);
        if (!same) {
          line += ",\"used_experts\":";
          append_int_array(line, rec.used);
          if (used_weights) {
            line += ",\"used_weights\":";
            append_weight_array(line, rec.used_weights);
          }
        }
        if (rec.token && *rec.token >= 0) {
          line += ",\"token\":";
          append_int(line, *rec.token);
        }
        if (rec.phase && (*rec.phase == 0 || *rec.phase == 1)) {
          line += *rec.phase == 1 ? ",\"phase\":\"decode\"" : ",\"phase\":\"prefill\"";
        }
        if (rec.time_us) {
          line += ",\"time_us\":";
          append_int(line, *rec.time_us);
        }
        if (first) {
          if (task) line += ",\"task\":" + JsonWriter::escape(*task);
          if (text) line += ",\"text\":" + JsonWriter::escape(*text);
          first = false;
        }
        line += "}\n";
        out.write(line);
        ++summary.routing;
        rec = TraceRecord{};
        return progress.tick();
      };
      EMOE_RETURN_IF_ERROR(rows->bind_int(1, request_id));
      while (true) {
        auto r = rows->step();
        if (!r.ok()) return r.status();
        if (!*r) break;
        const int64_t pos = rows->column_int(0), layer = rows->column_int(1);
        if (pos != rec.pos || layer != rec.layer) {
          EMOE_RETURN_IF_ERROR(flush());
          rec.pos = pos;
          rec.layer = layer;
          if (!rows->column_is_null(6)) rec.token = rows->column_int(6);
          if (!rows->column_is_null(7)) rec.phase = rows->column_int(7);
          if (!rows->column_is_null(8)) rec.time_us = rows->column_int(8);
        }
        if (!rows->column_is_null(2)) {
          rec.experts.push_back(rows->column_int(2));
          rec.weights_complete = rec.weights_complete && !rows->column_is_null(3);
          rec.weights.push_back(rows->column_double(3));
        }
        if (!rows->column_is_null(4)) {
          rec.used.push_back(rows->column_int(4));
          rec.used_weights_complete = rec.used_weights_complete && !rows->column_is_null(5);
          rec.used_weights.push_back(rows->column_double(5));
        }
      }
      EMOE_RETURN_IF_ERROR(flush());
      rows->reset();
    }
    EMOE_RETURN_IF_ERROR(progress.check_cancel());
    EMOE_RETURN_IF_ERROR(out.close());
    EMOE_RETURN_IF_ERROR(tmp.commit_file());
    progress.finish();
    return summary;
  };
  auto r = body();
  if (!r.ok()) {
    return r.status().with_context("exporting the trace of session " + std::to_string(session_id) +
                                   " to '" + path + "'");
  }
  return r;
}

}  // namespace emoe::db
