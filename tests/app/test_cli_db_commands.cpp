// End-to-end tests of `emoe db info|export|import|query`: a session recorded by `emoe generate
// --db` (fallback routing at half the expert bytes, so used experts differ from the router's) is
// read back through every action and compared with `emoe trace --json` for the same prompt and
// settings, an independent path through the engine with no database.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QTemporaryDir>
#include <QtTest>
#include <map>
#include <utility>

#include "tests/support/cli_runner.h"

using emoe::test::CliRun;
using emoe::test::run_cli;

namespace {

const QString kModel = QStringLiteral(EMOE_TEST_DATA_DIR "/tiny-mixtral-q/model.gguf");
const QString kPrompt = QStringLiteral("The quick brown fox");
const QStringList kPaging = {"--budget", "50%", "--routing", "fallback"};

using Counts = std::map<std::pair<int, int>, int64_t>;  // (layer, expert) -> count

// Counts of used (or router) experts from `emoe trace --json` positions.
Counts trace_counts(const QJsonObject& trace, const char* field) {
  Counts c;
  for (const QJsonValue& pos : trace["positions"].toArray()) {
    for (const QJsonValue& layer : pos["layers"].toArray()) {
      for (const QJsonValue& e : layer[field].toArray()) {
        ++c[{layer["layer"].toInt(), e.toInt()}];
      }
    }
  }
  return c;
}

Counts query_counts(const QJsonObject& q) {
  Counts c;
  for (const QJsonValue& v : q["counts"].toArray()) {
    c[{v["layer"].toInt(), v["expert"].toInt()}] = v["count"].toInteger();
  }
  return c;
}

}  // namespace

class TestCliDbCommands : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString xdg_, db_;
  QJsonObject trace_;  // trace --json of the recorded prompt and settings

  CliRun emoe(QStringList args) { return run_cli(args, xdg_); }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    xdg_ = dir_.filePath("xdg");
    db_ = dir_.filePath("history.db");
    // generate -n 4 decodes 3 tokens through the model (the last is never fed back); trace -n 3
    // routes the same positions.
    CliRun g = emoe(QStringList{"generate", "-m", kModel, "-p", kPrompt, "-n", "4", "--db", db_,
                                "--task", "qa", "--json"} +
                    kPaging);
    QVERIFY2(g.code == 0, g.err.constData());
    CliRun t =
        emoe(QStringList{"trace", "-m", kModel, "-p", kPrompt, "-n", "3", "--json", "--no-db"} +
             kPaging);
    QVERIFY2(t.code == 0, t.err.constData());
    trace_ = t.json();
    QVERIFY(!trace_["positions"].toArray().isEmpty());
  }

  void info_counts_the_rows() {
    CliRun r = emoe({"db", "info", "--db", db_, "--json"});
    QVERIFY2(r.code == 0, r.err.constData());
    const QJsonObject j = r.json();
    QCOMPARE(j["schema_version"].toInt(), 3);
    QCOMPARE(j["sessions"].toInt(), 1);
    int64_t rows = 0;
    for (const auto& [key, n] : trace_counts(trace_, "topk")) rows += n;
    QCOMPARE(j["tables"]["routing"].toInteger(), rows);  // one row per (position, layer, rank)
    QCOMPARE(j["tables"]["tokens"].toInteger(), qint64(trace_["positions"].toArray().size()));
    QCOMPARE(j["models"].toArray().size(), qsizetype{1});
    CliRun text = emoe({"db", "info", "--db", db_});
    QVERIFY(text.code == 0 && text.out.contains("routing") && text.out.contains("version 3"));
  }

  void query_counts_match_the_trace() {
    for (const char* choice : {"used", "router"}) {
      CliRun r = emoe({"db", "query", "counts", "--db", db_, "--session", "1", "--choice", choice});
      QVERIFY2(r.code == 0, r.err.constData());
      const Counts want = trace_counts(trace_, std::string(choice) == "used" ? "used" : "topk");
      QVERIFY2(query_counts(r.json()) == want, choice);
    }
    // Fallback at half the bytes substituted some experts, so the two choices differ.
    QVERIFY(trace_counts(trace_, "used") != trace_counts(trace_, "topk"));
    // Filters: the task and the phase split.
    CliRun none = emoe({"db", "query", "counts", "--db", db_, "--task", "summarization"});
    QVERIFY(none.code == 0 && none.json()["counts"].toArray().isEmpty());
    int64_t prefill = 0, decode = 0, all = 0;
    for (const char* phase : {"prefill", "decode"}) {
      CliRun r = emoe({"db", "query", "counts", "--db", db_, "--phase", phase});
      QVERIFY2(r.code == 0, r.err.constData());
      for (const auto& [k, n] : query_counts(r.json())) (phase[0] == 'p' ? prefill : decode) += n;
    }
    for (const auto& [k, n] : trace_counts(trace_, "used")) all += n;
    QCOMPARE(prefill + decode, all);
    QVERIFY(prefill > 0 && decode > 0);
  }

  void query_trace_and_requests() {
    CliRun req = emoe({"db", "query", "requests", "--db", db_, "--session", "1"});
    QVERIFY2(req.code == 0, req.err.constData());
    const QJsonArray requests = req.json()["requests"].toArray();
    QCOMPARE(requests.size(), qsizetype{1});
    QCOMPARE(requests[0]["task"].toString(), QString("qa"));
    QCOMPARE(requests[0]["text"].toString(), kPrompt);
    const QString id = QString::number(requests[0]["id"].toInteger());
    CliRun tr = emoe({"db", "query", "trace", "--db", db_, "--request", id});
    QVERIFY2(tr.code == 0, tr.err.constData());
    const QJsonArray steps = tr.json()["steps"].toArray();
    // Steps are sorted by (pos, layer) like the trace's positions and layers.
    qsizetype i = 0;
    for (const QJsonValue& pos : trace_["positions"].toArray()) {
      for (const QJsonValue& layer : pos["layers"].toArray()) {
        QVERIFY(i < steps.size());
        const QJsonValue s = steps[i++];
        QCOMPARE(s["pos"].toInt(), pos["pos"].toInt());
        QCOMPARE(s["router_experts"].toArray(), layer["topk"].toArray());
        QCOMPARE(s["used_experts"].toArray(), layer["used"].toArray());
      }
    }
    QCOMPARE(i, steps.size());
    CliRun missing = emoe({"db", "query", "trace", "--db", db_, "--request", "999"});
    QCOMPARE(missing.code, 1);
    QVERIFY(missing.err.contains("999"));
  }

  void export_and_import_round_trip() {
    const QString jsonl = dir_.filePath("s1.jsonl");
    CliRun ex =
        emoe({"db", "export", "--db", db_, "--session", "1", "--format", "jsonl", "--out", jsonl});
    QVERIFY2(ex.code == 0, ex.err.constData());
    const QString other = dir_.filePath("imported.db");
    CliRun im = emoe({"db", "import", jsonl, "--db", other});
    QVERIFY2(im.code == 0, im.err.constData());
    QCOMPARE(im.json()["requests"].toInt(), 1);
    for (const char* choice : {"used", "router"}) {
      CliRun a = emoe({"db", "query", "counts", "--db", db_, "--choice", choice});
      CliRun b = emoe({"db", "query", "counts", "--db", other, "--choice", choice});
      QVERIFY(a.code == 0 && b.code == 0);
      QVERIFY2(query_counts(a.json()) == query_counts(b.json()), choice);
    }
    for (const char* format : {"json", "csv"}) {
      const QString out = dir_.filePath(QString("s1.") + format);
      CliRun r =
          emoe({"db", "export", "--db", db_, "--session", "1", "--format", format, "--out", out});
      QVERIFY2(r.code == 0, r.err.constData());
      QVERIFY(QFileInfo(std::string(format) == "csv" ? out + "/routing.csv" : out).size() > 0);
    }
  }

  void bad_input_is_a_clear_error() {
    const QString junk = dir_.filePath("junk.db");
    {
      QFile f(junk);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write("this is not a database, just some text that is long enough to matter\n");
    }
    CliRun info = emoe({"db", "info", "--db", junk});
    QCOMPARE(info.code, 1);
    QVERIFY2(info.err.contains("junk.db"), info.err.constData());
    const QString bad = dir_.filePath("bad.jsonl");
    {
      QFile f(bad);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write("{\"request\":1,\"pos\":0,\"layer\":0,\"experts\":[1,2]}\n{\"request\":1,\"pos\":");
    }
    const QString target = dir_.filePath("target.db");
    CliRun im = emoe({"db", "import", bad, "--db", target});
    QCOMPARE(im.code, 1);
    QVERIFY2(im.err.contains("line 2"), im.err.constData());
    CliRun after = emoe({"db", "info", "--db", target, "--json"});
    QVERIFY(after.code == 0);
    QCOMPARE(after.json()["tables"].toObject()["routing"].toInteger(), qint64{0});  // rolled back
    CliRun unknown = emoe({"db", "query", "nothing", "--db", db_});
    QCOMPARE(unknown.code, 1);
    QVERIFY2(unknown.err.contains("unknown query 'nothing'"), unknown.err.constData());
    CliRun both = emoe({"db", "export", "--db", db_, "--session", "1", "--run", "1", "--out", "x"});
    QCOMPARE(both.code, 1);
    QVERIFY2(both.err.contains("exactly one of --session, --run"), both.err.constData());
  }
};

QTEST_GUILESS_MAIN(TestCliDbCommands)
#include "test_cli_db_commands.moc"
