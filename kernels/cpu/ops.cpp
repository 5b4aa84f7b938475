// Transformer element-wise ops with ggml-cpu's float32 operation order (ggml_compute_forward_*),
// so results agree with llama.cpp to a few ulps (ggml's SIMD exp approximations aside).
#include "kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace emoe::kernels {

void rms_norm(const float* x, const float* w, float eps, int64_t n, float* y) {
  // ggml sums float32 squares in double, rounds the mean to float, then scales in float.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];  // ggml_rms_norm then ggml_mul
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
  }
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_dims, int64_t pos, float freq_base,
          float freq_scale, RopeMode mode) {
  // ggml_rope_cache_init: theta starts at pos and is multiplied by theta_scale per pair, in
  // float32; rope_yarn with ext_factor 0 and mscale 1 is just cos/sin of freq_scale * theta.
  thread_local std::vector<float> cache;
  if (cache.size() < static_cast<size_t>(n_dims)) cache.resize(static_cast<size_t>(n_dims));
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_dims));
  float theta = static_cast<float>(pos);
  for (int64_t i0 = 0; i0 < n_dims; i0 += 2) {
    const float t = freq_scale * theta;
    cache[i0] = std::cos(t);
    cache[i0 + 1] = std::sin(t);
    theta *= theta_scale;
  }
  const int64_t half = n_dims / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i0 = 0; i0 < n_dims; i0 += 2) {
      const float c = cache[i0], s = cache[i0 + 1];
      float* a = mode == RopeMode::Neox ? v + i0 / 2 : v + i0;
      float* b = mode == RopeMode::Neox ? v + i0 / 2 + half : v + i0 + 1;
      const float x0 = *a, x1 = *b;
      *a = x0 * c - x1 * s;
      *b = x0 * s + x1 * c;
    }
  }
}

namespace {

// ggml_rope_yarn_corr_dim: the dimension whose wavelength fits n_rot turns into n_ctx_orig.
float yarn_corr_dim(int64_t n_dims, int64_t n_ctx_orig, float n_rot, float base) {
  return static_cast<float>(n_dims) *
         std::log(static_cast<float>(n_ctx_orig) / (n_rot * 2.0f * 3.14159265358979323846f)) /
         (2.0f * std::log(base));
}

}  // namespace

void rope_yarn(float* x, int64_t n_heads, int64_t head_dim, int64_t n_dims, int64_t pos,
               float freq_base, float freq_scale, RopeMode mode, const RopeYarn& y) {
  const float lo =
      std::max(0.0f, std::floor(yarn_corr_dim(n_dims, y.n_ctx_orig, y.beta_fast, freq_base)));
  const float hi = std::min(static_cast<float>(n_dims - 1),
                            std::ceil(yarn_corr_dim(n_dims, y.n_ctx_orig, y.beta_slow, freq_base)));
  thread_local std::vector<float> cache;
  if (cache.size() < static_cast<size_t>(n_dims)) cache.resize(static_cast<size_t>(n_dims));
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_dims));
  float mscale = y.attn_factor;
  if (y.ext_factor != 0.0f) mscale *= 1.0f + 0.1f * std::log(1.0f / freq_scale);
  float theta_extrap = static_cast<float>(pos);
  for (int64_t i0 = 0; i0 < n_dims; i0 += 2) {
    const float theta_interp = freq_scale * theta_extrap;
    float theta = theta_interp;
    if (y.ext_factor != 0.0f) {
      const float r = (static_cast<float>(i0) / 2.0f - lo) / std::max(0.001f, hi - lo);
      const float ramp = (1.0f - std::min(1.0f, std::max(0.0f, r))) * y.ext_factor;
      theta = theta_interp * (1.0f - ramp) + theta_extrap * ramp;
    }
    cache[i0] = std::cos(theta) * mscale;
    cache[i0 + 1] = std::sin(theta) * mscale;
    theta_extrap *= theta_scale;
  }
  const int64_t half = n_dims / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i0 = 0; i0 < n_dims; i0 += 2) {
      const float c = cache[i0], s = cache[i0 + 1];
      float* a = mode == RopeMode::Neox ? v + i0 / 2 : v + i0;
      float* b = mode == RopeMode::Neox ? v + i0 / 2 + half : v + i0 + 1;
      const float x0 = *a, x1 = *b;
      *a = x0 * c - x1 * s;
      *b = x0 * s + x1 * c;
    }
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float max = *std::max_element(x, x + n);
  double sum = 0.0;  // ggml_vec_soft_max_f32 accumulates in ggml_float
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += static_cast<double>(x[i]);
  }
  const auto inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = (g / (1.0f + std::exp(-g))) * up[i];
  }
}

void add(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void axpy(float alpha, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace emoe::kernels
