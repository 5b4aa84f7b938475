// kernels/cuda/activation_round.h (the rounding the GPU matmul applies to activations, also
// compiled for the host) against kernels::quantize_activation_row, bit for bit: for every
// weight type, rows of many shapes are converted by the CPU engine's quantizer, its blocks are
// decoded here by hand (q * d from the block structs, or the F16/BF16 value), and the header's
// floats must have the same bits. Also the header's fp16/bf16 conversions against
// kernels::fp32_to_fp16/bf16 around every rounding boundary, and the warp reduction order the
// CUDA kernel uses to find a Q8_K block's largest element.
#include <QtTest>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_k_blocks.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cuda/activation_round.h"
#include "kernels/tensor_type.h"

using namespace emoe::kernels;
namespace ar = emoe::kernels::actround;

namespace {

const TensorType kTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,
                             TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                             TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
                             TensorType::Q6_K};

constexpr int64_t kCols = 256 * 4;

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::string tname(TensorType t) { return std::string(type_name(t)); }

// The values quantize_activation_row's blocks stand for, decoded from the block layouts.
std::vector<float> decode(TensorType w, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  const uint8_t* p = bytes.data();
  switch (vec_dot_type(w)) {
    case TensorType::F32:
      std::memcpy(out.data(), p, static_cast<size_t>(n) * 4);
      break;
    case TensorType::F16:
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = vec_dot_type(w) == TensorType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
      }
      break;
    case TensorType::Q8_0:
      for (int64_t b = 0; b < n / kQK; ++b) {
        BlockQ8_0 blk;
        std::memcpy(&blk, p + b * sizeof(BlockQ8_0), sizeof blk);
        const float d = fp16_to_fp32(blk.d);
        for (int j = 0; j < kQK; ++j) out[b * kQK + j] = static_cast<float>(blk.qs[j]) * d;
      }
      break;
    case TensorType::Q8_1:
      for (int64_t b = 0; b < n / kQK; ++b) {
        BlockQ8_1 blk;
        std::memcpy(&blk, p + b * sizeof(BlockQ8_1), sizeof blk);
        const float d = fp16_to_fp32(blk.d);
        for (int j = 0; j < kQK; ++j) out[b * kQK + j] = static_cast<float>(blk.qs[j]) * d;
      }
      break;
    case TensorType::Q8_K:
      for (int64_t b = 0; b < n / kQK_K; ++b) {
        BlockQ8_K blk;
        std::memcpy(&blk, p + b * sizeof(BlockQ8_K), sizeof blk);
        for (int j = 0; j < kQK_K; ++j) out[b * kQK_K + j] = static_cast<float>(blk.qs[j]) * blk.d;
      }
      break;
    default:
      break;
  }
  return out;
}

std::vector<float> cpu_rounded(TensorType w, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> bytes(row_bytes(vec_dot_type(w), n).value());
  quantize_activation_row(w, x.data(), bytes.data(), n);
  return decode(w, bytes, n);
}

// A named row of kCols activations.
struct Row {
  std::string name;
  std::vector<float> x;
  bool overflow = false;  // blocks so small that 127 / amax overflows (ISA-dependent zeros)
};

std::vector<Row> make_rows() {
  std::mt19937 rng(20240917);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto gauss = [&](float scale) {
    std::vector<float> v(kCols);
    for (float& f : v) f = normal(rng) * scale;
    return v;
  };
  std::vector<Row> rows;
  rows.push_back({"normal", gauss(1.0f)});
  {
    std::vector<float> v = gauss(0.5f);
    for (int64_t i = 0; i < kCols; i += 37) v[i] *= 150.0f;
    rows.push_back({"outliers", v});
  }
  {
    // A whole zero super-block, zero 32-blocks, scattered +-0 elsewhere.
    std::vector<float> v = gauss(2.0f);
    for (int64_t i = 0; i < 256; ++i) v[i] = (i % 3 == 0) ? -0.0f : 0.0f;
    for (int64_t i = 256; i < 320; ++i) v[i] = 0.0f;
    for (int64_t i = 320; i < kCols; i += 5) v[i] = (i % 2) ? -0.0f : 0.0f;
    rows.push_back({"zeros", v});
  }
  rows.push_back({"tiny 1e-30", gauss(1e-30f)});  // fp16 d underflows to 0 for Q8_0/Q8_1
  rows.push_back({"small 3e-6", gauss(3e-6f)});   // fp16 subnormal d and values
  rows.push_back({"large 2e4", gauss(2e4f)});
  {
    // Every block's largest magnitude negative; ties of +-a with either sign first.
    std::vector<float> v = gauss(1.0f);
    for (int64_t b = 0; b < kCols / 32; ++b) {
      float* blk = v.data() + 32 * b;
      for (int j = 0; j < 32; ++j) blk[j] = std::fabs(blk[j]) > 3.5f ? 3.0f : blk[j];
      blk[(b * 7) % 32] = -4.0f;
      if (b % 3 == 1) blk[(b * 7 + 5) % 32] = 4.0f;  // a tie with the other sign
    }
    rows.push_back({"negative maxima and ties", v});
  }
  {
    // amax 127 gives id = 1 (Q8) and iscale = -+1 (Q8_K): k + 0.5 values round half to even.
    std::vector<float> v(kCols);
    for (int64_t i = 0; i < kCols; ++i) {
      v[i] = static_cast<float>(static_cast<int>(i % 253) - 126) + 0.5f;
    }
    for (int64_t b = 0; b < kCols / 32; ++b) v[32 * b + (b % 32)] = (b % 2) ? 127.0f : -127.0f;
    rows.push_back({"halfway", v});
  }
  {
    // Values halfway between neighbouring halves and bfloat16s, and near the fp16 maximum.
    std::vector<float> v(kCols);
    for (int64_t i = 0; i < kCols; ++i) {
      const float h = fp16_to_fp32(static_cast<uint16_t>((rng() % 0x7bff) | (i % 2 ? 0x8000 : 0)));
      const uint32_t hb = bits_of(h);
      v[i] = i % 4 < 2 ? from_bits(hb + 0x1000u) : from_bits((hb & 0xffff0000u) | 0x8000u);
    }
    v[3] = 65519.0f;
    v[5] = -65520.0f;
    rows.push_back({"rounding boundaries", v});
  }
  {
    std::vector<float> v = gauss(1.0f);
    // Subnormal floats, and zeros, which meet an infinite Q8_K iscale as NaN products.
    for (int64_t i = 512; i < 768; ++i) v[i] = i % 9 == 0 ? 0.0f : normal(rng) * 1e-39f;
    rows.push_back({"overflowing 127 / amax", v, true});
  }
  return rows;
}

bool same_bits(float a, float b) { return bits_of(a) == bits_of(b); }

}  // namespace

class TestActivationRound : public QObject {
  Q_OBJECT

 private slots:
  void cleanup() { set_active_isa(detected_isa()); }

  void rounding_follows_vec_dot_type() {
    for (TensorType t : kTypes) {
      ar::Rounding want = ar::Rounding::None;
      switch (vec_dot_type(t)) {
        case TensorType::F16:
          want = ar::Rounding::F16;
          break;
        case TensorType::BF16:
          want = ar::Rounding::BF16;
          break;
        case TensorType::Q8_0:
        case TensorType::Q8_1:
          want = ar::Rounding::Q8;
          break;
        case TensorType::Q8_K:
          want = ar::Rounding::Q8K;
          break;
        default:
          break;
      }
      QVERIFY2(ar::rounding(t) == want, tname(t).c_str());
      const int block = ar::block_elems(ar::rounding(t));
      QVERIFY2(block == 1 || block == type_traits(vec_dot_type(t))->block_size, tname(t).c_str());
    }
  }

  // Every half and bfloat16 value, the points halfway to its neighbours and a few ulps around
  // each: the header's integer conversions equal the CPU's float-trick ones.
  void conversions_at_every_boundary() {
    for (uint32_t h = 0; h < 0x10000u; ++h) {
      const float f = fp16_to_fp32(static_cast<uint16_t>(h));
      for (uint32_t center : {bits_of(f), bits_of(f) + 0x1000u, bits_of(bf16_to_fp32(h)),
                              bits_of(bf16_to_fp32(h)) + 0x8000u}) {
        for (int d = -3; d <= 3; ++d) {
          const float x = from_bits(center + static_cast<uint32_t>(d));
          QCOMPARE(ar::fp32_to_fp16_bits(x), uint32_t{fp32_to_fp16(x)});
          QCOMPARE(ar::fp32_to_bf16_bits(x), uint32_t{fp32_to_bf16(x)});
        }
      }
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 2000000; ++i) {
      const float x = from_bits(static_cast<uint32_t>(rng()));
      QCOMPARE(ar::fp32_to_fp16_bits(x), uint32_t{fp32_to_fp16(x)});
      QCOMPARE(ar::fp32_to_bf16_bits(x), uint32_t{fp32_to_bf16(x)});
    }
  }

  void rows_match_the_cpu_quantizer_data() {
    QTest::addColumn<int>("isa");
    QTest::newRow("scalar") << static_cast<int>(Isa::Scalar);
    if (detected_isa() != Isa::Scalar) {
      QTest::newRow(isa_name(detected_isa()).data()) << static_cast<int>(detected_isa());
    }
  }

  // round_row equals the decoded quantize_activation_row bit for bit, for every weight type
  // and row, under the scalar quantizers and the SIMD ones (the engine's path on this CPU).
  // The one exception: blocks where 127 / amax overflows, which the scalar Q8_0/Q8_1
  // quantizer rounds to zeros of another sign than AVX2; there the values must be equal.
  void rows_match_the_cpu_quantizer() {
    QFETCH(int, isa);
    set_active_isa(static_cast<Isa>(isa));
    const std::vector<Row> rows = make_rows();
    for (TensorType t : kTypes) {
      for (const Row& row : rows) {
        const std::vector<float> want = cpu_rounded(t, row.x);
        std::vector<float> got(row.x.size());
        ar::round_row(t, row.x.data(), got.data(), kCols);
        std::vector<float> in_place = row.x;
        ar::round_row(t, in_place.data(), in_place.data(), kCols);
        const bool sign_free =
            row.overflow && active_isa() == Isa::Scalar && ar::rounding(t) == ar::Rounding::Q8;
        for (int64_t i = 0; i < kCols; ++i) {
          const bool ok = sign_free ? got[i] == want[i] : same_bits(got[i], want[i]);
          if (!ok || !same_bits(in_place[i], got[i])) {
            QFAIL(qPrintable(QString("%1, row '%2', element %3 (x = %4): header %5 (0x%6), "
                                     "in place %7, CPU %8 (0x%9)")
                                 .arg(tname(t).c_str(), row.name.c_str())
                                 .arg(i)
                                 .arg(static_cast<double>(row.x[i]), 0, 'g', 9)
                                 .arg(static_cast<double>(got[i]), 0, 'g', 9)
                                 .arg(bits_of(got[i]), 8, 16, QChar('0'))
                                 .arg(static_cast<double>(in_place[i]), 0, 'g', 9)
                                 .arg(static_cast<double>(want[i]), 0, 'g', 9)
                                 .arg(bits_of(want[i]), 8, 16, QChar('0'))));
          }
        }
      }
    }
  }

  // The CUDA kernel finds a block's amax (Q8) and first largest element (Q8_K) with one warp:
  // lane l scans elements l, l + 32, ... in order, then lanes combine over xor offsets 16, 8,
  // 4, 2, 1. Every lane must end with what the sequential scan finds.
  void warp_reduction_matches_the_scan() {
    for (const Row& row : make_rows()) {
      for (int64_t b = 0; b < kCols / 256; ++b) {
        const float* x = row.x.data() + 256 * b;
        ar::MaxAbs scan;
        for (int j = 0; j < 256; ++j) scan = ar::max_abs_take(scan, x[j], j);
        ar::MaxAbs lane[32];
        for (int l = 0; l < 32; ++l) {
          for (int k = 0; k < 8; ++k)
            lane[l] = ar::max_abs_take(lane[l], x[l + 32 * k], l + 32 * k);
        }
        for (int off = 16; off > 0; off /= 2) {
          ar::MaxAbs next[32];
          for (int l = 0; l < 32; ++l) next[l] = ar::max_abs_combine(lane[l], lane[l ^ off]);
          std::copy(next, next + 32, lane);
        }
        for (int l = 0; l < 32; ++l) {
          QVERIFY2(same_bits(lane[l].amax, scan.amax) && same_bits(lane[l].x, scan.x),
                   qPrintable(QString("row '%1' block %2 lane %3: %4 at %5, scan %6 at %7")
                                  .arg(row.name.c_str())
                                  .arg(b)
                                  .arg(l)
                                  .arg(static_cast<double>(lane[l].x))
                                  .arg(lane[l].idx)
                                  .arg(static_cast<double>(scan.x))
                                  .arg(scan.idx)));
        }
      }
    }
  }
};

QTEST_GUILESS_MAIN(TestActivationRound)
#include "test_activation_round.moc"
