// Block formats: dequantization of hand-built bytes, weight quantizers against gguf-py's output
// in the llama.cpp fixtures and hand-worked blocks, error bounds, and the activation
// quantizers against a straightforward re-statement of ggml's AVX2 code.
#include <QtTest>
#include <cfenv>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gguf_mini.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quantize.h"
#include "kernels/tensor_type.h"

using namespace emoe::kernels;

namespace {

using Bytes = std::vector<unsigned char>;

uint16_t rd16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void wr16(unsigned char* p, uint16_t v) {
  p[0] = static_cast<unsigned char>(v & 0xFF);
  p[1] = static_cast<unsigned char>(v >> 8);
}

std::vector<float> dequant(TensorType t, const Bytes& b, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n), NAN);
  if (!dequantize_row(t, b.data(), y.data(), n)) y.clear();
  return y;
}

Bytes quant(TensorType t, const std::vector<float>& x) {
  Bytes b(*row_bytes(t, static_cast<int64_t>(x.size())), 0xCD);
  if (!quantize_row(t, x.data(), b.data(), static_cast<int64_t>(x.size()))) b.clear();
  return b;
}

Bytes quant_act(TensorType w, const std::vector<float>& x) {
  Bytes b(*row_bytes(vec_dot_type(w), static_cast<int64_t>(x.size())), 0xCD);
  quantize_activation_row(w, x.data(), b.data(), static_cast<int64_t>(x.size()));
  return b;
}

std::vector<float> random_row(std::mt19937& rng, int n, float scale) {
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = nd(rng);
  if (n > 5) x[5] *= 8.0f;  // an outlier, like activation spikes
  return x;
}

// ggml's AVX2 quantize_row_q8_0 / q8_1 restated with nearbyint (round-half-even in the default
// floating-point environment) and plain arrays.
Bytes ref_act_q8(const std::vector<float>& x, bool q8_1) {
  const size_t bs = q8_1 ? 36 : 34;
  Bytes out(x.size() / 32 * bs);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    unsigned char* blk = out.data() + b * bs;
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127.0f;
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    wr16(blk, fp32_to_fp16(d));
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::nearbyint(x[b * 32 + j] * id));
      blk[(q8_1 ? 4 : 2) + j] = static_cast<unsigned char>(static_cast<int8_t>(q));
      sum += q;
    }
    if (q8_1) wr16(blk + 2, fp32_to_fp16(d * static_cast<float>(sum)));
  }
  return out;
}

const TensorType kQuantTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                                  TensorType::Q5_1, TensorType::Q8_0};

}  // namespace

class TestQuantize : public QObject {
  Q_OBJECT

 private slots:
  void cleanup() { set_active_isa(detected_isa()); }

  void dequantHandBuiltBlocks() {
    {  // Q4_0, d = 0.5: low nibble j, high nibble 15-j
      Bytes b(18);
      wr16(b.data(), 0x3800);
      for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<unsigned char>(j | ((15 - j) << 4));
      const auto y = dequant(TensorType::Q4_0, b, 32);
      const float want[32] = {-4,  -3.5, -3,   -2.5, -2,   -1.5, -1,   -0.5, 0,    0.5, 1,
                              1.5, 2,    2.5,  3,    3.5,  3.5,  3,    2.5,  2,    1.5, 1,
                              0.5, 0,    -0.5, -1,   -1.5, -2,   -2.5, -3,   -3.5, -4};
      for (int j = 0; j < 32; ++j) QCOMPARE(y[j], want[j]);
    }
    {  // Q4_1, d = 0.25, m = -1: low nibble j, high nibble 15
      Bytes b(20);
      wr16(b.data(), 0x3400);
      wr16(b.data() + 2, 0xBC00);
      for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<unsigned char>(j | 0xF0);
      const auto y = dequant(TensorType::Q4_1, b, 32);
      QCOMPARE(y[0], -1.0f);
      QCOMPARE(y[1], -0.75f);
      QCOMPARE(y[4], 0.0f);
      QCOMPARE(y[15], 2.75f);
      for (int j = 16; j < 32; ++j) QCOMPARE(y[j], 2.75f);
    }
    {  // Q5_0, d = 1, qh = 0x0000FFFF: elements 0..15 have bit 4 set -> 0..15, then -16..-1
      Bytes b(22);
      wr16(b.data(), 0x3C00);
      b[2] = 0xFF, b[3] = 0xFF, b[4] = 0x00, b[5] = 0x00;
      for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<unsigned char>(j | (j << 4));
      const auto y = dequant(TensorType::Q5_0, b, 32);
      for (int j = 0; j < 16; ++j) QCOMPARE(y[j], static_cast<float>(j));
      for (int j = 0; j < 16; ++j) QCOMPARE(y[16 + j], static_cast<float>(j - 16));
    }
    {  // Q5_1, d = 2, m = 1, qh = 0xAAAAAAAA (odd elements = 16), nibbles 0 -> 1 or 33
      Bytes b(24, 0);
      wr16(b.data(), 0x4000);
      wr16(b.data() + 2, 0x3C00);
      for (int k = 0; k < 4; ++k) b[4 + k] = 0xAA;
      b[8] = 0x21;  // element 0: nibble 1 -> 3; element 16: nibble 2 -> 5
      const auto y = dequant(TensorType::Q5_1, b, 32);
      QCOMPARE(y[0], 3.0f);
      QCOMPARE(y[16], 5.0f);
      QCOMPARE(y[1], 33.0f);
      QCOMPARE(y[2], 1.0f);
      QCOMPARE(y[31], 33.0f);
      QCOMPARE(y[30], 1.0f);
    }
    {  // Q8_0 (d = -0.5) and Q8_1 (d = 0.25, s ignored)
      Bytes b(34), c(36);
      wr16(b.data(), 0xB800);
      wr16(c.data(), 0x3400);
      wr16(c.data() + 2, 0x7C00);
      for (int j = 0; j < 32; ++j) {
        b[2 + j] = static_cast<unsigned char>(static_cast<int8_t>(j * 8 - 128));
        c[4 + j] = static_cast<unsigned char>(static_cast<int8_t>(127 - j));
      }
      const auto y = dequant(TensorType::Q8_0, b, 32);
      const auto z = dequant(TensorType::Q8_1, c, 32);
      QCOMPARE(y[0], 64.0f);
      QCOMPARE(y[16], 0.0f);
      QCOMPARE(y[31], -60.0f);
      QCOMPARE(z[0], 31.75f);
      QCOMPARE(z[31], 24.0f);
    }
    {  // F16, BF16, F32
      const Bytes h = {0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00};
      const auto y = dequant(TensorType::F16, h, 4);
      QCOMPARE(y[0], 1.0f);
      QCOMPARE(y[1], -2.0f);
      QCOMPARE(y[2], 65504.0f);
      QCOMPARE(y[3], std::ldexp(1.0f, -24));
      const Bytes bf = {0x80, 0x3F, 0x49, 0x40};
      const auto z = dequant(TensorType::BF16, bf, 2);
      QCOMPARE(z[0], 1.0f);
      QCOMPARE(z[1], 3.140625f);
      const float f[2] = {1.5f, -7.25f};
      Bytes fb(8);
      std::memcpy(fb.data(), f, 8);
      const auto w = dequant(TensorType::F32, fb, 2);
      QCOMPARE(w[0], 1.5f);
      QCOMPARE(w[1], -7.25f);
    }
    float dummy[256];
    Bytes k(144 * 2);
    QVERIFY(!dequantize_row(TensorType::IQ4_XS, k.data(), dummy, 256));
    QVERIFY(!quantize_row(TensorType::IQ4_XS, dummy, k.data(), 256));
  }

  void quantizeHandWorkedBlocks() {
    {  // Q8_0 rounds half away from zero (roundf), unlike the activation quantizer
      std::vector<float> x(32, 0.0f);
      x[0] = -127.0f;  // d = 1, id = 1
      const float in[] = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 126.5f};
      const int want[] = {1, 2, 3, -1, -3, 127};
      for (int j = 0; j < 6; ++j) x[1 + j] = in[j];
      const Bytes b = quant(TensorType::Q8_0, x);
      QCOMPARE(rd16(b.data()), uint16_t{0x3C00});
      QCOMPARE(static_cast<int8_t>(b[2]), int8_t{-127});
      for (int j = 0; j < 6; ++j)
        QCOMPARE(static_cast<int>(static_cast<int8_t>(b[3 + j])), want[j]);
    }
    {  // Q4_0: d = max/-8 with the first largest |x| (here +8, so d = -1); q = trunc(x*id + 8.5)
      std::vector<float> x(32, 0.0f);
      x[0] = 8.0f;
      x[1] = -8.0f;  // same |x|, later: not the max. -8*-1+8.5 = 16.5 -> 16 -> clamped 15
      x[2] = 0.5f;   // -0.5+8.5 = 8 -> 8
      x[3] = -0.5f;  // 9
      x[4] = 1.49f;  // 7.01 -> 7
      const Bytes b = quant(TensorType::Q4_0, x);
      QCOMPARE(rd16(b.data()), uint16_t{0xBC00});  // -1.0
      QCOMPARE(b[2 + 0] & 0x0F, 0);
      QCOMPARE(b[2 + 1] & 0x0F, 15);
      QCOMPARE(b[2 + 2] & 0x0F, 8);
      QCOMPARE(b[2 + 3] & 0x0F, 9);
      QCOMPARE(b[2 + 4] & 0x0F, 7);
      QCOMPARE(b[2 + 5] >> 4, 8);  // element 21 is 0
      const auto y = dequant(TensorType::Q4_0, b, 32);
      QCOMPARE(y[0], 8.0f);
      QCOMPARE(y[1], -7.0f);  // Q4_0's asymmetry: -max is not representable
    }
    {  // Q4_0's FMA-sensitive rounding: with max 7.3, x*id + 8.5 is 2.99999983 exactly; gguf-py
       // (float64, then float32) gives 2, while rounding x*id to float32 first would give 3.
      std::vector<float> x(32, 0.0f);
      x[0] = 7.3f;
      x[1] = 0x1.413334p+2f;  // 5.01875019
      const Bytes b = quant(TensorType::Q4_0, x);
      QCOMPARE(b[2 + 1] & 0x0F, 2);
    }
    {  // Q4_1: min 1, max 8.5 -> d = 0.5, id = 2; q = trunc((x-min)*id + 0.5)
      std::vector<float> x(32);
      for (int j = 0; j < 32; ++j) x[j] = 1.0f + 0.5f * static_cast<float>(j % 16);
      x[20] = 1.25f;  // 0.5 + 0.5 = 1 -> 1 (half goes up)
      x[21] = 1.2f;   // 0.9 -> 0
      const Bytes b = quant(TensorType::Q4_1, x);
      QCOMPARE(rd16(b.data()), uint16_t{0x3800});
      QCOMPARE(rd16(b.data() + 2), uint16_t{0x3C00});
      for (int j = 0; j < 16; ++j) QCOMPARE(b[4 + j] & 0x0F, j);
      QCOMPARE(b[4 + 4] >> 4, 1);
      QCOMPARE(b[4 + 5] >> 4, 0);
      QCOMPARE(b[4 + 6] >> 4, 6);
    }
    {  // Q5_0: max -16 -> d = 1, id = 1; q = trunc(x + 16.5); bit 4 goes to qh
      std::vector<float> x(32, 0.0f);
      x[0] = -16.0f;  // q 0
      x[1] = 15.0f;   // q 31
      x[17] = -1.0f;  // q 15 (bit 4 clear)
      x[18] = 0.5f;   // q 17
      const Bytes b = quant(TensorType::Q5_0, x);
      QCOMPARE(rd16(b.data()), uint16_t{0x3C00});
      uint32_t qh;
      std::memcpy(&qh, b.data() + 2, 4);
      const unsigned char* qs = b.data() + 6;
      QCOMPARE(qs[0] & 0x0F, 0);
      QCOMPARE(qs[1] & 0x0F, 15);
      QCOMPARE(qs[1] >> 4, 15);  // element 17: 15
      QCOMPARE(qs[2] >> 4, 1);   // element 18: 17 = 0x11
      QCOMPARE(qh & 0x3u, 0x2u);
      QCOMPARE((qh >> 17) & 1u, 0u);
      QCOMPARE((qh >> 18) & 1u, 1u);
      QCOMPARE((qh >> 2) & 1u, 1u);  // zeros map to 16
    }
    {  // Q5_1: min -1, max 30 -> d = 1; q = trunc(x + 1 + 0.5)
      std::vector<float> x(32, 0.0f);
      x[0] = -1.0f;
      x[1] = 30.0f;
      x[31] = 14.5f;  // 16 (bit 4 set, nibble 0)
      const Bytes b = quant(TensorType::Q5_1, x);
      QCOMPARE(rd16(b.data()), uint16_t{0x3C00});
      QCOMPARE(rd16(b.data() + 2), uint16_t{0xBC00});
      uint32_t qh;
      std::memcpy(&qh, b.data() + 4, 4);
      QCOMPARE(b[8 + 0] & 0x0F, 0);
      QCOMPARE(b[8 + 1] & 0x0F, 15);  // 31 = 0x1F
      QCOMPARE(b[8 + 15] >> 4, 0);
      QCOMPARE(qh, 0x80000002u);  // only elements 1 and 31 are >= 16
    }
    {  // all-zero blocks
      std::vector<float> z(32, 0.0f);
      const Bytes q40 = quant(TensorType::Q4_0, z);
      QCOMPARE(rd16(q40.data()), uint16_t{0x8000});  // d = 0 / -8 = -0.0, as gguf-py writes
      for (int j = 0; j < 16; ++j) QCOMPARE(int{q40[2 + j]}, 0x88);
      for (TensorType t : kQuantTypes) {
        const auto y = dequant(t, quant(t, z), 32);
        for (float v : y) QCOMPARE(v, 0.0f);
      }
    }
  }

  void quantizeMatchesGgufPyFixture() {
    const std::string dir = EMOE_TEST_DATA_DIR;
    kernels_test::MiniGguf f32(dir + "/tiny-mixtral-f32/model.gguf");
    kernels_test::MiniGguf q(dir + "/tiny-mixtral-q/model.gguf");
    QVERIFY(f32.ok());
    QVERIFY(q.ok());
    const char* names[] = {"attn_q",        "attn_k",      "attn_v",       "attn_output",
                           "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
    int checked = 0;
    for (int layer = 0; layer < 4; ++layer) {
      for (const char* nm : names) {
        const std::string name = "blk." + std::to_string(layer) + "." + nm + ".weight";
        const auto* src = f32.find(name);
        const auto* dst = q.find(name);
        QVERIFY2(src && dst, name.c_str());
        QCOMPARE(src->type, 0u);
        int64_t n = 1;
        for (uint64_t d : src->ne) n *= static_cast<int64_t>(d);
        const auto type = static_cast<TensorType>(dst->type);
        QVERIFY(type == TensorType::Q4_0 || type == TensorType::Q8_0);
        const size_t nbytes = *row_bytes(type, n);
        Bytes out(nbytes);
        QVERIFY(quantize_row(type, reinterpret_cast<const float*>(f32.data(*src)), out.data(), n));
        const unsigned char* want = q.data(*dst);
        size_t first_diff = nbytes;
        for (size_t i = 0; i < nbytes && first_diff == nbytes; ++i) {
          if (out[i] != want[i]) first_diff = i;
        }
        QVERIFY2(first_diff == nbytes,
                 (name + " differs at byte " + std::to_string(first_diff)).c_str());
        ++checked;
      }
    }
    QCOMPARE(checked, 28);
  }

  void quantizeDequantizeErrorBounds() {
    std::mt19937 rng(42);
    // Largest fp16 rounding error of a scale v (relative for normals, absolute for subnormals).
    auto r16 = [](float v) {
      return std::max(std::fabs(v) * std::ldexp(1.0f, -11), std::ldexp(1.0f, -25));
    };
    for (TensorType t : kQuantTypes) {
      for (float scale : {1e-3f, 0.05f, 1.0f, 300.0f}) {
        const auto x = random_row(rng, 32 * 16, scale);
        const Bytes b = quant(t, x);
        const auto y = dequant(t, b, static_cast<int64_t>(x.size()));
        const size_t bs = static_cast<size_t>(type_traits(t)->type_size);
        for (size_t blk = 0; blk < x.size() / 32; ++blk) {
          const float d = std::fabs(fp16_to_fp32(rd16(b.data() + blk * bs)));
          float lo = x[blk * 32], hi = x[blk * 32], amax = 0;
          for (int j = 0; j < 32; ++j) {
            lo = std::min(lo, x[blk * 32 + j]);
            hi = std::max(hi, x[blk * 32 + j]);
            amax = std::max(amax, std::fabs(x[blk * 32 + j]));
          }
          float bound = 0;
          switch (t) {
            case TensorType::Q8_0:  // half a step, plus the scale's fp16 rounding times 127
              bound = 0.5f * d + 128 * r16(d);
              break;
            case TensorType::Q4_0:  // the -max side clips to 7 steps: one full step
            case TensorType::Q5_0:
              bound = d + 17 * r16(d);
              break;
            default:  // Q4_1, Q5_1: half a step plus the fp16 rounding of d and of min
              bound = 0.5f * d + 32 * r16(d) + r16(lo);
              break;
          }
          bound = bound * 1.001f + 1e-30f;
          for (int j = 0; j < 32; ++j) {
            const float e = std::fabs(y[blk * 32 + j] - x[blk * 32 + j]);
            if (!(e <= bound)) {
              QFAIL(qPrintable(QString("%1 scale %2 block %3 elem %4: err %5 > bound %6")
                                   .arg(QString::fromLatin1(type_name(t).data(), 4))
                                   .arg(scale)
                                   .arg(blk)
                                   .arg(j)
                                   .arg(e)
                                   .arg(bound)));
            }
          }
          // And the step is as small as the format allows.
          const float ideal = (t == TensorType::Q4_1)   ? (hi - lo) / 15
                              : (t == TensorType::Q5_1) ? (hi - lo) / 31
                              : (t == TensorType::Q8_0) ? amax / 127
                              : (t == TensorType::Q4_0) ? amax / 8
                                                        : amax / 16;
          QVERIFY(std::fabs(d - ideal) <= r16(ideal) * 1.01f);
        }
      }
    }
  }

  void activationQ8RoundHalfEven() {
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
      if (isa > detected_isa()) continue;
      set_active_isa(isa);
      std::vector<float> x(64, 0.0f);
      x[0] = 127.0f;  // block 0: d = 1, id = 1
      const float in[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f, 126.5f, -126.5f};
      const int want[] = {0, 2, 2, 0, -2, -2, 4, 126, -126};
      for (int j = 0; j < 9; ++j) x[1 + j] = in[j];
      x[32] = -63.5f;  // block 1: d = 0.5, id = 2
      x[33] = 0.25f;   // 0.5 -> 0
      x[34] = 0.75f;   // 1.5 -> 2
      x[35] = -1.25f;  // -2.5 -> -2
      const Bytes b = quant_act(TensorType::Q8_0, x);
      QCOMPARE(rd16(b.data()), uint16_t{0x3C00});
      for (int j = 0; j < 9; ++j)
        QCOMPARE(static_cast<int>(static_cast<int8_t>(b[3 + j])), want[j]);
      QCOMPARE(rd16(b.data() + 34), uint16_t{0x3800});
      QCOMPARE(static_cast<int8_t>(b[36]), int8_t{-127});
      QCOMPARE(static_cast<int8_t>(b[37]), int8_t{0});
      QCOMPARE(static_cast<int8_t>(b[38]), int8_t{2});
      QCOMPARE(static_cast<int8_t>(b[39]), int8_t{-2});

      // Q8_1: same quants; s = fp16(d * sum(q)) = 127 + 0+2+2+0-2-2+4+126-126 = 131
      const Bytes c = quant_act(TensorType::Q4_1, x);
      QCOMPARE(rd16(c.data()), uint16_t{0x3C00});
      QCOMPARE(fp16_to_fp32(rd16(c.data() + 2)), 131.0f);
      QCOMPARE(fp16_to_fp32(rd16(c.data() + 36 + 2)), 0.5f * (-127 + 0 + 2 - 2));
      for (int j = 0; j < 32; ++j) QCOMPARE(c[4 + j], b[2 + j]);

      const Bytes z = quant_act(TensorType::Q8_0, std::vector<float>(32, 0.0f));
      for (unsigned char v : z) QCOMPARE(int{v}, 0);
    }
  }

  void activationQ8VsStraightforward() {
    QCOMPARE(std::fegetround(), FE_TONEAREST);
    std::mt19937 rng(5);
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
      if (isa > detected_isa()) continue;
      set_active_isa(isa);
      for (float scale : {1e-6f, 0.02f, 1.0f, 7.0f, 1e4f}) {
        for (int nb : {1, 3, 128}) {
          auto x = random_row(rng, 32 * nb, scale);
          if (nb == 3) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // zero block
          QVERIFY(quant_act(TensorType::Q8_0, x) == ref_act_q8(x, false));
          QVERIFY(quant_act(TensorType::Q5_0, x) == ref_act_q8(x, false));
          QVERIFY(quant_act(TensorType::Q4_1, x) == ref_act_q8(x, true));
        }
      }
    }
  }

  void activationFloatTypes() {
    std::mt19937 rng(8);
    auto x = random_row(rng, 77, 3.0f);  // not a multiple of the vector width
    x[3] = 65520.0f;                     // rounds to infinity in fp16
    x[4] = std::ldexp(1.0f, -25);        // halfway to the smallest subnormal: rounds to 0
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
      if (isa > detected_isa()) continue;
      set_active_isa(isa);
      const Bytes h = quant_act(TensorType::F16, x);
      const Bytes bf = quant_act(TensorType::BF16, x);
      const Bytes f = quant_act(TensorType::F32, x);
      for (size_t i = 0; i < x.size(); ++i) {
        QCOMPARE(rd16(h.data() + 2 * i), fp32_to_fp16(x[i]));
        QCOMPARE(rd16(bf.data() + 2 * i), fp32_to_bf16(x[i]));
      }
      QCOMPARE(rd16(h.data() + 6), uint16_t{0x7C00});
      QCOMPARE(rd16(h.data() + 8), uint16_t{0x0000});
      QVERIFY(std::memcmp(f.data(), x.data(), x.size() * 4) == 0);
    }
  }

  void vecDotTypes() {
    QCOMPARE(vec_dot_type(TensorType::F32), TensorType::F32);
    QCOMPARE(vec_dot_type(TensorType::F16), TensorType::F16);
    QCOMPARE(vec_dot_type(TensorType::BF16), TensorType::BF16);
    QCOMPARE(vec_dot_type(TensorType::Q4_0), TensorType::Q8_0);
    QCOMPARE(vec_dot_type(TensorType::Q5_0), TensorType::Q8_0);
    QCOMPARE(vec_dot_type(TensorType::Q8_0), TensorType::Q8_0);
    QCOMPARE(vec_dot_type(TensorType::Q4_1), TensorType::Q8_1);
    QCOMPARE(vec_dot_type(TensorType::Q5_1), TensorType::Q8_1);
    QCOMPARE(vec_dot_type(TensorType::Q4_K), TensorType::Q8_K);
  }
};

QTEST_GUILESS_MAIN(TestQuantize)
#include "test_quantize.moc"
