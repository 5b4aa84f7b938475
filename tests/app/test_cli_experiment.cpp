// End-to-end: `emoe experiment CONFIG` on a fixture model runs a 2 budgets x 2 schedulers x 2
// rates matrix with a capacity study, stores it (an experiments row, a runs row per point, the
// requests), prints the JSON summary and writes report.html, report.pdf, summary.json,
// requests.csv and points.csv; the HTML's plots and the PDF's pages (read with an independent
// PDF reader) show the configured series. `emoe report` rebuilds the same summary from the
// database alone, and picks runs side by side. Bad configurations and workload files are
// refused with the file, line and field.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>
#include <set>
#include <string>

#include "db/experiment_store.h"
#include "db/schema.h"
#include "tests/report/report_test_support.h"
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

void write(const QString& path, const QByteArray& text) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
  f.write(text);
}

const char* kConfig =
    "{\n"
    "  \"name\": \"cli-e2e\",\n"
    "  \"workload\": {\"requests\": 8, \"seed\": 5, \"max_new_tokens_scale\": 0.05, \"slo_scale\": "
    "0.05},\n"
    "  \"matrix\": {\"budgets\": [\"100%\", \"60%\"], \"predictors\": [\"emoe-a\"], \"intervals\": "
    "[4],\n"
    "             \"schedulers\": [\"emoe\", \"fcfs\"], \"arrival_rates\": [50, 400]},\n"
    "  \"serving\": {\"max_sequences\": 3, \"clock\": \"virtual\", \"step_ms\": 1, \"token_ms\": "
    "0.2,\n"
    "              \"expert_load_ms\": 0.5},\n"
    "  \"profile_requests\": 4,\n"
    "  \"capacity\": {\"enabled\": true, \"prompt_tokens\": 16, \"batch\": 2, \"generate_tokens\": "
    "2,\n"
    "               \"max_batch_limit\": 64}\n"
    "}\n";

}  // namespace

class TestCliExperiment : public QObject {
  Q_OBJECT
  QTemporaryDir home_;

  CliRun emoe(const QStringList& args) { return run_cli(args, home_.path(), 300000); }

  void expect_refused(const QByteArray& config, const QStringList& needles) {
    const QString path = home_.filePath("bad.json");
    write(path, config);
    const CliRun r =
        emoe({"experiment", path, "-m", kModel, "--no-db", "--out", home_.filePath("bad-report")});
    QVERIFY2(r.code != 0, r.out.constData());
    for (const QString& n : needles) QVERIFY2(r.err.contains(n.toUtf8()), r.err.constData());
    QVERIFY2(!QFileInfo::exists(home_.filePath("bad-report")), "no report for a refused config");
  }

 private slots:
  void experiment_end_to_end() {
    const QString cfg = home_.filePath("exp.json");
    write(cfg, kConfig);
    const QString db = home_.filePath("h.db");
    const QString out = home_.filePath("report");
    const CliRun r =
        emoe({"experiment", cfg, "-m", kModel, "--db", db, "--out", out, "--json", "-t", "1"});
    QVERIFY2(r.code == 0, r.err.constData());
    const QJsonObject summary = r.json();
    const QJsonArray points = summary["points"].toArray();
    QCOMPARE(points.size(), 8);
    std::set<QString> labels;
    for (const auto& v : points) {
      const QJsonObject p = v.toObject();
      labels.insert(p["label"].toString());
      QCOMPARE(p["requests"].toInt(), 8);
      QCOMPARE(p["completed"].toInt() + p["rejected"].toInt(), 8);
      QVERIFY(p["run_id"].toInt() > 0);
      const double slo = p["slo_attainment"].toDouble();
      QVERIFY(slo >= 0 && slo <= 1);
      QVERIFY(p["peak_expert_bytes"].toDouble() <= p["expert_budget_bytes"].toDouble());
    }
    QCOMPARE(labels.size(), size_t{8});
    const QJsonArray capacity = summary["capacity"].toArray();
    QCOMPARE(capacity.size(), 2);
    const QJsonObject all = capacity[0].toObject(), emoe60 = capacity[1].toObject();
    QVERIFY(all["batch_run_ok"].toBool() && emoe60["batch_run_ok"].toBool());
    QVERIFY(emoe60["max_batch"].toInt() > all["max_batch"].toInt());
    QVERIFY(emoe60["max_prompt"].toInt() > all["max_prompt"].toInt());

    // The files, and summary.json agreeing with what was printed.
    for (const char* f :
         {"report.html", "report.pdf", "summary.json", "requests.csv", "points.csv"}) {
      QVERIFY2(QFileInfo(QDir(out).filePath(f)).size() > 0, f);
    }
    const QJsonObject file = QJsonDocument::fromJson(read_all(out + "/summary.json")).object();
    QCOMPARE(file["points"].toArray().size(), 8);
    for (int i = 0; i < 8; ++i) {
      const QJsonObject a = file["points"].toArray()[i].toObject();
      const QJsonObject b = points[i].toObject();
      QCOMPARE(a["label"].toString(), b["label"].toString());
      QCOMPARE(a["slo_attainment"].toDouble(), b["slo_attainment"].toDouble());
      QCOMPARE(a["per_request"].toArray().size(), 8);
    }
    // requests.csv: a header and one row per request of every point.
    QCOMPARE(read_all(out + "/requests.csv").count('\n'), 1 + 8 * 8);

    // The database holds the experiment, its 8 points and their requests.
    {
      auto store = emoe::db::open_store(db.toStdString());
      QVERIFY2(store.ok(), store.status().message().c_str());
      auto listed = emoe::db::list_experiments(**store);
      QVERIFY(listed.ok());
      QCOMPARE(listed->size(), size_t{1});
      QCOMPARE(QString::fromStdString(listed->at(0).status), QString("done"));
      QCOMPARE(listed->at(0).points, int64_t{8});
      QCOMPARE((*store)->query_int("SELECT COUNT(*) FROM experiment_requests").value(),
               int64_t{64});
      auto loaded = emoe::db::load_experiment(**store, listed->at(0).id);
      QVERIFY(loaded.ok());
      for (size_t i = 0; i < 8; ++i) {
        QCOMPARE(QString::fromStdString(loaded->points[i].point.label()),
                 points[static_cast<int>(i)].toObject()["label"].toString());
      }
    }

    // The HTML report's plots carry the configured series (scheduler and budget vary).
    const QByteArray html = read_all(out + "/report.html");
    for (const char* id : {"plot-latency_vs_rate", "plot-slo_vs_rate", "plot-memory_vs_accuracy",
                           "plot-capacity_batch", "plot-capacity_prompt"}) {
      QVERIFY2(html.contains(QByteArray("id=\"") + id + "\""), id);
    }
    const char* series[] = {"emoe, 100%", "fcfs, 100%", "emoe, 60%", "fcfs, 60%"};
    for (const char* s : series) QVERIFY2(html.contains(s), s);

    // The PDF parses, and its SLO page names the plot and every series.
    const report_test::ParsedPdf pdf =
        report_test::parse_pdf(read_all(out + "/report.pdf").toStdString());
    QVERIFY2(pdf.error.empty(), pdf.error.c_str());
    bool slo_page = false;
    for (const report_test::PdfPage& page : pdf.pages) {
      if (!report_test::page_shows(page, "SLO attainment vs arrival rate")) continue;
      slo_page = true;
      for (const char* s : series) QVERIFY2(report_test::page_shows(page, s), s);
    }
    QVERIFY(slo_page);

    // emoe report rebuilds the same summary from the database alone.
    const QString again = home_.filePath("again");
    CliRun rep = emoe({"report", "--db", db, "--out", again});
    QVERIFY2(rep.code == 0, rep.err.constData());
    QCOMPARE(read_all(again + "/summary.json"), read_all(out + "/summary.json"));

    // Two runs side by side, in the order given.
    const QString run_a = QString::number(points[6].toObject()["run_id"].toInt());
    const QString run_b = QString::number(points[1].toObject()["run_id"].toInt());
    const QString pair = home_.filePath("pair");
    rep = emoe({"report", run_a, run_b, "--db", db, "--out", pair, "--json"});
    QVERIFY2(rep.code == 0, rep.err.constData());
    const QJsonArray two = rep.json()["points"].toArray();
    QCOMPARE(two.size(), 2);
    QCOMPARE(two[0].toObject()["label"].toString(), points[6].toObject()["label"].toString());
    QCOMPARE(two[1].toObject()["label"].toString(), points[1].toObject()["label"].toString());

    rep = emoe({"report", "--list", "--db", db});
    QVERIFY2(rep.code == 0 && rep.out.contains("cli-e2e"), rep.out.constData());
    rep = emoe({"report", "999999", "--db", db, "--out", home_.filePath("none")});
    QVERIFY(rep.code != 0);
    QVERIFY2(rep.err.contains("999999"), rep.err.constData());
  }

  void bad_configurations_name_line_and_field() {
    expect_refused("{\n  \"name\": \"x\",\n  \"matrx\": {}\n}\n", {"bad.json:3", "matrx"});
    expect_refused("{\n  \"matrix\": {\n    \"arrival_rates\": [-2]\n  }\n}\n",
                   {"bad.json:3", "matrix.arrival_rates[0]"});
    expect_refused("{\n  \"workload\": {\"requests\": 4,}\n}\n", {"bad.json:2", "malformed JSON"});
    expect_refused("{\n  \"serving\": {\n    \"clock\": \"virtal\"\n  }\n}\n",
                   {"bad.json:3", "serving.clock", "virtual"});
    // A workload file with a line missing a field: the file, its line and the field.
    const QString jsonl = home_.filePath("w.jsonl");
    write(jsonl,
          "{\"text\": \"hi\", \"arrival_ms\": 0, \"max_new_tokens\": 2}\n"
          "{\"text\": \"there\", \"arrival_ms\": 5}\n");
    expect_refused(
        "{\"workload\": {\"file\": \"w.jsonl\"}, \"matrix\": {\"arrival_rates\": [0]},"
        " \"profile_requests\": 0}\n",
        {"w.jsonl:2", "max_new_tokens"});
    const CliRun missing =
        emoe({"experiment", home_.filePath("nope.json"), "-m", kModel, "--no-db"});
    QVERIFY(missing.code != 0);
    QVERIFY2(missing.err.contains("nope.json"), missing.err.constData());
  }
};

QTEST_GUILESS_MAIN(TestCliExperiment)
#include "test_cli_experiment.moc"
