// K-quants (Q2_K..Q6_K) and Q8_K activations against independent references written here from
// ggml's block layouts (ggml-common.h, QK_K = 256):
//   Q2_K 84 B: scales[16] (low nibble scale, high nibble min, per 16), qs[64], d, dmin (fp16);
//   Q3_K 110 B: hmask[32], qs[64], scales[12] (sixteen 6-bit, offset 32), d;
//   Q4_K 144 B: d, dmin, scales[12] (eight 6-bit scales + eight 6-bit mins), qs[128];
//   Q5_K 176 B: d, dmin, scales[12], qh[32], qs[128];
//   Q6_K 210 B: ql[128], qh[64], scales[16] (int8), d;
//   Q8_K 292 B: float d, int8 qs[256], int16 bsums[16].
// Element e of a super-block sits, for the 2-bit types, in bits 2*((e%128)/32) of
// qs[32*(e/128) + e%32]; Q3_K's high bit is bit e/32 of hmask[e%32]; the 4-bit types keep
// element e in nibble (e/32)%2 of qs[32*(e/64) + e%32] (Q5_K's fifth bit: bit e/32 of
// qh[e%32]); Q6_K keeps its low nibble in ql[64*(e/128) + 32*((e/32)%2) + e%32], high nibble
// when (e%128) >= 64, and its top two bits in bits 2*((e%128)/32) of qh[32*(e/128) + e%32].
#include <QtTest>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/vec_dot.h"
#include "kernels/tensor_type.h"

using namespace emoe::kernels;

namespace {

using Bytes = std::vector<unsigned char>;

const TensorType kTypes[] = {TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
                             TensorType::Q6_K};

QString tname(TensorType t) {
  return QString::fromLatin1(type_name(t).data(), static_cast<int>(type_name(t).size()));
}

double half_at(const unsigned char* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}
void put_half(unsigned char* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// Byte offsets of d / dmin in each block.
size_t d_offset(TensorType t) {
  switch (t) {
    case TensorType::Q2_K:
      return 80;
    case TensorType::Q3_K:
      return 108;
    case TensorType::Q6_K:
      return 208;
    default:
      return 0;
  }
}
bool has_dmin(TensorType t) {
  return t == TensorType::Q2_K || t == TensorType::Q4_K || t == TensorType::Q5_K;
}
size_t dmin_offset(TensorType t) { return t == TensorType::Q2_K ? 82 : 2; }

// One element of a K-quant super-block, decoded in float64: value = scale * q - min, where the
// caller also gets the step (the value of one quant) for error bounds.
struct Elem {
  double value, step, min;
};

// 6-bit scale/min j (0..7) of Q4_K/Q5_K: j < 4 in the low six bits of bytes j / j+4; j >= 4 in
// the nibbles of byte j+4 plus the top two bits of bytes j-4 / j.
void scale_min_6bit(const unsigned char* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] % 64;
    m = s[j + 4] % 64;
  } else {
    sc = s[j + 4] % 16 + 16 * (s[j - 4] / 64);
    m = s[j + 4] / 16 + 16 * (s[j] / 64);
  }
}

Elem decode(TensorType t, const unsigned char* b, int e) {
  const int lane32 = e % 32, chunk = e / 32, half128 = e / 128, pos = (e % 128) / 32;
  switch (t) {
    case TensorType::Q2_K: {
      const double d = half_at(b + 80), dmin = half_at(b + 82);
      const int sc = b[e / 16];
      const int q = (b[16 + 32 * half128 + lane32] >> (2 * pos)) & 3;
      const double step = d * (sc % 16), mn = dmin * (sc / 16);
      return {step * q - mn, step, mn};
    }
    case TensorType::Q3_K: {
      const double d = half_at(b + 108);
      const unsigned char* s = b + 96;
      const int k = e / 16;
      const int low4 = k < 8 ? s[k] % 16 : s[k - 8] / 16;
      const int high2 = (s[8 + k % 4] >> (2 * (k / 4))) % 4;
      const int sc = low4 + 16 * high2 - 32;
      const int lo = (b[32 + 32 * half128 + lane32] >> (2 * pos)) & 3;
      const bool hbit = (b[lane32] >> chunk) & 1;
      const int q = hbit ? lo : lo - 4;
      return {d * sc * q, std::fabs(d * sc), 0.0};
    }
    case TensorType::Q4_K:
    case TensorType::Q5_K: {
      const bool five = t == TensorType::Q5_K;
      const double d = half_at(b), dmin = half_at(b + 2);
      int sc, m;
      scale_min_6bit(b + 4, chunk, sc, m);
      const unsigned char* qs = b + (five ? 48 : 16);
      int q = (qs[32 * (e / 64) + lane32] >> (4 * (chunk % 2))) % 16;
      if (five) q += 16 * ((b[16 + lane32] >> chunk) & 1);
      return {d * sc * q - dmin * m, d * sc, dmin * m};
    }
    case TensorType::Q6_K: {
      const double d = half_at(b + 208);
      const int sc = static_cast<int8_t>(b[192 + e / 16]);
      const int low = (b[64 * half128 + 32 * (pos % 2) + lane32] >> (pos >= 2 ? 4 : 0)) % 16;
      const int high = (b[128 + 32 * half128 + lane32] >> (2 * pos)) % 4;
      const int q = low + 16 * high - 32;
      return {d * sc * q, std::fabs(d * sc), 0.0};
    }
    default:
      return {0, 0, 0};
  }
}

// Float64 values of a Q8_K row.
std::vector<double> decode_q8k(const Bytes& x, int64_t n, std::vector<int>* q = nullptr) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t b = 0; b < n / 256; ++b) {
    float d;
    std::memcpy(&d, x.data() + 292 * b, 4);
    for (int j = 0; j < 256; ++j) {
      const int qq = static_cast<int8_t>(x[292 * b + 4 + j]);
      v[static_cast<size_t>(256 * b + j)] = double{d} * qq;
      if (q) q->push_back(qq);
    }
  }
  return v;
}

// Random super-blocks: every bit pattern in the quants and scales, sane d and dmin.
Bytes random_blocks(TensorType t, int64_t nb, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const size_t bs = static_cast<size_t>(type_traits(t)->type_size);
  Bytes b(bs * static_cast<size_t>(nb));
  for (unsigned char& c : b) c = static_cast<unsigned char>(rng());
  for (int64_t i = 0; i < nb; ++i) {
    put_half(b.data() + i * bs + d_offset(t), 0.01f * nd(rng));
    if (has_dmin(t)) put_half(b.data() + i * bs + dmin_offset(t), 0.01f * nd(rng));
  }
  return b;
}

Bytes q8k_row(TensorType w, const std::vector<float>& x) {
  Bytes b(*row_bytes(vec_dot_type(w), static_cast<int64_t>(x.size())));
  quantize_activation_row(w, x.data(), b.data(), static_cast<int64_t>(x.size()));
  return b;
}

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (i <= detected_isa()) v.push_back(i);
  }
  return v;
}

}  // namespace

class TestKQuants : public QObject {
  Q_OBJECT

 private slots:
  void cleanup() { set_active_isa(detected_isa()); }

  void typeTable() {
    const int64_t sizes[] = {84, 110, 144, 176, 210};
    for (int i = 0; i < 5; ++i) {
      const TypeTraits* tr = type_traits(kTypes[i]);
      QVERIFY(tr->compute);
      QCOMPARE(tr->block_size, int64_t{256});
      QCOMPARE(tr->type_size, sizes[i]);
      QCOMPARE(vec_dot_type(kTypes[i]), TensorType::Q8_K);
    }
    QCOMPARE(type_traits(TensorType::Q8_K)->type_size, int64_t{292});
    QVERIFY(!type_traits(TensorType::Q8_K)->compute);  // an activation format only
  }

  void dequantizeVsFloat64Decoder() {
    // Random blocks, so every quant, scale and high-bit pattern is met; ggml's float32 formula
    // (d*sc rounded, then one FMA with the min) is within a few float32 roundings of the exact
    // value.
    std::mt19937 rng(81);
    for (TensorType t : kTypes) {
      const size_t bs = static_cast<size_t>(type_traits(t)->type_size);
      for (int64_t nb : {1, 3, 16}) {
        const Bytes b = random_blocks(t, nb, rng);
        std::vector<float> got(static_cast<size_t>(256 * nb));
        QVERIFY(dequantize_row(t, b.data(), got.data(), 256 * nb));
        for (int64_t i = 0; i < nb; ++i) {
          for (int e = 0; e < 256; ++e) {
            const Elem want = decode(t, b.data() + i * bs, e);
            const double g = got[static_cast<size_t>(256 * i + e)];
            const double tol =
                std::ldexp(1.0, -22) *
                    (std::fabs(want.value) + 64 * std::fabs(want.step) + std::fabs(want.min)) +
                1e-30;
            QVERIFY2(std::fabs(g - want.value) <= tol,
                     qPrintable(QString("%1 block %2 elem %3: %4 vs %5")
                                    .arg(tname(t))
                                    .arg(i)
                                    .arg(e)
                                    .arg(g, 0, 'g', 9)
                                    .arg(want.value, 0, 'g', 17)));
          }
        }
      }
    }
  }

  void q8kActivationsByHand() {
    // The value of largest magnitude is -127, so iscale = -127/-127 = 1 and d = 1/iscale = 1:
    // the quants are the inputs rounded half to even.
    std::vector<float> x(256, 0.0f);
    x[0] = -127.0f;
    const float in[] = {2.5f, 3.5f, -2.5f, 0.49f, 126.5f, -126.5f, 127.0f};
    const int want[] = {2, 4, -2, 0, 126, -126, 127};
    for (int i = 0; i < 7; ++i) x[static_cast<size_t>(1 + i)] = in[i];
    const Bytes b = q8k_row(TensorType::Q4_K, x);
    float d;
    std::memcpy(&d, b.data(), 4);
    QCOMPARE(d, 1.0f);
    QCOMPARE(static_cast<int8_t>(b[4]), int8_t{-127});
    for (int i = 0; i < 7; ++i) QCOMPARE(static_cast<int>(static_cast<int8_t>(b[5 + i])), want[i]);
    int16_t bs0;
    std::memcpy(&bs0, b.data() + 260, 2);
    QCOMPARE(int{bs0}, -127 + 2 + 4 - 2 + 0 + 126 - 126 + 127);
    // The first value of largest magnitude sets the sign of d: +2 before -2 gives d < 0.
    std::vector<float> y(256, 0.5f);
    y[3] = 2.0f;
    y[9] = -2.0f;
    const Bytes c = q8k_row(TensorType::Q6_K, y);
    std::memcpy(&d, c.data(), 4);
    QCOMPARE(d, 2.0f / -127.0f);
    QCOMPARE(static_cast<int8_t>(c[4 + 3]), int8_t{-127});
    QCOMPARE(static_cast<int8_t>(c[4 + 9]), int8_t{127});
    // An all-zero block stores d = 0, zero quants and zero sums.
    const Bytes z = q8k_row(TensorType::Q2_K, std::vector<float>(256, 0.0f));
    for (unsigned char v : z) QCOMPARE(int{v}, 0);
  }

  void q8kActivationsRandom() {
    // Every quant within half a step of its input, bsums the sums of 16 quants.
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 3.0f);
    std::vector<float> x(1024);
    for (float& v : x) v = nd(rng);
    const Bytes b = q8k_row(TensorType::Q5_K, x);
    std::vector<int> q;
    const std::vector<double> v = decode_q8k(b, 1024, &q);
    for (int blk = 0; blk < 4; ++blk) {
      float d;
      std::memcpy(&d, b.data() + 292 * blk, 4);
      for (int j = 0; j < 256; ++j) {
        const size_t i = static_cast<size_t>(256 * blk + j);
        QVERIFY(std::fabs(v[i] - x[i]) <= 0.5 * std::fabs(d) * (1 + 1e-5));
        QVERIFY(q[i] >= -127 && q[i] <= 127);
      }
      for (int k = 0; k < 16; ++k) {
        int16_t s;
        std::memcpy(&s, b.data() + 292 * blk + 260 + 2 * k, 2);
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += q[static_cast<size_t>(256 * blk + 16 * k + l)];
        QCOMPARE(int{s}, sum);
      }
    }
  }

  void quantizeRoundTrip() {
    // The writer's quantizers: each element within half a step (types with a minimum) or one
    // step (signed types, whose top level is clipped) of its input, steps read back with the
    // float64 decoder; and an RMS error that orders the types by bit width.
    // Measured 0.43 / 0.20 / 0.098 / 0.048 / 0.027 (8x outliers every 97 values included).
    const double rms_limit[] = {0.50, 0.23, 0.115, 0.056, 0.031};  // relative to the input RMS
    std::mt19937 rng(13);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int ti = 0; ti < 5; ++ti) {
      const TensorType t = kTypes[ti];
      const size_t bs = static_cast<size_t>(type_traits(t)->type_size);
      const int64_t nb = 64;
      std::vector<float> x(static_cast<size_t>(256 * nb));
      for (size_t i = 0; i < x.size(); ++i) {
        x[i] = nd(rng) * (i % 97 == 0 ? 8.0f : 1.0f) * (i / 256 == 5 ? 0.0f : 1.0f);
      }
      Bytes b(bs * static_cast<size_t>(nb));
      QVERIFY(quantize_row(t, x.data(), b.data(), 256 * nb));
      std::vector<float> y(x.size());
      QVERIFY(dequantize_row(t, b.data(), y.data(), 256 * nb));
      const bool with_min = has_dmin(t);
      double err2 = 0, sig2 = 0;
      for (int64_t i = 0; i < nb; ++i) {
        for (int e = 0; e < 256; ++e) {
          const size_t k = static_cast<size_t>(256 * i + e);
          const Elem el = decode(t, b.data() + i * bs, e);
          const double err = std::fabs(double{y[k]} - x[k]);
          const double bound = (with_min ? 0.5 : 1.0) * std::fabs(el.step) * (1 + 1e-4) +
                               1e-6 * (std::fabs(x[k]) + std::fabs(el.min));
          QVERIFY2(err <= bound, qPrintable(QString("%1 block %2 elem %3: x %4 got %5 step %6")
                                                .arg(tname(t))
                                                .arg(i)
                                                .arg(e)
                                                .arg(double{x[k]})
                                                .arg(double{y[k]})
                                                .arg(el.step)));
          err2 += err * err;
          sig2 += double{x[k]} * x[k];
        }
      }
      const double rel = std::sqrt(err2 / sig2);
      qInfo("%s round trip: RMS error %.4f of the input RMS", qPrintable(tname(t)), rel);
      QVERIFY2(rel <= rms_limit[ti], qPrintable(tname(t)));
      for (int e = 0; e < 256; ++e) QCOMPARE(y[static_cast<size_t>(256 * 5 + e)], 0.0f);
    }
  }

  void vecDotAllIsasVsScalarAndFloat64() {
    // Every ISA gives the scalar reference's bits (ggml's AVX2 float32 order), and the result is
    // within float32 rounding of the float64 dot of the decoded operands: with S the sum of
    // |w_e x_e| plus the minimum terms, nb super-blocks and eight lanes, each of the
    // 2 nb + 12 roundings on a path to the result is at most one unit roundoff of S.
    std::mt19937 rng(2025);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    int checked = 0;
    for (TensorType t : kTypes) {
      const size_t bs = static_cast<size_t>(type_traits(t)->type_size);
      for (int64_t nb : {1, 2, 3, 4, 7, 16, 33}) {
        for (int rep = 0; rep < 4; ++rep) {
          const int64_t n = 256 * nb;
          const Bytes w = random_blocks(t, nb, rng);
          std::vector<float> xf(static_cast<size_t>(n));
          for (float& v : xf) v = nd(rng) * (rep == 3 ? 1e-3f : 1.0f);
          const Bytes x = q8k_row(t, xf);
          const std::vector<double> xv = decode_q8k(x, n);
          double ref = 0, abs_sum = 0;
          for (int64_t i = 0; i < nb; ++i) {
            for (int e = 0; e < 256; ++e) {
              const Elem el = decode(t, w.data() + i * bs, e);
              const double xe = xv[static_cast<size_t>(256 * i + e)];
              ref += el.value * xe;
              abs_sum += std::fabs((el.value + el.min) * xe) + std::fabs(el.min * xe);
            }
          }
          const double tol = (2.0 * nb + 12) * std::ldexp(1.0, -24) * abs_sum + 1e-30;
          const float scalar = vec_dot_isa(Isa::Scalar, t, n, w.data(), x.data());
          for (Isa isa : isas()) {
            const float got = vec_dot_isa(isa, t, n, w.data(), x.data());
            const QString what = QString("%1 n=%2 %3: got %4 scalar %5 want %6 tol %7")
                                     .arg(tname(t))
                                     .arg(n)
                                     .arg(QString::fromLatin1(isa_name(isa).data()))
                                     .arg(double{got}, 0, 'g', 9)
                                     .arg(double{scalar}, 0, 'g', 9)
                                     .arg(ref, 0, 'g', 12)
                                     .arg(tol);
            QVERIFY2(std::memcmp(&got, &scalar, 4) == 0, qPrintable(what));
            QVERIFY2(std::fabs(got - ref) <= tol, qPrintable(what));
            ++checked;
          }
        }
      }
    }
    QVERIFY(checked >= 140);
  }

  void extremeQuants() {
    // Largest weights against +-127 activations reach the widest int16 pair sums of the
    // maddubs path (Q6_K: 2 * 31 * 127 after the offset; Q5_K: 2 * 31 * 127); exact results.
    for (TensorType t : kTypes) {
      const size_t bs = static_cast<size_t>(type_traits(t)->type_size);
      Bytes w(bs, 0xFF);
      put_half(w.data() + d_offset(t), 1.0f);
      if (has_dmin(t)) put_half(w.data() + dmin_offset(t), 0.0f);
      if (t == TensorType::Q6_K) {
        for (int k = 0; k < 16; ++k) w[192 + k] = 1;  // scale 1
      }
      std::vector<float> xf(256);
      for (int e = 0; e < 256; ++e) xf[static_cast<size_t>(e)] = e % 3 == 0 ? -127.0f : 127.0f;
      const Bytes x = q8k_row(t, xf);
      const std::vector<double> xv = decode_q8k(x, 256);
      double want = 0;
      for (int e = 0; e < 256; ++e)
        want += decode(t, w.data(), e).value * xv[static_cast<size_t>(e)];
      for (Isa isa : isas()) {
        QCOMPARE(double{vec_dot_isa(isa, t, 256, w.data(), x.data())}, want);
      }
    }
  }

  void tileKernelsMatchScalar() {
    // The GEMV/GEMM tiles of every SIMD path give each output the scalar reference's bits, over
    // shapes that exercise the row and token groupings and their leftovers, with row strides
    // and output strides wider than the data (only the tile is written).
    std::mt19937 rng(17);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    int checked = 0;
    for (TensorType t : kTypes) {
      const VecDotFn scalar = vec_dot_fn(Isa::Scalar, t);
      QVERIFY(scalar != nullptr);
      for (Isa isa : isas()) {
        const VecDotTileFn tile = vec_dot_tile_fn(isa, t);
        if (isa == Isa::Scalar) {
          QVERIFY(tile == nullptr);
          continue;
        }
        QVERIFY(tile != nullptr);
        for (int64_t nb : {1, 3, 16}) {
          for (int64_t nr : {1, 2, 3, 4, 5, 9}) {
            const int64_t nt = 1 + static_cast<int64_t>(rng() % 10);
            const int64_t n = 256 * nb;
            const size_t ws = *row_bytes(t, n) + 2 * (rng() % 3);
            const size_t xs = *row_bytes(TensorType::Q8_K, n) + 4 * (rng() % 2);
            Bytes w(ws * static_cast<size_t>(nr)), x(xs * static_cast<size_t>(nt));
            for (int64_t r = 0; r < nr; ++r) {
              const Bytes row = random_blocks(t, nb, rng);
              std::memcpy(w.data() + r * ws, row.data(), row.size());
            }
            for (int64_t k = 0; k < nt; ++k) {
              std::vector<float> xf(static_cast<size_t>(n));
              for (float& v : xf) v = nd(rng);
              const Bytes row = q8k_row(t, xf);
              std::memcpy(x.data() + k * xs, row.data(), row.size());
            }
            const int64_t os = nr + 2;
            std::vector<float> out(static_cast<size_t>(os * nt), -7.0f);
            tile(n, w.data(), ws, nr, x.data(), xs, nt, out.data(), os);
            for (int64_t k = 0; k < nt; ++k) {
              for (int64_t r = 0; r < os; ++r) {
                const float got = out[static_cast<size_t>(k * os + r)];
                if (r >= nr) {
                  QCOMPARE(got, -7.0f);
                  continue;
                }
                const float want = scalar(n, w.data() + r * ws, x.data() + k * xs);
                QVERIFY2(std::memcmp(&got, &want, 4) == 0,
                         qPrintable(QString("%1 %2 nb=%3 nr=%4 nt=%5 r=%6 t=%7: %8 vs %9")
                                        .arg(tname(t))
                                        .arg(QString::fromLatin1(isa_name(isa).data()))
                                        .arg(nb)
                                        .arg(nr)
                                        .arg(nt)
                                        .arg(r)
                                        .arg(k)
                                        .arg(double{got}, 0, 'g', 9)
                                        .arg(double{want}, 0, 'g', 9)));
                ++checked;
              }
            }
          }
        }
      }
    }
    if (detected_isa() >= Isa::Avx2) QVERIFY(checked > 500);
  }

  void matmulUsesTheDot() {
    // GEMV and GEMM over a K-quant matrix give each output the dot product's bits.
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (TensorType t : kTypes) {
      const int64_t rows = 11, cols = 512, ntok = 5;
      const size_t rb = *row_bytes(t, cols);
      Bytes w = random_blocks(t, rows * 2, rng);
      std::vector<float> x(static_cast<size_t>(ntok * cols));
      for (float& v : x) v = nd(rng);
      const MatrixView mv{t, rows, cols, rb, w.data()};
      std::vector<float> y(static_cast<size_t>(ntok * rows));
      for (int64_t nt : {int64_t{1}, ntok}) {
        matmul(mv, x.data(), nt, cols, y.data(), rows, nullptr);
        for (int64_t k = 0; k < nt; ++k) {
          const Bytes xq =
              q8k_row(t, std::vector<float>(x.begin() + k * cols, x.begin() + (k + 1) * cols));
          for (int64_t r = 0; r < rows; ++r) {
            const float want = vec_dot(t, cols, w.data() + r * rb, xq.data());
            QCOMPARE(y[static_cast<size_t>(k * rows + r)], want);
          }
        }
      }
    }
  }
};

QTEST_GUILESS_MAIN(TestKQuants)
#include "test_kquants.moc"
