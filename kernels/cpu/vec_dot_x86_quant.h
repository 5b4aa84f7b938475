// Quantized dot-product kernels shared by vec_dot_avx2.cpp and vec_dot_avx512.cpp, parameterised
// by how groups of four u8 x s8 products are summed into int32 lanes (AVX2 maddubs + madd, or
// AVX512-VNNI dpbusd; both exact here). Everything has internal linkage: each ISA translation
// unit compiles its own copy with its own flags, so no AVX-512 instruction can leak into the AVX2
// path through an ODR-merged inline function. Include only after <immintrin.h>, and only from
// those two files.
//
// The float arithmetic is ggml's, operation for operation (see QuantOrder in vec_dot.h): only
// integer sums, which are exact, are grouped differently. Every kernel here computes each output
// with the same sequence of float operations whatever the tile shape, which is what makes the
// multi-row kernels bit-identical to the single-row ones and to the scalar reference.
#pragma once

#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/vec_dot_x86_common.h"

namespace emoe::kernels {
namespace {

// 32 nibbles -> 32 bytes: low nibbles are elements 0..15, high nibbles 16..31.
inline __m256i bytes_from_nibbles_32(const uint8_t* p) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes, 0xFF where the bit is set.
inline __m256i bytes_from_bits_32(const uint8_t* p) {
  uint32_t x32;
  std::memcpy(&x32, p, 4);
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101,
                                         0x0000000000000000);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(x32)), shuf);
  bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

// Weight quants as unsigned bytes plus the offset the format subtracts: (q - o) . x is computed
// as q . x - o . x, exact in int32. Q8_0 is signed and uses the sign trick instead (kSigned).
template <typename Block>
struct WeightFormat;
template <>
struct WeightFormat<BlockQ4_0> {
  static constexpr int kOffset = 8;
  static constexpr bool kSigned = false;
  static __m256i load(const BlockQ4_0& b) { return bytes_from_nibbles_32(b.qs); }
};
template <>
struct WeightFormat<BlockQ5_0> {
  static constexpr int kOffset = 16;
  static constexpr bool kSigned = false;
  static __m256i load(const BlockQ5_0& b) {
    const __m256i hi = _mm256_and_si256(bytes_from_bits_32(b.qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(bytes_from_nibbles_32(b.qs), hi);
  }
};
template <>
struct WeightFormat<BlockQ4_1> {
  static constexpr int kOffset = 0;
  static constexpr bool kSigned = false;
  static __m256i load(const BlockQ4_1& b) { return bytes_from_nibbles_32(b.qs); }
};
template <>
struct WeightFormat<BlockQ5_1> {
  static constexpr int kOffset = 0;
  static constexpr bool kSigned = false;
  static __m256i load(const BlockQ5_1& b) {
    const __m256i hi = _mm256_and_si256(bytes_from_bits_32(b.qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(bytes_from_nibbles_32(b.qs), hi);
  }
};
template <>
struct WeightFormat<BlockQ8_0> {
  static constexpr int kOffset = 0;
  static constexpr bool kSigned = true;
  static __m256i load(const BlockQ8_0& b) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
  }
};

template <typename Block>
inline __m256i load_x(const Block& b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
}

// Scales of four consecutive blocks (field 0: d, field 1: m or s) as floats, converted at once.
template <typename Block>
inline __m128 halves4(const Block* b, int field) {
  uint16_t h[4];
  for (int k = 0; k < 4; ++k) {
    std::memcpy(&h[k], reinterpret_cast<const uint8_t*>(&b[k]) + 2 * field, 2);
  }
  uint64_t v;
  std::memcpy(&v, h, 8);
  return _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(v)));
}

inline void prefetch_ahead(const void* p, int64_t ahead, int lines) {
  const char* a = static_cast<const char*>(p) + ahead;
  for (int l = 0; l < lines; ++l) _mm_prefetch(a + 64 * l, _MM_HINT_T0);
}

// Activation block prepared once for every weight row it meets: its quants and, for weight
// formats with an offset, the lane sums o . x to subtract.
template <typename Dot, typename WBlock, typename XBlock>
struct XPrep {
  __m256i q, off;
  XPrep() = default;
  explicit XPrep(const XBlock& b) : q(load_x(b)) {
    if constexpr (WeightFormat<WBlock>::kOffset != 0) {
      off = Dot::dp(_mm256_set1_epi8(WeightFormat<WBlock>::kOffset), q);
    } else {
      off = _mm256_setzero_si256();
    }
  }
};

// Lane j = sum of q_w * q_x over elements 4j..4j+3, offset removed: ggml's lane grouping.
template <typename Dot, typename WBlock, typename XBlock>
inline __m256i lane_sums(__m256i w, const XPrep<Dot, WBlock, XBlock>& x) {
  if constexpr (WeightFormat<WBlock>::kSigned) {
    // maddubs/dpbusd want an unsigned left operand, so the sign of w moves onto x; pair sums
    // stay below int16 saturation since |q_w| <= 128 and |q_x| <= 127.
    return Dot::dp(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x.q, w));
  } else if constexpr (WeightFormat<WBlock>::kOffset != 0) {
    return _mm256_sub_epi32(Dot::dp(w, x.q), x.off);
  } else {
    return Dot::dp(w, x.q);
  }
}

// --- QuantOrder::Lanes8 ------------------------------------------------------------------
// R weight rows x T activation rows; out[t * os + r]. Each (r, t) pair has its own 8-lane
// accumulator and sees exactly ggml_vec_dot's operations; the tile only shares loads and
// scale conversions, and the R * T independent FMA chains hide each other's latency.
// ahead: GEMV prefetch distance in bytes past each weight row's current block (0: none).
template <typename Dot, typename WBlock, typename XBlock, int R, int T>
inline void lanes8_tile(int64_t nb, const WBlock* const* w, const XBlock* const* x, float* out,
                        int64_t os, int64_t ahead) {
  constexpr bool kMin = std::is_same_v<XBlock, BlockQ8_1>;
  using X = XPrep<Dot, WBlock, XBlock>;
  __m256 acc[R][T];
  float summs[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      acc[r][t] = _mm256_setzero_ps();
      summs[r][t] = 0.0f;
    }
  }
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    if (ahead) {
      for (int r = 0; r < R; ++r) prefetch_ahead(w[r] + i, ahead, sizeof(WBlock) * 4 > 128 ? 3 : 2);
    }
    alignas(16) float d[R][T][4];  // d_w * d_x of the four blocks
    {
      __m128 dx[T];
      for (int t = 0; t < T; ++t) dx[t] = halves4(x[t] + i, 0);
      for (int r = 0; r < R; ++r) {
        const __m128 dw = halves4(w[r] + i, 0);
        for (int t = 0; t < T; ++t) _mm_store_ps(d[r][t], _mm_mul_ps(dw, dx[t]));
      }
    }
    for (int k = 0; k < 4; ++k) {
      X xp[T];
      for (int t = 0; t < T; ++t) xp[t] = X(x[t][i + k]);
      for (int r = 0; r < R; ++r) {
        const __m256i wq = WeightFormat<WBlock>::load(w[r][i + k]);
        for (int t = 0; t < T; ++t) {
          const __m256 s = _mm256_cvtepi32_ps(lane_sums<Dot, WBlock, XBlock>(wq, xp[t]));
          acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d[r][t][k]), s, acc[r][t]);
        }
      }
    }
    if constexpr (kMin) {
      for (int k = 0; k < 4; ++k) {
        for (int r = 0; r < R; ++r) {
          for (int t = 0; t < T; ++t) {
            summs[r][t] = std::fma(half(w[r][i + k].m), half(x[t][i + k].s), summs[r][t]);
          }
        }
      }
    }
  }
  for (; i < nb; ++i) {
    for (int t = 0; t < T; ++t) {
      const X xp(x[t][i]);
      for (int r = 0; r < R; ++r) {
        const __m256 d = _mm256_set1_ps(half(w[r][i].d) * half(x[t][i].d));
        const __m256i wq = WeightFormat<WBlock>::load(w[r][i]);
        const __m256 s = _mm256_cvtepi32_ps(lane_sums<Dot, WBlock, XBlock>(wq, xp));
        acc[r][t] = _mm256_fmadd_ps(d, s, acc[r][t]);
        if constexpr (kMin) {
          summs[r][t] = std::fma(half(w[r][i].m), half(x[t][i].s), summs[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      const float sum = hsum_float_8(acc[r][t]);
      out[t * os + r] = kMin ? sum + summs[r][t] : sum;
    }
  }
}

template <typename Dot, typename WBlock, typename XBlock>
float lanes8_dot(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const WBlock*>(w);
  const auto* xb = static_cast<const XBlock*>(x);
  float out;
  lanes8_tile<Dot, WBlock, XBlock, 1, 1>(n / kQK, &wb, &xb, &out, 0, kPrefetchBytes);
  return out;
}

// How GEMV walks the rows. One row at a time keeps a single memory stream, which DRAM serves
// best, but the row's FMA chain allows only one block per FMA latency; several rows at once hide
// that latency but read from several places. Measured on the EPYC dev VM (256 MiB, 1 / 2
// threads): Q8_0's 34-byte blocks stream faster one row at a time (34 / 52 GB/s against 32 / 41
// for four rows); the other formats' smaller blocks are latency-bound alone (Q4_0: 18 GB/s) and
// take four rows at a time (32 GB/s).
template <typename WBlock>
inline constexpr bool kGemvOneRow = std::is_same_v<WBlock, BlockQ8_0>;

template <typename Dot, typename WBlock, typename XBlock>
void gemv4_tile(int64_t nb, const WBlock* const* w, const XBlock* x, float* out, int64_t ahead) {
  lanes8_tile<Dot, WBlock, XBlock, 4, 1>(nb, w, &x, out, 0, ahead);
}

// Rows [0, nr) against one activation row. Group: the ISA's four-row kernel.
template <typename Dot, typename WBlock, typename XBlock, auto Group>
void lanes8_gemv(int64_t nb, const void* w, size_t ws, int64_t nr, const XBlock* x, float* out) {
  int64_t r = 0;
  if constexpr (!kGemvOneRow<WBlock>) {
    const int64_t ahead = rows_ahead(ws, 4);
    for (; r + 4 <= nr; r += 4) {
      const WBlock* wr[4];
      for (int k = 0; k < 4; ++k) wr[k] = row_at<WBlock>(w, ws, r + k);
      Group(nb, wr, x, out + r, ahead);
    }
  }
  for (; r < nr; ++r) {
    const WBlock* wr = row_at<WBlock>(w, ws, r);
    lanes8_tile<Dot, WBlock, XBlock, 1, 1>(nb, &wr, &x, out + r, 0, kPrefetchBytes);
  }
}

// Tokens in fours, one weight row at a time (the row's blocks are unpacked once for the four);
// leftover tokens one at a time.
template <typename Dot, typename WBlock, typename XBlock>
void lanes8_tile_any(int64_t n, const void* w, size_t ws, int64_t nr, const void* x, size_t xs,
                     int64_t nt, float* out, int64_t os) {
  const int64_t nb = n / kQK;
  int64_t t = 0;
  for (; t + 4 <= nt; t += 4) {
    const XBlock* xt[4];
    for (int k = 0; k < 4; ++k) xt[k] = row_at<XBlock>(x, xs, t + k);
    for (int64_t r = 0; r < nr; ++r) {
      const WBlock* wr = row_at<WBlock>(w, ws, r);
      lanes8_tile<Dot, WBlock, XBlock, 1, 4>(nb, &wr, xt, out + t * os + r, os, 0);
    }
  }
  for (; t < nt; ++t) {
    lanes8_gemv<Dot, WBlock, XBlock, gemv4_tile<Dot, WBlock, XBlock>>(
        nb, w, ws, nr, row_at<XBlock>(x, xs, t), out + t * os);
  }
}

// --- QuantOrder::Blockwise (Q4_0) --------------------------------------------------------
// Each output is acc = fma(float(isum_b), d_b, acc) over blocks, as ggml's repacked Q4_0x8
// kernels. The int32 block sums of eight rows are reduced with horizontal adds so that they sit
// in the float lanes of one vector and one vector FMA serves them all.

// Block b of one row: sum over the 32 products, offset removed.
template <typename Dot>
inline int blockwise_isum(const BlockQ4_0& w, const XPrep<Dot, BlockQ4_0, BlockQ8_0>& x) {
  const __m256i s = lane_sums<Dot, BlockQ4_0, BlockQ8_0>(WeightFormat<BlockQ4_0>::load(w), x);
  __m128i r = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
  r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(r);
}

template <typename Dot>
float blockwise_dot(int64_t n, const void* w, const void* x) {
  using X = XPrep<Dot, BlockQ4_0, BlockQ8_0>;
  const auto* wb = static_cast<const BlockQ4_0*>(w);
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  const int64_t nb = n / kQK;
  __m128 acc = _mm_setzero_ps();
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    prefetch_ahead(wb + i, kPrefetchBytes, 2);
    alignas(16) float d[4];
    _mm_store_ps(d, _mm_mul_ps(halves4(wb + i, 0), halves4(xb + i, 0)));
    for (int k = 0; k < 4; ++k) {
      const float s = static_cast<float>(blockwise_isum<Dot>(wb[i + k], X(xb[i + k])));
      acc = _mm_fmadd_ss(_mm_set_ss(s), _mm_set_ss(d[k]), acc);
    }
  }
  for (; i < nb; ++i) {
    const float s = static_cast<float>(blockwise_isum<Dot>(wb[i], X(xb[i])));
    acc = _mm_fmadd_ss(_mm_set_ss(s), _mm_set_ss(half(wb[i].d) * half(xb[i].d)), acc);
  }
  return _mm_cvtss_f32(acc);
}

// Eight weight rows x T activation rows. Two rows share a vector: (row a elements 0..15 | row b
// elements 0..15) against (x 0..15 | x 0..15), plus the same for elements 16..31, leaves row a's
// partial sums in lanes 0..3 and row b's in 4..7; three horizontal adds over the four pairs
// give the eight block sums, row kLaneRow[k] in lane k. The unpacked weights serve all T tokens.
inline constexpr int kLaneRow[8] = {0, 2, 4, 6, 1, 3, 5, 7};

template <typename Dot, int T>
inline void blockwise_tile(int64_t nb, const BlockQ4_0* const* w, const BlockQ8_0* const* x,
                           float* out, int64_t os, int64_t ahead) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    if (ahead && (i & 3) == 0) {
      for (int k = 0; k < 8; ++k) prefetch_ahead(w[k] + i, ahead, 2);
    }
    __m256i lo[4], hi[4];
    for (int k = 0; k < 4; ++k) {
      const __m256i v =
          _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[2 * k + 1][i].qs)),
                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[2 * k][i].qs)));
      lo[k] = _mm256_and_si256(v, m4);
      hi[k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
    const __m128i dwh = _mm_setr_epi16(
        static_cast<short>(w[0][i].d), static_cast<short>(w[2][i].d), static_cast<short>(w[4][i].d),
        static_cast<short>(w[6][i].d), static_cast<short>(w[1][i].d), static_cast<short>(w[3][i].d),
        static_cast<short>(w[5][i].d), static_cast<short>(w[7][i].d));
    const __m256 dw = _mm256_cvtph_ps(dwh);
    for (int t = 0; t < T; ++t) {
      const __m256i xlo = _mm256_broadcastsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t][i].qs)));
      const __m256i xhi = _mm256_broadcastsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t][i].qs + 16)));
      const __m256i off =
          _mm256_add_epi32(Dot::dp(_mm256_set1_epi8(8), xlo), Dot::dp(_mm256_set1_epi8(8), xhi));
      __m256i p[4];
      for (int k = 0; k < 4; ++k) {
        p[k] = _mm256_sub_epi32(_mm256_add_epi32(Dot::dp(lo[k], xlo), Dot::dp(hi[k], xhi)), off);
      }
      const __m256i isum =
          _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
      const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(half(x[t][i].d)));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc[t]);
    for (int k = 0; k < 8; ++k) out[t * os + kLaneRow[k]] = lanes[k];
  }
}

// Tokens in groups of kTokens, then one at a time; rows in groups of 8, then one at a time.
template <typename Dot, int kTokens>
void blockwise_tile_any(int64_t n, const void* w, size_t ws, int64_t nr, const void* x, size_t xs,
                        int64_t nt, float* out, int64_t os) {
  const int64_t nb = n / kQK;
  const int64_t ahead = nt == 1 ? rows_ahead(ws, 8) : 0;
  int64_t r = 0;
  for (; r + 8 <= nr; r += 8) {
    const BlockQ4_0* wr[8];
    for (int k = 0; k < 8; ++k) wr[k] = row_at<BlockQ4_0>(w, ws, r + k);
    int64_t t = 0;
    for (; t + kTokens <= nt; t += kTokens) {
      const BlockQ8_0* xt[kTokens];
      for (int k = 0; k < kTokens; ++k) xt[k] = row_at<BlockQ8_0>(x, xs, t + k);
      blockwise_tile<Dot, kTokens>(nb, wr, xt, out + t * os + r, os, ahead);
    }
    for (; t < nt; ++t) {
      const BlockQ8_0* xt = row_at<BlockQ8_0>(x, xs, t);
      blockwise_tile<Dot, 1>(nb, wr, &xt, out + t * os + r, os, ahead);
    }
  }
  for (; r < nr; ++r) {
    for (int64_t t = 0; t < nt; ++t) {
      out[t * os + r] =
          blockwise_dot<Dot>(n, row_at<BlockQ4_0>(w, ws, r), row_at<BlockQ8_0>(x, xs, t));
    }
  }
}

// --- Dispatch tables ----------------------------------------------------------------------

template <typename Dot>
VecDotFn quant_kernel(TensorType w, QuantOrder order) {
  if (order == QuantOrder::Blockwise) {
    return w == TensorType::Q4_0 ? blockwise_dot<Dot> : nullptr;
  }
  switch (w) {
    case TensorType::Q4_0:
      return lanes8_dot<Dot, BlockQ4_0, BlockQ8_0>;
    case TensorType::Q5_0:
      return lanes8_dot<Dot, BlockQ5_0, BlockQ8_0>;
    case TensorType::Q8_0:
      return lanes8_dot<Dot, BlockQ8_0, BlockQ8_0>;
    case TensorType::Q4_1:
      return lanes8_dot<Dot, BlockQ4_1, BlockQ8_1>;
    case TensorType::Q5_1:
      return lanes8_dot<Dot, BlockQ5_1, BlockQ8_1>;
    default:
      return nullptr;
  }
}

// kTokens: tokens per Blockwise GEMM tile (register budget of the ISA).
template <typename Dot, int kTokens>
VecDotTileFn quant_tile_kernel(TensorType w, QuantOrder order) {
  if (order == QuantOrder::Blockwise) {
    return w == TensorType::Q4_0 ? blockwise_tile_any<Dot, kTokens> : nullptr;
  }
  switch (w) {
    case TensorType::Q4_0:
      return lanes8_tile_any<Dot, BlockQ4_0, BlockQ8_0>;
    case TensorType::Q5_0:
      return lanes8_tile_any<Dot, BlockQ5_0, BlockQ8_0>;
    case TensorType::Q8_0:
      return lanes8_tile_any<Dot, BlockQ8_0, BlockQ8_0>;
    case TensorType::Q4_1:
      return lanes8_tile_any<Dot, BlockQ4_1, BlockQ8_1>;
    case TensorType::Q5_1:
      return lanes8_tile_any<Dot, BlockQ5_1, BlockQ8_1>;
    default:
      return nullptr;
  }
}

}  // namespace
}  // namespace emoe::kernels
