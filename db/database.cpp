#include "db/database.h"

#include <sqlite3.h>

#include <utility>

namespace emoe::db {

namespace {

Status sqlite_status(sqlite3* db, int rc, std::string_view what, std::string_view sql) {
  const int primary = rc & 0xff;
  std::string msg = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (!sql.empty()) msg += " [statement: " + std::string(sql) + "]";
  switch (primary) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return corrupt(std::move(msg));
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return out_of_memory(std::move(msg));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return io_error(std::move(msg));
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
      return internal_error(std::move(msg));
    default:
      return invalid_argument(std::move(msg));
  }
}

}  // namespace

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql)
    : db_(db), stmt_(stmt), sql_(std::move(sql)) {}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)),
      stmt_(std::exchange(o.stmt_, nullptr)),
      sql_(std::move(o.sql_)) {}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = std::exchange(o.db_, nullptr);
    stmt_ = std::exchange(o.stmt_, nullptr);
    sql_ = std::move(o.sql_);
  }
  return *this;
}

Status Statement::error(const char* what) const {
  return sqlite_status(db_, sqlite3_extended_errcode(db_), what, sql_);
}

Status Statement::bind_int(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) return error("bind");
  return Status::ok();
}
Status Statement::bind_double(int index, double value) {
  if (sqlite3_bind_double(stmt_, index, value) != SQLITE_OK) return error("bind");
  return Status::ok();
}
Status Statement::bind_text(int index, std::string_view value) {
  if (sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK) {
    return error("bind");
  }
  return Status::ok();
}
Status Statement::bind_null(int index) {
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) return error("bind");
  return Status::ok();
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = sqlite_status(db_, rc, "step", sql_);
  sqlite3_reset(stmt_);
  return s;
}

Status Statement::run() {
  auto r = step();
  reset();
  if (!r.ok()) return r.status();
  return Status::ok();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::column_int(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::column_double(int col) const { return sqlite3_column_double(stmt_, col); }
std::string Statement::column_text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(n)) : std::string();
}
bool Statement::column_is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path,
                                                 const OpenOptions& options) {
  int flags = SQLITE_OPEN_NOMUTEX;
  if (options.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (options.create) flags |= SQLITE_OPEN_CREATE;
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = sqlite_status(raw, rc, "cannot open database '" + path + "'", "");
    sqlite3_close(raw);
    return s;
  }
  sqlite3_extended_result_codes(raw, 1);
  std::unique_ptr<Database> db(new Database(raw, path));
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  // Reading the schema is the first access to the file's header: a non-SQLite file fails here,
  // before anything is written to it.
  auto probe = db->query_int("SELECT count(*) FROM sqlite_master");
  if (!probe.ok()) {
    return probe.status().with_context("'" + path + "' is not a readable SQLite database");
  }
  if (options.wal && !options.read_only) {
    auto mode = db->query_text("PRAGMA journal_mode=WAL");
    if (!mode.ok()) return mode.status().with_context("database '" + path + "'");
    EMOE_RETURN_IF_ERROR(db->exec("PRAGMA synchronous=NORMAL"));
  }
  EMOE_RETURN_IF_ERROR(db->exec("PRAGMA foreign_keys=ON"));
  return db;
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Status Database::exec(std::string_view sql) {
  const std::string s(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  if (rc != SQLITE_OK) return sqlite_status(db_, sqlite3_extended_errcode(db_), "exec", s);
  return Status::ok();
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    Status s = sqlite_status(db_, rc, "prepare", sql);
    sqlite3_finalize(stmt);
    return s;
  }
  return Statement(db_, stmt, std::string(sql));
}

Result<int64_t> Database::query_int(std::string_view sql) {
  auto st = prepare(sql);
  if (!st.ok()) return st.status();
  auto r = st->step();
  if (!r.ok()) return r.status();
  if (!*r) return not_found("no row [statement: " + std::string(sql) + "]");
  return st->column_int(0);
}

Result<std::string> Database::query_text(std::string_view sql) {
  auto st = prepare(sql);
  if (!st.ok()) return st.status();
  auto r = st->step();
  if (!r.ok()) return r.status();
  if (!*r) return not_found("no row [statement: " + std::string(sql) + "]");
  return st->column_text(0);
}

Status Database::begin() { return exec("BEGIN IMMEDIATE"); }
Status Database::commit() { return exec("COMMIT"); }
Status Database::rollback() { return exec("ROLLBACK"); }

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

}  // namespace emoe::db
