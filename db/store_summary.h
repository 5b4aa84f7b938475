// What `emoe db info` prints about a store: schema version, file sizes, row counts per table and
// the models it has recorded. Reading a summary never modifies the file: it is opened read-only,
// a file from a newer schema version is refused as open_store refuses it, and an older one is
// summarised as it is (needs_migration) rather than migrated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/common/status.h"

namespace emoe::db {

struct TableCount {
  std::string table;
  bool present = false;  // false in a store older than the table
  int64_t rows = 0;
  bool operator==(const TableCount&) const = default;
};

struct ModelSummary {
  int64_t id = 0;
  std::string path;
  std::string arch;
  int64_t size_bytes = 0;
  std::optional<std::string> sha256;
  int64_t sessions = 0;  // sessions recorded with this model
  bool operator==(const ModelSummary&) const = default;
};

struct StoreSummary {
  std::string path;
  int64_t schema_version = 0;      // PRAGMA user_version
  bool needs_migration = false;    // older than this program; the next writable open migrates it
  std::string journal_mode;        // "wal" for stores this program has opened
  int64_t file_bytes = 0;          // the main file
  int64_t wal_bytes = 0;           // the -wal file, 0 when there is none
  std::vector<TableCount> tables;  // schema_tables() order
  int64_t sessions = 0, runs = 0;
  std::vector<ModelSummary> models;  // by id
};

// NotFound for a missing file (none is created), Corrupt for a file that is not SQLite,
// Unsupported for a newer schema version; the message names the path.
Result<StoreSummary> summarize_store(const std::string& path);

}  // namespace emoe::db
