// Exports what the store holds about one session or one run, for other tools: one JSON
// document or a directory of CSV files (one per table); db/trace_export.h writes the JSONL
// routing trace (docs/TRACE_FORMAT.md describes all three). Rows are streamed from
// SQLite to the file, never collected, inside one read transaction so the export is a
// consistent snapshot while a writer keeps recording. Output appears atomically: it is written
// under a temporary name beside the destination and renamed when complete, so a failed or
// cancelled export leaves the destination as it was.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/common/status.h"

namespace emoe::db {

class Database;

enum class ExportFormat { Json, Csv };

struct ExportOptions {
  // Called with the number of rows written so far, every progress_every rows and at the end.
  std::function<void(int64_t rows)> progress;
  int64_t progress_every = 4096;
  // Checked between rows; when set the export stops with Cancelled and writes nothing.
  const std::atomic<bool>* cancel = nullptr;
};

// Rows written per table (JSONL: routing counts records, one per (request, pos, layer)).
struct ExportSummary {
  int64_t requests = 0;
  int64_t tokens = 0;
  int64_t routing = 0;
  int64_t expert_events = 0;
  int64_t memory_samples = 0;
  int64_t total() const { return requests + tokens + routing + expert_events + memory_samples; }
};

// Json: path is the file to write. Csv: path is a directory to create (session.csv,
// model.csv, requests.csv, tokens.csv, routing.csv, expert_events.csv, memory_samples.csv); an
// existing directory is replaced only when it holds nothing but such files. An unknown
// session id is NotFound; an unwritable path is IoError.
Result<ExportSummary> export_session(Database& db, int64_t session_id, ExportFormat format,
                                     const std::string& path, const ExportOptions& options = {});

// A run: its row (name, config and metrics embedded as JSON) plus, when the run is linked to a
// session, everything export_session writes for it. CSV adds run.csv.
Result<ExportSummary> export_run(Database& db, int64_t run_id, ExportFormat format,
                                 const std::string& path, const ExportOptions& options = {});

}  // namespace emoe::db
