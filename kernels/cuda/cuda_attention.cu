// CudaDevice::attention: one block per (token, query head) over the token's sequence in the
// KV cache, in the CPU engine's order (core/engine/attention.cpp, mla_attention.cpp): scores
// q.k * scale, max-subtracted softmax normalised by 1 / sum, then the probability-weighted sum
// of V rows position by position. With an F16 cache the query and the normalised probabilities
// are rounded to F16 before their products, as the CPU and ggml do.
//
// Scores live in a shared-memory tile of kTile positions. Longer contexts (beyond the tile)
// recompute the scores past it in the sum and V passes instead of keeping them, so any n_pos
// works; the host cannot see n_pos (it is device memory), and this avoids reading it back.
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "kernels/cuda/cuda_device.h"

namespace emoe::kernels::gpu {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kTile = 4096;  // scores kept in shared memory (16 KiB)
constexpr size_t kDefaultSharedLimit = 48 * 1024;

__device__ inline float load(const float* p) { return *p; }
__device__ inline float load(const __half* p) { return __half2float(*p); }

template <typename T>
struct Head {
  const T* k;  // key head kh of position 0; position p at k + p * k_row_stride
  const T* v;
  int64_t k_row_stride, v_row_stride;
};

// q.k_p over head_dim floats by one warp; every lane returns the sum. Deterministic for a given
// p, so recomputed scores equal the first ones bit for bit.
template <typename T>
__device__ float warp_dot(const float* q, const T* k, int64_t head_dim) {
  float acc = 0.0f;
  for (int64_t d = threadIdx.x % 32; d < head_dim; d += 32) acc += q[d] * load(k + d);
  for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  return acc;
}

template <bool kMax>
__device__ float block_reduce(float v, float* partial) {
  for (int off = 16; off > 0; off /= 2) {
    const float o = __shfl_xor_sync(0xffffffffu, v, off);
    v = kMax ? fmaxf(v, o) : v + o;
  }
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  float r = partial[0];
  for (int w = 1; w < kWarps; ++w) r = kMax ? fmaxf(r, partial[w]) : r + partial[w];
  __syncthreads();
  return r;
}

template <typename T>
__global__ void attention_kernel(AttentionArgs a, int64_t tile) {
  extern __shared__ float smem[];
  float* qs = smem;                     // [head_dim_k] the query (F16-rounded with an F16 cache)
  float* scores = smem + a.head_dim_k;  // [tile]
  __shared__ float partial[kWarps];
  constexpr bool kF16 = std::is_same_v<T, __half>;

  const int64_t t = blockIdx.x / a.n_head, h = blockIdx.x % a.n_head;
  const int64_t kh = h / (a.n_head / a.n_head_kv);
  const int64_t seq = a.seq[t], n_pos = a.n_pos[t];
  const T* k = static_cast<const T*>(a.k) + seq * a.k_seq_stride + kh * a.head_dim_k;
  const T* v = static_cast<const T*>(a.v) + seq * a.v_seq_stride + kh * a.head_dim_v;
  float* out = a.out + t * a.out_token_stride + h * a.head_dim_v;
  const float* q = a.q + t * a.q_token_stride + h * a.head_dim_k;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  if (n_pos <= 0) {  // nothing to attend to (the contract says n_pos >= 1); write zeros
    for (int64_t d = threadIdx.x; d < a.head_dim_v; d += blockDim.x) out[d] = 0.0f;
    return;
  }
  for (int64_t d = threadIdx.x; d < a.head_dim_k; d += blockDim.x) {
    qs[d] = kF16 ? __half2float(__float2half_rn(q[d])) : q[d];
  }
  __syncthreads();

  // Pass 1: scores (kept for the first `tile` positions) and their maximum.
  float local_max = -INFINITY;
  for (int64_t p = warp; p < n_pos; p += kWarps) {
    const float s = warp_dot(qs, k + p * a.k_row_stride, a.head_dim_k) * a.scale;
    if (p < tile && lane == 0) scores[p] = s;
    local_max = fmaxf(local_max, s);
  }
  __syncthreads();
  const float max_score = block_reduce<true>(local_max, partial);

  // Pass 2: exponentials (stored over the scores) and their sum.
  const int64_t kept = n_pos < tile ? n_pos : tile;
  float local_sum = 0.0f;
  for (int64_t p = threadIdx.x; p < kept; p += blockDim.x) {
    const float e = expf(scores[p] - max_score);
    scores[p] = e;
    local_sum += e;
  }
  for (int64_t p = tile + warp; p < n_pos; p += kWarps) {
    const float s = warp_dot(qs, k + p * a.k_row_stride, a.head_dim_k) * a.scale;
    if (lane == 0) local_sum += expf(s - max_score);
  }
  const float inv = 1.0f / block_reduce<false>(local_sum, partial);

  // Pass 3, a tile at a time: probabilities, then each output dimension accumulated over
  // positions in order. The running sums live in `out`, owned by one thread per dimension.
  for (int64_t p0 = 0; p0 < n_pos; p0 += tile) {
    const int64_t len = n_pos - p0 < tile ? n_pos - p0 : tile;
    if (p0 > 0) {
      __syncthreads();  // the previous tile's probabilities are consumed
      for (int64_t p = warp; p < len; p += kWarps) {
        const float s = warp_dot(qs, k + (p0 + p) * a.k_row_stride, a.head_dim_k) * a.scale;
        if (lane == 0) scores[p] = expf(s - max_score);
      }
      __syncthreads();
    }
    for (int64_t p = threadIdx.x; p < len; p += blockDim.x) {
      const float pr = scores[p] * inv;
      scores[p] = kF16 ? __half2float(__float2half_rn(pr)) : pr;
    }
    __syncthreads();
    for (int64_t d = threadIdx.x; d < a.head_dim_v; d += blockDim.x) {
      float acc = p0 == 0 ? 0.0f : out[d];
      const T* vd = v + (p0 * a.v_row_stride) + d;
      for (int64_t p = 0; p < len; ++p) acc += scores[p] * load(vd + p * a.v_row_stride);
      out[d] = acc;
    }
  }
}

GpuStatus bad_arg(const std::string& what) { return GpuStatus::error("attention: " + what); }

}  // namespace

GpuStatus CudaDevice::attention(const AttentionArgs& a) {
  if (a.n_tokens < 0) return bad_arg("negative n_tokens");
  if (a.n_tokens == 0) return {};
  if (a.n_head <= 0 || a.n_head_kv <= 0 || a.n_head % a.n_head_kv != 0) {
    return bad_arg("n_head " + std::to_string(a.n_head) +
                   " is not a positive multiple of n_head_kv " + std::to_string(a.n_head_kv));
  }
  if (a.head_dim_k <= 0 || a.head_dim_v <= 0) {
    return bad_arg("head dims must be positive (k " + std::to_string(a.head_dim_k) + ", v " +
                   std::to_string(a.head_dim_v) + ")");
  }
  if (a.kv_type != TensorType::F32 && a.kv_type != TensorType::F16) {
    return bad_arg("KV cache type " + std::string(type_name(a.kv_type)) +
                   " is not supported (f32 or f16)");
  }
  if (!a.q || !a.k || !a.v || !a.seq || !a.n_pos || !a.out) return bad_arg("null pointer argument");
  if (a.n_tokens * a.n_head > INT32_MAX) {
    return bad_arg(std::to_string(a.n_tokens) + " tokens x " + std::to_string(a.n_head) +
                   " heads exceed one grid");
  }
  if (GpuStatus s = activate(); !s.ok()) return s;

  const size_t shared = static_cast<size_t>(a.head_dim_k + kTile) * sizeof(float);
  const bool f16 = a.kv_type == TensorType::F16;
  const void* kernel = f16 ? reinterpret_cast<const void*>(&attention_kernel<__half>)
                           : reinterpret_cast<const void*>(&attention_kernel<float>);
  if (shared > kDefaultSharedLimit) {
    // Only a very wide key head gets here (head_dim_k > 8192); opt in up to the device's limit.
    int optin = 0;
    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, info_.index);
    if (shared + kWarps * sizeof(float) > static_cast<size_t>(optin)) {
      return bad_arg("head_dim_k " + std::to_string(a.head_dim_k) + " needs " +
                     std::to_string(shared) + " bytes of shared memory; the device allows " +
                     std::to_string(optin));
    }
    if (GpuStatus s =
            cuda_status(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(shared)),
                        "attention: cudaFuncSetAttribute");
        !s.ok()) {
      return s;
    }
  }
  const int blocks = static_cast<int>(a.n_tokens * a.n_head);
  if (f16) {
    attention_kernel<__half><<<blocks, kThreads, shared, compute_>>>(a, kTile);
  } else {
    attention_kernel<float><<<blocks, kThreads, shared, compute_>>>(a, kTile);
  }
  return launch_status(f16 ? "attention_kernel<f16>" : "attention_kernel<f32>");
}

}  // namespace emoe::kernels::gpu
