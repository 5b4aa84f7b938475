// Host references for the weight-product checks (matmul_check_support.h).
#include "tests/gpu/matmul_check_support.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/quantize.h"

namespace emoe::gpucheck {

using kernels::MatrixView;
using kernels::TensorType;

std::string tname(TensorType t) { return std::string(kernels::type_name(t)); }

bool is_k_quant(TensorType t) {
  return t == TensorType::Q2_K || t == TensorType::Q3_K || t == TensorType::Q4_K ||
         t == TensorType::Q5_K || t == TensorType::Q6_K;
}

double dot_bound(int64_t n) {
  return std::max(1e-4, 12.0 * std::sqrt(static_cast<double>(n)) * std::ldexp(1.0, -24));
}

bool make_weights(Run& run, TensorType t, int64_t rows, int64_t cols, bool padded, uint32_t seed,
                  Weights& w) {
  const uint64_t rb = kernels::row_bytes(t, cols).value();
  const size_t pad = padded ? (t == TensorType::F32 ? 12 : 6) : 0;
  w.offset = padded ? (t == TensorType::F32 ? 4 : 2) : 0;
  const size_t stride = rb + pad;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  w.host.assign(w.offset + static_cast<size_t>(rows) * stride + 8, 0);
  for (auto& b : w.host) b = static_cast<uint8_t>(rng());
  std::vector<float> src(static_cast<size_t>(cols));
  w.deq.assign(static_cast<size_t>(rows * cols), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float scale = 0.02f * std::exp2(static_cast<float>(r % 7) - 3.0f);
    for (int64_t c = 0; c < cols; ++c) {
      src[c] = normal(rng) * scale * ((c + r) % 41 == 0 ? 12.0f : 1.0f);
    }
    uint8_t* row = w.host.data() + w.offset + r * stride;
    if (!run.r.expect(kernels::quantize_row(t, src.data(), row, cols),
                      "quantize_row cannot write " + tname(t))) {
      return false;
    }
    kernels::dequantize_row(t, row, w.deq.data() + r * cols, cols);
  }
  w.buf = run.put(w.host, tname(t) + " weights");
  if (!w.buf) return false;
  w.view = MatrixView{t, rows, cols, stride, w.buf->as<uint8_t>() + w.offset};
  return true;
}

std::vector<float> cpu_activations(TensorType w, const float* x, int64_t n) {
  const TensorType vt = kernels::vec_dot_type(w);
  std::vector<uint8_t> q(kernels::row_bytes(vt, n).value());
  kernels::quantize_activation_row(w, x, q.data(), n);
  std::vector<float> out(static_cast<size_t>(n));
  kernels::dequantize_row(vt, q.data(), out.data(), n);
  return out;
}

std::vector<float> gaussian(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

bool run_product(Run& run, const Weights& w, const Layout& l, const std::vector<float>& xh,
                 int64_t y_len, bool heads_call, const std::string& what, std::vector<float>* got) {
  auto xd = run.put(xh, what + " x");
  auto yd = run.put(std::vector<float>(static_cast<size_t>(y_len), kSentinel), what + " y");
  if (!xd || !yd) return false;
  const float* x = xd->as<float>() + l.x_off;
  float* y = yd->as<float>() + l.y_off;
  const kernels::gpu::GpuStatus s =
      heads_call ? run.d.matmul_heads(w.view, l.rows_per_head, l.n_heads, x, l.n_tokens, l.xts,
                                      l.xhs, y, l.yts, l.yhs)
                 : run.d.matmul(w.view, x, l.n_tokens, l.xts, y, l.yts);
  if (!run.ok(s, what + (heads_call ? ": matmul_heads" : ": matmul"))) return false;
  return run.get(*yd, *got, what + " y");
}

}  // namespace emoe::gpucheck
