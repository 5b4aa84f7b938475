// The CUDA implementation of gpu::Device (private to kernels/cuda). Its member functions are
// defined by concept: cuda_device.cu (memory, transfers, events, open/probe), cuda_ops.cu
// (element-wise, norms, RoPE, KV rows), cuda_attention.cu, and the products: cuda_matmul.cu
// (decode kernel), cuda_matmul_batch.cu (dequantize + cuBLAS) and cuda_activation_round.cu.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "kernels/gpu/gpu_device.h"

namespace emoe::kernels::gpu {

// "cudaMalloc: out of memory" for a failed call; success when err is cudaSuccess.
GpuStatus cuda_status(cudaError_t err, const char* call);
GpuStatus cublas_status(cublasStatus_t st, const char* call);
// After a kernel launch: the launch error (bad configuration, no kernel image) named by kernel.
GpuStatus launch_status(const char* kernel);

class CudaDevice final : public Device {
 public:
  ~CudaDevice() override;
  // Creates the streams and the cuBLAS handle of device `index`.
  static OpenResult open(int index);

  const DeviceInfo& info() const override { return info_; }
  GpuStatus malloc_device(uint64_t bytes, void** out) override;
  void free_device(void* p) override;
  GpuStatus malloc_pinned(uint64_t bytes, void** out) override;
  void free_pinned(void* p) override;
  uint64_t allocated_bytes() const override { return allocated_.load(); }
  GpuStatus mem_info(uint64_t* free_bytes, uint64_t* total_bytes) override;

  GpuStatus copy_async(void* dst, const void* src, uint64_t bytes, StreamId s) override;
  GpuStatus memset_async(void* dst, int value, uint64_t bytes, StreamId s) override;
  GpuStatus upload(void* dst, const void* src, uint64_t bytes) override;
  GpuStatus download(void* dst, const void* src, uint64_t bytes) override;

  GpuStatus create_event(Event* out) override;
  void destroy_event(Event e) override;
  GpuStatus record(Event e, StreamId s) override;
  GpuStatus wait(StreamId s, Event e) override;
  GpuStatus sync_event(Event e) override;
  GpuStatus sync_stream(StreamId s) override;
  GpuStatus elapsed_ms(Event start, Event end, float* ms) override;

  GpuStatus matmul(const MatrixView& w, const float* x, int64_t n_tokens, int64_t x_stride,
                   float* y, int64_t y_stride) override;
  GpuStatus matmul_heads(const MatrixView& w, int64_t rows_per_head, int64_t n_heads,
                         const float* x, int64_t n_tokens, int64_t x_token_stride,
                         int64_t x_head_stride, float* y, int64_t y_token_stride,
                         int64_t y_head_stride) override;
  GpuStatus dequantize(const MatrixView& w, float* dst) override;

  GpuStatus rms_norm(const float* x, int64_t x_stride, const float* w, float eps, int64_t rows,
                     int64_t width, float* y, int64_t y_stride) override;
  GpuStatus rope(float* x, int64_t n_tokens, int64_t token_stride, int64_t n_heads,
                 int64_t head_stride, int64_t n_dims, const int32_t* pos, float freq_base,
                 float freq_scale, RopeMode mode, const RopeYarn& yarn) override;
  GpuStatus add(const float* a, const float* b, int64_t n, float* out) override;
  GpuStatus add_bias(float* x, const float* bias, int64_t rows, int64_t width,
                     int64_t stride) override;
  GpuStatus silu_mul(const float* gate, const float* up, int64_t n, float* out) override;
  GpuStatus gather_rows(const float* src, int64_t width, const int32_t* idx, int64_t n,
                        float* dst) override;
  GpuStatus scatter_scaled_rows(const float* src, int64_t width, const int32_t* idx,
                                const float* scale, int64_t n, float* dst) override;
  GpuStatus sum_slots(const float* slots, int64_t n, int64_t k, int64_t width, float* out) override;
  GpuStatus add_gated(float* out, const float* src, const float* logit, int64_t n,
                      int64_t width) override;
  GpuStatus store_rows(const float* src, int64_t n, int64_t width, int64_t src_stride, void* cache,
                       TensorType cache_type, const int64_t* dst_offset) override;
  GpuStatus attention(const AttentionArgs& args) override;

  // For the kernel files: the streams, cuBLAS, and a device scratch buffer of at least
  // `floats` floats that stays valid until the next scratch() call (compute stream only).
  cudaStream_t compute_stream() const { return compute_; }
  cudaStream_t copy_stream() const { return copy_; }
  cudaStream_t stream(StreamId s) const { return s == StreamId::Copy ? copy_ : compute_; }
  cublasHandle_t blas() const { return blas_; }
  GpuStatus scratch(uint64_t floats, float** out);
  // A second such buffer, for matmul's activations rounded to vec_dot_type(w) while scratch()
  // holds dequantized weights.
  GpuStatus activation_scratch(uint64_t floats, float** out);
  // Selects this device on the calling thread (CUDA's current device is per thread).
  GpuStatus activate() const;

 private:
  CudaDevice() = default;
  // Grows one of the scratch buffers below to `floats` floats.
  GpuStatus grow(float** buf, uint64_t* buf_floats, uint64_t floats, const char* what, float** out);

  DeviceInfo info_;
  cudaStream_t compute_ = nullptr;
  cudaStream_t copy_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  std::atomic<uint64_t> allocated_{0};
  std::mutex alloc_mu_;
  std::unordered_map<void*, uint64_t> alloc_sizes_;  // live device allocations
  float* scratch_ = nullptr;
  uint64_t scratch_floats_ = 0;
  float* act_scratch_ = nullptr;
  uint64_t act_scratch_floats_ = 0;
};

}  // namespace emoe::kernels::gpu
