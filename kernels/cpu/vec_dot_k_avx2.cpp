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

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant_k.h"
#include "kernels/cpu/quant_k_blocks.h"

namespace emoe::kernels {
namespace {

inline float hsum_float_8(__m256 x) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

inline float half(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Scales of elements 0..15 and 16..31 of a chunk, as int16 in the halves of a vector.
inline __m256i scale_pair(int lo, int hi) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(hi)),
                          _mm_set1_epi16(static_cast<short>(lo)));
}

// Bits c of 32 bytes, as 0/1 bytes.
inline __m256i bit_of(__m256i bytes, int c) {
  return _mm256_and_si256(_mm256_srli_epi16(bytes, c), _mm256_set1_epi8(1));
}

// One lane vector per super-block: sum over chunks of madd(scale, maddubs(w, x) - maddubs(o, x)).
struct Chunk {
  __m256i w;    // unsigned weight quants of the 32 elements
  __m256i off;  // what the format subtracts from each (zero where nothing)
  bool has_off;
};

inline __m256i chunk_sum(const Chunk& c, __m256i x, __m256i scale) {
  __m256i p = _mm256_maddubs_epi16(c.w, x);
  if (c.has_off) p = _mm256_sub_epi16(p, _mm256_maddubs_epi16(c.off, x));
  return _mm256_madd_epi16(scale, p);
}

float dot_q2_k(int64_t n, const void* w, const void* xv) {
  const auto* wb = static_cast<const BlockQ2_K*>(w);
  const auto* xb = static_cast<const BlockQ8_K*>(xv);
  const __m256i m3 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ2_K& b = wb[i];
    const BlockQ8_K& x = xb[i];
    const float d = x.d * half(b.d);
    const float dmin = -x.d * half(b.dmin);
    const __m128i ms = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    const __m256i mins =
        _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(ms, 4), _mm_set1_epi8(0x0F)));
    const __m256i prod = _mm256_madd_epi16(mins, load32(x.bsums));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i bits = load32(b.qs + 32 * h);
      for (int j = 0; j < 4; ++j) {
        const int c = 4 * h + j;
        const Chunk ch{_mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), m3), __m256i{}, false};
        const __m256i sc = scale_pair(b.scales[2 * c] & 0xF, b.scales[2 * c + 1] & 0xF);
        sumi = _mm256_add_epi32(sumi, chunk_sum(ch, load32(x.qs + 32 * c), sc));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_float_8(acc);
}

float dot_q3_k(int64_t n, const void* w, const void* xv) {
  const auto* wb = static_cast<const BlockQ3_K*>(w);
  const auto* xb = static_cast<const BlockQ8_K*>(xv);
  const __m256i m3 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ3_K& b = wb[i];
    const BlockQ8_K& x = xb[i];
    const float d = x.d * half(b.d);
    int sc[16];
    q3k_scales(b.scales, sc);
    const __m256i hbits = load32(b.hmask);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i bits = load32(b.qs + 32 * h);
      for (int j = 0; j < 4; ++j) {
        const int c = 4 * h + j;
        // 4 where the high bit is clear: q = low - 4 * (1 - bit).
        const __m256i off =
            _mm256_slli_epi16(_mm256_xor_si256(bit_of(hbits, c), _mm256_set1_epi8(1)), 2);
        const Chunk ch{_mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), m3), off, true};
        sumi = _mm256_add_epi32(
            sumi, chunk_sum(ch, load32(x.qs + 32 * c), scale_pair(sc[2 * c], sc[2 * c + 1])));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_float_8(acc);
}

// Q4_K / Q5_K: eight 32-element sub-blocks with a 6-bit scale and min each.
template <typename Block, bool kFive>
float dot_q45_k(int64_t n, const void* w, const void* xv) {
  const auto* wb = static_cast<const Block*>(w);
  const auto* xb = static_cast<const BlockQ8_K*>(xv);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  float summs = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const Block& b = wb[i];
    const BlockQ8_K& x = xb[i];
    const float d = x.d * half(b.d);
    const float dmin = -x.d * half(b.dmin);
    int sc[8];
    alignas(16) int16_t mins[8];
    for (int c = 0; c < 8; ++c) {
      int m;
      k4_scale_min(c, b.scales, sc[c], m);
      mins[c] = static_cast<int16_t>(m);
    }
    // Sums of the activations per 32 (bsums pairs), times the mins: four int32 lanes.
    const __m256i bs = load32(x.bsums);
    const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    const __m128i prod =
        _mm_madd_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(mins)), q8s);
    if constexpr (kFive) {
      const __m128i s2 =
          _mm_hadd_epi32(_mm_hadd_epi32(prod, _mm_setzero_si128()), _mm_setzero_si128());
      summs = std::fma(dmin, static_cast<float>(_mm_cvtsi128_si32(s2)), summs);
    } else {
      acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
    }
    __m256i hbits = _mm256_setzero_si256();
    if constexpr (kFive) hbits = load32(b.qh);
    __m256i sumi = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      const __m256i bits = load32(b.qs + 32 * p);
      for (int k = 0; k < 2; ++k) {
        const int c = 2 * p + k;
        __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 4 * k), m4);
        if constexpr (kFive) q = _mm256_or_si256(q, _mm256_slli_epi16(bit_of(hbits, c), 4));
        const Chunk ch{q, __m256i{}, false};
        sumi = _mm256_add_epi32(sumi, chunk_sum(ch, load32(x.qs + 32 * c),
                                                _mm256_set1_epi16(static_cast<short>(sc[c]))));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  const float sum = hsum_float_8(acc);
  if constexpr (kFive) {
    return sum + summs;
  } else {
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    return sum + _mm_cvtss_f32(acc_m);
  }
}

float dot_q6_k(int64_t n, const void* w, const void* xv) {
  const auto* wb = static_cast<const BlockQ6_K*>(w);
  const auto* xb = static_cast<const BlockQ8_K*>(xv);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i m32 = _mm256_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ6_K& b = wb[i];
    const BlockQ8_K& x = xb[i];
    const float d = x.d * half(b.d);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i hi = load32(b.qh + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const int c = 4 * h + k;
        const __m256i lo = _mm256_and_si256(
            _mm256_srli_epi16(load32(b.ql + 64 * h + 32 * (k & 1)), k >= 2 ? 4 : 0), m4);
        const __m256i top =
            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hi, 2 * k), m3), 4);
        const Chunk ch{_mm256_or_si256(lo, top), m32, true};
        sumi = _mm256_add_epi32(sumi, chunk_sum(ch, load32(x.qs + 32 * c),
                                                scale_pair(b.scales[2 * c], b.scales[2 * c + 1])));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_float_8(acc);
}

}  // namespace

VecDotFn vec_dot_k_fn_avx2(TensorType w) {
  switch (w) {
    case TensorType::Q2_K:
      return dot_q2_k;
    case TensorType::Q3_K:
      return dot_q3_k;
    case TensorType::Q4_K:
      return dot_q45_k<BlockQ4_K, false>;
    case TensorType::Q5_K:
      return dot_q45_k<BlockQ5_K, true>;
    case TensorType::Q6_K:
      return dot_q6_k;
    default:
      return nullptr;
  }
}

}  // namespace emoe::kernels
