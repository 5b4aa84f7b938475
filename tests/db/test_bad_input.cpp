// Bad input and a hostile machine: every way into the store (open_store, RoutingWriter,
// RecordingSession, RoutingQueries, summarize_store) meets a non-SQLite file, a damaged
// database, a missing table, a newer schema version, a read-only directory, a read-only file
// and a full disk. Each must fail with a Status whose message names the path or the cause,
// never abort, and leave the file as it was (committed rows readable, integrity_check ok).
//
// Permission bits are not enforced for root, so as root the read-only checks run in a child
// process that drops to the unprivileged user nobody; where that is impossible they are
// skipped with the reason.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <functional>
#include <string>

#include "db/database.h"
#include "db/recording_session.h"
#include "db/routing_queries.h"
#include "db/routing_writer.h"
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

QString msg(const Status& s) { return QString::fromStdString(s.message()); }

db::RoutingRecord routing_row(int64_t request, int32_t pos, int32_t layer) {
  db::RoutingRecord r;
  r.request_id = request;
  r.pos = pos;
  r.layer = layer;
  r.rank = 0;
  r.router_expert = (pos + layer) % 8;
  r.router_weight = 1.0f;
  r.used_expert = r.router_expert;
  r.used_weight = 1.0f;
  return r;
}

// A closed store (WAL checkpointed into the main file) with session 1, request 1 and
// n_pos x 4 routing rows.
bool make_store(const std::string& path, int n_pos) {
  auto w = db::RoutingWriter::open(path);
  if (!w.ok()) return false;
  bool ok = (*w)->push(db::SessionRecord{1, std::nullopt, 0, "{}"}).is_ok();
  db::RequestRecord rq;
  rq.id = 1;
  rq.session_id = 1;
  rq.task = "qa";
  ok = ok && (*w)->push(rq).is_ok();
  for (int p = 0; p < n_pos; ++p) {
    ok = ok && (*w)->push(db::TokenRecord{1, p, 100 + p, 0, 1000 + p}).is_ok();
    for (int l = 0; l < 4; ++l) ok = ok && (*w)->push(routing_row(1, p, l)).is_ok();
  }
  return (*w)->close().is_ok() && ok;
}

// Every opener's Status for path, labelled; each handle is closed before the next opener runs.
std::vector<std::pair<QString, Status>> open_everything(const std::string& path) {
  std::vector<std::pair<QString, Status>> out;
  auto status_of = [](const auto& result) { return result.ok() ? Status::ok() : result.status(); };
  out.emplace_back("open_store", status_of(db::open_store(path)));
  out.emplace_back("RoutingWriter::open", status_of(db::RoutingWriter::open(path)));
  db::ModelInfo m;
  m.path = "/m.gguf";
  out.emplace_back("RecordingSession::open", status_of(db::RecordingSession::open(path, m, "{}")));
  out.emplace_back("RoutingQueries::open", status_of(db::RoutingQueries::open(path)));
  out.emplace_back("summarize_store", status_of(db::summarize_store(path)));
  return out;
}

// Runs fn where file permission bits apply and returns what it returned. Without root that is
// this process; as root, a child that has become nobody (root ignores mode bits). On failure
// *skip says why.
std::optional<std::string> run_unprivileged(const std::function<std::string()>& fn, QString* skip) {
  if (geteuid() != 0) return fn();
  int fds[2];
  if (pipe(fds) != 0) {
    *skip = "pipe failed";
    return std::nullopt;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    *skip = "fork failed";
    return std::nullopt;
  }
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
      out = "SKIP:cannot drop root privileges to nobody (uid 65534) in this environment";
    } else {
      out = fn();
    }
    const char* p = out.data();
    size_t left = out.size();
    while (left > 0) {
      const ssize_t n = write(fds[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *skip = QString("the unprivileged child failed (wait status %1)").arg(status);
    return std::nullopt;
  }
  if (out.rfind("SKIP:", 0) == 0) {
    *skip = QString::fromStdString(out.substr(5));
    return std::nullopt;
  }
  return out;
}

// "label\tcode\tmessage\n" per status, for passing results out of the child.
std::string encode(const std::vector<std::pair<QString, Status>>& v) {
  std::string out;
  for (const auto& [label, s] : v) {
    std::string m = s.message();
    for (char& c : m)
      if (c == '\n' || c == '\t') c = ' ';
    out +=
        label.toStdString() + "\t" + std::to_string(static_cast<int>(s.code())) + "\t" + m + "\n";
  }
  return out;
}

struct Decoded {
  QString label;
  int code;
  QString message;
};
std::vector<Decoded> decode(const std::string& text) {
  std::vector<Decoded> out;
  for (const QString& line : QString::fromStdString(text).split('\n', Qt::SkipEmptyParts)) {
    const QStringList parts = line.split('\t');
    if (parts.size() == 3) out.push_back({parts[0], parts[1].toInt(), parts[2]});
  }
  return out;
}

bool can_create_file_in(const std::string& dir) {
  const std::string probe = dir + "/probe";
  const int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY, 0644);
  if (fd < 0) return false;
  ::close(fd);
  ::unlink(probe.c_str());
  return true;
}

}  // namespace

class TestBadInput : public QObject {
  Q_OBJECT

 private slots:
  void non_sqlite_file_is_refused_untouched() {
    QTemporaryDir dir;
    const QString qpath = dir.filePath("photo.db");
    QByteArray junk;
    for (int i = 0; i < 20000; ++i) junk += static_cast<char>((i * 7919 + 13) % 251);
    QVERIFY(write_all(qpath, junk));
    for (const auto& [label, s] : open_everything(qpath.toStdString())) {
      QVERIFY2(!s.is_ok(), qPrintable(label + " accepted a non-SQLite file"));
      QVERIFY2(s.code() == StatusCode::Corrupt, qPrintable(label + ": " + msg(s)));
      QVERIFY2(msg(s).contains("photo.db") && msg(s).contains("not a readable SQLite database"),
               qPrintable(label + ": " + msg(s)));
    }
    QCOMPARE(read_all(qpath), junk);
    QVERIFY(!QFile::exists(qpath + "-wal"));
  }

  // A valid header and schema, but the root page of the routing table overwritten: the store still opens, the queries that read routing fail with Corrupt, the
  // others keep working.
  void damaged_table_fails_its_queries_only() {
    QTemporaryDir dir;
    const QString qpath = dir.filePath("damaged.db");
    const std::string path = qpath.toStdString();
    QVERIFY(make_store(path, 400));
    std::vector<int64_t> roots;
    int64_t page_size = 0;
    {
      db::OpenOptions o;
      o.read_only = true;
      auto d = db::Database::open(path, o);
      QVERIFY(d.ok());
      auto st = (*d)->prepare("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'routing'");
      QVERIFY(st.ok());
      while (st->step().value()) roots.push_back(st->column_int(0));
      page_size = (*d)->query_int("PRAGMA page_size").value();
    }
    QCOMPARE(roots.size(), size_t{1});  // the table (v2 has no secondary routing index)
    QVERIFY(!QFile::exists(qpath + "-wal") || QFileInfo(qpath + "-wal").size() == 0);
    QByteArray bytes = read_all(qpath);
    for (const int64_t root : roots) {
      QVERIFY(root > 1 && root * page_size <= bytes.size());
      for (int64_t i = 0; i < page_size; ++i) {
        bytes[static_cast<qsizetype>((root - 1) * page_size + i)] = static_cast<char>(0xA5);
      }
    }
    QVERIFY(write_all(qpath, bytes));

    auto q = db::RoutingQueries::open(path);
    QVERIFY2(q.ok(), q.status().message().c_str());
    auto counts = (*q)->expert_counts({});
    QVERIFY(!counts.ok());
    QVERIFY2(counts.status().code() == StatusCode::Corrupt, counts.status().message().c_str());
    QVERIFY2(msg(counts.status()).contains("malformed"), counts.status().message().c_str());
    auto trace = (*q)->request_trace(1);
    QVERIFY(!trace.ok());
    QCOMPARE(trace.status().code(), StatusCode::Corrupt);
    auto pop = (*q)->task_popularity(4, 8);
    QVERIFY(!pop.ok());
    auto sessions = (*q)->list_sessions();
    QVERIFY2(sessions.ok(), sessions.status().message().c_str());
    QCOMPARE(sessions->at(0).token_count, int64_t{400});
    auto summary = db::summarize_store(path);
    QVERIFY(!summary.ok());  // counting routing rows reads the damaged page
    QVERIFY2(msg(summary.status()).contains("routing") && msg(summary.status()).contains(qpath),
             summary.status().message().c_str());
    QCOMPARE(read_all(qpath), bytes);
  }

  void missing_table_is_an_error_not_an_abort() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("dropped.db").toStdString();
    QVERIFY(make_store(path, 10));
    {
      auto d = db::open_store(path);
      QVERIFY(d.ok());
      QVERIFY((*d)->exec("DROP TABLE routing").is_ok());
    }
    auto q = db::RoutingQueries::open(path);
    QVERIFY2(q.ok(), q.status().message().c_str());
    const Status errors[] = {
        (*q)->expert_counts({}).status(),
        (*q)->expert_counts({}, db::ExpertChoice::Router).status(),
        (*q)->request_trace(1).status(),
        (*q)->transition_matrix(0, 8).status(),
        (*q)->task_popularity(4, 8).status(),
    };
    for (const Status& s : errors) {
      QVERIFY(!s.is_ok());
      QVERIFY2(msg(s).contains("no such table: routing"), s.message().c_str());
    }
    QVERIFY((*q)->list_sessions().ok());
    auto summary = db::summarize_store(path);
    QVERIFY2(summary.ok(), summary.status().message().c_str());
    QCOMPARE(summary->tables[4].table, std::string("routing"));
    QVERIFY(!summary->tables[4].present);
    QCOMPARE(summary->tables[3].rows, int64_t{10});
  }

  void missing_file_is_not_created_by_readers() {
    QTemporaryDir dir;
    const QString qpath = dir.filePath("nothing.db");
    auto q = db::RoutingQueries::open(qpath.toStdString());
    QVERIFY(!q.ok());
    QVERIFY2(msg(q.status()).contains(qpath), q.status().message().c_str());
    auto s = db::summarize_store(qpath.toStdString());
    QCOMPARE(s.status().code(), StatusCode::NotFound);
    QVERIFY2(msg(s.status()).contains(qpath), s.status().message().c_str());
    QVERIFY(!QFile::exists(qpath));
  }

  void newer_version_is_refused_untouched() {
    for (const bool wal : {false, true}) {
      QTemporaryDir dir;
      const QString qpath = dir.filePath("future.db");
      const std::string path = qpath.toStdString();
      {
        db::OpenOptions o;
        o.wal = wal;
        auto d = db::Database::open(path, o);
        QVERIFY(d.ok());
        QVERIFY((*d)->exec("CREATE TABLE routing(x); INSERT INTO routing VALUES (1);"
                           "PRAGMA user_version=7")
                    .is_ok());
      }
      QVERIFY(!QFile::exists(qpath + "-wal"));
      const QByteArray before = read_all(qpath);
      for (const auto& [label, s] : open_everything(path)) {
        QVERIFY2(s.code() == StatusCode::Unsupported, qPrintable(label + ": " + msg(s)));
        QVERIFY2(msg(s).contains("schema version 7") && msg(s).contains("newer") &&
                     msg(s).contains(qpath),
                 qPrintable(label + ": " + msg(s)));
        QCOMPARE(read_all(qpath), before);
      }
    }
  }

  // A directory the user cannot write: creating a store there fails, naming the path.
  void read_only_directory() {
    QTemporaryDir dir;
    QVERIFY(::chmod(dir.path().toLocal8Bit().constData(), 0755) == 0);  // nobody may enter
    const std::string ro = dir.filePath("ro").toStdString();
    QVERIFY(QDir().mkdir(QString::fromStdString(ro)));
    QVERIFY(::chmod(ro.c_str(), 0555) == 0);
    const std::string path = ro + "/new.db";
    QString skip;
    auto out = run_unprivileged(
        [&]() -> std::string {
          if (::access(ro.c_str(), R_OK | X_OK) != 0) {
            return "SKIP:the test directory is not reachable by the unprivileged user";
          }
          if (can_create_file_in(ro)) {
            return "SKIP:permission bits are not enforced here (a file could be created in a "
                   "0555 directory)";
          }
          auto v = open_everything(path);
          v.pop_back();  // summarize_store never creates; checked below
          return encode(v);
        },
        &skip);
    ::chmod(ro.c_str(), 0755);  // so that QTemporaryDir can clean up
    if (!out) QSKIP(qPrintable("read-only directory check skipped: " + skip));
    const auto results = decode(*out);
    QCOMPARE(results.size(), size_t{4});
    for (const auto& r : results) {
      qInfo("%s: %s", qPrintable(r.label), qPrintable(r.message));
      QVERIFY2(r.code != 0, qPrintable(r.label + " created a store in a read-only directory"));
      QVERIFY2(
          r.message.contains(QString::fromStdString(path)) && r.message.contains("unable to open"),
          qPrintable(r.label + ": " + r.message));
    }
    QVERIFY(!QFile::exists(QString::fromStdString(path)));
  }

  // An existing store the user may not write: the writer's open or its first commit fails
  // with a clear Status and the file keeps its bytes and rows.
  void read_only_file() {
    QTemporaryDir dir;
    QVERIFY(::chmod(dir.path().toLocal8Bit().constData(), 0777) == 0);  // -wal/-shm may be made
    const QString qpath = dir.filePath("locked.db");
    const std::string path = qpath.toStdString();
    QVERIFY(make_store(path, 20));
    QVERIFY(::chmod(path.c_str(), 0444) == 0);
    const QByteArray before = read_all(qpath);
    QString skip;
    auto out = run_unprivileged(
        [&]() -> std::string {
          const int fd = ::open(path.c_str(), O_WRONLY);
          if (fd >= 0) {
            ::close(fd);
            return "SKIP:permission bits are not enforced here (a 0444 file opened for writing)";
          }
          std::vector<std::pair<QString, Status>> v;
          auto w = db::RoutingWriter::open(path);
          if (!w.ok()) {
            v.emplace_back("RoutingWriter::open", w.status());
          } else {
            Status s = (*w)->push(routing_row(1, 100, 0));
            if (s.is_ok()) s = (*w)->flush();
            v.emplace_back("RoutingWriter first commit", s);
            Status again = (*w)->push(routing_row(1, 101, 0));
            v.emplace_back("RoutingWriter push after failure", again);
            v.emplace_back("RoutingWriter close", (*w)->close());
          }
          db::ModelInfo m;
          m.path = "/m.gguf";
          auto rs = db::RecordingSession::open(path, m, "{}");
          v.emplace_back("RecordingSession::open", rs.ok() ? Status::ok() : rs.status());
          // Reading still works.
          auto q = db::RoutingQueries::open(path);
          Status read = q.ok() ? (*q)->expert_counts({}).status() : q.status();
          v.emplace_back("read", read.is_ok() ? internal_error("read ok") : read);
          return encode(v);
        },
        &skip);
    ::chmod(path.c_str(), 0644);
    if (!out) QSKIP(qPrintable("read-only file check skipped: " + skip));
    const auto results = decode(*out);
    QVERIFY(results.size() >= 3);
    for (const auto& r : results) {
      qInfo("%s: %s", qPrintable(r.label), qPrintable(r.message));
      if (r.label == "read") {
        QVERIFY2(r.message == "read ok", qPrintable("reading a read-only store: " + r.message));
        continue;
      }
      QVERIFY2(r.code != 0, qPrintable(r.label + " succeeded on a read-only file"));
      QVERIFY2(r.message.contains("readonly") || r.message.contains("read-only") ||
                   r.message.contains(qpath),
               qPrintable(r.label + ": " + r.message));
    }
    QCOMPARE(read_all(qpath), before);
    auto d = db::open_store(path);
    QVERIFY2(d.ok(), d.status().message().c_str());
    QCOMPARE((*d)->query_text("PRAGMA integrity_check").value(), std::string("ok"));
    QCOMPARE((*d)->query_int("SELECT count(*) FROM routing").value(), int64_t{80});
  }

  // SQLITE_FULL through the store's Statement path: the connection may not grow the file
  // beyond a few pages (what a full disk looks like to SQLite).
  void full_disk_via_max_page_count() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("full.db").toStdString();
    QVERIFY(make_store(path, 50));
    auto d = db::open_store(path);
    QVERIFY(d.ok());
    db::Database& db = **d;
    const int64_t pages = db.query_int("PRAGMA page_count").value();
    QCOMPARE(db.query_int("PRAGMA max_page_count = " + std::to_string(pages + 2)).value(),
             pages + 2);
    auto insert = db.prepare("INSERT INTO runs(name, metrics) VALUES (?1, ?2)");
    QVERIFY(insert.ok());
    int inserted = 0;
    Status s = db::in_transaction(db, [&]() -> Status {
      for (int i = 0; i < 1000; ++i) {
        EMOE_RETURN_IF_ERROR(insert->bind_text(1, "run" + std::to_string(i)));
        EMOE_RETURN_IF_ERROR(insert->bind_text(2, std::string(2000, 'm')));
        EMOE_RETURN_IF_ERROR(insert->run());
        ++inserted;
      }
      return Status::ok();
    });
    QVERIFY(!s.is_ok());
    QVERIFY(inserted > 0 && inserted < 1000);
    QCOMPARE(s.code(), StatusCode::OutOfMemory);
    QVERIFY2(msg(s).contains("database or disk is full") && msg(s).contains("INSERT INTO runs"),
             s.message().c_str());
    // The transaction was rolled back whole; what was committed before is intact.
    QCOMPARE(db.query_int("SELECT count(*) FROM runs").value(), int64_t{0});
    QCOMPARE(db.query_int("SELECT count(*) FROM routing").value(), int64_t{200});
    QCOMPARE(db.query_text("PRAGMA integrity_check").value(), std::string("ok"));
    // Once there is room again the same connection writes.
    QVERIFY(db.exec("PRAGMA max_page_count = 1073741823").is_ok());
    QVERIFY(db.exec("INSERT INTO runs(name) VALUES ('after')").is_ok());
  }

  // The writer thread itself running out of file space: a child process limits its file size
  // (RLIMIT_FSIZE; SQLite then reports an I/O error, as for any failed write) and records until
  // the writer fails. The writer's Status says so, nothing crashes, and every batch flushed
  // before the failure is in the file, which passes integrity_check.
  void writer_out_of_file_space() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("fsize.db").toStdString();
    QVERIFY(make_store(path, 10));
    const auto size = QFileInfo(QString::fromStdString(path)).size();
    int fds[2];
    QVERIFY(pipe(fds) == 0);
    const pid_t pid = fork();
    QVERIFY(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG instead
      rlimit lim{};
      getrlimit(RLIMIT_FSIZE, &lim);
      lim.rlim_cur = static_cast<rlim_t>(size) + 64 * 1024;
      std::string out;
      if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
        out = "SKIP";
      } else {
        db::WriterOptions wo;
        wo.batch_rows = 100;
        auto w = db::RoutingWriter::open(path, wo);
        if (!w.ok()) {
          out = "OPEN\t" + w.status().message();
        } else {
          int flushed = 10;  // positions committed so far
          Status s;
          for (int p = 10; p < 100000 && s.is_ok(); ++p) {
            for (int l = 0; l < 4 && s.is_ok(); ++l) s = (*w)->push(routing_row(1, p, l));
            if (s.is_ok() && p % 25 == 0) {
              s = (*w)->flush();
              if (s.is_ok()) flushed = p + 1;
            }
          }
          Status c = (*w)->close();
          out = std::to_string(flushed) + "\t" + std::to_string(static_cast<int>(s.code())) + "\t" +
                s.message() + "\t" + (c.is_ok() ? "close-ok" : "close-failed");
        }
      }
      if (write(fds[1], out.data(), out.size()) < 0) _exit(2);
      _exit(0);
    }
    close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    QCOMPARE(waitpid(pid, &status, 0), pid);
    QVERIFY2(WIFEXITED(status) && WEXITSTATUS(status) == 0,
             qPrintable(QString("child crashed, wait status %1").arg(status)));
    if (out == "SKIP") QSKIP("setrlimit(RLIMIT_FSIZE) is not permitted here");
    const QStringList parts = QString::fromStdString(out).split('\t');
    QCOMPARE(parts.size(), qsizetype{4});
    const int flushed = parts[0].toInt();
    qInfo("writer after %d positions: %s", flushed, qPrintable(parts[2]));
    QVERIFY2(parts[1].toInt() != 0, "the writer never failed");
    QCOMPARE(parts[1].toInt(), static_cast<int>(StatusCode::IoError));
    QVERIFY2(parts[2].contains("recording to '") &&
                 parts[2].contains(QString::fromStdString(path)) &&
                 (parts[2].contains("disk I/O error") || parts[2].contains("full")),
             qPrintable(parts[2]));
    QCOMPARE(parts[3], QString("close-failed"));
    QVERIFY(flushed > 10);
    auto d = db::open_store(path);
    QVERIFY2(d.ok(), d.status().message().c_str());
    QCOMPARE((*d)->query_text("PRAGMA integrity_check").value(), std::string("ok"));
    const int64_t rows = (*d)->query_int("SELECT count(*) FROM routing").value();
    QVERIFY2(rows >= int64_t{flushed} * 4,
             qPrintable(QString("%1 rows, %2 positions flushed").arg(rows).arg(flushed)));
  }
};

QTEST_GUILESS_MAIN(TestBadInput)
#include "test_bad_input.moc"
