// The workbench window: dock widgets (Model, Prompt console, Token trace, Expert heatmap,
// Memory, Latency, Controls, Log, Prediction, Sensitivity, Experiment) around one
// EngineController (the Experiment dock runs experiments on an engine of its own). A ~30 Hz
// timer drains the controller's telemetry into the views, each of which replots at most once per
// tick; nothing here waits on the engine or the database. Layout, geometry, theme, recent files and
// the last engine settings persist in QSettings.
#pragma once

#include <QMainWindow>
#include <QMessageBox>
#include <QPointer>
#include <QString>
#include <memory>
#include <optional>
#include <vector>

#include "ui/engine_controller.h"
#include "ui/theme.h"

class QAction;
class QDockWidget;
class QLabel;
class QTimer;
class QCustomPlot;

namespace emoe::ui {

class BackgroundJobs;
class LiveViews;
class ControlsPanel;
class ExperimentDock;
class ExpertHeatmapView;
class LatencyPlotView;
class LogDock;
class MemoryPlotView;
class ModelDock;
class PredictionView;
class PromptConsole;
class SensitivityView;
class RecentFiles;
class TokenTraceView;
struct SessionReview;

struct MainWindowOptions {
  QString db_path;               // empty: StudioPaths::database_path()
  bool restore_settings = true;  // geometry, dock state, theme, engine settings
  bool save_settings = true;     // false: leave the saved settings as they are (scripted runs)
};

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  // The stable dock objectNames (saved layouts refer to them).
  static const QStringList& dock_names();
  static constexpr int kTickMs = 33;

  explicit MainWindow(MainWindowOptions options = {}, QWidget* parent = nullptr);
  ~MainWindow() override;  // saves the settings

  void open_model(const QString& path);
  void open_model_dialog();
  // Generates the demo model into the data directory off the GUI thread (when missing), then
  // opens it.
  void open_demo_model();
  void cancel_load();
  void open_database(const QString& path);
  void open_session_browser();
  void show_review(const SessionReview& review);  // replaces the views' content

  void reset_layout();
  void set_theme(Theme theme);
  Theme theme() const { return theme_; }
  void save_settings() const;

  // Plot ids: "heatmap", "memory", "latency". Each returns an empty string or the error.
  QCustomPlot* plot(const QString& id) const;
  QString export_plot(const QString& id, const QString& path);
  // Rendered on the GUI thread, written on a worker; report_exported(error) follows.
  void export_report(const QString& html_path, const QString& pdf_path);
  // The current session from the database (JSON file or CSV directory), on a worker;
  // session_exported(error) follows.
  void export_session(const QString& path, bool csv);

  EngineController* controller() const { return controller_; }
  PromptConsole* console() const { return console_; }
  TokenTraceView* trace_view() const { return trace_; }
  ExpertHeatmapView* heatmap() const { return heatmap_; }
  MemoryPlotView* memory_view() const { return memory_; }
  LatencyPlotView* latency_view() const { return latency_; }
  ControlsPanel* controls() const { return controls_; }
  ModelDock* model_dock() const { return model_dock_; }
  PredictionView* prediction_view() const { return prediction_; }
  SensitivityView* sensitivity_view() const { return sensitivity_; }
  ExperimentDock* experiment_dock() const { return experiment_; }
  LogDock* log() const { return log_; }
  RecentFiles* recent_files() const { return recent_; }
  QDockWidget* dock(const QString& name) const;
  QString database_path() const { return db_path_; }
  qint64 session_id() const { return session_id_; }  // 0: not recording
  const std::optional<ModelSummary>& model() const { return model_; }
  std::optional<EngineReport> engine_report() const { return report_; }
  int64_t ticks() const { return ticks_; }
  int64_t tokens_seen() const;
  bool reviewing() const { return reviewing_; }
  size_t console_backlog() const;  // generated tokens not yet shown in the console
  // Every token of the latest live request in position order (prompt and generated), as the
  // telemetry delivered them.
  const std::vector<TokenTelemetry>& request_tokens() const;
  QString last_error() const { return last_error_; }
  QMessageBox* error_box() const { return error_box_; }  // null until the first error

 signals:
  void model_ready(const emoe::ui::ModelSummary& summary);
  void report_exported(const QString& error);
  void session_exported(const QString& error);
  void error_shown(const QString& message);
  void review_shown(qint64 session_id);
  void ticked();

 protected:
  void closeEvent(QCloseEvent* event) override;
  void showEvent(QShowEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void build_docks();
  void build_menus();
  void arrange_docks();
  void apply_dock_sizes();
  void connect_controller();
  void restore_settings();
  void tick();
  void ingest(TelemetryBatch batch);  // into the live views and the Prediction dock
  void show_error(const QString& title, const QString& message);
  void on_model_loaded(const ModelSummary& summary);
  void on_model_failed(const QString& message);
  void leave_review();
  void clear_views();
  void update_status();
  QString ask_save_path(const QString& title, const QString& filter, const QString& suffix);

  MainWindowOptions options_;
  QString db_path_;
  EngineController* controller_ = nullptr;
  ModelDock* model_dock_ = nullptr;
  PromptConsole* console_ = nullptr;
  TokenTraceView* trace_ = nullptr;
  ExpertHeatmapView* heatmap_ = nullptr;
  MemoryPlotView* memory_ = nullptr;
  LatencyPlotView* latency_ = nullptr;
  ControlsPanel* controls_ = nullptr;
  LogDock* log_ = nullptr;
  PredictionView* prediction_ = nullptr;
  SensitivityView* sensitivity_ = nullptr;
  ExperimentDock* experiment_ = nullptr;
  std::unique_ptr<LiveViews> live_;  // the views' tick-by-tick feeding
  RecentFiles* recent_ = nullptr;
  QTimer* tick_timer_ = nullptr;
  QLabel* status_model_ = nullptr;
  QLabel* status_session_ = nullptr;
  QLabel* status_speed_ = nullptr;
  QAction* theme_light_ = nullptr;
  QAction* theme_dark_ = nullptr;
  QPointer<QMessageBox> error_box_;

  Theme theme_ = Theme::Light;
  std::optional<ModelSummary> model_;
  std::optional<EngineReport> report_;
  QString loading_path_;  // the model being opened
  qint64 session_id_ = 0;
  bool load_cancelled_ = false;  // the next load failure is the user's cancel
  bool sync_settings_ = false;   // the next report is the one of a model just loaded
  bool reviewing_ = false;
  bool shown_once_ = false;
  bool state_restored_ = false;
  int64_t ticks_ = 0;
  QString last_error_;

  BackgroundJobs* jobs_ = nullptr;
};

}  // namespace emoe::ui
