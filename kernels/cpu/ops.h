// Element-wise and row-wise operations of transformer layers, on plain float spans.
#pragma once

#include <cstdint>

namespace emoe::kernels {

// y = x / sqrt(mean(x^2) + eps) * w  (w may be null: no scale). y may alias x.
void rms_norm(const float* x, const float* w, float eps, int64_t n, float* y);

enum class RopeMode { Norm = 0, Neox = 2 };  // ggml's mode ids
// Rotates the first n_dims of each of n_heads heads of size head_dim in place, at position pos.
// Norm: pairs (2i, 2i+1); Neox: pairs (i, i + n_dims/2). theta_i = pos * base^(-2i/n_dims).
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_dims, int64_t pos, float freq_base,
          float freq_scale, RopeMode mode);

void softmax(float* x, int64_t n);  // in place, max-subtracted
void silu_mul(const float* gate, const float* up, int64_t n, float* out);  // silu(g) * u
void add(const float* a, const float* b, int64_t n, float* out);           // out may alias a
void axpy(float alpha, const float* x, int64_t n, float* y);               // y += alpha * x

}  // namespace emoe::kernels
