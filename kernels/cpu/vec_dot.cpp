// Scalar reference dot products (the truth the SIMD kernels are tested against) and the
// run-time dispatch between ISAs.
#include "kernels/cpu/vec_dot.h"

#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_k.h"
#include "kernels/cpu/vec_dot_impl.h"

namespace emoe::kernels {
namespace {

float dot_f32(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float dot_f16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += fp16_to_fp32(a[i]) * fp16_to_fp32(b[i]);
  return sum;
}

float dot_bf16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += bf16_to_fp32(a[i]) * bf16_to_fp32(b[i]);
  return sum;
}

inline uint32_t qh_bits(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;
}

// Weight quants as signed integers with the format's offset removed (Q4_0: nibble-8, ...).
inline void unpack_q4_0(const BlockQ4_0& b, int* q) {
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = (b.qs[j] & 0x0F) - 8;
    q[j + kQK / 2] = (b.qs[j] >> 4) - 8;
  }
}
inline void unpack_q4_1(const BlockQ4_1& b, int* q) {
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = b.qs[j] & 0x0F;
    q[j + kQK / 2] = b.qs[j] >> 4;
  }
}
template <typename Block>
inline void unpack_q5(const Block& b, int* q, int offset) {
  const uint32_t qh = qh_bits(b.qh);
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = ((b.qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1) << 4)) - offset;
    q[j + kQK / 2] = ((b.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4)) - offset;
  }
}

// QuantOrder::Lanes8, written out lane by lane: lane j takes the int32 sum of the products of
// elements 4j..4j+3 of every block (ggml's mul_sum_i8_pairs_float / dpbusd grouping), scaled
// and accumulated with one FMA per block; then ggml's hsum_float_8 and, for Q8_1 activations,
// the separately accumulated minimum terms.
template <typename WBlock, typename XBlock, typename Unpack>
float dot_lanes8(int64_t n, const void* w, const void* x, Unpack unpack) {
  constexpr bool kMin = std::is_same_v<XBlock, BlockQ8_1>;
  const auto* wb = static_cast<const WBlock*>(w);
  const auto* xb = static_cast<const XBlock*>(x);
  float acc[8] = {};
  float summs = 0.0f;
  int q[kQK];
  for (int64_t i = 0; i < n / kQK; ++i) {
    unpack(wb[i], q);
    const float d = fp16_to_fp32(wb[i].d) * fp16_to_fp32(xb[i].d);
    for (int j = 0; j < 8; ++j) {
      int s = 0;
      for (int k = 4 * j; k < 4 * j + 4; ++k) s += q[k] * xb[i].qs[k];
      acc[j] = std::fma(d, static_cast<float>(s), acc[j]);
    }
    if constexpr (kMin) summs = std::fma(fp16_to_fp32(wb[i].m), fp16_to_fp32(xb[i].s), summs);
  }
  const float a0 = acc[0] + acc[4], a1 = acc[1] + acc[5], a2 = acc[2] + acc[6],
              a3 = acc[3] + acc[7];
  const float sum = (a0 + a2) + (a1 + a3);
  if constexpr (kMin) return sum + summs;
  return sum;
}

float dot_q4_0(int64_t n, const void* w, const void* x) {
  return dot_lanes8<BlockQ4_0, BlockQ8_0>(n, w, x, unpack_q4_0);
}
float dot_q5_0(int64_t n, const void* w, const void* x) {
  return dot_lanes8<BlockQ5_0, BlockQ8_0>(n, w, x,
                                          [](const BlockQ5_0& b, int* q) { unpack_q5(b, q, 16); });
}
float dot_q8_0(int64_t n, const void* w, const void* x) {
  return dot_lanes8<BlockQ8_0, BlockQ8_0>(n, w, x, [](const BlockQ8_0& b, int* q) {
    for (int j = 0; j < kQK; ++j) q[j] = b.qs[j];
  });
}
float dot_q4_1(int64_t n, const void* w, const void* x) {
  return dot_lanes8<BlockQ4_1, BlockQ8_1>(n, w, x, unpack_q4_1);
}
float dot_q5_1(int64_t n, const void* w, const void* x) {
  return dot_lanes8<BlockQ5_1, BlockQ8_1>(n, w, x,
                                          [](const BlockQ5_1& b, int* q) { unpack_q5(b, q, 0); });
}

// QuantOrder::Blockwise: one FMA per block with the block's whole int32 sum.
float dot_q4_0_blockwise(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ4_0*>(w);
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  float acc = 0.0f;
  int q[kQK];
  for (int64_t i = 0; i < n / kQK; ++i) {
    unpack_q4_0(wb[i], q);
    int s = 0;
    for (int j = 0; j < kQK; ++j) s += q[j] * xb[i].qs[j];
    const float d = fp16_to_fp32(wb[i].d) * fp16_to_fp32(xb[i].d);
    acc = std::fma(static_cast<float>(s), d, acc);
  }
  return acc;
}

}  // namespace

VecDotFn vec_dot_fn_scalar(TensorType w, QuantOrder order) {
  if (order == QuantOrder::Blockwise) return w == TensorType::Q4_0 ? dot_q4_0_blockwise : nullptr;
  switch (w) {
    case TensorType::F32:
      return dot_f32;
    case TensorType::F16:
      return dot_f16;
    case TensorType::BF16:
      return dot_bf16;
    case TensorType::Q4_0:
      return dot_q4_0;
    case TensorType::Q4_1:
      return dot_q4_1;
    case TensorType::Q5_0:
      return dot_q5_0;
    case TensorType::Q5_1:
      return dot_q5_1;
    case TensorType::Q8_0:
      return dot_q8_0;
    default:
      return vec_dot_k_fn_scalar(w);
  }
}

namespace {

Isa clamp(Isa isa) {
  return static_cast<int>(isa) > static_cast<int>(detected_isa()) ? detected_isa() : isa;
}

// The order only exists for the legacy quant types; Blockwise only for Q4_0 (see QuantOrder).
// Returns false when the combination has no kernel.
bool normalize(TensorType w, QuantOrder& order) {
  switch (w) {
    case TensorType::Q4_0:
      return true;
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
      return order == QuantOrder::Lanes8;
    default:
      order = QuantOrder::Lanes8;
      return true;
  }
}

}  // namespace

VecDotFn vec_dot_fn(Isa isa, TensorType w, QuantOrder order) {
  isa = clamp(isa);
  if (!normalize(w, order)) return nullptr;
  VecDotFn fn = nullptr;
  if (isa == Isa::Avx512) {
    fn = vec_dot_fn_avx512(w, order, cpu_has_avx512_vnni(), cpu_has_avx512_bf16());
  }
  if (!fn && isa >= Isa::Avx2) fn = vec_dot_fn_avx2(w, order);
  if (!fn) fn = vec_dot_fn_scalar(w, order);
  return fn;
}

// The tile kernels exist only where vec_dot_fn picks the single-row kernel of the same family
// (same TU and extension), which is what makes them bit-identical to it.
VecDotTileFn vec_dot_tile_fn(Isa isa, TensorType w, QuantOrder order) {
  isa = clamp(isa);
  if (!normalize(w, order)) return nullptr;
  if (isa == Isa::Avx512) {
    if (vec_dot_fn_avx512(w, order, cpu_has_avx512_vnni(), cpu_has_avx512_bf16())) {
      return vec_dot_tile_fn_avx512(w, order, cpu_has_avx512_vnni());
    }
  }
  return isa >= Isa::Avx2 ? vec_dot_tile_fn_avx2(w, order) : nullptr;
}

float vec_dot_isa(Isa isa, TensorType w, int64_t n, const void* w_row, const void* x_row) {
  const VecDotFn fn = vec_dot_fn(isa, w);
  return fn ? fn(n, w_row, x_row) : 0.0f;
}

float vec_dot(TensorType w, int64_t n, const void* w_row, const void* x_row) {
  return vec_dot_isa(active_isa(), w, n, w_row, x_row);
}

}  // namespace emoe::kernels
