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

#include "core/common/csv.h"
#include "core/common/json_reader.h"
#include "core/common/json_writer.h"
#include "db/database.h"
#include "db/export_file.h"

namespace emoe::db {

namespace {

namespace fs = std::filesystem;
using namespace export_detail;

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

}  // namespace

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

}  // namespace emoe::db
