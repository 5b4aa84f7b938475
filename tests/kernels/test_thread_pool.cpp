// ThreadPool: coverage and chunking of parallel_for, thread indices, caller participation,
// persistent workers and many back-to-back small jobs.
#include <QtTest>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "kernels/cpu/thread_pool.h"

using namespace emoe::kernels;

class TestThreadPool : public QObject {
  Q_OBJECT

 private slots:
  void coversEveryIndexOnce() {
    for (int threads = 1; threads <= 5; ++threads) {
      ThreadPool pool(threads);
      QCOMPARE(pool.size(), threads);
      for (int64_t n : {1, 2, 3, 7, 64, 1000, 4097}) {
        for (int64_t grain : {1, 3, 16, 5000}) {
          std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
          std::atomic<bool> overlap{false}, small{false}, bad_thread{false};
          std::vector<std::atomic<int>> busy(static_cast<size_t>(threads));
          std::atomic<int> calls{0};
          pool.parallel_for(n, grain, [&](int64_t b, int64_t e, int t) {
            if (t < 0 || t >= threads) {
              bad_thread = true;
              return;
            }
            if (busy[static_cast<size_t>(t)].fetch_add(1) != 0) overlap = true;
            if (e - b < std::min(grain, n)) small = true;
            for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
            ++calls;
            std::this_thread::yield();
            busy[static_cast<size_t>(t)].fetch_sub(1);
          });
          QVERIFY(!bad_thread);
          QVERIFY2(!overlap, "two chunks ran at once with the same thread index");
          QVERIFY2(!small, "a chunk smaller than grain");
          for (auto& h : hits) QCOMPARE(h.load(), 1);
          QVERIFY(calls <= std::max<int64_t>(1, n / grain));
        }
      }
      pool.parallel_for(0, 1, [&](int64_t, int64_t, int) { QFAIL("called for n = 0"); });
    }
  }

  void singleThreadRunsInline() {
    ThreadPool pool(1);
    const auto me = std::this_thread::get_id();
    bool inline_call = false;
    pool.parallel_for(100, 1, [&](int64_t b, int64_t e, int t) {
      inline_call = std::this_thread::get_id() == me && b == 0 && e == 100 && t == 0;
    });
    QVERIFY(inline_call);
  }

  void workersArePersistentAndCallerTakesPart() {
    ThreadPool pool(3);
    std::mutex mu;
    std::set<std::thread::id> ids;
    bool caller_ran = false;
    const auto me = std::this_thread::get_id();
    for (int rep = 0; rep < 200; ++rep) {
      pool.parallel_for(3000, 1, [&](int64_t, int64_t, int t) {
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(std::this_thread::get_id());
        if (std::this_thread::get_id() == me) {
          caller_ran = true;
          if (t != 0) QFAIL("the caller must run as thread 0");
        }
      });
    }
    QVERIFY(caller_ran);
    QVERIFY(ids.size() <= 3);  // the caller and two workers, never a new thread per call
  }

  void manySmallJobs() {
    ThreadPool pool(2);
    std::atomic<int64_t> sum{0};
    QElapsedTimer timer;
    timer.start();
    const int jobs = 20000;
    for (int i = 0; i < jobs; ++i) {
      pool.parallel_for(64, 8, [&](int64_t b, int64_t e, int) {
        int64_t s = 0;
        for (int64_t k = b; k < e; ++k) s += k;
        sum += s;
      });
    }
    QCOMPARE(sum.load(), int64_t{jobs} * (63 * 64 / 2));
    // Generous (the test machine is shared): ~20000 dispatches must not take seconds.
    QVERIFY2(timer.elapsed() < 5000, qPrintable(QString("%1 ms").arg(timer.elapsed())));
  }

  void createAndDestroy() {
    for (int i = 0; i < 50; ++i) {
      ThreadPool pool(1 + i % 4);
      if (i % 2) {
        std::atomic<int> c{0};
        pool.parallel_for(10, 1, [&](int64_t b, int64_t e, int) { c += static_cast<int>(e - b); });
        QCOMPARE(c.load(), 10);
      }
    }
  }
};

QTEST_GUILESS_MAIN(TestThreadPool)
#include "test_thread_pool.moc"
