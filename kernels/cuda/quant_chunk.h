// Decodes one "chunk" (32 consecutive elements) of a weight row of any type the GPU matmul
// supports into 32 floats, for device kernels (dequantizing in registers) and host code alike.
// Legacy types and float types have one chunk per 32-element block; the K-quants have eight per
// 256-element super-block. Results equal kernels::dequantize_row bit for bit: the same float32
// operations in the same order, with every product and sum rounded exactly where the CPU code
// rounds it (explicit __fmul_rn/__fadd_rn on the device, where nvcc would otherwise contract a
// multiply-add into an FMA, and an explicit FMA where ggml's FMA build contracts one).
//
// Header only and free of CUDA headers, so the host compiler builds it too (the CPU test
// compares it with dequantize_row). Bytes are read in 16-bit units: GGUF rows, and so every
// block, are only 2-byte aligned.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cuda/exact_float.h"
#include "kernels/tensor_type.h"

namespace emoe::kernels::qchunk {

inline constexpr int kChunk = 32;  // elements per chunk

// --- exact scalar helpers ----------------------------------------------------------------

EMOE_HD inline uint32_t ld8(const uint8_t* p) { return *p; }

EMOE_HD inline uint32_t ld16(const uint8_t* p) {
#ifdef __CUDA_ARCH__
  return *reinterpret_cast<const uint16_t*>(p);
#else
  uint16_t v;
  std::memcpy(&v, p, 2);  // little-endian, as the GGUF file
  return v;
#endif
}

using exact::add_rn;
using exact::bf16_to_float;
using exact::bits_to_float;
using exact::fma_rn;
using exact::fp16_to_float;
using exact::mul_rn;

// --- geometry -----------------------------------------------------------------------------

// Elements and bytes of one block as decoded here (the float types count 32 elements as one
// block); {0, 0} for types the GPU matmul does not support.
struct Geometry {
  int block_elems = 0;
  int block_bytes = 0;
};

EMOE_HD constexpr Geometry geometry(TensorType t) {
  switch (t) {
    case TensorType::F32:
      return {32, 128};
    case TensorType::F16:
    case TensorType::BF16:
      return {32, 64};
    case TensorType::Q4_0:
      return {32, 18};
    case TensorType::Q4_1:
      return {32, 20};
    case TensorType::Q5_0:
      return {32, 22};
    case TensorType::Q5_1:
      return {32, 24};
    case TensorType::Q8_0:
      return {32, 34};
    case TensorType::Q2_K:
      return {256, 84};
    case TensorType::Q3_K:
      return {256, 110};
    case TensorType::Q4_K:
      return {256, 144};
    case TensorType::Q5_K:
      return {256, 176};
    case TensorType::Q6_K:
      return {256, 210};
    default:
      return {};
  }
}

EMOE_HD constexpr bool supported(TensorType t) { return geometry(t).block_elems != 0; }

// --- per-type decoders: `b` points at a block, `sub` is the chunk inside it ----------------

namespace detail {

EMOE_HD inline void decode_f32(const uint8_t* b, float* out) {
  EMOE_UNROLL
  for (int j = 0; j < kChunk; ++j) {
    out[j] = bits_to_float(ld16(b + 4 * j) | (ld16(b + 4 * j + 2) << 16));
  }
}

EMOE_HD inline void decode_f16(const uint8_t* b, float* out) {
  EMOE_UNROLL
  for (int j = 0; j < kChunk; ++j) out[j] = fp16_to_float(ld16(b + 2 * j));
}

EMOE_HD inline void decode_bf16(const uint8_t* b, float* out) {
  EMOE_UNROLL
  for (int j = 0; j < kChunk; ++j) out[j] = bf16_to_float(ld16(b + 2 * j));
}

// Q4_0 / Q4_1: element j in the low nibble of qs[j], element j + 16 in the high one.
template <bool kMin>
EMOE_HD inline void decode_q4(const uint8_t* b, float* out) {
  const float d = fp16_to_float(ld16(b));
  const float m = kMin ? fp16_to_float(ld16(b + 2)) : 0.0f;
  const uint8_t* qs = b + (kMin ? 4 : 2);
  EMOE_UNROLL
  for (int j = 0; j < 16; j += 2) {
    const uint32_t v = ld16(qs + j);
    const uint32_t q[4] = {v & 0xF, (v >> 8) & 0xF, (v >> 4) & 0xF, (v >> 12) & 0xF};
    const int idx[4] = {j, j + 1, j + 16, j + 17};
    EMOE_UNROLL
    for (int k = 0; k < 4; ++k) {
      if (kMin) {
        out[idx[k]] = add_rn(mul_rn(static_cast<float>(q[k]), d), m);
      } else {
        out[idx[k]] = mul_rn(static_cast<float>(static_cast<int>(q[k]) - 8), d);
      }
    }
  }
}

// Q5_0 / Q5_1: Q4's nibbles plus bit j of the little-endian qh as bit 4 of element j.
template <bool kMin>
EMOE_HD inline void decode_q5(const uint8_t* b, float* out) {
  const float d = fp16_to_float(ld16(b));
  const float m = kMin ? fp16_to_float(ld16(b + 2)) : 0.0f;
  const uint8_t* qhp = b + (kMin ? 4 : 2);
  const uint32_t qh = ld16(qhp) | (ld16(qhp + 2) << 16);
  const uint8_t* qs = qhp + 4;
  EMOE_UNROLL
  for (int j = 0; j < 16; j += 2) {
    const uint32_t v = ld16(qs + j);
    const uint32_t lo[4] = {v & 0xF, (v >> 8) & 0xF, (v >> 4) & 0xF, (v >> 12) & 0xF};
    const int idx[4] = {j, j + 1, j + 16, j + 17};
    EMOE_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int q = static_cast<int>(lo[k] | (((qh >> idx[k]) & 1u) << 4));
      if (kMin) {
        out[idx[k]] = add_rn(mul_rn(static_cast<float>(q), d), m);
      } else {
        out[idx[k]] = mul_rn(static_cast<float>(q - 16), d);
      }
    }
  }
}

EMOE_HD inline void decode_q8_0(const uint8_t* b, float* out) {
  const float d = fp16_to_float(ld16(b));
  EMOE_UNROLL
  for (int j = 0; j < kChunk; j += 2) {
    const uint32_t v = ld16(b + 2 + j);
    out[j] = mul_rn(static_cast<float>(static_cast<int8_t>(v & 0xFF)), d);
    out[j + 1] = mul_rn(static_cast<float>(static_cast<int8_t>(v >> 8)), d);
  }
}

// Element 32c + l of a 2-bit super-block: bits 2(c%4).. of qs[32(c/4) + l].
EMOE_HD inline void decode_q2_k(const uint8_t* b, int c, float* out) {
  const float d = fp16_to_float(ld16(b + 80));
  const float dmin = fp16_to_float(ld16(b + 82));
  const uint8_t* qs = b + 16 + 32 * (c / 4);
  const int shift = 2 * (c % 4);
  EMOE_UNROLL
  for (int half = 0; half < 2; ++half) {
    const uint32_t sc = ld8(b + 2 * c + half);  // per 16 elements
    const float dl = mul_rn(d, static_cast<float>(sc & 0xF));
    const float ml = mul_rn(dmin, static_cast<float>(sc >> 4));
    EMOE_UNROLL
    for (int l = 16 * half; l < 16 * half + 16; l += 2) {
      const uint32_t v = ld16(qs + l) >> shift;
      out[l] = fma_rn(dl, static_cast<float>(v & 3), -ml);
      out[l + 1] = fma_rn(dl, static_cast<float>((v >> 8) & 3), -ml);
    }
  }
}

// Scale k (0..15) of a Q3_K super-block, offset removed: the layout of q3k_scales.
EMOE_HD inline int q3k_scale(const uint8_t* s, int k) {
  const uint32_t lo = k < 8 ? (ld8(s + k) & 0xF) : (ld8(s + k - 8) >> 4);
  const uint32_t hi = (ld8(s + 8 + (k % 4)) >> (2 * (k / 4))) & 3;
  return static_cast<int>(lo | (hi << 4)) - 32;
}

// Q2_K's low bits; a clear bit c of hmask[l] subtracts 4.
EMOE_HD inline void decode_q3_k(const uint8_t* b, int c, float* out) {
  const float d = fp16_to_float(ld16(b + 108));
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32 + 32 * (c / 4);
  const int shift = 2 * (c % 4);
  EMOE_UNROLL
  for (int half = 0; half < 2; ++half) {
    const float dl = mul_rn(d, static_cast<float>(q3k_scale(b + 96, 2 * c + half)));
    EMOE_UNROLL
    for (int l = 16 * half; l < 16 * half + 16; l += 2) {
      const uint32_t v = ld16(qs + l) >> shift;
      const uint32_t h = ld16(hmask + l) >> c;
      const int q0 = static_cast<int>(v & 3) - ((h & 1) ? 0 : 4);
      const int q1 = static_cast<int>((v >> 8) & 3) - ((h & 0x100) ? 0 : 4);
      out[l] = mul_rn(dl, static_cast<float>(q0));
      out[l + 1] = mul_rn(dl, static_cast<float>(q1));
    }
  }
}

// Sub-block c's 6-bit scale and min (k4_scale_min in quant_k_blocks.h).
EMOE_HD inline void k4_scale_min(const uint8_t* q, int c, uint32_t& sc, uint32_t& m) {
  if (c < 4) {
    sc = ld8(q + c) & 63;
    m = ld8(q + c + 4) & 63;
  } else {
    sc = (ld8(q + c + 4) & 0xF) | ((ld8(q + c - 4) >> 6) << 4);
    m = (ld8(q + c + 4) >> 4) | ((ld8(q + c) >> 6) << 4);
  }
}

// Q4_K / Q5_K: element 32c + l in nibble c%2 of qs[32(c/2) + l]; Q5_K's bit 4 is bit c of qh[l].
template <bool kFive>
EMOE_HD inline void decode_q45_k(const uint8_t* b, int c, float* out) {
  const float d = fp16_to_float(ld16(b));
  const float dmin = fp16_to_float(ld16(b + 2));
  uint32_t sc, m;
  k4_scale_min(b + 4, c, sc, m);
  const float d1 = mul_rn(d, static_cast<float>(sc));
  const float m1 = mul_rn(dmin, static_cast<float>(m));
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + (kFive ? 48 : 16) + 32 * (c / 2);
  const int shift = 4 * (c & 1);
  EMOE_UNROLL
  for (int l = 0; l < kChunk; l += 2) {
    const uint32_t v = ld16(qs + l) >> shift;
    uint32_t q0 = v & 0xF, q1 = (v >> 8) & 0xF;
    if (kFive) {
      const uint32_t h = ld16(qh + l) >> c;
      q0 |= (h & 1) << 4;
      q1 |= ((h >> 8) & 1) << 4;
    }
    out[l] = fma_rn(d1, static_cast<float>(q0), -m1);
    out[l + 1] = fma_rn(d1, static_cast<float>(q1), -m1);
  }
}

// Element 32c + l, h = c/4, k = c%4: low nibble from ql[64h + 32(k&1) + l] (high nibble when
// k >= 2), top two bits 2k.. of qh[32h + l], minus 32.
EMOE_HD inline void decode_q6_k(const uint8_t* b, int c, float* out) {
  const float d = fp16_to_float(ld16(b + 208));
  const int h = c / 4, k = c % 4;
  const uint8_t* ql = b + 64 * h + 32 * (k & 1);
  const uint8_t* qh = b + 128 + 32 * h;
  const int lo_shift = k >= 2 ? 4 : 0;
  EMOE_UNROLL
  for (int half = 0; half < 2; ++half) {
    const int8_t sc = static_cast<int8_t>(ld8(b + 192 + 2 * c + half));
    const float dl = mul_rn(d, static_cast<float>(sc));
    EMOE_UNROLL
    for (int l = 16 * half; l < 16 * half + 16; l += 2) {
      const uint32_t lo = ld16(ql + l) >> lo_shift;
      const uint32_t hi = ld16(qh + l) >> (2 * k);
      const int q0 = static_cast<int>((lo & 0xF) | ((hi & 3) << 4)) - 32;
      const int q1 = static_cast<int>(((lo >> 8) & 0xF) | (((hi >> 8) & 3) << 4)) - 32;
      out[l] = mul_rn(dl, static_cast<float>(q0));
      out[l + 1] = mul_rn(dl, static_cast<float>(q1));
    }
  }
}

}  // namespace detail

// Decodes chunk `sub` (0 for 32-element blocks, 0..7 for K-quants) of the block at `b`.
template <TensorType T>
EMOE_HD inline void decode_block_chunk(const uint8_t* b, int sub, float* out) {
  if constexpr (T == TensorType::F32) {
    detail::decode_f32(b, out);
  } else if constexpr (T == TensorType::F16) {
    detail::decode_f16(b, out);
  } else if constexpr (T == TensorType::BF16) {
    detail::decode_bf16(b, out);
  } else if constexpr (T == TensorType::Q4_0) {
    detail::decode_q4<false>(b, out);
  } else if constexpr (T == TensorType::Q4_1) {
    detail::decode_q4<true>(b, out);
  } else if constexpr (T == TensorType::Q5_0) {
    detail::decode_q5<false>(b, out);
  } else if constexpr (T == TensorType::Q5_1) {
    detail::decode_q5<true>(b, out);
  } else if constexpr (T == TensorType::Q8_0) {
    detail::decode_q8_0(b, out);
  } else if constexpr (T == TensorType::Q2_K) {
    detail::decode_q2_k(b, sub, out);
  } else if constexpr (T == TensorType::Q3_K) {
    detail::decode_q3_k(b, sub, out);
  } else if constexpr (T == TensorType::Q4_K) {
    detail::decode_q45_k<false>(b, sub, out);
  } else if constexpr (T == TensorType::Q5_K) {
    detail::decode_q45_k<true>(b, sub, out);
  } else {
    static_assert(T == TensorType::Q6_K, "quant_chunk.h: unsupported tensor type");
    detail::decode_q6_k(b, sub, out);
  }
  (void)sub;
}

// Decodes chunk c (elements [32c, 32c + 32)) of a row stored as T.
template <TensorType T>
EMOE_HD inline void decode_chunk(const void* row, int64_t c, float* out) {
  constexpr Geometry g = geometry(T);
  constexpr int per_block = g.block_elems / kChunk;
  const auto* b = static_cast<const uint8_t*>(row) + (c / per_block) * g.block_bytes;
  decode_block_chunk<T>(b, static_cast<int>(c % per_block), out);
}

// Run-time type: false (out untouched) for unsupported types.
EMOE_HD inline bool decode_chunk(TensorType t, const void* row, int64_t c, float* out) {
  switch (t) {
#define EMOE_QCHUNK_CASE(T)                   \
  case TensorType::T:                         \
    decode_chunk<TensorType::T>(row, c, out); \
    return true;
    EMOE_QCHUNK_CASE(F32)
    EMOE_QCHUNK_CASE(F16)
    EMOE_QCHUNK_CASE(BF16)
    EMOE_QCHUNK_CASE(Q4_0)
    EMOE_QCHUNK_CASE(Q4_1)
    EMOE_QCHUNK_CASE(Q5_0)
    EMOE_QCHUNK_CASE(Q5_1)
    EMOE_QCHUNK_CASE(Q8_0)
    EMOE_QCHUNK_CASE(Q2_K)
    EMOE_QCHUNK_CASE(Q3_K)
    EMOE_QCHUNK_CASE(Q4_K)
    EMOE_QCHUNK_CASE(Q5_K)
    EMOE_QCHUNK_CASE(Q6_K)
#undef EMOE_QCHUNK_CASE
    default:
      return false;
  }
}

}  // namespace emoe::kernels::qchunk
