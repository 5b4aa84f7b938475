// Imports routing traces recorded elsewhere (for example a large model served by another
// engine) from the emoe-trace JSONL format (docs/TRACE_FORMAT.md): one JSON object per
// (request, pos, layer) with the router's top-k experts. An import creates a new session (and
// a models row with arch "external") and fills requests, tokens and routing, all in one
// transaction: any malformed line aborts the import with a message naming the file, the line
// and the problem, and the store is left exactly as it was.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/common/status.h"

namespace emoe::db {

class Database;

struct ImportOptions {
  // Called with the number of lines read so far, every progress_every lines and at the end.
  std::function<void(int64_t lines)> progress;
  int64_t progress_every = 4096;
  // Checked between lines; when set the import stops with Cancelled and rolls back.
  const std::atomic<bool>* cancel = nullptr;
  // A longer line is an error (bounds the memory one line can take).
  size_t max_line_bytes = size_t{64} << 20;
  // The models row's path; empty: the header's "model", else the trace's file name.
  std::string model_name;
};

struct ImportResult {
  int64_t session_id = 0;
  int64_t requests = 0;  // distinct external request ids
  int64_t records = 0;   // (request, pos, layer) records, i.e. lines with routing
};

// db must be a store opened with open_store (current schema) and not inside a transaction.
Result<ImportResult> import_trace_jsonl(Database& db, const std::string& trace_path,
                                        const ImportOptions& options = {});

// Opens (creating or migrating) the store at store_path and imports into it.
Result<ImportResult> import_trace_jsonl(const std::string& store_path,
                                        const std::string& trace_path,
                                        const ImportOptions& options = {});

}  // namespace emoe::db
