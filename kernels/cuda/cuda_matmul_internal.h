// Helpers shared by CudaDevice's weight products (private to kernels/cuda): the entry points
// and the decode kernel in cuda_matmul.cu, the activation rounding in cuda_activation_round.cu,
// and the dequantize + cuBLAS batch path in cuda_matmul_batch.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "kernels/cuda/activation_round.h"
#include "kernels/cuda/cuda_device.h"

namespace emoe::kernels::gpu::matmul_internal {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

// Calls f.template operator()<T>() for the run-time type t (a supported one).
template <typename F>
GpuStatus with_type(TensorType t, F&& f) {
  switch (t) {
#define EMOE_MATMUL_TYPE(X) \
  case TensorType::X:       \
    return f.template operator()<TensorType::X>();
    EMOE_MATMUL_TYPE(F32)
    EMOE_MATMUL_TYPE(F16)
    EMOE_MATMUL_TYPE(BF16)
    EMOE_MATMUL_TYPE(Q4_0)
    EMOE_MATMUL_TYPE(Q4_1)
    EMOE_MATMUL_TYPE(Q5_0)
    EMOE_MATMUL_TYPE(Q5_1)
    EMOE_MATMUL_TYPE(Q8_0)
    EMOE_MATMUL_TYPE(Q2_K)
    EMOE_MATMUL_TYPE(Q3_K)
    EMOE_MATMUL_TYPE(Q4_K)
    EMOE_MATMUL_TYPE(Q5_K)
    EMOE_MATMUL_TYPE(Q6_K)
#undef EMOE_MATMUL_TYPE
    default:
      return GpuStatus::error("unsupported weight type " + std::string(type_name(t)));
  }
}

inline std::string tname(TensorType t) { return std::string(type_name(t)); }

inline GpuStatus fail(const char* call, const std::string& what) {
  return GpuStatus::error(std::string(call) + ": " + what);
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The weight checks every entry point shares: a supported type, whole blocks per row, rows
// that fit their stride, and F32 strides cuBLAS can take (cuda_matmul.cu).
GpuStatus check_weights(const char* call, const MatrixView& w);

// Rounds x (n_tokens tokens of n_heads segments of cols floats, segment (t, h) at
// x + t * xts + h * xhs) to what a weight row's dot product sees (activation_round.h), packed:
// segment s = t * n_heads + h at dst + s * cols (cuda_activation_round.cu).
GpuStatus round_activations(actround::Rounding rounding, const float* x, int64_t n_tokens,
                            int64_t xts, int64_t xhs, int64_t n_heads, int64_t cols, float* dst,
                            cudaStream_t stream);

// y = W x for every head by cuBLAS, with leading dimensions ldb and ldc that cuBLAS accepts;
// quantized weights are dequantized into d's scratch buffer first (cuda_matmul_batch.cu).
GpuStatus blas_products(CudaDevice& d, const MatrixView& w, int64_t rows_per_head, int64_t n_heads,
                        const float* x, int64_t n_tokens, int64_t ldb, int64_t xhs, float* y,
                        int64_t ldc, int64_t yhs, cudaStream_t stream);

}  // namespace emoe::kernels::gpu::matmul_internal
