// Block quantization formats as ggml defines them: dequantization of every computable type,
// reference quantizers for weights (used by the GGUF writer), and the activation quantizers
// that ggml applies before a quantized dot product.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/tensor_type.h"

namespace emoe::kernels {

// dst[0..n) = values of n elements stored in `src` as type t. n must be a multiple of the
// block size. Returns false for types without a dequantizer.
bool dequantize_row(TensorType t, const void* src, float* dst, int64_t n);

// Reference weight quantizer (the gguf-py / ggml *_ref algorithms). n multiple of block size.
// Returns false for types this engine cannot write.
bool quantize_row(TensorType t, const float* src, void* dst, int64_t n);

// The type an activation row is converted to before being dotted with a weight row of type w
// (ggml's vec_dot_type): F32->F32, F16->F16, BF16->BF16, Q4_0/Q5_0/Q8_0->Q8_0,
// Q4_1/Q5_1->Q8_1, K-quants->Q8_K.
TensorType vec_dot_type(TensorType w);

// Converts an F32 activation row to vec_dot_type(w) exactly as ggml's x86 build does
// (Q8_0: d = fp16(amax/127), q = round_half_even(x*127/amax); F16: round to nearest even).
// dst must hold row_bytes(vec_dot_type(w), n) bytes.
void quantize_activation_row(TensorType w, const float* src, void* dst, int64_t n);

}  // namespace emoe::kernels
