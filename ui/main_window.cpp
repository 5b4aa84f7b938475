#include "ui/main_window.h"

#include <qcustomplot.h>

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QShowEvent>
#include <QStatusBar>
#include <QTimer>
#include <limits>
#include <utility>

#include "core/model/demo_model.h"
#include "ui/background_jobs.h"
#include "ui/controls_panel.h"
#include "ui/default_layout.h"
#include "ui/engine_settings_store.h"
#include "ui/experiment_dock.h"
#include "ui/expert_heatmap_view.h"
#include "ui/latency_plot_view.h"
#include "ui/live_views.h"
#include "ui/log_dock.h"
#include "ui/memory_plot_view.h"
#include "ui/model_dock.h"
#include "ui/plot_export.h"
#include "ui/prediction_view.h"
#include "ui/prompt_console.h"
#include "ui/recent_files.h"
#include "ui/report_export.h"
#include "ui/sensitivity_view.h"
#include "ui/session_browser.h"
#include "ui/session_report.h"
#include "ui/studio_paths.h"
#include "ui/token_trace_view.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

constexpr const char* kStatusBackend = "statusBackend";

bool is_model_file(const QUrl& url) {
  return url.isLocalFile() && url.toLocalFile().endsWith(".gguf", Qt::CaseInsensitive);
}

}  // namespace

const QStringList& MainWindow::dock_names() {
  static const QStringList names = {"Model",      "Prompt console", "Token trace", "Expert heatmap",
                                    "Memory",     "Latency",        "Controls",    "Log",
                                    "Prediction", "Sensitivity",    "Experiment"};
  return names;
}

MainWindow::MainWindow(MainWindowOptions options, QWidget* parent)
    : QMainWindow(parent), options_(std::move(options)) {
  qRegisterMetaType<emoe::ui::SessionReview>();
  setObjectName("MainWindow");
  setWindowTitle(tr("eMoE Studio"));
  setAcceptDrops(true);
  setDockNestingEnabled(true);
  setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowNestedDocks |
                 QMainWindow::AllowTabbedDocks);
  // The plots' column runs the full height; the log spans the other two.
  setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
  setCorner(Qt::TopRightCorner, Qt::RightDockWidgetArea);
  db_path_ = options_.db_path.isEmpty() ? StudioPaths::database_path() : options_.db_path;
  controller_ = new EngineController(this);
  build_docks();
  build_menus();
  arrange_docks();
  resize(1600, 1000);

  auto* sb = statusBar();
  status_model_ = new QLabel(tr("No model"), this);
  status_session_ = new QLabel(tr("Not recording"), this);
  status_speed_ = new QLabel(this);
  auto* backend = new QLabel(this);  // found by name: "engine: cpu", "engine: cuda:0"
  backend->setObjectName(kStatusBackend);
  sb->addWidget(status_model_, 1);
  sb->addPermanentWidget(backend);
  sb->addPermanentWidget(status_session_);
  sb->addPermanentWidget(status_speed_);

  connect_controller();
  if (options_.restore_settings) restore_settings();
  if (!options_.restore_settings) set_theme(Theme::Light);
  controller_->set_database(db_path_);

  tick_timer_ = new QTimer(this);
  tick_timer_->setInterval(kTickMs);
  connect(tick_timer_, &QTimer::timeout, this, &MainWindow::tick);
  tick_timer_->start();

  jobs_ = new BackgroundJobs(this);
  connect(jobs_, &BackgroundJobs::demo_progress, this,
          [this](double f) { model_dock_->show_progress(f, tr("generating the demo model")); });
  connect(jobs_, &BackgroundJobs::demo_ready, this, &MainWindow::open_model);
  connect(jobs_, &BackgroundJobs::demo_failed, this, [this](const QString& m) {
    on_model_failed(tr("Could not create the demo model: %1").arg(m));
  });
  connect(jobs_, &BackgroundJobs::report_written, this, [this](const QString& err) {
    if (err.isEmpty()) {
      log_->append(LogDock::Info, tr("Report written."));
    } else {
      show_error(tr("Export report"), err);
    }
    emit report_exported(err);
  });
  connect(jobs_, &BackgroundJobs::session_exported, this, [this](const QString& err) {
    if (err.isEmpty()) {
      log_->append(LogDock::Info, tr("Session exported."));
    } else {
      show_error(tr("Export session"), err);
    }
    emit session_exported(err);
  });
}

MainWindow::~MainWindow() { save_settings(); }  // jobs_ waits for its workers

void MainWindow::build_docks() {
  model_dock_ = new ModelDock(this);
  console_ = new PromptConsole(this);
  trace_ = new TokenTraceView(this);
  heatmap_ = new ExpertHeatmapView(this);
  memory_ = new MemoryPlotView(this);
  latency_ = new LatencyPlotView(this);
  controls_ = new ControlsPanel(this);
  log_ = new LogDock(this);
  prediction_ = new PredictionView(this);
  sensitivity_ = new SensitivityView(this);
  experiment_ = new ExperimentDock(db_path_, this);
  live_ = std::make_unique<LiveViews>(ViewSet{console_, trace_, heatmap_, memory_, latency_});
  const QList<QWidget*> widgets = {model_dock_, console_,     trace_,     heatmap_,
                                   memory_,     latency_,     controls_,  log_,
                                   prediction_, sensitivity_, experiment_};
  for (int i = 0; i < widgets.size(); ++i) {
    auto* dock = new QDockWidget(dock_names()[i], this);
    dock->setObjectName(dock_names()[i]);
    dock->setWidget(widgets[i]);
    dock->setFeatures(QDockWidget::DockWidgetClosable | QDockWidget::DockWidgetMovable |
                      QDockWidget::DockWidgetFloatable);
  }
  // No central widget: every view is a dock the user can arrange, and the dock areas share
  // the whole window.
}

QDockWidget* MainWindow::dock(const QString& name) const {
  return findChild<QDockWidget*>(name, Qt::FindDirectChildrenOnly);
}

void MainWindow::arrange_docks() { arrange_default_layout(*this, dock_names()); }

void MainWindow::apply_dock_sizes() { apply_default_dock_sizes(*this); }

void MainWindow::showEvent(QShowEvent* event) {
  QMainWindow::showEvent(event);
  // Sizes set before the first show are relative to a window that had no size yet.
  if (!shown_once_ && !state_restored_) {
    QTimer::singleShot(0, this, &MainWindow::apply_dock_sizes);  // once the geometry is final
  }
  shown_once_ = true;
}

void MainWindow::reset_layout() {
  arrange_docks();
  log_->append(LogDock::Info, tr("Layout reset."));
}

void MainWindow::build_menus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open model…"), this, &MainWindow::open_model_dialog);
  open->setShortcut(QKeySequence::Open);
  file->addAction(tr("Open &demo model"), this, &MainWindow::open_demo_model);
  QMenu* recent_menu = file->addMenu(tr("&Recent models"));
  recent_ = new RecentFiles(recent_menu, 8, this);
  recent_->set_persistent(options_.save_settings);
  connect(recent_, &RecentFiles::open_requested, this, &MainWindow::open_model);
  file->addSeparator();
  file->addAction(tr("Open &session…"), this, &MainWindow::open_session_browser);
  file->addAction(tr("Run e&xperiment…"), experiment_, &ExperimentDock::show_in_window);
  file->addSeparator();
  QMenu* export_plot_menu = file->addMenu(tr("Export &plot"));
  const std::pair<const char*, QString> plots[] = {
      {"heatmap", tr("Expert heatmap")}, {"memory", tr("Memory")}, {"latency", tr("Latency")}};
  for (const auto& [id, title] : plots) {
    QMenu* sub = export_plot_menu->addMenu(title);
    for (const char* suffix : {"png", "svg", "pdf"}) {
      const QString ext = QString::fromLatin1(suffix);
      const QString plot_id = id;
      sub->addAction(ext.toUpper() + "…", this, [this, plot_id, ext] {
        const QString path = ask_save_path(
            tr("Export plot"), QStringLiteral("%1 (*.%2)").arg(ext.toUpper(), ext), ext);
        if (path.isEmpty()) return;
        const QString err = export_plot(plot_id, path);
        if (!err.isEmpty()) show_error(tr("Export plot"), err);
      });
    }
  }
  QMenu* export_session_menu = file->addMenu(tr("Export s&ession"));
  export_session_menu->addAction(tr("JSON…"), this, [this] {
    const QString path = ask_save_path(tr("Export session"), tr("JSON (*.json)"), "json");
    if (!path.isEmpty()) export_session(path, false);
  });
  export_session_menu->addAction(tr("CSV directory…"), this, [this] {
    const QString path = ask_save_path(tr("Export session (a new directory)"), {}, {});
    if (!path.isEmpty()) export_session(path, true);
  });
  file->addAction(tr("Export &report…"), this, [this] {
    const QString html = ask_save_path(tr("Export report"), tr("HTML (*.html)"), "html");
    if (html.isEmpty()) return;
    export_report(html, QFileInfo(html).path() + "/" + QFileInfo(html).completeBaseName() + ".pdf");
  });
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  for (const QString& name : dock_names()) view->addAction(dock(name)->toggleViewAction());
  view->addSeparator();
  view->addAction(tr("&Reset layout"), this, &MainWindow::reset_layout)
      ->setObjectName("resetLayout");
  view->addSeparator();
  auto* themes = new QActionGroup(this);
  theme_light_ = view->addAction(tr("&Light theme"), this, [this] { set_theme(Theme::Light); });
  theme_dark_ = view->addAction(tr("&Dark theme"), this, [this] { set_theme(Theme::Dark); });
  for (QAction* a : {theme_light_, theme_dark_}) {
    a->setCheckable(true);
    themes->addAction(a);
  }
  theme_light_->setChecked(true);
}

void MainWindow::connect_controller() {
  EngineController* c = controller_;
  connect(c, &EngineController::load_progress, model_dock_, &ModelDock::show_progress);
  connect(c, &EngineController::model_loaded, this, &MainWindow::on_model_loaded);
  connect(c, &EngineController::model_failed, this, &MainWindow::on_model_failed);
  connect(c, &EngineController::settings_applied, this, [this](const EngineReport& r) {
    report_ = r;
    // A freshly loaded model runs with the worker's last settings; bring it to the Controls'.
    if (std::exchange(sync_settings_, false) && model_ && !(r.settings == controls_->settings())) {
      controller_->apply_settings(controls_->settings());
    }
    controls_->show_report(r);
    update_status();
    log_->append(
        LogDock::Info,
        tr("Settings applied: routing %1, budget %2.")
            .arg(QString::fromLatin1(engine::routing_mode_name(r.settings.mode).data()),
                 r.expert_budget_bytes ? format_bytes(r.expert_budget_bytes) : tr("all experts")));
  });
  connect(c, &EngineController::settings_failed, this, [this](const QString& m) {
    controls_->show_error(m);
    show_error(tr("Settings"), m);
  });
  connect(c, &EngineController::database_opened, this, [this](const QString& path, qint64 id) {
    session_id_ = id;
    db_path_ = path;
    experiment_->set_database(path);
    log_->append(LogDock::Info, tr("Recording session %1 into %2").arg(id).arg(path));
    if (model_) controller_->load_sensitivity();
    update_status();
  });
  connect(c, &EngineController::database_failed, this, [this](const QString& m) {
    session_id_ = 0;
    update_status();
    show_error(tr("History database"), m);
  });
  connect(c, &EngineController::request_started, this, [this](qint64 id, const QString& text) {
    if (reviewing_) leave_review();
    // Everything of the previous request is in the buffer by now; take it first so the
    // console shows it above this request.
    ingest(controller_->telemetry().drain());
    live_->request_started(id, text);
    console_->set_busy(true);
  });
  connect(c, &EngineController::request_finished, this, [this](const RequestStats& s) {
    // busy() no longer counts this request; a queued one keeps Stop enabled.
    console_->set_busy(controller_->busy());
    if (!s.error.empty())
      log_->append(LogDock::Error, tr("Request %1 failed: %2").arg(s.request_id).arg(qs(s.error)));
    update_status();
  });
  connect(c, &EngineController::log_message, log_, &LogDock::append);
  connect(experiment_, &ExperimentDock::log_message, log_, &LogDock::append);
  connect(c, &EngineController::request_task, console_, &PromptConsole::set_request_task);
  connect(c, &EngineController::sensitivity_loaded, sensitivity_, &SensitivityView::show_matrix);
  connect(c, &EngineController::sensitivity_progress, sensitivity_,
          &SensitivityView::show_progress);
  connect(c, &EngineController::sensitivity_failed, sensitivity_, &SensitivityView::show_failed);
  connect(sensitivity_, &SensitivityView::refresh_requested, c,
          &EngineController::load_sensitivity);
  connect(sensitivity_, &SensitivityView::profile_requested, c,
          &EngineController::profile_sensitivity);
  connect(sensitivity_, &SensitivityView::cancel_requested, c, &EngineController::cancel_profile);

  connect(console_, &PromptConsole::send_requested, this, [this](const PromptRequest& r) {
    if (!model_) {
      show_error(tr("Prompt"), tr("No model is loaded."));
      return;
    }
    controller_->submit(r);
  });
  connect(console_, &PromptConsole::stop_requested, controller_, &EngineController::stop);
  connect(console_, &PromptConsole::token_selected, this, [this](const TokenTelemetry& t) {
    live_->set_follow_latest(false);
    trace_->show_token(t);
  });
  connect(controls_, &ControlsPanel::settings_changed, this, [this](const EngineSettings& s) {
    model_dock_->set_budget_percent(controls_->budget_slider()->value());
    if (options_.save_settings) {
      QSettings q;
      save_engine_settings(q, s, controls_->budget_slider()->value());
    }
    if (model_) controller_->apply_settings(s);
  });
  connect(controls_, &ControlsPanel::budget_previewed, model_dock_, &ModelDock::set_budget_percent);
  connect(model_dock_, &ModelDock::open_requested, this, &MainWindow::open_model_dialog);
  connect(model_dock_, &ModelDock::cancel_requested, this, &MainWindow::cancel_load);
}

void MainWindow::restore_settings() {
  QSettings s;
  set_theme(theme_from_name(s.value("theme", "light").toString()));
  recent_->load();
  controls_->set_settings(load_engine_settings(s, controls_->settings()));
  if (s.contains("window/geometry")) restoreGeometry(s.value("window/geometry").toByteArray());
  if (s.contains("window/state")) {
    state_restored_ = restoreState(s.value("window/state").toByteArray());
  }
}

void MainWindow::save_settings() const {
  if (!options_.save_settings) return;
  QSettings s;
  s.setValue("window/geometry", saveGeometry());
  s.setValue("window/state", saveState());
  s.setValue("theme", theme_name(theme_));
  recent_->save();
}

void MainWindow::set_theme(Theme theme) {
  theme_ = theme;
  apply_theme(theme, this);
  (theme == Theme::Dark ? theme_dark_ : theme_light_)->setChecked(true);
  if (options_.save_settings) QSettings().setValue("theme", theme_name(theme));
}

void MainWindow::closeEvent(QCloseEvent* event) {
  save_settings();
  QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  const QList<QUrl> urls = event->mimeData()->urls();
  if (std::any_of(urls.begin(), urls.end(), is_model_file)) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  for (const QUrl& url : event->mimeData()->urls()) {
    if (is_model_file(url)) {
      event->acceptProposedAction();
      open_model(url.toLocalFile());
      return;
    }
  }
}

void MainWindow::open_model_dialog() {
  const QString start = model_ ? QFileInfo(model_->path).path() : StudioPaths::data_dir();
  const QString path = QFileDialog::getOpenFileName(this, tr("Open model"), start,
                                                    tr("GGUF models (*.gguf);;All files (*)"));
  if (!path.isEmpty()) open_model(path);
}

void MainWindow::open_model(const QString& path) {
  loading_path_ = path;
  load_cancelled_ = false;
  model_dock_->loading_started(path);
  log_->append(LogDock::Info, tr("Opening %1").arg(path));
  controller_->open_model(path);
}

void MainWindow::open_demo_model() {
  const QString dir = StudioPaths::demo_model_dir();
  if (!jobs_->generate_demo_model(dir)) return;
  model_dock_->loading_started(dir + "/" + model::kDemoModelFileName);
  model_dock_->show_progress(0, tr("generating the demo model"));
}

void MainWindow::cancel_load() {
  load_cancelled_ = true;
  jobs_->cancel_demo_model();
  controller_->cancel_load();
}

void MainWindow::on_model_loaded(const ModelSummary& s) {
  const bool fallback_reopen =
      !loading_path_.isEmpty() && QFileInfo(loading_path_) != QFileInfo(s.path);
  load_cancelled_ = false;
  model_ = s;
  loading_path_.clear();
  console_->set_busy(controller_->busy());
  model_dock_->show_summary(s);
  controls_->set_expert_bytes(s.all_expert_bytes, minimum_expert_budget(s));
  if (!fallback_reopen) recent_->add(s.path);
  leave_review();
  clear_views();
  setWindowTitle(tr("eMoE Studio — %1").arg(s.name));
  log_->append(LogDock::Info,
               tr("Loaded %1 (%2 layers, %3 experts)").arg(s.name).arg(s.n_layer).arg(s.n_expert));
  sync_settings_ = true;
  sensitivity_->set_model_open(true);
  controller_->load_sensitivity();
  update_status();
  emit model_ready(s);
}

void MainWindow::on_model_failed(const QString& message) {
  // The controller keeps the previous model open when a load fails or is cancelled.
  model_dock_->show_error(message);
  if (std::exchange(load_cancelled_, false)) {
    log_->append(LogDock::Info, message);  // the user asked for it: no error box
  } else {
    if (!loading_path_.isEmpty() &&
        !(model_ && QFileInfo(loading_path_) == QFileInfo(model_->path))) {
      recent_->remove(loading_path_);
    }
    show_error(tr("Open model"), message);
  }
  loading_path_.clear();
  console_->set_busy(controller_->busy());
  update_status();
}

void MainWindow::show_error(const QString& title, const QString& message) {
  last_error_ = message;
  log_->append(LogDock::Error, QStringLiteral("%1: %2").arg(title, message));
  // One non-modal box, reused: the window stays usable while it is shown.
  if (!error_box_) {
    error_box_ = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
    error_box_->setObjectName("errorBox");
    error_box_->setWindowModality(Qt::NonModal);
  }
  error_box_->setWindowTitle(title);
  error_box_->setText(message);
  error_box_->show();
  error_box_->raise();
  emit error_shown(message);
}

void MainWindow::clear_views() {
  live_->reset(model_ ? model_->n_layer : 0, model_ ? model_->n_expert : 0);
  prediction_->clear();
}

void MainWindow::leave_review() {
  if (!reviewing_) return;
  reviewing_ = false;
  clear_views();
  update_status();
}

void MainWindow::tick() {
  ++ticks_;
  // While a recorded session is shown, live telemetry stays in the buffer (its counts are never
  // dropped there) until request_started ends the review and takes it: draining it here would
  // lose a short request that finished before its request_started signal arrived.
  if (!reviewing_) {
    TelemetryBatch batch = controller_->telemetry().drain();
    if (!batch.empty()) {
      ingest(std::move(batch));
      update_status();
    }
  }
  live_->update();
  prediction_->replot_if_dirty();
  emit ticked();
}

void MainWindow::ingest(TelemetryBatch batch) {
  prediction_->add(batch.predictions);
  live_->ingest(std::move(batch));
}

void MainWindow::update_status() {
  status_model_->setText(model_ ? tr("Model: %1").arg(model_->name) : tr("No model"));
  status_session_->setText(reviewing_        ? tr("Reviewing a recorded session")
                           : session_id_ > 0 ? tr("Session %1").arg(session_id_)
                                             : tr("Not recording"));
  // The backend that runs (the CPU after a CUDA fallback); the tooltip says which GPU or why.
  if (auto* b = statusBar()->findChild<QLabel*>(kStatusBackend, Qt::FindDirectChildrenOnly)) {
    const bool running = model_ && report_;
    b->setText(running ? tr("engine: %1").arg(qs(report_->backend)) : QString());
    b->setToolTip(!running                          ? QString()
                  : !report_->device_notice.empty() ? qs(report_->device_notice)
                                                    : qs(report_->device_name));
  }
  const double tok_s = live_->decode_tok_s();
  status_speed_->setText(tok_s > 0 ? tr("%1 tok/s").arg(tok_s, 0, 'f', 1) : QString());
}

void MainWindow::open_database(const QString& path) {
  log_->append(LogDock::Info, tr("Opening history database %1").arg(path));
  controller_->set_database(path);
}

void MainWindow::open_session_browser() {
  auto* browser = new SessionBrowser(db_path_, this);
  browser->setAttribute(Qt::WA_DeleteOnClose);
  connect(browser, &SessionBrowser::review_loaded, this, &MainWindow::show_review);
  connect(browser, &SessionBrowser::failed, this,
          [this](const QString& m) { log_->append(LogDock::Error, m); });
  browser->open();
}

void MainWindow::show_review(const SessionReview& r) {
  reviewing_ = true;
  live_->show_review(r);
  status_session_->setText(tr("Reviewing session %1").arg(r.info.id));
  log_->append(LogDock::Info, tr("Reviewing session %1 (%2 requests, %3 tokens)")
                                  .arg(r.info.id)
                                  .arg(r.requests.size())
                                  .arg(r.tokens.size()));
  emit review_shown(r.info.id);
}

size_t MainWindow::console_backlog() const { return live_->console_backlog(); }
int64_t MainWindow::tokens_seen() const { return live_->tokens_seen(); }
const std::vector<TokenTelemetry>& MainWindow::request_tokens() const {
  return live_->request_tokens();
}

QCustomPlot* MainWindow::plot(const QString& id) const {
  if (id == "heatmap") return heatmap_->plot();
  if (id == "memory") return memory_->plot();
  if (id == "latency") return latency_->plot();
  return nullptr;
}

QString MainWindow::export_plot(const QString& id, const QString& path) {
  QCustomPlot* p = plot(id);
  if (!p) return tr("no plot named '%1'").arg(id);
  const QString err = ::emoe::ui::export_plot(p, path);
  if (err.isEmpty()) log_->append(LogDock::Info, tr("Plot written to %1").arg(path));
  return err;
}

QString MainWindow::ask_save_path(const QString& title, const QString& filter,
                                  const QString& suffix) {
  QString path = QFileDialog::getSaveFileName(this, title, QDir::homePath(), filter);
  if (!path.isEmpty() && !suffix.isEmpty() && QFileInfo(path).suffix().isEmpty())
    path += "." + suffix;
  return path;
}

void MainWindow::export_report(const QString& html_path, const QString& pdf_path) {
  SessionReportInputs in;
  in.model = model_;
  in.engine = report_;
  in.session_id = session_id_;
  in.requests = latency_->requests();
  in.memory = memory_->points();
  in.counts = heatmap_->counts(ExpertHeatmapView::Scope::Session);
  in.n_layer = model_ ? model_->n_layer : 0;
  in.n_expert = model_ ? model_->n_expert : 0;
  in.slo_attainment = latency_->slo_attainment();
  // Plots are painted here, on the GUI thread; the files are written on a worker.
  in.plots = {{tr("Expert heatmap (layer x expert, tokens that used each expert)"),
               render_plot(heatmap_->plot())},
              {tr("Device memory over time"), render_plot(memory_->plot())},
              {tr("Latency per request"), render_plot(latency_->plot())}};
  jobs_->write_report(build_session_report(in), html_path, pdf_path);
}

void MainWindow::export_session(const QString& path, bool csv) {
  if (session_id_ <= 0) {
    show_error(tr("Export session"), tr("This session is not being recorded (no database)."));
    emit session_exported(last_error_);
    return;
  }
  jobs_->export_session(db_path_, session_id_, path, csv);
}

}  // namespace emoe::ui
