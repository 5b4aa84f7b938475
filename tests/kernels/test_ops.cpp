// rms_norm, rope (NORM and NEOX), softmax, silu_mul, add and axpy against float64 formulas,
// plus hand-worked rotations and ggml's float32 order for RoPE's angles.
#include <QtTest>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/ops.h"

using namespace emoe::kernels;

namespace {

std::vector<float> randn(std::mt19937& rng, int64_t n, float scale = 1.0f) {
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = nd(rng);
  return v;
}

constexpr double kEps = 1.0 / (1 << 24);  // float32 unit roundoff

}  // namespace

class TestOps : public QObject {
  Q_OBJECT

 private slots:
  void rmsNorm() {
    std::mt19937 rng(1);
    for (int64_t n : {1, 7, 128, 4096}) {
      const auto x = randn(rng, n, 3.0f);
      const auto w = randn(rng, n);
      std::vector<float> y(static_cast<size_t>(n)), y0(static_cast<size_t>(n));
      rms_norm(x.data(), w.data(), 1e-5f, n, y.data());
      rms_norm(x.data(), nullptr, 1e-5f, n, y0.data());
      double ss = 0;
      for (float v : x) ss += double{v} * v;
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
      for (int64_t i = 0; i < n; ++i) {
        const double want0 = x[i] * inv;
        const double want = want0 * w[i];
        QVERIFY(std::fabs(y0[i] - want0) <= 8 * kEps * std::fabs(want0) + 1e-30);
        QVERIFY(std::fabs(y[i] - want) <= 8 * kEps * std::fabs(want) + 1e-30);
      }
      auto z = x;  // in place
      rms_norm(z.data(), w.data(), 1e-5f, n, z.data());
      QVERIFY(z == y);
    }
    // Hand-worked: x = (3, 4), eps 0 -> rms = sqrt(12.5); w = (1, 2).
    const float x[2] = {3, 4}, w[2] = {1, 2};
    float y[2];
    rms_norm(x, w, 0.0f, 2, y);
    QCOMPARE(y[0], static_cast<float>(3 / std::sqrt(12.5)));
    QVERIFY(std::fabs(y[1] - 8 / std::sqrt(12.5)) < 1e-6);
  }

  void ropeHandWorked() {
    // pos 0 is the identity.
    std::vector<float> v = {1, 2, 3, 4, 5, 6, 7, 8};
    rope(v.data(), 2, 4, 4, 0, 10000.0f, 1.0f, RopeMode::Norm);
    QCOMPARE(v, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
    // pos 1, NORM, n_dims 4 of head_dim 6: pair (0,1) turns by 1 rad, pair (2,3) by
    // 100^(-2/4) = 0.01 rad (base 100), dims 4 and 5 are untouched.
    std::vector<float> a = {1, 0, 0, 1, 9, 9};
    rope(a.data(), 1, 6, 4, 1, 100.0f, 1.0f, RopeMode::Norm);
    QVERIFY(std::fabs(a[0] - std::cos(1.0)) < 1e-7 && std::fabs(a[1] - std::sin(1.0)) < 1e-7);
    QVERIFY(std::fabs(a[2] + std::sin(0.1)) < 1e-7 && std::fabs(a[3] - std::cos(0.1)) < 1e-7);
    QCOMPARE(a[4], 9.0f);
    QCOMPARE(a[5], 9.0f);
    // NEOX pairs (0,2) and (1,3).
    std::vector<float> b = {1, 0, 0, 1};
    rope(b.data(), 1, 4, 4, 1, 100.0f, 1.0f, RopeMode::Neox);
    QVERIFY(std::fabs(b[0] - std::cos(1.0)) < 1e-7 && std::fabs(b[2] - std::sin(1.0)) < 1e-7);
    QVERIFY(std::fabs(b[1] + std::sin(0.1)) < 1e-7 && std::fabs(b[3] - std::cos(0.1)) < 1e-7);
    // freq_scale multiplies every angle: pos 2 at scale 0.5 equals pos 1.
    std::vector<float> c = {1, 0, 0, 1};
    rope(c.data(), 1, 4, 4, 2, 100.0f, 0.5f, RopeMode::Neox);
    for (int i = 0; i < 4; ++i) QVERIFY(std::fabs(c[i] - b[i]) < 1e-6);
  }

  void ropeVsFloat64() {
    std::mt19937 rng(2);
    for (RopeMode mode : {RopeMode::Norm, RopeMode::Neox}) {
      for (int64_t pos : {1, 17, 511, 4000}) {
        const int64_t heads = 3, hd = 64, nd = 48;
        const double base = 10000.0;
        const auto x = randn(rng, heads * hd);
        auto y = x;
        rope(y.data(), heads, hd, nd, pos, 10000.0f, 1.0f, mode);
        for (int64_t h = 0; h < heads; ++h) {
          for (int64_t i = 0; i < nd / 2; ++i) {
            const int64_t i0 = mode == RopeMode::Norm ? 2 * i : i;
            const int64_t i1 = mode == RopeMode::Norm ? 2 * i + 1 : i + nd / 2;
            const double th = static_cast<double>(pos) * std::pow(base, -2.0 * i / nd);
            const double x0 = x[h * hd + i0], x1 = x[h * hd + i1];
            const double w0 = x0 * std::cos(th) - x1 * std::sin(th);
            const double w1 = x0 * std::sin(th) + x1 * std::cos(th);
            // ggml builds theta by i float32 multiplications: relative error ~ (i + 2) eps.
            const double tol =
                (std::fabs(x0) + std::fabs(x1)) * (th * (i + 3) * kEps * 2 + 8 * kEps);
            QVERIFY2(std::fabs(y[h * hd + i0] - w0) <= tol && std::fabs(y[h * hd + i1] - w1) <= tol,
                     qPrintable(QString("pos %1 i %2").arg(pos).arg(i)));
          }
          for (int64_t d = nd; d < hd; ++d) QCOMPARE(y[h * hd + d], x[h * hd + d]);
        }
      }
    }
  }

  void ropeFollowsGgmlFloat32Angles() {
    // ggml_rope_cache_init: theta_scale = powf(base, -2.0f/n_dims); theta = (float)pos; each
    // pair uses cosf/sinf(freq_scale * theta), then theta *= theta_scale in float32. At large
    // positions this differs from the exact angle by ~1e-3 rad; llama.cpp's numbers carry that
    // difference, so the kernel must reproduce it.
    const int64_t nd = 128, pos = 3000;
    const float fs = 0.25f;
    std::vector<float> x(nd);
    for (int64_t i = 0; i < nd; ++i) x[i] = (i % 2) ? 0.0f : 1.0f;  // (1, 0) in every pair
    rope(x.data(), 1, nd, nd, pos, 10000.0f, fs, RopeMode::Norm);
    const float theta_scale = std::pow(10000.0f, -2.0f / static_cast<float>(nd));
    float theta = static_cast<float>(pos);
    double max_exact_diff = 0;
    for (int64_t i = 0; i < nd / 2; ++i) {
      const float t = fs * theta;
      QVERIFY(std::fabs(x[2 * i] - std::cos(t)) <= 2e-7);
      QVERIFY(std::fabs(x[2 * i + 1] - std::sin(t)) <= 2e-7);
      const double exact = pos * 0.25 * std::pow(10000.0, -2.0 * i / nd);
      max_exact_diff = std::max(max_exact_diff, std::fabs(std::cos(exact) - x[2 * i]));
      theta *= theta_scale;
    }
    QVERIFY(max_exact_diff > 1e-6);  // the float32 order is observable, so this test has teeth
  }

  void softmax() {
    std::mt19937 rng(3);
    for (int64_t n : {1, 2, 8, 100, 32000}) {
      auto x = randn(rng, n, 5.0f);
      x[0] += 50.0f;  // large values must not overflow (max subtraction)
      const auto in = x;
      emoe::kernels::softmax(x.data(), n);
      double mx = in[0], sum = 0;
      for (float v : in) mx = std::max(mx, double{v});
      for (float v : in) sum += std::exp(double{v} - mx);
      double total = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double want = std::exp(double{in[i]} - mx) / sum;
        // x - max is rounded in float32 before exp: relative error up to |x - max| * eps.
        const double tol = (std::fabs(double{in[i]} - mx) + 16) * kEps * want + 1e-40;
        QVERIFY(std::fabs(x[i] - want) <= tol);
        total += x[i];
      }
      QVERIFY(std::fabs(total - 1.0) < 1e-5);
    }
    float t[3] = {0, std::log(2.0f), std::log(5.0f)};  // 1 : 2 : 5
    emoe::kernels::softmax(t, 3);
    QVERIFY(std::fabs(t[0] - 0.125) < 1e-7 && std::fabs(t[1] - 0.25) < 1e-7 &&
            std::fabs(t[2] - 0.625) < 1e-7);
  }

  void siluMulAddAxpy() {
    std::mt19937 rng(4);
    const int64_t n = 1001;
    auto g = randn(rng, n, 4.0f);
    g[0] = -100.0f;  // exp(100) overflows to inf in float: silu must give -0, not NaN
    g[1] = 0.0f;
    const auto u = randn(rng, n);
    std::vector<float> out(n);
    silu_mul(g.data(), u.data(), n, out.data());
    for (int64_t i = 0; i < n; ++i) {
      const double s = g[i] / (1.0 + std::exp(-double{g[i]}));
      const double want = s * u[i];
      QVERIFY2(
          std::fabs(out[i] - want) <= 8 * kEps * std::fabs(want) + 1e-37,
          qPrintable(QString("i %1 g %2 got %3 want %4").arg(i).arg(g[i]).arg(out[i]).arg(want)));
    }
    QCOMPARE(out[1], 0.0f);
    QVERIFY(std::isfinite(out[0]));

    std::vector<float> a = {1, 2, 3}, b = {0.5f, -2, 10}, c(3);
    add(a.data(), b.data(), 3, c.data());
    QCOMPARE(c, (std::vector<float>{1.5f, 0, 13}));
    add(a.data(), b.data(), 3, a.data());  // out aliases a
    QCOMPARE(a, c);
    std::vector<float> y = {1, 1, 1};
    axpy(0.5f, b.data(), 3, y.data());
    QCOMPARE(y, (std::vector<float>{1.25f, 0, 6}));
  }
};

QTEST_GUILESS_MAIN(TestOps)
#include "test_ops.moc"
