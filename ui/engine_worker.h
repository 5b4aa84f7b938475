// The engine thread's side of EngineController (private to engine_controller.cpp): owns the
// inference session, the telemetry collector and the recording session, and runs the commands
// the controller queues, one at a time. Results go back as the controller's signals, emitted
// on the controller's thread.
#pragma once

#include <QObject>
#include <QString>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#include "core/engine/compute_device.h"
#include "core/engine/inference_session.h"
#include "core/predict/emoe_loop.h"
#include "core/sched/task_classifier.h"
#include "ui/engine_controller.h"
#include "ui/telemetry_collector.h"

namespace emoe::db {
class RecordingSession;
}

namespace emoe::ui {

class EngineController::Worker : public QObject {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Worker(EngineController* controller);
  ~Worker() override;  // on the worker thread: closes the recording, frees the model

  // Thread-safe: queues a command and posts one event to run it on the worker thread. The
  // command travels through a std::mutex rather than inside the posted event, so race
  // detectors see the hand-over (Qt's own queue is invisible to an uninstrumented Qt).
  using Command = std::function<void(Worker&)>;
  void enqueue(Command command);

  void open_model(const QString& path, uint64_t load_epoch);
  void set_database(const QString& path);
  void apply_settings(const EngineSettings& settings);
  void run_request(const PromptRequest& request, Clock::time_point arrival, uint64_t stop_epoch);
  void load_sensitivity();
  void profile_sensitivity();

 private:
  template <typename F>
  void emit_later(F&& f);  // runs f (which emits a signal) on the controller's thread
  void log(int level, const QString& message);
  void job_done() { --ctl_->busy_; }
  // Releases a job's busy count once: explicitly before its final signal, else at scope exit.
  struct BusyGuard {
    Worker* w;
    bool held = true;
    void release() {
      if (std::exchange(held, false)) w->job_done();
    }
    ~BusyGuard() { release(); }
  };

  // Opens settings.device unless it names the device already open (a notice, such as CUDA
  // missing, is logged when it is opened, so once per choice), then configures `session`.
  Result<engine::SessionReport> configure(engine::InferenceSession& session,
                                          const EngineSettings& settings);
  void close_model();
  void open_recording();
  void close_recording();
  std::string config_json() const;
  EngineReport report() const;
  void finish(RequestStats stats);

  void run_next();
  // The stored sensitivity of the open model (an empty matrix with a note when there is none).
  SensitivityMatrix read_sensitivity();
  // eMoE's loop for the current settings and tier, made on the first request that needs it.
  Status ensure_loop();
  void push_prediction(const RequestStats& stats, const predict::EmoeStep& step,
                       const predict::PromptRecord& record, const experts::CacheStats& before);

  EngineController* const ctl_;
  std::mutex queue_mu_;
  std::deque<Command> queue_;
  std::unique_ptr<engine::InferenceSession> session_;
  std::unique_ptr<TelemetryCollector> collector_;
  std::unique_ptr<db::RecordingSession> recording_;
  QString db_path_;
  EngineSettings settings_;
  std::string device_spec_;  // the settings.device that device_ was opened for; empty: none yet
  engine::ComputeDevice device_;
  int64_t next_request_id_ = 1;
  std::unique_ptr<predict::EmoeLoop> loop_;  // null: no predictor, or not made yet
  int64_t loop_requests_ = 0;                // requests served by loop_
  sched::TaskClassifier classifier_ = sched::TaskClassifier::builtin();
};

}  // namespace emoe::ui
