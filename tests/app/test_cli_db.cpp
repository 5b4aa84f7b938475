// End-to-end tests of the CLI's --db recording: what `emoe generate --db` stores is read back
// through db::RoutingQueries and compared with what `emoe trace --json` reports for the same
// prompt and settings (an independent path through the engine: its own observer, no database).
// Every run gets XDG_DATA_HOME in a temporary directory, so nothing is written to the user's
// real history.
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <map>
#include <vector>

#include "db/database.h"
#include "db/routing_queries.h"
#include "tests/support/cli_runner.h"

namespace {

using Run = emoe::test::CliRun;

QString g_xdg;  // XDG_DATA_HOME of every run

Run run_emoe(const QStringList& args, int timeout_ms = 120000) {
  return emoe::test::run_cli(args, g_xdg, timeout_ms);
}

QString data(const char* rel) { return QStringLiteral(EMOE_TEST_DATA_DIR "/") + rel; }
const char* kModel = "tiny-mixtral-q/model.gguf";
const char* kPrompt = "The quick brown fox";

QJsonObject json_of(const Run& r) { return r.json(); }

std::vector<int32_t> ints(const QJsonValue& v) {
  std::vector<int32_t> out;
  for (const QJsonValue& e : v.toArray()) out.push_back(e.toInt());
  return out;
}
std::vector<double> doubles(const QJsonValue& v) {
  std::vector<double> out;
  for (const QJsonValue& e : v.toArray()) out.push_back(e.toDouble());
  return out;
}

bool close_to(const std::vector<float>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(double(got[i]) - want[i]) > 1e-6) return false;
  }
  return true;
}

// One scalar of the database, for checks the query API has no call for.
int64_t query_int(const QString& db_path, const std::string& sql) {
  emoe::db::OpenOptions o;
  o.read_only = true;
  o.wal = false;
  auto db = emoe::db::Database::open(db_path.toStdString(), o);
  if (!db.ok()) return -1;
  auto v = (*db)->query_int(sql);
  return v.ok() ? *v : -1;
}
std::string query_text(const QString& db_path, const std::string& sql) {
  emoe::db::OpenOptions o;
  o.read_only = true;
  o.wal = false;
  auto db = emoe::db::Database::open(db_path.toStdString(), o);
  if (!db.ok()) return "<" + db.status().message() + ">";
  auto v = (*db)->query_text(sql);
  return v.ok() ? *v : "<" + v.status().message() + ">";
}

QByteArray read_all(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

}  // namespace

class TestCliDb : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir home_;

  // generate with --db, then trace --no-db with the same settings; the stored rows must be the
  // trace's, position by position and layer by layer.
  void check_round_trip(const QString& db, const QStringList& settings, const QString& task,
                        int64_t* session_out) {
    const QStringList common =
        QStringList{"-m", data(kModel), "-p", kPrompt, "--threads", "1"} + settings;
    QStringList gen_args = QStringList{"generate"} + common +
                           QStringList{"-n", "8", "--ignore-eos", "--json", "--db", db};
    if (!task.isEmpty()) gen_args += QStringList{"--task", task};
    Run g = run_emoe(gen_args);
    QVERIFY2(g.code == 0, g.err.constData());
    const QJsonObject go = json_of(g);
    const QJsonObject dbo = go["db"].toObject();
    QVERIFY2(!dbo.isEmpty(), g.out.constData());
    QCOMPARE(QFileInfo(dbo["path"].toString()).canonicalFilePath(),
             QFileInfo(db).canonicalFilePath());
    const QJsonArray requests = dbo["requests"].toArray();
    QCOMPARE(requests.size(), 1);
    const int64_t request = requests[0].toInteger();
    const int64_t session = dbo["session_id"].toInteger();
    *session_out = session;

    // 8 generated tokens: 7 of them were fed back, which is what trace -n 7 runs.
    Run t = run_emoe(QStringList{"trace"} + common + QStringList{"-n", "7", "--json", "--no-db"});
    QVERIFY2(t.code == 0, t.err.constData());
    const QJsonObject to = json_of(t);
    QVERIFY(!to.contains("db"));
    const std::vector<int32_t> generated = ints(go["generated_tokens"]);
    const std::vector<int32_t> fed = ints(to["generated_tokens"]);
    QCOMPARE(fed.size(), size_t{7});
    QVERIFY(std::equal(fed.begin(), fed.end(), generated.begin()));

    auto q = emoe::db::RoutingQueries::open(db.toStdString());
    QVERIFY2(q.ok(), q.status().message().c_str());
    auto steps = (*q)->request_trace(request);
    QVERIFY2(steps.ok(), steps.status().message().c_str());
    std::map<std::pair<int32_t, int32_t>, const emoe::db::TraceStep*> by_key;
    for (const auto& s : *steps) by_key[{s.pos, s.layer}] = &s;
    QCOMPARE(by_key.size(), steps->size());

    std::map<std::pair<int32_t, int32_t>, int64_t> want_used, want_router;  // (layer, expert)
    size_t n_steps = 0;
    int64_t rows = 0, substituted = 0;
    const QJsonArray positions = to["positions"].toArray();
    QCOMPARE(positions.size(), static_cast<qsizetype>(ints(to["prompt_tokens"]).size() + 7));
    for (const QJsonValue& pv : positions) {
      const QJsonObject po = pv.toObject();
      const int32_t pos = po["pos"].toInt();
      const int32_t phase = po["phase"].toString() == "prefill" ? 0 : 1;
      for (const QJsonValue& lv : po["layers"].toArray()) {
        const QJsonObject lo = lv.toObject();
        const int32_t layer = lo["layer"].toInt();
        const QString where = QString("pos %1 layer %2").arg(pos).arg(layer);
        auto it = by_key.find({pos, layer});
        QVERIFY2(it != by_key.end(), qPrintable("missing in the database: " + where));
        const emoe::db::TraceStep& s = *it->second;
        ++n_steps;
        QCOMPARE(s.token_id, po["token"].toInt());
        QCOMPARE(s.phase, phase);
        const std::vector<int32_t> topk = ints(lo["topk"]), used = ints(lo["used"]);
        QVERIFY2(s.router_experts == topk, qPrintable(where));
        QVERIFY2(close_to(s.router_weights, doubles(lo["weights"])), qPrintable(where));
        QVERIFY2(s.used_experts == used, qPrintable(where));
        QVERIFY2(close_to(s.used_weights, doubles(lo["used_weights"])), qPrintable(where));
        rows += static_cast<int64_t>(std::max(topk.size(), used.size()));
        if (used != topk) ++substituted;
        for (int32_t e : topk) ++want_router[{layer, e}];
        for (int32_t e : used) ++want_used[{layer, e}];
      }
    }
    QCOMPARE(n_steps, steps->size());
    QCOMPARE(dbo["routing_rows"].toInteger(), static_cast<qint64>(rows));
    if (settings.contains("fallback")) {
      QVERIFY2(substituted > 0, "fallback at 50% should substitute some experts");
    } else {
      QCOMPARE(substituted, int64_t{0});
    }

    emoe::db::RoutingFilter f;
    f.session_id = session;
    for (const auto choice : {emoe::db::ExpertChoice::Used, emoe::db::ExpertChoice::Router}) {
      auto counts = (*q)->expert_counts(f, choice);
      QVERIFY2(counts.ok(), counts.status().message().c_str());
      const auto& want = choice == emoe::db::ExpertChoice::Used ? want_used : want_router;
      QCOMPARE(counts->size(), want.size());
      for (const auto& c : *counts) {
        auto w = want.find({c.layer, c.expert});
        QVERIFY(w != want.end());
        QCOMPARE(c.count, w->second);
      }
    }

    // The request's lifecycle and the session's settings.
    const std::string rq = " FROM requests WHERE id=" + std::to_string(request);
    QCOMPARE(query_text(db, "SELECT task" + rq),
             task.isEmpty() ? std::string("cli") : task.toStdString());
    QCOMPARE(query_text(db, "SELECT text" + rq), std::string(kPrompt));
    QCOMPARE(query_int(db, "SELECT prompt_tokens" + rq),
             static_cast<int64_t>(ints(go["prompt_tokens"]).size()));
    QCOMPARE(query_int(db, "SELECT generated_tokens" + rq), int64_t{8});
    QCOMPARE(
        query_int(db, "SELECT arrival_us <= first_token_us AND first_token_us <= finish_us" + rq),
        int64_t{1});
    const QJsonObject config =
        QJsonDocument::fromJson(
            QByteArray::fromStdString(
                query_text(db, "SELECT config FROM sessions WHERE id=" + std::to_string(session))))
            .object();
    QCOMPARE(config["command"].toString(), QStringLiteral("generate"));
    QCOMPARE(config["threads"].toInt(), 1);
    const QJsonObject paging = go["paging"].toObject();
    QCOMPARE(config["routing"].toString(), paging["routing"].toString());
    if (settings.contains("--budget")) {
      QCOMPARE(config["budget_bytes"].toDouble(), paging["budget_bytes"].toDouble());
      QCOMPARE(config["policy"].toString(), QStringLiteral("lru"));
    } else {
      QVERIFY(config["budget_bytes"].isNull());
    }
  }

 private slots:
  void initTestCase() {
    QVERIFY(home_.isValid());
    g_xdg = home_.filePath("xdg");
  }

  void generate_round_trip_matches_trace() {
    QTemporaryDir dir;
    const QString db = dir.filePath("history.db");
    int64_t s1 = 0, s2 = 0;
    check_round_trip(db, {}, {}, &s1);
    if (QTest::currentTestFailed()) return;
    check_round_trip(db, {"--budget", "50%", "--routing", "fallback"}, "qa", &s2);
    if (QTest::currentTestFailed()) return;
    QVERIFY(s1 != s2);
    QCOMPARE(query_int(db, "SELECT count(*) FROM sessions"), int64_t{2});
    // Both sessions ran the same file: one model row, with the hyperparameters.
    QCOMPARE(query_int(db, "SELECT count(*) FROM models"), int64_t{1});
    const QJsonObject hp = QJsonDocument::fromJson(QByteArray::fromStdString(query_text(
                                                       db, "SELECT hparams FROM models")))
                               .object();
    QCOMPARE(hp["n_layer"].toInt(), 4);
    QCOMPARE(hp["n_expert"].toInt(), 8);
    QCOMPARE(hp["n_expert_used"].toInt(), 2);
    QCOMPARE(hp["n_embd"].toInt(), 128);
    QCOMPARE(query_text(db, "SELECT arch FROM models"), std::string("llama"));
    QCOMPARE(query_int(db, "SELECT size_bytes FROM models"),
             static_cast<int64_t>(QFileInfo(data(kModel)).size()));
  }

  void other_commands_record() {
    QTemporaryDir dir;
    const QString db = dir.filePath("h.db");
    const QStringList m = {"-m", data(kModel), "--threads", "1", "--db", db};
    Run t = run_emoe(QStringList{"trace", "-p", "Hello", "-n", "2", "--json"} + m);
    QVERIFY2(t.code == 0, t.err.constData());
    const QJsonObject to = json_of(t);
    // 4 MoE layers x top-2 per traced position.
    QCOMPARE(to["db"].toObject()["routing_rows"].toInteger(),
             static_cast<qint64>(to["positions"].toArray().size() * 4 * 2));

    Run l = run_emoe(QStringList{"logits", "-p", "Hello", "--out", dir.filePath("l.bin")} + m);
    QVERIFY2(l.code == 0, l.err.constData());
    const QJsonObject lo = json_of(l);
    QCOMPARE(lo["db"].toObject()["routing_rows"].toInteger(),
             static_cast<qint64>(lo["tokens"].toArray().size() * 4 * 2));

    QFile text(dir.filePath("t.txt"));
    QVERIFY(text.open(QIODevice::WriteOnly));
    for (int i = 0; i < 30; ++i) text.write("The quick brown fox jumps over the lazy dog. ");
    text.close();
    Run p = run_emoe(QStringList{"perplexity", "-f", text.fileName(), "--ctx", "64"} + m);
    QVERIFY2(p.code == 0, p.err.constData());
    QVERIFY2(p.err.contains("recorded session 3 in "), p.err.constData());
    // One request per chunk, each with every position of the chunk routed.
    const int64_t chunks = query_int(db, "SELECT count(*) FROM requests WHERE session_id=3");
    QVERIFY(chunks >= 2);
    QCOMPARE(query_int(db,
                       "SELECT count(*) FROM routing r JOIN requests q ON q.id=r.request_id "
                       "WHERE q.session_id=3"),
             chunks * 64 * 4 * 2);
    QCOMPARE(query_int(db,
                       "SELECT count(*) FROM requests WHERE session_id=3 AND "
                       "prompt_tokens=64 AND finish_us IS NOT NULL"),
             chunks);

    Run b = run_emoe(QStringList{"bench", "-m", data(kModel), "--threads", "1", "--prompt-tokens",
                                 "8", "--decode-tokens", "4", "-r", "1", "--bandwidth-mib", "16",
                                 "--json", "--record", "--db", db});
    QVERIFY2(b.code == 0, b.err.constData());
    const QJsonObject bo = json_of(b);
    QVERIFY(bo["recording"].toObject()["recorded_decode_tok_s"].toDouble() > 0);
    QCOMPARE(bo["db"].toObject()["routing_rows"].toInteger(), qint64{4 * 4 * 2});
    // Without --record, bench leaves the history alone.
    const int64_t sessions = query_int(db, "SELECT count(*) FROM sessions");
    Run b2 = run_emoe({"bench", "-m", data(kModel), "--threads", "1", "--prompt-tokens", "8",
                       "--decode-tokens", "4", "-r", "1", "--bandwidth-mib", "16", "--json", "--db",
                       db});
    QVERIFY2(b2.code == 0, b2.err.constData());
    QVERIFY(!json_of(b2).contains("db"));
    QCOMPARE(query_int(db, "SELECT count(*) FROM sessions"), sessions);
  }

  void default_location_and_no_db() {
    QTemporaryDir xdg;
    const QString saved = g_xdg;
    g_xdg = xdg.filePath("data");  // does not exist yet: the CLI creates it
    const QString history = g_xdg + "/emoe-studio/history.db";
    Run off = run_emoe({"generate", "-m", data(kModel), "-p", "Hi", "-n", "2", "--no-db"});
    QVERIFY2(off.code == 0, off.err.constData());
    QVERIFY(!QFile::exists(history));
    QVERIFY(!off.err.contains("recorded session"));
    Run on = run_emoe({"generate", "-m", data(kModel), "-p", "Hi", "-n", "2"});
    g_xdg = saved;
    QVERIFY2(on.code == 0, on.err.constData());
    QVERIFY(QFile::exists(history));
    QVERIFY2(on.err.contains("recorded session 1 in " + history.toUtf8() + " ("),
             on.err.constData());
    QCOMPARE(query_int(history, "SELECT count(*) FROM requests"), int64_t{1});
  }

  void database_errors_fail_before_work() {
    QTemporaryDir dir;
    const QStringList gen = {"generate", "-m", data(kModel), "-p", "Hi", "-n", "2"};

    // A file that is not SQLite: refused, and left byte for byte as it was.
    const QString text = dir.filePath("notes.db");
    QFile f(text);
    QVERIFY(f.open(QIODevice::WriteOnly));
    for (int i = 0; i < 100; ++i) f.write("these are my notes, not a database\n");
    f.close();
    const QByteArray before = read_all(text);
    Run r = run_emoe(gen + QStringList{"--db", text});
    QCOMPARE(r.code, 1);
    QVERIFY(r.out.isEmpty());  // nothing was generated
    QVERIFY2(r.err.contains("cannot record to") && r.err.contains("not a readable SQLite") &&
                 !r.err.trimmed().contains('\n'),
             r.err.constData());
    QCOMPARE(read_all(text), before);
    QVERIFY(!QFile::exists(text + "-wal") && !QFile::exists(text + "-journal"));

    // A directory that cannot be created (a path component is a regular file).
    const QString inside_file = text + "/sub/h.db";
    Run d = run_emoe(gen + QStringList{"--db", inside_file});
    QCOMPARE(d.code, 1);
    QVERIFY(d.out.isEmpty());
    QVERIFY2(d.err.contains("cannot create the directory") && !d.err.trimmed().contains('\n'),
             d.err.constData());
    QCOMPARE(read_all(text), before);

    // A database from a newer program.
    const QString newer = dir.filePath("newer.db");
    {
      auto db = emoe::db::Database::open(newer.toStdString());
      QVERIFY(db.ok());
      QVERIFY((*db)->exec("CREATE TABLE x(a); PRAGMA user_version=999").is_ok());
    }
    Run n = run_emoe(gen + QStringList{"--db", newer});
    QCOMPARE(n.code, 1);
    QVERIFY(n.out.isEmpty());
    QVERIFY2(n.err.contains("newer") && !n.err.trimmed().contains('\n'), n.err.constData());

    Run both = run_emoe(gen + QStringList{"--db", dir.filePath("x.db"), "--no-db"});
    QCOMPARE(both.code, 1);
    QVERIFY(!QFile::exists(dir.filePath("x.db")));
  }
};

QTEST_GUILESS_MAIN(TestCliDb)
#include "test_cli_db.moc"
