// End-to-end: `emoe run --demo-workload N --json` on the demo model prints the summary (its
// keys and the invariants between them), records the measured requests, and loads the
// sensitivity that `emoe profile-sensitivity` stored; bad arguments fail with a clear message
// and a non-zero exit code.
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "core/model/demo_model.h"
#include "tests/support/cli_runner.h"

namespace {

using Run = emoe::test::CliRun;

QString g_xdg;

Run run_emoe(const QStringList& args, int timeout_ms = 300000) {
  return emoe::test::run_cli(args, g_xdg, timeout_ms);
}

QJsonObject json_of(const Run& r) { return r.json(); }

}  // namespace

class TestCliRun : public QObject {
  Q_OBJECT
  QTemporaryDir home_;
  QString model_;

  void expect_error(const QStringList& args, const char* needle) {
    Run r = run_emoe(args);
    QVERIFY2(r.code != 0, r.out.constData());
    QVERIFY2(r.err.contains(needle), r.err.constData());
    QVERIFY2(r.err.count('\n') <= 1, r.err.constData());  // one line
  }

 private slots:
  void initTestCase() {
    QVERIFY(home_.isValid());
    g_xdg = home_.path() + "/xdg";
    auto p = emoe::model::ensure_demo_model(home_.path().toStdString());
    QVERIFY2(p.ok(), p.status().message().c_str());
    model_ = QString::fromStdString(*p);
  }

  void demo_workload_json() {
    const QString db = home_.path() + "/run.db";
    Run r = run_emoe({"run", "-m", model_, "--demo-workload", "20", "--json", "--accuracy",
                      "--interval", "5", "--max-new-tokens", "6", "--budget", "60%", "--db", db});
    QVERIFY2(r.code == 0, r.err.constData());
    const QJsonObject o = json_of(r);
    QVERIFY2(!o.isEmpty(), r.out.constData());
    for (const char* key :
         {"predictor", "interval", "routing", "task_aware", "requests", "accuracy", "mean_kl",
          "hit_rate", "fallback_rate", "substitutions", "loads", "bytes_moved", "load_ms",
          "invocations", "predictor_calls", "predict_ms", "memory", "per_request", "db"}) {
      QVERIFY2(o.contains(key), key);
    }
    QCOMPARE(o["predictor"].toString(), QString("emoe-a"));
    QCOMPARE(o["routing"].toString(), QString("fallback"));
    QCOMPARE(o["requests"].toInt(), 20);
    QCOMPARE(o["invocations"].toInt(), 4);  // prompts 0, 5, 10, 15
    const double acc = o["accuracy"].toDouble();
    QVERIFY(acc > 0 && acc <= 1);
    const double hit = o["hit_rate"].toDouble();
    QVERIFY(hit > 0 && hit <= 1);
    QVERIFY(std::abs(o["fallback_rate"].toDouble() - (1 - hit)) < 1e-9);
    const QJsonObject mem = o["memory"].toObject();
    QVERIFY(mem["device_bytes"].toDouble() < mem["all_experts_device_bytes"].toDouble());
    QVERIFY(mem["peak_expert_bytes"].toDouble() <= mem["expert_budget_bytes"].toDouble());
    const QJsonArray per = o["per_request"].toArray();
    QCOMPARE(per.size(), 20);
    QCOMPARE(per[0].toObject()["invoked"].toBool(), true);
    QCOMPARE(per[1].toObject()["invoked"].toBool(), false);
    QCOMPARE(per[0].toObject()["generated_tokens"].toInt(), 6);
    QCOMPARE(o["db"].toObject()["requests"].toArray().size(), 20);
  }

  void text_mode_and_exact() {
    Run r = run_emoe({"run", "-m", model_, "--demo-workload", "6", "--no-db", "--routing", "exact",
                      "--predictor", "none", "--budget", "40%", "--max-new-tokens", "4"});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY2(r.out.contains("req"), r.out.constData());
    QCOMPARE(r.out.count('\n'), 1 + 6 + 1);  // header, one line per request, the summary
  }

  void sensitivity_profiles_are_loaded() {
    const QString db = home_.path() + "/sens.db";
    Run p = run_emoe({"profile-sensitivity", "-m", model_, "--tasks", "qa,summarization",
                      "--prompts", "2", "--continuation", "4", "--db", db});
    QVERIFY2(p.code == 0, p.err.constData());
    const QJsonObject m = json_of(p);
    const QJsonObject tasks = m["tasks"].toObject();
    QCOMPARE(tasks.size(), 2);
    QCOMPARE(tasks["qa"].toObject()["sensitivity"].toArray().size(), 6);
    Run r = run_emoe({"run", "-m", model_, "--demo-workload", "4", "--json", "--db", db,
                      "--max-new-tokens", "4"});
    QVERIFY2(r.code == 0, r.err.constData());
    QCOMPARE(json_of(r)["sensitivity_profiles"].toInt(), 2);
    Run off = run_emoe({"run", "-m", model_, "--demo-workload", "4", "--json", "--db", db,
                        "--max-new-tokens", "4", "--task-aware", "off"});
    QVERIFY2(off.code == 0, off.err.constData());
    QCOMPARE(json_of(off)["sensitivity_profiles"].toInt(), 0);
    QCOMPARE(json_of(off)["task_aware"].toBool(), false);
  }

  void bad_arguments() {
    expect_error({"run", "-m", model_, "--no-db"}, "exactly one of --workload");
    expect_error({"run", "-m", model_, "--no-db", "--demo-workload", "4", "--workload", "x.jsonl"},
                 "exactly one of --workload");
    expect_error({"run", "-m", model_, "--no-db", "--demo-workload", "4", "--predictor", "xl"},
                 "unknown predictor 'xl'");
    expect_error({"run", "-m", model_, "--no-db", "--demo-workload", "4", "--interval", "0"},
                 "--interval");
    expect_error({"run", "-m", model_, "--no-db", "--demo-workload", "4", "--interval", "201"},
                 "--interval");
    expect_error({"run", "-m", model_, "--no-db", "--demo-workload", "4", "--routing", "all"},
                 "--routing");
    expect_error({"run", "-m", model_, "--no-db", "--demo-workload", "4", "--budget", "abc"},
                 "--budget");
    expect_error({"run", "-m", model_, "--no-db", "--demo-workload", "4", "--task-aware", "yes"},
                 "--task-aware");
    expect_error(
        {"run", "-m", model_, "--no-db", "--demo-workload", "4", "--profile-requests", "4"},
        "--profile-requests");
    expect_error({"run", "-m", home_.path() + "/missing.gguf", "--no-db", "--demo-workload", "4"},
                 "missing.gguf");
    expect_error({"run", "-m", model_, "--no-db", "--workload", home_.path() + "/none.jsonl"},
                 "none.jsonl");
    expect_error({"profile-sensitivity", "-m", model_, "--no-db", "--tasks", "qa,poetry"},
                 "unknown task 'poetry'");
    expect_error({"bench-emoe", "--predictors", "emoe-a,xx"}, "unknown predictor 'xx'");
  }
};

QTEST_GUILESS_MAIN(TestCliRun)
#include "test_cli_run.moc"
