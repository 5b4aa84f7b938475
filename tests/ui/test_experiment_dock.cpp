// The Experiment dock, offscreen, on a small task-routed model in a temporary directory with a
// temporary database: an invalid configuration shows its line-numbered error and does not start;
// a 2-scheduler configuration runs to done with progress; the worker's request events and the
// live timeline agree with the point outcomes the database holds (read here with
// db::load_experiment); the experiments list shows the new experiment with its 2 points;
// comparing them fills the table with the stored metrics and shows the report's plots; the
// export writes the five report files; a cancel during a longer run keeps the points done,
// stored with status "cancelled".
#include <qcustomplot.h>

#include <QComboBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <QtTest>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "core/report/experiment_report.h"
#include "db/experiment_store.h"
#include "db/schema.h"
#include "tests/support/small_models.h"
#include "ui/experiment_config_editor.h"
#include "ui/experiment_dock.h"
#include "ui/experiment_plots_view.h"
#include "ui/experiment_results_panel.h"
#include "ui/log_dock.h"
#include "ui/main_window.h"
#include "ui/request_timeline_view.h"
#include "ui/studio_paths.h"

using namespace emoe;
using ui::ExperimentDock;
using ui::ExperimentResultsPanel;
using ui::TimelineEvent;
using ui::TimelineRow;

namespace {

constexpr int kRunMs = 5 * 60 * 1000;
constexpr int kWaitMs = 60000;

// The configuration the dock runs, as a user would type it. slo_scale is tight enough that
// some requests miss their SLOs on the virtual clock.
QString config_text(const QString& model, const QString& name, int requests, const QString& rates,
                    const QString& schedulers) {
  return QStringLiteral(R"({
  "name": "%1",
  "model": "%2",
  "workload": {"requests": %3, "seed": 3, "max_new_tokens_cap": 4, "slo_scale": 0.3},
  "matrix": {
    "budgets": ["50%"],
    "predictors": ["emoe-a"],
    "intervals": [4],
    "schedulers": [%5],
    "arrival_rates": [%4],
    "routing": ["fallback"],
    "seeds": [1]
  },
  "serving": {"max_sequences": 3, "max_batch_tokens": 48, "clock": "virtual",
              "step_ms": 1, "token_ms": 1},
  "profile_requests": 4,
  "accuracy": true,
  "capacity": {"enabled": false}
}
)")
      .arg(name, model)
      .arg(requests)
      .arg(rates, schedulers);
}

QByteArray read_all(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

int line_of(const QString& text, const QString& needle) {
  const qsizetype at = text.indexOf(needle);
  return at < 0 ? -1 : static_cast<int>(text.left(at).count('\n')) + 1;
}

}  // namespace

class TestExperimentDock : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;
  QString model_path_, db_path_;
  std::unique_ptr<ExperimentDock> dock_;
  // Captured during the tiny run.
  std::map<int32_t, std::vector<TimelineEvent>> events_;  // by point
  std::vector<double> progress_;
  int64_t experiment_id_ = 0;

  experiment::ExperimentResult stored(int64_t id) {
    auto store = db::open_store(db_path_.toStdString());
    if (!store.ok()) qFatal("%s", store.status().message().c_str());
    auto r = db::load_experiment(**store, id);
    if (!r.ok()) qFatal("%s", r.status().message().c_str());
    return std::move(*r);
  }

  // Every row's numbers against the stored outcome of the same request.
  void check_rows(const std::vector<TimelineRow>& rows, const experiment::PointResult& p,
                  bool from_events) {
    QCOMPARE(rows.size(), p.requests.size());
    std::map<int64_t, const experiment::RequestOutcome*> by_id;
    for (const auto& o : p.requests) by_id[o.id] = &o;
    for (const TimelineRow& r : rows) {
      QVERIFY(by_id.count(r.id));
      const experiment::RequestOutcome& o = *by_id[r.id];
      QCOMPARE(r.from_events, from_events);
      const bool rejected = o.timing.rejected;
      QVERIFY2(rejected || o.state == "finished", o.state.c_str());
      QCOMPARE(r.state, rejected ? TimelineRow::Rejected : TimelineRow::Finished);
      QCOMPARE(r.slo, o.metrics.slo_met ? 1 : 0);
      QCOMPARE(r.arrival_ms, o.timing.arrival_ms);
      if (!rejected) {
        QCOMPARE(r.admit_ms, o.timing.admit_ms);
        QCOMPARE(r.first_token_ms, o.timing.first_token_ms);
        QCOMPARE(r.finish_ms, o.timing.finish_ms);
        QCOMPARE(r.generated_tokens, o.timing.generated_tokens);
        QVERIFY(r.arrival_ms <= r.admit_ms && r.admit_ms <= r.first_token_ms &&
                r.first_token_ms <= r.finish_ms);
      }
    }
  }

  int stored_experiment_count() {
    auto store = db::open_store(db_path_.toStdString());
    if (!store.ok()) return -1;
    auto rows = db::list_experiments(**store);
    return rows.ok() ? static_cast<int>(rows->size()) : -1;
  }

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    qputenv("HOME", tmp_.path().toUtf8());
    qputenv("XDG_DATA_HOME", (tmp_.path() + "/data").toUtf8());
    qputenv("XDG_CONFIG_HOME", (tmp_.path() + "/config").toUtf8());
    QStandardPaths::setTestModeEnabled(true);
    model_path_ = tmp_.filePath("small.gguf");
    Status st = test::write_small_task_routed_model(model_path_.toStdString(), 7,
                                                    "experiment dock test model");
    QVERIFY2(st.is_ok(), st.message().c_str());
    db_path_ = tmp_.filePath("history.db");
    dock_ = std::make_unique<ExperimentDock>(db_path_);
    dock_->set_demo_dir(tmp_.filePath("demo"));
    dock_->resize(1100, 700);
    dock_->show();
    // The demo configuration is loaded at start and valid.
    QVERIFY2(dock_->editor()->error().isEmpty(), qPrintable(dock_->editor()->error()));
    QVERIFY(dock_->editor()->text().contains("\"model\": \"demo\""));
    QVERIFY(dock_->editor()->status_text().startsWith("Valid"));
  }

  void invalid_configuration_does_not_start() {
    QSignalSpy started(dock_->worker(), &ui::ExperimentWorker::started);
    QSignalSpy failed(dock_.get(), &ExperimentDock::run_failed);
    // A wrong type on a known line.
    QString text = config_text(model_path_, "bad", 8, "40", R"("emoe", "fcfs")");
    text.replace(R"("seed": 3,)", R"("seed": "three",)");
    dock_->editor()->set_text(text);
    const int line = line_of(text, "\"three\"");
    QVERIFY(line > 1);
    QVERIFY(!dock_->run());
    QCOMPARE(dock_->editor()->error_line(), line);
    QVERIFY2(dock_->editor()->error().contains(QStringLiteral(":%1:").arg(line)),
             qPrintable(dock_->editor()->error()));
    QVERIFY2(dock_->editor()->status_text().contains(QStringLiteral("Line %1").arg(line)),
             qPrintable(dock_->editor()->status_text()));
    QVERIFY2(dock_->status_text().contains(QStringLiteral("Line %1").arg(line)),
             qPrintable(dock_->status_text()));
    // The line is marked in the editor.
    const auto marks = dock_->editor()->editor()->extraSelections();
    QCOMPARE(marks.size(), 1);
    QCOMPARE(marks.first().cursor.blockNumber(), line - 1);
    // Malformed JSON: a missing comma, reported on its line too.
    text = config_text(model_path_, "bad", 8, "40", R"("emoe", "fcfs")");
    text.replace("\"profile_requests\": 4,", "\"profile_requests\": 4");
    dock_->editor()->set_text(text);
    QVERIFY(!dock_->run());
    const int missing = line_of(text, "\"accuracy\"");
    QVERIFY2(
        dock_->editor()->error_line() == missing || dock_->editor()->error_line() == missing - 1,
        qPrintable(dock_->editor()->error()));
    QVERIFY(dock_->editor()->error_column() > 0);
    QVERIFY2(dock_->editor()->status_text().startsWith(QStringLiteral("Line %1, column %2: ")
                                                           .arg(dock_->editor()->error_line())
                                                           .arg(dock_->editor()->error_column())),
             qPrintable(dock_->editor()->status_text()));
    // An empty list.
    dock_->editor()->set_text(config_text(model_path_, "bad", 8, "40", ""));
    QVERIFY(!dock_->run());
    QVERIFY(dock_->editor()->error().contains("schedulers"));
    QTest::qWait(200);
    QCOMPARE(started.count(), 0);
    QVERIFY(!dock_->running());
    QVERIFY(dock_->run_button()->isEnabled());
    QCOMPARE(failed.count(), 0);  // refused, not a failed run
    QCOMPARE(dock_->tabs()->currentIndex(), int{ExperimentDock::ConfigTab});
    QVERIFY(!QFile::exists(db_path_) || stored_experiment_count() == 0);
  }

  void tiny_run_progresses_to_done() {
    dock_->editor()->set_text(config_text(model_path_, "tiny", 8, "40", R"("emoe", "fcfs")"));
    QVERIFY(dock_->editor()->error().isEmpty());
    QSignalSpy done(dock_.get(), &ExperimentDock::run_finished);
    QSignalSpy started(dock_.get(), &ExperimentDock::run_started);
    connect(dock_->worker(), &ui::ExperimentWorker::request_events, this,
            [this](const std::vector<TimelineEvent>& batch) {
              for (const TimelineEvent& e : batch) events_[e.point].push_back(e);
            });
    connect(dock_->worker(), &ui::ExperimentWorker::progress, this,
            [this](const ui::ExperimentProgressInfo&) {
              progress_.push_back(dock_->progress_bar()->value());
            });
    dock_->run_button()->click();
    QVERIFY(dock_->running());
    QVERIFY(!dock_->run_button()->isEnabled());
    QVERIFY(dock_->cancel_button()->isEnabled());
    QVERIFY(done.wait(kRunMs));
    QCOMPARE(started.count(), 1);
    experiment_id_ = started.first().at(0).toLongLong();
    QVERIFY(experiment_id_ > 0);
    QVERIFY(dock_->last_result().has_value());
    const experiment::ExperimentResult& r = *dock_->last_result();
    QVERIFY(!r.cancelled);
    QCOMPARE(r.experiment_id, experiment_id_);
    QCOMPARE(r.points.size(), size_t{2});
    // Progress advanced monotonically to the end.
    QVERIFY(progress_.size() >= 2);
    for (size_t i = 1; i < progress_.size(); ++i) QVERIFY(progress_[i] >= progress_[i - 1]);
    QCOMPARE(dock_->progress_bar()->value(), dock_->progress_bar()->maximum());
    QVERIFY(dock_->last_progress().has_value());
    QCOMPARE(dock_->last_progress()->points, 2);
    QVERIFY2(dock_->status_text().startsWith("Done"), qPrintable(dock_->status_text()));
    QVERIFY(!dock_->running());
    QVERIFY(dock_->run_button()->isEnabled());
    QVERIFY(!dock_->cancel_button()->isEnabled());
    QCOMPARE(dock_->run_points().size(), size_t{2});
  }

  void events_and_timeline_match_the_stored_result() {
    const experiment::ExperimentResult r = stored(experiment_id_);
    QCOMPARE(r.points.size(), size_t{2});
    int met = 0, missed = 0;
    for (const experiment::PointResult& p : r.points) {
      // The worker's event stream: one arrival (or rejection) per request, an admission, a
      // first token and a finish at the stored times, with the stored token count.
      const auto& ev = events_[p.point.index];
      for (const experiment::RequestOutcome& o : p.requests) {
        std::map<int, std::vector<const TimelineEvent*>> kinds;
        for (const TimelineEvent& e : ev) {
          if (e.id == o.id) kinds[e.kind].push_back(&e);
        }
        if (o.timing.rejected) {
          QCOMPARE(kinds[TimelineEvent::Rejected].size(), size_t{1});
          continue;
        }
        QCOMPARE(kinds[TimelineEvent::Arrived].size(), size_t{1});
        QCOMPARE(kinds[TimelineEvent::FirstToken].size(), size_t{1});
        QCOMPARE(kinds[TimelineEvent::Finished].size(), size_t{1});
        // The loop notices an arrival at a step boundary: at or after it, by admission.
        QVERIFY(kinds[TimelineEvent::Arrived][0]->time_ms >= o.timing.arrival_ms);
        QVERIFY(kinds[TimelineEvent::Arrived][0]->time_ms <= o.timing.admit_ms);
        QCOMPARE(kinds[TimelineEvent::Admitted].size(), size_t{1});
        QCOMPARE(kinds[TimelineEvent::Admitted][0]->time_ms, o.timing.admit_ms);
        QCOMPARE(kinds[TimelineEvent::FirstToken][0]->time_ms, o.timing.first_token_ms);
        QCOMPARE(kinds[TimelineEvent::Finished][0]->time_ms, o.timing.finish_ms);
        QCOMPARE(kinds[TimelineEvent::Finished][0]->tokens, o.timing.generated_tokens);
        (o.metrics.slo_met ? met : missed)++;
      }
    }
    QVERIFY(met + missed > 0);
    qInfo("SLO met %d, missed %d", met, missed);

    // The live timeline holds the last point, built from events and marked from its outcome.
    ui::RequestTimelineView* t = dock_->timeline();
    QVERIFY(t->showing_live());
    QCOMPARE(t->live_point(), 1);
    check_rows(t->rows(), r.points[1], true);
    QVERIFY(!t->tooltip(0).isEmpty());
    // A finished point from the point chooser: the stored rows.
    QComboBox* points = dock_->point_combo();
    QCOMPARE(points->count(), 3);  // live + 2 points
    points->setCurrentIndex(1);
    emit points->activated(1);
    QVERIFY(!t->showing_live());
    check_rows(t->rows(), r.points[0], false);
    QVERIFY(t->title().contains(QString::fromStdString(r.points[0].point.label())));
    points->setCurrentIndex(0);
    emit points->activated(0);
    QVERIFY(t->showing_live());
  }

  void experiments_list_shows_the_new_experiment() {
    ExperimentResultsPanel* res = dock_->results();
    QSignalSpy listed(res, &ExperimentResultsPanel::experiments_listed);
    res->refresh();
    QVERIFY(listed.wait(kWaitMs));
    QCOMPARE(listed.last().at(0).toInt(), 1);
    QCOMPARE(res->experiments().size(), size_t{1});
    const ui::StoredExperiment& e = res->experiments().front();
    QCOMPARE(e.row.id, experiment_id_);
    QCOMPARE(e.row.status, std::string("done"));
    QCOMPARE(e.points.size(), size_t{2});
    const experiment::ExperimentResult r = stored(experiment_id_);
    for (size_t i = 0; i < 2; ++i) QCOMPARE(e.points[i].run_id, r.points[i].run_id);
    QTreeWidget* tree = res->tree();
    QCOMPARE(tree->topLevelItemCount(), 1);
    QCOMPARE(tree->topLevelItem(0)->childCount(), 2);
  }

  void comparing_two_points_fills_the_table() {
    ExperimentResultsPanel* res = dock_->results();
    const experiment::ExperimentResult r = stored(experiment_id_);
    QSignalSpy compared(res, &ExperimentResultsPanel::compared);
    QTreeWidget* tree = res->tree();
    tree->clearSelection();
    tree->topLevelItem(0)->child(0)->setSelected(true);
    tree->topLevelItem(0)->child(1)->setSelected(true);
    QVERIFY(compared.wait(kWaitMs));
    QCOMPARE(compared.last().at(0).toInt(), 2);
    QCOMPARE(res->selected_runs(), std::vector<int64_t>({r.points[0].run_id, r.points[1].run_id}));
    QTableWidget* table = res->table();
    QCOMPARE(table->rowCount(), 2);
    const auto cell = [&](int row, int col) {
      return table->item(row, col)->data(Qt::UserRole).toDouble();
    };
    for (int row = 0; row < 2; ++row) {
      const experiment::PointResult& p = r.points[static_cast<size_t>(row)];
      QCOMPARE(table->item(row, ExperimentResultsPanel::ColPoint)->toolTip(),
               QString::fromStdString(p.point.label()));
      QCOMPARE(cell(row, ExperimentResultsPanel::ColRequests), double(p.run.requests));
      QCOMPARE(cell(row, ExperimentResultsPanel::ColSlo), p.run.slo_attainment);
      QCOMPARE(cell(row, ExperimentResultsPanel::ColTtftMean), p.run.mean_ttft_ms);
      QCOMPARE(cell(row, ExperimentResultsPanel::ColTtftP99), p.run.p99_ttft_ms);
      QCOMPARE(cell(row, ExperimentResultsPanel::ColE2eMean), p.run.mean_e2e_ms);
      QCOMPARE(cell(row, ExperimentResultsPanel::ColE2eP90), p.run.p90_e2e_ms);
      QCOMPARE(cell(row, ExperimentResultsPanel::ColE2eP99), p.run.p99_e2e_ms);
      QCOMPARE(cell(row, ExperimentResultsPanel::ColTokensPerS), p.run.throughput_tokens_per_s);
      QCOMPARE(cell(row, ExperimentResultsPanel::ColHitRate), p.hit_rate);
      QCOMPARE(cell(row, ExperimentResultsPanel::ColAccuracy), p.accuracy);
      QCOMPARE(cell(row, ExperimentResultsPanel::ColLoads), double(p.loads));
      QCOMPARE(cell(row, ExperimentResultsPanel::ColBytesMoved), double(p.bytes_moved));
      QCOMPARE(cell(row, ExperimentResultsPanel::ColPeakBytes), double(p.peak_total_bytes));
    }
    // The schedulers differ, as configured; that is what the short labels show.
    QCOMPARE(table->item(0, 0)->text(), QString("sched=emoe"));
    QCOMPARE(table->item(1, 0)->text(), QString("sched=fcfs"));
    // The report's plots, drawn.
    ui::ExperimentPlotsView* plots = res->plots();
    QStringList expect;
    for (const report::Plot& p : report::experiment_plots(r))
      expect << QString::fromStdString(p.id);
    QVERIFY(!expect.isEmpty());
    QCOMPARE(plots->plot_ids(), expect);
    for (const QString& id : expect) {
      QVERIFY(plots->show_plot(id));
      QCOMPARE(plots->current_id(), id);
      const report::Plot& p = plots->plots()[static_cast<size_t>(expect.indexOf(id))];
      QCOMPARE(plots->plot()->plottableCount(), static_cast<int>(p.series.size()));
    }
  }

  void export_writes_the_report() {
    ExperimentResultsPanel* res = dock_->results();
    QSignalSpy written(res, &ExperimentResultsPanel::report_written);
    const QString dir = tmp_.filePath("report");
    QVERIFY(res->export_report(dir));
    QVERIFY(written.wait(kWaitMs));
    QCOMPARE(written.first().at(1).toString(), QString());
    QCOMPARE(written.first().at(0).toStringList().size(), 5);
    for (const char* f :
         {"report.html", "report.pdf", "summary.json", "requests.csv", "points.csv"}) {
      QVERIFY2(QFileInfo(dir + "/" + f).size() > 0, f);
    }
    const QString html = QString::fromUtf8(read_all(dir + "/report.html"));
    QSet<QString> ids;
    QRegularExpression fig(R"re(<figure id="fig-([a-z0-9_]+)")re");
    for (auto it = fig.globalMatch(html); it.hasNext();) ids.insert(it.next().captured(1));
    const QStringList shown = res->plots()->plot_ids();
    QCOMPARE(ids, QSet<QString>(shown.begin(), shown.end()));
    QVERIFY(read_all(dir + "/report.pdf").startsWith("%PDF-"));
    const QJsonObject summary = QJsonDocument::fromJson(read_all(dir + "/summary.json")).object();
    QCOMPARE(summary.value("points").toArray().size(), 2);
    QCOMPARE(read_all(dir + "/points.csv").trimmed().count('\n'), 2);  // header + 2 rows
    const experiment::ExperimentResult r = stored(experiment_id_);
    const qsizetype requests =
        static_cast<qsizetype>(r.points[0].requests.size() + r.points[1].requests.size());
    QCOMPARE(read_all(dir + "/requests.csv").trimmed().count('\n'), requests);
  }

  void cancel_keeps_the_points_done() {
    // 3 schedulers x 3 rates, more requests: cancelled as soon as the first point is stored.
    dock_->editor()->set_text(
        config_text(model_path_, "long", 32, "10, 20, 40", R"("emoe", "fcfs", "sjf")"));
    QVERIFY(dock_->editor()->error().isEmpty());
    QSignalSpy points(dock_->worker(), &ui::ExperimentWorker::point_finished);
    QSignalSpy done(dock_.get(), &ExperimentDock::run_finished);
    QSignalSpy started(dock_.get(), &ExperimentDock::run_started);
    QVERIFY(dock_->run());
    QVERIFY(!dock_->run());  // one at a time
    QVERIFY(points.wait(kRunMs));
    dock_->cancel_button()->click();
    QVERIFY(!dock_->cancel_button()->isEnabled());
    QVERIFY(done.wait(kRunMs));
    QVERIFY(dock_->last_result().has_value());
    const experiment::ExperimentResult& r = *dock_->last_result();
    QVERIFY(r.cancelled);
    QVERIFY(r.points.size() >= 1);
    QVERIFY2(r.points.size() < 9, "the cancel came after the last point");
    QVERIFY2(dock_->status_text().startsWith("Cancelled"), qPrintable(dock_->status_text()));
    QVERIFY(dock_->run_button()->isEnabled());
    // Stored: status "cancelled" and exactly the points done.
    const int64_t id = started.first().at(0).toLongLong();
    auto store = db::open_store(db_path_.toStdString());
    QVERIFY(store.ok());
    auto rows = db::list_experiments(**store);
    QVERIFY(rows.ok());
    bool found = false;
    for (const db::ExperimentRow& row : *rows) {
      if (row.id != id) continue;
      found = true;
      QCOMPARE(row.status, std::string("cancelled"));
      QCOMPARE(row.points, static_cast<int64_t>(r.points.size()));
    }
    QVERIFY(found);
    const experiment::ExperimentResult s = stored(id);
    QCOMPARE(s.points.size(), r.points.size());
    for (size_t i = 0; i < s.points.size(); ++i) {
      QCOMPARE(s.points[i].run_id, r.points[i].run_id);
      QCOMPARE(s.points[i].requests.size(), size_t{32});
    }
  }

  void closing_during_a_run_cancels_it() {
    auto other = std::make_unique<ExperimentDock>(db_path_);
    other->editor()->set_text(
        config_text(model_path_, "closed", 32, "10, 20, 40", R"("emoe", "fcfs", "sjf")"));
    QSignalSpy started(other.get(), &ExperimentDock::run_started);
    QSignalSpy points(other->worker(), &ui::ExperimentWorker::point_finished);
    QVERIFY(other->run());
    QVERIFY(points.wait(kRunMs));
    const int64_t id = started.first().at(0).toLongLong();
    other.reset();  // cancels and joins
    const experiment::ExperimentResult s = stored(id);
    QVERIFY(!s.points.empty() && s.points.size() < 9);
    auto store = db::open_store(db_path_.toStdString());
    QVERIFY(store.ok());
    auto rows = db::list_experiments(**store);
    QVERIFY(rows.ok());
    for (const db::ExperimentRow& row : *rows) {
      if (row.id == id) QCOMPARE(row.status, std::string("cancelled"));
    }
  }

  void a_stored_point_opens_in_the_timeline() {
    ExperimentResultsPanel* res = dock_->results();
    QSignalSpy listed(res, &ExperimentResultsPanel::experiments_listed);
    res->refresh();
    QVERIFY(listed.wait(kWaitMs));
    QCOMPARE(res->experiments().size(), size_t{3});
    // The tiny experiment's second point, by double-click.
    QTreeWidgetItem* item = nullptr;
    for (int i = 0; i < res->tree()->topLevelItemCount(); ++i) {
      QTreeWidgetItem* top = res->tree()->topLevelItem(i);
      if (top->text(0).startsWith(QStringLiteral("#%1 ").arg(experiment_id_))) item = top->child(1);
    }
    QVERIFY(item);
    const experiment::ExperimentResult r = stored(experiment_id_);
    emit res->tree()->itemDoubleClicked(item, 0);
    QTRY_VERIFY_WITH_TIMEOUT(!dock_->timeline()->showing_live(), kWaitMs);
    check_rows(dock_->timeline()->rows(), r.points[1], false);
    QCOMPARE(dock_->tabs()->currentIndex(), int{ExperimentDock::RequestsTab});
    if (const QByteArray dir = qgetenv("EMOE_SCREENSHOT_DIR"); !dir.isEmpty()) {
      dock_->grab().save(QString::fromLocal8Bit(dir) + "/experiment_requests.png");
      dock_->tabs()->setCurrentIndex(ExperimentDock::ResultsTab);
      QTest::qWait(300);
      dock_->grab().save(QString::fromLocal8Bit(dir) + "/experiment_results.png");
      dock_->tabs()->setCurrentIndex(ExperimentDock::ConfigTab);
      QTest::qWait(100);
      dock_->grab().save(QString::fromLocal8Bit(dir) + "/experiment_config.png");
    }
  }

  // In the workbench: the window's Experiment dock stores into the window's database, its
  // messages reach the Log dock, and "Run experiment…" brings it forward.
  void the_window_hosts_the_dock() {
    QCoreApplication::setOrganizationName(ui::kSettingsOrganisation);
    QCoreApplication::setApplicationName(ui::kSettingsApplication);
    ui::MainWindowOptions o;
    o.db_path = db_path_;
    o.restore_settings = false;
    o.save_settings = false;
    ui::MainWindow w(o);
    w.show();
    ExperimentDock* d = w.experiment_dock();
    QVERIFY(d);
    QCOMPARE(w.dock("Experiment")->widget(), static_cast<QWidget*>(d));
    QCOMPARE(d->database(), db_path_);
    d->show_in_window();
    QTRY_VERIFY(!w.dock("Experiment")->visibleRegion().isEmpty());
    const int errors = w.log()->count(ui::LogDock::Error);
    d->editor()->set_text("{\n  \"name\": 7\n}\n");
    QVERIFY(!d->run());
    QCOMPARE(w.log()->count(ui::LogDock::Error), errors + 1);
    QVERIFY(w.log()->text().contains("configuration:2:"));
    // A run from the window: stored in its database, listed with the others.
    d->editor()->set_text(config_text(model_path_, "window", 8, "40", R"("sjf")"));
    QSignalSpy done(d, &ExperimentDock::run_finished);
    QSignalSpy listed(d->results(), &ExperimentResultsPanel::experiments_listed);
    QVERIFY(d->run());
    QVERIFY(done.wait(kRunMs));
    QVERIFY(d->last_result().has_value() && d->last_result()->experiment_id > 0);
    QVERIFY(listed.wait(kWaitMs));
    QCOMPARE(d->results()->experiments().front().row.id, d->last_result()->experiment_id);
    QVERIFY(w.log()->text().contains(
        QStringLiteral("Experiment %1 started").arg(d->last_result()->experiment_id)));
    if (const QByteArray dir = qgetenv("EMOE_SCREENSHOT_DIR"); !dir.isEmpty()) {
      w.resize(1600, 1000);
      QTest::qWait(300);
      w.grab().save(QString::fromLocal8Bit(dir) + "/window_requests.png");
      d->tabs()->setCurrentIndex(ExperimentDock::ResultsTab);
      QTest::qWait(300);
      w.grab().save(QString::fromLocal8Bit(dir) + "/window_results.png");
    }
  }

  void cleanupTestCase() { dock_.reset(); }
};

QTEST_MAIN(TestExperimentDock)
#include "test_experiment_dock.moc"
