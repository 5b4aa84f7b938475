// Dot product of one weight row with one activation row that is already in
// vec_dot_type(w), in the ISA chosen at run time or an explicit one (tests compare them).
#pragma once

#include <cstdint>

#include "kernels/cpu/cpu_features.h"
#include "kernels/tensor_type.h"

namespace emoe::kernels {

// n elements; w_row in type w, x_row in vec_dot_type(w). F32 accumulation as ggml.
float vec_dot(TensorType w, int64_t n, const void* w_row, const void* x_row);
float vec_dot_isa(Isa isa, TensorType w, int64_t n, const void* w_row, const void* x_row);

// The kernel vec_dot_isa would call, resolved once so loops over many rows skip the dispatch.
// isa is clamped to detected_isa(). nullptr when w has no dot product here.
using VecDotFn = float (*)(int64_t n, const void* w_row, const void* x_row);
VecDotFn vec_dot_fn(Isa isa, TensorType w);

// One weight row against 4 activation rows (GEMM): out[k] = dot(w_row, x_rows[k]), bit-identical
// to the VecDotFn of the same isa and type. nullptr when there is no such kernel (call the
// VecDotFn per row instead).
using VecDot4Fn = void (*)(int64_t n, const void* w_row, const void* const* x_rows, float* out);
VecDot4Fn vec_dot4_fn(Isa isa, TensorType w);

// Semantics shared by every ISA (differences are float32 summation order only):
//   F32/F16/BF16: sum_i float(w_i) * float(x_i), float32 accumulators.
//   Q4_0/Q5_0/Q8_0 (x in Q8_0): sum_b (d_w * d_x) * sum_i(q_w * q_x), q_w with offset removed.
//   Q4_1/Q5_1 (x in Q8_1):      sum_b (d_w * d_x) * sum_i(q_w * q_x) + m_w * s_x.

}  // namespace emoe::kernels
