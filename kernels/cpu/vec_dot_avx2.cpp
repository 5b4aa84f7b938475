// AVX2 + FMA + F16C dot products (compiled with those flags; called only when the CPU has them).
#include <immintrin.h>

#include "kernels/cpu/quant_k.h"
#include "kernels/cpu/vec_dot_impl.h"
#include "kernels/cpu/vec_dot_x86_quant.h"

namespace emoe::kernels {
namespace {

// Lane j = sum of the four u8 x s8 products of bytes 4j..4j+3. The int16 pair sums cannot
// saturate for the operands the quant kernels pass (u <= 128 against |s| <= 127, or u <= 31).
struct DotAvx2 {
  static __m256i dp(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
  }
};

// Widening loads of 8 elements to float.
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p, bool bf16) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

// Four 8-lane accumulators over 32 elements per step, then 8 at a time, then a scalar tail.
template <typename T, typename Load, typename Scalar>
float dot_float(int64_t n, const T* a, const T* b, Load load, Scalar to_f32) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm256_fmadd_ps(load(a + i + 8 * k), load(b + i + 8 * k), acc[k]);
    }
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load(a + i), load(b + i), acc[0]);
  float sum =
      hsum_float_8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += to_f32(a[i]) * to_f32(b[i]);
  return sum;
}

float dot_f32(int64_t n, const void* w, const void* x) {
  return dot_float(
      n, static_cast<const float*>(w), static_cast<const float*>(x),
      [](const float* p) { return load8(p); }, [](float v) { return v; });
}

float dot_f16(int64_t n, const void* w, const void* x) {
  return dot_float(
      n, static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(x),
      [](const uint16_t* p) { return load8(p, false); }, [](uint16_t h) { return half(h); });
}

float dot_bf16(int64_t n, const void* w, const void* x) {
  return dot_float(
      n, static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(x),
      [](const uint16_t* p) { return load8(p, true); },
      [](uint16_t h) { return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(int{h} << 16))); });
}

}  // namespace

VecDotFn vec_dot_fn_avx2(TensorType w, QuantOrder order) {
  switch (w) {
    case TensorType::F32:
      return dot_f32;
    case TensorType::F16:
      return dot_f16;
    case TensorType::BF16:
      return dot_bf16;
    default:
      if (is_k_quant(w)) return vec_dot_k_fn_avx2(w);
      return quant_kernel<DotAvx2>(w, order);
  }
}

// Two tokens per Blockwise GEMM tile: eight unpacked weight vectors plus two accumulators fit
// the sixteen ymm registers.
VecDotTileFn vec_dot_tile_fn_avx2(TensorType w, QuantOrder order) {
  if (is_k_quant(w)) return vec_dot_k_tile_fn_avx2(w);
  return quant_tile_kernel<DotAvx2, 2>(w, order);
}

}  // namespace emoe::kernels
