// Reads routing traces into replay input (core/predict/trace_replay.h): a session of the store
// (recorded by the engine or imported), or an emoe-trace JSONL file (imported into an
// in-memory store first, so it is validated exactly as `emoe db import` validates it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/common/status.h"
#include "core/predict/trace_replay.h"

namespace emoe::db {

class Database;

// What the store says about the trace besides its routing.
struct TraceInfo {
  int64_t session_id = 0;
  std::string model_path;   // models.path; "" without a model row
  std::string config_json;  // sessions.config
  // From models.hparams when present (n_layer, n_expert, n_expert_used), else 0.
  int32_t n_layer = 0, n_expert = 0, n_expert_used = 0;
  // From sessions.config when present: the recorded routing mode, budget and policy.
  std::optional<std::string> routing, policy;
  std::optional<uint64_t> budget_bytes;
};

// The session's requests in id order; per request its routing rows ordered by pos, layer,
// rank (one streaming query over the routing primary key), the phase from the tokens table
// (a position without a token row counts as prefill before the request's prompt_tokens and
// decode after). Dimensions come from the model's hparams when present, else from the data.
// NotFound for an unknown session.
Result<predict::ReplayInput> load_session_trace(Database& db, int64_t session_id,
                                                TraceInfo* info = nullptr,
                                                int64_t prefill_chunk = 512);
// Opens the store read-only (it must have the current schema).
Result<predict::ReplayInput> load_session_trace(const std::string& store_path, int64_t session_id,
                                                TraceInfo* info = nullptr,
                                                int64_t prefill_chunk = 512);

// Imports an emoe-trace JSONL file into an in-memory store and reads its session. Errors are
// the import's (file, line, problem).
Result<predict::ReplayInput> load_trace_jsonl(const std::string& path, TraceInfo* info = nullptr,
                                              int64_t prefill_chunk = 512);

}  // namespace emoe::db
