// Migrations: a version-1 store made from a copy of the v1 DDL (kept here as data, so a later
// edit of schema.cpp cannot silently change what "version 1" means) with rows in every table
// is migrated to version 2 by open_store: every row is kept, the new columns read NULL for old
// rows and are writable, the new tables and indexes exist and work through the public API. An
// empty file (version 0) migrates to 2. A migration step that fails leaves the file at its old
// version with none of the step applied, and read-only openers refuse an old file untouched.
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <map>
#include <set>
#include <string>

#include "db/database.h"
#include "db/model_profiles.h"
#include "db/routing_queries.h"
#include "db/schema.h"
#include "db/store_summary.h"

using namespace emoe;

namespace {

// Schema version 1, verbatim from the first release of db/schema.cpp.
const char* const kV1Ddl =
    "CREATE TABLE models (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  path TEXT NOT NULL,\n"
    "  sha256 TEXT,\n"
    "  size_bytes INTEGER,\n"
    "  arch TEXT,\n"
    "  hparams TEXT\n"
    ");\n"
    "CREATE TABLE sessions (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  model_id INTEGER REFERENCES models(id),\n"
    "  started_at INTEGER NOT NULL,\n"
    "  config TEXT\n"
    ");\n"
    "CREATE TABLE requests (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id),\n"
    "  task TEXT,\n"
    "  text TEXT,\n"
    "  slo_ttft_ms REAL,\n"
    "  slo_e2e_ms REAL,\n"
    "  arrival_us INTEGER,\n"
    "  first_token_us INTEGER,\n"
    "  finish_us INTEGER,\n"
    "  prompt_tokens INTEGER,\n"
    "  generated_tokens INTEGER\n"
    ");\n"
    "CREATE TABLE tokens (\n"
    "  request_id INTEGER NOT NULL REFERENCES requests(id),\n"
    "  pos INTEGER NOT NULL,\n"
    "  token_id INTEGER NOT NULL,\n"
    "  phase INTEGER NOT NULL,\n"
    "  PRIMARY KEY (request_id, pos)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE routing (\n"
    "  request_id INTEGER NOT NULL REFERENCES requests(id),\n"
    "  pos INTEGER NOT NULL,\n"
    "  layer INTEGER NOT NULL,\n"
    "  rank INTEGER NOT NULL,\n"
    "  router_expert INTEGER,\n"
    "  router_weight REAL,\n"
    "  used_expert INTEGER,\n"
    "  used_weight REAL,\n"
    "  PRIMARY KEY (request_id, pos, layer, rank)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX routing_request_layer ON routing(request_id, layer);\n"
    "CREATE INDEX routing_layer_used ON routing(layer, used_expert);\n"
    "CREATE TABLE expert_events (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id),\n"
    "  time_us INTEGER NOT NULL,\n"
    "  kind INTEGER NOT NULL,\n"
    "  layer INTEGER NOT NULL,\n"
    "  expert INTEGER NOT NULL,\n"
    "  bytes INTEGER,\n"
    "  micros REAL\n"
    ");\n"
    "CREATE INDEX expert_events_session_time ON expert_events(session_id, time_us);\n"
    "CREATE TABLE memory_samples (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id),\n"
    "  time_us INTEGER NOT NULL,\n"
    "  dense INTEGER,\n"
    "  experts INTEGER,\n"
    "  budget INTEGER,\n"
    "  kv INTEGER,\n"
    "  scratch INTEGER\n"
    ");\n"
    "CREATE TABLE runs (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  config TEXT,\n"
    "  metrics TEXT\n"
    ");\n";

// Rows in every v1 table: 2 requests x 3 positions x 2 layers x 2 ranks of routing.
const char* const kV1Rows =
    "INSERT INTO models VALUES (1, '/m/old.gguf', 'abc', 4096, 'llama', '{\"n_layer\":2}');"
    "INSERT INTO sessions VALUES (1, 1, 111, '{\"p\":40}');"
    "INSERT INTO requests VALUES (1, 1, 'qa', 'why?', 100.0, NULL, 10, 20, 30, 3, 0);"
    "INSERT INTO requests VALUES (2, 1, NULL, 'hi', NULL, 5000.0, 11, 21, 31, 3, 0);"
    "INSERT INTO tokens VALUES (1,0,5,0),(1,1,6,0),(1,2,7,1),(2,0,8,0),(2,1,9,0),(2,2,10,1);"
    "INSERT INTO routing VALUES"
    " (1,0,0,0,1,0.6,1,0.6),(1,0,0,1,2,0.4,2,0.4),(1,0,1,0,3,0.7,3,0.7),(1,0,1,1,0,0.3,0,0.3),"
    " (1,1,0,0,1,0.6,1,0.6),(1,1,0,1,3,0.4,0,0.4),(1,1,1,0,2,0.5,2,0.5),(1,1,1,1,1,0.5,1,0.5),"
    " (1,2,0,0,0,0.9,0,0.9),(1,2,0,1,1,0.1,NULL,NULL),(1,2,1,0,3,0.8,3,0.8),"
    " (1,2,1,1,2,0.2,2,0.2),"
    " (2,0,0,0,2,0.6,2,0.6),(2,0,0,1,1,0.4,1,0.4),(2,0,1,0,0,0.7,0,0.7),(2,0,1,1,3,0.3,3,0.3),"
    " (2,1,0,0,2,0.6,2,0.6),(2,1,0,1,0,0.4,0,0.4),(2,1,1,0,1,0.5,1,0.5),(2,1,1,1,2,0.5,2,0.5),"
    " (2,2,0,0,3,0.9,3,0.9),(2,2,0,1,2,0.1,2,0.1),(2,2,1,0,0,0.8,0,0.8),(2,2,1,1,1,0.2,1,0.2);"
    "INSERT INTO expert_events VALUES (1,1,1000,0,0,1,4096,0),(2,1,1500,1,0,1,4096,12.5),"
    " (3,1,1600,3,0,1,NULL,NULL),(4,1,1700,4,1,2,NULL,3.0),(5,1,2000,2,0,1,4096,NULL);"
    "INSERT INTO memory_samples VALUES (1,1,1000,10,20,30,40,50),(2,1,2000,11,21,31,41,51);"
    "INSERT INTO runs VALUES (1, 'baseline', '{\"k\":2}', '{\"ttft_ms\":12}');";

bool make_v1(const std::string& path) {
  db::OpenOptions o;
  o.wal = false;  // as an old file might be: rollback journal
  auto db = db::Database::open(path, o);
  if (!db.ok()) return false;
  return (*db)->exec(kV1Ddl).is_ok() && (*db)->exec(kV1Rows).is_ok() &&
         (*db)->exec("PRAGMA user_version=1").is_ok();
}

QByteArray read_all(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.readAll();
}

std::set<std::string> names(db::Database& db, const char* type) {
  std::set<std::string> out;
  auto st = db.prepare("SELECT name FROM sqlite_master WHERE type = ?1");
  if (!st.ok() || !st->bind_text(1, type).is_ok()) return out;
  while (true) {
    auto r = st->step();
    if (!r.ok() || !*r) break;
    out.insert(st->column_text(0));
  }
  return out;
}

std::set<std::string> columns(db::Database& db, const std::string& table) {
  std::set<std::string> out;
  auto st = db.prepare("SELECT name FROM pragma_table_info(?1)");
  if (!st.ok() || !st->bind_text(1, table).is_ok()) return out;
  while (true) {
    auto r = st->step();
    if (!r.ok() || !*r) break;
    out.insert(st->column_text(0));
  }
  return out;
}

// A table's full content as text, one row per line, for before/after comparisons.
std::string dump(db::Database& db, const std::string& table, const std::string& cols) {
  auto st = db.prepare("SELECT " + cols + " FROM " + table + " ORDER BY 1, 2, 3, 4");
  if (!st.ok()) return "error: " + st.status().message();
  std::string out;
  while (true) {
    auto r = st->step();
    if (!r.ok()) return "error: " + r.status().message();
    if (!*r) break;
    out += st->column_text(0) + "\n";
  }
  return out;
}

// Columns of version 1, concatenated; quote() keeps NULL distinct from ''.
const std::pair<const char*, const char*> kV1Columns[] = {
    {"models",
     "quote(id)||','||quote(path)||','||quote(sha256)||','||quote(size_bytes)||','||"
     "quote(arch)||','||quote(hparams), 1, 1, 1"},
    {"sessions",
     "quote(id)||','||quote(model_id)||','||quote(started_at)||','||quote(config),"
     " 1, 1, 1"},
    {"requests",
     "quote(id)||','||quote(session_id)||','||quote(task)||','||quote(text)||','||"
     "quote(slo_ttft_ms)||','||quote(slo_e2e_ms)||','||quote(arrival_us)||','||"
     "quote(first_token_us)||','||quote(finish_us)||','||quote(prompt_tokens)||','||"
     "quote(generated_tokens), 1, 1, 1"},
    {"tokens",
     "quote(request_id)||','||quote(pos)||','||quote(token_id)||','||quote(phase),"
     " request_id, pos, 1"},
    {"routing",
     "quote(request_id)||','||quote(pos)||','||quote(layer)||','||quote(rank)||','||"
     "quote(router_expert)||','||quote(router_weight)||','||quote(used_expert)||','||"
     "quote(used_weight), request_id, pos, layer*10+rank"},
    {"expert_events",
     "quote(id)||','||quote(session_id)||','||quote(time_us)||','||quote(kind)"
     "||','||quote(layer)||','||quote(expert)||','||quote(bytes)||','||"
     "quote(micros), id, 1, 1"},
    {"memory_samples",
     "quote(id)||','||quote(session_id)||','||quote(time_us)||','||quote(dense)"
     "||','||quote(experts)||','||quote(budget)||','||quote(kv)||','||"
     "quote(scratch), id, 1, 1"},
    {"runs", "quote(id)||','||quote(name)||','||quote(config)||','||quote(metrics), id, 1, 1"},
};

}  // namespace

class TestMigration : public QObject {
  Q_OBJECT

 private slots:
  void v1_store_migrates_to_current_with_rows_kept() {
    QTemporaryDir dir;
    const QString qpath = dir.filePath("v1.db");
    const std::string path = qpath.toStdString();
    QVERIFY(make_v1(path));
    std::map<std::string, std::string> before;
    {
      db::OpenOptions o;
      o.wal = false;
      auto db = db::Database::open(path, o);
      QVERIFY(db.ok());
      QCOMPARE((*db)->query_int("PRAGMA user_version").value(), int64_t{1});
      for (const auto& [table, cols] : kV1Columns) {
        before[table] = dump(**db, table, cols);
        QVERIFY2(!before[table].empty() && before[table].rfind("error", 0) != 0, table);
      }
      QCOMPARE(names(**db, "table").count("sensitivity_profiles"), size_t{0});
    }

    // Read-only openers refuse an old file and leave it as it is; the summary reports it.
    const QByteArray v1_bytes = read_all(qpath);
    auto ro = db::RoutingQueries::open(path);
    QVERIFY(!ro.ok());
    QCOMPARE(ro.status().code(), StatusCode::Unsupported);
    QVERIFY2(QString::fromStdString(ro.status().message()).contains("schema version 1"),
             ro.status().message().c_str());
    auto summary = db::summarize_store(path);
    QVERIFY2(summary.ok(), summary.status().message().c_str());
    QCOMPARE(summary->schema_version, int64_t{1});
    QVERIFY(summary->needs_migration);
    QCOMPARE(summary->tables.size(), size_t{13});
    QCOMPARE(summary->tables[4].table, std::string("routing"));
    QCOMPARE(summary->tables[4].rows, int64_t{24});
    QVERIFY(!summary->tables[8].present);  // sensitivity_profiles is new in v2
    QCOMPARE(summary->models.size(), size_t{1});
    QCOMPARE(summary->models[0].sessions, int64_t{1});
    QCOMPARE(read_all(qpath), v1_bytes);

    {
      auto db = db::open_store(path);
      QVERIFY2(db.ok(), db.status().message().c_str());
      QCOMPARE((*db)->query_int("PRAGMA user_version").value(), db::kSchemaVersion);
      QCOMPARE(QString::fromStdString((*db)->query_text("PRAGMA journal_mode").value()),
               QString("wal"));
      for (const auto& [table, cols] : kV1Columns) {
        QCOMPARE(QString::fromStdString(dump(**db, table, cols)),
                 QString::fromStdString(before[table]));
      }
      // New columns: present, NULL for old rows, writable.
      QVERIFY(columns(**db, "tokens").count("time_us") == 1);
      QVERIFY(columns(**db, "runs").count("session_id") == 1);
      QVERIFY(columns(**db, "runs").count("created_at_us") == 1);
      QCOMPARE((*db)->query_int("SELECT count(*) FROM tokens WHERE time_us IS NULL").value(),
               int64_t{6});
      QCOMPARE((*db)
                   ->query_int("SELECT count(*) FROM runs WHERE session_id IS NULL AND "
                               "created_at_us IS NULL")
                   .value(),
               int64_t{1});
      QVERIFY((*db)->exec("UPDATE tokens SET time_us = 500 + pos WHERE request_id = 1").is_ok());
      QVERIFY((*db)->exec("INSERT INTO tokens VALUES (2, 3, 11, 1, 900)").is_ok());
      QVERIFY((*db)->exec("INSERT INTO routing VALUES (2,3,0,0,1,1.0,1,1.0)").is_ok());
      QVERIFY(
          (*db)->exec("UPDATE runs SET session_id = 1, created_at_us = 77 WHERE id = 1").is_ok());
      const std::set<std::string> indexes = names(**db, "index");
      for (const char* ix :
           {"tokens_time", "requests_session_task", "expert_events_session_kind",
            "memory_samples_session_time", "runs_session", "expert_events_session_time"}) {
        QVERIFY2(indexes.count(ix) == 1, ix);
      }
      // v2 drops v1's secondary routing indexes (they capped the writer's rate).
      for (const char* ix : {"routing_request_layer", "routing_layer_used"}) {
        QVERIFY2(indexes.count(ix) == 0, ix);
      }
      // New tables through their API.
      db::SensitivityProfile p;
      p.model_id = 1;
      p.task = "qa";
      p.measured_at_us = 5;
      p.metric = "top1_agreement";
      p.exact_score = 1.0;
      p.fallback_score = 0.5;
      p.sensitivity = 0.5;
      QVERIFY2(db::put_sensitivity(**db, p).is_ok(), "put_sensitivity");
      auto back = db::get_sensitivity(**db, 1, "qa");
      QVERIFY(back.ok() && *back == p);
      db::PredictorState s{1, 9, 3, 40, "{\"history\":[1,2]}"};
      QVERIFY(db::save_predictor_state(**db, s).is_ok());
      QVERIFY(db::load_predictor_state(**db, 1).value() == s);
    }
    // The migrated store works with the query API, old rows and new rows together.
    auto q = db::RoutingQueries::open(path);
    QVERIFY2(q.ok(), q.status().message().c_str());
    auto counts = q.value()->expert_counts({});
    QVERIFY(counts.ok());
    int64_t total = 0;
    for (const auto& c : *counts) total += c.count;
    QCOMPARE(total, int64_t{24});  // 25 rows, one with no used expert
    // Time filter [501, 901): request 1 positions 1, 2 (times 501, 502) and request 2 position 3
    // (900); request 2's old positions have no time and never pass.
    db::RoutingFilter f;
    f.from_us = 501;
    f.to_us = 901;
    auto timed = q.value()->expert_counts(f);
    QVERIFY(timed.ok());
    const std::vector<db::ExpertCount> want = {
        {0, 0, 2}, {0, 1, 2}, {1, 1, 1}, {1, 2, 2}, {1, 3, 1}};
    QVERIFY(*timed == want);
    auto runs = q.value()->list_runs();
    QVERIFY(runs.ok() && runs->size() == 1);
    QCOMPARE((*runs)[0].session_id, std::optional<int64_t>(1));
    QCOMPARE((*runs)[0].created_at_us, std::optional<int64_t>(77));
  }

  void empty_file_migrates_to_current() {
    QTemporaryDir dir;
    const QString qpath = dir.filePath("empty.db");
    {
      QFile f(qpath);
      QVERIFY(f.open(QIODevice::WriteOnly));
    }
    QCOMPARE(QFileInfo(qpath).size(), qint64{0});
    auto db = db::open_store(qpath.toStdString());
    QVERIFY2(db.ok(), db.status().message().c_str());
    QCOMPARE((*db)->query_int("PRAGMA user_version").value(), db::kSchemaVersion);
    const std::set<std::string> tables = names(**db, "table");
    for (const char* const* t = db::schema_tables(); *t; ++t) QVERIFY2(tables.count(*t) == 1, *t);
    QVERIFY(columns(**db, "tokens").count("time_us") == 1);
  }

  // A step that fails halfway is rolled back whole: here version 1 -> 2 fails at its
  // CREATE TABLE sensitivity_profiles (a table of that name already exists), after its ALTERs
  // and CREATE INDEXes have run.
  void failed_step_leaves_old_version() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("clash.db").toStdString();
    QVERIFY(make_v1(path));
    {
      db::OpenOptions o;
      o.wal = false;
      auto db = db::Database::open(path, o);
      QVERIFY(db.ok());
      QVERIFY((*db)->exec("CREATE TABLE sensitivity_profiles(x)").is_ok());
    }
    auto db = db::open_store(path);
    QVERIFY(!db.ok());
    const QString msg = QString::fromStdString(db.status().message());
    QVERIFY2(msg.contains("from schema version 1") && msg.contains("clash.db") &&
                 msg.contains("sensitivity_profiles"),
             qPrintable(msg));
    db::OpenOptions o;
    o.wal = false;
    auto raw = db::Database::open(path, o);
    QVERIFY(raw.ok());
    QCOMPARE((*raw)->query_int("PRAGMA user_version").value(), int64_t{1});
    QCOMPARE(columns(**raw, "tokens").count("time_us"), size_t{0});
    QCOMPARE(names(**raw, "index").count("tokens_time"), size_t{0});
    QCOMPARE((*raw)->query_int("SELECT count(*) FROM routing").value(), int64_t{24});
  }
};

QTEST_GUILESS_MAIN(TestMigration)
#include "test_migration.moc"
