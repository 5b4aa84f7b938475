// Per-ISA vec_dot kernels (internal to kernels/cpu). Each returns nullptr for a type (or order) it
// does not implement; the dispatcher in vec_dot.cpp then falls back to the next lower ISA.
#pragma once

#include "kernels/cpu/vec_dot.h"

namespace emoe::kernels {

VecDotFn vec_dot_fn_scalar(TensorType w, QuantOrder order);
VecDotFn vec_dot_fn_avx2(TensorType w, QuantOrder order);
VecDotTileFn vec_dot_tile_fn_avx2(TensorType w, QuantOrder order);
// vnni / bf16: the CPU has AVX512-VNNI / AVX512-BF16. Without them the quant / BF16 kernels
// return nullptr (the Avx2 ones serve), so every kernel that exists runs on a VNNI machine.
VecDotFn vec_dot_fn_avx512(TensorType w, QuantOrder order, bool vnni, bool bf16);
VecDotTileFn vec_dot_tile_fn_avx512(TensorType w, QuantOrder order, bool vnni);

}  // namespace emoe::kernels
