// Built only when nvcc is present: the CUDA toolchain compiles and links, and on a machine
// with a GPU a kernel runs. Without a GPU the test skips and says so.
#include <QtTest>

#include "kernels/cuda/cuda_probe.h"

class TestCudaProbe : public QObject {
  Q_OBJECT

 private slots:
  void probe() {
    const emoe::kernels::cuda::ProbeResult r = emoe::kernels::cuda::probe_devices();
    qInfo("CUDA runtime %d: %d device(s): %s", r.runtime_version, r.device_count,
          r.message.c_str());
    QVERIFY(r.runtime_version > 0);
    if (r.device_count == 0) {
      QSKIP(qPrintable("no usable GPU on this machine (" + QString::fromStdString(r.message) +
                       "); GPU checks skipped"));
    }
    QVERIFY(!r.message.empty());
  }
};

QTEST_GUILESS_MAIN(TestCudaProbe)
#include "test_cuda_probe.moc"
