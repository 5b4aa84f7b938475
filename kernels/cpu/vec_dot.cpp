// Scalar reference dot products (the truth the SIMD kernels are tested against) and the
// run-time dispatch between ISAs.
#include "kernels/cpu/vec_dot.h"

#include <cstring>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant_blocks.h"
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

template <typename WBlock, typename Unpack>
float dot_q_q8_0(int64_t n, const void* w, const void* x, Unpack unpack) {
  const auto* wb = static_cast<const WBlock*>(w);
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  int q[kQK];
  for (int64_t i = 0; i < n / kQK; ++i) {
    unpack(wb[i], q);
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += q[j] * xb[i].qs[j];
    sum += (fp16_to_fp32(wb[i].d) * fp16_to_fp32(xb[i].d)) * static_cast<float>(sumi);
  }
  return sum;
}

template <typename WBlock, typename Unpack>
float dot_q_q8_1(int64_t n, const void* w, const void* x, Unpack unpack) {
  const auto* wb = static_cast<const WBlock*>(w);
  const auto* xb = static_cast<const BlockQ8_1*>(x);
  float sum = 0.0f;
  int q[kQK];
  for (int64_t i = 0; i < n / kQK; ++i) {
    unpack(wb[i], q);
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += q[j] * xb[i].qs[j];
    sum += (fp16_to_fp32(wb[i].d) * fp16_to_fp32(xb[i].d)) * static_cast<float>(sumi) +
           fp16_to_fp32(wb[i].m) * fp16_to_fp32(xb[i].s);
  }
  return sum;
}

float dot_q4_0(int64_t n, const void* w, const void* x) {
  return dot_q_q8_0<BlockQ4_0>(n, w, x, unpack_q4_0);
}
float dot_q5_0(int64_t n, const void* w, const void* x) {
  return dot_q_q8_0<BlockQ5_0>(n, w, x, [](const BlockQ5_0& b, int* q) { unpack_q5(b, q, 16); });
}
float dot_q8_0(int64_t n, const void* w, const void* x) {
  return dot_q_q8_0<BlockQ8_0>(n, w, x, [](const BlockQ8_0& b, int* q) {
    for (int j = 0; j < kQK; ++j) q[j] = b.qs[j];
  });
}
float dot_q4_1(int64_t n, const void* w, const void* x) {
  return dot_q_q8_1<BlockQ4_1>(n, w, x, unpack_q4_1);
}
float dot_q5_1(int64_t n, const void* w, const void* x) {
  return dot_q_q8_1<BlockQ5_1>(n, w, x, [](const BlockQ5_1& b, int* q) { unpack_q5(b, q, 0); });
}

}  // namespace

VecDotFn vec_dot_fn_scalar(TensorType w) {
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
      return nullptr;
  }
}

VecDotFn vec_dot_fn(Isa isa, TensorType w) {
  if (static_cast<int>(isa) > static_cast<int>(detected_isa())) isa = detected_isa();
  VecDotFn fn = nullptr;
  if (isa == Isa::Avx512) {
    fn = vec_dot_fn_avx512(w, cpu_has_avx512_vnni(), cpu_has_avx512_bf16());
  }
  if (!fn && isa >= Isa::Avx2) fn = vec_dot_fn_avx2(w);
  if (!fn) fn = vec_dot_fn_scalar(w);
  return fn;
}

VecDot4Fn vec_dot4_fn(Isa isa, TensorType w) {
  if (static_cast<int>(isa) > static_cast<int>(detected_isa())) isa = detected_isa();
  // Only where vec_dot_fn would pick the matching single-row kernel of the same family.
  if (isa == Isa::Avx512) return vec_dot4_fn_avx512(w, cpu_has_avx512_vnni());
  return nullptr;
}

float vec_dot_isa(Isa isa, TensorType w, int64_t n, const void* w_row, const void* x_row) {
  const VecDotFn fn = vec_dot_fn(isa, w);
  return fn ? fn(n, w_row, x_row) : 0.0f;
}

float vec_dot(TensorType w, int64_t n, const void* w_row, const void* x_row) {
  return vec_dot_isa(active_isa(), w, n, w_row, x_row);
}

}  // namespace emoe::kernels
