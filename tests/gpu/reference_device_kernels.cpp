// The host reference device's kernels: naive, obviously-right code on the calling thread
// (float64 sums, exact dequantization), each refusing pointers outside this device's live
// allocations (reference_device_impl.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cuda/activation_round.h"
#include "tests/gpu/reference_device_impl.h"

namespace emoe::gpucheck::refdev {
namespace {

bool matmul_type_supported(TensorType t) {
  switch (t) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return true;
    default:
      return false;
  }
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

void dequant_row(const MatrixView& w, int64_t r, float* dst) {
  kernels::dequantize_row(w.type, static_cast<const uint8_t*>(w.data) + r * w.row_stride, dst,
                          w.cols);
}

}  // namespace

// --- kernels (compute stream: run now)
GpuStatus ReferenceDevice::matmul(const MatrixView& w, const float* x, int64_t n_tokens,
                                  int64_t x_stride, float* y, int64_t y_stride) {
  return matmul_heads_impl("matmul", w, w.rows, 1, x, n_tokens, x_stride, 0, y, y_stride, 0);
}

GpuStatus ReferenceDevice::matmul_heads(const MatrixView& w, int64_t rows_per_head, int64_t n_heads,
                                        const float* x, int64_t n_tokens, int64_t x_token_stride,
                                        int64_t x_head_stride, float* y, int64_t y_token_stride,
                                        int64_t y_head_stride) {
  return matmul_heads_impl("matmul_heads", w, rows_per_head, n_heads, x, n_tokens, x_token_stride,
                           x_head_stride, y, y_token_stride, y_head_stride);
}

GpuStatus ReferenceDevice::dequantize(const MatrixView& w, float* dst) {
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_matrix(w, "dequantize"));
  REF_TRY(check_device(dst, f32_extent(w.rows, w.cols, w.cols), "dequantize", "dst"));
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    dequant_row(w, r, row.data());
    std::memcpy(dst + r * w.cols, row.data(), row.size() * sizeof(float));
  }
  return {};
}

GpuStatus ReferenceDevice::rms_norm(const float* x, int64_t x_stride, const float* w, float eps,
                                    int64_t rows, int64_t width, float* y, int64_t y_stride) {
  constexpr const char* call = "rms_norm";
  if (rows < 0 || width <= 0) return fail(call, "bad shape");
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_device(x, f32_extent(rows, x_stride, width), call, "x"));
  REF_TRY(check_device(y, f32_extent(rows, y_stride, width), call, "y"));
  if (w) REF_TRY(check_device(w, f32_extent(1, 0, width), call, "w"));
  std::vector<double> out(static_cast<size_t>(width));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    double sum = 0;
    for (int64_t c = 0; c < width; ++c) sum += static_cast<double>(xr[c]) * xr[c];
    const double scale = 1.0 / std::sqrt(sum / static_cast<double>(width) + eps);
    for (int64_t c = 0; c < width; ++c) out[c] = xr[c] * scale * (w ? w[c] : 1.0);
    float* yr = y + r * y_stride;
    for (int64_t c = 0; c < width; ++c) yr[c] = static_cast<float>(out[c]);
  }
  return {};
}

GpuStatus ReferenceDevice::rope(float* x, int64_t n_tokens, int64_t token_stride, int64_t n_heads,
                                int64_t head_stride, int64_t n_dims, const int32_t* pos,
                                float freq_base, float freq_scale, RopeMode mode,
                                const RopeYarn& yarn) {
  constexpr const char* call = "rope";
  if (n_tokens < 0 || n_heads < 0 || n_dims <= 0 || n_dims % 2 != 0) {
    return fail(call, "bad shape (n_dims " + std::to_string(n_dims) + ")");
  }
  if (mode != RopeMode::Norm && mode != RopeMode::Neox) return fail(call, "unknown mode");
  if (n_tokens == 0 || n_heads == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t extent =
      static_cast<uint64_t>((n_tokens - 1) * token_stride + (n_heads - 1) * head_stride + n_dims) *
      sizeof(float);
  REF_TRY(check_device(x, extent, call, "x"));
  REF_TRY(check_device(pos, static_cast<uint64_t>(n_tokens) * sizeof(int32_t), call, "pos"));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      kernels::rope_yarn(x + t * token_stride + h * head_stride, 1, n_dims, n_dims, pos[t],
                         freq_base, freq_scale, mode, yarn);
    }
  }
  return {};
}

GpuStatus ReferenceDevice::add(const float* a, const float* b, int64_t n, float* out) {
  if (n < 0) return fail("add", "negative n");
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t bytes = static_cast<uint64_t>(n) * sizeof(float);
  REF_TRY(check_device(a, bytes, "add", "a"));
  REF_TRY(check_device(b, bytes, "add", "b"));
  REF_TRY(check_device(out, bytes, "add", "out"));
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
  return {};
}

GpuStatus ReferenceDevice::add_bias(float* x, const float* bias, int64_t rows, int64_t width,
                                    int64_t stride) {
  if (rows < 0 || width < 0) return fail("add_bias", "bad shape");
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_device(x, f32_extent(rows, stride, width), "add_bias", "x"));
  REF_TRY(check_device(bias, f32_extent(1, 0, width), "add_bias", "bias"));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < width; ++c) x[r * stride + c] += bias[c];
  }
  return {};
}

GpuStatus ReferenceDevice::silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  if (n < 0) return fail("silu_mul", "negative n");
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t bytes = static_cast<uint64_t>(n) * sizeof(float);
  REF_TRY(check_device(gate, bytes, "silu_mul", "gate"));
  REF_TRY(check_device(up, bytes, "silu_mul", "up"));
  REF_TRY(check_device(out, bytes, "silu_mul", "out"));
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g * sigmoid(g) * static_cast<double>(up[i]));
  }
  return {};
}

GpuStatus ReferenceDevice::gather_rows(const float* src, int64_t width, const int32_t* idx,
                                       int64_t n, float* dst) {
  constexpr const char* call = "gather_rows";
  if (n < 0 || width < 0) return fail(call, "bad shape");
  if (n == 0 || width == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_device(idx, static_cast<uint64_t>(n) * sizeof(int32_t), call, "idx"));
  REF_TRY(check_device(dst, f32_extent(n, width, width), call, "dst"));
  std::vector<float> rows(static_cast<size_t>(n * width));
  for (int64_t i = 0; i < n; ++i) {
    if (idx[i] < 0) return fail(call, "negative index at " + std::to_string(i));
    const float* row = src + static_cast<int64_t>(idx[i]) * width;
    REF_TRY(check_device(row, f32_extent(1, 0, width), call, "src row idx[i]"));
    std::memcpy(rows.data() + i * width, row, static_cast<size_t>(width) * sizeof(float));
  }
  std::memcpy(dst, rows.data(), rows.size() * sizeof(float));
  return {};
}

GpuStatus ReferenceDevice::scatter_scaled_rows(const float* src, int64_t width, const int32_t* idx,
                                               const float* scale, int64_t n, float* dst) {
  constexpr const char* call = "scatter_scaled_rows";
  if (n < 0 || width < 0) return fail(call, "bad shape");
  if (n == 0 || width == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_device(src, f32_extent(n, width, width), call, "src"));
  REF_TRY(check_device(idx, static_cast<uint64_t>(n) * sizeof(int32_t), call, "idx"));
  REF_TRY(check_device(scale, static_cast<uint64_t>(n) * sizeof(float), call, "scale"));
  for (int64_t i = 0; i < n; ++i) {
    if (idx[i] < 0) return fail(call, "negative index at " + std::to_string(i));
    REF_TRY(check_device(dst + static_cast<int64_t>(idx[i]) * width, f32_extent(1, 0, width), call,
                         "dst row idx[i]"));
  }
  std::vector<float> rows(src, src + n * width);  // src may alias dst
  for (int64_t i = 0; i < n; ++i) {
    float* d = dst + static_cast<int64_t>(idx[i]) * width;
    for (int64_t c = 0; c < width; ++c) d[c] = rows[i * width + c] * scale[i];
  }
  return {};
}

GpuStatus ReferenceDevice::sum_slots(const float* slots, int64_t n, int64_t k, int64_t width,
                                     float* out) {
  constexpr const char* call = "sum_slots";
  if (n < 0 || k <= 0 || width < 0) return fail(call, "bad shape");
  if (n == 0 || width == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_device(slots, f32_extent(n * k, width, width), call, "slots"));
  REF_TRY(check_device(out, f32_extent(n, width, width), call, "out"));
  std::vector<float> acc(static_cast<size_t>(n * width));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t c = 0; c < width; ++c) {
      float s = slots[(t * k) * width + c];  // float, slot 0 first: ggml's order
      for (int64_t j = 1; j < k; ++j) s += slots[(t * k + j) * width + c];
      acc[t * width + c] = s;
    }
  }
  std::memcpy(out, acc.data(), acc.size() * sizeof(float));
  return {};
}

GpuStatus ReferenceDevice::add_gated(float* out, const float* src, const float* logit, int64_t n,
                                     int64_t width) {
  constexpr const char* call = "add_gated";
  if (n < 0 || width < 0) return fail(call, "bad shape");
  if (n == 0 || width == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_device(out, f32_extent(n, width, width), call, "out"));
  REF_TRY(check_device(src, f32_extent(n, width, width), call, "src"));
  REF_TRY(check_device(logit, static_cast<uint64_t>(n) * sizeof(float), call, "logit"));
  for (int64_t t = 0; t < n; ++t) {
    const double gate = sigmoid(logit[t]);
    for (int64_t c = 0; c < width; ++c) {
      out[t * width + c] = static_cast<float>(out[t * width + c] + src[t * width + c] * gate);
    }
  }
  return {};
}

GpuStatus ReferenceDevice::store_rows(const float* src, int64_t n, int64_t width,
                                      int64_t src_stride, void* cache, TensorType cache_type,
                                      const int64_t* dst_offset) {
  constexpr const char* call = "store_rows";
  if (cache_type != TensorType::F32 && cache_type != TensorType::F16) {
    return fail(call, "unsupported cache type " + std::string(kernels::type_name(cache_type)));
  }
  if (n < 0 || width < 0) return fail(call, "bad shape");
  if (n == 0 || width == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t el = cache_type == TensorType::F16 ? 2 : 4;
  REF_TRY(check_device(src, f32_extent(n, src_stride, width), call, "src"));
  REF_TRY(check_device(dst_offset, static_cast<uint64_t>(n) * sizeof(int64_t), call, "dst_offset"));
  auto* base = static_cast<uint8_t*>(cache);
  for (int64_t t = 0; t < n; ++t) {
    if (dst_offset[t] < 0) return fail(call, "negative offset at " + std::to_string(t));
    uint8_t* d = base + static_cast<uint64_t>(dst_offset[t]) * el;
    REF_TRY(check_device(d, static_cast<uint64_t>(width) * el, call, "cache row"));
    const float* s = src + t * src_stride;
    if (cache_type == TensorType::F32) {
      std::memcpy(d, s, static_cast<size_t>(width) * sizeof(float));
    } else {
      auto* h = reinterpret_cast<uint16_t*>(d);
      for (int64_t c = 0; c < width; ++c) h[c] = kernels::fp32_to_fp16(s[c]);
    }
  }
  return {};
}

GpuStatus ReferenceDevice::check_matrix(const MatrixView& w, const char* call) const {
  if (!matmul_type_supported(w.type)) {
    return fail(call, "unsupported weight type " + std::string(kernels::type_name(w.type)));
  }
  const auto rb = kernels::row_bytes(w.type, w.cols);
  if (w.rows < 0 || w.cols <= 0 || !rb) {
    return fail(call, "bad matrix shape " + std::to_string(w.rows) + "x" + std::to_string(w.cols) +
                          " for " + std::string(kernels::type_name(w.type)));
  }
  if (w.row_stride < *rb) return fail(call, "row_stride shorter than a row");
  if (w.rows == 0) return {};
  return check_device(w.data, static_cast<uint64_t>(w.rows - 1) * w.row_stride + *rb, call,
                      "w.data");
}

GpuStatus ReferenceDevice::matmul_heads_impl(const char* call, const MatrixView& w,
                                             int64_t rows_per_head, int64_t n_heads, const float* x,
                                             int64_t n_tokens, int64_t xts, int64_t xhs, float* y,
                                             int64_t yts, int64_t yhs) {
  if (n_tokens < 0 || n_heads < 0 || rows_per_head < 0 || rows_per_head * n_heads > w.rows) {
    return fail(call, "bad shape (" + std::to_string(n_heads) + " heads of " +
                          std::to_string(rows_per_head) + " rows, matrix has " +
                          std::to_string(w.rows) + ")");
  }
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_matrix(w, call));
  if (n_tokens == 0 || n_heads == 0 || rows_per_head == 0) return {};
  const uint64_t x_ext =
      static_cast<uint64_t>((n_tokens - 1) * xts + (n_heads - 1) * xhs + w.cols) * sizeof(float);
  const uint64_t y_ext =
      static_cast<uint64_t>((n_tokens - 1) * yts + (n_heads - 1) * yhs + rows_per_head) *
      sizeof(float);
  REF_TRY(check_device(x, x_ext, call, "x"));
  REF_TRY(check_device(y, y_ext, call, "y"));
  // x as the CPU engine's dot products see it: converted to vec_dot_type(w) and back
  // (activation_round.h, the rounding the CUDA matmul applies), per token and head.
  std::vector<float> xr(static_cast<size_t>(n_tokens * n_heads * w.cols));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      kernels::actround::round_row(w.type, x + t * xts + h * xhs,
                                   xr.data() + (t * n_heads + h) * w.cols, w.cols);
    }
  }
  // Results go to a buffer first so y may overlap x.
  std::vector<float> result(static_cast<size_t>(n_tokens * n_heads * rows_per_head));
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t r = 0; r < rows_per_head; ++r) {
      dequant_row(w, h * rows_per_head + r, row.data());
      for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xv = xr.data() + (t * n_heads + h) * w.cols;
        double sum = 0;
        for (int64_t c = 0; c < w.cols; ++c) sum += static_cast<double>(row[c]) * xv[c];
        result[(t * n_heads + h) * rows_per_head + r] = static_cast<float>(sum);
      }
    }
  }
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      std::memcpy(y + t * yts + h * yhs, result.data() + (t * n_heads + h) * rows_per_head,
                  static_cast<size_t>(rows_per_head) * sizeof(float));
    }
  }
  return {};
}

GpuStatus ReferenceDevice::attention(const AttentionArgs& a) {
  constexpr const char* call = "attention";
  if (a.kv_type != TensorType::F32 && a.kv_type != TensorType::F16) {
    return fail(call, "unsupported KV type " + std::string(kernels::type_name(a.kv_type)));
  }
  if (a.n_tokens < 0 || a.n_head <= 0 || a.n_head_kv <= 0 || a.n_head % a.n_head_kv != 0 ||
      a.head_dim_k <= 0 || a.head_dim_v <= 0) {
    return fail(call, "bad shape (n_head " + std::to_string(a.n_head) + ", n_head_kv " +
                          std::to_string(a.n_head_kv) + ")");
  }
  if (a.n_tokens == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t nt = a.n_tokens;
  const uint64_t q_ext = f32_extent(nt, a.q_token_stride, a.n_head * a.head_dim_k);
  const uint64_t o_ext = f32_extent(nt, a.out_token_stride, a.n_head * a.head_dim_v);
  REF_TRY(check_device(a.q, q_ext, call, "q"));
  REF_TRY(check_device(a.out, o_ext, call, "out"));
  REF_TRY(check_device(a.seq, static_cast<uint64_t>(nt) * sizeof(int32_t), call, "seq"));
  REF_TRY(check_device(a.n_pos, static_cast<uint64_t>(nt) * sizeof(int32_t), call, "n_pos"));

  const bool f16 = a.kv_type == TensorType::F16;
  const uint64_t el = f16 ? 2 : 4;
  auto load = [f16](const void* base, int64_t i) -> double {
    if (f16) return kernels::fp16_to_fp32(static_cast<const uint16_t*>(base)[i]);
    return static_cast<const float*>(base)[i];
  };
  auto to_f16 = [](double v) {
    return static_cast<double>(kernels::fp16_to_fp32(kernels::fp32_to_fp16(static_cast<float>(v))));
  };
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t np = a.n_pos[t], s = a.seq[t];
    if (np < 1 || np > kernels::gpu::kMaxAttentionContext) {
      return fail(call, "n_pos[" + std::to_string(t) + "] = " + std::to_string(np) +
                            " outside 1.." + std::to_string(kernels::gpu::kMaxAttentionContext));
    }
    if (s < 0) return fail(call, "negative seq[" + std::to_string(t) + "]");
    const uint64_t k_ext = static_cast<uint64_t>(s * a.k_seq_stride + (np - 1) * a.k_row_stride +
                                                 a.n_head_kv * a.head_dim_k) *
                           el;
    const uint64_t v_ext = static_cast<uint64_t>(s * a.v_seq_stride + (np - 1) * a.v_row_stride +
                                                 a.n_head_kv * a.head_dim_v) *
                           el;
    REF_TRY(check_device(a.k, k_ext, call, "k"));
    REF_TRY(check_device(a.v, v_ext, call, "v"));
  }

  const int64_t group = a.n_head / a.n_head_kv;
  std::vector<float> result(static_cast<size_t>(nt * a.n_head * a.head_dim_v));
  std::vector<double> q(static_cast<size_t>(a.head_dim_k)), p,
      acc(static_cast<size_t>(a.head_dim_v));
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t np = a.n_pos[t], s = a.seq[t];
    p.assign(static_cast<size_t>(np), 0.0);
    for (int64_t h = 0; h < a.n_head; ++h) {
      const int64_t kh = h / group;
      const float* qh = a.q + t * a.q_token_stride + h * a.head_dim_k;
      // With an F16 cache the query meets the keys as F16 (ggml's vec_dot_type).
      for (int64_t d = 0; d < a.head_dim_k; ++d) q[d] = f16 ? to_f16(qh[d]) : qh[d];
      double max_score = -INFINITY;
      for (int64_t j = 0; j < np; ++j) {
        const int64_t k0 = s * a.k_seq_stride + j * a.k_row_stride + kh * a.head_dim_k;
        double dot = 0;
        for (int64_t d = 0; d < a.head_dim_k; ++d) dot += q[d] * load(a.k, k0 + d);
        p[j] = dot * static_cast<double>(a.scale);
        max_score = std::max(max_score, p[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < np; ++j) {
        p[j] = std::exp(p[j] - max_score);
        sum += p[j];
      }
      // ...and the normalised probabilities meet the values as F16.
      for (int64_t j = 0; j < np; ++j) p[j] = f16 ? to_f16(p[j] / sum) : p[j] / sum;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < np; ++j) {
        const int64_t v0 = s * a.v_seq_stride + j * a.v_row_stride + kh * a.head_dim_v;
        for (int64_t d = 0; d < a.head_dim_v; ++d) acc[d] += p[j] * load(a.v, v0 + d);
      }
      float* o = result.data() + (t * a.n_head + h) * a.head_dim_v;
      for (int64_t d = 0; d < a.head_dim_v; ++d) o[d] = static_cast<float>(acc[d]);
    }
  }
  for (int64_t t = 0; t < nt; ++t) {
    std::memcpy(a.out + t * a.out_token_stride, result.data() + t * a.n_head * a.head_dim_v,
                static_cast<size_t>(a.n_head * a.head_dim_v) * sizeof(float));
  }
  return {};
}

}  // namespace emoe::gpucheck::refdev
