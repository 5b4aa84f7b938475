// What the AVX2 and AVX-512 K-quant kernels (vec_dot_k_avx2.cpp, vec_dot_k_avx512.cpp) share
// around their ISA-specific core: the per-output float accumulator and its final reduction
// (ggml's order), the prepared-activation scratch, the single-row dot, and the walk of a
// GEMV/GEMM over tiles of rows and tokens. Internal linkage, instantiated per ISA file with its
// own flags (see vec_dot_x86_common.h). Include only after <immintrin.h>.
//
// An ISA plugs in as a policy K with:
//   using XK = ...;                        one prepared activation super-block
//   template <typename Block> static void prepare(const BlockQ8_K* x, int64_t nb, XK* out);
//   template <typename Block, int R, int T> static void tile(int64_t nb,
//       const Block* const* w, const XK* const* x, float* out, int64_t os, int64_t ahead);
//     (R weight rows x T activation rows, out[t * os + r]; ahead: prefetch distance, 0: none)
//   static constexpr int kRows, kTokens;   GEMV rows / GEMM tokens per tile
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/cpu/quant_k.h"
#include "kernels/cpu/quant_k_blocks.h"
#include "kernels/cpu/vec_dot_x86_common.h"

namespace emoe::kernels {
namespace {

// The float accumulation of one (row, token) output.
struct Acc {
  __m256 a;     // ggml's eight lanes
  __m128 m;     // Q4_K: four lanes of min terms
  float summs;  // Q5_K: the min terms
};

template <typename Block>
inline float finish(const Acc& acc) {
  const float sum = hsum_float_8(acc.a);
  if constexpr (std::is_same_v<Block, BlockQ4_K>) {
    __m128 m = _mm_add_ps(acc.m, _mm_movehl_ps(acc.m, acc.m));  // (m0+m2, m1+m3)
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return sum + _mm_cvtss_f32(m);
  }
  if constexpr (std::is_same_v<Block, BlockQ5_K>) return sum + acc.summs;
  return sum;
}

// Prepared activations; grows to the largest call and is then reused (one per thread).
template <typename K>
typename K::XK* k_scratch(size_t n) {
  thread_local std::vector<typename K::XK> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

template <typename K, typename Block>
float k_dot(int64_t n, const void* w, const void* x) {
  const int64_t nb = n / kQK_K;
  typename K::XK* xk = k_scratch<K>(static_cast<size_t>(nb));
  K::template prepare<Block>(static_cast<const BlockQ8_K*>(x), nb, xk);
  const Block* wr = static_cast<const Block*>(w);
  const typename K::XK* xc = xk;
  float out;
  K::template tile<Block, 1, 1>(nb, &wr, &xc, &out, 0, kPrefetchBytes);
  return out;
}

// GEMV (one token): rows in groups of K::kRows, prefetching whole groups of rows ahead so every
// row's prefetch lands on the same super-block of a later group. GEMM: tokens in groups of
// K::kTokens against one row at a time, leftover tokens as GEMV.
template <typename K, typename Block>
void k_tile_any(int64_t n, const void* w, size_t ws, int64_t nr, const void* x, size_t xs,
                int64_t nt, float* out, int64_t os) {
  using XK = typename K::XK;
  constexpr int kRows = K::kRows, kTokens = K::kTokens;
  const int64_t nb = n / kQK_K;
  XK* buf = k_scratch<K>(static_cast<size_t>(nb * nt));
  for (int64_t t = 0; t < nt; ++t) {
    K::template prepare<Block>(row_at<BlockQ8_K>(x, xs, t), nb, buf + t * nb);
  }
  int64_t t = 0;
  for (; t + kTokens <= nt; t += kTokens) {
    const XK* xt[kTokens];
    for (int k = 0; k < kTokens; ++k) xt[k] = buf + (t + k) * nb;
    for (int64_t r = 0; r < nr; ++r) {
      const Block* wr = row_at<Block>(w, ws, r);
      K::template tile<Block, 1, kTokens>(nb, &wr, xt, out + t * os + r, os, 0);
    }
  }
  const int64_t ahead = nt == 1 ? rows_ahead(ws, kRows) : 0;
  for (; t < nt; ++t) {
    const XK* xt = buf + t * nb;
    float* o = out + t * os;
    int64_t r = 0;
    for (; r + kRows <= nr; r += kRows) {
      const Block* wr[kRows];
      for (int k = 0; k < kRows; ++k) wr[k] = row_at<Block>(w, ws, r + k);
      K::template tile<Block, kRows, 1>(nb, wr, &xt, o + r, 0, ahead);
    }
    for (; r < nr; ++r) {
      const Block* wr = row_at<Block>(w, ws, r);
      K::template tile<Block, 1, 1>(nb, &wr, &xt, o + r, 0, kPrefetchBytes);
    }
  }
}

template <typename K>
VecDotFn k_dot_fn(TensorType w) {
  switch (w) {
    case TensorType::Q2_K:
      return k_dot<K, BlockQ2_K>;
    case TensorType::Q3_K:
      return k_dot<K, BlockQ3_K>;
    case TensorType::Q4_K:
      return k_dot<K, BlockQ4_K>;
    case TensorType::Q5_K:
      return k_dot<K, BlockQ5_K>;
    case TensorType::Q6_K:
      return k_dot<K, BlockQ6_K>;
    default:
      return nullptr;
  }
}

template <typename K>
VecDotTileFn k_tile_fn(TensorType w) {
  switch (w) {
    case TensorType::Q2_K:
      return k_tile_any<K, BlockQ2_K>;
    case TensorType::Q3_K:
      return k_tile_any<K, BlockQ3_K>;
    case TensorType::Q4_K:
      return k_tile_any<K, BlockQ4_K>;
    case TensorType::Q5_K:
      return k_tile_any<K, BlockQ5_K>;
    case TensorType::Q6_K:
      return k_tile_any<K, BlockQ6_K>;
    default:
      return nullptr;
  }
}

}  // namespace
}  // namespace emoe::kernels
