// K-quants (Q2_K..Q6_K, super-blocks of 256) and Q8_K activations, internal to kernels/cpu: the
// public entry points are quantize.h's dequantize_row / quantize_row / quantize_activation_row
// and vec_dot.h's dispatch, which route the K types here.
#pragma once

#include <cstdint>

#include "kernels/cpu/vec_dot.h"
#include "kernels/tensor_type.h"

namespace emoe::kernels {

// ggml's dequantize_row_q{2..6}_K (`d * q - m` as one FMA, as ggml's FMA builds contract it).
// n multiple of 256. False for other types.
bool dequantize_row_k(TensorType t, const void* src, float* dst, int64_t n);

// Round-to-nearest weight quantizers for writing models and for tests. Not llama-quantize's
// search-based algorithms (their bytes differ), but every element of a sub-block whose range the
// stored scales cover is within half a step (Q2_K/Q4_K/Q5_K, unsigned with a minimum) or one
// step (Q3_K/Q6_K, signed, the top level clamped) of its input. False for other types.
bool quantize_row_k(TensorType t, const float* src, void* dst, int64_t n);

// ggml's quantize_row_q8_K_ref, which llama.cpp's x86 build uses for the activations of every
// K-quant dot product: per 256 values, max = the value of largest magnitude (first on ties),
// iscale = -127/max, q = min(127, round_half_even(iscale * x)) with the exact product rounded
// once (ggml's FMA build contracts it), d = 1/iscale (float32), bsums = sums of q per 16. An
// all-zero block stores zeros.
void quantize_activation_q8_K(const float* x, void* dst, int64_t n);

// Scalar reference dot products of K-quant weights with Q8_K activations. They reproduce the
// float32 arithmetic of ggml's AVX2 ggml_vec_dot_q{2..6}_K_q8_K exactly (see vec_dot.h), so the
// SIMD kernels can be tested bit for bit against them. nullptr for other types.
VecDotFn vec_dot_k_fn_scalar(TensorType w);

// AVX2 kernels (vec_dot_k_avx2.cpp; call only when the CPU has AVX2, FMA and F16C) and
// AVX-512 ones (vec_dot_k_avx512.cpp; only with AVX512-BW/VL and VNNI): the single-row dot and
// the GEMV/GEMM tile (vec_dot.h's VecDotTileFn), bit-identical to the scalar reference.
VecDotFn vec_dot_k_fn_avx2(TensorType w);
VecDotTileFn vec_dot_k_tile_fn_avx2(TensorType w);
VecDotFn vec_dot_k_fn_avx512(TensorType w);
VecDotTileFn vec_dot_k_tile_fn_avx512(TensorType w);

inline bool is_k_quant(TensorType t) {
  return t == TensorType::Q2_K || t == TensorType::Q3_K || t == TensorType::Q4_K ||
         t == TensorType::Q5_K || t == TensorType::Q6_K;
}

}  // namespace emoe::kernels
