// The workbench's device plumbing outside the Controls dock: the status bar names the backend
// that runs (the engine's own name, the CPU after a CUDA fallback, with the reason in its
// tooltip); the chosen device is saved and restored with the other engine settings; and an
// experiment started from the GUI with device "cuda" resolves it on its thread, logs the
// notice once when CUDA is missing and stores the backend that ran ("cpu"), as `emoe
// experiment` does. Waits are signal spies and QTRY_ polls, never fixed sleeps.
#include <QComboBox>
#include <QLabel>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QtTest>
#include <memory>
#include <optional>
#include <string>

#include "db/experiment_store.h"
#include "db/schema.h"
#include "kernels/gpu/gpu_device.h"
#include "tests/support/small_models.h"
#include "ui/controls_panel.h"
#include "ui/engine_controller.h"
#include "ui/engine_settings_store.h"
#include "ui/experiment_worker.h"
#include "ui/main_window.h"
#include "ui/studio_paths.h"

using namespace emoe;
using ui::EngineController;
using ui::EngineReport;
using ui::EngineSettings;

namespace {

constexpr int kWaitMs = 120000;
const QString kModel = QStringLiteral(EMOE_TEST_DATA_DIR "/tiny-mixtral-f32/model.gguf");
const QString kNoCuda = QStringLiteral("CUDA is not available (");

bool has_gpu() { return !kernels::gpu::probe_runtime().devices.empty(); }

QLabel* backend_label(ui::MainWindow& w) {
  return w.statusBar()->findChild<QLabel*>("statusBackend");
}

// The messages of log_message(level, message) signals that contain `text`.
int count_logs(const QSignalSpy& spy, const QString& text) {
  int n = 0;
  for (const QList<QVariant>& args : spy) n += args.at(1).toString().contains(text) ? 1 : 0;
  return n;
}

// A small experiment: one fallback point over a handful of requests on the virtual clock.
experiment::ExperimentConfig small_experiment(const std::string& device) {
  experiment::ExperimentConfig c;
  c.name = "gui-device";
  c.device = device;
  c.workload.requests = 4;
  c.workload.seed = 3;
  c.workload.max_new_tokens_cap = 3;
  c.budgets = {"50%"};
  c.predictors = {"emoe-a"};
  c.intervals = {2};
  c.schedulers = {"emoe"};
  c.arrival_rates = {40.0};
  c.routing = {engine::RoutingMode::Fallback};
  c.serving.max_sequences = 2;
  c.serving.max_batch_tokens = 48;
  c.serving.clock = sched::ClockKind::Virtual;
  c.serving.cost.step_ms = 1.0;
  c.serving.cost.token_ms = 1.0;
  c.profile_requests = 2;
  c.accuracy = true;
  return c;
}

}  // namespace

class TestStudioDevice : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  QString small_model_;

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    // Settings go to a file of this test's own (test mode puts them under $HOME/.qttest).
    qputenv("HOME", tmp_.path().toUtf8());
    qputenv("XDG_CONFIG_HOME", tmp_.filePath("config").toUtf8());
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(ui::kSettingsOrganisation);
    QCoreApplication::setApplicationName(ui::kSettingsApplication);
    small_model_ = tmp_.filePath("small.gguf");
    Status st = test::write_small_task_routed_model(small_model_.toStdString(), 11, "gui device");
    QVERIFY2(st.is_ok(), st.message().c_str());
  }

  void status_bar_names_the_backend() {
    ui::MainWindowOptions o;
    o.db_path = tmp_.filePath("status.db");
    o.restore_settings = false;
    o.save_settings = false;
    ui::MainWindow w(o);
    w.show();
    QLabel* label = backend_label(w);
    QVERIFY(label != nullptr);
    QVERIFY(label->text().isEmpty());  // no model, no engine

    QSignalSpy applied(w.controller(), &EngineController::settings_applied);
    w.open_model(kModel);
    QTRY_VERIFY_WITH_TIMEOUT(w.model().has_value() && !applied.isEmpty(), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(label->text(), QString("engine: cpu"), kWaitMs);
    QVERIFY(label->toolTip().isEmpty());
    QCOMPARE(w.engine_report()->backend, std::string("cpu"));
    // Next to what the status bar showed before: the model and the recording.
    QVERIFY(w.statusBar()->findChildren<QLabel*>().size() >= 4);

    applied.clear();
    EngineSettings s = w.controls()->settings();
    s.device = "cuda";
    w.controller()->apply_settings(s);
    QTRY_VERIFY_WITH_TIMEOUT(!applied.isEmpty(), kWaitMs);
    const EngineReport r = applied.last().at(0).value<EngineReport>();
    QCOMPARE(r.settings.device, std::string("cuda"));
    QTRY_COMPARE_WITH_TIMEOUT(
        label->text(), QString("engine: %1").arg(QString::fromStdString(r.backend)), kWaitMs);
    if (!has_gpu()) {
      QCOMPARE(label->text(), QString("engine: cpu"));  // what runs, not what was asked
      QVERIFY2(label->toolTip().startsWith(kNoCuda), qPrintable(label->toolTip()));
    } else {
      QCOMPARE(label->text(), QString("engine: cuda:0"));
      QVERIFY2(label->toolTip().startsWith("cuda:0 ("), qPrintable(label->toolTip()));
    }
  }

  void engine_settings_round_trip() {
    QSettings q(tmp_.filePath("round-trip.ini"), QSettings::IniFormat);
    EngineSettings s;
    s.device = "cuda:1";
    s.mode = engine::RoutingMode::Fallback;
    s.policy = experts::EvictionPolicy::Lfu;
    s.n_threads = 3;
    s.predictor = "emoe-l";
    s.interval = 7;
    s.task_aware = false;
    s.sensitivity_threshold = 0.75;
    ui::save_engine_settings(q, s, 35);
    QCOMPARE(q.value("engine/device").toString(), QString("cuda:1"));
    EngineSettings back = ui::load_engine_settings(q, EngineSettings{});
    QCOMPARE(back.device, std::string("cuda:1"));  // kept though this machine may lack it
    QCOMPARE(back.mode, s.mode);
    QCOMPARE(back.policy, s.policy);
    QCOMPARE(back.n_threads, 3);
    QCOMPARE(back.predictor, std::string("emoe-l"));
    QCOMPARE(back.interval, 7);
    QCOMPARE(back.task_aware, false);
    QCOMPARE(back.sensitivity_threshold, 0.75);
    QCOMPARE(back.budget_percent, 35.0);  // the slider's position

    // An edited file's device keeps the default; a missing one too.
    EngineSettings defaults;
    defaults.device = "cpu";
    q.setValue("engine/device", "tpu");
    QCOMPARE(ui::load_engine_settings(q, defaults).device, std::string("cpu"));
    q.remove("engine/device");
    defaults.device = "cuda";
    QCOMPARE(ui::load_engine_settings(q, defaults).device, std::string("cuda"));
  }

  void window_saves_and_restores_the_device() {
    QVERIFY2(QSettings().fileName().startsWith(tmp_.path()), qPrintable(QSettings().fileName()));
    QSettings().clear();
    {
      ui::MainWindowOptions o;
      o.db_path = tmp_.filePath("settings.db");
      ui::MainWindow w(o);
      // A choice in the Controls dock is saved with the other engine settings.
      QSignalSpy changed(w.controls(), &ui::ControlsPanel::settings_changed);
      EngineSettings s = w.controls()->settings();
      s.device = "cuda";
      w.controls()->set_settings(s);  // as a command-line choice: shown, not saved
      QVERIFY(!QSettings().contains("engine/device"));
      QComboBox* c = w.controls()->device_combo();
      c->setCurrentIndex(c->findData(QStringLiteral("cpu")));
      QTRY_VERIFY(!changed.isEmpty());
      QCOMPARE(QSettings().value("engine/device").toString(), QString("cpu"));
    }
    QSettings().setValue("engine/device", "cuda");
    ui::MainWindowOptions o;
    o.db_path = tmp_.filePath("settings.db");
    o.save_settings = false;
    ui::MainWindow w(o);
    QCOMPARE(w.controls()->settings().device, std::string("cuda"));
  }

  void gui_experiment_on_cuda_resolves_the_device() {
    const QString db_path = tmp_.filePath("experiments.db");
    ui::ExperimentWorker worker;
    QSignalSpy logs(&worker, &ui::ExperimentWorker::log_message);
    QSignalSpy started(&worker, &ui::ExperimentWorker::started);
    QSignalSpy failed(&worker, &ui::ExperimentWorker::failed);
    std::optional<experiment::ExperimentResult> result;
    connect(&worker, &ui::ExperimentWorker::finished, this,
            [&](const experiment::ExperimentResult& r) { result = r; });
    ui::ExperimentJob job;
    job.config = small_experiment("cuda");
    job.model_path = small_model_;
    job.db_path = db_path;
    QVERIFY(worker.start(job));
    QTRY_VERIFY_WITH_TIMEOUT(result || !failed.isEmpty(), kWaitMs);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.at(0).at(0).toString()));
    const std::string want = has_gpu() ? "cuda:0" : "cpu";
    QCOMPARE(result->config.device, want);
    QCOMPARE(result->points.size(), size_t{1});
    if (!has_gpu()) {
      QCOMPARE(count_logs(logs, kNoCuda), 1);  // once, not per point or per engine
      for (const QList<QVariant>& args : logs) {
        if (args.at(1).toString().contains(kNoCuda)) QCOMPARE(args.at(0).toInt(), 1);
      }
    } else {
      QCOMPARE(count_logs(logs, kNoCuda), 0);
      QCOMPARE(count_logs(logs, "computing on cuda:0"), 1);
    }

    // The database holds the backend that ran, from the header on.
    QCOMPARE(started.count(), 1);
    const qint64 id = started.at(0).at(0).toLongLong();
    QVERIFY(id > 0);
    auto store = db::open_store(db_path.toStdString());
    QVERIFY2(store.ok(), store.status().message().c_str());
    auto stored = db::load_experiment(**store, id);
    QVERIFY2(stored.ok(), stored.status().message().c_str());
    QCOMPARE(stored->config.device, want);
  }

  void gui_experiment_with_a_bad_device_fails_first() {
    ui::ExperimentWorker worker;
    QSignalSpy started(&worker, &ui::ExperimentWorker::started);
    QSignalSpy progress(&worker, &ui::ExperimentWorker::progress);
    QSignalSpy failed(&worker, &ui::ExperimentWorker::failed);
    ui::ExperimentJob job;
    job.config = small_experiment("tpu");
    job.model_path = small_model_;
    QVERIFY(worker.start(job));
    QVERIFY(failed.wait(kWaitMs));
    QVERIFY2(failed.at(0).at(0).toString().contains("device 'tpu'"),
             qPrintable(failed.at(0).at(0).toString()));
    QVERIFY(started.isEmpty());
    QVERIFY(progress.isEmpty());  // before the model was opened
    QTRY_VERIFY(!worker.running());
  }
};

QTEST_MAIN(TestStudioDevice)
#include "test_studio_device.moc"
