// Every GPU check (tests/gpu/gpu_check.h), one data row each, run two ways: against the host
// reference device (always; CI must pass these) and against CUDA device 0 (skipped, saying
// why, where no GPU is usable). Also checks the reference device's own stream semantics, since
// the other checks rely on them to expose missing waits.
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quantize.h"
#include "tests/gpu/gpu_check.h"
#include "tests/gpu/reference_device.h"

using emoe::gpucheck::CheckContext;
using emoe::gpucheck::CheckResult;
using emoe::gpucheck::NamedCheck;
namespace gpu = emoe::kernels::gpu;
namespace kn = emoe::kernels;

class TestGpuChecks : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    checks_ = emoe::gpucheck::all_checks();
    gpu::OpenResult opened = gpu::open_device(0);
    cuda_ = opened.device;
    if (!cuda_) no_gpu_ = QString::fromStdString(opened.status.message());
  }

  // The copy stream is deferred: a copy reads its source only once someone waits for it.
  void referenceDeviceDefersCopies() {
    auto dev = emoe::gpucheck::make_reference_device(1 << 20);
    void* d = nullptr;
    QVERIFY(dev->malloc_device(1000, &d).ok());
    std::vector<uint8_t> host(1000, 1), back(1000);
    gpu::Event e = nullptr;
    QVERIFY(dev->create_event(&e).ok());
    QVERIFY(dev->copy_async(d, host.data(), host.size(), gpu::StreamId::Copy).ok());
    std::fill(host.begin(), host.end(), 2);  // the staging buffer reused too early
    QVERIFY(dev->record(e, gpu::StreamId::Copy).ok());
    QVERIFY(dev->download(back.data(), d, back.size()).ok());
    QCOMPARE(back[0], uint8_t{0xFF});  // not copied yet; fresh memory is all ones
    float ms = 0;
    QVERIFY(!dev->elapsed_ms(e, e, &ms).ok());  // not reached yet
    QVERIFY(dev->wait(gpu::StreamId::Compute, e).ok());
    QVERIFY(dev->download(back.data(), d, back.size()).ok());
    QCOMPARE(back[0], uint8_t{2});
    QCOMPARE(back[999], uint8_t{2});
    QVERIFY(dev->elapsed_ms(e, e, &ms).ok());
    QCOMPARE(ms, 0.0f);

    // A later copy stays queued until sync_stream(Copy).
    QVERIFY(dev->memset_async(d, 7, 10, gpu::StreamId::Copy).ok());
    QVERIFY(dev->download(back.data(), d, 10).ok());
    QCOMPARE(back[0], uint8_t{2});
    QVERIFY(dev->sync_stream(gpu::StreamId::Copy).ok());
    QVERIFY(dev->download(back.data(), d, 10).ok());
    QCOMPARE(back[0], uint8_t{7});
    dev->destroy_event(e);
    dev->free_device(d);
  }

  void referenceDeviceAccountsMemory() {
    auto dev = emoe::gpucheck::make_reference_device(1 << 20);
    void* a = nullptr;
    QVERIFY(dev->malloc_device(1000, &a).ok());
    QCOMPARE(reinterpret_cast<uintptr_t>(a) % 256, uintptr_t{0});
    QCOMPARE(dev->allocated_bytes(), uint64_t{1000});
    uint64_t free_bytes = 0, total = 0;
    QVERIFY(dev->mem_info(&free_bytes, &total).ok());
    QCOMPARE(total, uint64_t{1} << 20);
    QCOMPARE(free_bytes, total - 1000);
    void* big = nullptr;
    const gpu::GpuStatus st = dev->malloc_device(uint64_t{2} << 20, &big);
    QVERIFY(!st.ok());
    QVERIFY2(st.message().find("cudaMalloc") != std::string::npos, st.message().c_str());
    dev->free_device(a);
    QCOMPARE(dev->allocated_bytes(), uint64_t{0});
  }

  // Kernels refuse host pointers and out-of-range extents, naming the call and argument.
  void referenceDeviceRejectsHostPointers() {
    auto dev = emoe::gpucheck::make_reference_device();
    std::vector<float> host(16);
    gpu::GpuStatus st = dev->add(host.data(), host.data(), 16, host.data());
    QVERIFY(!st.ok());
    QVERIFY2(st.message().rfind("add: a", 0) == 0, st.message().c_str());
    void* d = nullptr;
    QVERIFY(dev->malloc_device(64, &d).ok());
    st = dev->upload(d, host.data(), 65);
    QVERIFY2(!st.ok(), "an upload past the allocation's end must fail");
    dev->free_device(d);
  }

  // matmul against the CPU kernel and against a float64 loop over the exact dequantized weights
  // and the activations as the CPU's dot products see them (quantized to Q8_0 and decoded).
  void referenceDeviceMatmul() {
    auto dev = emoe::gpucheck::make_reference_device();
    const int64_t rows = 8, cols = 64, nt = 3;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    std::vector<float> wf(rows * cols), x(nt * cols);
    for (float& v : wf) v = nd(rng);
    for (float& v : x) v = nd(rng);
    const uint64_t rb = *kn::row_bytes(kn::TensorType::Q8_0, cols);
    std::vector<uint8_t> wq(rows * rb);
    for (int64_t r = 0; r < rows; ++r) {
      QVERIFY(
          kn::quantize_row(kn::TensorType::Q8_0, wf.data() + r * cols, wq.data() + r * rb, cols));
    }
    const kn::MatrixView host_w{kn::TensorType::Q8_0, rows, cols, rb, wq.data()};
    std::vector<float> ycpu(nt * rows), ydev(nt * rows), wdq(cols);
    kn::matmul(host_w, x.data(), nt, cols, ycpu.data(), rows, nullptr);
    void *dw = nullptr, *dx = nullptr, *dy = nullptr;
    QVERIFY(dev->malloc_device(wq.size(), &dw).ok());
    QVERIFY(dev->malloc_device(x.size() * sizeof(float), &dx).ok());
    QVERIFY(dev->malloc_device(ydev.size() * sizeof(float), &dy).ok());
    QVERIFY(dev->upload(dw, wq.data(), wq.size()).ok());
    QVERIFY(dev->upload(dx, x.data(), x.size() * sizeof(float)).ok());
    kn::MatrixView w = host_w;
    w.data = dw;
    QVERIFY(dev->matmul(w, static_cast<float*>(dx), nt, cols, static_cast<float*>(dy), rows).ok());
    QVERIFY(dev->download(ydev.data(), dy, ydev.size() * sizeof(float)).ok());
    QVERIFY(emoe::gpucheck::normalised_max_error(ydev.data(), ycpu.data(), nt * rows) < 1e-6);
    std::vector<float> xq(nt * cols);
    std::vector<uint8_t> xb(*kn::row_bytes(kn::TensorType::Q8_0, cols));
    for (int64_t t = 0; t < nt; ++t) {
      kn::quantize_activation_row(kn::TensorType::Q8_0, x.data() + t * cols, xb.data(), cols);
      QVERIFY(kn::dequantize_row(kn::TensorType::Q8_0, xb.data(), xq.data() + t * cols, cols));
    }
    for (int64_t r = 0; r < rows; ++r) {
      QVERIFY(kn::dequantize_row(kn::TensorType::Q8_0, wq.data() + r * rb, wdq.data(), cols));
      for (int64_t t = 0; t < nt; ++t) {
        double sum = 0;
        for (int64_t c = 0; c < cols; ++c) sum += double(wdq[c]) * xq[t * cols + c];
        QCOMPARE(ydev[t * rows + r], static_cast<float>(sum));
      }
    }
    dev->free_device(dw);
    dev->free_device(dx);
    dev->free_device(dy);
  }

  void reference_data() { add_rows(); }
  void reference() {
    QFETCH(int, index);
    const NamedCheck& check = checks_[static_cast<size_t>(index)];
    // A fresh device per check: nothing carries over, and memory left behind is a leak.
    auto dev = emoe::gpucheck::make_reference_device();
    const CheckResult result = run(check, *dev, true);
    QString failures = describe_failures(result);
    if (dev->allocated_bytes() != 0) {
      failures += QString("\n  - %1 device bytes leaked").arg(dev->allocated_bytes());
    }
    if (!failures.isEmpty()) QFAIL(qPrintable(QString::fromStdString(check.name) + failures));
    if (result.skipped()) QSKIP(result.skip_reason().c_str());
  }

  void cuda_data() { add_rows(); }
  void cuda() {
    QFETCH(int, index);
    if (!cuda_) QSKIP(qPrintable("no usable GPU on this machine: " + no_gpu_));
    const NamedCheck& check = checks_[static_cast<size_t>(index)];
    const CheckResult result = run(check, *cuda_, false);
    const QString failures = describe_failures(result);
    if (!failures.isEmpty()) QFAIL(qPrintable(QString::fromStdString(check.name) + failures));
    if (result.skipped()) QSKIP(result.skip_reason().c_str());
  }

 private:
  void add_rows() {
    QTest::addColumn<int>("index");
    for (size_t i = 0; i < checks_.size(); ++i) {
      QTest::newRow(checks_[i].name.c_str()) << static_cast<int>(i);
    }
  }

  // Runs one check with a scratch directory of its own, printing its notes.
  static CheckResult run(const NamedCheck& check, gpu::Device& device, bool is_reference) {
    CheckResult result;
    QTemporaryDir scratch;
    if (!result.expect(scratch.isValid(), "cannot create a scratch directory")) return result;
    const CheckContext ctx{device, is_reference, EMOE_GPU_CHECK_DATA_DIR,
                           scratch.path().toStdString()};
    check.run(ctx, result);
    for (const std::string& n : result.notes()) qInfo("%s: %s", check.name.c_str(), n.c_str());
    return result;
  }

  static QString describe_failures(const CheckResult& r) {
    QString all;
    for (const std::string& f : r.failures()) all += "\n  - " + QString::fromStdString(f);
    return all;
  }

  std::vector<NamedCheck> checks_;
  std::shared_ptr<gpu::Device> cuda_;
  QString no_gpu_;
};

QTEST_GUILESS_MAIN(TestGpuChecks)
#include "test_gpu_checks.moc"
