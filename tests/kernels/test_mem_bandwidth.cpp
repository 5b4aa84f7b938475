// measure_read_bandwidth_gbs: a plausible positive rate for each ISA's read loop and thread
// count (the value itself depends on the machine, so only sanity bounds are checked).
#include <QtTest>
#include <cmath>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/mem_bandwidth.h"
#include "kernels/cpu/thread_pool.h"

using namespace emoe::kernels;

class TestMemBandwidth : public QObject {
  Q_OBJECT

 private slots:
  void plausibleRates() {
    ThreadPool pool(2);
    for (int threads : {1, 2}) {
      const double gbs = measure_read_bandwidth_gbs(16u << 20, threads, &pool);
      QVERIFY2(std::isfinite(gbs) && gbs > 0.05 && gbs < 10000.0, qPrintable(QString::number(gbs)));
    }
    // No pool: one thread whatever is asked; odd sizes are rounded up to whole pages.
    const double one = measure_read_bandwidth_gbs((4u << 20) + 5, 8, nullptr);
    QVERIFY(std::isfinite(one) && one > 0.05);
    QVERIFY(measure_read_bandwidth_gbs(1, 1, nullptr) > 0.0);
  }
};

QTEST_GUILESS_MAIN(TestMemBandwidth)
#include "test_mem_bandwidth.moc"
