// Quantized dot-product loops shared by vec_dot_avx2.cpp and vec_dot_avx512.cpp, parameterised
// by how 32 int8 products are summed (AVX2 maddubs or AVX512-VNNI dpbusd). Everything has
// internal linkage: each ISA translation unit compiles its own copy with its own flags, so no
// AVX-512 instruction can leak into the AVX2 path through an ODR-merged inline function.
// Include only after <immintrin.h>, and only from those two files.
#pragma once

#include <cstring>

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

// sum over blocks of (d_w*d_x) * sum(q_w*q_x); two accumulators hide the FMA latency.
template <typename Dot, typename WBlock>
float dot_q_q8_0(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const WBlock*>(w);
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  const int64_t nb = n / kQK;
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 1 < nb; i += 2) {
    const __m256 d0 = _mm256_set1_ps(half(wb[i].d) * half(xb[i].d));
    const __m256 d1 = _mm256_set1_ps(half(wb[i + 1].d) * half(xb[i + 1].d));
    const __m256i s0 = Dot::signed_dot(load_w(wb[i]), load_x(xb[i]));
    const __m256i s1 = Dot::signed_dot(load_w(wb[i + 1]), load_x(xb[i + 1]));
    acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(s0), acc0);
    acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(s1), acc1);
  }
  if (i < nb) {
    const __m256 d0 = _mm256_set1_ps(half(wb[i].d) * half(xb[i].d));
    const __m256i s0 = Dot::signed_dot(load_w(wb[i]), load_x(xb[i]));
    acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(s0), acc0);
  }
  return hsum_float_8(_mm256_add_ps(acc0, acc1));
}

// As above plus sum over blocks of m_w * s_x (ggml keeps that sum in a scalar float).
template <typename Dot, typename WBlock>
float dot_q_q8_1(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const WBlock*>(w);
  const auto* xb = static_cast<const BlockQ8_1*>(x);
  const int64_t nb = n / kQK;
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  float summs = 0.0f;
  int64_t i = 0;
  for (; i + 1 < nb; i += 2) {
    const __m256 d0 = _mm256_set1_ps(half(wb[i].d) * half(xb[i].d));
    const __m256 d1 = _mm256_set1_ps(half(wb[i + 1].d) * half(xb[i + 1].d));
    summs += half(wb[i].m) * half(xb[i].s);
    summs += half(wb[i + 1].m) * half(xb[i + 1].s);
    const __m256i s0 = Dot::unsigned_dot(load_w(wb[i]), load_x(xb[i]));
    const __m256i s1 = Dot::unsigned_dot(load_w(wb[i + 1]), load_x(xb[i + 1]));
    acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(s0), acc0);
    acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(s1), acc1);
  }
  if (i < nb) {
    const __m256 d0 = _mm256_set1_ps(half(wb[i].d) * half(xb[i].d));
    summs += half(wb[i].m) * half(xb[i].s);
    const __m256i s0 = Dot::unsigned_dot(load_w(wb[i]), load_x(xb[i]));
    acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(s0), acc0);
  }
  return hsum_float_8(_mm256_add_ps(acc0, acc1)) + summs;
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
