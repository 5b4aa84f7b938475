#include "ui/experiment_dock.h"

#include <QComboBox>
#include <QDockWidget>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QTabWidget>
#include <QVBoxLayout>

#include "core/experiment/experiment_matrix.h"
#include "ui/experiment_config_editor.h"
#include "ui/experiment_results_panel.h"
#include "ui/request_timeline_view.h"
#include "ui/studio_paths.h"
#include "ui/view_style.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

constexpr int kProgressSteps = 1000;
constexpr int kLiveItem = -1;  // the point combo's entry for the running point

}  // namespace

ExperimentDock::ExperimentDock(const QString& db_path, QWidget* parent)
    : QWidget(parent), db_path_(db_path) {
  setObjectName("experimentDock");
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  auto* row = new QHBoxLayout;
  run_ = new QPushButton(tr("Run"), this);
  run_->setObjectName("experimentRun");
  run_->setToolTip(tr("Runs the configuration on its own engine; the console stays usable."));
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setObjectName("experimentCancel");
  cancel_->setEnabled(false);
  progress_ = new QProgressBar(this);
  progress_->setObjectName("experimentProgress");
  progress_->setRange(0, kProgressSteps);
  progress_->setValue(0);
  progress_->setTextVisible(true);
  row->addWidget(run_);
  row->addWidget(cancel_);
  row->addWidget(progress_, 1);
  layout->addLayout(row);
  status_ = new QLabel(tr("Load or write a configuration, then Run."), this);
  status_->setObjectName("experimentStatus");
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  status_->setWordWrap(true);
  layout->addWidget(status_);

  tabs_ = new QTabWidget(this);
  editor_ = new ExperimentConfigEditor(tabs_);
  tabs_->addTab(editor_, tr("Configuration"));
  auto* requests = new QWidget(tabs_);
  auto* rl = new QVBoxLayout(requests);
  rl->setContentsMargins(0, 0, 0, 0);
  auto* pick = new QHBoxLayout;
  pick->addWidget(new QLabel(tr("Point:"), requests));
  points_ = new QComboBox(requests);
  points_->setObjectName("experimentPoint");
  points_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  points_->setPlaceholderText(tr("a stored point (from Results)"));
  points_->addItem(tr("live (the running point)"), kLiveItem);
  points_->setCurrentIndex(0);
  pick->addWidget(points_);
  pick->addStretch(1);
  rl->addLayout(pick);
  timeline_ = new RequestTimelineView(requests);
  rl->addWidget(timeline_, 1);
  tabs_->addTab(requests, tr("Requests"));
  results_ = new ExperimentResultsPanel(tabs_);
  tabs_->addTab(results_, tr("Results"));
  layout->addWidget(tabs_, 1);

  worker_ = new ExperimentWorker(this);
  connect_worker();
  connect(run_, &QPushButton::clicked, this, [this] { (void)run(); });
  connect(cancel_, &QPushButton::clicked, this, &ExperimentDock::cancel);
  connect(editor_, &ExperimentConfigEditor::log_message, this, &ExperimentDock::log_message);
  connect(points_, &QComboBox::activated, this, [this](int i) {
    const int k = points_->itemData(i).toInt();
    if (k == kLiveItem) {
      timeline_->show_live();
    } else if (k >= 0 && k < static_cast<int>(run_points_.size())) {
      timeline_->show_point(run_points_[static_cast<size_t>(k)]);
    }
  });
  connect(results_, &ExperimentResultsPanel::point_opened, this,
          [this](const experiment::PointResult& p) {
            timeline_->show_point(p);
            points_->setCurrentIndex(-1);  // neither live nor a point of this run
            tabs_->setCurrentIndex(RequestsTab);
          });
  connect(results_, &ExperimentResultsPanel::failed, this,
          [this](const QString& m) { emit log_message(2, tr("Experiments: %1").arg(m)); });
  connect(results_, &ExperimentResultsPanel::report_written, this,
          [this](const QStringList& paths, const QString& error) {
            if (!error.isEmpty()) {
              set_status(tr("Report not written: %1").arg(error), 2);
              emit log_message(2, tr("Experiment report: %1").arg(error));
            } else {
              set_status(tr("Report written: %1").arg(paths.join(", ")));
              emit log_message(0, tr("Experiment report written: %1").arg(paths.join(", ")));
            }
          });
  editor_->load_demo();
  results_->set_database(db_path_);
}

ExperimentDock::~ExperimentDock() {
  // Joined here, while this is whole: the job's last signals are queued to a live object and
  // dropped with it. The runner checks the flag between steps, so this is short.
  worker_->cancel();
  delete worker_;
}

void ExperimentDock::set_database(const QString& path) {
  db_path_ = path;
  results_->set_database(path);
}

bool ExperimentDock::running() const { return worker_->running(); }

void ExperimentDock::show_in_window() {
  if (auto* dock = qobject_cast<QDockWidget*>(parentWidget())) {
    dock->show();
    dock->raise();
  }
  tabs_->setCurrentIndex(ConfigTab);
}

QString ExperimentDock::status_text() const { return status_->text(); }

void ExperimentDock::set_status(const QString& text, int level) {
  status_->setText(text);
  status_->setStyleSheet(
      level >= 2 ? QStringLiteral("color: %1").arg(style::bad_color(palette()).name()) : QString());
}

void ExperimentDock::connect_worker() {
  ExperimentWorker* w = worker_;
  // A context object on every connection: the worker emits from its own thread, so these run
  // queued on the GUI thread.
  connect(w, &ExperimentWorker::started, this, [this](qint64 id, const QString& model) {
    experiment_id_ = id;
    emit log_message(
        0, id > 0 ? tr("Experiment %1 started on %2, stored in %3.").arg(id).arg(model, db_path_)
                  : tr("Experiment started on %1 (not stored).").arg(model));
    emit run_started(id);
  });
  connect(w, &ExperimentWorker::progress, this, &ExperimentDock::on_progress);
  connect(w, &ExperimentWorker::request_events, this, &ExperimentDock::on_events);
  connect(w, &ExperimentWorker::point_finished, this, &ExperimentDock::on_point);
  connect(w, &ExperimentWorker::finished, this, &ExperimentDock::on_finished);
  connect(w, &ExperimentWorker::failed, this, &ExperimentDock::on_failed);
  connect(w, &ExperimentWorker::log_message, this, &ExperimentDock::log_message);
}

bool ExperimentDock::run() {
  if (worker_->running()) {
    set_status(tr("An experiment is already running; cancel it first."), 1);
    return false;
  }
  std::optional<experiment::ExperimentConfig> config = editor_->validate();
  if (!config) {
    set_status(tr("Not started. %1%2").arg(editor_->location(), editor_->error_detail()), 2);
    emit log_message(2, tr("Experiment not started: %1").arg(editor_->error()));
    tabs_->setCurrentIndex(ConfigTab);
    return false;
  }
  ExperimentJob job;
  job.model_path = qs(config->model);
  if (job.model_path == "demo" || job.model_path.isEmpty()) {
    job.demo_dir = demo_dir_.isEmpty() ? StudioPaths::demo_model_dir() : demo_dir_;
  }
  job.db_path = db_path_;
  labels_.clear();
  for (const experiment::ExperimentPoint& p : experiment::expand_matrix(*config))
    labels_ << qs(p.label());
  job.config = std::move(*config);
  const QString name = qs(job.config.name);
  if (!worker_->start(std::move(job))) return false;

  run_points_.clear();
  last_.reset();
  last_progress_.reset();
  experiment_id_ = 0;
  timeline_->clear();
  points_->clear();
  points_->addItem(tr("live (the running point)"), kLiveItem);
  points_->setCurrentIndex(0);  // with a placeholder text, adding does not select
  progress_->setValue(0);
  progress_->setFormat(tr("starting"));
  set_status(tr("Starting \"%1\": %2 point(s)…").arg(name).arg(labels_.size()));
  set_running(true);
  tabs_->setCurrentIndex(RequestsTab);
  return true;
}

void ExperimentDock::cancel() {
  if (!worker_->running()) return;
  worker_->cancel();
  cancel_->setEnabled(false);
  set_status(tr("Cancelling after the current step; the points done stay stored…"));
}

void ExperimentDock::set_running(bool running) {
  run_->setEnabled(!running);
  cancel_->setEnabled(running);
}

void ExperimentDock::on_progress(const ExperimentProgressInfo& p) {
  last_progress_ = p;
  progress_->setValue(static_cast<int>(p.fraction() * kProgressSteps + 0.5));
  if (p.phase == "point") {
    progress_->setFormat(tr("point %1/%2 — %p%").arg(p.point + 1).arg(p.points));
    set_status(tr("Point %1 of %2: %3 — %4/%5 requests")
                   .arg(p.point + 1)
                   .arg(p.points)
                   .arg(p.label)
                   .arg(p.requests_done)
                   .arg(p.requests));
    if (p.point > timeline_->live_point()) timeline_->begin_live(p.point, p.label);
  } else {
    progress_->setFormat(tr("%1 — %p%").arg(p.phase));
    set_status(p.label.isEmpty() ? p.phase : tr("%1: %2").arg(p.phase, p.label));
  }
}

void ExperimentDock::on_events(const std::vector<TimelineEvent>& events) {
  // A point's events may arrive before its progress: start its live rows here too.
  for (const TimelineEvent& e : events) {
    if (e.point > timeline_->live_point()) {
      timeline_->begin_live(e.point, e.point < labels_.size() ? labels_[e.point] : QString());
    }
  }
  timeline_->add_events(events);
}

void ExperimentDock::on_point(const experiment::PointResult& p) {
  run_points_.push_back(p);
  timeline_->annotate_live(p);
  points_->addItem(tr("%1. %2").arg(p.point.index).arg(qs(p.point.label())),
                   static_cast<int>(run_points_.size() - 1));
  emit log_message(0, tr("Point %1 done: SLO %2%, %3 tok/s, E2E mean %4 ms (%5).")
                          .arg(p.point.index)
                          .arg(100 * p.run.slo_attainment, 0, 'f', 1)
                          .arg(p.run.throughput_tokens_per_s, 0, 'f', 1)
                          .arg(p.run.mean_e2e_ms, 0, 'f', 1)
                          .arg(qs(p.point.label())));
}

void ExperimentDock::on_finished(const experiment::ExperimentResult& r) {
  last_ = r;
  set_running(false);
  const QString where =
      r.experiment_id > 0 ? tr(" as experiment %1").arg(r.experiment_id) : tr(" (not stored)");
  if (r.cancelled) {
    progress_->setFormat(tr("cancelled — %p%"));
    set_status(tr("Cancelled after %1 of %2 point(s); those are stored%3.")
                   .arg(r.points.size())
                   .arg(labels_.size())
                   .arg(where),
               1);
  } else {
    progress_->setValue(kProgressSteps);
    progress_->setFormat(tr("done"));
    set_status(tr("Done: %1 point(s) in %2 s%3.")
                   .arg(r.points.size())
                   .arg(r.wall_seconds, 0, 'f', r.wall_seconds < 10 ? 2 : 1)
                   .arg(where));
  }
  emit log_message(r.cancelled ? 1 : 0, status_->text());
  results_->present(r);
  results_->refresh(r.experiment_id);
  emit run_finished(r);
}

void ExperimentDock::on_failed(const QString& message) {
  set_running(false);
  progress_->setFormat(tr("failed"));
  set_status(tr("Failed: %1").arg(message), 2);
  emit log_message(2, tr("Experiment failed: %1").arg(message));
  // Points finished before the error are stored; the list shows them.
  results_->refresh();
  emit run_failed(message);
}

}  // namespace emoe::ui
