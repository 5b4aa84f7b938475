// CudaDevice's element-wise and row-wise kernels: RMSNorm, RoPE, additions, SwiGLU, the row
// gathers and scatters of expert grouping, slot sums, shared-expert gating and KV-cache row
// stores. Each follows the float32 operation order of its CPU twin (kernels/cpu/ops.cpp,
// core/engine/*.cpp) where that order is cheap to keep, so the backends differ only by the
// GPU's exp/cos/sin (within 2 ulp) and the reduction order of sums.
#include <cuda_fp16.h>

#include <algorithm>
#include <string>
#include <type_traits>

#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/rope_math.h"

namespace emoe::kernels::gpu {
namespace {

constexpr int kThreads = 256;
// Grid-stride loops cover any size; more blocks than this only adds scheduling overhead.
constexpr int64_t kMaxBlocks = 65535;

int blocks_for(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

GpuStatus bad_arg(const char* op, const std::string& what) {
  return GpuStatus::error(std::string(op) + ": " + what);
}

// Block-wide sum for blockDim.x == kThreads; every thread gets the total.
__device__ float block_sum(float v) {
  __shared__ float partial[kThreads / 32];
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  __syncthreads();  // partial is reused by the next call
  return total;
}

// One block per row (grid-stride over rows). y may alias x: every thread reads its elements
// for the sum before the barrier inside block_sum and writes only its own elements after it.
__global__ void rms_norm_kernel(const float* x, int64_t x_stride, const float* w, float eps,
                                int64_t rows, int64_t width, float* y, int64_t y_stride) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * x_stride;
    float* yr = y + r * y_stride;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) ss += xr[i] * xr[i];
    const float mean = block_sum(ss) / static_cast<float>(width);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
      const float v = xr[i] * scale;
      yr[i] = w ? v * w[i] : v;
    }
  }
}

// One block per token: the token's cos/sin per pair go to shared memory (n_dims floats), then
// every head's pairs are rotated.
__global__ void rope_kernel(float* x, int64_t n_tokens, int64_t token_stride, int64_t n_heads,
                            int64_t head_stride, int64_t n_dims, const int32_t* pos,
                            rope_math::RopeConsts k, RopeMode mode) {
  extern __shared__ float cs[];  // [n_dims]: cos, sin of pair i0 at cs[i0], cs[i0 + 1]
  const int64_t n_pairs = n_dims / 2;
  for (int64_t t = blockIdx.x; t < n_tokens; t += gridDim.x) {
    const float p = static_cast<float>(pos[t]);
    for (int64_t i = threadIdx.x; i < n_pairs; i += blockDim.x) {
      rope_math::rope_cos_sin(k, p, 2 * i, &cs[2 * i], &cs[2 * i + 1]);
    }
    __syncthreads();
    float* xt = x + t * token_stride;
    for (int64_t j = threadIdx.x; j < n_heads * n_pairs; j += blockDim.x) {
      const int64_t h = j / n_pairs, i0 = 2 * (j % n_pairs);
      int64_t a = 0, b = 0;
      rope_math::rope_pair_offsets(mode, n_dims, i0, &a, &b);
      float* head = xt + h * head_stride;
      rope_math::rope_rotate(head + a, head + b, cs[i0], cs[i0 + 1]);
    }
    __syncthreads();  // cs is rewritten for the next token
  }
}

__global__ void add_kernel(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = a[i] + b[i];
  }
}

__global__ void add_bias_kernel(float* x, const float* bias, int64_t rows, int64_t width,
                                int64_t stride) {
  const int64_t n = rows * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / width, c = i % width;
    x[r * stride + c] += bias[c];
  }
}

__global__ void silu_mul_kernel(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float g = gate[i];
    out[i] = __fmul_rn(g / (1.0f + expf(-g)), up[i]);
  }
}

__global__ void gather_rows_kernel(const float* src, int64_t width, const int32_t* idx, int64_t n,
                                   float* dst) {
  const int64_t total = n * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / width, c = i % width;
    dst[i] = src[int64_t{idx[r]} * width + c];
  }
}

__global__ void scatter_scaled_rows_kernel(const float* src, int64_t width, const int32_t* idx,
                                           const float* scale, int64_t n, float* dst) {
  const int64_t total = n * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / width, c = i % width;
    dst[int64_t{idx[r]} * width + c] = src[i] * scale[r];
  }
}

// Slot 0's value first, then slots 1..k-1 added one by one: ggml's order, no contraction.
__global__ void sum_slots_kernel(const float* slots, int64_t n, int64_t k, int64_t width,
                                 float* out) {
  const int64_t total = n * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / width, c = i % width;
    const float* row = slots + t * k * width + c;
    float acc = k > 0 ? row[0] : 0.0f;
    for (int64_t j = 1; j < k; ++j) acc = __fadd_rn(acc, row[j * width]);
    out[i] = acc;
  }
}

// As moe_layer.cpp: g = 1 / (1 + exp(-logit)), then out += src * g, separately rounded.
__global__ void add_gated_kernel(float* out, const float* src, const float* logit, int64_t n,
                                 int64_t width) {
  const int64_t total = n * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / width;
    const float g = 1.0f / (1.0f + expf(-logit[t]));
    out[i] = __fadd_rn(out[i], __fmul_rn(src[i], g));
  }
}

template <typename T>
__global__ void store_rows_kernel(const float* src, int64_t n, int64_t width, int64_t src_stride,
                                  T* cache, const int64_t* dst_offset) {
  const int64_t total = n * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / width, c = i % width;
    const float v = src[t * src_stride + c];
    if constexpr (std::is_same_v<T, __half>) {
      cache[dst_offset[t] + c] = __float2half_rn(v);
    } else {
      cache[dst_offset[t] + c] = v;
    }
  }
}

}  // namespace

GpuStatus CudaDevice::rms_norm(const float* x, int64_t x_stride, const float* w, float eps,
                               int64_t rows, int64_t width, float* y, int64_t y_stride) {
  if (rows < 0 || width < 0) return bad_arg("rms_norm", "negative rows or width");
  if (rows == 0 || width == 0) return {};
  if (!x || !y) return bad_arg("rms_norm", "null x or y");
  if (GpuStatus s = activate(); !s.ok()) return s;
  const int blocks = static_cast<int>(std::min<int64_t>(rows, kMaxBlocks));
  rms_norm_kernel<<<blocks, kThreads, 0, compute_>>>(x, x_stride, w, eps, rows, width, y, y_stride);
  return launch_status("rms_norm_kernel");
}

GpuStatus CudaDevice::rope(float* x, int64_t n_tokens, int64_t token_stride, int64_t n_heads,
                           int64_t head_stride, int64_t n_dims, const int32_t* pos, float freq_base,
                           float freq_scale, RopeMode mode, const RopeYarn& yarn) {
  if (n_tokens < 0 || n_heads < 0) return bad_arg("rope", "negative n_tokens or n_heads");
  if (n_tokens == 0 || n_heads == 0 || n_dims == 0) return {};
  if (n_dims < 0 || n_dims % 2 != 0) {
    return bad_arg("rope", "n_dims " + std::to_string(n_dims) + " is not a positive even number");
  }
  // The cos/sin table of one token lives in the default 48 KiB of shared memory.
  if (n_dims > 8192) return bad_arg("rope", "n_dims " + std::to_string(n_dims) + " > 8192");
  if (!x || !pos) return bad_arg("rope", "null x or pos");
  if (GpuStatus s = activate(); !s.ok()) return s;
  // Computed on the host with the CPU's expressions, so both backends use the same constants.
  const rope_math::RopeConsts k = rope_math::rope_consts(n_dims, freq_base, freq_scale, yarn);
  const int blocks = static_cast<int>(std::min<int64_t>(n_tokens, kMaxBlocks));
  const size_t shared = static_cast<size_t>(n_dims) * sizeof(float);
  rope_kernel<<<blocks, kThreads, shared, compute_>>>(x, n_tokens, token_stride, n_heads,
                                                      head_stride, n_dims, pos, k, mode);
  return launch_status("rope_kernel");
}

GpuStatus CudaDevice::add(const float* a, const float* b, int64_t n, float* out) {
  if (n < 0) return bad_arg("add", "negative n");
  if (n == 0) return {};
  if (GpuStatus s = activate(); !s.ok()) return s;
  add_kernel<<<blocks_for(n), kThreads, 0, compute_>>>(a, b, n, out);
  return launch_status("add_kernel");
}

GpuStatus CudaDevice::add_bias(float* x, const float* bias, int64_t rows, int64_t width,
                               int64_t stride) {
  if (rows < 0 || width < 0) return bad_arg("add_bias", "negative rows or width");
  if (rows == 0 || width == 0) return {};
  if (GpuStatus s = activate(); !s.ok()) return s;
  add_bias_kernel<<<blocks_for(rows * width), kThreads, 0, compute_>>>(x, bias, rows, width,
                                                                       stride);
  return launch_status("add_bias_kernel");
}

GpuStatus CudaDevice::silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  if (n < 0) return bad_arg("silu_mul", "negative n");
  if (n == 0) return {};
  if (GpuStatus s = activate(); !s.ok()) return s;
  silu_mul_kernel<<<blocks_for(n), kThreads, 0, compute_>>>(gate, up, n, out);
  return launch_status("silu_mul_kernel");
}

GpuStatus CudaDevice::gather_rows(const float* src, int64_t width, const int32_t* idx, int64_t n,
                                  float* dst) {
  if (n < 0 || width < 0) return bad_arg("gather_rows", "negative n or width");
  if (n == 0 || width == 0) return {};
  if (GpuStatus s = activate(); !s.ok()) return s;
  gather_rows_kernel<<<blocks_for(n * width), kThreads, 0, compute_>>>(src, width, idx, n, dst);
  return launch_status("gather_rows_kernel");
}

GpuStatus CudaDevice::scatter_scaled_rows(const float* src, int64_t width, const int32_t* idx,
                                          const float* scale, int64_t n, float* dst) {
  if (n < 0 || width < 0) return bad_arg("scatter_scaled_rows", "negative n or width");
  if (n == 0 || width == 0) return {};
  if (GpuStatus s = activate(); !s.ok()) return s;
  scatter_scaled_rows_kernel<<<blocks_for(n * width), kThreads, 0, compute_>>>(src, width, idx,
                                                                               scale, n, dst);
  return launch_status("scatter_scaled_rows_kernel");
}

GpuStatus CudaDevice::sum_slots(const float* slots, int64_t n, int64_t k, int64_t width,
                                float* out) {
  if (n < 0 || k < 0 || width < 0) return bad_arg("sum_slots", "negative n, k or width");
  if (n == 0 || width == 0) return {};
  if (GpuStatus s = activate(); !s.ok()) return s;
  sum_slots_kernel<<<blocks_for(n * width), kThreads, 0, compute_>>>(slots, n, k, width, out);
  return launch_status("sum_slots_kernel");
}

GpuStatus CudaDevice::add_gated(float* out, const float* src, const float* logit, int64_t n,
                                int64_t width) {
  if (n < 0 || width < 0) return bad_arg("add_gated", "negative n or width");
  if (n == 0 || width == 0) return {};
  if (GpuStatus s = activate(); !s.ok()) return s;
  add_gated_kernel<<<blocks_for(n * width), kThreads, 0, compute_>>>(out, src, logit, n, width);
  return launch_status("add_gated_kernel");
}

GpuStatus CudaDevice::store_rows(const float* src, int64_t n, int64_t width, int64_t src_stride,
                                 void* cache, TensorType cache_type, const int64_t* dst_offset) {
  if (n < 0 || width < 0) return bad_arg("store_rows", "negative n or width");
  if (cache_type != TensorType::F32 && cache_type != TensorType::F16) {
    return bad_arg("store_rows", "cache type " + std::string(type_name(cache_type)) +
                                     " is not supported (f32 or f16)");
  }
  if (n == 0 || width == 0) return {};
  if (GpuStatus s = activate(); !s.ok()) return s;
  const int blocks = blocks_for(n * width);
  if (cache_type == TensorType::F16) {
    store_rows_kernel<__half><<<blocks, kThreads, 0, compute_>>>(
        src, n, width, src_stride, static_cast<__half*>(cache), dst_offset);
  } else {
    store_rows_kernel<float><<<blocks, kThreads, 0, compute_>>>(
        src, n, width, src_stride, static_cast<float*>(cache), dst_offset);
  }
  return launch_status("store_rows_kernel");
}

}  // namespace emoe::kernels::gpu
