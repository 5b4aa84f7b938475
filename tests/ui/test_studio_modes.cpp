// The workbench binary's unattended experiment mode: `emoe-studio --experiment CONFIG
// --screenshot FILE` loads the configuration into the Experiment dock, runs it with the
// window's database, grabs the window once it has finished and exits 0; the database then
// holds the finished experiment with every point, read back independently. A configuration
// that does not parse exits 1 with its line-numbered error and writes no picture.
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "db/experiment_store.h"
#include "db/schema.h"

namespace {

const QString kModel = QStringLiteral(EMOE_TEST_DATA_DIR "/tiny-mixtral-f32/model.gguf");

struct Run {
  int code = -1;
  QByteArray err;
};

Run studio(const QTemporaryDir& home, const QStringList& args) {
  QProcess p;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert("QT_QPA_PLATFORM", "offscreen");
  env.insert("XDG_DATA_HOME", home.filePath("data"));
  env.insert("XDG_CONFIG_HOME", home.filePath("config"));
  p.setProcessEnvironment(env);
  p.start(QStringLiteral(EMOE_STUDIO_PATH), QStringList{"--fresh", "--size", "1200x800"} + args);
  Run r;
  if (!p.waitForFinished(300000)) {
    p.kill();
    return r;
  }
  r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  r.err = p.readAllStandardError();
  return r;
}

void write(const QString& path, const QByteArray& text) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
  f.write(text);
}

}  // namespace

class TestStudioModes : public QObject {
  Q_OBJECT

 private slots:
  void experiment_runs_and_grabs_the_window() {
    QTemporaryDir home;
    const QString cfg = home.filePath("exp.json");
    write(cfg, QByteArray("{\"name\": \"studio-mode\", \"model\": \"") + kModel.toUtf8() +
                   "\", \"workload\": {\"requests\": 6, \"max_new_tokens_scale\": 0.05},"
                   " \"matrix\": {\"schedulers\": [\"emoe\", \"sjf\"], \"arrival_rates\": [20]},"
                   " \"profile_requests\": 3}\n");
    const QString db = home.filePath("h.db");
    const QString png = home.filePath("shot.png");
    const Run r = studio(home, {kModel, "--db", db, "--experiment", cfg, "--screenshot", png});
    QVERIFY2(r.code == 0, r.err.constData());
    const QImage image(png);
    QVERIFY(!image.isNull());
    QVERIFY(image.width() >= 1200 && image.height() >= 800);  // the window's size, at least

    auto store = emoe::db::open_store(db.toStdString());
    QVERIFY2(store.ok(), store.status().message().c_str());
    auto listed = emoe::db::list_experiments(**store);
    QVERIFY(listed.ok());
    QCOMPARE(listed->size(), size_t{1});
    QCOMPARE(QString::fromStdString(listed->at(0).name), QString("studio-mode"));
    QCOMPARE(QString::fromStdString(listed->at(0).status), QString("done"));
    auto loaded = emoe::db::load_experiment(**store, listed->at(0).id);
    QVERIFY(loaded.ok());
    QCOMPARE(loaded->points.size(), size_t{2});
    for (const auto& p : loaded->points) {
      QCOMPARE(p.requests.size(), size_t{6});
      QCOMPARE(p.run.completed + p.run.rejected, int64_t{6});
    }
  }

  void bad_configuration_exits_with_its_error() {
    QTemporaryDir home;
    const QString cfg = home.filePath("bad.json");
    write(cfg, "{\n  \"matrix\": {\"schedulers\": [\"lifo\"]}\n}\n");
    const QString png = home.filePath("shot.png");
    const Run r = studio(home, {kModel, "--db", home.filePath("h.db"), "--experiment", cfg,
                                "--screenshot", png});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("matrix.schedulers[0]"), r.err.constData());
    QVERIFY(!QFile::exists(png));
  }
};

QTEST_GUILESS_MAIN(TestStudioModes)
#include "test_studio_modes.moc"
