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

// YaRN parameters of ggml_rope_ext: ext_factor 0 gives plain (linearly scaled) RoPE.
struct RopeYarn {
  float ext_factor = 0.0f;   // weight of the extrapolation ramp (1 for YaRN models)
  float attn_factor = 1.0f;  // multiplies cos and sin
  float beta_fast = 32.0f, beta_slow = 1.0f;
  int64_t n_ctx_orig = 0;  // the training context the ramp's corrections are computed for
};

// rope() with ggml's YaRN (rope_yarn and ggml_rope_yarn_corr_dims): per pair i0, theta mixes
// freq_scale * theta with the unscaled theta by ramp(i0) * ext_factor, and when ext_factor is
// non-zero, cos and sin are multiplied by attn_factor * (1 + 0.1 ln(1 / freq_scale)).
void rope_yarn(float* x, int64_t n_heads, int64_t head_dim, int64_t n_dims, int64_t pos,
               float freq_base, float freq_scale, RopeMode mode, const RopeYarn& yarn);

void softmax(float* x, int64_t n);  // in place, max-subtracted
void silu_mul(const float* gate, const float* up, int64_t n, float* out);  // silu(g) * u
void add(const float* a, const float* b, int64_t n, float* out);           // out may alias a
void axpy(float alpha, const float* x, int64_t n, float* y);               // y += alpha * x

}  // namespace emoe::kernels
