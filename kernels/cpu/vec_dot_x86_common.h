// Small x86 pieces every SIMD dot-product kernel file shares (the legacy quant kernels in
// vec_dot_x86_quant.h and the K-quant kernels): ggml's horizontal float sum, half -> float,
// row addressing and the GEMV prefetch distance. Internal linkage, like the kernels that include
// it: each ISA translation unit compiles its own copy with its own flags, so nothing built with
// AVX-512 can be ODR-merged into the AVX2 path. Include only after <immintrin.h>.
#pragma once

#include <cstddef>
#include <cstdint>

namespace emoe::kernels {
namespace {

// ggml's hsum_float_8: (l0+l4, l1+l5, l2+l6, l3+l7) = a, then (a0+a2) + (a1+a3).
inline float hsum_float_8(__m256 x) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

inline float half(uint16_t h) { return _cvtsh_ss(h); }  // exact, like fp16_to_fp32

// How far ahead of the current weight block GEMV prefetches: enough to keep misses in flight
// across 4 KiB page boundaries, where the hardware prefetcher stops. Measured on the EPYC dev
// VM (AVX-512 kernel, 256 MiB Q8_0): 29.5 -> 37.5 GB/s against a 38 GB/s read bandwidth.
constexpr int64_t kPrefetchBytes = 8192;

template <typename Block>
inline const Block* row_at(const void* base, size_t stride, int64_t r) {
  return reinterpret_cast<const Block*>(static_cast<const unsigned char*>(base) +
                                        static_cast<size_t>(r) * stride);
}

// GEMV prefetch distance for `rows` rows streamed side by side: whole groups of rows ahead, so
// every row's prefetch lands on the same block of a later group (at least kPrefetchBytes on).
inline int64_t rows_ahead(size_t stride, int rows) {
  const int64_t group = static_cast<int64_t>(stride) * rows;
  return group > 0 ? (kPrefetchBytes + group - 1) / group * group : 0;
}

}  // namespace
}  // namespace emoe::kernels
