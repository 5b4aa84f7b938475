// 512-bit streaming read for measure_read_bandwidth_gbs (see mem_bandwidth_avx2.cpp).
#include <immintrin.h>

#include "kernels/cpu/mem_bandwidth_simd.h"

namespace emoe::kernels {

uint64_t read_sum_avx512(const void* p, size_t bytes) {
  const auto* v = static_cast<const __m512i*>(p);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < bytes / 64; i += 4) {
    // Same software prefetch distance as the GEMV kernels, so the yardstick is the best
    // streaming rate those access patterns can reach (it is a hint: no fault past the end).
    const char* ahead = reinterpret_cast<const char*>(v + i) + 8192;
    for (int k = 0; k < 4; ++k) _mm_prefetch(ahead + 64 * k, _MM_HINT_T0);
    a0 = _mm512_add_epi64(a0, _mm512_load_si512(v + i));
    a1 = _mm512_add_epi64(a1, _mm512_load_si512(v + i + 1));
    a2 = _mm512_add_epi64(a2, _mm512_load_si512(v + i + 2));
    a3 = _mm512_add_epi64(a3, _mm512_load_si512(v + i + 3));
  }
  const __m512i s = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, s);
  uint64_t total = 0;
  for (uint64_t x : lanes) total += x;
  return total;
}

}  // namespace emoe::kernels
