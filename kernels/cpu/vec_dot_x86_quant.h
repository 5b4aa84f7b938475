// Quantized dot-product loops shared by vec_dot_avx2.cpp and vec_dot_avx512.cpp, parameterised
// by how 32 int8 products are summed (AVX2 maddubs or AVX512-VNNI dpbusd). Everything has
// internal linkage: each ISA translation unit compiles its own copy with its own flags, so no
// AVX-512 instruction can leak into the AVX2 path through an ODR-merged inline function.
// Include only after <immintrin.h>, and only from those two files.
#pragma once

#include <cstring>
#include <type_traits>

#include "kernels/cpu/quant_blocks.h"

namespace emoe::kernels {
namespace {

inline float hsum_float_8(__m256 x) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

inline float half(uint16_t h) { return _cvtsh_ss(h); }  // exact, like fp16_to_fp32

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

// Weight loaders: 32 quants as int8, offset removed (signed) or raw (unsigned, for *_1 types).
inline __m256i load_w(const BlockQ4_0& b) {
  return _mm256_sub_epi8(bytes_from_nibbles_32(b.qs), _mm256_set1_epi8(8));
}
inline __m256i load_w(const BlockQ5_0& b) {
  const __m256i hi = _mm256_and_si256(bytes_from_bits_32(b.qh), _mm256_set1_epi8(0x10));
  return _mm256_sub_epi8(_mm256_or_si256(bytes_from_nibbles_32(b.qs), hi), _mm256_set1_epi8(16));
}
inline __m256i load_w(const BlockQ8_0& b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
}
inline __m256i load_w(const BlockQ4_1& b) { return bytes_from_nibbles_32(b.qs); }
inline __m256i load_w(const BlockQ5_1& b) {
  const __m256i hi = _mm256_and_si256(bytes_from_bits_32(b.qh), _mm256_set1_epi8(0x10));
  return _mm256_or_si256(bytes_from_nibbles_32(b.qs), hi);
}

template <typename Block>
inline __m256i load_x(const Block& b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
}

// How far ahead of the current weight block GEMV prefetches: enough to keep misses in flight
// across 4 KiB page boundaries, where the hardware prefetcher stops. Measured on the EPYC dev
// VM (AVX-512 kernel, 256 MiB Q8_0): 29.5 -> 37.5 GB/s against a 38 GB/s read bandwidth.
constexpr int64_t kPrefetchBytes = 8192;

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

// Lane k of a 4-float vector in all 8 lanes.
template <int k>
inline __m256 lane(__m128 v) {
  return _mm256_broadcastss_ps(_mm_shuffle_ps(v, v, _MM_SHUFFLE(k, k, k, k)));
}

// Int32 lane sums of one block's products, offset removed (signed) or raw (Q4_1/Q5_1).
template <typename Dot, typename WBlock, typename XBlock>
inline __m256 block_sum(const WBlock& w, const XBlock& x) {
  if constexpr (std::is_same_v<XBlock, BlockQ8_1>) {
    return _mm256_cvtepi32_ps(Dot::unsigned_dot(load_w(w), load_x(x)));
  } else {
    return _mm256_cvtepi32_ps(Dot::signed_dot(load_w(w), load_x(x)));
  }
}

// sum over blocks of (d_w*d_x) * sum(q_w*q_x) [+ m_w*s_x]: four blocks per step share one scale
// conversion; two accumulators hide the FMA latency; leftover blocks go one at a time. The
// m_w*s_x terms are summed separately in float32, as ggml does.
template <typename Dot, typename WBlock, typename XBlock>
float dot_blocks(int64_t n, const void* w, const void* x) {
  constexpr bool kMin = std::is_same_v<XBlock, BlockQ8_1>;
  const auto* wb = static_cast<const WBlock*>(w);
  const auto* xb = static_cast<const XBlock*>(x);
  const int64_t nb = n / kQK;
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m128 summs4 = _mm_setzero_ps();
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    // Software prefetch well ahead (see kPrefetchBytes): GEMV streams rows back to back.
    const char* ahead = reinterpret_cast<const char*>(wb + i) + kPrefetchBytes;
    _mm_prefetch(ahead, _MM_HINT_T0);
    _mm_prefetch(ahead + 64, _MM_HINT_T0);
    if constexpr (sizeof(WBlock) * 4 > 128) _mm_prefetch(ahead + 128, _MM_HINT_T0);
    const __m128 d = _mm_mul_ps(halves4(wb + i, 0), halves4(xb + i, 0));
    acc0 = _mm256_fmadd_ps(lane<0>(d), block_sum<Dot>(wb[i], xb[i]), acc0);
    acc1 = _mm256_fmadd_ps(lane<1>(d), block_sum<Dot>(wb[i + 1], xb[i + 1]), acc1);
    acc0 = _mm256_fmadd_ps(lane<2>(d), block_sum<Dot>(wb[i + 2], xb[i + 2]), acc0);
    acc1 = _mm256_fmadd_ps(lane<3>(d), block_sum<Dot>(wb[i + 3], xb[i + 3]), acc1);
    if constexpr (kMin)
      summs4 = _mm_add_ps(summs4, _mm_mul_ps(halves4(wb + i, 1), halves4(xb + i, 1)));
  }
  float summs = 0.0f;
  for (; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(half(wb[i].d) * half(xb[i].d));
    acc0 = _mm256_fmadd_ps(d, block_sum<Dot>(wb[i], xb[i]), acc0);
    if constexpr (kMin) summs += half(wb[i].m) * half(xb[i].s);
  }
  float sum = hsum_float_8(_mm256_add_ps(acc0, acc1));
  if constexpr (kMin) {
    summs4 = _mm_add_ps(summs4, _mm_movehl_ps(summs4, summs4));
    sum += _mm_cvtss_f32(_mm_add_ss(summs4, _mm_movehdup_ps(summs4))) + summs;
  }
  return sum;
}

template <typename Dot, typename WBlock>
float dot_q_q8_0(int64_t n, const void* w, const void* x) {
  return dot_blocks<Dot, WBlock, BlockQ8_0>(n, w, x);
}

template <typename Dot, typename WBlock>
float dot_q_q8_1(int64_t n, const void* w, const void* x) {
  return dot_blocks<Dot, WBlock, BlockQ8_1>(n, w, x);
}

template <typename Dot>
VecDotFn quant_kernel(TensorType w) {
  switch (w) {
    case TensorType::Q4_0:
      return dot_q_q8_0<Dot, BlockQ4_0>;
    case TensorType::Q5_0:
      return dot_q_q8_0<Dot, BlockQ5_0>;
    case TensorType::Q8_0:
      return dot_q_q8_0<Dot, BlockQ8_0>;
    case TensorType::Q4_1:
      return dot_q_q8_1<Dot, BlockQ4_1>;
    case TensorType::Q5_1:
      return dot_q_q8_1<Dot, BlockQ5_1>;
    default:
      return nullptr;
  }
}

}  // namespace
}  // namespace emoe::kernels
