// Runs an experiment configuration off the GUI thread (DESIGN section 7): its own QThread with
// its own engine::InferenceSession opened from the configuration's model (never the
// EngineController's engine, which keeps serving the console), and its own database connection
// that stores every point as it finishes (a crash or a cancel keeps the points done). Progress,
// request lifecycle events and finished points come back as queued signals carrying plain
// values; cancel() sets an atomic flag the runner checks between steps.
#pragma once

#include <QObject>
#include <QString>
#include <QThread>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/experiment/experiment_config.h"
#include "core/experiment/experiment_result.h"

namespace emoe::ui {

// One request lifecycle change of the running point, as the timeline needs it. The worker
// forwards Arrived, Admitted, the first Token, Finished and Rejected; later tokens are only
// counted (hundreds of requests x hundreds of tokens would flood the GUI thread).
struct TimelineEvent {
  enum Kind : int { Arrived, Admitted, FirstToken, Finished, Rejected };
  Kind kind = Arrived;
  int32_t point = 0;   // index in the matrix
  int64_t id = 0;      // request id (index in the point's workload)
  double time_ms = 0;  // on the point's clock
  int64_t tokens = 0;  // Finished: tokens generated (counted from the Token events)
};

struct ExperimentProgressInfo {
  QString phase;  // "model", "warm-up", "point", "capacity", "storing"
  int32_t point = 0, points = 0;
  int64_t requests_done = 0, requests = 0;
  QString label;
  bool capacity = false;  // the configuration has a capacity study after the points
  // Overall fraction in [0, 1] across the phases: warm-up, the points (each by its share of
  // requests done), the capacity study. The runner counts each phase from 0 again.
  double fraction() const;
};

struct ExperimentJob {
  experiment::ExperimentConfig config;
  // The GGUF file; "demo" or empty: the demo model in demo_dir (generated when missing).
  QString model_path;
  QString demo_dir;
  QString db_path;  // empty: nothing is stored
};

class ExperimentWorker : public QObject {
  Q_OBJECT

 public:
  explicit ExperimentWorker(QObject* parent = nullptr);
  ~ExperimentWorker() override;  // cancels a running experiment and joins its thread

  // False (and nothing happens) while one is running.
  bool start(ExperimentJob job);
  void cancel();
  bool running() const { return running_.load(); }

 signals:
  // The experiments row was written (0: no database).
  void started(qint64 experiment_id, const QString& model_path);
  void progress(const emoe::ui::ExperimentProgressInfo& progress);
  void request_events(const std::vector<emoe::ui::TimelineEvent>& events);
  // A point finished and was stored (run_id set when there is a database).
  void point_finished(const emoe::experiment::PointResult& point);
  // The run ended: as stored in the database (run ids, status) when there is one; cancelled
  // runs carry the points done and result.cancelled.
  void finished(const emoe::experiment::ExperimentResult& result);
  void failed(const QString& message);
  void log_message(int level, const QString& message);  // 0 info, 1 warning, 2 error

 private:
  class Run;
  void run_job(const ExperimentJob& job);  // on the job thread

  std::unique_ptr<QThread> thread_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> running_{false};
};

}  // namespace emoe::ui

Q_DECLARE_METATYPE(emoe::ui::ExperimentProgressInfo)
Q_DECLARE_METATYPE(emoe::ui::TimelineEvent)
Q_DECLARE_METATYPE(std::vector<emoe::ui::TimelineEvent>)
Q_DECLARE_METATYPE(emoe::experiment::PointResult)
Q_DECLARE_METATYPE(emoe::experiment::ExperimentResult)
