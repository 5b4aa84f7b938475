// Exports a stored session's routing as an emoe-trace JSONL file, the format trace_import
// reads back (docs/TRACE_FORMAT.md): a header line, then one record per (request, pos, layer)
// ordered by request id, pos, layer; "request" is the store's request id. Streams rows inside
// one read transaction; the file appears atomically.
#pragma once

#include <cstdint>
#include <string>

#include "core/common/status.h"
#include "db/session_export.h"

namespace emoe::db {

class Database;

// An unknown session is NotFound; an unwritable path is IoError.
Result<ExportSummary> export_trace_jsonl(Database& db, int64_t session_id, const std::string& path,
                                         const ExportOptions& options = {});

}  // namespace emoe::db
