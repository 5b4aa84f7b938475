// The store's schema, versioned with PRAGMA user_version. Each migration step takes the file
// from version i to i+1 inside one transaction; later versions append a step to the list.
// Units: times in microseconds, sizes in bytes, JSON columns hold objects (see schema.cpp).
#pragma once

#include <memory>
#include <string>

#include "core/common/status.h"
#include "db/database.h"

namespace emoe::db {

inline constexpr int kSchemaVersion = 3;

// Reads user_version; migrates an older file to kSchemaVersion. A file from a newer version is
// refused (Unsupported) before anything is written to it.
Status migrate(Database& db);

// Opens a store: checks the file is SQLite and not newer than this code before switching it to
// WAL, then migrates. The path is created when missing (unless options say otherwise).
Result<std::unique_ptr<Database>> open_store(const std::string& path, OpenOptions options = {});

// Tables every current store has (for tests and `db info`).
const char* const* schema_tables();  // nullptr-terminated

}  // namespace emoe::db
