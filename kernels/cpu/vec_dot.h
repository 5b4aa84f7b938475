// Dot product of one weight row with one activation row that is already in
// vec_dot_type(w), in the ISA chosen at run time or an explicit one (tests compare them).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/cpu_features.h"
#include "kernels/tensor_type.h"

namespace emoe::kernels {

// Float32 summation order of the legacy quant dot products. A quantized activation moves by a
// whole Q8 step when an input crosses a rounding boundary, so the last bit of every dot decides
// whether the next layer's activations match llama.cpp's. Each order reproduces one ggml x86
// kernel bit for bit, and every ISA here produces identical bits for a given order.
//   d_b = float(fp16 d_w) * float(fp16 d_x) of block b, rounded to float32.
enum class QuantOrder {
  // ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0 / {q4_1,q5_1}_q8_1 (AVX2 build; tinyBLAS_Q0_AVX has the
  // same arithmetic): eight float32 lanes, lane j = fma(d_b, float(int32 sum of the products of
  // elements 4j..4j+3), lane j) over blocks b in order; then a = lane j + lane j+4 (j < 4) and
  // result = (a0 + a2) + (a1 + a3). Q4_1/Q5_1 add summs = fma(m_w, s_x, summs) over the blocks
  // in order (ggml's `summs += m*s`, contracted to an FMA by the compiler of an FMA build).
  Lanes8,
  // ggml_gemv/gemm_q4_0_8x8_q8_0 (llama.cpp repacks Q4_0 matrices whose row count is a multiple
  // of 8 into Q4_0x8 on AVX2 machines): acc = fma(float(int32 sum of the block's 32 products),
  // d_b, acc) block after block, from acc = 0. Q4_0 only.
  Blockwise,
};

// n elements; w_row in type w, x_row in vec_dot_type(w). F32 accumulation as ggml; quant types
// in QuantOrder::Lanes8 (ggml_vec_dot's order).
float vec_dot(TensorType w, int64_t n, const void* w_row, const void* x_row);
float vec_dot_isa(Isa isa, TensorType w, int64_t n, const void* w_row, const void* x_row);

// The kernel vec_dot_isa would call, resolved once so loops over many rows skip the dispatch.
// isa is clamped to detected_isa(). nullptr when w has no dot product here, or when `order` is
// Blockwise and w is not Q4_0 (the order is ignored for float types).
using VecDotFn = float (*)(int64_t n, const void* w_row, const void* x_row);
VecDotFn vec_dot_fn(Isa isa, TensorType w, QuantOrder order = QuantOrder::Lanes8);

// A tile of dot products for GEMV and GEMM: weight rows [0, nr) (w_stride bytes apart) against
// activation rows [0, nt) (x_stride bytes apart, in vec_dot_type(w)):
//   out[t * out_stride + r] = VecDotFn(n, w + r * w_stride, x + t * x_stride),
// bit-identical to the VecDotFn of the same isa, type and order. Several rows and tokens run at
// once so that their accumulation chains overlap and loads are shared. nullptr when there is no
// such kernel (call the VecDotFn per output instead).
using VecDotTileFn = void (*)(int64_t n, const void* w, size_t w_stride, int64_t nr, const void* x,
                              size_t x_stride, int64_t nt, float* out, int64_t out_stride);
VecDotTileFn vec_dot_tile_fn(Isa isa, TensorType w, QuantOrder order = QuantOrder::Lanes8);

// Semantics shared by every ISA (float types differ between ISAs in float32 summation order only;
// quant types are bit-identical across ISAs, see QuantOrder):
//   F32/F16/BF16: sum_i float(w_i) * float(x_i), float32 accumulators.
//   Q4_0/Q5_0/Q8_0 (x in Q8_0): sum_b d_b * sum_i(q_w * q_x), q_w with offset removed.
//   Q4_1/Q5_1 (x in Q8_1):      sum_b d_b * sum_i(q_w * q_x) + m_w * s_x.

}  // namespace emoe::kernels
