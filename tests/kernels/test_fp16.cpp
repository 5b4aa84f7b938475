// fp16/bf16 conversions against independent references: value decoding by ldexp, nearest-even
// rounding by exhaustive neighbour search in double, and the F16C instructions ggml uses on x86.
#include <QtTest>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/fp16.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

using namespace emoe::kernels;

namespace {

bool is_fp16_nan(uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0; }

// Value of a half from its fields, computed without bit tricks.
double fp16_value(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int e = (h >> 10) & 0x1F;
  const int m = h & 0x3FF;
  if (e == 31) return m ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(m, -24);
  return sign * std::ldexp(1024 + m, e - 25);
}

// Round-to-nearest-even fp32 -> fp16 by comparing against the two neighbouring halves.
uint16_t ref_fp32_to_fp16(float f) {
  if (std::isnan(f)) return 0x7E00;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  // Positive finite halves are ordered like their bit patterns 0x0000..0x7BFF.
  int lo = 0, hi = 0x7BFF;
  if (a >= fp16_value(0x7BFF)) {
    // Beyond max: the next step would be 65536; the midpoint 65520 ties to even = infinity.
    return sign | (a >= 65520.0 ? 0x7C00 : 0x7BFF);
  }
  while (hi - lo > 1) {  // invariant: value(lo) <= a < value(hi)
    const int mid = (lo + hi) / 2;
    if (fp16_value(static_cast<uint16_t>(mid)) <= a)
      lo = mid;
    else
      hi = mid;
  }
  const double dl = a - fp16_value(static_cast<uint16_t>(lo));
  const double dh = fp16_value(static_cast<uint16_t>(hi)) - a;
  int pick = dl < dh ? lo : (dh < dl ? hi : ((lo & 1) == 0 ? lo : hi));
  return static_cast<uint16_t>(sign | pick);
}

uint16_t ref_fp32_to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint16_t lo = static_cast<uint16_t>(u >> 16);
  const uint16_t hi = static_cast<uint16_t>(lo + 1);
  const double a = std::fabs(static_cast<double>(f));
  const double vl = std::fabs(static_cast<double>(std::bit_cast<float>(uint32_t{lo} << 16)));
  // Rounding treats infinity as the next step after the largest finite value, 2^128.
  const double vh = (hi & 0x7FFF) == 0x7F80
                        ? std::ldexp(1.0, 128)
                        : std::fabs(static_cast<double>(std::bit_cast<float>(uint32_t{hi} << 16)));
  const double dl = a - vl, dh = vh - a;
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1) == 0 ? lo : hi;
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) uint16_t hw_fp32_to_fp16(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) float hw_fp16_to_fp32(uint16_t h) { return _cvtsh_ss(h); }
#endif

}  // namespace

class TestFp16 : public QObject {
  Q_OBJECT

 private slots:
  void fp16ToFp32AllValues() {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
      const float f = fp16_to_fp32(static_cast<uint16_t>(h));
      const double want = fp16_value(static_cast<uint16_t>(h));
      if (is_fp16_nan(static_cast<uint16_t>(h))) {
        if (!std::isnan(f)) ++bad;
      } else if (static_cast<double>(f) != want || std::signbit(f) != std::signbit(want)) {
        if (bad++ == 0) qWarning("fp16 0x%04x -> %.9g, want %.9g", h, f, want);
      }
    }
    QCOMPARE(bad, 0);
  }

  void fp16RoundTripAll() {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
      const auto hh = static_cast<uint16_t>(h);
      const uint16_t back = fp32_to_fp16(fp16_to_fp32(hh));
      const bool ok =
          is_fp16_nan(hh) ? (is_fp16_nan(back) && (back & 0x8000) == (hh & 0x8000)) : back == hh;
      if (!ok && bad++ == 0) qWarning("0x%04x -> 0x%04x", h, back);
    }
    QCOMPARE(bad, 0);
  }

  void fp32ToFp16HandPicked() {
    QCOMPARE(fp32_to_fp16(0.0f), uint16_t{0x0000});
    QCOMPARE(fp32_to_fp16(-0.0f), uint16_t{0x8000});
    QCOMPARE(fp32_to_fp16(1.0f), uint16_t{0x3C00});
    QCOMPARE(fp32_to_fp16(-2.0f), uint16_t{0xC000});
    QCOMPARE(fp32_to_fp16(0.1f), uint16_t{0x2E66});         // 0.0999755859375
    QCOMPARE(fp32_to_fp16(3.14159265f), uint16_t{0x4248});  // 3.140625
    QCOMPARE(fp32_to_fp16(65504.0f), uint16_t{0x7BFF});
    QCOMPARE(fp32_to_fp16(65519.996f), uint16_t{0x7BFF});
    QCOMPARE(fp32_to_fp16(65520.0f), uint16_t{0x7C00});  // tie, 0x7BFF is odd -> infinity
    QCOMPARE(fp32_to_fp16(1e6f), uint16_t{0x7C00});
    QCOMPARE(fp32_to_fp16(-INFINITY), uint16_t{0xFC00});
    QCOMPARE(fp32_to_fp16(std::ldexp(1.0f, -24)), uint16_t{0x0001});  // smallest subnormal
    QCOMPARE(fp32_to_fp16(std::ldexp(1.0f, -25)), uint16_t{0x0000});  // tie -> even (zero)
    QCOMPARE(fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), uint16_t{0x0001});
    QCOMPARE(fp32_to_fp16(std::ldexp(3.0f, -25)), uint16_t{0x0002});             // 1.5 ulp tie -> 2
    QCOMPARE(fp32_to_fp16(std::ldexp(1.0f, -14)), uint16_t{0x0400});             // smallest normal
    QCOMPARE(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), uint16_t{0x3C00});      // tie -> even
    QCOMPARE(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), uint16_t{0x3C02});  // tie -> even
    QCOMPARE(fp32_to_fp16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), uint16_t{0x3C01});
    QVERIFY(is_fp16_nan(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN())));
  }

  void fp32ToFp16RandomVsReference() {
    std::mt19937 rng(1234);
    std::uniform_int_distribution<uint32_t> mant(0, (1u << 23) - 1);
    std::uniform_int_distribution<int> exp(127 - 28, 127 + 17);  // below subnormals .. overflow
    int bad = 0;
    for (int i = 0; i < 300000; ++i) {
      const uint32_t bits = (static_cast<uint32_t>(i & 1) << 31) |
                            (static_cast<uint32_t>(exp(rng)) << 23) | mant(rng);
      const float f = std::bit_cast<float>(bits);
      const uint16_t got = fp32_to_fp16(f), want = ref_fp32_to_fp16(f);
      if (got != want && bad++ < 3) qWarning("%a -> 0x%04x want 0x%04x", f, got, want);
    }
    QCOMPARE(bad, 0);
  }

  void fp16MatchesF16C() {
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("f16c")) QSKIP("no F16C");
    std::mt19937 rng(99);
    int bad = 0;
    for (int i = 0; i < 300000; ++i) {
      const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
      if (std::isnan(f)) continue;  // NaN payloads differ and do not matter
      if (fp32_to_fp16(f) != hw_fp32_to_fp16(f)) ++bad;
    }
    for (uint32_t h = 0; h < 65536; ++h) {
      if (is_fp16_nan(static_cast<uint16_t>(h))) continue;
      const float a = fp16_to_fp32(static_cast<uint16_t>(h));
      const float b = hw_fp16_to_fp32(static_cast<uint16_t>(h));
      if (std::bit_cast<uint32_t>(a) != std::bit_cast<uint32_t>(b)) ++bad;
    }
    QCOMPARE(bad, 0);
#else
    QSKIP("not x86-64");
#endif
  }

  void bf16() {
    QCOMPARE(fp32_to_bf16(1.0f), uint16_t{0x3F80});
    QCOMPARE(fp32_to_bf16(-2.5f), uint16_t{0xC020});
    QCOMPARE(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), uint16_t{0x3F80});      // tie -> even
    QCOMPARE(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), uint16_t{0x3F82});  // tie -> even
    QCOMPARE(fp32_to_bf16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)), uint16_t{0x3F81});
    QCOMPARE(fp32_to_bf16(INFINITY), uint16_t{0x7F80});
    QCOMPARE(fp32_to_bf16(std::numeric_limits<float>::max()), uint16_t{0x7F80});  // rounds up
    QCOMPARE(bf16_to_fp32(0x4049), 3.140625f);
    QCOMPARE(bf16_to_fp32(0x8000), -0.0f);
    QVERIFY(std::signbit(bf16_to_fp32(0x8000)));
    const uint16_t nan = fp32_to_bf16(std::bit_cast<float>(0x7F800001u));  // signalling NaN
    QVERIFY(std::isnan(bf16_to_fp32(nan)));  // truncation alone would have made infinity

    int bad = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
      const float f = bf16_to_fp32(static_cast<uint16_t>(h));
      if (std::isnan(f)) continue;
      if (fp32_to_bf16(f) != h) ++bad;
      if (std::bit_cast<uint32_t>(f) != (h << 16)) ++bad;
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 300000; ++i) {
      const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
      if (fp32_to_bf16(f) != ref_fp32_to_bf16(f) && !std::isnan(f) && bad++ < 3) {
        qWarning("%a -> 0x%04x want 0x%04x", f, fp32_to_bf16(f), ref_fp32_to_bf16(f));
      }
    }
    QCOMPARE(bad, 0);
  }
};

QTEST_GUILESS_MAIN(TestFp16)
#include "test_fp16.moc"
