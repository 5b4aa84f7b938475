// End-to-end: `emoe generate --db` records a session with a device tier; `emoe replay` on that
// session must report the same hits, misses, substitutions, loads, bytes and evictions as the
// live run's "paging" object. Bad input (unknown session, malformed trace, budget below the
// minimum, missing sizes) fails with a clear message and exit code 1.
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "tests/support/cli_runner.h"

namespace {

using Run = emoe::test::CliRun;

QString g_xdg;

Run run_emoe(const QStringList& args, int timeout_ms = 120000) {
  return emoe::test::run_cli(args, g_xdg, timeout_ms);
}

QString model() { return QStringLiteral(EMOE_TEST_DATA_DIR "/tiny-mixtral-q/model.gguf"); }

QJsonObject json_of(const Run& r) { return r.json(); }

}  // namespace

class TestCliReplay : public QObject {
  Q_OBJECT
  QTemporaryDir home_;

  void check_reproduces(const QString& routing, const QString& policy, const QString& budget) {
    const QString db = home_.path() + "/" + routing + policy + ".db";
    Run g =
        run_emoe({"generate", "-m", model(), "-p", "The quick brown fox jumps over the lazy dog",
                  "-n", "12", "--ignore-eos", "--json", "--threads", "1", "--db", db, "--budget",
                  budget, "--routing", routing, "--policy", policy});
    QVERIFY2(g.code == 0, g.err.constData());
    const QJsonObject live = json_of(g)["paging"].toObject();
    QVERIFY2(!live.isEmpty(), g.out.constData());
    const int session = json_of(g)["db"].toObject()["session_id"].toInt();
    Run r = run_emoe({"replay", "--db", db, "--session", QString::number(session), "-m", model(),
                      "--budget", budget, "--routing", routing, "--policy", policy, "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    const QJsonObject rep = json_of(r);
    const QJsonObject paging = rep["paging"].toObject();
    QVERIFY2(!paging.isEmpty(), r.out.constData());
    for (const char* key : {"hits", "misses", "substitutions", "short_decisions", "loads",
                            "bytes_loaded", "evictions", "budget_bytes", "peak_device_bytes"}) {
      QVERIFY2(paging[key].toDouble() == live[key].toDouble(),
               qPrintable(QString("%1: replay %2, live %3")
                              .arg(key)
                              .arg(paging[key].toDouble())
                              .arg(live[key].toDouble())));
    }
    QVERIFY(live["misses"].toDouble() > 0);
    QCOMPARE(paging["routing"].toString(), routing);
    QVERIFY(rep["token_layer_events"].toDouble() > 0);

    // Without settings the replay takes the session's recorded budget, routing, policy and model.
    Run d = run_emoe({"replay", "--db", db, "--session", QString::number(session), "--json"});
    QVERIFY2(d.code == 0, d.err.constData());
    const QJsonObject dp = json_of(d)["paging"].toObject();
    for (const char* key : {"hits", "misses", "loads", "evictions"}) {
      QCOMPARE(dp[key].toDouble(), live[key].toDouble());
    }
  }

 private slots:
  void initTestCase() {
    QVERIFY(home_.isValid());
    g_xdg = home_.path() + "/xdg";
  }

  void exact_lru_reproduces_the_live_run() { check_reproduces("exact", "lru", "50%"); }
  void exact_lfu_reproduces_the_live_run() { check_reproduces("exact", "lfu", "40%"); }
  void fallback_reproduces_the_live_run() { check_reproduces("fallback", "lru", "50%"); }

  void text_output_and_predictor() {
    const QString db = home_.path() + "/text.db";
    Run g = run_emoe({"generate", "-m", model(), "-p", "Hello world", "-n", "4", "--threads", "1",
                      "--db", db, "--budget", "50%", "--routing", "exact"});
    QVERIFY2(g.code == 0, g.err.constData());
    Run r = run_emoe(
        {"replay", "--db", db, "--session", "1", "-m", model(), "--budget", "50%", "--layers"});
    QVERIFY2(r.code == 0, r.err.constData());
    QVERIFY2(r.out.contains("top-k: hits"), r.out.constData());
    QVERIFY2(r.out.contains("layer"), r.out.constData());
    Run p = run_emoe({"replay", "--db", db, "--session", "1", "-m", model(), "--budget", "50%",
                      "--routing", "fallback", "--predictor", "frequency", "--interval", "1",
                      "--json"});
    QVERIFY2(p.code == 0, p.err.constData());
    QCOMPARE(json_of(p)["predictor"].toObject()["invocations"].toInt(), 1);
  }

  void trace_file_with_expert_bytes() {
    const QString path = home_.path() + "/t.jsonl";
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("{\"format\":\"emoe-trace\",\"version\":1,\"n_layer\":2,\"n_expert\":4,\"top_k\":2}\n");
    f.write("{\"request\":\"a\",\"pos\":0,\"layer\":0,\"experts\":[0,1]}\n");
    f.write("{\"request\":\"a\",\"pos\":0,\"layer\":1,\"experts\":[2,1]}\n");
    f.write("{\"request\":\"a\",\"pos\":1,\"layer\":0,\"experts\":[3,1],\"phase\":\"decode\"}\n");
    f.close();
    Run r =
        run_emoe({"replay", "--trace", path, "--expert-bytes", "64", "--budget", "256", "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    const QJsonObject o = json_of(r);
    QCOMPARE(o["token_layer_events"].toInt(), 3);
    QCOMPARE(o["acquisitions"].toObject()["misses"].toInt(), 5);
    QCOMPARE(o["acquisitions"].toObject()["hits"].toInt(), 1);
    QCOMPARE(o["paging"].toObject()["evictions"].toInt(), 1);
    // 5 loads of 64 bytes at 1 GB/s plus 1 µs each.
    Run s = run_emoe({"replay", "--trace", path, "--expert-bytes", "64", "--budget", "256",
                      "--bandwidth-gbs", "1", "--latency-us", "1", "--json"});
    QVERIFY2(s.code == 0, s.err.constData());
    QVERIFY(std::abs(json_of(s)["modelled_stall_s"].toDouble() - 5 * (64e-9 + 1e-6)) < 1e-12);
  }

  void bad_input_fails_clearly() {
    const QString db = home_.path() + "/bad.db";
    Run g = run_emoe({"generate", "-m", model(), "-p", "Hi", "-n", "2", "--threads", "1", "--db",
                      db, "--budget", "50%"});
    QVERIFY2(g.code == 0, g.err.constData());

    Run r = run_emoe({"replay", "--db", db, "--session", "99", "-m", model(), "--budget", "50%"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("session 99"), r.err.constData());

    r = run_emoe({"replay", "--db", db, "--session", "1", "-m", model(), "--budget", "1K"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("below the minimum"), r.err.constData());

    r = run_emoe({"replay", "--db", db, "--session", "1", "-m", model(), "--budget", "7q"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("--budget"), r.err.constData());

    r = run_emoe(
        {"replay", "--db", home_.path() + "/missing.db", "--session", "1", "--budget", "50%"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("does not exist"), r.err.constData());

    const QString bad = home_.path() + "/bad.jsonl";
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(
        "{\"request\":\"a\",\"pos\":0,\"layer\":0,\"experts\":[1,2]}\n{\"request\":\"a\",\"pos\":"
        "\n");
    f.close();
    r = run_emoe({"replay", "--trace", bad, "--expert-bytes", "64", "--budget", "50%"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("line 2"), r.err.constData());

    // A trace alone has no sizes.
    const QString good = home_.path() + "/good.jsonl";
    QFile h(good);
    QVERIFY(h.open(QIODevice::WriteOnly));
    h.write("{\"request\":\"a\",\"pos\":0,\"layer\":0,\"experts\":[1,2]}\n");
    h.close();
    r = run_emoe({"replay", "--trace", good, "--budget", "50%"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("--expert-bytes"), r.err.constData());

    r = run_emoe({"replay", "--budget", "50%"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("--session"), r.err.constData());
  }
};

QTEST_GUILESS_MAIN(TestCliReplay)
#include "test_cli_replay.moc"
