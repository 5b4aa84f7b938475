// Rounds F32 activations to the values a quantized dot product sees: the CPU engine converts an
// activation row to vec_dot_type(w) (kernels::quantize_activation_row: Q8_0, Q8_1, Q8_K, F16
// or BF16) before multiplying it with a weight row of type w, as llama.cpp's CPU backend does.
// Here the same conversion is done in floats and immediately undone, value = q * d (or the F16
// / BF16 value), so a float kernel that multiplies the rounded row with the dequantized weights
// computes the CPU's block sums up to float summation order. Shared by the CUDA matmul (which
// rounds x into device scratch first), the host reference device and a CPU test that holds it
// to quantize_activation_row's bytes, bit for bit.
//
// Arithmetic follows the CPU quantizers step for step, with every operation rounded where the
// CPU rounds it (explicit __f*_rn on the device, where nvcc would otherwise contract or use an
// approximate division):
// - Q8_0 / Q8_1 (32 elements; both give the same q and d): amax = max |x|; d = fp16(amax /
//   127); q = x * (127 / amax) rounded half to even and saturated to int8 the way ggml's AVX2
//   quantizer does it (the engine's path on every x86 machine with AVX2). Q8_1's extra field
//   s = fp16(d * sum q), which its dot products use for the weights' minimum, has no
//   per-element form; it differs from d_fp16 * sum q by at most about 2^-10 relative.
// - Q8_K (256 elements): max = the first element of largest |x|; iscale = -127 / max;
//   q = min(127, nearest(fma(iscale, x, 1.5 * 2^23))) (ggml's nearest_int of an FMA build);
//   d = 1 / iscale in float32 (not fp16). An all-zero block is all zeros.
// - F16 / BF16: round to nearest even (ggml's conversions); F32 weights: no rounding.
// Inputs are finite. A block whose amax is below about 127 / FLT_MAX (127 / amax overflows)
// rounds to signed zeros, as on the CPU; only there does the scalar CPU build
// (EMOE_ISA=scalar) of Q8_0/Q8_1 give zeros of another sign than the AVX2 one reproduced here.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/cuda/exact_float.h"
#include "kernels/tensor_type.h"

namespace emoe::kernels::actround {

// How activations are rounded for a weight type: vec_dot_type(w) with Q8_0 and Q8_1 merged.
enum class Rounding { None, F16, BF16, Q8, Q8K };

EMOE_HD constexpr Rounding rounding(TensorType w) {
  switch (w) {
    case TensorType::F16:
      return Rounding::F16;
    case TensorType::BF16:
      return Rounding::BF16;
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
      return Rounding::Q8;
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return Rounding::Q8K;
    default:
      return Rounding::None;
  }
}

// Elements that share one scale: a row is rounded block by block.
EMOE_HD constexpr int block_elems(Rounding r) {
  return r == Rounding::Q8 ? 32 : (r == Rounding::Q8K ? 256 : 1);
}

inline constexpr int kQ8Block = 32;
inline constexpr int kQ8KBlock = 256;

// --- exact scalar helpers ----------------------------------------------------------------

using exact::add_rn;
using exact::bf16_to_float;
using exact::bits_to_float;
using exact::div_rn;
using exact::float_bits;
using exact::fma_rn;
using exact::fp16_to_float;
using exact::mul_rn;

EMOE_HD inline float abs_f(float x) { return bits_to_float(float_bits(x) & 0x7fffffffu); }

// kernels::fp32_to_fp16 in integer arithmetic: round to nearest even, overflow to infinity,
// NaN to the quiet NaN 0x7e00 with the sign kept.
EMOE_HD inline uint32_t fp32_to_fp16_bits(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // 65520 and above round to infinity
  if (a >= 0x38800000u) {                       // a normal half: rebias, round on bit 13
    return sign | ((a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13);
  }
  if (a <= 0x33000000u) return sign;  // at most half of the smallest subnormal: zero
  // A subnormal half: the 24-bit significand shifted down to units of 2^-24, half to even.
  const uint32_t e = a >> 23;
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may carry into the smallest normal
  return sign | q;
}

// kernels::fp32_to_bf16: round to nearest even, NaN made quiet.
EMOE_HD inline uint32_t fp32_to_bf16_bits(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 64u;
  return (u + (0x7fffu + ((u >> 16) & 1u))) >> 16;
}

EMOE_HD inline float round_f16(float x) { return fp16_to_float(fp32_to_fp16_bits(x)); }
EMOE_HD inline float round_bf16(float x) { return bf16_to_float(fp32_to_bf16_bits(x)); }

// Round half to even of |v| < 2^31, independent of the floating-point environment.
EMOE_HD inline int round_half_even(float v) {
  int i = static_cast<int>(v);                           // toward zero
  const float frac = add_rn(v, -static_cast<float>(i));  // exact
  if (frac > 0.5f || (frac == 0.5f && (i & 1))) {
    ++i;
  } else if (frac < -0.5f || (frac == -0.5f && (i & 1))) {
    --i;
  }
  return i;
}

// --- Q8_0 / Q8_1 -------------------------------------------------------------------------

struct Q8Scale {
  float d = 0.0f;   // the fp16 scale, as a float: what the dot product multiplies by
  float id = 0.0f;  // 127 / amax, or 0 for an all-zero block
};

EMOE_HD inline Q8Scale q8_scale(float amax) {
  Q8Scale s;
  s.d = fp16_to_float(fp32_to_fp16_bits(div_rn(amax, 127.0f)));
  s.id = amax != 0.0f ? div_rn(127.0f, amax) : 0.0f;
  return s;
}

// _mm256_round_ps then _mm256_cvtps_epi32 (NaN and out-of-range give INT_MIN) then the
// saturating packs to int8.
EMOE_HD inline int q8_quant(float x, float id) {
  const float v = mul_rn(x, id);
  if (!(abs_f(v) < 2147483648.0f)) return -128;
  const int q = round_half_even(v);
  return q < -128 ? -128 : (q > 127 ? 127 : q);
}

EMOE_HD inline float q8_value(float x, const Q8Scale& s) {
  return mul_rn(static_cast<float>(q8_quant(x, s.id)), s.d);
}

// One block of 32; out may alias x.
EMOE_HD inline void round_q8_block(const float* x, float* out) {
  float amax = 0.0f;
  for (int j = 0; j < kQ8Block; ++j) {
    const float a = abs_f(x[j]);
    amax = amax < a ? a : amax;
  }
  const Q8Scale s = q8_scale(amax);
  for (int j = 0; j < kQ8Block; ++j) out[j] = q8_value(x[j], s);
}

// --- Q8_K ----------------------------------------------------------------------------------

struct Q8KScale {
  float iscale = 0.0f;  // -127 / max
  float d = 0.0f;       // 1 / iscale, float32
};

// max: the block's first element of largest magnitude; nonzero.
EMOE_HD inline Q8KScale q8k_scale(float max) {
  Q8KScale s;
  s.iscale = div_rn(-127.0f, max);
  s.d = div_rn(1.0f, s.iscale);
  return s;
}

EMOE_HD inline int q8k_quant(float x, float iscale) {
  const float biased = fma_rn(iscale, x, 12582912.0f);
  // A NaN (an infinite iscale times 0) is x86's default NaN there, whose low mantissa bits
  // give 0; the device's canonical NaN would not.
  if (biased != biased) return 0;
  const int q = static_cast<int>(float_bits(biased) & 0x007fffffu) - 0x00400000;
  return static_cast<int8_t>(q < 127 ? q : 127);
}

EMOE_HD inline float q8k_value(float x, const Q8KScale& s) {
  return mul_rn(static_cast<float>(q8k_quant(x, s.iscale)), s.d);
}

// A Q8_K block's first element of largest magnitude, found by a scan in index order (take)
// or by a parallel reduction of partial scans in any order (combine): the CPU's strict
// `|x| > amax` scan keeps the lowest index among equal magnitudes, so ties go to it.
struct MaxAbs {
  float amax = 0.0f;
  float x = 0.0f;     // the element itself (its sign sets iscale's)
  int idx = 1 << 30;  // none yet
};

EMOE_HD inline MaxAbs max_abs_take(MaxAbs m, float x, int idx) {
  const float a = abs_f(x);
  if (a > m.amax) m = MaxAbs{a, x, idx};
  return m;
}

EMOE_HD inline MaxAbs max_abs_combine(MaxAbs a, MaxAbs b) {
  return (b.amax > a.amax || (b.amax == a.amax && b.idx < a.idx)) ? b : a;
}

// One block of 256; out may alias x.
EMOE_HD inline void round_q8k_block(const float* x, float* out) {
  MaxAbs m;
  for (int j = 0; j < kQ8KBlock; ++j) m = max_abs_take(m, x[j], j);
  if (m.amax == 0.0f) {
    for (int j = 0; j < kQ8KBlock; ++j) out[j] = 0.0f;
    return;
  }
  const Q8KScale s = q8k_scale(m.x);
  for (int j = 0; j < kQ8KBlock; ++j) out[j] = q8k_value(x[j], s);
}

// --- rows ----------------------------------------------------------------------------------

// out[0..n) = x[0..n) as a weight row of type w sees them; n a multiple of the block size
// (row_bytes(w, n) exists). out may alias x.
EMOE_HD inline void round_row(TensorType w, const float* x, float* out, int64_t n) {
  switch (rounding(w)) {
    case Rounding::None:
      for (int64_t i = 0; i < n; ++i) out[i] = x[i];
      return;
    case Rounding::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = round_f16(x[i]);
      return;
    case Rounding::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = round_bf16(x[i]);
      return;
    case Rounding::Q8:
      for (int64_t i = 0; i + kQ8Block <= n; i += kQ8Block) round_q8_block(x + i, out + i);
      return;
    case Rounding::Q8K:
      for (int64_t i = 0; i + kQ8KBlock <= n; i += kQ8KBlock) round_q8k_block(x + i, out + i);
      return;
  }
}

}  // namespace emoe::kernels::actround
