// AVX2 + FMA + F16C dot products of K-quant weights with Q8_K activations (compiled with those
// flags; called only when the CPU has them). The float32 operations are ggml's AVX2
// ggml_vec_dot_q{2..6}_K_q8_K, one for one (the order is spelled out in quant_k.cpp next to the
// scalar reference, which these kernels match bit for bit). Integer sums are exact and may be
// grouped differently: per 32-element chunk, maddubs gives int16 pair sums (no saturation for
// these operands: |q_w| <= 63 against |q_x| <= 127) and madd with the int16 scale of each
// 16 elements folds them into the eight int32 lanes.
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant_k.h"
#include "kernels/cpu/quant_k_blocks.h"
#include "kernels/cpu/vec_dot_k_x86_driver.h"

namespace emoe::kernels {
namespace {

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Bits c of 32 bytes, as 0/1 bytes.
inline __m256i bit_of(__m256i bytes, int c) {
  return _mm256_and_si256(_mm256_srli_epi16(bytes, c), _mm256_set1_epi8(1));
}

// One activation super-block with what every weight row needs from it precomputed.
struct alignas(32) XK {
  int8_t q[kQK_K];
  int16_t off[kQK_K / 2];  // maddubs(offset, chunk) per chunk (types with a constant offset)
  int16_t bsums[16];
  int16_t q8s[8];  // sums per 32 elements (pairs of bsums)
  float d;
};

// Per-16 scales of chunk c (int8 s[2c], s[2c+1]) as int16 in the two halves of a vector.
inline __m256i scales16(__m128i s8, int c) {
  const __m128i idx =
      _mm_set_epi64x(0x0101010101010101LL * (2 * c + 1), 0x0101010101010101LL * (2 * c));
  return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s8, idx));
}
// Per-32 scale of chunk c (byte c of s8) in every int16 lane.
inline __m256i scales32(__m128i s8, int c) {
  return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s8, _mm_set1_epi8(static_cast<char>(c))));
}

// A weight super-block: chunk(c) gives the 32 unsigned quants of chunk c and scale(c) their
// int16 scales; the block's own scales and mins as in the scalar reference.
template <typename Block>
struct KChunks;

template <>
struct KChunks<BlockQ2_K> {
  static constexpr int kOffset = 0;
  __m256i bits[2];
  __m128i s8;
  __m256i mins16;
  float d, dmin;
  explicit KChunks(const BlockQ2_K& b) : bits{load32(b.qs), load32(b.qs + 32)} {
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    s8 = _mm_and_si128(s, _mm_set1_epi8(0x0F));
    mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), _mm_set1_epi8(0x0F)));
    d = half(b.d);
    dmin = half(b.dmin);
  }
  __m256i chunk(int c) const {
    return _mm256_and_si256(_mm256_srli_epi16(bits[c / 4], 2 * (c % 4)), _mm256_set1_epi8(3));
  }
  __m256i scale(int c) const { return scales16(s8, c); }
};

template <>
struct KChunks<BlockQ3_K> {
  static constexpr int kOffset = 4;  // q = low | 4 * hbit, minus 4
  __m256i bits[2], hbits;
  __m128i s8;
  float d, dmin = 0.0f;
  explicit KChunks(const BlockQ3_K& b)
      : bits{load32(b.qs), load32(b.qs + 32)}, hbits(load32(b.hmask)) {
    // The sixteen 6-bit scales, four bytes at a time (ggml's aux trick; see q3k_scales).
    uint32_t a[4];
    std::memcpy(a, b.scales, 12);
    const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f, t = a[2];
    a[2] = ((a[0] >> 4) & k2) | (((t >> 4) & k1) << 4);
    a[3] = ((a[1] >> 4) & k2) | (((t >> 6) & k1) << 4);
    a[0] = (a[0] & k2) | ((t & k1) << 4);
    a[1] = (a[1] & k2) | (((t >> 2) & k1) << 4);
    s8 = _mm_sub_epi8(_mm_setr_epi32(static_cast<int>(a[0]), static_cast<int>(a[1]),
                                     static_cast<int>(a[2]), static_cast<int>(a[3])),
                      _mm_set1_epi8(32));
    d = half(b.d);
  }
  __m256i chunk(int c) const {
    const __m256i lo =
        _mm256_and_si256(_mm256_srli_epi16(bits[c / 4], 2 * (c % 4)), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(bit_of(hbits, c), 2));
  }
  __m256i scale(int c) const { return scales16(s8, c); }
};

// Q4_K/Q5_K scales and mins as bytes (0..7 scales, 8..15 mins): ggml's utmp rearrangement of
// get_scale_min_k4, four bytes at a time.
inline __m128i scales_mins_k4(const uint8_t* scales) {
  uint32_t u[4];
  std::memcpy(u, scales, 12);
  const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
  u[3] = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
  const uint32_t mins_lo = u[1] & k1;
  u[1] = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
  u[2] = mins_lo;
  u[0] &= k1;
  return _mm_setr_epi32(static_cast<int>(u[0]), static_cast<int>(u[1]), static_cast<int>(u[2]),
                        static_cast<int>(u[3]));
}

template <typename Block, bool kFive>
struct KChunks45 {
  static constexpr int kOffset = 0;
  const Block& b;
  __m256i hbits;
  __m128i s8;
  __m128i mins8;
  float d, dmin;
  explicit KChunks45(const Block& blk) : b(blk) {
    s8 = scales_mins_k4(b.scales);
    mins8 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(s8, s8));
    if constexpr (kFive) hbits = load32(b.qh);
    d = half(b.d);
    dmin = half(b.dmin);
  }
  __m256i chunk(int c) const {
    __m256i q = _mm256_and_si256(_mm256_srli_epi16(load32(b.qs + 32 * (c / 2)), 4 * (c & 1)),
                                 _mm256_set1_epi8(0x0F));
    if constexpr (kFive) q = _mm256_or_si256(q, _mm256_slli_epi16(bit_of(hbits, c), 4));
    return q;
  }
  __m256i scale(int c) const { return scales32(s8, c); }
};
template <>
struct KChunks<BlockQ4_K> : KChunks45<BlockQ4_K, false> {
  using KChunks45::KChunks45;
};
template <>
struct KChunks<BlockQ5_K> : KChunks45<BlockQ5_K, true> {
  using KChunks45::KChunks45;
};

template <>
struct KChunks<BlockQ6_K> {
  static constexpr int kOffset = 32;
  const BlockQ6_K& b;
  __m128i s8;
  float d, dmin = 0.0f;
  explicit KChunks(const BlockQ6_K& blk)
      : b(blk), s8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales))), d(half(blk.d)) {}
  __m256i chunk(int c) const {
    const int h = c / 4, k = c % 4;
    const __m256i lo =
        _mm256_and_si256(_mm256_srli_epi16(load32(b.ql + 64 * h + 32 * (k & 1)), k >= 2 ? 4 : 0),
                         _mm256_set1_epi8(0x0F));
    const __m256i top =
        _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(load32(b.qh + 32 * h), 2 * k), 4),
                         _mm256_set1_epi8(0x30));
    return _mm256_or_si256(lo, top);
  }
  __m256i scale(int c) const { return scales16(s8, c); }
};

template <typename Block>
void prepare_x(const BlockQ8_K* x, int64_t nb, XK* out) {
  for (int64_t i = 0; i < nb; ++i) {
    XK& o = out[i];
    std::memcpy(o.q, x[i].qs, kQK_K);
    if constexpr (KChunks<Block>::kOffset != 0) {
      const __m256i off = _mm256_set1_epi8(KChunks<Block>::kOffset);
      for (int c = 0; c < 8; ++c) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(o.off + 16 * c),
                           _mm256_maddubs_epi16(off, load32(x[i].qs + 32 * c)));
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
// One super-block of T outputs sharing a weight row: exactly the float operations of the
// scalar reference, in its order, for each.
template <typename Block, int T>
inline void accumulate(const KChunks<Block>& w, const XK* const* x, int64_t i, Acc* acc) {
  __m256i sumi[T];
  for (int t = 0; t < T; ++t) sumi[t] = _mm256_setzero_si256();
  for (int c = 0; c < 8; ++c) {
    const __m256i q = w.chunk(c), sc = w.scale(c);
    for (int t = 0; t < T; ++t) {
      __m256i p = _mm256_maddubs_epi16(q, load32(x[t][i].q + 32 * c));
      if constexpr (KChunks<Block>::kOffset != 0)
        p = _mm256_sub_epi16(p, load32(x[t][i].off + 16 * c));
      sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(sc, p));
    }
  }
  for (int t = 0; t < T; ++t) {
    const XK& xk = x[t][i];
    Acc& a = acc[t];
    const float d = xk.d * w.d;
    if constexpr (std::is_same_v<Block, BlockQ2_K>) {
      const float dmin = -xk.d * w.dmin;
      const __m256i prod = _mm256_madd_epi16(w.mins16, load32(xk.bsums));
      a.a = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), a.a);
    }
    if constexpr (std::is_same_v<Block, BlockQ4_K> || std::is_same_v<Block, BlockQ5_K>) {
      const float dmin = -xk.d * w.dmin;
      const __m128i prod =
          _mm_madd_epi16(w.mins8, _mm_load_si128(reinterpret_cast<const __m128i*>(xk.q8s)));
      if constexpr (std::is_same_v<Block, BlockQ4_K>) {
        a.m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), a.m);
      } else {
        const __m128i s2 = _mm_add_epi32(prod, _mm_unpackhi_epi64(prod, prod));
        const int isum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
        a.summs = std::fma(dmin, static_cast<float>(isum), a.summs);
      }
    }
    a.a = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[t]), a.a);
  }
}

// R weight rows x T prepared activation rows, out[t * os + r]; ahead: prefetch distance.
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
    for (int r = 0; r < R; ++r) accumulate<Block, T>(KChunks<Block>(w[r][i]), x, i, acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) out[t * os + r] = finish<Block>(acc[r][t]);
  }
}

struct Avx2K {
  using XK = emoe::kernels::XK;
  static constexpr int kRows = 2, kTokens = 2;  // the sixteen ymm registers
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

VecDotFn vec_dot_k_fn_avx2(TensorType w) { return k_dot_fn<Avx2K>(w); }

VecDotTileFn vec_dot_k_tile_fn_avx2(TensorType w) { return k_tile_fn<Avx2K>(w); }

}  // namespace emoe::kernels
