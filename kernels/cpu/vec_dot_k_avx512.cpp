// AVX-512 (BW, VL, VNNI) dot products of K-quant weights with Q8_K activations: the single-row
// kernel and the multi-row / multi-token tiles GEMV and GEMM use. Called only when the CPU has
// AVX512-VNNI. The float32 operations per output are ggml's AVX2 ggml_vec_dot_q{2..6}_K_q8_K,
// one for one (quant_k.cpp spells the order out next to the scalar reference), so every shape
// of tile gives the scalar reference's bits.
//
// Only the exact integer part is regrouped. A 512-bit vector carries two 32-element chunks of
// a super-block, one per 256-bit half; each half's int32 lane j collects bytes 4j..4j+3 of its
// chunk, which is ggml's lane j, so adding the two halves at the end yields ggml's eight lanes.
// Per vector: maddubs gives int16 pair sums (|q_w| <= 63 against |q_x| <= 127: no saturation),
// a precomputed maddubs(offset, x) removes the format's constant offset, and vpdpwssd multiplies
// by the int16 scale of each 16 elements and accumulates.
//
// The activations are rearranged once per call (XK) into the chunk order the weight unpacking
// produces naturally, so each weight super-block is unpacked with a few shifts and masks and
// the rearrangement is shared by every row.
#include <immintrin.h>

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/quant_k.h"
#include "kernels/cpu/quant_k_blocks.h"

#pragma GCC push_options
#pragma GCC target("avx512vnni")

// After the target switch, so the shared driver is compiled for this ISA too.
#include "kernels/cpu/vec_dot_k_x86_driver.h"

namespace emoe::kernels {
namespace {

inline __m512i load64(const void* p) { return _mm512_loadu_si512(p); }
inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
// GCC 12 builds _mm512_zextsi256_si512 and the plain broadcasts from an undefined vector and
// warns (-Wmaybe-uninitialized); the zero-masked broadcast computes the same without the warning.
inline __m512i zext512(__m256i v) { return _mm512_maskz_broadcast_i64x4(0x0F, v); }
inline __m512i both_halves(const void* p) { return _mm512_maskz_broadcast_i64x4(0xFF, load32(p)); }

// Which chunks (32 elements each) the four vectors of a super-block hold: vector v has chunk
// kLo[v] in its low half and kHi[v] in its high half.
struct ChunkPairs {
  std::array<int, 4> lo, hi;
};
// Q2_K/Q3_K: bits 2j of the 64 qs bytes are chunks j and 4 + j.
inline constexpr ChunkPairs kPairsQ23{{0, 1, 2, 3}, {4, 5, 6, 7}};
// Q4_K/Q5_K: the nibbles of qs bytes 0..63 are chunks 0|2 (low) and 1|3 (high), and so on.
inline constexpr ChunkPairs kPairsQ45{{0, 1, 4, 5}, {2, 3, 6, 7}};
// Q6_K: the nibbles of ql bytes 0..63 are chunks 0|1 (low) and 2|3 (high): natural order.
inline constexpr ChunkPairs kPairsQ6{{0, 2, 4, 6}, {1, 3, 5, 7}};

// vpermw indices that spread int16 scales over a vector. per16: the halves take scales
// (2 lo, 2 lo + 1 | 2 hi, 2 hi + 1) per 16 elements; otherwise (lo | hi) per 32.
struct ScaleIdx {
  alignas(64) int16_t v[4][32];
};
constexpr ScaleIdx scale_idx(const ChunkPairs& c, bool per16) {
  ScaleIdx s{};
  for (int v = 0; v < 4; ++v) {
    for (int l = 0; l < 32; ++l) {
      const int chunk = l < 16 ? c.lo[v] : c.hi[v];
      s.v[v][l] = static_cast<int16_t>(per16 ? 2 * chunk + (l % 16) / 8 : chunk);
    }
  }
  return s;
}
inline constexpr ScaleIdx kIdxQ23 = scale_idx(kPairsQ23, true);
inline constexpr ScaleIdx kIdxQ45 = scale_idx(kPairsQ45, false);
inline constexpr ScaleIdx kIdxQ6 = scale_idx(kPairsQ6, true);

inline __m512i spread(const ScaleIdx& idx, int v, __m512i s16) {
  return _mm512_permutexvar_epi16(_mm512_load_si512(idx.v[v]), s16);
}

// Bytes with bit `lo_bit` set in the low half and `hi_bit` in the high half: selects one hmask
// or qh bit per chunk.
inline __m512i bit_select(int lo_bit, int hi_bit) {
  return _mm512_mask_blend_epi64(0xF0, _mm512_set1_epi8(static_cast<char>(1 << lo_bit)),
                                 _mm512_set1_epi8(static_cast<char>(1 << hi_bit)));
}

// One activation super-block, prepared for one weight type.
struct alignas(64) XK {
  int8_t q[kQK_K];         // the four vectors, chunks as the type's ChunkPairs
  int16_t off[kQK_K / 2];  // maddubs(offset, q) per vector (types with a constant offset)
  int16_t bsums[16];
  int16_t q8s[8];  // sums per 32 elements (pairs of bsums)
  float d;
};

// A weight super-block unpacked: unsigned quants and int16 scales per vector, the mins
// (Q2_K: sixteen int16 in a 256-bit vector; Q4_K/Q5_K: eight in a 128-bit one) and the scales.
struct WK {
  __m512i q[4], sc[4];
  __m256i mins16;
  __m128i mins8;
  float d, dmin;
};

template <typename Block>
struct KFormat;

template <>
struct KFormat<BlockQ2_K> {
  static constexpr const ChunkPairs& kPairs = kPairsQ23;
  static constexpr int kOffset = 0;
  static void unpack(const BlockQ2_K& b, WK& w) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i z = load64(b.qs);
    for (int j = 0; j < 4; ++j) w.q[j] = _mm512_and_si512(_mm512_srli_epi16(z, 2 * j), m3);
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m512i s16 = zext512(_mm256_cvtepu8_epi16(_mm_and_si128(s, m4)));
    for (int j = 0; j < 4; ++j) w.sc[j] = spread(kIdxQ23, j, s16);
    w.mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m4));
    w.d = half(b.d);
    w.dmin = half(b.dmin);
  }
};

template <>
struct KFormat<BlockQ3_K> {
  static constexpr const ChunkPairs& kPairs = kPairsQ23;
  static constexpr int kOffset = 4;  // q = low | 4 * hbit, minus 4
  static void unpack(const BlockQ3_K& b, WK& w) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i four = _mm512_set1_epi8(4);
    const __m512i z = load64(b.qs);
    const __m512i h = both_halves(b.hmask);
    for (int j = 0; j < 4; ++j) {
      const __m512i lo = _mm512_and_si512(_mm512_srli_epi16(z, 2 * j), m3);
      w.q[j] = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(h, bit_select(j, 4 + j)), lo, four);
    }
    // The sixteen 6-bit scales, four bytes at a time (ggml's aux trick; see q3k_scales).
    uint32_t a[4];
    std::memcpy(a, b.scales, 12);
    const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f, t = a[2];
    a[2] = ((a[0] >> 4) & k2) | (((t >> 4) & k1) << 4);
    a[3] = ((a[1] >> 4) & k2) | (((t >> 6) & k1) << 4);
    a[0] = (a[0] & k2) | ((t & k1) << 4);
    a[1] = (a[1] & k2) | (((t >> 2) & k1) << 4);
    const __m128i s8 = _mm_sub_epi8(_mm_setr_epi32(static_cast<int>(a[0]), static_cast<int>(a[1]),
                                                   static_cast<int>(a[2]), static_cast<int>(a[3])),
                                    _mm_set1_epi8(32));
    const __m512i s16 = zext512(_mm256_cvtepi8_epi16(s8));
    for (int j = 0; j < 4; ++j) w.sc[j] = spread(kIdxQ23, j, s16);
    w.d = half(b.d);
    w.dmin = 0.0f;
  }
};

// Q4_K/Q5_K scales and mins as eight int16 each (lanes 0..7 scales, 8..15 mins): ggml's utmp
// rearrangement of get_scale_min_k4, four bytes at a time.
inline __m256i scales_mins_k4(const uint8_t* scales) {
  uint32_t u[4];
  std::memcpy(u, scales, 12);
  const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
  u[3] = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
  const uint32_t mins_lo = u[1] & k1;
  u[1] = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
  u[2] = mins_lo;
  u[0] &= k1;
  return _mm256_cvtepu8_epi16(_mm_setr_epi32(static_cast<int>(u[0]), static_cast<int>(u[1]),
                                             static_cast<int>(u[2]), static_cast<int>(u[3])));
}

template <typename Block, bool kFive>
struct KFormat45 {
  static constexpr const ChunkPairs& kPairs = kPairsQ45;
  static constexpr int kOffset = 0;
  static void unpack(const Block& b, WK& w) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i z0 = load64(b.qs), z1 = load64(b.qs + 64);
    w.q[0] = _mm512_and_si512(z0, m4);
    w.q[1] = _mm512_and_si512(_mm512_srli_epi16(z0, 4), m4);
    w.q[2] = _mm512_and_si512(z1, m4);
    w.q[3] = _mm512_and_si512(_mm512_srli_epi16(z1, 4), m4);
    if constexpr (kFive) {
      const __m512i h = both_halves(b.qh);
      const __m512i sixteen = _mm512_set1_epi8(16);
      for (int v = 0; v < 4; ++v) {
        const __mmask64 k = _mm512_test_epi8_mask(h, bit_select(kPairs.lo[v], kPairs.hi[v]));
        w.q[v] = _mm512_mask_add_epi8(w.q[v], k, w.q[v], sixteen);
      }
    }
    const __m256i sm = scales_mins_k4(b.scales);
    const __m512i s16 = zext512(sm);
    for (int v = 0; v < 4; ++v) w.sc[v] = spread(kIdxQ45, v, s16);
    w.mins8 = _mm256_extracti128_si256(sm, 1);
    w.d = half(b.d);
    w.dmin = half(b.dmin);
  }
};
template <>
struct KFormat<BlockQ4_K> : KFormat45<BlockQ4_K, false> {};
template <>
struct KFormat<BlockQ5_K> : KFormat45<BlockQ5_K, true> {};

template <>
struct KFormat<BlockQ6_K> {
  static constexpr const ChunkPairs& kPairs = kPairsQ6;
  static constexpr int kOffset = 32;
  static void unpack(const BlockQ6_K& b, WK& w) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    // Bits 2k..2k+1 of qh, for chunk k of each half, rotated to bits 4..5 of their byte.
    const __m512i rot01 = _mm512_mask_blend_epi64(0xF0, _mm512_set1_epi32(4), _mm512_set1_epi32(2));
    const __m512i rot23 =
        _mm512_mask_blend_epi64(0xF0, _mm512_set1_epi32(0), _mm512_set1_epi32(30));
    for (int h = 0; h < 2; ++h) {
      const __m512i l = load64(b.ql + 64 * h);
      const __m512i qh = both_halves(b.qh + 32 * h);
      const __m512i top01 = _mm512_and_si512(_mm512_maskz_rolv_epi32(0xFFFF, qh, rot01), m30);
      const __m512i top23 = _mm512_and_si512(_mm512_maskz_rolv_epi32(0xFFFF, qh, rot23), m30);
      w.q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m4), top01);
      w.q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), top23);
    }
    const __m512i s16 =
        zext512(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales))));
    for (int v = 0; v < 4; ++v) w.sc[v] = spread(kIdxQ6, v, s16);
    w.d = half(b.d);
    w.dmin = 0.0f;
  }
};

template <typename Block>
void prepare_x(const BlockQ8_K* x, int64_t nb, XK* out) {
  constexpr const ChunkPairs& p = KFormat<Block>::kPairs;
  for (int64_t i = 0; i < nb; ++i) {
    XK& o = out[i];
    for (int v = 0; v < 4; ++v) {
      const __m512i q = _mm512_mask_broadcast_i64x4(zext512(load32(x[i].qs + 32 * p.lo[v])), 0xF0,
                                                    load32(x[i].qs + 32 * p.hi[v]));
      _mm512_store_si512(o.q + 64 * v, q);
      if constexpr (KFormat<Block>::kOffset != 0) {
        const __m512i off = _mm512_maddubs_epi16(_mm512_set1_epi8(KFormat<Block>::kOffset), q);
        _mm512_store_si512(o.off + 32 * v, off);
      }
    }
    const __m256i bs = load32(x[i].bsums);
    _mm256_store_si256(reinterpret_cast<__m256i*>(o.bsums), bs);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o.q8s),
                     _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)));
    o.d = x[i].d;
  }
}

// Float accumulators of one output.
// One super-block of one (row, token) output: exactly the float operations of the scalar
// reference, in its order.
template <typename Block>
inline void accumulate(const WK& w, const XK& x, Acc& acc) {
  __m512i s = _mm512_setzero_si512();
  for (int v = 0; v < 4; ++v) {
    __m512i p = _mm512_maddubs_epi16(w.q[v], _mm512_load_si512(x.q + 64 * v));
    if constexpr (KFormat<Block>::kOffset != 0) {
      p = _mm512_sub_epi16(p, _mm512_load_si512(x.off + 32 * v));
    }
    s = _mm512_dpwssd_epi32(s, p, w.sc[v]);
  }
  const __m256i lanes = _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xFF, s, 0),
                                         _mm512_maskz_extracti64x4_epi64(0xFF, s, 1));
  const float d = x.d * w.d;
  if constexpr (std::is_same_v<Block, BlockQ2_K>) {
    const float dmin = -x.d * w.dmin;
    const __m256i prod =
        _mm256_madd_epi16(w.mins16, _mm256_load_si256(reinterpret_cast<const __m256i*>(x.bsums)));
    acc.a = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc.a);
  }
  if constexpr (std::is_same_v<Block, BlockQ4_K> || std::is_same_v<Block, BlockQ5_K>) {
    const float dmin = -x.d * w.dmin;
    const __m128i prod =
        _mm_madd_epi16(w.mins8, _mm_load_si128(reinterpret_cast<const __m128i*>(x.q8s)));
    if constexpr (std::is_same_v<Block, BlockQ4_K>) {
      acc.m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc.m);
    } else {
      const __m128i s2 = _mm_add_epi32(prod, _mm_unpackhi_epi64(prod, prod));
      const int isum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
      acc.summs = std::fma(dmin, static_cast<float>(isum), acc.summs);
    }
  }
  acc.a = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc.a);
}

// R weight rows x T prepared activation rows, out[t * os + r]. The weights of each super-block
// are unpacked once for the T tokens; the R * T accumulation chains hide each other's latency.
// ahead: prefetch distance in bytes (0: none).
template <typename Block, int R, int T>
void k_tile(int64_t nb, const Block* const* w, const XK* const* x, float* out, int64_t os,
            int64_t ahead) {
  Acc acc[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) acc[r][t] = {_mm256_setzero_ps(), _mm_setzero_ps(), 0.0f};
  }
  for (int64_t i = 0; i < nb; ++i) {
    if (ahead) {
      for (int r = 0; r < R; ++r) {
        const char* p = reinterpret_cast<const char*>(w[r] + i) + ahead;
        for (size_t l = 0; l < sizeof(Block); l += 64) _mm_prefetch(p + l, _MM_HINT_T0);
      }
    }
    for (int r = 0; r < R; ++r) {
      WK wk;
      KFormat<Block>::unpack(w[r][i], wk);
      for (int t = 0; t < T; ++t) accumulate<Block>(wk, x[t][i], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) out[t * os + r] = finish<Block>(acc[r][t]);
  }
}

struct Avx512K {
  using XK = emoe::kernels::XK;
  static constexpr int kRows = 4, kTokens = 4;
  template <typename Block>
  static void prepare(const BlockQ8_K* x, int64_t nb, XK* out) {
    prepare_x<Block>(x, nb, out);
  }
  template <typename Block, int R, int T>
  static void tile(int64_t nb, const Block* const* w, const XK* const* x, float* out, int64_t os,
                   int64_t ahead) {
    k_tile<Block, R, T>(nb, w, x, out, os, ahead);
  }
};

}  // namespace

VecDotFn vec_dot_k_fn_avx512(TensorType w) { return k_dot_fn<Avx512K>(w); }

VecDotTileFn vec_dot_k_tile_fn_avx512(TensorType w) { return k_tile_fn<Avx512K>(w); }

}  // namespace emoe::kernels
#pragma GCC pop_options
