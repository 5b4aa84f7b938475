// The only object that talks to the engine thread. Commands return at once and are queued to a
// worker thread that owns the model, the expert tiers, the engine and the recording session;
// results come back as queued signals carrying values, and per-token telemetry goes into a
// TelemetryBuffer the GUI drains on a timer. No call here blocks the GUI thread.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>
#include <QThread>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/routing_mode.h"
#include "core/experts/expert_cache.h"
#include "ui/telemetry.h"
#include "ui/telemetry_buffer.h"

namespace emoe::ui {

// What the Controls dock sets; applied before the next request, without reloading the model.
struct EngineSettings {
  double budget_percent = 100;  // of all expert bytes; raised to the tier's minimum
  engine::RoutingMode mode = engine::RoutingMode::All;  // All with 100%: no device tier
  experts::EvictionPolicy policy = experts::EvictionPolicy::Lru;
  int n_threads = 1;
  int64_t n_ctx = 0;  // 0: the model's training context, at most 4096
  // eMoE (docs/EMOE.md): "none" runs as above; a predictor name (predict::predictor_names())
  // makes the device tier Pinned and runs eMoE's loop around every request (routing must be
  // exact or fallback). A change starts a new configuration: invocation counts restart.
  std::string predictor = "none";
  int32_t interval = 40;  // p, 1..200: the predictor runs on requests 0, p, 2p, ...
  bool task_aware = true;
  double sensitivity_threshold = 0.85;  // for "Profile sensitivity…"
  // Where the engine computes: "cpu", "cuda" or "cuda:N" (core/engine/compute_device.h). The
  // engine thread opens the GPU once per name; without CUDA it runs on the CPU and says so.
  std::string device = "cpu";
  bool operator==(const EngineSettings&) const = default;
};

// What the engine actually runs with after apply (the budget after clamping, in bytes).
struct EngineReport {
  EngineSettings settings;
  uint64_t expert_budget_bytes = 0;  // 0: no device tier
  uint64_t all_expert_bytes = 0;
  uint64_t min_budget_bytes = 0;
  int32_t experts_per_layer = 0;  // slots / n_layer: how many experts per layer fit
  std::string backend = "cpu";    // Engine::backend_name(): "cpu", "cuda:0", ...
  std::string device_name;        // "cuda:0 (NVIDIA H200, 139.8 GiB)"; empty: the CPU
  // Why settings.device is not what runs ("CUDA is not available (...); running on the CPU").
  std::string device_notice;
};

// Task x layer sensitivity s of the current model, as stored in the database (one row per task
// profiled; details_json's per-block "sensitivity").
struct SensitivityMatrix {
  QString model;
  int32_t n_layer = 0;
  std::vector<std::string> tasks;          // sorted
  std::vector<std::vector<float>> values;  // [task][n_layer] s in [0,1]
  std::vector<double> thresholds;          // [task] the sweep's threshold (NaN: unknown)
  QString note;                            // why it is empty (no database, no model row...)
};

struct TensorRow {
  QString name;
  QString type;   // ggml type name
  QString shape;  // "4096 x 14336 x 8"
  uint64_t bytes = 0;
  bool expert = false;
};

// Everything the Model dock shows, computed on the worker thread.
struct ModelSummary {
  QString path;
  QString name;  // general.name or the file name
  QString arch;
  uint64_t file_bytes = 0;
  int32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_vocab = 0;
  int32_t n_embd_head = 0;  // per attention head (0: n_embd / n_head)
  int32_t n_ff = 0;         // dense FFN width (0 when every FFN is an expert FFN)
  int32_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0;
  int64_t n_ctx_train = 0;
  uint64_t dense_bytes = 0;
  uint64_t all_expert_bytes = 0;
  uint64_t expert_bytes_per_layer = 0;                // one expert of layer 0 (gate + up + down)
  uint64_t kv_bytes_per_token = 0;                    // F32 KV, all layers
  std::vector<std::pair<QString, QString>> metadata;  // key, value (long arrays shortened)
  std::vector<TensorRow> tensors;
};

struct PromptRequest {
  QString text;
  QString task;  // empty: "chat"
  int32_t max_new_tokens = 64;
  double temperature = 0;  // 0: greedy
  uint64_t seed = 0;
  bool ignore_eos = false;  // keep generating past the end-of-sequence token
  std::optional<double> slo_ttft_ms, slo_e2e_ms;
};

class EngineController : public QObject {
  Q_OBJECT

 public:
  explicit EngineController(QObject* parent = nullptr);
  ~EngineController() override;  // cancels running work and joins the worker thread

  TelemetryBuffer& telemetry() { return telemetry_; }

  // Commands (asynchronous; results arrive as signals).
  // Loads into a new session and replaces the current model only when that succeeded; on an
  // error or a cancel (model_failed) the previous model stays open.
  void open_model(const QString& path);
  void cancel_load();
  // Records every later session into this SQLite file (created when missing). An error
  // (corrupt file, newer schema, read-only location) arrives as database_failed and recording
  // stays off; the engine keeps working.
  void set_database(const QString& path);
  void apply_settings(const EngineSettings& settings);
  void submit(const PromptRequest& request);  // queued behind a running request
  void stop();                                // cancels the running request (and the queue)
  // Reads the stored sensitivity profiles of the open model (sensitivity_loaded follows).
  void load_sensitivity();
  // Profiles every task over the built-in prompts with the settings' threshold on the worker
  // thread (sensitivity_progress, then sensitivity_loaded or sensitivity_failed), stores the
  // profiles in the database and reads them back.
  void profile_sensitivity();
  void cancel_profile();

  bool busy() const { return busy_.load() > 0; }  // a load or a request is in progress
  // The clock every telemetry time_s is on: seconds since the controller was created.
  double seconds_since_start() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - origin_).count();
  }

 signals:
  void load_progress(double fraction, const QString& stage);
  void model_loaded(const emoe::ui::ModelSummary& summary);
  void model_failed(const QString& message);
  void settings_applied(const emoe::ui::EngineReport& report);
  void settings_failed(const QString& message);
  void database_opened(const QString& path, qint64 session_id);
  void database_failed(const QString& message);
  void request_started(qint64 request_id, const QString& text);
  // The request is being recorded as db_request_id of session_id in the database (ids of the
  // database differ from the controller's request ids).
  void request_recorded(qint64 request_id, qint64 session_id, qint64 db_request_id);
  // The result also arrives in the telemetry buffer's `finished`; this signal is for views
  // that only need to know the request ended (buttons, status bar).
  void request_finished(const emoe::ui::RequestStats& stats);
  // The task a request runs as (the classifier's when the prompt asked for "auto"); arrives
  // before request_started.
  void request_task(qint64 request_id, const QString& task);
  void sensitivity_loaded(const emoe::ui::SensitivityMatrix& matrix);
  void sensitivity_progress(double fraction, const QString& stage);
  void sensitivity_failed(const QString& message);
  void log_message(int level, const QString& message);  // 0 info, 1 warning, 2 error

 private:
  class Worker;
  const std::chrono::steady_clock::time_point origin_ = std::chrono::steady_clock::now();
  TelemetryBuffer telemetry_;
  QThread thread_;
  Worker* worker_ = nullptr;         // lives on thread_, deleted when it finishes
  std::atomic<int> busy_{0};         // loads and requests queued or running
  std::atomic<bool> cancel_{false};  // generate()'s flag for the running request
  // stop() and cancel_load() bump these; work queued under an older value is dropped.
  std::atomic<uint64_t> stop_epoch_{0};
  std::atomic<uint64_t> load_epoch_{0};
  std::atomic<bool> cancel_profile_{false};
};

}  // namespace emoe::ui

Q_DECLARE_METATYPE(emoe::ui::ModelSummary)
Q_DECLARE_METATYPE(emoe::ui::EngineReport)
Q_DECLARE_METATYPE(emoe::ui::RequestStats)
Q_DECLARE_METATYPE(emoe::ui::SensitivityMatrix)
