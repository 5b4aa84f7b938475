// Crash safety: a child process records routing in groups, flushing after each and reporting
// the group id through a pipe; the test SIGKILLs it at random moments, 25 times against the
// same file. Afterwards the store opens, integrity_check is ok, and every group reported before
// a kill is present in full.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QTemporaryDir>
#include <QtTest>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "db/database.h"
#include "db/routing_writer.h"
#include "db/schema.h"

extern char** environ;

using namespace emoe;

namespace {

constexpr int kRowsPerGroup = 96;
constexpr const char* kChildEnv = "EMOE_CRASH_CHILD";

// The child: EMOE_CRASH_CHILD="path request_id". Group g is kRowsPerGroup routing rows at
// position g; its id is written to stdout only after flush() says it is committed.
int run_child(const char* arg) {
  char path[4096];
  long long request = 0;
  if (std::sscanf(arg, "%4095s %lld", path, &request) != 2) return 2;
  db::WriterOptions o;
  o.batch_rows = 40;  // writer batches cut across groups, so kills land mid-group too
  auto w = db::RoutingWriter::open(path, o);
  if (!w.ok()) {
    std::fprintf(stderr, "child: %s\n", w.status().message().c_str());
    return 3;
  }
  if (!(*w)->push(db::SessionRecord{1, std::nullopt, 0, "{}"}).is_ok()) return 4;
  db::RequestRecord rq;
  rq.id = request;
  rq.session_id = 1;
  if (!(*w)->push(rq).is_ok()) return 4;
  for (int g = 0; g < 100000; ++g) {
    for (int i = 0; i < kRowsPerGroup; ++i) {
      db::RoutingRecord r;
      r.request_id = request;
      r.pos = g;
      r.layer = i / 8;
      r.rank = i % 8;
      r.router_expert = i % 8;
      r.router_weight = 0.5f;
      r.used_expert = i % 8;
      r.used_weight = 0.5f;
      if (!(*w)->push(r).is_ok()) return 5;
    }
    Status s = (*w)->flush();
    if (!s.is_ok()) {
      std::fprintf(stderr, "child: %s\n", s.message().c_str());
      return 6;
    }
    const std::string line = std::to_string(g) + "\n";
    if (write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 7;
  }
  return 0;
}

// Runs before QTest's main in the re-executed child.
const int kChildHook = [] {
  if (const char* arg = std::getenv(kChildEnv)) _exit(run_child(arg));
  return 0;
}();

}  // namespace

class TestCrashSafety : public QObject {
  Q_OBJECT

 private slots:
  void sigkill_loses_no_reported_batch() {
    (void)kChildHook;
    QTemporaryDir dir;
    const std::string path = dir.filePath("crash.db").toStdString();
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> delay_ms(5, 400);
    std::vector<std::vector<int>> reported;  // per request (run k has request k + 1)
    int killed_running = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int k = 0; k < 25; ++k) {
      int fds[2];
      QVERIFY(pipe(fds) == 0);
      std::vector<std::string> env_strings;
      for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
      env_strings.push_back(std::string(kChildEnv) + "=" + path + " " + std::to_string(k + 1));
      std::vector<char*> envp;
      for (auto& s : env_strings) envp.push_back(s.data());
      envp.push_back(nullptr);
      char exe[] = "/proc/self/exe";
      char* argv[] = {exe, nullptr};
      const pid_t pid = fork();
      QVERIFY(pid >= 0);
      if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execve(exe, argv, envp.data());
        _exit(127);
      }
      close(fds[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
      kill(pid, SIGKILL);
      int wstatus = 0;
      QVERIFY(waitpid(pid, &wstatus, 0) == pid);
      if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) {
        ++killed_running;
      } else {
        QVERIFY2(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0,
                 qPrintable(QString("child failed, status %1").arg(wstatus)));
      }
      std::string out;
      char buf[4096];
      ssize_t n;
      while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
      close(fds[0]);
      std::vector<int> groups;
      size_t p = 0;
      while (true) {
        const size_t nl = out.find('\n', p);
        if (nl == std::string::npos) break;  // a partial line was never fully reported
        groups.push_back(std::stoi(out.substr(p, nl - p)));
        p = nl + 1;
      }
      reported.push_back(std::move(groups));
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(20)) break;
    }
    QVERIFY2(killed_running >= 20, qPrintable(QString("only %1 kills").arg(killed_running)));

    auto db = db::open_store(path);
    QVERIFY2(db.ok(), db.status().message().c_str());
    auto check = (*db)->query_text("PRAGMA integrity_check");
    QVERIFY2(check.ok(), check.status().message().c_str());
    QCOMPARE(QString::fromStdString(*check), QString("ok"));
    auto st = (*db)->prepare("SELECT count(*) FROM routing WHERE request_id = ?1 AND pos = ?2");
    QVERIFY(st.ok());
    int64_t total_reported = 0;
    for (size_t k = 0; k < reported.size(); ++k) {
      for (size_t i = 0; i < reported[k].size(); ++i) {
        QCOMPARE(reported[k][i], static_cast<int>(i));  // ids arrive in order, none skipped
        QVERIFY(st->bind_int(1, static_cast<int64_t>(k + 1)).is_ok());
        QVERIFY(st->bind_int(2, reported[k][i]).is_ok());
        auto row = st->step();
        QVERIFY(row.ok() && *row);
        QCOMPARE(st->column_int(0), int64_t{kRowsPerGroup});
        st->reset();
        ++total_reported;
      }
    }
    qInfo("%d kills, %lld committed groups checked", killed_running,
          static_cast<long long>(total_reported));
    QVERIFY2(total_reported > 0, "no child reported a committed group");
  }
};

QTEST_GUILESS_MAIN(TestCrashSafety)
#include "test_crash_safety.moc"
