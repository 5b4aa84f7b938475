// Schema versioning and bad input: a fresh store gets version 2 and every table; a file from a
// newer version, a text file and a truncated database are refused with a clear error and are
// left byte for byte as they were.
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <set>
#include <string>

#include "db/database.h"
#include "db/schema.h"

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
      QCOMPARE(*v, int64_t{2});
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
                                "routing_request_layer",
                                "routing_layer_used"};
      for (const char* n : expected) QVERIFY2(names.count(n) == 1, n);
      int n_tables = 0;
      for (const char* const* t = db::schema_tables(); *t; ++t) {
        QVERIFY2(names.count(*t) == 1, *t);
        ++n_tables;
      }
      QCOMPARE(n_tables, 10);
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
};

QTEST_GUILESS_MAIN(TestSchema)
#include "test_schema.moc"
