// Recording a CLI run into the routing-history database: --db FILE, --no-db and --task TASK,
// shared by the engine commands. Without --db the run goes to the user's data directory
// ($XDG_DATA_HOME/emoe-studio/history.db, else ~/.local/share/emoe-studio/history.db), so every
// run leaves a queryable history; --no-db turns recording off.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/cli/cli_args.h"
#include "core/common/json_writer.h"
#include "core/engine/engine.h"
#include "core/engine/sampler.h"
#include "core/model/model.h"
#include "db/recording_session.h"

namespace emoe::experts {
class ExpertCache;
}

namespace emoe::cli {

struct PagingSetup;

// --db FILE, --no-db, --task TASK. opt_in: the command records only when another flag asks
// (bench --record), which the help then says.
void declare_db_options(CommandSpec& spec, bool opt_in = false);

// The default database: $XDG_DATA_HOME/emoe-studio/history.db when XDG_DATA_HOME is an absolute
// path, else $HOME/.local/share/emoe-studio/history.db.
Result<std::string> default_db_path();

// The database this run records into; nullopt with --no-db.
Result<std::optional<std::string>> db_path(const ParsedArgs& args);

// The session's configuration object: the command, engine settings (threads, ctx, kv_type),
// routing (mode, budget_bytes, policy), sampling when given, then the command's own fields.
struct SessionConfig {
  std::string command;
  const engine::EngineOptions* engine = nullptr;
  const PagingSetup* paging = nullptr;
  std::string policy;  // --policy when there is a device tier
  const engine::SamplerParams* sampling = nullptr;
  std::function<void(JsonWriter&)> extra;  // writes more keys into the object
};
std::string session_config_json(const SessionConfig& config);
// A SessionConfig with the command's name and --policy (when the command has it).
SessionConfig session_config(const ParsedArgs& args, std::string command);

// One command's recorded session. The recorder observes the engine (and the expert cache when
// there is one) from attach() until close() or destruction, so create this after the engine and
// the paging setup: it is then destroyed before them.
class CliRecording {
 public:
  // Null when --no-db is given. Creates the database's directory when missing. Every database
  // error (not SQLite, newer schema, unwritable location) fails here, before any engine work.
  static Result<std::unique_ptr<CliRecording>> open(const ParsedArgs& args,
                                                    const model::Model& model,
                                                    const std::string& config_json);
  ~CliRecording();
  CliRecording(const CliRecording&) = delete;
  CliRecording& operator=(const CliRecording&) = delete;

  void attach(engine::Engine& engine, experts::ExpertCache* cache);
  void detach();

  // A request bound to engine sequence `seq`, tagged with --task (default "cli").
  Result<int64_t> begin_request(int32_t seq, const std::string& text);
  Status first_token(int64_t request_id);  // now, on the recorder's clock
  Status finish_request(int32_t seq, int64_t request_id, int64_t prompt_tokens,
                        int64_t generated_tokens);

  // Detaches, flushes and stops the writer, then counts the session's committed routing rows.
  Status close();

  const std::string& path() const;
  int64_t session_id() const;
  const std::vector<int64_t>& request_ids() const { return request_ids_; }
  int64_t routing_rows() const { return routing_rows_; }

  // "db": {path, session_id, requests: [ids], routing_rows} into an open JSON object.
  void write_json(JsonWriter& j) const;
  // "recorded session N in FILE (R routing rows)" on stderr.
  void print_summary() const;

 private:
  CliRecording() = default;

  std::unique_ptr<db::RecordingSession> session_;
  std::string task_;
  engine::Engine* engine_ = nullptr;
  experts::ExpertCache* cache_ = nullptr;
  std::vector<int64_t> request_ids_;
  int64_t routing_rows_ = 0;
  bool closed_ = false;
};

// Closes `rec` (when recording) after a command's work; the command's own error wins over the
// recording's. A recording error is reported as "recording to 'FILE' failed: ...".
Status close_recording(CliRecording* rec, Status work);

}  // namespace emoe::cli
