// kernels/cuda/rope_math.h (the per-pair RoPE math the CUDA kernel runs) applied on the host to
// every pair reproduces kernels::rope and kernels::rope_yarn BIT FOR BIT, in both modes, at
// several positions, with and without YaRN. Bit equality is the right bar here: the header
// repeats ops.cpp's float operations in the same order (theta by repeated multiplication, the
// same ramp and mscale expressions) and on the host calls the same libm cosf/sinf, so any
// difference is a formula or order drift that would also move the GPU's results. (On the GPU,
// cosf/sinf differ from glibc by an ulp or two; tests/gpu/op_checks.cpp allows for that.)
#include <QtTest>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/cuda/rope_math.h"

using namespace emoe::kernels;

namespace {

// Applies rope_math to n_heads heads of head_dim floats at position pos, pair by pair, the way
// the CUDA kernel does (cos/sin per pair, then every head's pair rotated).
void rope_by_pairs(float* x, int64_t n_heads, int64_t head_dim, int64_t n_dims, int64_t pos,
                   float freq_base, float freq_scale, RopeMode mode, const RopeYarn& yarn) {
  const rope_math::RopeConsts k = rope_math::rope_consts(n_dims, freq_base, freq_scale, yarn);
  for (int64_t i0 = 0; i0 < n_dims; i0 += 2) {
    float c = 0, s = 0;
    rope_math::rope_cos_sin(k, static_cast<float>(pos), i0, &c, &s);
    int64_t a = 0, b = 0;
    rope_math::rope_pair_offsets(mode, n_dims, i0, &a, &b);
    for (int64_t h = 0; h < n_heads; ++h)
      rope_math::rope_rotate(x + h * head_dim + a, x + h * head_dim + b, c, s);
  }
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

QString first_difference(const std::vector<float>& got, const std::vector<float>& want) {
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      return QString("element %1: %2 vs %3").arg(i).arg(got[i], 0, 'g', 9).arg(want[i], 0, 'g', 9);
    }
  }
  return "none";
}

}  // namespace

class TestRopeMath : public QObject {
  Q_OBJECT

 private slots:
  void matchesRopeAndRopeYarn_data() {
    QTest::addColumn<int>("mode");
    QTest::addColumn<int>("n_dims");
    QTest::addColumn<float>("freq_base");
    QTest::addColumn<float>("freq_scale");
    QTest::addColumn<bool>("yarn");
    QTest::addColumn<float>("attn_factor");
    for (RopeMode mode : {RopeMode::Norm, RopeMode::Neox}) {
      const int m = static_cast<int>(mode);
      const char* name = mode == RopeMode::Neox ? "neox" : "norm";
      QTest::newRow(qPrintable(QString("%1 plain").arg(name)))
          << m << 64 << 10000.0f << 1.0f << false << 1.0f;
      QTest::newRow(qPrintable(QString("%1 partial").arg(name)))
          << m << 32 << 1e6f << 1.0f << false << 1.0f;
      QTest::newRow(qPrintable(QString("%1 linear").arg(name)))
          << m << 128 << 10000.0f << 0.25f << false << 1.0f;
      QTest::newRow(qPrintable(QString("%1 attn_factor").arg(name)))
          << m << 64 << 10000.0f << 1.0f << false << 0.7f;
      QTest::newRow(qPrintable(QString("%1 yarn").arg(name)))
          << m << 64 << 10000.0f << 0.25f << true << 1.0f;
      QTest::newRow(qPrintable(QString("%1 yarn 128").arg(name)))
          << m << 128 << 5e5f << 1.0f / 40.0f << true << 1.0f;
      QTest::newRow(qPrintable(QString("%1 yarn rope 64 of 192").arg(name)))
          << m << 64 << 10000.0f << 0.025f << true << 0.9f;
    }
  }

  void matchesRopeAndRopeYarn() {
    QFETCH(int, mode);
    QFETCH(int, n_dims);
    QFETCH(float, freq_base);
    QFETCH(float, freq_scale);
    QFETCH(bool, yarn);
    QFETCH(float, attn_factor);
    const auto rmode = static_cast<RopeMode>(mode);
    RopeYarn y;
    y.attn_factor = attn_factor;
    if (yarn) {
      y.ext_factor = 1.0f;
      y.beta_fast = 32.0f;
      y.beta_slow = 1.0f;
      y.n_ctx_orig = 4096;
    }
    const int64_t n_heads = 3, head_dim = 192;  // rotary part narrower than the head
    std::mt19937 rng(static_cast<unsigned>(mode * 1000 + n_dims));
    std::normal_distribution<float> nd(0.0f, 2.0f);
    for (int64_t pos : {0, 1, 2, 17, 300, 4095, 65000}) {
      std::vector<float> x(static_cast<size_t>(n_heads * head_dim));
      for (float& v : x) v = nd(rng);
      std::vector<float> want = x, got = x;
      rope_yarn(want.data(), n_heads, head_dim, n_dims, pos, freq_base, freq_scale, rmode, y);
      rope_by_pairs(got.data(), n_heads, head_dim, n_dims, pos, freq_base, freq_scale, rmode, y);
      QVERIFY2(same_bits(got, want), qPrintable(QString("rope_yarn at pos %1: first difference %2")
                                                    .arg(pos)
                                                    .arg(first_difference(got, want))));
      if (!yarn && attn_factor == 1.0f) {
        std::vector<float> plain = x;
        rope(plain.data(), n_heads, head_dim, n_dims, pos, freq_base, freq_scale, rmode);
        QVERIFY2(same_bits(got, plain), qPrintable(QString("rope at pos %1: first difference %2")
                                                       .arg(pos)
                                                       .arg(first_difference(got, plain))));
      }
    }
  }

  // The ramp really mixes: with YaRN the low pairs keep the unscaled angle and the high pairs
  // take the interpolated one, so the header is not trivially equal to plain RoPE.
  void yarnDiffersFromLinear() {
    RopeYarn y;
    y.ext_factor = 1.0f;
    y.n_ctx_orig = 4096;
    const rope_math::RopeConsts with = rope_math::rope_consts(64, 10000.0f, 0.25f, y);
    const rope_math::RopeConsts without = rope_math::rope_consts(64, 10000.0f, 0.25f, RopeYarn{});
    QVERIFY(with.corr_lo < with.corr_hi);
    QVERIFY(with.mscale > 1.0f);
    QCOMPARE(without.mscale, 1.0f);
    float c1 = 0, s1 = 0, c2 = 0, s2 = 0;
    rope_math::rope_cos_sin(with, 100.0f, 0, &c1, &s1);
    rope_math::rope_cos_sin(without, 100.0f, 0, &c2, &s2);
    QVERIFY(c1 != c2 || s1 != s2);
  }
};

QTEST_GUILESS_MAIN(TestRopeMath)
#include "test_rope_math.moc"
