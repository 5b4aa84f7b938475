// End-to-end: `emoe workload` writes a seeded workload that loads back identically and writes the
// same bytes for the same seed; `emoe serve` serves it (and a demo workload) with continuous
// batching, every request finishing with TTFT <= E2E and generating exactly the tokens `emoe
// generate` produces for its prompt alone (greedy), under eMoE, FCFS and SJF; a bad workload
// line is an error naming the line; `emoe profile` measures a positive c and dE, stores a runs
// row that `emoe serve` then uses, and both rows show in `emoe db query runs`.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include "core/sched/workload.h"
#include "tests/support/cli_runner.h"

using emoe::test::CliRun;
using emoe::test::run_cli;

namespace {

const QString kModel = QStringLiteral(EMOE_TEST_DATA_DIR "/tiny-mixtral-f32/model.gguf");

QByteArray read_all(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.readAll();
}

QList<int> ints(const QJsonArray& a) {
  QList<int> out;
  for (const auto& v : a) out.push_back(v.toInt());
  return out;
}

}  // namespace

class TestCliServe : public QObject {
  Q_OBJECT
  QTemporaryDir home_;
  QString xdg_;

  CliRun emoe(const QStringList& args) { return run_cli(args, xdg_); }

  void expect_error(const QStringList& args, const char* needle) {
    const CliRun r = emoe(args);
    QVERIFY2(r.code != 0, r.out.constData());
    QVERIFY2(r.err.contains(needle), r.err.constData());
    QVERIFY2(r.err.count('\n') <= 1, r.err.constData());  // one line
  }

  // Serves and checks what holds for any run: every request finished, TTFT <= E2E, the
  // summary keys present and consistent.
  QJsonObject serve_ok(const QStringList& extra, int n) {
    QStringList args = {"serve",  "-m",      kModel, "--clock", "virtual",
                        "--json", "--no-db", "-t",   "1"};
    args += extra;
    const CliRun r = emoe(args);
    if (r.code != 0) qWarning("%s", r.err.constData());
    const QJsonObject o = r.json();
    for (const char* key : {"requests", "completed", "slo_attainment", "throughput_tok_s",
                            "ttft_ms", "e2e_ms", "profile", "per_request", "steps"}) {
      if (!o.contains(key)) qWarning("missing key %s", key);
    }
    if (o["requests"].toInt() != n || o["completed"].toInt() != n) return {};
    for (const char* key : {"ttft_ms", "e2e_ms"}) {
      const QJsonObject s = o[key].toObject();
      if (!s.contains("mean") || !s.contains("p50") || !s.contains("p99")) return {};
      if (s["p50"].toDouble() > s["p99"].toDouble()) return {};
    }
    const QJsonArray per = o["per_request"].toArray();
    if (per.size() != n) return {};
    for (const auto& v : per) {
      const QJsonObject q = v.toObject();
      if (q["state"].toString() != "finished") return {};
      if (!(q["ttft_ms"].toDouble() > 0) || q["ttft_ms"].toDouble() > q["e2e_ms"].toDouble()) {
        return {};
      }
      if (q["generated_tokens"].toArray().isEmpty()) return {};
    }
    return o;
  }

 private slots:
  void initTestCase() {
    QVERIFY(home_.isValid());
    xdg_ = home_.path() + "/xdg";
    QVERIFY(QFile::exists(kModel));
  }

  void workload_round_trip() {
    const QString a = home_.path() + "/a.jsonl", b = home_.path() + "/b.jsonl",
                  c = home_.path() + "/c.jsonl";
    const QStringList common = {
        "--requests",       "6", "--rate", "50",
        "--max-new-tokens", "5", "--mix",  "qa=1,summarization=2,conversation=1"};
    CliRun r = emoe(QStringList{"workload", "--out", a, "--seed", "7"} + common);
    QVERIFY2(r.code == 0, r.err.constData());
    r = emoe(QStringList{"workload", "--out", b, "--seed", "7"} + common);
    QVERIFY2(r.code == 0, r.err.constData());
    r = emoe(QStringList{"workload", "--out", c, "--seed", "8"} + common);
    QVERIFY2(r.code == 0, r.err.constData());
    const QByteArray bytes = read_all(a);
    QVERIFY(!bytes.isEmpty());
    QCOMPARE(read_all(b), bytes);
    QVERIFY(read_all(c) != bytes);

    // Loads back identically: parsed and written again gives the same bytes.
    auto loaded = emoe::sched::load_workload_jsonl(a.toStdString());
    QVERIFY2(loaded.ok(), loaded.status().message().c_str());
    QCOMPARE(loaded->size(), size_t{6});
    QCOMPARE(QByteArray::fromStdString(emoe::sched::workload_to_jsonl(*loaded)), bytes);
    for (const auto& q : *loaded) {
      QVERIFY(q.task.has_value());
      QVERIFY(*q.task == emoe::sched::TaskType::QA ||
              *q.task == emoe::sched::TaskType::Summarization ||
              *q.task == emoe::sched::TaskType::Conversation);
      QVERIFY(q.max_new_tokens >= 1 && q.max_new_tokens <= 5);
    }

    // serve reads it: the same requests, in file order.
    const QJsonObject o = serve_ok({"--workload", a, "--max-sequences", "2"}, 6);
    QVERIFY(!o.isEmpty());
    const QJsonArray per = o["per_request"].toArray();
    for (int i = 0; i < per.size(); ++i) {
      const auto& q = (*loaded)[static_cast<size_t>(i)];
      QCOMPARE(per[i].toObject()["text"].toString(), QString::fromStdString(q.text));
      QVERIFY(per[i].toObject()["generated_tokens"].toArray().size() <= q.max_new_tokens);
    }
  }

  void workload_bad_options() {
    const QString out = home_.path() + "/bad.jsonl";
    expect_error({"workload", "--out", out, "--rate", "-2"}, "--rate");
    expect_error({"workload", "--out", out, "--mix", "qa=1,poetry=2"},
                 "--mix: unknown task 'poetry'");
    expect_error({"workload", "--out", out, "--mix", "qa=0"}, "--mix: the weight of 'qa'");
    expect_error({"workload", "--out", out, "--mix", "qa=-1"}, "--mix: the weight of 'qa'");
    expect_error({"workload", "--out", out, "--requests", "0"}, "--requests");
  }

  // The demo workload with 3 sequences for 8 requests: batches mix requests, and each request
  // still generates exactly what it generates alone.
  void demo_matches_generate() {
    // Arrivals about a millisecond apart, so requests overlap and some wait for a sequence.
    const QJsonObject o =
        serve_ok({"--demo-workload", "8", "--max-sequences", "3", "--rate", "1000"}, 8);
    QVERIFY(!o.isEmpty());
    int queued = 0;
    for (const auto& v : o["per_request"].toArray())
      queued += v.toObject()["queue_ms"].toDouble() > 0;
    QVERIFY(queued > 0);
    QCOMPARE(o["profile"].toObject()["source"].toString(), QString("defaults"));
    QVERIFY(o["slo_attainment"].toDouble() >= 0 && o["slo_attainment"].toDouble() <= 1);
    QVERIFY(o["throughput_tok_s"].toDouble() > 0);
    for (const auto& v : o["per_request"].toArray()) {
      const QJsonObject q = v.toObject();
      const CliRun g = emoe({"generate", "-m", kModel, "-p", q["text"].toString(), "-n",
                             QString::number(q["max_new_tokens"].toInt()), "--temp", "0", "--json",
                             "--no-db", "-t", "1"});
      QVERIFY2(g.code == 0, g.err.constData());
      QCOMPARE(ints(q["generated_tokens"].toArray()), ints(g.json()["generated_tokens"].toArray()));
      QCOMPARE(q["prompt_tokens"].toInt(), g.json()["prompt_tokens"].toArray().size());
    }
  }

  // Every policy serves the same workload to completion with the same per-request tokens.
  void schedulers_agree_on_tokens() {
    QList<QList<int>> first;
    for (const char* s : {"emoe", "fcfs", "sjf"}) {
      const QJsonObject o = serve_ok({"--demo-workload", "6", "--max-sequences", "2",
                                      "--max-new-tokens", "6", "--rate", "200", "--scheduler", s},
                                     6);
      QVERIFY2(!o.isEmpty(), s);
      QCOMPARE(o["scheduler"].toString(), QString(s));
      QList<QList<int>> tokens;
      for (const auto& v : o["per_request"].toArray()) {
        tokens.push_back(ints(v.toObject()["generated_tokens"].toArray()));
      }
      if (first.isEmpty()) {
        first = tokens;
      } else {
        QCOMPARE(tokens, first);
      }
    }
  }

  void bad_workload_file() {
    const QString path = home_.path() + "/broken.jsonl";
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(R"({"task": "qa", "text": "Who?", "arrival_ms": 0, "max_new_tokens": 4})"
            "\n"
            R"({"task": "qa", "arrival_ms": 1, "max_new_tokens": 4})"
            "\n");
    f.close();
    expect_error({"serve", "-m", kModel, "--workload", path, "--no-db"}, "broken.jsonl:2");
    expect_error({"serve", "-m", kModel, "--no-db"}, "--workload");
    expect_error({"serve", "-m", kModel, "--demo-workload", "2", "--scheduler", "lifo", "--no-db"},
                 "--scheduler");
  }

  void profile_then_serve() {
    CliRun r = emoe({"profile", "-m", kModel, "--no-db", "--json", "-t", "1", "--output-runs", "1",
                     "--max-new-tokens", "8"});
    QVERIFY2(r.code == 0, r.err.constData());
    QJsonObject p = r.json();
    QVERIFY2(p["per_token_ms"].toDouble() > 0, r.out.constData());
    QVERIFY(p["prefill_ms_per_token"].toDouble() > 0);
    QVERIFY(p["expert_load_ms"].toDouble() > 0);  // a MoE model: loads were timed
    QVERIFY(p["expert_bytes"].toDouble() > 0);
    const QJsonObject outs = p["mean_output_tokens"].toObject();
    QCOMPARE(outs.size(), 5);
    for (const auto& v : outs) QVERIFY(v.toDouble() >= 1 && v.toDouble() <= 8);
    QVERIFY(!p.contains("db"));

    // Stored, then used by serve (which stores its own run).
    const QString db = home_.path() + "/profile.db";
    r = emoe({"profile", "-m", kModel, "--db", db, "--json", "-t", "1", "--output-runs", "0"});
    QVERIFY2(r.code == 0, r.err.constData());
    p = r.json();
    const int profile_run = p["db"].toObject()["run_id"].toInt();
    QVERIFY(profile_run > 0);
    r = emoe({"serve", "-m", kModel, "--demo-workload", "3", "--max-new-tokens", "3", "--clock",
              "virtual", "--db", db, "--json", "-t", "1"});
    QVERIFY2(r.code == 0, r.err.constData());
    const QJsonObject s = r.json();
    QCOMPARE(s["profile"].toObject()["source"].toString(), QString("db run %1").arg(profile_run));
    QCOMPARE(s["profile"].toObject()["per_token_ms"].toDouble(), p["per_token_ms"].toDouble());
    const int serve_run = s["db"].toObject()["run_id"].toInt();
    QVERIFY(serve_run > profile_run);

    r = emoe({"db", "query", "runs", "--db", db});
    QVERIFY2(r.code == 0, r.err.constData());
    QStringList names;
    for (const auto& v : r.json()["runs"].toArray()) names << v.toObject()["name"].toString();
    QCOMPARE(names, (QStringList{"profile", "serve"}));
    r = emoe({"db", "query", "compare", "--runs", QString("%1,%2").arg(profile_run).arg(serve_run),
              "--db", db});
    QVERIFY2(r.code == 0, r.err.constData());
    QStringList metrics;
    for (const auto& v : r.json()["metrics"].toArray()) {
      metrics << v.toObject()["metric"].toString();
    }
    for (const char* m :
         {"slo_attainment", "throughput_tok_s", "ttft_p99_ms", "per_token_ms", "expert_load_ms"}) {
      QVERIFY2(metrics.contains(m), m);
    }
  }
};

QTEST_GUILESS_MAIN(TestCliServe)
#include "test_cli_serve.moc"
