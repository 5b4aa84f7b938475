#include "kernels/cpu/quantize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_k.h"
#include "kernels/cpu/quantize_simd.h"

namespace emoe::kernels {
namespace {

inline float h2f(uint16_t h) { return fp16_to_fp32(h); }

uint32_t load_qh(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, 4);  // little-endian, as ggml's memcpy into a uint32_t
  return v;
}

void store_qh(uint8_t* qh, uint32_t v) { std::memcpy(qh, &v, 4); }

// --- dequantization (ggml dequantize_row_*; plain multiply then add, no FMA) ---

void dequant_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = h2f(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((b[i].qs[j] & 0x0F) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequant_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = h2f(b[i].d);
    const float m = h2f(b[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(b[i].qs[j] & 0x0F) * d + m;
      y[j + kQK / 2] = static_cast<float>(b[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequant_q5_0(const BlockQ5_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = h2f(b[i].d);
    const uint32_t qh = load_qh(b[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = static_cast<int>((b[i].qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16;
      const int x1 = static_cast<int>((b[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
      y[j] = static_cast<float>(x0) * d;
      y[j + kQK / 2] = static_cast<float>(x1) * d;
    }
  }
}

void dequant_q5_1(const BlockQ5_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = h2f(b[i].d);
    const float m = h2f(b[i].m);
    const uint32_t qh = load_qh(b[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = static_cast<int>((b[i].qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10));
      const int x1 = static_cast<int>((b[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
      y[j] = static_cast<float>(x0) * d + m;
      y[j + kQK / 2] = static_cast<float>(x1) * d + m;
    }
  }
}

template <typename Block>
void dequant_q8(const Block* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = h2f(b[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

// --- weight quantizers: gguf-py's numpy code (bit-exact with ggml's *_ref) ---

// Signed value of largest magnitude; the first one wins ties (numpy argmax, ggml's `<`).
float signed_absmax(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// ggml's reference rounds x*id + bias with an FMA on the machines that made the GGUF files;
// gguf-py emulates that in float64 and rounds the sum to float32 before truncation.
inline int fma_trunc(float x, float id, double bias) {
  return static_cast<int>(std::trunc(static_cast<float>(double{x} * double{id} + bias)));
}

void quant_q4_0(const float* x, BlockQ4_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    const float d = signed_absmax(x) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::clamp(fma_trunc(x[j], id, 8.5), 0, 15);
      const int q1 = std::clamp(fma_trunc(x[j + kQK / 2], id, 8.5), 0, 15);
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quant_q5_0(const float* x, BlockQ5_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    const float d = signed_absmax(x) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::clamp(fma_trunc(x[j], id, 16.5), 0, 31);
      const int q1 = std::clamp(fma_trunc(x[j + kQK / 2], id, 16.5), 0, 31);
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK / 2);
    }
    store_qh(b[i].qh, qh);
  }
}

// Q4_1 / Q5_1: q = trunc((x - min) * id + 0.5) in plain float32 steps, as gguf-py.
template <typename Block, int kMaxQ>
void quant_min_scale(const float* x, Block* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / static_cast<float>(kMaxQ);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    b[i].m = fp32_to_fp16(min);
    int q[kQK];
    for (int j = 0; j < kQK; ++j) {
      const float scaled = (x[j] - min) * id;
      q[j] = std::clamp(static_cast<int>(std::trunc(scaled + 0.5f)), 0, kMaxQ);
    }
    for (int j = 0; j < kQK / 2; ++j) {
      b[i].qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + kQK / 2] & 0x0F) << 4));
    }
    if constexpr (kMaxQ == 31) {
      uint32_t qh = 0;
      for (int j = 0; j < kQK; ++j) qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
      store_qh(b[i].qh, qh);
    }
  }
}

void quant_q8_0_ref(const float* x, BlockQ8_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) b[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

// Round half to even without depending on the floating-point environment (|v| <= 127.x).
inline int round_half_even(float v) {
  // NaN and values outside int's range give INT_MIN, as _mm256_cvtps_epi32 does (a block whose
  // amax is so small that 127 / amax overflows scales every element to +-inf).
  if (!(std::fabs(v) < 2147483520.0f)) return INT32_MIN;
  const float r = std::round(v);  // half away from zero
  if (std::fabs(v - std::trunc(v)) == 0.5f) {
    const float t = std::trunc(v);
    return static_cast<int>(static_cast<int64_t>(t) % 2 == 0 ? t : r);
  }
  return static_cast<int>(r);
}

// To int8 with saturation, as the SIMD quantizers' packs do.
inline int8_t saturate_i8(int q) { return static_cast<int8_t>(std::clamp(q, -128, 127)); }

}  // namespace

void quantize_activation_q8_0_scalar(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) b[i].qs[j] = saturate_i8(round_half_even(x[j] * id));
  }
}

void quantize_activation_q8_1_scalar(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    b[i].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      const int8_t q = saturate_i8(round_half_even(x[j] * id));
      b[i].qs[j] = q;
      sum += q;
    }
    b[i].s = fp32_to_fp16(d * static_cast<float>(sum));
  }
}

bool dequantize_row(TensorType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return true;
    case TensorType::F16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
      return true;
    }
    case TensorType::BF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
      return true;
    }
    case TensorType::Q4_0:
      dequant_q4_0(static_cast<const BlockQ4_0*>(src), dst, n / kQK);
      return true;
    case TensorType::Q4_1:
      dequant_q4_1(static_cast<const BlockQ4_1*>(src), dst, n / kQK);
      return true;
    case TensorType::Q5_0:
      dequant_q5_0(static_cast<const BlockQ5_0*>(src), dst, n / kQK);
      return true;
    case TensorType::Q5_1:
      dequant_q5_1(static_cast<const BlockQ5_1*>(src), dst, n / kQK);
      return true;
    case TensorType::Q8_0:
      dequant_q8(static_cast<const BlockQ8_0*>(src), dst, n / kQK);
      return true;
    case TensorType::Q8_1:
      dequant_q8(static_cast<const BlockQ8_1*>(src), dst, n / kQK);
      return true;
    default:
      return dequantize_row_k(t, src, dst, n);
  }
}

bool quantize_row(TensorType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return true;
    case TensorType::F16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
      return true;
    }
    case TensorType::BF16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
      return true;
    }
    case TensorType::Q4_0:
      quant_q4_0(src, static_cast<BlockQ4_0*>(dst), n / kQK);
      return true;
    case TensorType::Q4_1:
      quant_min_scale<BlockQ4_1, 15>(src, static_cast<BlockQ4_1*>(dst), n / kQK);
      return true;
    case TensorType::Q5_0:
      quant_q5_0(src, static_cast<BlockQ5_0*>(dst), n / kQK);
      return true;
    case TensorType::Q5_1:
      quant_min_scale<BlockQ5_1, 31>(src, static_cast<BlockQ5_1*>(dst), n / kQK);
      return true;
    case TensorType::Q8_0:
      quant_q8_0_ref(src, static_cast<BlockQ8_0*>(dst), n / kQK);
      return true;
    default:
      return quantize_row_k(t, src, dst, n);
  }
}

TensorType vec_dot_type(TensorType w) {
  switch (w) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
      return w;
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::Q8_0:
      return TensorType::Q8_0;
    case TensorType::Q4_1:
    case TensorType::Q5_1:
      return TensorType::Q8_1;
    default:
      return TensorType::Q8_K;
  }
}

void quantize_activation_row(TensorType w, const float* src, void* dst, int64_t n) {
  const bool simd = active_isa() != Isa::Scalar;
  switch (vec_dot_type(w)) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::F16: {
      auto* h = static_cast<uint16_t*>(dst);
      if (simd) {
        convert_fp16_avx2(src, h, n);
      } else {
        for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
      }
      return;
    }
    case TensorType::BF16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
      return;
    }
    case TensorType::Q8_0:
      if (simd) {
        quantize_activation_q8_0_avx2(src, dst, n);
      } else {
        quantize_activation_q8_0_scalar(src, dst, n);
      }
      return;
    case TensorType::Q8_1:
      if (simd) {
        quantize_activation_q8_1_avx2(src, dst, n);
      } else {
        quantize_activation_q8_1_scalar(src, dst, n);
      }
      return;
    case TensorType::Q8_K:
      quantize_activation_q8_K(src, dst, n);  // ggml uses the reference code on x86 too
      return;
    default:
      return;
  }
}

}  // namespace emoe::kernels
