// CudaDevice's batch path for weight products (larger batches, and F32 weights at any batch;
// cuda_matmul.cu decides) and its dequantization to F32 (dequantize): cuBLAS SGEMM in
// column-major terms, y^T (rows x n) = W (rows x cols) x^T, where the row-major W is the
// column-major cols x rows matrix with leading dimension row_stride / 4, transposed. Quantized
// weights are first dequantized into the device scratch buffer, at most kScratchFloats floats
// at a time.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/cuda_matmul_internal.h"
#include "kernels/cuda/quant_chunk.h"

namespace emoe::kernels::gpu {
namespace {

using namespace matmul_internal;

constexpr uint64_t kScratchFloats = uint64_t{16} << 20;  // 64 MiB of dequantized rows

// dst row r, chunk c = chunk c of W's row r, decoded exactly as dequantize_row does.
template <TensorType T>
__global__ void __launch_bounds__(256)
    dequantize_kernel(const uint8_t* w, int64_t row_stride, int64_t rows, int64_t n_chunks,
                      float* dst, int64_t dst_stride, bool vec4) {
  const int64_t total = rows * n_chunks;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / n_chunks, c = i % n_chunks;
    float v[qchunk::kChunk];
    qchunk::decode_chunk<T>(w + r * row_stride, c, v);
    float* out = dst + r * dst_stride + c * qchunk::kChunk;
    if (vec4) {
#pragma unroll
      for (int j = 0; j < qchunk::kChunk; j += 4) {
        reinterpret_cast<float4*>(out)[j / 4] = make_float4(v[j], v[j + 1], v[j + 2], v[j + 3]);
      }
    } else {
#pragma unroll
      for (int j = 0; j < qchunk::kChunk; ++j) out[j] = v[j];
    }
  }
}

template <TensorType T>
GpuStatus launch_dequantize(const MatrixView& w, int64_t row0, int64_t n_rows, float* dst,
                            int64_t dst_stride, cudaStream_t stream) {
  const int64_t n_chunks = w.cols / qchunk::kChunk;
  const int64_t total = n_rows * n_chunks;
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, 65535 * 8);
  const bool vec4 = aligned16(dst) && dst_stride % 4 == 0;
  dequantize_kernel<T><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(
      static_cast<const uint8_t*>(w.data) + row0 * static_cast<int64_t>(w.row_stride),
      static_cast<int64_t>(w.row_stride), n_rows, n_chunks, dst, dst_stride, vec4);
  return launch_status(("dequantize_kernel<" + tname(T) + ">").c_str());
}

// Rows [row0, row0 + n_rows) of W as floats, dst_stride floats apart.
GpuStatus dequantize_rows(const MatrixView& w, int64_t row0, int64_t n_rows, float* dst,
                          int64_t dst_stride, cudaStream_t stream) {
  if (n_rows == 0) return {};
  if (w.type == TensorType::F32) {
    const auto* src =
        static_cast<const uint8_t*>(w.data) + row0 * static_cast<int64_t>(w.row_stride);
    return cuda_status(
        cudaMemcpy2DAsync(dst, static_cast<size_t>(dst_stride) * sizeof(float), src, w.row_stride,
                          static_cast<size_t>(w.cols) * sizeof(float), static_cast<size_t>(n_rows),
                          cudaMemcpyDeviceToDevice, stream),
        "dequantize: cudaMemcpy2DAsync");
  }
  return with_type(w.type, [&]<TensorType T>() {
    return launch_dequantize<T>(w, row0, n_rows, dst, dst_stride, stream);
  });
}

}  // namespace

GpuStatus matmul_internal::blas_products(CudaDevice& d, const MatrixView& w, int64_t rows_per_head,
                                         int64_t n_heads, const float* x, int64_t n_tokens,
                                         int64_t ldb, int64_t xhs, float* y, int64_t ldc,
                                         int64_t yhs, cudaStream_t stream) {
  cublasHandle_t blas = d.blas();
  const float one = 1.0f, zero = 0.0f;
  const int m = static_cast<int>(rows_per_head), n = static_cast<int>(n_tokens);
  const int k = static_cast<int>(w.cols);
  if (w.type == TensorType::F32) {
    const int64_t lda = static_cast<int64_t>(w.row_stride) / 4;
    return cublas_status(
        cublasSgemmStridedBatched(blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one,
                                  static_cast<const float*>(w.data), static_cast<int>(lda),
                                  lda * rows_per_head, x, static_cast<int>(ldb), xhs, &zero, y,
                                  static_cast<int>(ldc), yhs, static_cast<int>(n_heads)),
        "cublasSgemmStridedBatched");
  }

  // Quantized: whole heads at a time when one fits the scratch budget, else row slices of one
  // head.
  const uint64_t head_floats = static_cast<uint64_t>(rows_per_head) * w.cols;
  if (head_floats <= kScratchFloats) {
    const int64_t per_pass =
        std::min<int64_t>(n_heads, static_cast<int64_t>(kScratchFloats / head_floats));
    float* s = nullptr;
    if (GpuStatus st = d.scratch(per_pass * head_floats, &s); !st.ok()) return st;
    for (int64_t h0 = 0; h0 < n_heads; h0 += per_pass) {
      const int64_t nh = std::min(per_pass, n_heads - h0);
      if (GpuStatus st =
              dequantize_rows(w, h0 * rows_per_head, nh * rows_per_head, s, w.cols, stream);
          !st.ok()) {
        return st;
      }
      if (GpuStatus st = cublas_status(
              cublasSgemmStridedBatched(blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, s, k,
                                        static_cast<long long>(head_floats), x + h0 * xhs,
                                        static_cast<int>(ldb), xhs, &zero, y + h0 * yhs,
                                        static_cast<int>(ldc), yhs, static_cast<int>(nh)),
              "cublasSgemmStridedBatched");
          !st.ok()) {
        return st;
      }
    }
    return {};
  }
  const int64_t slice = std::max<int64_t>(1, static_cast<int64_t>(kScratchFloats) / w.cols);
  float* s = nullptr;
  if (GpuStatus st = d.scratch(static_cast<uint64_t>(std::min(slice, rows_per_head)) * w.cols, &s);
      !st.ok()) {
    return st;
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t r0 = 0; r0 < rows_per_head; r0 += slice) {
      const int64_t nr = std::min(slice, rows_per_head - r0);
      if (GpuStatus st = dequantize_rows(w, h * rows_per_head + r0, nr, s, w.cols, stream);
          !st.ok()) {
        return st;
      }
      if (GpuStatus st =
              cublas_status(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nr), n, k,
                                        &one, s, k, x + h * xhs, static_cast<int>(ldb), &zero,
                                        y + h * yhs + r0, static_cast<int>(ldc)),
                            "cublasSgemm");
          !st.ok()) {
        return st;
      }
    }
  }
  return {};
}

GpuStatus CudaDevice::dequantize(const MatrixView& w, float* dst) {
  if (GpuStatus s = check_weights("dequantize", w); !s.ok()) return s;
  if (w.rows == 0) return {};
  if (!dst) return fail("dequantize", "null dst");
  if (GpuStatus s = activate(); !s.ok()) return s;
  return dequantize_rows(w, 0, w.rows, dst, w.cols, compute_);
}

}  // namespace emoe::kernels::gpu
