// The float32 summation order of the quantized dot products, bit for bit. llama.cpp's CPU results
// can only be reproduced when every quantized dot rounds exactly as ggml's x86 kernels do, so
// each ISA's kernels (single row, GEMV/GEMM tiles, and matmul on top) are compared bitwise with
// a plain scalar emulation of ggml's order written here from the ggml sources, independently of
// the kernels:
//  - ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0 / {q4_1,q5_1}_q8_1, AVX2 build (QuantOrder::Lanes8):
//    eight float lanes; per block b, lane j = fma(d_b, float(int sum of the products of
//    elements 4j..4j+3), lane j), d_b = float(d_w) * float(d_x); result: hsum_float_8, i.e.
//    ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)); Q4_1/Q5_1 add summs = fma(m_w, s_x, summs).
//  - ggml_gemv/gemm_q4_0_8x8_q8_0 on repacked Q4_0 (QuantOrder::Blockwise):
//    acc = fma(float(int sum of the block's 32 products), d_b, acc) block after block.
// Weight bytes are random (every nibble, high bit and Q8_0 value including -128); scales are
// random fp16 values over a wide range, so float rounding happens in every lane.
#include <QtTest>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/vec_dot.h"
#include "kernels/tensor_type.h"

using namespace emoe::kernels;

namespace {

using Bytes = std::vector<unsigned char>;

const TensorType kQuantTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                                  TensorType::Q5_1, TensorType::Q8_0};

// --- An independent reading of the block formats (ggml-common.h) ---------------------------

int block_bytes(TensorType t) {
  switch (t) {
    case TensorType::Q4_0:
      return 18;
    case TensorType::Q4_1:
      return 20;
    case TensorType::Q5_0:
      return 22;
    case TensorType::Q5_1:
      return 24;
    case TensorType::Q8_0:
      return 34;
    default:
      return 36;  // Q8_1
  }
}
bool has_min(TensorType t) { return t == TensorType::Q4_1 || t == TensorType::Q5_1; }

uint16_t get16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void put16(unsigned char* p, uint16_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
}

// IEEE half -> float, exact (every half is a float).
float half_to_float(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(man), -24);
  } else if (exp == 31) {
    v = man ? NAN : INFINITY;
  } else {
    v = std::ldexp(static_cast<float>(man + 1024), exp - 25);
  }
  return sign ? -v : v;
}

// The 32 weight quants of a block, offset removed (Q4_1/Q5_1: raw, the minimum is separate).
void weight_quants(TensorType t, const unsigned char* b, int* q) {
  switch (t) {
    case TensorType::Q4_0:
    case TensorType::Q4_1: {
      const unsigned char* qs = b + (t == TensorType::Q4_0 ? 2 : 4);
      const int off = t == TensorType::Q4_0 ? 8 : 0;
      for (int j = 0; j < 16; ++j) {
        q[j] = (qs[j] & 15) - off;
        q[j + 16] = (qs[j] >> 4) - off;
      }
      return;
    }
    case TensorType::Q5_0:
    case TensorType::Q5_1: {
      const unsigned char* qh = b + (t == TensorType::Q5_0 ? 2 : 4);
      const unsigned char* qs = qh + 4;
      const uint32_t h =
          qh[0] | (qh[1] << 8) | (qh[2] << 16) | (static_cast<uint32_t>(qh[3]) << 24);
      const int off = t == TensorType::Q5_0 ? 16 : 0;
      for (int j = 0; j < 16; ++j) {
        q[j] = ((qs[j] & 15) | static_cast<int>(((h >> j) & 1) << 4)) - off;
        q[j + 16] = ((qs[j] >> 4) | static_cast<int>(((h >> (j + 16)) & 1) << 4)) - off;
      }
      return;
    }
    default:
      for (int j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(b[2 + j]);
  }
}

// --- ggml's orders, emulated one operation at a time ----------------------------------------

float emulate_lanes8(TensorType t, int64_t nb, const unsigned char* w, const unsigned char* x) {
  const int wb = block_bytes(t), xb = has_min(t) ? 36 : 34, xq = has_min(t) ? 4 : 2;
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float summs = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const unsigned char* wp = w + b * wb;
    const unsigned char* xp = x + b * xb;
    int q[32];
    weight_quants(t, wp, q);
    const float d = half_to_float(get16(wp)) * half_to_float(get16(xp));
    for (int j = 0; j < 8; ++j) {
      int s = 0;
      for (int e = 4 * j; e < 4 * j + 4; ++e) s += q[e] * static_cast<int8_t>(xp[xq + e]);
      lane[j] = std::fma(d, static_cast<float>(s), lane[j]);
    }
    if (has_min(t)) {
      summs = std::fma(half_to_float(get16(wp + 2)), half_to_float(get16(xp + 2)), summs);
    }
  }
  // hsum_float_8: the high 128 bits onto the low, then movehl, then movehdup.
  const float a0 = lane[4] + lane[0], a1 = lane[5] + lane[1];
  const float a2 = lane[6] + lane[2], a3 = lane[7] + lane[3];
  const float sum = (a0 + a2) + (a1 + a3);
  return has_min(t) ? sum + summs : sum;
}

float emulate_blockwise(int64_t nb, const unsigned char* w, const unsigned char* x) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int q[32];
    weight_quants(TensorType::Q4_0, w + b * 18, q);
    int s = 0;
    for (int e = 0; e < 32; ++e) s += q[e] * static_cast<int8_t>(x[b * 34 + 2 + e]);
    const float d = half_to_float(get16(w + b * 18)) * half_to_float(get16(x + b * 34));
    acc = std::fma(static_cast<float>(s), d, acc);
  }
  return acc;
}

// Plain block-by-block float32 sum (what a straightforward implementation would compute); only
// used to show that the test can tell the orders apart.
float naive_sum(TensorType t, int64_t nb, const unsigned char* w, const unsigned char* x) {
  const int wb = block_bytes(t), xb = has_min(t) ? 36 : 34, xq = has_min(t) ? 4 : 2;
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int q[32];
    weight_quants(t, w + b * wb, q);
    int s = 0;
    for (int e = 0; e < 32; ++e) s += q[e] * static_cast<int8_t>(x[b * xb + xq + e]);
    const float d = half_to_float(get16(w + b * wb)) * half_to_float(get16(x + b * xb));
    sum += d * static_cast<float>(s);
  }
  return sum;
}

// --- Inputs -------------------------------------------------------------------------------

// A random fp16 scale: magnitude spread over 2^-12 .. 2^4 so that products and sums round.
uint16_t random_scale(std::mt19937& rng) {
  const float v = std::ldexp(1.0f + static_cast<float>(rng() % 1024) / 1024.0f,
                             static_cast<int>(rng() % 17) - 12);
  const int e = std::ilogb(v);
  const int man = static_cast<int>(std::ldexp(v, 10 - e)) - 1024;
  return static_cast<uint16_t>(((rng() & 1) << 15) | ((e + 15) << 10) | man);
}

Bytes random_weights(TensorType t, int64_t nb, std::mt19937& rng) {
  const int wb = block_bytes(t);
  Bytes w(static_cast<size_t>(nb * wb));
  for (unsigned char& c : w) c = static_cast<unsigned char>(rng());
  for (int64_t b = 0; b < nb; ++b) {
    put16(w.data() + b * wb, random_scale(rng));
    if (has_min(t)) put16(w.data() + b * wb + 2, random_scale(rng));
  }
  return w;
}

// Activation blocks as the kernels receive them: from quantize_activation_row on random floats,
// or (every other call) random quants in [-127, 127] with random scales, which reach lane sums
// the quantizer's max-at-127 rows do not.
Bytes random_activations(TensorType t, int64_t nb, std::mt19937& rng, bool raw) {
  const int xb = has_min(t) ? 36 : 34, xq = has_min(t) ? 4 : 2;
  Bytes x(static_cast<size_t>(nb * xb));
  if (!raw) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> f(static_cast<size_t>(nb * 32));
    for (float& v : f) v = nd(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 9) - 4);
    quantize_activation_row(t, f.data(), x.data(), nb * 32);
    return x;
  }
  for (int64_t b = 0; b < nb; ++b) {
    put16(x.data() + b * xb, random_scale(rng));
    if (has_min(t)) put16(x.data() + b * xb + 2, random_scale(rng));
    for (int e = 0; e < 32; ++e) {
      x[static_cast<size_t>(b * xb + xq + e)] =
          static_cast<unsigned char>(static_cast<int8_t>(static_cast<int>(rng() % 255) - 127));
    }
  }
  return x;
}

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (i <= detected_isa()) v.push_back(i);
  }
  return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

QString describe(TensorType t, Isa isa, QuantOrder order, int64_t nb, float got, float want) {
  return QString("%1 %2 %3 nb=%4: got %5 want %6")
      .arg(QString::fromLatin1(type_name(t).data(), static_cast<int>(type_name(t).size())))
      .arg(QString::fromLatin1(isa_name(isa).data(), static_cast<int>(isa_name(isa).size())))
      .arg(order == QuantOrder::Lanes8 ? "lanes8" : "blockwise")
      .arg(nb)
      .arg(double{got}, 0, 'g', 9)
      .arg(double{want}, 0, 'g', 9);
}

}  // namespace

class TestQuantOrder : public QObject {
  Q_OBJECT

 private slots:
  void cleanup() { set_active_isa(detected_isa()); }

  // Hand-worked values where the orders give different floats (all scales exact powers of two).
  void handCheckedOrders() {
    // Q8_0, two blocks. Block 0 (d = 2^10 * 2^10 = 2^20): lane 0 sum 4*4 = 16, lane 4 sum
    // 4*(-4) = -16, so lane 0 = 2^24 and lane 4 = -2^24. Block 1 (d = 1): lanes 0 and 4 get 1.
    // lane 0 = fl(2^24 + 1) = 2^24 (tie to even); lane 4 = -2^24 + 1 (exact); result
    // (lane0 + lane4) + 0 = 1. The exact value (and a block-by-block sum) is 2.
    Bytes w(68, 0), x(68, 0);
    put16(w.data(), 0x6400);  // 1024
    put16(x.data(), 0x6400);
    w[2 + 0] = 4;
    w[2 + 16] = 4;
    x[2 + 0] = 4;
    x[2 + 16] = static_cast<unsigned char>(-4);
    put16(w.data() + 34, 0x3C00);  // 1
    put16(x.data() + 34, 0x3C00);
    w[34 + 2 + 0] = 1;
    w[34 + 2 + 16] = 1;
    x[34 + 2 + 0] = 1;
    x[34 + 2 + 16] = 1;
    QCOMPARE(emulate_lanes8(TensorType::Q8_0, 2, w.data(), x.data()), 1.0f);
    QCOMPARE(naive_sum(TensorType::Q8_0, 2, w.data(), x.data()), 2.0f);
    for (Isa isa : isas()) {
      QCOMPARE(vec_dot_isa(isa, TensorType::Q8_0, 64, w.data(), x.data()), 1.0f);
    }

    // Q4_0, two blocks. Block 0 (d = 2^20): element 0 has q_w = 12 - 8 = 4 and q_x = 4, so the
    // block sum is 16 -> 2^24. Block 1 (d = 1): elements 0 and 16 (low and high nibble of
    // qs[0]) have q_w = 9 - 8 = 1 against q_x = 1: block sum 2, in lanes 0 and 4.
    // Blockwise: fl(2^24 + 2) = 16777218. Lanes8: lane 0 = fl(2^24 + 1) = 2^24, lane 4 = 1,
    // lane0 + lane4 = fl(2^24 + 1) = 16777216.
    Bytes w4(36, 0x88), x4(68, 0);
    put16(w4.data(), 0x6400);
    put16(x4.data(), 0x6400);
    w4[2] = 0x8C;  // element 0: nibble 12; element 16: nibble 8
    x4[2] = 4;
    put16(w4.data() + 18, 0x3C00);
    put16(x4.data() + 34, 0x3C00);
    w4[18 + 2] = 0x99;
    x4[34 + 2 + 0] = 1;
    x4[34 + 2 + 16] = 1;
    QCOMPARE(emulate_blockwise(2, w4.data(), x4.data()), 16777218.0f);
    QCOMPARE(emulate_lanes8(TensorType::Q4_0, 2, w4.data(), x4.data()), 16777216.0f);
    for (Isa isa : isas()) {
      QCOMPARE(vec_dot_fn(isa, TensorType::Q4_0, QuantOrder::Blockwise)(64, w4.data(), x4.data()),
               16777218.0f);
      QCOMPARE(vec_dot_fn(isa, TensorType::Q4_0, QuantOrder::Lanes8)(64, w4.data(), x4.data()),
               16777216.0f);
    }
  }

  // The emulation is worth testing against: on random inputs the three orders disagree often.
  void ordersAreDistinguishable() {
    std::mt19937 rng(9);
    int lanes_vs_naive = 0, lanes_vs_block = 0, cases = 0;
    for (int rep = 0; rep < 400; ++rep) {
      const int64_t nb = 2 + static_cast<int64_t>(rng() % 30);
      const Bytes w = random_weights(TensorType::Q4_0, nb, rng);
      const Bytes x = random_activations(TensorType::Q4_0, nb, rng, rep % 2);
      const float l = emulate_lanes8(TensorType::Q4_0, nb, w.data(), x.data());
      lanes_vs_naive += !same_bits(l, naive_sum(TensorType::Q4_0, nb, w.data(), x.data()));
      lanes_vs_block += !same_bits(l, emulate_blockwise(nb, w.data(), x.data()));
      ++cases;
    }
    qInfo(
        "orders differ in the last bit: lanes8 vs block-by-block %d/%d, lanes8 vs blockwise %d/%d",
        lanes_vs_naive, cases, lanes_vs_block, cases);
    QVERIFY(lanes_vs_naive > cases / 4);
    QVERIFY(lanes_vs_block > cases / 4);
  }

  // Every ISA's single-row kernel, bitwise, for every type and order, over many lengths.
  void singleRowKernels() {
    std::mt19937 rng(2025);
    int checked = 0;
    for (TensorType t : kQuantTypes) {
      for (QuantOrder order : {QuantOrder::Lanes8, QuantOrder::Blockwise}) {
        if (order == QuantOrder::Blockwise && t != TensorType::Q4_0) {
          for (Isa isa : isas()) QVERIFY(vec_dot_fn(isa, t, order) == nullptr);
          continue;
        }
        for (int rep = 0; rep < 300; ++rep) {
          const int64_t nb = rep < 40 ? 1 + rep : 1 + static_cast<int64_t>(rng() % 200);
          const Bytes w = random_weights(t, nb, rng);
          const Bytes x = random_activations(t, nb, rng, rep % 2);
          const float want = order == QuantOrder::Lanes8
                                 ? emulate_lanes8(t, nb, w.data(), x.data())
                                 : emulate_blockwise(nb, w.data(), x.data());
          for (Isa isa : isas()) {
            const VecDotFn fn = vec_dot_fn(isa, t, order);
            QVERIFY(fn != nullptr);
            const float got = fn(nb * 32, w.data(), x.data());
            QVERIFY2(same_bits(got, want), qPrintable(describe(t, isa, order, nb, got, want)));
            ++checked;
          }
        }
      }
    }
    QVERIFY(checked >= 300 * 6);
  }

  // The GEMV/GEMM tile kernels, bitwise, over random tile shapes, strides and output strides.
  void tileKernels() {
    std::mt19937 rng(77);
    int checked = 0;
    for (TensorType t : kQuantTypes) {
      for (QuantOrder order : {QuantOrder::Lanes8, QuantOrder::Blockwise}) {
        if (order == QuantOrder::Blockwise && t != TensorType::Q4_0) continue;
        for (Isa isa : isas()) {
          const VecDotTileFn tile = vec_dot_tile_fn(isa, t, order);
          if (!tile) {
            QCOMPARE(isa, Isa::Scalar);  // every SIMD path has tile kernels
            continue;
          }
          for (int rep = 0; rep < 40; ++rep) {
            const int64_t nb = 1 + static_cast<int64_t>(rng() % (rep % 4 == 0 ? 140 : 12));
            const int64_t nr = 1 + static_cast<int64_t>(rng() % 21);
            const int64_t nt = 1 + static_cast<int64_t>(rng() % 11);
            const size_t wrb = static_cast<size_t>(nb * block_bytes(t));
            const size_t xrb = static_cast<size_t>(nb * (has_min(t) ? 36 : 34));
            const size_t ws = wrb + 2 * (rng() % 4), xs = xrb + 2 * (rng() % 4);
            Bytes w(ws * static_cast<size_t>(nr)), x(xs * static_cast<size_t>(nt));
            for (int64_t r = 0; r < nr; ++r) {
              const Bytes row = random_weights(t, nb, rng);
              std::memcpy(w.data() + r * ws, row.data(), wrb);
            }
            for (int64_t k = 0; k < nt; ++k) {
              const Bytes row = random_activations(t, nb, rng, (rep + k) % 2);
              std::memcpy(x.data() + k * xs, row.data(), xrb);
            }
            const int64_t os = nr + static_cast<int64_t>(rng() % 5);
            std::vector<float> out(static_cast<size_t>(os * nt));
            tile(nb * 32, w.data(), ws, nr, x.data(), xs, nt, out.data(), os);
            for (int64_t k = 0; k < nt; ++k) {
              for (int64_t r = 0; r < nr; ++r) {
                const unsigned char* wr = w.data() + r * ws;
                const unsigned char* xr = x.data() + k * xs;
                const float want = order == QuantOrder::Lanes8 ? emulate_lanes8(t, nb, wr, xr)
                                                               : emulate_blockwise(nb, wr, xr);
                const float got = out[static_cast<size_t>(k * os + r)];
                QVERIFY2(
                    same_bits(got, want),
                    qPrintable(describe(t, isa, order, nb, got, want) +
                               QString(" tile %1x%2 at r=%3 t=%4").arg(nr).arg(nt).arg(r).arg(k)));
                ++checked;
              }
            }
          }
        }
      }
    }
    if (detected_isa() >= Isa::Avx2) QVERIFY(checked > 10000);
  }

  // matmul end to end (activation conversion, GEMV and GEMM, 1 and 2 threads, every ISA): the
  // order follows llama.cpp's choice, which this test states on its own: Q4_0 matrices with a
  // multiple of 8 rows are repacked (Blockwise), everything else uses ggml_vec_dot (Lanes8).
  void matmulFollowsLlamaCppOrder() {
    std::mt19937 rng(31);
    ThreadPool pool(2);
    int checked = 0;
    for (TensorType t : kQuantTypes) {
      for (int rep = 0; rep < 12; ++rep) {
        const int64_t rows = rep < 4 ? 8 * (1 + static_cast<int64_t>(rng() % 12))
                                     : 1 + static_cast<int64_t>(rng() % 90);
        const int64_t nb = 1 + static_cast<int64_t>(rng() % (rep % 3 == 0 ? 130 : 9));
        const int64_t cols = nb * 32;
        const int64_t tokens = rep % 2 ? 1 : 2 + static_cast<int64_t>(rng() % 37);
        const bool blockwise = t == TensorType::Q4_0 && rows % 8 == 0;
        const size_t wrb = static_cast<size_t>(nb * block_bytes(t));
        Bytes w(wrb * static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) {
          const Bytes row = random_weights(t, nb, rng);
          std::memcpy(w.data() + r * wrb, row.data(), wrb);
        }
        std::normal_distribution<float> nd(0.0f, 1.0f);
        std::vector<float> xf(static_cast<size_t>(cols * tokens));
        for (float& v : xf) v = nd(rng);
        // What the kernels see: the activation rows quantized as ggml does.
        const size_t xrb = static_cast<size_t>(nb * (has_min(t) ? 36 : 34));
        Bytes xq(xrb * static_cast<size_t>(tokens));
        for (int64_t k = 0; k < tokens; ++k) {
          quantize_activation_row(t, xf.data() + k * cols, xq.data() + k * xrb, cols);
        }
        const MatrixView view{t, rows, cols, wrb, w.data()};
        for (Isa isa : isas()) {
          set_active_isa(isa);
          for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            std::vector<float> y(static_cast<size_t>(rows * tokens));
            matmul(view, xf.data(), tokens, cols, y.data(), rows, p);
            for (int64_t k = 0; k < tokens; ++k) {
              for (int64_t r = 0; r < rows; ++r) {
                const unsigned char* wr = w.data() + r * wrb;
                const unsigned char* xr = xq.data() + k * xrb;
                const float want =
                    blockwise ? emulate_blockwise(nb, wr, xr) : emulate_lanes8(t, nb, wr, xr);
                const float got = y[static_cast<size_t>(k * rows + r)];
                QVERIFY2(same_bits(got, want),
                         qPrintable(describe(t, isa,
                                             blockwise ? QuantOrder::Blockwise : QuantOrder::Lanes8,
                                             nb, got, want) +
                                    QString(" matmul %1x%2x%3").arg(rows).arg(cols).arg(tokens)));
                ++checked;
              }
            }
          }
        }
      }
    }
    QVERIFY(checked > 20000);
  }
};

QTEST_GUILESS_MAIN(TestQuantOrder)
#include "test_quant_order.moc"
