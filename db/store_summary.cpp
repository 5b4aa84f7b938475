#include "db/store_summary.h"

#include <filesystem>
#include <system_error>

#include "db/database.h"
#include "db/schema.h"

namespace emoe::db {

namespace {

int64_t size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

}  // namespace

Result<StoreSummary> summarize_store(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return not_found("database '" + path + "' does not exist");
  if (std::filesystem::is_directory(path, ec)) {
    return invalid_argument("'" + path + "' is a directory, not a database file");
  }
  OpenOptions o;
  o.read_only = true;
  o.wal = false;
  auto db = Database::open(path, o);
  if (!db.ok()) return db.status();
  Database& d = **db;

  StoreSummary s;
  s.path = path;
  auto version = d.query_int("PRAGMA user_version");
  if (!version.ok())
    return version.status().with_context("reading schema version of '" + path + "'");
  // migrate() refuses a newer file before it writes anything; on this read-only connection it is
  // only ever called for that refusal.
  if (*version > kSchemaVersion) return migrate(d);
  if (*version < 0) {
    return corrupt("database '" + path + "' has invalid schema version " +
                   std::to_string(*version));
  }
  s.schema_version = *version;
  s.needs_migration = *version < kSchemaVersion;
  auto mode = d.query_text("PRAGMA journal_mode");
  if (!mode.ok()) return mode.status().with_context("database '" + path + "'");
  s.journal_mode = *mode;
  s.file_bytes = size_or_zero(path);
  s.wal_bytes = size_or_zero(path + "-wal");

  auto exists = d.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  if (!exists.ok()) return exists.status();
  for (const char* const* t = schema_tables(); *t; ++t) {
    TableCount c;
    c.table = *t;
    EMOE_RETURN_IF_ERROR(exists->bind_text(1, c.table));
    auto row = exists->step();
    if (!row.ok()) return row.status().with_context("database '" + path + "'");
    c.present = *row;
    exists->reset();
    if (c.present) {
      // Table names come from schema_tables(), never from the file.
      auto n = d.query_int("SELECT count(*) FROM " + c.table);
      if (!n.ok())
        return n.status().with_context("counting rows of " + c.table + " in '" + path + "'");
      c.rows = *n;
      if (c.table == "sessions") s.sessions = *n;
      if (c.table == "runs") s.runs = *n;
    }
    s.tables.push_back(std::move(c));
  }

  if (s.schema_version >= 1) {
    auto st = d.prepare(
        "SELECT m.id, m.path, m.arch, m.size_bytes, m.sha256,"
        " (SELECT count(*) FROM sessions s WHERE s.model_id = m.id) FROM models m ORDER BY m.id");
    if (!st.ok()) return st.status().with_context("database '" + path + "'");
    while (true) {
      auto row = st->step();
      if (!row.ok()) return row.status().with_context("listing models of '" + path + "'");
      if (!*row) break;
      ModelSummary m;
      m.id = st->column_int(0);
      m.path = st->column_text(1);
      m.arch = st->column_text(2);
      m.size_bytes = st->column_int(3);
      if (!st->column_is_null(4)) m.sha256 = st->column_text(4);
      m.sessions = st->column_int(5);
      s.models.push_back(std::move(m));
    }
  }
  return s;
}

}  // namespace emoe::db
