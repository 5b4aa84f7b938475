// Choosing the compute device in the workbench: the Controls dock's Device combo lists the CPU
// and what the CUDA runtime reports (checked against kernels::gpu::probe_runtime(), formatted
// here independently); the engine thread opens the chosen device, says once when CUDA is
// missing and names the backend that runs; choosing CPU in a window applies; and
// `emoe-studio --device cuda` starts, serves a prompt and prints the notice. Without a GPU,
// "cuda" must produce exactly the CPU's tokens; with one, the GPU's tokens are compared with
// the CPU's. Waits are signal spies and QTRY_ polls, never fixed sleeps.
#include <QComboBox>
#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QTemporaryDir>
#include <QtTest>
#include <cstdio>
#include <memory>

#include "kernels/gpu/gpu_device.h"
#include "ui/controls_panel.h"
#include "ui/engine_controller.h"
#include "ui/log_dock.h"
#include "ui/main_window.h"

using namespace emoe;
using ui::EngineController;
using ui::EngineReport;
using ui::EngineSettings;

namespace {

constexpr int kWaitMs = 120000;
const QString kModel = QStringLiteral(EMOE_TEST_DATA_DIR "/tiny-mixtral-f32/model.gguf");
const QString kPrompt = QStringLiteral("The experts of a mixture");
const QString kNoCuda = QStringLiteral("CUDA is not available (");

bool has_gpu() { return !kernels::gpu::probe_runtime().devices.empty(); }

bool enabled(const QComboBox* c, int i) {
  const auto* m = qobject_cast<const QStandardItemModel*>(c->model());
  return m && m->item(i) && m->item(i)->isEnabled();
}

// The log lines the controller sent that contain `text`.
int count_logs(const QSignalSpy& spy, const QString& text) {
  int n = 0;
  for (const QList<QVariant>& args : spy) n += args.at(1).toString().contains(text) ? 1 : 0;
  return n;
}

// Applies `s` and returns the report that comes back (settings_failed fails the test).
EngineReport apply(EngineController& ctl, const EngineSettings& s) {
  QSignalSpy applied(&ctl, &EngineController::settings_applied);
  QSignalSpy failed(&ctl, &EngineController::settings_failed);
  ctl.apply_settings(s);
  if (!applied.wait(kWaitMs) && !failed.isEmpty()) {
    qWarning("settings failed: %s", qPrintable(failed.at(0).at(0).toString()));
    return {};
  }
  return applied.isEmpty() ? EngineReport{} : applied.at(0).at(0).value<EngineReport>();
}

// Generates greedily and returns the output text ("" and a warning on an error).
QString generate(EngineController& ctl) {
  QSignalSpy done(&ctl, &EngineController::request_finished);
  ui::PromptRequest r;
  r.text = kPrompt;
  r.max_new_tokens = 8;
  r.ignore_eos = true;
  ctl.submit(r);
  if (!done.wait(kWaitMs)) return {};
  const auto stats = done.at(0).at(0).value<ui::RequestStats>();
  if (!stats.error.empty()) qWarning("request failed: %s", stats.error.c_str());
  return QString::fromStdString(stats.output);
}

}  // namespace

class TestDeviceChoice : public QObject {
  Q_OBJECT

 private slots:
  void combo_lists_the_cpu_and_the_gpus() {
    ui::ControlsPanel panel;
    const QComboBox* c = panel.device_combo();
    QVERIFY(c != nullptr);
    QCOMPARE(c->itemText(0), QString("CPU"));
    QCOMPARE(c->itemData(0).toString(), QString("cpu"));
    QVERIFY(enabled(c, 0));
    const kernels::gpu::RuntimeProbe probe = kernels::gpu::probe_runtime();
    if (probe.devices.empty()) {
      // One item that explains, and cannot be chosen.
      QCOMPARE(c->count(), 2);
      QCOMPARE(c->itemText(1), QString::fromUtf8("CUDA: not available \xE2\x80\x94 ") +
                                   QString::fromStdString(probe.message));
      QVERIFY(!probe.message.empty());
      QVERIFY(!enabled(c, 1));
      QCOMPARE(c->itemData(1).toString(), QString("cuda"));
    } else {
      QCOMPARE(c->count(), 1 + static_cast<int>(probe.devices.size()));
      for (size_t i = 0; i < probe.devices.size(); ++i) {
        const kernels::gpu::DeviceInfo& d = probe.devices[i];
        char want[256];
        std::snprintf(want, sizeof want, "cuda:%d \xE2\x80\x94 %s, %.1f GiB", d.index,
                      d.name.c_str(), static_cast<double>(d.total_bytes) / 1073741824.0);
        const int item = 1 + static_cast<int>(i);
        QCOMPARE(c->itemText(item), QString::fromUtf8(want));
        QCOMPARE(c->itemData(item).toString(), QString("cuda:%1").arg(d.index));
        QVERIFY(enabled(c, item));
      }
    }
    QCOMPARE(panel.settings().device, std::string("cpu"));  // the default
  }

  void set_settings_keeps_the_name_and_choosing_cpu_applies() {
    ui::ControlsPanel panel;
    QSignalSpy changed(&panel, &ui::ControlsPanel::settings_changed);
    EngineSettings s = panel.settings();
    s.device = "cuda";
    panel.set_settings(s);
    QVERIFY(changed.isEmpty());  // set_settings never emits
    QCOMPARE(panel.settings().device, std::string("cuda"));
    QComboBox* c = panel.device_combo();
    // Without a GPU the disabled item shows why "cuda" will run on the CPU.
    QCOMPARE(c->currentData().toString(), has_gpu() ? QString("cuda:0") : QString("cuda"));
    c->setCurrentIndex(c->findData(QStringLiteral("cpu")));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed.at(0).at(0).value<EngineSettings>().device, std::string("cpu"));
    QCOMPARE(panel.settings().device, std::string("cpu"));
  }

  void engine_thread_opens_the_device_and_says_so_once() {
    EngineController ctl;
    QSignalSpy logs(&ctl, &EngineController::log_message);
    QSignalSpy loaded(&ctl, &EngineController::model_loaded);
    QSignalSpy applied(&ctl, &EngineController::settings_applied);
    EngineSettings s;
    s.device = "cuda";
    ctl.apply_settings(s);  // before a model: kept for it
    ctl.open_model(kModel);
    QVERIFY(loaded.wait(kWaitMs));
    QTRY_VERIFY_WITH_TIMEOUT(applied.count() >= 2, kWaitMs);
    EngineReport r = applied.last().at(0).value<EngineReport>();
    QCOMPARE(r.settings.device, std::string("cuda"));
    const QString cuda_out = generate(ctl);
    QVERIFY(!cuda_out.isEmpty());
    // Other settings on the same device: the device stays open and nothing is said again.
    s.n_threads = 2;
    const EngineReport again = apply(ctl, s);
    QCOMPARE(again.settings.n_threads, 2);
    QCOMPARE(again.backend, r.backend);

    if (!has_gpu()) {
      QCOMPARE(r.backend, std::string("cpu"));
      QVERIFY(r.device_name.empty());
      QVERIFY2(QString::fromStdString(r.device_notice).startsWith(kNoCuda),
               r.device_notice.c_str());
      QCOMPARE(again.device_notice, r.device_notice);
      QCOMPARE(count_logs(logs, kNoCuda), 1);
    } else {
      QCOMPARE(r.backend, std::string("cuda:0"));
      QVERIFY2(QString::fromStdString(r.device_name).startsWith("cuda:0 ("), r.device_name.c_str());
      QVERIFY(r.device_notice.empty());
      QCOMPARE(count_logs(logs, "computing on cuda:0"), 1);
    }

    s.device = "cpu";
    const EngineReport cpu = apply(ctl, s);
    QCOMPARE(cpu.backend, std::string("cpu"));
    QVERIFY(cpu.device_notice.empty());
    QVERIFY(cpu.device_name.empty());
    const QString cpu_out = generate(ctl);
    if (!has_gpu()) {
      QCOMPARE(cuda_out, cpu_out);  // the fallback is the CPU engine, token for token
    } else {
      // Greedy on an F32 model: rounding may flip a late near-tie, not the start.
      QVERIFY2(cuda_out.left(4) == cpu_out.left(4), qPrintable(cuda_out + " | " + cpu_out));
    }

    // A name that is no device is refused with the reason; the engine keeps running.
    QSignalSpy failed(&ctl, &EngineController::settings_failed);
    s.device = "cuda:x";
    ctl.apply_settings(s);
    QVERIFY(failed.wait(kWaitMs));
    QVERIFY2(failed.at(0).at(0).toString().contains("device 'cuda:x'"),
             qPrintable(failed.at(0).at(0).toString()));
    QCOMPARE(generate(ctl), cpu_out);
  }

  void choosing_cpu_in_the_window_applies() {
    QTemporaryDir tmp;
    ui::MainWindowOptions o;
    o.db_path = tmp.filePath("h.db");
    o.restore_settings = false;
    o.save_settings = false;
    ui::MainWindow w(o);
    w.show();
    EngineSettings s = w.controls()->settings();
    s.device = "cuda";
    w.controls()->set_settings(s);
    QSignalSpy applied(w.controller(), &EngineController::settings_applied);
    w.open_model(kModel);
    // The model comes up with the engine's settings, then the window applies the dock's.
    QTRY_VERIFY_WITH_TIMEOUT(
        !applied.isEmpty() && applied.last().at(0).value<EngineReport>().settings.device == "cuda",
        kWaitMs);
    const std::string backend = applied.last().at(0).value<EngineReport>().backend;
    QCOMPARE(backend, std::string(has_gpu() ? "cuda:0" : "cpu"));
    QVERIFY2(w.controls()->report_text().contains(QString::fromStdString(
                 has_gpu() ? "on cuda:0 (" : "on cpu (CUDA is not available")),
             qPrintable(w.controls()->report_text()));
    if (!has_gpu()) QVERIFY2(w.log()->text().contains(kNoCuda), qPrintable(w.log()->text()));

    applied.clear();
    QComboBox* c = w.controls()->device_combo();
    c->setCurrentIndex(c->findData(QStringLiteral("cpu")));
    QTRY_VERIFY_WITH_TIMEOUT(!applied.isEmpty(), kWaitMs);
    const EngineReport r = applied.last().at(0).value<EngineReport>();
    QCOMPARE(r.settings.device, std::string("cpu"));
    QCOMPARE(r.backend, std::string("cpu"));
    QVERIFY2(w.controls()->report_text().contains("on cpu:"),
             qPrintable(w.controls()->report_text()));
    QVERIFY(!w.controls()->report_text().contains("CUDA is not available"));
  }

  void studio_with_device_cuda_starts_and_tells() {
    QTemporaryDir home;
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("QT_QPA_PLATFORM", "offscreen");
    env.insert("XDG_DATA_HOME", home.filePath("data"));
    env.insert("XDG_CONFIG_HOME", home.filePath("config"));
    p.setProcessEnvironment(env);
    const QString png = home.filePath("shot.png");
    // --screenshot serves the prompt and exits 0 once it is drawn: a full start on the device.
    p.start(QStringLiteral(EMOE_STUDIO_PATH),
            {"--fresh", "--size", "1000x700", "--device", "cuda", "--db", home.filePath("h.db"),
             "--screenshot", png, "--prompt", kPrompt, kModel});
    QVERIFY(p.waitForFinished(kWaitMs * 2));
    const QByteArray err = p.readAllStandardError();
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QVERIFY2(p.exitCode() == 0, err.constData());
    QVERIFY(QFile::exists(png));
    if (!has_gpu()) {
      QVERIFY2(err.contains("emoe-studio: CUDA is not available ("), err.constData());
      QCOMPARE(err.count("CUDA is not available"), qsizetype{1});
    } else {
      QVERIFY2(!err.contains("CUDA is not available"), err.constData());
    }

    QProcess bad;
    bad.setProcessEnvironment(env);
    bad.start(QStringLiteral(EMOE_STUDIO_PATH), {"--fresh", "--device", "gpu", kModel});
    QVERIFY(bad.waitForFinished(kWaitMs));
    QCOMPARE(bad.exitCode(), 2);
    QVERIFY(bad.readAllStandardError().contains("--device expects cpu, cuda or cuda:N"));
  }
};

QTEST_MAIN(TestDeviceChoice)
#include "test_device_choice.moc"
