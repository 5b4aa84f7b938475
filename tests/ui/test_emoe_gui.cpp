// eMoE in the workbench, offscreen, on the generated demo model: the Controls' predictor and
// interval p change the next requests (the predictor runs exactly on requests 0, p, 2p of the
// configuration, counted from telemetry), the Prediction dock shows the planned set the
// telemetry carried and an actual set equal to the database's independent router counts, the
// expert budget holds, "none" restores plain serving, "auto" shows the classified task, and
// the Sensitivity dock shows a profile the test wrote into the database.
#include <QCheckBox>
#include <QComboBox>
#include <QDockWidget>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QtTest>
#include <memory>

#include "core/model/demo_model.h"
#include "core/model/model.h"
#include "core/sched/task_classifier.h"
#include "db/model_profiles.h"
#include "db/recording_session.h"
#include "db/routing_queries.h"
#include "db/schema.h"
#include "ui/controls_panel.h"
#include "ui/latency_plot_view.h"
#include "ui/main_window.h"
#include "ui/memory_plot_view.h"
#include "ui/prediction_view.h"
#include "ui/prompt_console.h"
#include "ui/sensitivity_view.h"
#include "ui/studio_paths.h"

using namespace emoe;
using ui::MainWindow;

namespace {

constexpr int kWaitMs = 60000;
const QString kPrompt = QStringLiteral("Summarize: the experts of a mixture of experts model.");

}  // namespace

class TestEmoeGui : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;
  std::unique_ptr<MainWindow> w_;
  QString db_path_;
  std::unique_ptr<model::Model> model_;  // the same file, for its database row
  std::map<qint64, qint64> db_request_;  // controller request id -> database request id

  // Applies the Controls' current settings and waits for the report that has all of them.
  ui::EngineReport settle() {
    ui::ControlsPanel* c = w_->controls();
    QSignalSpy applied(w_->controller(), &ui::EngineController::settings_applied);
    QTest::qWait(250);  // past the sliders' debounce
    if (w_->engine_report() && w_->engine_report()->settings == c->settings() &&
        applied.isEmpty()) {
      return *w_->engine_report();
    }
    for (int i = 0; i < 8; ++i) {
      if (applied.isEmpty() && !applied.wait(kWaitMs)) break;
      const auto r = applied.takeFirst().at(0).value<ui::EngineReport>();
      if (r.settings == c->settings()) return r;
    }
    return {};
  }

  ui::RequestStats run(const QString& text, int max_tokens) {
    w_->console()->findChild<QSpinBox*>("max_tokens")->setValue(max_tokens);
    QSignalSpy done(w_->controller(), &ui::EngineController::request_finished);
    w_->console()->set_input_text(text);
    w_->console()->send();
    if (!done.wait(kWaitMs)) return {};
    const auto s = done.takeFirst().at(0).value<ui::RequestStats>();
    // Drained into the views: the latency view has it.
    (void)QTest::qWaitFor(
        [&] {
          return !w_->latency_view()->requests().empty() &&
                 w_->latency_view()->requests().back().request_id == s.request_id;
        },
        10000);
    return s;
  }

  void set_predictor(const QString& name, int p) {
    ui::ControlsPanel* c = w_->controls();
    c->interval_slider()->setValue(p);
    c->predictor_combo()->setCurrentIndex(c->predictor_combo()->findData(name));
  }

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    qputenv("HOME", tmp_.path().toUtf8());
    qputenv("XDG_DATA_HOME", (tmp_.path() + "/data").toUtf8());
    qputenv("XDG_CONFIG_HOME", (tmp_.path() + "/config").toUtf8());
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(ui::kSettingsOrganisation);
    QCoreApplication::setApplicationName(ui::kSettingsApplication);
    db_path_ = tmp_.path() + "/history.db";
    auto path = model::ensure_demo_model((tmp_.path() + "/models").toStdString());
    QVERIFY2(path.ok(), path.status().message().c_str());
    auto m = model::Model::load(*path);
    QVERIFY(m.ok());
    model_ = std::move(m).value();

    ui::MainWindowOptions o;
    o.db_path = db_path_;
    o.restore_settings = false;
    o.save_settings = false;
    w_ = std::make_unique<MainWindow>(o);
    w_->show();
    connect(w_->controller(), &ui::EngineController::request_recorded, this,
            [this](qint64 rid, qint64, qint64 dbid) { db_request_[rid] = dbid; });
    QSignalSpy ready(w_.get(), &MainWindow::model_ready);
    w_->open_model(QString::fromStdString(*path));
    QVERIFY(ready.wait(kWaitMs));
    QTRY_VERIFY_WITH_TIMEOUT(w_->session_id() > 0, 10000);
    QVERIFY(w_->dock("Prediction") && w_->dock("Sensitivity"));
    QVERIFY(w_->dock("Prediction")->isVisible() && w_->dock("Sensitivity")->isVisible());
  }

  void controls_show_the_interval() {
    ui::ControlsPanel* c = w_->controls();
    QCOMPARE(c->predictor_combo()->itemData(0).toString(), QString("none"));
    QVERIFY(c->predictor_combo()->findData("frequency") > 0);
    c->interval_slider()->setValue(7);
    QCOMPARE(c->interval_label()->text(), QString("p = 7"));
    QCOMPARE(c->settings().interval, 7);
    QCOMPARE(c->settings().predictor, std::string("none"));
  }

  void predictor_runs_every_p_requests() {
    ui::ControlsPanel* c = w_->controls();
    QSignalSpy reloaded(w_->controller(), &ui::EngineController::model_loaded);
    c->routing_combo()->setCurrentIndex(
        c->routing_combo()->findData(static_cast<int>(engine::RoutingMode::Fallback)));
    c->budget_slider()->setValue(50);
    set_predictor("frequency", 2);
    const ui::EngineReport r = settle();
    QCOMPARE(r.settings.predictor, std::string("frequency"));
    QCOMPARE(r.settings.interval, 2);
    QVERIFY(r.expert_budget_bytes > 0);
    QVERIFY(c->report_text().contains("frequency"));

    const size_t before = w_->prediction_view()->history().size();
    w_->console()->findChild<QComboBox*>("task")->setCurrentText("qa");
    const QString prompts[] = {"What is a mixture of experts?", "Who routes the tokens?",
                               "Why are experts cached?", "What does the planner load?",
                               "Which layer is sensitive?"};
    for (const QString& p : prompts) {
      const ui::RequestStats s = run(p, 6);
      QVERIFY2(s.error.empty(), s.error.c_str());
      QVERIFY(s.generated_tokens > 0);
    }
    QTRY_COMPARE_WITH_TIMEOUT(w_->prediction_view()->history().size(), before + 5, 10000);
    QCOMPARE(reloaded.count(), 0);  // applied without reloading the model
    const auto& h = w_->prediction_view()->history();
    std::vector<int> invoked;
    for (size_t i = before; i < h.size(); ++i) {
      QCOMPARE(h[i].config_request, static_cast<int64_t>(i - before));
      QCOMPARE(h[i].predictor, std::string("frequency"));
      QCOMPARE(h[i].task, std::string("qa"));
      invoked.push_back(h[i].invoked ? 1 : 0);
      // The budget is never exceeded.
      QVERIFY(h[i].expert_budget_bytes > 0);
      QVERIFY(h[i].peak_expert_bytes <= h[i].expert_budget_bytes);
      QVERIFY(h[i].precision >= 0 && h[i].precision <= 1);
      QVERIFY(h[i].recall >= 0 && h[i].recall <= 1);
    }
    QCOMPARE(invoked, std::vector<int>({1, 0, 1, 0, 1}));
    QCOMPARE(h.back().invocations, int64_t{3});
    for (const ui::MemoryPoint& m : w_->memory_view()->points()) {
      if (m.expert_budget > 0) QVERIFY(m.expert_bytes <= m.expert_budget);
    }
    QVERIFY(w_->prediction_view()->summary_text().contains("3 invocation"));
  }

  void prediction_dock_matches_telemetry_and_database() {
    const auto& last = w_->prediction_view()->last();
    QVERIFY(last.has_value());
    const int32_t L = last->n_layer, E = last->n_expert;
    QCOMPARE(L, static_cast<int32_t>(model_->config().n_layer));
    QCOMPARE(E, static_cast<int32_t>(model_->config().n_expert));
    QCOMPARE(static_cast<int32_t>(last->predicted.size()), L);
    // The independent capture: the database's router top-k counts of that request.
    QVERIFY(db_request_.count(last->request_id));
    auto q = db::RoutingQueries::open(db_path_.toStdString());
    QVERIFY2(q.ok(), q.status().message().c_str());
    db::RoutingFilter f;
    f.request_id = db_request_[last->request_id];
    auto counts = (*q)->expert_counts(f, db::ExpertChoice::Router);
    QVERIFY(counts.ok());
    std::vector<uint32_t> from_db(static_cast<size_t>(L * E), 0);
    for (const db::ExpertCount& e : *counts) {
      from_db[static_cast<size_t>(e.layer * E + e.expert)] = static_cast<uint32_t>(e.count);
    }
    QCOMPARE(last->actual, from_db);
    int64_t planned_total = 0;
    for (int32_t l = 0; l < L; ++l) {
      const auto& planned = last->predicted[static_cast<size_t>(l)];
      planned_total += static_cast<int64_t>(planned.size());
      for (int32_t e = 0; e < E; ++e) {
        const bool p = std::find(planned.begin(), planned.end(), e) != planned.end();
        const bool used = from_db[static_cast<size_t>(l * E + e)] > 0;
        const int cell = w_->prediction_view()->cell(l, e);
        QCOMPARE(cell == ui::PredictionView::PlannedOnly || cell == ui::PredictionView::Both, p);
        QCOMPARE(cell == ui::PredictionView::UsedOnly || cell == ui::PredictionView::Both, used);
      }
    }
    QVERIFY(planned_total > 0);
    // The plan fits the tier: at most the report's experts per layer in every layer.
    QVERIFY(w_->engine_report().has_value());
    for (const auto& planned : last->predicted) {
      QVERIFY(static_cast<int32_t>(planned.size()) <= w_->engine_report()->experts_per_layer + 1);
    }
  }

  void auto_task_is_classified_and_shown() {
    w_->console()->findChild<QComboBox*>("task")->setCurrentText("auto");
    const std::string expected(
        sched::task_name(sched::TaskClassifier::builtin().classify(kPrompt.toStdString()).task));
    const ui::RequestStats s = run(kPrompt, 4);
    QVERIFY2(s.error.empty(), s.error.c_str());
    QCOMPARE(s.task, expected);
    QTRY_COMPARE_WITH_TIMEOUT(w_->prediction_view()->last()->request_id, s.request_id, 10000);
    QCOMPARE(w_->prediction_view()->last()->task, expected);
    // The console draws on the GUI's next ticks, after the request has finished.
    const QString header = QStringLiteral("[%1]").arg(QString::fromStdString(expected));
    const auto* history = w_->console()->findChild<QTextBrowser*>("history");
    QTRY_VERIFY2_WITH_TIMEOUT(history->toPlainText().contains(header),
                              qPrintable(history->toPlainText().right(300)), 10000);
  }

  void none_restores_plain_serving() {
    set_predictor("none", 2);
    const ui::EngineReport r = settle();
    QCOMPARE(r.settings.predictor, std::string("none"));
    QVERIFY(!w_->controls()->report_text().contains("eMoE"));
    w_->console()->findChild<QComboBox*>("task")->setCurrentText("chat");
    const size_t before = w_->prediction_view()->history().size();
    const ui::RequestStats s = run(kPrompt, 4);
    QVERIFY2(s.error.empty(), s.error.c_str());
    QCOMPARE(s.task, std::string("chat"));
    QTest::qWait(200);
    QCOMPARE(w_->prediction_view()->history().size(), before);  // no eMoE step ran
    // A predictor with routing "all" is refused and leaves the engine as it was.
    QSignalSpy failed(w_->controller(), &ui::EngineController::settings_failed);
    ui::ControlsPanel* c = w_->controls();
    c->routing_combo()->setCurrentIndex(
        c->routing_combo()->findData(static_cast<int>(engine::RoutingMode::All)));
    settle();
    c->predictor_combo()->setCurrentIndex(c->predictor_combo()->findData("frequency"));
    QVERIFY(failed.wait(kWaitMs));
    QCOMPARE(w_->engine_report()->settings.predictor, std::string("none"));
    c->predictor_combo()->setCurrentIndex(0);
    settle();
  }

  void sensitivity_view_shows_stored_profile() {
    {
      auto store = db::open_store(db_path_.toStdString());
      QVERIFY2(store.ok(), store.status().message().c_str());
      auto id = db::find_model_row(**store, db::describe_model(*model_), false);
      QVERIFY(id.ok() && id->has_value());
      db::SensitivityProfile p;
      p.model_id = **id;
      p.task = "qa";
      p.metric = "top1_agreement";
      p.sensitivity = 0.5;
      p.details_json = R"({"threshold":0.9,"sensitivity":[0,0,0,1,1,1]})";
      QVERIFY(db::put_sensitivity(**store, p).is_ok());
      p.task = "comparison";
      p.details_json = R"({"threshold":0.9,"sensitivity":[0,1,1,1,1,1]})";
      QVERIFY(db::put_sensitivity(**store, p).is_ok());
    }
    ui::SensitivityView* v = w_->sensitivity_view();
    QSignalSpy loaded(w_->controller(), &ui::EngineController::sensitivity_loaded);
    v->findChild<QPushButton*>("sensitivityRefresh")->click();
    QVERIFY(loaded.wait(kWaitMs));
    QCOMPARE(v->matrix().tasks, std::vector<std::string>({"comparison", "qa"}));
    QTableWidget* t = v->table();
    QCOMPARE(t->rowCount(), 2);
    QCOMPARE(t->columnCount(), 6);
    const float expected[2][6] = {{0, 1, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 1}};
    for (int r = 0; r < 2; ++r) {
      for (int l = 0; l < 6; ++l) {
        QCOMPARE(t->item(r, l)->data(Qt::UserRole).toDouble(), double{expected[r][l]});
      }
    }
    QCOMPARE(t->verticalHeaderItem(1)->text(), QString("qa"));
  }

  void profiling_can_be_cancelled() {
    ui::SensitivityView* v = w_->sensitivity_view();
    const std::vector<std::string> tasks = v->matrix().tasks;
    QSignalSpy failed(w_->controller(), &ui::EngineController::sensitivity_failed);
    v->profile_button()->click();
    QVERIFY(v->cancel_button()->isEnabled());
    v->cancel_button()->click();  // before the first prefix ends
    QVERIFY(failed.wait(kWaitMs));
    QCOMPARE(failed.first().at(0).toString(), QString("cancelled"));
    QVERIFY(v->profile_button()->isEnabled());
    QCOMPARE(v->matrix().tasks, tasks);  // nothing stored
    QTRY_VERIFY_WITH_TIMEOUT(!w_->controller()->busy(), 10000);
  }

  void profiling_stores_and_shows_every_task() {
    ui::SensitivityView* v = w_->sensitivity_view();
    QSignalSpy loaded(w_->controller(), &ui::EngineController::sensitivity_loaded);
    QSignalSpy progress(w_->controller(), &ui::EngineController::sensitivity_progress);
    v->profile_button()->click();
    QVERIFY(!v->profile_button()->isEnabled());
    QVERIFY(loaded.wait(4 * kWaitMs));
    QVERIFY(progress.count() > 0);
    QCOMPARE(v->matrix().tasks.size(), size_t{5});
    for (const auto& row : v->matrix().values) {
      for (float s : row) QVERIFY(s == 0.0f || s == 1.0f);
    }
    QVERIFY(v->profile_button()->isEnabled());
  }

  void cleanupTestCase() { w_.reset(); }
};

QTEST_MAIN(TestEmoeGui)
#include "test_emoe_gui.moc"
