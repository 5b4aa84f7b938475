// AVX-512 dot products (compiled with -mavx512f/bw/vl/dq; called only when the CPU has them).
// Float types use 512-bit vectors with masked tails. Quant types need AVX512-VNNI (dpbusd
// replaces maddubs+madd) and BF16 needs AVX512-BF16; those parts are compiled with the extra
// target and only handed out when the CPU reports the extension.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/cpu/vec_dot_impl.h"

namespace emoe::kernels {
namespace {

// GCC 12's _mm512_reduce_add_ps, casts, broadcasts and conversions start from _mm*_undefined_* and
// trip -Wuninitialized; the zero-masked forms compute the same thing without the warning.
inline float hsum16(__m512 v) {
  const __m256 lo = _mm512_maskz_extractf32x8_ps(0xFF, v, 0);
  const __m256 hi = _mm512_maskz_extractf32x8_ps(0xFF, v, 1);
  const __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// Four 16-lane accumulators over 64 elements, then 16 at a time, then one masked step.
template <typename Load>
float dot_float512(int64_t n, const void* a, const void* b, Load load) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
  const __mmask16 all = 0xFFFF;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm512_fmadd_ps(load(a, i + 16 * k, all), load(b, i + 16 * k, all), acc[k]);
    }
  }
  for (; i + 16 <= n; i += 16) acc[0] = _mm512_fmadd_ps(load(a, i, all), load(b, i, all), acc[0]);
  if (i < n) {
    const auto tail = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc[1] = _mm512_fmadd_ps(load(a, i, tail), load(b, i, tail), acc[1]);
  }
  return hsum16(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

float dot_f32(int64_t n, const void* w, const void* x) {
  return dot_float512(n, w, x, [](const void* p, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
  });
}

float dot_f16(int64_t n, const void* w, const void* x) {
  return dot_float512(n, w, x, [](const void* p, int64_t i, __mmask16 m) {
    return _mm512_maskz_cvtph_ps(0xFFFF,
                                 _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
  });
}

}  // namespace
}  // namespace emoe::kernels

#pragma GCC push_options
#pragma GCC target("avx512vnni")
#include "kernels/cpu/vec_dot_x86_quant.h"

namespace emoe::kernels {
namespace {

// dpbusd multiplies unsigned by signed bytes and sums groups of four into int32 without
// intermediate saturation; the sign of x moves onto y as in the AVX2 version.
struct DotVnni {
  static __m256i signed_dot(__m256i x, __m256i y) {
    const __m256i ax = _mm256_abs_epi8(x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy);
  }
  static __m256i unsigned_dot(__m256i ux, __m256i y) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), ux, y);
  }
};

// --- 512-bit kernels: two blocks per vector, four blocks per step -------------------------
// Lanes 0..7 of a 16 x int32 sum belong to the first block, 8..15 to the second. Scales of
// four blocks are converted and multiplied in one xmm and spread with permutes, which halves
// the per-block scalar work of the 256-bit loop (the bottleneck for 4-bit weights).

// Two blocks' 32 nibbles each -> 64 bytes [a lo, a hi, b lo, b hi] (element order).
inline __m512i nibbles2(const uint8_t* a, const uint8_t* b) {
  __m512i z =
      _mm512_maskz_broadcast_i32x4(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
  z = _mm512_mask_broadcast_i32x4(z, 0xFF00, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)));
  z = _mm512_mask_srli_epi16(z, 0xFF00FF00, z, 4);  // 128-bit lanes 1 and 3 take high nibbles
  return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
}

inline __m512i bytes2(const int8_t* a, const int8_t* b) {
  const __m512i z =
      _mm512_maskz_broadcast_i64x4(0xFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)));
  return _mm512_mask_broadcast_i64x4(z, 0xF0,
                                     _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
}

// Bit j of a block's qh is element j, and element j is byte j of its half of the vector.
template <typename Block>
inline __mmask64 high_bits2(const Block& a, const Block& b) {
  uint32_t ha, hb;
  std::memcpy(&ha, a.qh, 4);
  std::memcpy(&hb, b.qh, 4);
  return _cvtu64_mask64(uint64_t{ha} | (uint64_t{hb} << 32));
}

inline __m512i dp(__m512i u, __m512i s) {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
}

// Two weight blocks made ready for dpbusd: unsigned quants (offsets are applied on the
// activation side) or, for Q8_0, |q| plus the lanes whose sign moves onto the activations.
// Prepared once, they serve every token of a GEMM tile.
struct Prepared {
  __m512i q;
  __mmask64 neg = 0;
};

inline Prepared prepare2(const BlockQ4_0& a, const BlockQ4_0& b) { return {nibbles2(a.qs, b.qs)}; }
inline Prepared prepare2(const BlockQ4_1& a, const BlockQ4_1& b) { return {nibbles2(a.qs, b.qs)}; }
inline Prepared prepare2(const BlockQ5_0& a, const BlockQ5_0& b) {
  const __m512i n = nibbles2(a.qs, b.qs);
  return {_mm512_mask_add_epi8(n, high_bits2(a, b), n, _mm512_set1_epi8(16))};
}
inline Prepared prepare2(const BlockQ5_1& a, const BlockQ5_1& b) {
  const __m512i n = nibbles2(a.qs, b.qs);
  return {_mm512_mask_add_epi8(n, high_bits2(a, b), n, _mm512_set1_epi8(16))};
}
inline Prepared prepare2(const BlockQ8_0& a, const BlockQ8_0& b) {
  const __m512i w = bytes2(a.qs, b.qs);
  return {_mm512_abs_epi8(w), _mm512_movepi8_mask(w)};
}

// sum(q_w * q_x) per block pair with the format's offset removed: (q - 8) . y = q . y - 8 . y.
template <typename WBlock>
inline __m512i sum2(const Prepared& p, __m512i y) {
  if constexpr (std::is_same_v<WBlock, BlockQ4_0>) {
    return _mm512_sub_epi32(dp(p.q, y), dp(_mm512_set1_epi8(8), y));
  } else if constexpr (std::is_same_v<WBlock, BlockQ5_0>) {
    return _mm512_sub_epi32(dp(p.q, y), dp(_mm512_set1_epi8(16), y));
  } else if constexpr (std::is_same_v<WBlock, BlockQ8_0>) {
    return dp(p.q, _mm512_mask_sub_epi8(y, p.neg, _mm512_setzero_si512(), y));
  } else {
    return dp(p.q, y);  // Q4_1, Q5_1: unsigned quants, the minimum is added via m_w * s_x
  }
}

// One weight row against NT activation rows. Each token's arithmetic is the same sequence of
// operations whatever NT is, so the 4-token GEMM kernel is bit-identical to 4 single dots.
template <typename WBlock, typename XBlock, int NT>
void dot512_rows(int64_t n, const void* w, const void* const* x, float* out) {
  constexpr bool kMin = std::is_same_v<XBlock, BlockQ8_1>;
  const auto* wb = static_cast<const WBlock*>(w);
  const XBlock* xb[NT];
  for (int t = 0; t < NT; ++t) xb[t] = static_cast<const XBlock*>(x[t]);
  const int64_t nb = n / kQK;
  const __m512i lo = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i hi = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
  __m512 acc0[NT], acc1[NT];
  __m128 summs[NT];
  for (int t = 0; t < NT; ++t) {
    acc0[t] = acc1[t] = _mm512_setzero_ps();
    summs[t] = _mm_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    if constexpr (NT == 1) {
      // GEMV streams weights once; prefetch into the next rows (kPrefetchBytes).
      const char* ahead = reinterpret_cast<const char*>(wb + i) + kPrefetchBytes;
      _mm_prefetch(ahead, _MM_HINT_T0);
      _mm_prefetch(ahead + 64, _MM_HINT_T0);
      if constexpr (sizeof(WBlock) * 4 > 128) _mm_prefetch(ahead + 128, _MM_HINT_T0);
    }
    const __m128 dw = halves4(wb + i, 0);
    const Prepared p01 = prepare2(wb[i], wb[i + 1]);
    const Prepared p23 = prepare2(wb[i + 2], wb[i + 3]);
    for (int t = 0; t < NT; ++t) {
      const XBlock* xt = xb[t] + i;
      const __m512 dz = _mm512_maskz_broadcast_f32x4(0xFFFF, _mm_mul_ps(dw, halves4(xt, 0)));
      const __m512i s01 = sum2<WBlock>(p01, bytes2(xt[0].qs, xt[1].qs));
      const __m512i s23 = sum2<WBlock>(p23, bytes2(xt[2].qs, xt[3].qs));
      acc0[t] = _mm512_fmadd_ps(_mm512_maskz_permutexvar_ps(0xFFFF, lo, dz),
                                _mm512_maskz_cvtepi32_ps(0xFFFF, s01), acc0[t]);
      acc1[t] = _mm512_fmadd_ps(_mm512_maskz_permutexvar_ps(0xFFFF, hi, dz),
                                _mm512_maskz_cvtepi32_ps(0xFFFF, s23), acc1[t]);
      if constexpr (kMin) {
        summs[t] = _mm_add_ps(summs[t], _mm_mul_ps(halves4(wb + i, 1), halves4(xt, 1)));
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    const __m512 acc = _mm512_add_ps(acc0[t], acc1[t]);
    const __m256 a8 = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, acc, 0),
                                    _mm512_maskz_extractf32x8_ps(0xFF, acc, 1));
    float sum = hsum_float_8(a8);
    if constexpr (kMin) {
      __m128 s = _mm_add_ps(summs[t], _mm_movehl_ps(summs[t], summs[t]));
      sum += _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
    }
    if (i < nb) {  // the last 1-3 blocks: the 256-bit loop
      if constexpr (kMin) {
        sum += dot_q_q8_1<DotVnni, WBlock>((nb - i) * kQK, wb + i, xb[t] + i);
      } else {
        sum += dot_q_q8_0<DotVnni, WBlock>((nb - i) * kQK, wb + i, xb[t] + i);
      }
    }
    out[t] = sum;
  }
}

template <typename WBlock, typename XBlock>
float dot512(int64_t n, const void* w, const void* x) {
  float out;
  dot512_rows<WBlock, XBlock, 1>(n, w, &x, &out);
  return out;
}

template <typename WBlock, typename XBlock>
void dot512_x4(int64_t n, const void* w, const void* const* x, float* out) {
  dot512_rows<WBlock, XBlock, 4>(n, w, x, out);
}

VecDotFn quant_kernel_vnni(TensorType w) {
  switch (w) {
    case TensorType::Q4_0:
      return dot512<BlockQ4_0, BlockQ8_0>;
    case TensorType::Q5_0:
      return dot512<BlockQ5_0, BlockQ8_0>;
    case TensorType::Q8_0:
      return dot512<BlockQ8_0, BlockQ8_0>;
    case TensorType::Q4_1:
      return dot512<BlockQ4_1, BlockQ8_1>;
    case TensorType::Q5_1:
      return dot512<BlockQ5_1, BlockQ8_1>;
    default:
      return nullptr;
  }
}

VecDot4Fn quant_kernel4_vnni(TensorType w) {
  switch (w) {
    case TensorType::Q4_0:
      return dot512_x4<BlockQ4_0, BlockQ8_0>;
    case TensorType::Q5_0:
      return dot512_x4<BlockQ5_0, BlockQ8_0>;
    case TensorType::Q8_0:
      return dot512_x4<BlockQ8_0, BlockQ8_0>;
    case TensorType::Q4_1:
      return dot512_x4<BlockQ4_1, BlockQ8_1>;
    case TensorType::Q5_1:
      return dot512_x4<BlockQ5_1, BlockQ8_1>;
    default:
      return nullptr;
  }
}

}  // namespace
}  // namespace emoe::kernels
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512bf16")
namespace emoe::kernels {
namespace {

// dpbf16ps: two bf16 products (exact in float32) added into each float32 lane per step.
float dot_bf16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(a + i),
                            (__m512bh)_mm512_loadu_si512(b + i));
    acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(a + i + 32),
                            (__m512bh)_mm512_loadu_si512(b + i + 32));
  }
  for (; i < n; i += 32) {
    const int64_t left = n - i < 32 ? n - i : 32;
    const auto m = static_cast<__mmask32>(left == 32 ? 0xFFFFFFFFu : (1u << left) - 1);
    acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_maskz_loadu_epi16(m, a + i),
                            (__m512bh)_mm512_maskz_loadu_epi16(m, b + i));
  }
  return hsum16(_mm512_add_ps(acc0, acc1));
}

}  // namespace
}  // namespace emoe::kernels
#pragma GCC pop_options

namespace emoe::kernels {

VecDot4Fn vec_dot4_fn_avx512(TensorType w, bool vnni) {
  return vnni ? quant_kernel4_vnni(w) : nullptr;
}

VecDotFn vec_dot_fn_avx512(TensorType w, bool vnni, bool bf16) {
  switch (w) {
    case TensorType::F32:
      return dot_f32;
    case TensorType::F16:
      return dot_f16;
    case TensorType::BF16:
      return bf16 ? dot_bf16 : nullptr;
    default:
      return vnni ? quant_kernel_vnni(w) : nullptr;
  }
}

}  // namespace emoe::kernels
