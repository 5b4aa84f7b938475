// AVX-512 dot products (compiled with -mavx512f/bw/vl/dq; called only when the CPU has them).
// Float types use 512-bit vectors with masked tails. Quant types need AVX512-VNNI (dpbusd
// replaces maddubs+madd) and BF16 needs AVX512-BF16; those parts are compiled with the extra
// target and only handed out when the CPU reports the extension.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/cpu/quant_k.h"
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

// dpbusd sums groups of four u8 x s8 products into int32 without intermediate saturation: the
// same lane sums as the AVX2 maddubs + madd pair, in one instruction.
struct DotVnni {
  static __m256i dp(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
  }
};

// --- Lanes8 with 512-bit vectors: two independent outputs per vector ---------------------
// Lanes 0..7 of a vector carry one (row, token) output's ggml lanes and lanes 8..15 another's,
// so every output still sees exactly ggml_vec_dot's operations (the lanes never mix before the
// final hsum_float_8 of each half). GEMV pairs two rows against one token; GEMM pairs one row
// against two tokens. Halves the instructions per block compared with the 256-bit tiles.

inline __m512i dp512(__m512i u, __m512i s) {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
}

// 16-byte nibble runs of blocks a and b -> 64 bytes (a elements 0..31 | b elements 0..31).
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

// Two weight blocks ready for dpbusd: unsigned quants (offsets go to the activation side) or,
// for Q8_0, |q| plus the lanes whose sign moves onto the activations.
struct W2 {
  __m512i q;
  __mmask64 neg = 0;
};

template <typename Block>
inline W2 weights2(const Block& a, const Block& b) {
  if constexpr (std::is_same_v<Block, BlockQ8_0>) {
    const __m512i q = bytes2(a.qs, b.qs);
    return {_mm512_abs_epi8(q), _mm512_movepi8_mask(q)};
  } else if constexpr (std::is_same_v<Block, BlockQ4_0> || std::is_same_v<Block, BlockQ4_1>) {
    return {nibbles2(a.qs, b.qs)};
  } else {
    const __m512i q = nibbles2(a.qs, b.qs);
    return {_mm512_mask_add_epi8(q, high_bits2(a, b), q, _mm512_set1_epi8(16))};
  }
}

// Two activation blocks and, for weight formats with an offset, the lane sums o . x.
template <typename WBlock>
struct X2 {
  __m512i q, off;
  X2() = default;
  template <typename XBlock>
  X2(const XBlock& a, const XBlock& b) : q(bytes2(a.qs, b.qs)) {
    if constexpr (WeightFormat<WBlock>::kOffset != 0) {
      off = dp512(_mm512_set1_epi8(WeightFormat<WBlock>::kOffset), q);
    } else {
      off = _mm512_setzero_si512();
    }
  }
};

template <typename WBlock>
inline __m512i sums2(const W2& w, const X2<WBlock>& x) {
  if constexpr (WeightFormat<WBlock>::kSigned) {
    return dp512(w.q, _mm512_mask_sub_epi8(x.q, w.neg, _mm512_setzero_si512(), x.q));
  } else if constexpr (WeightFormat<WBlock>::kOffset != 0) {
    return _mm512_sub_epi32(dp512(w.q, x.q), x.off);
  } else {
    return dp512(w.q, x.q);
  }
}

// R weight rows x T tokens, out[t * os + r]. T == 1: vector p holds rows 2p and 2p+1. T even:
// vector r * T/2 + q holds row r against tokens 2q and 2q+1.
template <typename WBlock, typename XBlock, int R, int T>
void pair_tile(int64_t nb, const WBlock* const* w, const XBlock* const* x, float* out, int64_t os,
               int64_t ahead) {
  static_assert((T == 1 && R % 2 == 0) || T % 2 == 0);
  constexpr bool kMin = std::is_same_v<XBlock, BlockQ8_1>;
  constexpr int P = R * T / 2;
  // Output (row, token) of half h of vector p.
  auto row_of = [](int p, int h) { return T == 1 ? 2 * p + h : p / (T / 2); };
  auto tok_of = [](int p, int h) { return T == 1 ? 0 : 2 * (p % (T / 2)) + h; };
  __m512 acc[P];
  float summs[P][2];
  for (int p = 0; p < P; ++p) {
    acc[p] = _mm512_setzero_ps();
    summs[p][0] = summs[p][1] = 0.0f;
  }
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    if (ahead) {
      for (int r = 0; r < R; ++r) prefetch_ahead(w[r] + i, ahead, sizeof(WBlock) * 4 > 128 ? 3 : 2);
    }
    // Scales: d_w * d_x of the four blocks, (first output's | second output's) in lanes 0..7.
    __m512 dpair[P];
    {
      __m128 dx[T], dw[R];
      for (int t = 0; t < T; ++t) dx[t] = halves4(x[t] + i, 0);
      for (int r = 0; r < R; ++r) dw[r] = halves4(w[r] + i, 0);
      for (int p = 0; p < P; ++p) {
        const __m128 lo = _mm_mul_ps(dw[row_of(p, 0)], dx[tok_of(p, 0)]);
        const __m128 hi = _mm_mul_ps(dw[row_of(p, 1)], dx[tok_of(p, 1)]);
        dpair[p] =
            _mm512_mask_broadcast_f32x4(_mm512_maskz_broadcast_f32x4(0x000F, lo), 0x00F0, hi);
      }
    }
    for (int k = 0; k < 4; ++k) {
      const __m512i idx = _mm512_set_epi32(4 + k, 4 + k, 4 + k, 4 + k, 4 + k, 4 + k, 4 + k, 4 + k,
                                           k, k, k, k, k, k, k, k);
      if constexpr (T == 1) {
        const X2<WBlock> xq(x[0][i + k], x[0][i + k]);
        for (int p = 0; p < P; ++p) {
          const W2 wq = weights2(w[2 * p][i + k], w[2 * p + 1][i + k]);
          const __m512 s = _mm512_maskz_cvtepi32_ps(0xFFFF, sums2<WBlock>(wq, xq));
          acc[p] = _mm512_fmadd_ps(_mm512_maskz_permutexvar_ps(0xFFFF, idx, dpair[p]), s, acc[p]);
        }
      } else {
        X2<WBlock> xq[T / 2];
        for (int q = 0; q < T / 2; ++q) xq[q] = X2<WBlock>(x[2 * q][i + k], x[2 * q + 1][i + k]);
        for (int r = 0; r < R; ++r) {
          const W2 wq = weights2(w[r][i + k], w[r][i + k]);
          for (int q = 0; q < T / 2; ++q) {
            const int p = r * (T / 2) + q;
            const __m512 s = _mm512_maskz_cvtepi32_ps(0xFFFF, sums2<WBlock>(wq, xq[q]));
            acc[p] = _mm512_fmadd_ps(_mm512_maskz_permutexvar_ps(0xFFFF, idx, dpair[p]), s, acc[p]);
          }
        }
      }
    }
    if constexpr (kMin) {
      for (int k = 0; k < 4; ++k) {
        for (int p = 0; p < P; ++p) {
          for (int h = 0; h < 2; ++h) {
            summs[p][h] = std::fma(half(w[row_of(p, h)][i + k].m), half(x[tok_of(p, h)][i + k].s),
                                   summs[p][h]);
          }
        }
      }
    }
  }
  for (; i < nb; ++i) {
    for (int p = 0; p < P; ++p) {
      const int ra = row_of(p, 0), rb = row_of(p, 1), ta = tok_of(p, 0), tb = tok_of(p, 1);
      const W2 wq = weights2(w[ra][i], w[rb][i]);
      const X2<WBlock> xq(x[ta][i], x[tb][i]);
      const __m512 d =
          _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(half(w[ra][i].d) * half(x[ta][i].d)),
                               _mm512_set1_ps(half(w[rb][i].d) * half(x[tb][i].d)));
      const __m512 s = _mm512_maskz_cvtepi32_ps(0xFFFF, sums2<WBlock>(wq, xq));
      acc[p] = _mm512_fmadd_ps(d, s, acc[p]);
      if constexpr (kMin) {
        summs[p][0] = std::fma(half(w[ra][i].m), half(x[ta][i].s), summs[p][0]);
        summs[p][1] = std::fma(half(w[rb][i].m), half(x[tb][i].s), summs[p][1]);
      }
    }
  }
  for (int p = 0; p < P; ++p) {
    const float sum[2] = {hsum_float_8(_mm512_maskz_extractf32x8_ps(0xFF, acc[p], 0)),
                          hsum_float_8(_mm512_maskz_extractf32x8_ps(0xFF, acc[p], 1))};
    for (int h = 0; h < 2; ++h) {
      out[tok_of(p, h) * os + row_of(p, h)] = kMin ? sum[h] + summs[p][h] : sum[h];
    }
  }
}

template <typename WBlock, typename XBlock>
void pair_gemv(int64_t nb, const WBlock* const* w, const XBlock* x, float* out, int64_t ahead) {
  pair_tile<WBlock, XBlock, 4, 1>(nb, w, &x, out, 0, ahead);
}

// Tokens in fours against rows in twos (512-bit pairs), leftover rows by the 256-bit tile;
// leftover tokens one at a time as lanes8_gemv walks them (rows in fours by 512-bit pairs).
template <typename WBlock, typename XBlock>
void lanes8_tile512(int64_t n, const void* w, size_t ws, int64_t nr, const void* x, size_t xs,
                    int64_t nt, float* out, int64_t os) {
  const int64_t nb = n / kQK;
  int64_t t = 0;
  for (; t + 4 <= nt; t += 4) {
    const XBlock* xt[4];
    for (int k = 0; k < 4; ++k) xt[k] = row_at<XBlock>(x, xs, t + k);
    int64_t r = 0;
    for (; r + 2 <= nr; r += 2) {
      const WBlock* wr[2] = {row_at<WBlock>(w, ws, r), row_at<WBlock>(w, ws, r + 1)};
      pair_tile<WBlock, XBlock, 2, 4>(nb, wr, xt, out + t * os + r, os, 0);
    }
    for (; r < nr; ++r) {
      const WBlock* wr = row_at<WBlock>(w, ws, r);
      lanes8_tile<DotVnni, WBlock, XBlock, 1, 4>(nb, &wr, xt, out + t * os + r, os, 0);
    }
  }
  for (; t < nt; ++t) {
    lanes8_gemv<DotVnni, WBlock, XBlock, pair_gemv<WBlock, XBlock>>(
        nb, w, ws, nr, row_at<XBlock>(x, xs, t), out + t * os);
  }
}

// Instantiated here, inside the avx512vnni target region.
VecDotFn vnni_kernel(TensorType w, QuantOrder order) { return quant_kernel<DotVnni>(w, order); }

VecDotTileFn vnni_tile_kernel(TensorType w, QuantOrder order) {
  if (order == QuantOrder::Blockwise) return quant_tile_kernel<DotVnni, 4>(w, order);
  switch (w) {
    case TensorType::Q4_0:
      return lanes8_tile512<BlockQ4_0, BlockQ8_0>;
    case TensorType::Q5_0:
      return lanes8_tile512<BlockQ5_0, BlockQ8_0>;
    case TensorType::Q8_0:
      return lanes8_tile512<BlockQ8_0, BlockQ8_0>;
    case TensorType::Q4_1:
      return lanes8_tile512<BlockQ4_1, BlockQ8_1>;
    case TensorType::Q5_1:
      return lanes8_tile512<BlockQ5_1, BlockQ8_1>;
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

VecDotTileFn vec_dot_tile_fn_avx512(TensorType w, QuantOrder order, bool vnni) {
  if (!vnni) return nullptr;
  return is_k_quant(w) ? vec_dot_k_tile_fn_avx512(w) : vnni_tile_kernel(w, order);
}

VecDotFn vec_dot_fn_avx512(TensorType w, QuantOrder order, bool vnni, bool bf16) {
  switch (w) {
    case TensorType::F32:
      return dot_f32;
    case TensorType::F16:
      return dot_f16;
    case TensorType::BF16:
      return bf16 ? dot_bf16 : nullptr;
    default:
      if (!vnni) return nullptr;
      return is_k_quant(w) ? vec_dot_k_fn_avx512(w) : vnni_kernel(w, order);
  }
}

}  // namespace emoe::kernels
