// The activation rounding of CudaDevice's weight products (cuda_matmul.cu): unless W is F32,
// x is first rounded to the values the CPU engine's dot products see, x converted to
// vec_dot_type(W) and back (activation_round.h), into the device's activation scratch, packed
// token by token and head by head (round_kernel).
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/activation_round.h"
#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/cuda_matmul_internal.h"

namespace emoe::kernels::gpu {
namespace {

using matmul_internal::kThreads;
using matmul_internal::kWarps;

// Rounds x (segment s = t * n_heads + h: cols floats at x + t * xts + h * xhs) to what a
// weight row's dot product sees, packed: segment s at dst + s * cols. One warp per group of 32
// elements (F16, BF16, Q8_0/Q8_1 blocks; an F16/BF16 row may end in a partial group) or 256
// (Q8_K blocks), lane l holding elements l, l + 32, ... A block's amax (Q8) or first largest
// element (Q8_K) is combined over xor shuffles; both are independent of the combining order.
struct RoundArgs {
  const float* x = nullptr;
  int64_t xts = 0, xhs = 0;  // floats
  int64_t n_heads = 0, cols = 0;
  int64_t n_segs = 0;                        // n_tokens * n_heads
  int64_t groups_per_seg = 0, n_groups = 0;  // set by launch_round
  float* dst = nullptr;
};

template <actround::Rounding R>
__global__ void __launch_bounds__(kThreads) round_kernel(RoundArgs a) {
  namespace ar = actround;
  constexpr int kGroup = R == ar::Rounding::Q8K ? ar::kQ8KBlock : 32;
  constexpr int kPerLane = kGroup / 32;
  const int lane = threadIdx.x % 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; g < a.n_groups;
       g += warps) {
    const int64_t seg = g / a.groups_per_seg, e0 = (g % a.groups_per_seg) * kGroup;
    const float* src = a.x + (seg / a.n_heads) * a.xts + (seg % a.n_heads) * a.xhs + e0;
    float* out = a.dst + seg * a.cols + e0;
    if constexpr (R == ar::Rounding::F16 || R == ar::Rounding::BF16) {
      if (e0 + lane < a.cols) {
        out[lane] = R == ar::Rounding::F16 ? ar::round_f16(src[lane]) : ar::round_bf16(src[lane]);
      }
    } else if constexpr (R == ar::Rounding::Q8) {
      const float v = src[lane];
      float amax = ar::abs_f(v);
#pragma unroll
      for (int off = 16; off > 0; off /= 2) {
        const float o = __shfl_xor_sync(0xffffffffu, amax, off);
        amax = amax < o ? o : amax;
      }
      out[lane] = ar::q8_value(v, ar::q8_scale(amax));
    } else {
      float v[kPerLane];
      ar::MaxAbs m;
#pragma unroll
      for (int k = 0; k < kPerLane; ++k) {
        v[k] = src[lane + 32 * k];
        m = ar::max_abs_take(m, v[k], lane + 32 * k);
      }
#pragma unroll
      for (int off = 16; off > 0; off /= 2) {
        ar::MaxAbs o;
        o.amax = __shfl_xor_sync(0xffffffffu, m.amax, off);
        o.x = __shfl_xor_sync(0xffffffffu, m.x, off);
        o.idx = __shfl_xor_sync(0xffffffffu, m.idx, off);
        m = ar::max_abs_combine(m, o);
      }
      const ar::Q8KScale s = m.amax != 0.0f ? ar::q8k_scale(m.x) : ar::Q8KScale{};
#pragma unroll
      for (int k = 0; k < kPerLane; ++k) {
        out[lane + 32 * k] = m.amax != 0.0f ? ar::q8k_value(v[k], s) : 0.0f;
      }
    }
  }
}

template <actround::Rounding R>
GpuStatus launch_round(RoundArgs a, cudaStream_t stream) {
  constexpr int64_t kGroup = R == actround::Rounding::Q8K ? actround::kQ8KBlock : 32;
  a.groups_per_seg = (a.cols + kGroup - 1) / kGroup;
  a.n_groups = a.n_segs * a.groups_per_seg;
  const int64_t blocks = std::min<int64_t>((a.n_groups + kWarps - 1) / kWarps, 65535 * 8);
  round_kernel<R><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(a);
  return launch_status("round_kernel");
}

}  // namespace

GpuStatus matmul_internal::round_activations(actround::Rounding rounding, const float* x,
                                             int64_t n_tokens, int64_t xts, int64_t xhs,
                                             int64_t n_heads, int64_t cols, float* dst,
                                             cudaStream_t stream) {
  RoundArgs ra;
  ra.x = x;
  ra.xts = xts;
  ra.xhs = xhs;
  ra.n_heads = n_heads;
  ra.cols = cols;
  ra.n_segs = n_tokens * n_heads;
  ra.dst = dst;
  GpuStatus s;
  switch (rounding) {
    case actround::Rounding::F16:
      s = launch_round<actround::Rounding::F16>(ra, stream);
      break;
    case actround::Rounding::BF16:
      s = launch_round<actround::Rounding::BF16>(ra, stream);
      break;
    case actround::Rounding::Q8:
      s = launch_round<actround::Rounding::Q8>(ra, stream);
      break;
    default:
      s = launch_round<actround::Rounding::Q8K>(ra, stream);
      break;
  }
  return s;
}

}  // namespace emoe::kernels::gpu
