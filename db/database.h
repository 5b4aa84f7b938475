// A small RAII wrapper over one SQLite connection: open (WAL, busy timeout), exec, prepared
// statements and transactions. Every failure is an emoe::Status carrying SQLite's message and
// the statement that failed. One connection per thread; a Database is not shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace emoe::db {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite.
  Status bind_int(int index, int64_t value);
  Status bind_double(int index, double value);
  Status bind_text(int index, std::string_view value);
  Status bind_null(int index);

  // Result<bool>: true while a row is available, false when done.
  Result<bool> step();
  // step() expecting no rows (INSERT/UPDATE), then reset() for reuse.
  Status run();
  void reset();  // also clears bindings

  int64_t column_int(int col) const;
  double column_double(int col) const;
  std::string column_text(int col) const;
  bool column_is_null(int col) const;

  const std::string& sql() const { return sql_; }

 private:
  Status error(const char* what) const;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

struct OpenOptions {
  bool read_only = false;
  bool create = true;          // create the file when missing (ignored when read_only)
  int busy_timeout_ms = 5000;  // how long a statement waits for another connection's lock
  bool wal = true;             // journal_mode=WAL, synchronous=NORMAL (see docs/DATABASE.md)
};

class Database {
 public:
  // Opens and checks that the file is a SQLite database (a non-SQLite file is Corrupt).
  static Result<std::unique_ptr<Database>> open(const std::string& path,
                                                const OpenOptions& options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Status exec(std::string_view sql);  // one or more statements, no results
  Result<Statement> prepare(std::string_view sql);
  Result<int64_t> query_int(std::string_view sql);  // first column of the first row
  Result<std::string> query_text(std::string_view sql);

  Status begin();  // BEGIN IMMEDIATE: the write lock is taken up front
  Status commit();
  Status rollback();

  int64_t last_insert_rowid() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_ = nullptr;
  std::string path_;
};

// Runs a function inside a transaction; commits when it returns ok, rolls back otherwise.
template <typename F>
Status in_transaction(Database& db, F&& body) {
  EMOE_RETURN_IF_ERROR(db.begin());
  Status s = body();
  if (!s.is_ok()) {
    (void)db.rollback();
    return s;
  }
  return db.commit();
}

}  // namespace emoe::db
