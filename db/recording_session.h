// One recorded session: the model row (found or added), the session row, a writer thread and
// the engine/paging recorder, plus the request lifecycle (arrival, first token, finish). Ids of
// sessions and requests are allocated on a small connection of its own, so several processes
// may record into one file. Used by the CLI's --db and by the workbench.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/common/status.h"
#include "db/routing_recorder.h"
#include "db/routing_writer.h"

namespace emoe::model {
class Model;
}

namespace emoe::db {

class Database;

struct ModelInfo {
  std::string path;
  uint64_t size_bytes = 0;
  std::string arch;
  std::string hparams_json;  // an object; see docs/DATABASE.md
  std::optional<std::string> sha256;
};

// The model row for a loaded model: canonical path (one row per file whatever the working
// directory), size, architecture and hyperparameters with dense and expert bytes. The CLI and
// the workbench both record through this, so they share model rows.
ModelInfo describe_model(const model::Model& model);

// The id of the model row with this path and size; nullopt when there is none and !add, else
// the row is added.
Result<std::optional<int64_t>> find_model_row(Database& db, const ModelInfo& model, bool add);

struct RequestStart {
  std::string task;
  std::string text;
  std::optional<double> slo_ttft_ms, slo_e2e_ms;
  std::optional<int64_t> arrival_us;  // default: now (RoutingRecorder::now_us clock)
};

class RecordingSession {
 public:
  // Opens (creating or migrating) the store, adds the session row and starts the writer.
  static Result<std::unique_ptr<RecordingSession>> open(const std::string& db_path,
                                                        const ModelInfo& model,
                                                        const std::string& config_json,
                                                        WriterOptions options = {});
  ~RecordingSession();  // close()

  int64_t session_id() const { return session_id_; }
  int64_t model_id() const { return model_id_; }
  const std::string& path() const { return path_; }
  RoutingRecorder& recorder() { return *recorder_; }  // engine and expert-cache observer
  RoutingWriter& writer() { return *writer_; }

  // Adds the request row now and binds the engine sequence to it.
  Result<int64_t> begin_request(int32_t seq, const RequestStart& start);
  Status first_token(int64_t request_id, int64_t time_us);
  Status finish_request(int32_t seq, int64_t request_id, int64_t prompt_tokens,
                        int64_t generated_tokens, std::optional<int64_t> finish_us = {});
  // Updates the session's configuration (the settings may change between requests).
  Status update_config(const std::string& config_json);

  // Flushes and stops the writer; the first error of the writer or the recorder.
  Status close();

 private:
  RecordingSession() = default;
  std::string path_;
  int64_t session_id_ = 0, model_id_ = 0, started_at_us_ = 0;
  std::unique_ptr<Database> ids_;  // allocates session and request ids
  std::unique_ptr<RoutingWriter> writer_;
  std::unique_ptr<RoutingRecorder> recorder_;
  bool closed_ = false;
};

}  // namespace emoe::db
