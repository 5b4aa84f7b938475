// Every weight type x every ISA this CPU has, against a float64 dot product of the dequantized
// operands, over many lengths (vector tails, one to many blocks) and random block bytes.
#include <QProcess>
#include <QtTest>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/vec_dot.h"
#include "kernels/tensor_type.h"

using namespace emoe::kernels;

namespace {

using Bytes = std::vector<unsigned char>;

const TensorType kTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                             TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                             TensorType::Q5_1, TensorType::Q8_0};

bool is_quant(TensorType t) { return type_traits(t)->block_size == 32; }
bool has_min(TensorType t) { return t == TensorType::Q4_1 || t == TensorType::Q5_1; }

void put16(unsigned char* p, uint16_t v) { std::memcpy(p, &v, 2); }
uint16_t get16(const unsigned char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Weight rows: float types from random floats; quant types from random bytes (every nibble and
// high-bit pattern, Q8_0's -128 included) with sane random scales and minimums.
Bytes make_weights(TensorType t, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Bytes b(*row_bytes(t, n));
  if (!is_quant(t)) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = nd(rng);
    quantize_row(t, x.data(), b.data(), n);
    return b;
  }
  for (unsigned char& c : b) c = static_cast<unsigned char>(rng());
  const size_t bs = static_cast<size_t>(type_traits(t)->type_size);
  for (size_t i = 0; i < b.size() / bs; ++i) {
    put16(b.data() + i * bs, fp32_to_fp16(0.02f * nd(rng)));
    if (has_min(t)) put16(b.data() + i * bs + 2, fp32_to_fp16(0.1f * nd(rng)));
  }
  return b;
}

Bytes make_activations(TensorType w, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = nd(rng);
  Bytes b(*row_bytes(vec_dot_type(w), n));
  quantize_activation_row(w, x.data(), b.data(), n);
  return b;
}

struct Reference {
  double value = 0;       // exact result of ggml's formula, in float64
  double abs_sum = 0;     // sum of |terms|, for the float32 rounding bound
  int accumulations = 0;  // float additions in a row in the scalar kernel
};

// Float64 dot of the dequantized rows. For Q4_1/Q5_1, ggml uses the activation block's stored
// s = fp16(d*sum(q)) for the minimum's term instead of the dequantized d*sum(q); the
// difference is added explicitly.
Reference reference(TensorType t, int64_t n, const Bytes& w, const Bytes& x) {
  const TensorType vt = vec_dot_type(t);
  std::vector<float> wf(static_cast<size_t>(n)), xf(static_cast<size_t>(n));
  dequantize_row(t, w.data(), wf.data(), n);
  dequantize_row(vt, x.data(), xf.data(), n);
  Reference r;
  for (int64_t i = 0; i < n; ++i) {
    const double p = double{wf[i]} * double{xf[i]};
    r.value += p;
    r.abs_sum += std::fabs(p);
  }
  r.accumulations = static_cast<int>(is_quant(t) ? n / 32 : n);
  if (has_min(t)) {
    const size_t wbs = static_cast<size_t>(type_traits(t)->type_size);
    for (int64_t b = 0; b < n / 32; ++b) {
      const unsigned char* xb = x.data() + b * 36;
      const double m = fp16_to_fp32(get16(w.data() + b * wbs + 2));
      const double d = fp16_to_fp32(get16(xb));
      const double s = fp16_to_fp32(get16(xb + 2));
      int sum = 0;
      for (int j = 0; j < 32; ++j) sum += static_cast<int8_t>(xb[4 + j]);
      r.value += m * (s - d * sum);
      r.abs_sum += std::fabs(m * s);
    }
  }
  return r;
}

// Worst-case float32 error of the kernels: each accumulation and each product/scale rounding
// contributes at most one unit roundoff of the absolute sum; factor 2 covers the reference's
// own rounding of dequantized Q4_1/Q5_1 values (d*q + m in float32).
double tolerance(const Reference& r) {
  return 2.0 * (r.accumulations + 4) * std::ldexp(1.0, -24) * r.abs_sum + 1e-30;
}

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (i <= detected_isa()) v.push_back(i);
  }
  return v;
}

}  // namespace

class TestVecDot : public QObject {
  Q_OBJECT

 private slots:
  void cleanup() { set_active_isa(detected_isa()); }

  void allTypesAllIsasVsFloat64() {
    std::mt19937 rng(2024);
    const std::vector<int64_t> float_ns = {1,   2,   3,   7,   8,   9,   15,   16,   17,
                                           31,  32,  33,  47,  63,  64,  65,   100,  127,
                                           128, 129, 191, 255, 256, 257, 1000, 4096, 4099};
    const std::vector<int64_t> blocks = {1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 128};
    int checked = 0;
    for (TensorType t : kTypes) {
      std::vector<int64_t> ns;
      if (is_quant(t)) {
        for (int64_t nb : blocks) ns.push_back(nb * 32);
      } else {
        ns = float_ns;
      }
      for (int64_t n : ns) {
        for (int rep = 0; rep < 3; ++rep) {
          const Bytes w = make_weights(t, n, rng);
          const Bytes x = make_activations(t, n, rng);
          const Reference ref = reference(t, n, w, x);
          const double tol = tolerance(ref);
          const float scalar = vec_dot_isa(Isa::Scalar, t, n, w.data(), x.data());
          for (Isa isa : isas()) {
            const float got = vec_dot_isa(isa, t, n, w.data(), x.data());
            const QString what =
                QString("%1 n=%2 %3: got %4 want %5 tol %6")
                    .arg(QString::fromLatin1(type_name(t).data(),
                                             static_cast<int>(type_name(t).size())))
                    .arg(n)
                    .arg(QString::fromLatin1(isa_name(isa).data()))
                    .arg(double{got}, 0, 'g', 9)
                    .arg(ref.value, 0, 'g', 9)
                    .arg(tol);
            QVERIFY2(std::fabs(got - ref.value) <= tol, qPrintable(what));
            QVERIFY2(std::fabs(double{got} - double{scalar}) <= tol, qPrintable(what));
            ++checked;
          }
        }
      }
    }
    QVERIFY(checked > 500);
  }

  void extremeQuants() {
    // Q8_0 weights of -128 and activations of +-127 reach the largest int16 pair sums of the
    // maddubs path (2 * 128 * 127); the result must be exact.
    const int64_t n = 64;
    Bytes w(68), x(68);
    for (int b = 0; b < 2; ++b) {
      put16(w.data() + 34 * b, 0x3C00);  // 1.0
      put16(x.data() + 34 * b, 0x3C00);
      for (int j = 0; j < 32; ++j) {
        w[34 * b + 2 + j] = 0x80;                                         // -128
        x[34 * b + 2 + j] = static_cast<unsigned char>(b ? 0x81 : 0x7F);  // -127 / 127
      }
    }
    for (Isa isa : isas()) {
      QCOMPARE(vec_dot_isa(isa, TensorType::Q8_0, n, w.data(), x.data()), 0.0f);
      // Only the first block: -128 * 127 * 32.
      QCOMPARE(vec_dot_isa(isa, TensorType::Q8_0, 32, w.data(), x.data()), -520192.0f);
    }
    // Q4_1 with all nibbles 15, d = 1, m = 0 against +127: 15 * 127 * 32, plus m*s = 0.
    Bytes w1(20, 0xFF), x1(36);
    put16(w1.data(), 0x3C00);
    put16(w1.data() + 2, 0x0000);
    put16(x1.data(), 0x3C00);
    put16(x1.data() + 2, 0x7BFF);
    for (int j = 0; j < 32; ++j) x1[4 + j] = 0x7F;
    for (Isa isa : isas()) {
      QCOMPARE(vec_dot_isa(isa, TensorType::Q4_1, 32, w1.data(), x1.data()), 60960.0f);
    }
    // m_w * s_x only: nibbles 0, m = 2, s = 3 -> 6.
    Bytes w2(20, 0x00);
    put16(w2.data(), 0x3C00);
    put16(w2.data() + 2, 0x4000);
    put16(x1.data() + 2, 0x4200);
    for (Isa isa : isas()) {
      QCOMPARE(vec_dot_isa(isa, TensorType::Q4_1, 32, w2.data(), x1.data()), 6.0f);
    }
  }

  void tileKernelIsBitIdentical() {
    // The GEMV/GEMM tile kernels against the single-row kernel of the same isa, type and order,
    // over tile shapes that exercise every row/token grouping and its leftovers.
    std::mt19937 rng(11);
    int checked = 0;
    for (TensorType t : kTypes) {
      for (QuantOrder order : {QuantOrder::Lanes8, QuantOrder::Blockwise}) {
        for (Isa isa : isas()) {
          const VecDotTileFn tile = vec_dot_tile_fn(isa, t, order);
          const VecDotFn dot = vec_dot_fn(isa, t, order);
          if (!tile) continue;
          QVERIFY(dot != nullptr);
          for (int64_t nb : {1, 3, 4, 5, 8, 11, 128}) {
            for (int64_t nr : {1, 2, 3, 4, 7, 8, 9, 17}) {
              const int64_t nt = 1 + static_cast<int64_t>(rng() % 9);
              const int64_t n = nb * 32;
              const size_t ws = *row_bytes(t, n) + 2 * (rng() % 3);
              const size_t xs = *row_bytes(vec_dot_type(t), n) + 4 * (rng() % 2);
              Bytes w(ws * static_cast<size_t>(nr)), x(xs * static_cast<size_t>(nt));
              for (int64_t r = 0; r < nr; ++r) {
                const Bytes row = make_weights(t, n, rng);
                std::memcpy(w.data() + r * ws, row.data(), row.size());
              }
              for (int64_t k = 0; k < nt; ++k) {
                const Bytes row = make_activations(t, n, rng);
                std::memcpy(x.data() + k * xs, row.data(), row.size());
              }
              const int64_t os = nr + 3;
              std::vector<float> out(static_cast<size_t>(os * nt), -7.0f);
              tile(n, w.data(), ws, nr, x.data(), xs, nt, out.data(), os);
              for (int64_t k = 0; k < nt; ++k) {
                for (int64_t r = 0; r < os; ++r) {
                  const float got = out[static_cast<size_t>(k * os + r)];
                  if (r >= nr) {
                    QCOMPARE(got, -7.0f);  // only the tile is written
                    continue;
                  }
                  const float want = dot(n, w.data() + r * ws, x.data() + k * xs);
                  QVERIFY2(std::memcmp(&got, &want, 4) == 0,
                           qPrintable(
                               QString("%1 %2 nb=%3 nr=%4 nt=%5 r=%6 t=%7: %8 vs %9")
                                   .arg(QString::fromLatin1(type_name(t).data(),
                                                            static_cast<int>(type_name(t).size())))
                                   .arg(QString::fromLatin1(isa_name(isa).data(),
                                                            static_cast<int>(isa_name(isa).size())))
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
    }
    if (detected_isa() >= Isa::Avx2) QVERIFY(checked > 5000);
  }

  void envOverride() {
    // EMOE_ISA is read once per process, so a child run of this test checks it.
    if (qEnvironmentVariableIsSet("EMOE_TEST_EXPECT_ISA")) {
      QCOMPARE(QString::fromLatin1(isa_name(active_isa()).data()),
               qEnvironmentVariable("EMOE_TEST_EXPECT_ISA"));
      return;
    }
    for (const char* isa : {"scalar", "avx2", "avx512"}) {
      const Isa want = isa[0] == 's' ? Isa::Scalar : isa[3] == '2' ? Isa::Avx2 : Isa::Avx512;
      const Isa expect = want > detected_isa() ? detected_isa() : want;  // clamped
      QProcess child;
      QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
      env.insert("EMOE_ISA", isa);
      env.insert("EMOE_TEST_EXPECT_ISA", QString::fromLatin1(isa_name(expect).data()));
      child.setProcessEnvironment(env);
      child.start(QCoreApplication::applicationFilePath(), {"envOverride"});
      QVERIFY(child.waitForFinished(30000));
      QVERIFY2(child.exitCode() == 0, child.readAllStandardOutput().constData());
    }
  }

  void dispatch() {
    QVERIFY(vec_dot_fn(Isa::Scalar, TensorType::IQ2_XXS) == nullptr);
    for (TensorType t : kTypes) {
      for (Isa isa : isas()) QVERIFY(vec_dot_fn(isa, t) != nullptr);
    }
    // Asking for more than the CPU has is clamped, and vec_dot follows set_active_isa.
    QVERIFY(vec_dot_fn(Isa::Avx512, TensorType::F32) ==
            vec_dot_fn(detected_isa(), TensorType::F32));
    std::mt19937 rng(3);
    const Bytes w = make_weights(TensorType::F32, 1001, rng);
    const Bytes x = make_activations(TensorType::F32, 1001, rng);
    for (Isa isa : isas()) {
      set_active_isa(isa);
      QCOMPARE(active_isa(), isa);
      QCOMPARE(vec_dot(TensorType::F32, 1001, w.data(), x.data()),
               vec_dot_isa(isa, TensorType::F32, 1001, w.data(), x.data()));
    }
  }
};

QTEST_GUILESS_MAIN(TestVecDot)
#include "test_vec_dot.moc"
