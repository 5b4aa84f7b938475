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
