// The Experiment dock's results: the experiments stored in the database with their points
// (refreshable), a multi-selection of points (from one experiment or several) compared side by
// side in a table of the main metrics and in the report's plots, and "Export report…", which
// writes report.html, report.pdf, summary.json, requests.csv and points.csv of what is shown
// (core/report/experiment_report.h). Every database read, every plot computation and the
// report writing run on worker threads; a newer request supersedes an older one.
#pragma once

#include <QFutureWatcher>
#include <QString>
#include <QStringList>
#include <QWidget>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/experiment/experiment_result.h"
#include "core/report/plot.h"
#include "db/experiment_store.h"

class QLabel;
class QPushButton;
class QSplitter;
class QTableWidget;
class QTimer;
class QTreeWidget;

namespace emoe::ui {

class ExperimentPlotsView;

// One stored experiment as the list shows it (no requests or memory samples).
struct StoredExperiment {
  db::ExperimentRow row;
  struct Point {
    int64_t run_id = 0;
    int32_t index = 0;
    QString label;
    double slo_attainment = 0;
    double tokens_per_s = 0;
  };
  std::vector<Point> points;
};

class ExperimentResultsPanel : public QWidget {
  Q_OBJECT

 public:
  // The comparison table's columns.
  enum Column : int {
    ColPoint,
    ColRequests,
    ColSlo,
    ColTtftMean,
    ColTtftP99,
    ColE2eMean,
    ColE2eP90,
    ColE2eP99,
    ColTokensPerS,
    ColHitRate,
    ColAccuracy,
    ColLoads,
    ColBytesMoved,
    ColPeakBytes,
    ColumnCount
  };
  // The value a cell holds (Qt::UserRole of the table's items), for tests and sorting.
  static double metric(const experiment::PointResult& p, Column c);

  explicit ExperimentResultsPanel(QWidget* parent = nullptr);
  ~ExperimentResultsPanel() override;  // waits for a report being written

  void set_database(const QString& path);
  QString database() const { return db_path_; }
  // Lists the stored experiments again (experiments_listed follows), then selects this one
  // (which compares its points) when given.
  void refresh(int64_t select_experiment_id = 0);
  // Compares these runs (in this order); compared or failed follows.
  void compare(std::vector<int64_t> run_ids);
  // Shows a result that is already in memory (the run just finished) as the comparison.
  void present(const experiment::ExperimentResult& result);
  // Writes the report of what is shown into `dir` (report_written follows); false when
  // nothing is shown or a report is being written.
  bool export_report(const QString& dir);
  // Selects an experiment's points in the list (which compares them).
  bool select_experiment(int64_t experiment_id);

  const std::vector<StoredExperiment>& experiments() const { return experiments_; }
  const std::optional<experiment::ExperimentResult>& shown() const { return shown_; }
  std::vector<int64_t> selected_runs() const;
  QTreeWidget* tree() const { return tree_; }
  QTableWidget* table() const { return table_; }
  ExperimentPlotsView* plots() const { return plots_; }
  QPushButton* export_button() const { return export_; }

 signals:
  void experiments_listed(int count);
  void compared(int points);
  void report_written(const QStringList& paths, const QString& error);
  // A point double-clicked in the list or the table, loaded with its requests.
  void point_opened(const experiment::PointResult& point);
  void failed(const QString& message);

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  struct Listing {
    std::vector<StoredExperiment> experiments;
    QString error;
  };
  struct Loaded {
    std::optional<experiment::ExperimentResult> result;
    std::vector<report::Plot> plots;
    QString error;
    bool open_point = false;  // a double-click's single point, not a comparison
  };
  void fill_tree();
  void fill_table();
  void on_loaded();
  void export_dialog();
  void load_runs(std::vector<int64_t> run_ids, bool open_point);

  QString db_path_;
  QSplitter* split_ = nullptr;  // list | comparison, or stacked when narrow
  bool laid_out_ = false;
  QTreeWidget* tree_ = nullptr;
  QTableWidget* table_ = nullptr;
  ExperimentPlotsView* plots_ = nullptr;
  QLabel* status_ = nullptr;
  QPushButton* refresh_ = nullptr;
  QPushButton* export_ = nullptr;
  QTimer* selection_debounce_ = nullptr;
  QFutureWatcher<Listing> list_watcher_;
  QFutureWatcher<Loaded> load_watcher_;
  QFutureWatcher<QString> export_watcher_;  // "error" or the paths joined by '\n'
  std::vector<StoredExperiment> experiments_;
  std::optional<experiment::ExperimentResult> shown_;
  int64_t select_after_refresh_ = 0;
  bool filling_ = false;  // the tree is being rebuilt: selection changes are not the user's
};

}  // namespace emoe::ui
