// GPU check of the activation rounding before weight products (matmul.activation_rounding,
// one entry of matmul_checks()): one-hot weight rows make every output one rounded activation
// times one weight, a single float product, which must match the CPU engine's rounded
// activation (kernels::quantize_activation_row to vec_dot_type(w), read back with
// dequantize_row) times that weight bit for bit (zeros of either sign equal).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quantize.h"
#include "tests/gpu/matmul_check_support.h"

namespace emoe::gpucheck {
namespace {

using gpu::GpuStatus;
using kernels::MatrixView;
using kernels::TensorType;

// Activations covering what the rounding distinguishes, 32-element block by block: ordinary
// values, outliers, zeros of both signs, a negative largest value with an equal positive one
// after it, halves that round to even (amax 127 makes 127 / amax exactly 1), values halfway
// between two halves, and tiny values whose Q8_0 scale underflows fp16.
std::vector<float> rounding_inputs(std::mt19937& rng, size_t n, int64_t salt) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (size_t b = 0; b < n / 32; ++b) {
    float* x = v.data() + 32 * b;
    const int64_t kind = (static_cast<int64_t>(b) + salt) % 7;
    for (int j = 0; j < 32; ++j) {
      switch (kind) {
        case 0:
          x[j] = normal(rng);
          break;
        case 1:
          x[j] = normal(rng) * (j % 11 == 3 ? 150.0f : 0.5f);
          break;
        case 2:
          x[j] = j % 2 ? -0.0f : 0.0f;
          break;
        case 3:
          x[j] = std::clamp(normal(rng), -3.0f, 3.0f);
          break;
        case 4:
          x[j] = static_cast<float>(static_cast<int>(rng() % 253) - 126) + 0.5f;
          break;
        case 5: {
          const float h = kernels::fp16_to_fp32(static_cast<uint16_t>(rng() % 0x7800));
          uint32_t u;
          std::memcpy(&u, &h, 4);
          u += 0x1000;  // halfway to the next half
          std::memcpy(&x[j], &u, 4);
          if (j % 2) x[j] = -x[j];
          break;
        }
        default:
          x[j] = normal(rng) * 1e-30f;
          break;
      }
    }
    if (kind == 3) {
      x[b % 32] = -4.0f;
      x[(b + 9) % 32] = 4.0f;
    }
    if (kind == 4) x[(5 * b) % 32] = b % 2 ? 127.0f : -127.0f;
  }
  return v;
}

// Row i's only nonzero weight (about 1 after quantization) is at column i % cols. The
// quantized rows are checked to decode to exactly that, or the check cannot conclude.
bool make_one_hot(Run& run, TensorType t, int64_t rows, int64_t cols, Weights& w) {
  const uint64_t rb = kernels::row_bytes(t, cols).value();
  w.offset = 0;
  w.host.assign(static_cast<size_t>(rows) * rb, 0);
  w.deq.assign(static_cast<size_t>(rows * cols), 0.0f);
  std::vector<float> src(static_cast<size_t>(cols), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    src[r % cols] = 1.0f;
    uint8_t* row = w.host.data() + r * rb;
    if (!run.r.expect(kernels::quantize_row(t, src.data(), row, cols),
                      "quantize_row cannot write " + tname(t))) {
      return false;
    }
    src[r % cols] = 0.0f;
    float* deq = w.deq.data() + r * cols;
    kernels::dequantize_row(t, row, deq, cols);
    for (int64_t c = 0; c < cols; ++c) {
      if ((deq[c] != 0.0f) != (c == r % cols)) {
        run.r.expect(false, tname(t) + ": one-hot row " + std::to_string(r) +
                                " does not decode to a single nonzero at column " +
                                std::to_string(r % cols) + " (column " + std::to_string(c) +
                                " is " + fmt(deq[c]) + ")");
        return false;
      }
    }
  }
  w.buf = run.put(w.host, tname(t) + " one-hot weights");
  if (!w.buf) return false;
  w.view = MatrixView{t, rows, cols, rb, w.buf->as<uint8_t>()};
  return true;
}

// Every output of a one-hot product is v * x_rounded for one weight v and one activation:
// sums of exact zeros add nothing in any order, so it must equal the float product of the CPU
// engine's rounded activation bit for bit.
void check_one_hot(Run& run, const Weights& w, const Layout& l, bool heads_call, uint32_t seed,
                   const std::string& what) {
  const int64_t cols = w.view.cols;
  const int64_t x_len = l.x_off + (l.n_tokens - 1) * l.xts + (l.n_heads - 1) * l.xhs + cols;
  const int64_t y_len =
      l.y_off + (l.n_tokens - 1) * l.yts + (l.n_heads - 1) * l.yhs + l.rows_per_head;
  std::mt19937 rng(seed);
  const std::vector<float> xh = rounding_inputs(rng, static_cast<size_t>(x_len + 32), seed);
  std::vector<float> got;
  if (!run_product(run, w, l, xh, y_len, heads_call, what, &got)) return;
  for (int64_t t = 0; t < l.n_tokens; ++t) {
    for (int64_t h = 0; h < l.n_heads; ++h) {
      const float* xs = xh.data() + l.x_off + t * l.xts + h * l.xhs;
      const std::vector<float> xr = cpu_activations(w.view.type, xs, cols);
      for (int64_t r = 0; r < l.rows_per_head; ++r) {
        const int64_t wr = h * l.rows_per_head + r, c = wr % cols;
        const float v = w.deq[static_cast<size_t>(wr * cols + c)];
        const float want = v * xr[static_cast<size_t>(c)];
        const float g = got[static_cast<size_t>(l.y_off + t * l.yts + h * l.yhs + r)];
        uint32_t gb, wb;
        std::memcpy(&gb, &g, 4);
        std::memcpy(&wb, &want, 4);
        if (gb == wb || (g == 0.0f && want == 0.0f)) continue;
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      ": token %lld head %lld column %lld: x = %.9g rounds to %.9g on the CPU, "
                      "so %.9g * it = %.9g; the device gives %.9g (%.9g)",
                      static_cast<long long>(t), static_cast<long long>(h),
                      static_cast<long long>(c), xs[c], xr[static_cast<size_t>(c)], v, want, g,
                      v != 0.0f ? g / v : 0.0f);
        run.r.expect(false, what + buf);
        return;
      }
    }
  }
}

}  // namespace

// The rounded activations themselves, for each rounding (none for F32, F16, BF16, Q8_0 from
// q8_0 weights, Q8_1 from q4_1, Q8_K from q6_K, whose zeros decode to exact zeros), through
// the decode kernel (up to 8 tokens) and cuBLAS (more), per matrix and per head.
void check_rounding(const CheckContext& ctx, CheckResult& res) {
  Run run{ctx.device, res};
  const int64_t cols = 512, n_heads = 2;
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0,
                       TensorType::Q4_1, TensorType::Q6_K}) {
    Weights w;
    if (!make_one_hot(run, t, n_heads * cols, cols, w)) return;
    for (const int64_t nt : {int64_t{1}, int64_t{3}, int64_t{8}, int64_t{9}, int64_t{33}}) {
      for (const bool heads : {false, true}) {
        Layout l;
        l.n_tokens = nt;
        l.x_off = 1;
        l.y_off = 3;
        if (heads) {
          l.n_heads = n_heads;
          l.rows_per_head = cols;
          l.xhs = cols + 4;
          l.xts = n_heads * l.xhs + 8;
          l.yhs = cols + 2;
          l.yts = n_heads * l.yhs + 1;
        } else {
          l.rows_per_head = n_heads * cols;
          l.xts = cols + 4;
          l.yts = l.rows_per_head + 3;
        }
        const std::string what = tname(t) + (heads ? " heads, " : ", ") + std::to_string(nt) +
                                 " token" + (nt > 1 ? "s" : "");
        const size_t failures = res.failures().size();
        check_one_hot(run, w, l, heads, 13 * static_cast<uint32_t>(nt) + heads, what);
        if (res.failures().size() != failures) return;
      }
    }
  }
  res.note("every rounded activation equals the CPU engine's, for every rounding and path");
}

}  // namespace emoe::gpucheck
