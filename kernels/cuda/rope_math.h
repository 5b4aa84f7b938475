// RoPE's per-pair math, shared by the CUDA kernel (cuda_ops.cu) and a CPU test
// (tests/kernels/test_rope_math.cpp), so the formulas the GPU runs are checked against
// kernels::rope / kernels::rope_yarn on any machine. The operation order is ops.cpp's, step
// for step: theta by repeated float multiplication (ggml_rope_cache_init), the YaRN ramp and
// mscale as in rope_yarn. On the device every product and sum is rounded separately
// (__fmul_rn, __fadd_rn) so nvcc cannot contract them into FMAs: a contracted theta would
// move cos/sin by up to an ulp of theta, about 5e-4 at position 4096.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/cpu/ops.h"
#include "kernels/cuda/exact_float.h"

namespace emoe::kernels::rope_math {

using exact::add_rn;
using exact::mul_rn;
using exact::sub_rn;

// std::max / std::min semantics (the first argument wins ties and NaNs), as ops.cpp uses them.
EMOE_HD inline float max_std(float a, float b) { return a < b ? b : a; }
EMOE_HD inline float min_std(float a, float b) { return b < a ? b : a; }

// What every pair of one rope call shares; computed once on the host (rope_consts).
struct RopeConsts {
  float theta_scale = 1.0f;  // freq_base^(-2 / n_dims)
  float freq_scale = 1.0f;
  float ext_factor = 0.0f;               // 0: plain RoPE, no ramp
  float corr_lo = 0.0f, corr_hi = 0.0f;  // the YaRN ramp's pair range
  float mscale = 1.0f;                   // multiplies cos and sin
};

// ggml_rope_yarn_corr_dim: the dimension whose wavelength fits n_rot turns into n_ctx_orig.
inline float yarn_corr_dim(int64_t n_dims, int64_t n_ctx_orig, float n_rot, float base) {
  return static_cast<float>(n_dims) *
         std::log(static_cast<float>(n_ctx_orig) / (n_rot * 2.0f * 3.14159265358979323846f)) /
         (2.0f * std::log(base));
}

// Host only: the same float operations as kernels::rope_yarn's prologue.
inline RopeConsts rope_consts(int64_t n_dims, float freq_base, float freq_scale,
                              const RopeYarn& y) {
  RopeConsts k;
  k.corr_lo =
      max_std(0.0f, std::floor(yarn_corr_dim(n_dims, y.n_ctx_orig, y.beta_fast, freq_base)));
  k.corr_hi = min_std(static_cast<float>(n_dims - 1),
                      std::ceil(yarn_corr_dim(n_dims, y.n_ctx_orig, y.beta_slow, freq_base)));
  k.theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_dims));
  k.freq_scale = freq_scale;
  k.ext_factor = y.ext_factor;
  k.mscale = y.attn_factor;
  if (y.ext_factor != 0.0f) k.mscale *= 1.0f + 0.1f * std::log(1.0f / freq_scale);
  return k;
}

// cos and sin (times mscale) of pair i0 (even, < n_dims) at position pos.
EMOE_HD inline void rope_cos_sin(const RopeConsts& k, float pos, int64_t i0, float* c, float* s) {
  float theta_extrap = pos;
  for (int64_t i = 0; i < i0; i += 2) theta_extrap = mul_rn(theta_extrap, k.theta_scale);
  const float theta_interp = mul_rn(k.freq_scale, theta_extrap);
  float theta = theta_interp;
  if (k.ext_factor != 0.0f) {
    const float r = sub_rn(static_cast<float>(i0) / 2.0f, k.corr_lo) /
                    max_std(0.001f, sub_rn(k.corr_hi, k.corr_lo));
    const float ramp = mul_rn(sub_rn(1.0f, min_std(1.0f, max_std(0.0f, r))), k.ext_factor);
    theta = add_rn(mul_rn(theta_interp, sub_rn(1.0f, ramp)), mul_rn(theta_extrap, ramp));
  }
  *c = mul_rn(cosf(theta), k.mscale);
  *s = mul_rn(sinf(theta), k.mscale);
}

// Offsets of pair i0's two elements within a head: Norm (2i, 2i+1), Neox (i, i + n_dims/2).
EMOE_HD inline void rope_pair_offsets(RopeMode mode, int64_t n_dims, int64_t i0, int64_t* a,
                                      int64_t* b) {
  if (mode == RopeMode::Neox) {
    *a = i0 / 2;
    *b = i0 / 2 + n_dims / 2;
  } else {
    *a = i0;
    *b = i0 + 1;
  }
}

// Rotates one pair in place.
EMOE_HD inline void rope_rotate(float* a, float* b, float c, float s) {
  const float x0 = *a, x1 = *b;
  *a = sub_rn(mul_rn(x0, c), mul_rn(x1, s));
  *b = add_rn(mul_rn(x0, s), mul_rn(x1, c));
}

}  // namespace emoe::kernels::rope_math
