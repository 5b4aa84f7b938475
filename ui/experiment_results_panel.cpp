#include "ui/experiment_results_panel.h"

#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QResizeEvent>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>
#include <set>
#include <utility>

#include "core/report/experiment_report.h"
#include "db/database.h"
#include "db/schema.h"
#include "ui/controls_panel.h"
#include "ui/experiment_plots_view.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

constexpr int kRunRole = Qt::UserRole;             // a point item's run id
constexpr int kExperimentRole = Qt::UserRole + 1;  // an experiment item's id
constexpr int kSideBySideWidth = 900;              // px: narrower stacks list and comparison

Result<std::unique_ptr<db::Database>> open_existing(const QString& path) {
  if (path.isEmpty()) return not_found("no history database is open");
  if (!QFileInfo::exists(path)) {
    return not_found("no history database at '" + path.toStdString() + "' yet");
  }
  db::OpenOptions o;
  o.create = false;
  return db::open_store(path.toStdString(), o);
}

QString ms(double v) { return QString::number(v, 'f', 1); }

// Labels are "key=value ..." in a fixed order; only the parameters that differ between the
// points tell them apart, so lists and tables show those (the full label is the tooltip).
QStringList varying_parts(const QStringList& labels) {
  std::vector<QStringList> parts;
  for (const QString& l : labels) parts.push_back(l.split(' ', Qt::SkipEmptyParts));
  QStringList out;
  for (size_t i = 0; i < parts.size(); ++i) {
    QStringList keep;
    for (qsizetype k = 0; k < parts[i].size(); ++k) {
      const bool same = std::all_of(parts.begin(), parts.end(), [&](const QStringList& o) {
        return o.size() == parts[i].size() && o[k] == parts[i][k];
      });
      if (!same) keep << parts[i][k];
    }
    out << (keep.isEmpty() ? labels[static_cast<qsizetype>(i)] : keep.join(' '));
  }
  return out;
}

}  // namespace

double ExperimentResultsPanel::metric(const experiment::PointResult& p, Column c) {
  switch (c) {
    case ColPoint:
      return p.point.index;
    case ColRequests:
      return static_cast<double>(p.run.requests);
    case ColSlo:
      return p.run.slo_attainment;
    case ColTtftMean:
      return p.run.mean_ttft_ms;
    case ColTtftP99:
      return p.run.p99_ttft_ms;
    case ColE2eMean:
      return p.run.mean_e2e_ms;
    case ColE2eP90:
      return p.run.p90_e2e_ms;
    case ColE2eP99:
      return p.run.p99_e2e_ms;
    case ColTokensPerS:
      return p.run.throughput_tokens_per_s;
    case ColHitRate:
      return p.hit_rate;
    case ColAccuracy:
      return p.accuracy;
    case ColLoads:
      return static_cast<double>(p.loads);
    case ColBytesMoved:
      return static_cast<double>(p.bytes_moved);
    case ColPeakBytes:
      return static_cast<double>(p.peak_total_bytes);
    case ColumnCount:
      break;
  }
  return 0;
}

ExperimentResultsPanel::ExperimentResultsPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* buttons = new QHBoxLayout;
  refresh_ = new QPushButton(tr("Refresh"), this);
  refresh_->setObjectName("experimentRefresh");
  export_ = new QPushButton(tr("Export report…"), this);
  export_->setObjectName("experimentExport");
  export_->setEnabled(false);
  export_->setToolTip(
      tr("Writes report.html, report.pdf, summary.json, requests.csv and "
         "points.csv of the points shown into a directory."));
  status_ = new QLabel(this);
  status_->setObjectName("experimentResultsStatus");
  buttons->addWidget(refresh_);
  buttons->addWidget(export_);
  buttons->addWidget(status_, 1);
  layout->addLayout(buttons);

  auto* split = split_ = new QSplitter(Qt::Horizontal, this);
  tree_ = new QTreeWidget(split);
  tree_->setObjectName("experimentList");
  tree_->setHeaderLabels({tr("Experiment / point"), tr("Status"), tr("SLO"), tr("tok/s")});
  tree_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  tree_->header()->setStretchLastSection(false);
  tree_->header()->setSectionResizeMode(0, QHeaderView::Stretch);
  tree_->setToolTip(
      tr("Select points (Ctrl/Shift for several, an experiment for all of its "
         "points) to compare them; double-click a point for its requests."));
  split->addWidget(tree_);
  auto* right = new QSplitter(Qt::Vertical, split);
  table_ = new QTableWidget(0, ColumnCount, right);
  table_->setObjectName("experimentCompare");
  table_->setHorizontalHeaderLabels({tr("point"), tr("requests"), tr("SLO %"), tr("TTFT mean ms"),
                                     tr("TTFT p99 ms"), tr("E2E mean ms"), tr("E2E p90 ms"),
                                     tr("E2E p99 ms"), tr("tok/s"), tr("hit rate"), tr("accuracy"),
                                     tr("loads"), tr("bytes moved"), tr("peak memory")});
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  plots_ = new ExperimentPlotsView(right);
  right->addWidget(table_);
  right->addWidget(plots_);
  right->setStretchFactor(1, 2);
  split->addWidget(right);
  split->setStretchFactor(1, 3);
  layout->addWidget(split, 1);

  selection_debounce_ = new QTimer(this);
  selection_debounce_->setSingleShot(true);
  selection_debounce_->setInterval(150);  // a Shift-click range is one comparison
  connect(selection_debounce_, &QTimer::timeout, this, [this] {
    const std::vector<int64_t> runs = selected_runs();
    if (!runs.empty()) compare(runs);
  });
  connect(tree_, &QTreeWidget::itemSelectionChanged, this, [this] {
    if (!filling_) selection_debounce_->start();
  });
  connect(tree_, &QTreeWidget::itemDoubleClicked, this, [this](QTreeWidgetItem* item) {
    const qint64 run = item->data(0, kRunRole).toLongLong();
    if (run <= 0) return;
    if (shown_) {
      for (const experiment::PointResult& p : shown_->points) {
        if (p.run_id == run) {
          emit point_opened(p);
          return;
        }
      }
    }
    load_runs({run}, true);
  });
  connect(table_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
    if (shown_ && row >= 0 && row < static_cast<int>(shown_->points.size()))
      emit point_opened(shown_->points[static_cast<size_t>(row)]);
  });
  connect(refresh_, &QPushButton::clicked, this, &ExperimentResultsPanel::refresh);
  connect(export_, &QPushButton::clicked, this, &ExperimentResultsPanel::export_dialog);

  connect(&list_watcher_, &QFutureWatcher<Listing>::finished, this, [this] {
    Listing l = list_watcher_.result();
    if (!l.error.isEmpty()) {
      status_->setText(l.error);
      emit failed(l.error);
    }
    experiments_ = std::move(l.experiments);
    fill_tree();
    // After a run: its experiment is selected, so the list agrees with the table.
    if (const int64_t id = std::exchange(select_after_refresh_, 0); id > 0) select_experiment(id);
    if (l.error.isEmpty()) {
      status_->setText(tr("%1 stored experiment(s)").arg(experiments_.size()));
    }
    emit experiments_listed(static_cast<int>(experiments_.size()));
  });
  connect(&load_watcher_, &QFutureWatcher<Loaded>::finished, this,
          &ExperimentResultsPanel::on_loaded);
  connect(&export_watcher_, &QFutureWatcher<QString>::finished, this, [this] {
    const QString r = export_watcher_.result();
    export_->setEnabled(shown_.has_value());
    if (r.startsWith("error:")) {
      emit report_written({}, r.mid(6));
    } else {
      emit report_written(r.split('\n', Qt::SkipEmptyParts), {});
    }
  });
}

void ExperimentResultsPanel::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  // Side by side when there is room; stacked in a narrow dock (the default middle column),
  // where a list beside the table would leave neither readable.
  const Qt::Orientation o = width() >= kSideBySideWidth ? Qt::Horizontal : Qt::Vertical;
  if (o == split_->orientation() && laid_out_) return;
  laid_out_ = true;
  split_->setOrientation(o);
  const int extent = o == Qt::Horizontal ? split_->width() : split_->height();
  split_->setSizes({extent / 4, extent - extent / 4});
}

ExperimentResultsPanel::~ExperimentResultsPanel() {
  // The list and load jobs only read; a report half written would be left behind.
  export_watcher_.waitForFinished();
}

void ExperimentResultsPanel::set_database(const QString& path) {
  if (path == db_path_) return;
  db_path_ = path;
  refresh();
}

void ExperimentResultsPanel::refresh(int64_t select_experiment_id) {
  select_after_refresh_ = select_experiment_id;
  status_->setText(tr("Reading %1…").arg(db_path_));
  const QString path = db_path_;
  list_watcher_.setFuture(QtConcurrent::run([path]() -> Listing {
    Listing out;
    if (path.isEmpty() || !QFileInfo::exists(path)) return out;  // nothing stored yet
    auto db = open_existing(path);
    if (!db.ok()) {
      out.error = qs(db.status().message());
      return out;
    }
    auto rows = db::list_experiments(**db);
    if (!rows.ok()) {
      out.error = qs(rows.status().message());
      return out;
    }
    for (const db::ExperimentRow& row : *rows) {
      StoredExperiment e;
      e.row = row;
      auto full = db::load_experiment(**db, row.id);
      if (full.ok()) {
        for (const experiment::PointResult& p : full->points) {
          e.points.push_back({p.run_id, p.point.index, qs(p.point.label()), p.run.slo_attainment,
                              p.run.throughput_tokens_per_s});
        }
      }
      out.experiments.push_back(std::move(e));
    }
    // Newest first: the run just made is at the top.
    std::sort(out.experiments.begin(), out.experiments.end(),
              [](const auto& a, const auto& b) { return a.row.id > b.row.id; });
    return out;
  }));
}

void ExperimentResultsPanel::fill_tree() {
  const std::vector<int64_t> keep = selected_runs();
  const std::set<int64_t> keep_set(keep.begin(), keep.end());
  filling_ = true;
  tree_->clear();
  for (const StoredExperiment& e : experiments_) {
    auto* top = new QTreeWidgetItem(tree_);
    const QString when =
        QDateTime::fromMSecsSinceEpoch(e.row.created_at_us / 1000).toString("yyyy-MM-dd hh:mm");
    top->setText(0, tr("#%1 %2 — %3 point(s), %4")
                        .arg(e.row.id)
                        .arg(qs(e.row.name))
                        .arg(e.row.points)
                        .arg(when));
    top->setToolTip(
        0, tr("model %1, %2 s").arg(qs(e.row.model_path)).arg(e.row.wall_seconds, 0, 'f', 1));
    top->setText(1, qs(e.row.status));
    top->setData(0, kExperimentRole, static_cast<qlonglong>(e.row.id));
    QStringList labels;
    for (const StoredExperiment::Point& p : e.points) labels << p.label;
    const QStringList shorter = varying_parts(labels);
    for (size_t i = 0; i < e.points.size(); ++i) {
      const StoredExperiment::Point& p = e.points[i];
      auto* item = new QTreeWidgetItem(top);
      item->setText(0, QStringLiteral("%1. %2").arg(p.index).arg(shorter[static_cast<int>(i)]));
      item->setToolTip(0, p.label);
      item->setText(2, QStringLiteral("%1%").arg(100 * p.slo_attainment, 0, 'f', 1));
      item->setText(3, QString::number(p.tokens_per_s, 'f', 1));
      item->setData(0, kRunRole, static_cast<qlonglong>(p.run_id));
      item->setSelected(keep_set.count(p.run_id) > 0);
    }
  }
  tree_->expandToDepth(0);
  for (int c = 1; c < tree_->columnCount(); ++c) tree_->resizeColumnToContents(c);
  filling_ = false;
}

std::vector<int64_t> ExperimentResultsPanel::selected_runs() const {
  std::vector<int64_t> runs;
  std::set<int64_t> seen;
  for (int i = 0; i < tree_->topLevelItemCount(); ++i) {
    QTreeWidgetItem* top = tree_->topLevelItem(i);
    for (int j = 0; j < top->childCount(); ++j) {
      QTreeWidgetItem* c = top->child(j);
      const int64_t run = c->data(0, kRunRole).toLongLong();
      if ((top->isSelected() || c->isSelected()) && seen.insert(run).second) runs.push_back(run);
    }
  }
  return runs;
}

bool ExperimentResultsPanel::select_experiment(int64_t experiment_id) {
  for (int i = 0; i < tree_->topLevelItemCount(); ++i) {
    QTreeWidgetItem* top = tree_->topLevelItem(i);
    if (top->data(0, kExperimentRole).toLongLong() != experiment_id) continue;
    tree_->clearSelection();
    top->setSelected(true);
    tree_->scrollToItem(top);
    return true;
  }
  return false;
}

void ExperimentResultsPanel::compare(std::vector<int64_t> run_ids) {
  load_runs(std::move(run_ids), false);
}

void ExperimentResultsPanel::load_runs(std::vector<int64_t> run_ids, bool open_point) {
  status_->setText(open_point ? tr("Loading the point…")
                              : tr("Loading %1 point(s)…").arg(run_ids.size()));
  const QString path = db_path_;
  load_watcher_.setFuture(QtConcurrent::run([path, run_ids, open_point]() -> Loaded {
    Loaded out;
    out.open_point = open_point;
    auto db = open_existing(path);
    if (!db.ok()) {
      out.error = qs(db.status().message());
      return out;
    }
    auto r = db::load_experiment_runs(**db, run_ids);
    if (!r.ok()) {
      out.error = qs(r.status().message());
      return out;
    }
    if (!open_point) out.plots = report::experiment_plots(*r);
    out.result = std::move(*r);
    return out;
  }));
}

void ExperimentResultsPanel::present(const experiment::ExperimentResult& result) {
  filling_ = true;  // what is shown is no longer the list's selection
  tree_->clearSelection();
  selection_debounce_->stop();
  filling_ = false;
  load_watcher_.setFuture(QtConcurrent::run([result]() -> Loaded {
    Loaded out;
    out.plots = report::experiment_plots(result);
    out.result = result;
    return out;
  }));
}

void ExperimentResultsPanel::on_loaded() {
  Loaded l = load_watcher_.result();
  if (!l.error.isEmpty()) {
    status_->setText(l.error);
    emit failed(l.error);
    return;
  }
  if (l.open_point) {
    if (!l.result->points.empty()) emit point_opened(l.result->points.front());
    status_->setText(tr("%1 stored experiment(s)").arg(experiments_.size()));
    return;
  }
  shown_ = std::move(l.result);
  fill_table();
  plots_->set_plots(std::move(l.plots));
  export_->setEnabled(!export_watcher_.isRunning());
  status_->setText(tr("Comparing %1 point(s) of \"%2\"")
                       .arg(shown_->points.size())
                       .arg(qs(shown_->config.name)));
  emit compared(static_cast<int>(shown_->points.size()));
}

void ExperimentResultsPanel::fill_table() {
  const auto& points = shown_->points;
  QStringList labels;
  for (const experiment::PointResult& p : points) labels << qs(p.point.label());
  const QStringList shorter = varying_parts(labels);
  table_->setRowCount(static_cast<int>(points.size()));
  for (int r = 0; r < static_cast<int>(points.size()); ++r) {
    const experiment::PointResult& p = points[static_cast<size_t>(r)];
    table_->setVerticalHeaderItem(
        r, new QTableWidgetItem(p.run_id > 0 ? tr("run %1").arg(p.run_id) : QString::number(r)));
    for (int c = 0; c < ColumnCount; ++c) {
      const auto col = static_cast<Column>(c);
      const double v = metric(p, col);
      QString text;
      switch (col) {
        case ColPoint:
          text = shorter[r];
          break;
        case ColRequests:
          text = tr("%1 / %2").arg(p.run.completed).arg(p.run.requests);
          break;
        case ColSlo:
          text = QString::number(100 * v, 'f', 1);
          break;
        case ColTokensPerS:
          text = QString::number(v, 'f', 1);
          break;
        case ColHitRate:
          text = QString::number(v, 'f', 3);
          break;
        case ColAccuracy:
          text = p.accuracy_measured ? QString::number(v, 'f', 3) : "—";
          break;
        case ColLoads:
          text = QString::number(p.loads);
          break;
        case ColBytesMoved:
          text = format_bytes(p.bytes_moved);
          break;
        case ColPeakBytes:
          text = format_bytes(p.peak_total_bytes);
          break;
        default:
          text = ms(v);
          break;
      }
      auto* item = new QTableWidgetItem(text);
      item->setData(Qt::UserRole, v);
      if (col == ColPoint) item->setToolTip(labels[r]);
      if (col != ColPoint) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      table_->setItem(r, c, item);
    }
  }
}

bool ExperimentResultsPanel::export_report(const QString& dir) {
  if (!shown_ || export_watcher_.isRunning()) return false;
  export_->setEnabled(false);
  const experiment::ExperimentResult result = *shown_;
  export_watcher_.setFuture(QtConcurrent::run([result, dir]() -> QString {
    auto written = report::write_experiment_report(result, dir.toStdString());
    if (!written.ok()) return "error:" + qs(written.status().message());
    QStringList paths;
    for (const std::string& p : *written) paths << qs(p);
    return paths.join('\n');
  }));
  return true;
}

void ExperimentResultsPanel::export_dialog() {
  const QString dir = QFileDialog::getExistingDirectory(
      this, tr("Export the experiment report into"), QDir::homePath());
  if (!dir.isEmpty()) export_report(dir);
}

}  // namespace emoe::ui
