// Schema versioning and bad input: a fresh store gets version 2 and every table; a file from a
// newer version, a text file and a truncated database are refused with a clear error and are
// left byte for byte as they were. Also the per-model tables of version 2 through their API
// (sensitivity profiles, predictor state) and the store summary of `emoe db info`.
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <set>
#include <string>

#include "db/database.h"
#include "db/model_profiles.h"
#include "db/schema.h"
#include "db/store_summary.h"

using namespace emoe;

namespace {

QByteArray read_all(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.readAll();
}

bool write_all(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
  return f.write(bytes) == bytes.size();
}

// A small valid store with some content, closed (WAL checkpointed into the main file).
bool make_store(const std::string& path) {
  auto db = db::open_store(path);
  if (!db.ok()) return false;
  if (!(*db)->exec("INSERT INTO runs(name, config) VALUES ('r', '{}')").is_ok()) return false;
  for (int i = 0; i < 200; ++i) {
    const std::string sql = "INSERT INTO runs(name, metrics) VALUES ('run" + std::to_string(i) +
                            "', '" + std::string(200, 'x') + "')";
    if (!(*db)->exec(sql).is_ok()) return false;
  }
  return true;
}

}  // namespace

class TestSchema : public QObject {
  Q_OBJECT

 private slots:
  void fresh_store_has_version_and_tables() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("fresh.db").toStdString();
    {
      auto db = db::open_store(path);
      QVERIFY2(db.ok(), db.status().message().c_str());
      auto v = (*db)->query_int("PRAGMA user_version");
      QVERIFY(v.ok());
      QCOMPARE(*v, int64_t{db::kSchemaVersion});
      auto mode = (*db)->query_text("PRAGMA journal_mode");
      QVERIFY(mode.ok());
      QCOMPARE(QString::fromStdString(*mode), QString("wal"));
      std::set<std::string> names;
      auto st = (*db)->prepare("SELECT name FROM sqlite_master WHERE type IN ('table','index')");
      QVERIFY(st.ok());
      while (true) {
        auto r = st->step();
        QVERIFY(r.ok());
        if (!*r) break;
        names.insert(st->column_text(0));
      }
      const char* expected[] = {"models",
                                "sessions",
                                "requests",
                                "tokens",
                                "routing",
                                "expert_events",
                                "memory_samples",
                                "runs",
                                "sensitivity_profiles",
                                "predictor_state",
                                "tokens_time",
                                "requests_session_task"};
      for (const char* n : expected) QVERIFY2(names.count(n) == 1, n);
      int n_tables = 0;
      for (const char* const* t = db::schema_tables(); *t; ++t) {
        QVERIFY2(names.count(*t) == 1, *t);
        ++n_tables;
      }
      QCOMPARE(n_tables, 13);
    }
    // Reopening an up-to-date store migrates nothing and keeps the data.
    {
      auto db = db::open_store(path);
      QVERIFY2(db.ok(), db.status().message().c_str());
      QVERIFY((*db)->exec("INSERT INTO runs(name) VALUES ('a')").is_ok());
    }
    auto db = db::open_store(path);
    QVERIFY(db.ok());
    auto n = (*db)->query_int("SELECT count(*) FROM runs");
    QVERIFY(n.ok());
    QCOMPARE(*n, int64_t{1});
  }

  void newer_version_is_refused_untouched() {
    QTemporaryDir dir;
    const QString qpath = dir.filePath("newer.db");
    const std::string path = qpath.toStdString();
    {
      // A rollback-journal database so the main file holds everything (no -wal to compare).
      db::OpenOptions o;
      o.wal = false;
      auto db = db::Database::open(path, o);
      QVERIFY(db.ok());
      QVERIFY((*db)
                  ->exec("CREATE TABLE future(x); INSERT INTO future VALUES (42);"
                         "PRAGMA user_version=99")
                  .is_ok());
    }
    const QByteArray before = read_all(qpath);
    QVERIFY(before.size() > 0);
    auto db = db::open_store(path);
    QVERIFY(!db.ok());
    QCOMPARE(db.status().code(), StatusCode::Unsupported);
    const QString msg = QString::fromStdString(db.status().message());
    QVERIFY2(msg.contains("99") && msg.contains("newer"), qPrintable(msg));
    QCOMPARE(read_all(qpath), before);
    QVERIFY(!QFile::exists(qpath + "-wal"));

    db::OpenOptions ro;
    ro.read_only = true;
    auto r = db::open_store(path, ro);
    QVERIFY(!r.ok());
    QCOMPARE(r.status().code(), StatusCode::Unsupported);
    QCOMPARE(read_all(qpath), before);
  }

  void text_file_is_refused_untouched() {
    QTemporaryDir dir;
    const QString qpath = dir.filePath("notes.db");
    QByteArray text;
    for (int i = 0; i < 300; ++i)
      text += "this is a plain text file, line " + QByteArray::number(i) + "\n";
    QVERIFY(write_all(qpath, text));
    auto db = db::open_store(qpath.toStdString());
    QVERIFY(!db.ok());
    QCOMPARE(db.status().code(), StatusCode::Corrupt);
    const QString msg = QString::fromStdString(db.status().message());
    QVERIFY2(msg.contains("not a readable SQLite database") && msg.contains("notes.db"),
             qPrintable(msg));
    QCOMPARE(read_all(qpath), text);
  }

  void truncated_store_is_refused() {
    QTemporaryDir dir;
    const QString qpath = dir.filePath("trunc.db");
    QVERIFY(make_store(qpath.toStdString()));
    QVERIFY(!QFile::exists(qpath + "-wal") || QFileInfo(qpath + "-wal").size() == 0);
    const QByteArray full = read_all(qpath);
    QVERIFY(full.size() > 8192);
    // Cut inside the first page (header intact): SQLite sees a malformed file.
    for (qsizetype cut : {qsizetype{50}, qsizetype{1000}, full.size() / 2}) {
      const QByteArray part = full.left(cut);
      QVERIFY(write_all(qpath, part));
      QFile::remove(qpath + "-wal");
      QFile::remove(qpath + "-shm");
      auto db = db::open_store(qpath.toStdString());
      Status s = db.ok() ? Status::ok() : db.status();
      if (db.ok()) {
        // The header and schema page survived; reading the data must then fail cleanly.
        auto n = (*db)->query_int("SELECT count(*) FROM runs WHERE length(metrics) > 0");
        QVERIFY(!n.ok());
        s = n.status();
      }
      QVERIFY2(!s.is_ok(), qPrintable(QString("cut %1 accepted").arg(cut)));
      QVERIFY2(s.code() == StatusCode::Corrupt, s.message().c_str());
      QVERIFY2(!s.message().empty(), "empty message");
    }
  }

  void summary_counts_rows_per_table() {
    QTemporaryDir dir;
    const QString qpath = dir.filePath("summary.db");
    QVERIFY(make_store(qpath.toStdString()));
    {
      auto db = db::open_store(qpath.toStdString());
      QVERIFY(db.ok());
      QVERIFY((*db)
                  ->exec("INSERT INTO models(id, path, size_bytes, arch) VALUES "
                         "(3, '/a.gguf', 10, 'llama'), (5, '/b.gguf', 20, 'olmoe');"
                         "INSERT INTO sessions(model_id, started_at) VALUES (5, 1), (5, 2), (3, 3)")
                  .is_ok());
    }
    const QByteArray before = read_all(qpath);
    auto s = db::summarize_store(qpath.toStdString());
    QVERIFY2(s.ok(), s.status().message().c_str());
    QCOMPARE(s->schema_version, int64_t{db::kSchemaVersion});
    QVERIFY(!s->needs_migration);
    QCOMPARE(QString::fromStdString(s->journal_mode), QString("wal"));
    QCOMPARE(s->file_bytes, static_cast<int64_t>(before.size()));
    QCOMPARE(s->sessions, int64_t{3});
    QCOMPARE(s->runs, int64_t{201});
    const int64_t rows[] = {2, 3, 0, 0, 0, 0, 0, 201, 0, 0, 0, 0, 0};
    QCOMPARE(s->tables.size(), size_t{13});
    size_t i = 0;
    for (const char* const* t = db::schema_tables(); *t; ++t, ++i) {
      QCOMPARE(QString::fromStdString(s->tables[i].table), QString(*t));
      QVERIFY(s->tables[i].present);
      QCOMPARE(s->tables[i].rows, rows[i]);
    }
    QCOMPARE(s->models.size(), size_t{2});
    QCOMPARE(s->models[0].id, int64_t{3});
    QCOMPARE(s->models[0].sessions, int64_t{1});
    QCOMPARE(QString::fromStdString(s->models[1].arch), QString("olmoe"));
    QCOMPARE(s->models[1].sessions, int64_t{2});
    QVERIFY(!s->models[1].sha256);
    QCOMPARE(read_all(qpath), before);
    QVERIFY(!QFile::exists(dir.filePath("missing.db")) &&
            db::summarize_store(dir.filePath("missing.db").toStdString()).status().code() ==
                StatusCode::NotFound);
    QVERIFY(!QFile::exists(dir.filePath("missing.db")));
  }

  void sensitivity_profiles_upsert_per_model_and_task() {
    QTemporaryDir dir;
    auto db = db::open_store(dir.filePath("profiles.db").toStdString());
    QVERIFY(db.ok());
    db::Database& d = **db;
    QVERIFY(d.exec("INSERT INTO models(id, path) VALUES (1, '/a.gguf'), (2, '/b.gguf')").is_ok());
    db::SensitivityProfile qa;
    qa.model_id = 1;
    qa.task = "qa";
    qa.measured_at_us = 100;
    qa.metric = "top1_agreement";
    qa.exact_score = 1.0;
    qa.fallback_score = 0.91;
    qa.sensitivity = 0.09;
    qa.details_json = "{\"layers\":[0,1],\"threshold\":0.85}";
    db::SensitivityProfile sum = qa;
    sum.task = "summarization";
    sum.fallback_score = std::nullopt;
    sum.sensitivity = 0.0;
    sum.insensitive = true;
    sum.details_json = std::nullopt;
    db::SensitivityProfile other = qa;
    other.model_id = 2;
    other.exact_score = 0.5;
    for (const auto* p : {&sum, &qa, &other}) {
      Status s = db::put_sensitivity(d, *p);
      QVERIFY2(s.is_ok(), s.message().c_str());
    }
    auto got = db::get_sensitivity(d, 1, "qa");
    QVERIFY2(got.ok(), got.status().message().c_str());
    QVERIFY(*got == qa);
    auto list = db::list_sensitivity(d, 1);
    QVERIFY(list.ok());
    QCOMPARE(list->size(), size_t{2});
    QVERIFY((*list)[0] == qa && (*list)[1] == sum);  // by task
    QVERIFY(db::list_sensitivity(d, 2).value().at(0) == other);
    QVERIFY(db::list_sensitivity(d, 9).value().empty());
    // A second put of (model, task) replaces every column, in place.
    db::SensitivityProfile qa2 = qa;
    qa2.measured_at_us = 200;
    qa2.metric = "kl";
    qa2.exact_score = std::nullopt;
    qa2.insensitive = true;
    qa2.details_json = std::nullopt;
    QVERIFY(db::put_sensitivity(d, qa2).is_ok());
    QVERIFY(db::get_sensitivity(d, 1, "qa").value() == qa2);
    QCOMPARE(d.query_int("SELECT count(*) FROM sensitivity_profiles").value(), int64_t{3});

    auto missing = db::get_sensitivity(d, 1, "comparison");
    QCOMPARE(missing.status().code(), StatusCode::NotFound);
    QVERIFY2(QString::fromStdString(missing.status().message()).contains("comparison"),
             missing.status().message().c_str());
    db::SensitivityProfile bad = qa;
    bad.model_id = 7;
    Status s = db::put_sensitivity(d, bad);
    QCOMPARE(s.code(), StatusCode::NotFound);
    QVERIFY2(QString::fromStdString(s.message()).contains("model 7"), s.message().c_str());
    bad = qa;
    bad.task = "";
    QCOMPARE(db::put_sensitivity(d, bad).code(), StatusCode::InvalidArgument);
    bad = qa;
    bad.metric = "";
    QCOMPARE(db::put_sensitivity(d, bad).code(), StatusCode::InvalidArgument);
    bad = qa;
    bad.details_json = "{\"a\":";
    s = db::put_sensitivity(d, bad);
    QCOMPARE(s.code(), StatusCode::InvalidArgument);
    QVERIFY2(QString::fromStdString(s.message()).contains("not valid JSON"), s.message().c_str());
    QVERIFY(db::get_sensitivity(d, 1, "qa").value() == qa2);  // failed puts changed nothing
  }

  void predictor_state_save_and_load() {
    QTemporaryDir dir;
    auto db = db::open_store(dir.filePath("predictor.db").toStdString());
    QVERIFY(db.ok());
    db::Database& d = **db;
    QVERIFY(d.exec("INSERT INTO models(id, path) VALUES (4, '/a.gguf')").is_ok());
    QCOMPARE(db::load_predictor_state(d, 4).status().code(), StatusCode::NotFound);
    db::PredictorState st{4, 1000, 12, 40, "{\"sequences\":[[1,2],[3,0]],\"kind\":\"emoe-a\"}"};
    QVERIFY(db::save_predictor_state(d, st).is_ok());
    QVERIFY(db::load_predictor_state(d, 4).value() == st);
    db::PredictorState st2{4, 2000, 52, std::nullopt, "[]"};
    QVERIFY(db::save_predictor_state(d, st2).is_ok());
    QVERIFY(db::load_predictor_state(d, 4).value() == st2);
    QCOMPARE(d.query_int("SELECT count(*) FROM predictor_state").value(), int64_t{1});
    Status s = db::save_predictor_state(d, {5, 0, 0, std::nullopt, "{}"});
    QCOMPARE(s.code(), StatusCode::NotFound);
    s = db::save_predictor_state(d, {4, 0, 0, std::nullopt, "{oops"});
    QCOMPARE(s.code(), StatusCode::InvalidArgument);
    s = db::save_predictor_state(d, {4, 0, -1, std::nullopt, "{}"});
    QCOMPARE(s.code(), StatusCode::InvalidArgument);
    QVERIFY(db::load_predictor_state(d, 4).value() == st2);
  }
};

QTEST_GUILESS_MAIN(TestSchema)
#include "test_schema.moc"
