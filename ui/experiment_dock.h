// The Experiment dock (docs/EXPERIMENTS.md): build or open an experiment configuration, run it
// with progress and cancel on an ExperimentWorker (its own thread, engine and database
// connection; the console's engine keeps working), watch the requests of the running point
// flow through a per-request timeline (queued, prefill, decode, done; SLO met or missed), and
// compare stored runs side by side with the report's plots and export the HTML + PDF report.
// Tabs: Configuration, Requests, Results; Run / Cancel and the progress stay above them.
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>
#include <optional>
#include <vector>

#include "core/experiment/experiment_result.h"
#include "ui/experiment_worker.h"

class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QTabWidget;

namespace emoe::ui {

class ExperimentConfigEditor;
class ExperimentResultsPanel;
class RequestTimelineView;

class ExperimentDock : public QWidget {
  Q_OBJECT

 public:
  enum Tab : int { ConfigTab = 0, RequestsTab = 1, ResultsTab = 2 };

  explicit ExperimentDock(const QString& db_path, QWidget* parent = nullptr);
  ~ExperimentDock() override;  // cancels a running experiment (its points done stay stored)

  // Where runs are stored and the Results tab reads (empty: runs are not stored).
  void set_database(const QString& path);
  QString database() const { return db_path_; }
  // Where "model": "demo" is looked for and generated; default StudioPaths::demo_model_dir().
  void set_demo_dir(const QString& dir) { demo_dir_ = dir; }

  // Validates the editor's configuration and starts it. False (with the error shown under the
  // editor, in the status line and the log) when it is invalid or a run is in progress.
  bool run();
  void cancel();
  bool running() const;
  // Shows and raises the dock widget holding this (it may be tabbed behind another).
  void show_in_window();

  ExperimentConfigEditor* editor() const { return editor_; }
  RequestTimelineView* timeline() const { return timeline_; }
  ExperimentResultsPanel* results() const { return results_; }
  ExperimentWorker* worker() const { return worker_; }
  QTabWidget* tabs() const { return tabs_; }
  QPushButton* run_button() const { return run_; }
  QPushButton* cancel_button() const { return cancel_; }
  QProgressBar* progress_bar() const { return progress_; }
  QComboBox* point_combo() const { return points_; }
  QString status_text() const;
  // The latest run: its points as they finished, and its result once it ended.
  const std::vector<experiment::PointResult>& run_points() const { return run_points_; }
  const std::optional<experiment::ExperimentResult>& last_result() const { return last_; }
  const std::optional<ExperimentProgressInfo>& last_progress() const { return last_progress_; }

 signals:
  void log_message(int level, const QString& message);  // 0 info, 1 warning, 2 error
  void run_started(qint64 experiment_id);
  void run_finished(const emoe::experiment::ExperimentResult& result);
  void run_failed(const QString& message);

 private:
  void connect_worker();
  void on_progress(const ExperimentProgressInfo& p);
  void on_events(const std::vector<TimelineEvent>& events);
  void on_point(const experiment::PointResult& p);
  void on_finished(const experiment::ExperimentResult& r);
  void on_failed(const QString& message);
  void set_running(bool running);
  void set_status(const QString& text, int level = 0);

  QString db_path_;
  QString demo_dir_;
  ExperimentWorker* worker_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  ExperimentConfigEditor* editor_ = nullptr;
  RequestTimelineView* timeline_ = nullptr;
  ExperimentResultsPanel* results_ = nullptr;
  QPushButton* run_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  QComboBox* points_ = nullptr;  // the Requests tab's point: live, or a finished one
  QStringList labels_;           // the running configuration's point labels
  std::vector<experiment::PointResult> run_points_;
  std::optional<experiment::ExperimentResult> last_;
  std::optional<ExperimentProgressInfo> last_progress_;
  qint64 experiment_id_ = 0;
};

}  // namespace emoe::ui
