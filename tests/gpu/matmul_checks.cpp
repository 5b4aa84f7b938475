// GPU checks of the weight products: matmul (the in-register dequantizing kernel for up to 8
// tokens, cuBLAS above), matmul_heads and dequantize, for every supported weight type.
//
// References are computed here on the host, independent of the device: weights are written
// with kernels::quantize_row, read back with kernels::dequantize_row, and multiplied in
// float64 with the activations the CPU engine's dot products see: x converted by
// kernels::quantize_activation_row to vec_dot_type(w) (Q8_0, Q8_1, Q8_K, F16, BF16; F32
// unchanged) and read back with dequantize_row. matmul.activation_rounding
// (rounding_checks.cpp) checks that rounding exactly: one-hot weight rows make every output
// one rounded activation times one weight, a single float product, which must match bit for
// bit (zeros of either sign equal).
// dequantize must equal dequantize_row bit for bit. A product may differ from the
// float64 value only by float32 rounding, in whatever order the device sums (lanes, warps,
// cuBLAS's undocumented blocking). For any order, the error of a sum of n products exceeds
// lambda sqrt(n) u sum |w||x| (u = 2^-24) with probability below 2n exp(-lambda^2 / 2) when
// rounding errors are independent and mean-zero (Higham and Mary, SIAM J. Sci. Comput. 41(5),
// 2019, Thm. 2.4); lambda = 12 makes that below 1e-27 per output. The bound used is
// max(1e-4, 12 sqrt(n) u) of each output's own sum |w||x|: 1e-4 for every size checked here
// (n <= 9216 gives 6.9e-5). Real errors are near sqrt(n) u / 10 (noted per check); a misplaced
// chunk, scale or row moves an output by far more.
//
// Weights are checked packed and with padded, 2-byte-misaligned rows (row_stride > row bytes,
// garbage in the padding, the first row 2 bytes into its allocation); x and y are strided
// with misaligned starts, and every element of y outside the result must keep its sentinel.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quantize.h"
#include "tests/gpu/matmul_check_support.h"

namespace emoe::gpucheck {
namespace {

using gpu::Device;
using gpu::GpuStatus;
using kernels::MatrixView;
using kernels::TensorType;

// Columns that leave a partial last tile of 32 chunks and give warps more than one tile each:
// 165 chunks for 32-element blocks, 160 (20 super-blocks) for the K-quants.
int64_t check_cols(TensorType t) { return is_k_quant(t) ? 256 * 20 : 32 * 165; }

// Runs the product described by `l` (matmul when heads == 1 and `heads_call` is false) and
// compares every output with the float64 reference; the rest of y must keep its sentinel.
void check_product(Run& run, const Weights& w, const Layout& l, bool heads_call, uint32_t seed,
                   const std::string& what, double* worst) {
  const int64_t cols = w.view.cols;
  const int64_t x_len = l.x_off + (l.n_tokens - 1) * l.xts + (l.n_heads - 1) * l.xhs + cols + 3;
  const int64_t y_len =
      l.y_off + (l.n_tokens - 1) * l.yts + (l.n_heads - 1) * l.yhs + l.rows_per_head + 3;
  std::mt19937 rng(seed);
  const std::vector<float> xh = gaussian(rng, static_cast<size_t>(x_len));
  std::vector<float> got;
  if (!run_product(run, w, l, xh, y_len, heads_call, what, &got)) return;

  std::vector<char> in_result(got.size(), 0);
  const double bound = dot_bound(cols);
  for (int64_t h = 0; h < l.n_heads; ++h) {
    for (int64_t t = 0; t < l.n_tokens; ++t) {
      const std::vector<float> xr =
          cpu_activations(w.view.type, xh.data() + l.x_off + t * l.xts + h * l.xhs, cols);
      const float* xv = xr.data();
      for (int64_t r = 0; r < l.rows_per_head; ++r) {
        const float* wr = w.deq.data() + (h * l.rows_per_head + r) * cols;
        double sum = 0, mag = 0;
        for (int64_t c = 0; c < cols; ++c) {
          sum += static_cast<double>(wr[c]) * xv[c];
          mag += std::fabs(static_cast<double>(wr[c]) * xv[c]);
        }
        const size_t i = static_cast<size_t>(l.y_off + t * l.yts + h * l.yhs + r);
        in_result[i] = 1;
        const double err = std::fabs(static_cast<double>(got[i]) - sum);
        const double rel = mag > 0 ? err / mag : (err == 0 ? 0.0 : INFINITY);
        *worst = std::max(*worst, rel);
        if (!run.r.expect(rel <= bound, what + ": head " + std::to_string(h) + " token " +
                                            std::to_string(t) + " row " + std::to_string(r) +
                                            " is " + fmt(got[i]) + ", want " + fmt(sum) +
                                            " (error " + fmt(rel) + " of sum |w||x|, bound " +
                                            fmt(bound) + ")")) {
          return;
        }
      }
    }
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (!in_result[i] && std::memcmp(&got[i], &kSentinel, sizeof(float)) != 0) {
      run.r.expect(false, what + ": y element " + std::to_string(i) +
                              " outside the result was overwritten with " + fmt(got[i]));
      return;
    }
  }
}

// ------------------------------------------------------------------------- per-type products

const int64_t kTokenCounts[] = {1, 2, 3, 8, 9, 33};

// matmul for every token count (the decode kernel up to 8, cuBLAS above), packed and padded
// weights, x and y strided; odd x strides and starts take the kernel's unaligned x path.
void check_matmul_type(TensorType t, const CheckContext& ctx, CheckResult& res) {
  Run run{ctx.device, res};
  const int64_t rows = 37, cols = check_cols(t);
  double worst = 0;
  for (const bool padded : {false, true}) {
    Weights w;
    if (!make_weights(run, t, rows, cols, padded, 100 + static_cast<uint32_t>(t), w)) return;
    for (const int64_t nt : kTokenCounts) {
      Layout l;
      l.n_tokens = nt;
      l.rows_per_head = rows;
      l.x_off = padded ? 1 : 0;
      l.xts = cols + (padded ? 3 : 4);
      l.y_off = padded ? 3 : 0;
      l.yts = rows + (padded ? 2 : 5);
      const std::string what = tname(t) + (padded ? " padded" : " packed") + ", " +
                               std::to_string(nt) + " token" + (nt > 1 ? "s" : "");
      const size_t failures = res.failures().size();
      check_product(run, w, l, false, 7 * static_cast<uint32_t>(nt), what, &worst);
      if (res.failures().size() != failures) return;
    }
  }
  res.note(tname(t) + " " + std::to_string(rows) + "x" + std::to_string(cols) + ": largest error " +
           fmt(worst) + " of sum |w||x| (bound " + fmt(dot_bound(cols)) + ")");
}

// matmul_heads: five heads of six rows of a 32-row matrix (the last two rows belong to no
// head), x and y laid out [token][head][...] with padding, against per-head float64 products.
void check_heads(const CheckContext& ctx, CheckResult& res) {
  Run run{ctx.device, res};
  double worst = 0;
  for (TensorType t : kTypes) {
    const int64_t n_cols = is_k_quant(t) ? 256 * 3 : 32 * 37;
    Weights w;
    if (!make_weights(run, t, 32, n_cols, t == TensorType::Q4_K || t == TensorType::F16,
                      300 + static_cast<uint32_t>(t), w)) {
      return;
    }
    for (const int64_t nt : {int64_t{1}, int64_t{3}, int64_t{9}}) {
      Layout l;
      l.n_tokens = nt;
      l.n_heads = 5;
      l.rows_per_head = 6;
      l.x_off = 1;
      l.xhs = n_cols + 4;
      l.xts = l.n_heads * l.xhs + 8;
      l.y_off = 2;
      l.yhs = l.rows_per_head + 2;
      l.yts = l.n_heads * l.yhs + 1;
      const std::string what = tname(t) + " heads, " + std::to_string(nt) + " tokens";
      const size_t failures = res.failures().size();
      check_product(run, w, l, true, 11 * static_cast<uint32_t>(nt), what, &worst);
      if (res.failures().size() != failures) return;
    }
  }
  res.note("largest error " + fmt(worst) + " of sum |w||x|");
}

// Long rows (9 tiles: every warp streams several, both stages of its buffer in turn), padded
// misaligned rows, and more rows than one 64 MiB scratch pass of the cuBLAS path holds.
void check_large(const CheckContext& ctx, CheckResult& res) {
  Run run{ctx.device, res};
  const int64_t rows = 1900, cols = 256 * 36;
  Weights w;
  if (!make_weights(run, TensorType::Q4_K, rows, cols, true, 77, w)) return;
  double worst = 0;
  for (const int64_t nt : {int64_t{1}, int64_t{8}, int64_t{9}}) {
    Layout l;
    l.n_tokens = nt;
    l.rows_per_head = rows;
    l.xts = cols;
    l.yts = rows;
    const size_t failures = res.failures().size();
    check_product(run, w, l, false, 5 + static_cast<uint32_t>(nt),
                  "q4_K 1900x9216, " + std::to_string(nt) + " tokens", &worst);
    if (res.failures().size() != failures) return;
  }
  res.note("largest error " + fmt(worst) + " of sum |w||x| (bound " + fmt(dot_bound(cols)) + ")");
}

// ------------------------------------------------------------------------------- dequantize

// dequantize equals dequantize_row bit for bit, into an aligned and a misaligned destination;
// the floats around the destination keep their sentinel.
void check_dequantize(const CheckContext& ctx, CheckResult& res) {
  Run run{ctx.device, res};
  for (TensorType t : kTypes) {
    for (const bool padded : {false, true}) {
      const int64_t rows = 37, cols = is_k_quant(t) ? 256 * 3 : 32 * 13;
      Weights w;
      if (!make_weights(run, t, rows, cols, padded, 500 + static_cast<uint32_t>(t), w)) return;
      const int64_t off = padded ? 1 : 0;
      const size_t n = static_cast<size_t>(rows * cols);
      auto dst = run.put(std::vector<float>(n + 8, kSentinel), "dequantize dst");
      if (!dst) return;
      const std::string what = tname(t) + (padded ? " padded" : " packed");
      if (!run.ok(run.d.dequantize(w.view, dst->as<float>() + off), what + ": dequantize")) return;
      std::vector<float> got;
      if (!run.get(*dst, got, what + " dequantized")) return;
      for (size_t i = 0; i < got.size(); ++i) {
        const bool inside = i >= static_cast<size_t>(off) && i < n + off;
        const float want = inside ? w.deq[i - off] : kSentinel;
        if (std::memcmp(&got[i], &want, sizeof(float)) != 0) {
          res.expect(false, what + ": element " + std::to_string(i) + " is " + fmt(got[i]) +
                                ", want " + fmt(want) +
                                (inside ? " (dequantize_row)" : " (outside: untouched)"));
          return;
        }
      }
    }
  }
}

// ------------------------------------------------------------------------- refusals, zeros

void check_refusals(const CheckContext& ctx, CheckResult& res) {
  Run run{ctx.device, res};
  Device& d = ctx.device;
  const int64_t rows = 4, cols = 64;
  // IQ4_NL: 18-byte blocks of 32, a real GGUF type this backend does not compute.
  const uint64_t iq_bytes = kernels::row_bytes(TensorType::IQ4_NL, cols).value();
  auto wbuf = run.put(std::vector<uint8_t>(rows * iq_bytes + 512, 0), "weights");
  auto xbuf = run.put(std::vector<float>(cols * 4, 1.0f), "x");
  auto ybuf = run.put(std::vector<float>(rows * 4 + cols * rows, kSentinel), "y");
  if (!wbuf || !xbuf || !ybuf) return;
  const MatrixView iq{TensorType::IQ4_NL, rows, cols, iq_bytes, wbuf->as<uint8_t>()};
  auto refused = [&](const GpuStatus& s, const std::string& call, const std::string& name) {
    res.expect(!s.ok(), call + " accepted " + name);
    res.expect(s.message().find(name) != std::string::npos,
               call + "'s refusal does not name " + name + ": \"" + s.message() + "\"");
  };
  float* x = xbuf->as<float>();
  float* y = ybuf->as<float>();
  refused(d.matmul(iq, x, 1, cols, y, rows), "matmul", "iq4_nl");
  refused(d.matmul(iq, x, 12, 0, y, 0), "matmul (12 tokens)", "iq4_nl");
  refused(d.matmul_heads(iq, 2, 2, x, 1, cols, cols, y, rows, 2), "matmul_heads", "iq4_nl");
  refused(d.dequantize(iq, y), "dequantize", "iq4_nl");
  // Columns that are not whole blocks.
  const MatrixView bad_cols{TensorType::Q4_K, rows, 288, 162, wbuf->as<uint8_t>()};
  refused(d.matmul(bad_cols, x, 1, 288, y, rows), "matmul with 288 q4_K columns", "q4_K");
  refused(d.dequantize(bad_cols, y), "dequantize with 288 q4_K columns", "q4_K");
  const MatrixView bad_q8{TensorType::Q8_0, rows, 48, 68, wbuf->as<uint8_t>()};
  refused(d.matmul(bad_q8, x, 2, 48, y, rows), "matmul with 48 q8_0 columns", "q8_0");

  // Zero-sized calls succeed and write nothing.
  const uint64_t q8_bytes = kernels::row_bytes(TensorType::Q8_0, cols).value();
  const MatrixView q8{TensorType::Q8_0, rows, cols, q8_bytes, wbuf->as<uint8_t>()};
  const MatrixView none{TensorType::Q8_0, 0, cols, q8_bytes, wbuf->as<uint8_t>()};
  run.ok(d.matmul(q8, x, 0, cols, y, rows), "matmul of 0 tokens");
  run.ok(d.matmul(none, x, 3, cols, y, rows), "matmul of a 0-row matrix");
  run.ok(d.matmul_heads(q8, 2, 0, x, 1, cols, cols, y, rows, 2), "matmul_heads of 0 heads");
  run.ok(d.matmul_heads(q8, 0, 2, x, 1, cols, cols, y, rows, 2), "matmul_heads of 0-row heads");
  run.ok(d.dequantize(none, y), "dequantize of a 0-row matrix");
  std::vector<float> got;
  if (run.get(*ybuf, got, "y")) {
    const bool untouched = std::all_of(got.begin(), got.end(), [](float v) {
      return std::memcmp(&v, &kSentinel, sizeof(float)) == 0;
    });
    res.expect(untouched, "a refused or zero-sized call wrote to y");
  }
}

// ---------------------------------------------------------------------------- bandwidth

// Decode reads weights once; its rate against the device-to-device copy rate is the figure the
// issue's target (>= 0.70 at one token) is about. Matrices of 132 MiB (q4_K) and 250 MiB
// (q8_0) so the L2 cache cannot hold them. Notes only: timing says nothing about correctness.
void check_bandwidth(const CheckContext& ctx, CheckResult& res) {
  if (ctx.is_reference) {
    res.skip("timing means nothing on the host reference device");
    return;
  }
  Run run{ctx.device, res};
  Device& d = ctx.device;
  struct Events {
    Device& d;
    gpu::Event a = nullptr, b = nullptr;
    ~Events() {
      if (a) d.destroy_event(a);
      if (b) d.destroy_event(b);
    }
  } ev{d};
  if (!run.ok(d.create_event(&ev.a), "create_event") ||
      !run.ok(d.create_event(&ev.b), "create_event")) {
    return;
  }
  gpu::Event e0 = ev.a, e1 = ev.b;
  auto timed = [&](auto&& body, int reps, float* ms) {
    if (!run.ok(body(), "warm-up")) return false;
    if (!run.ok(d.record(e0, gpu::StreamId::Compute), "record")) return false;
    for (int i = 0; i < reps; ++i) {
      if (!run.ok(body(), "timed call")) return false;
    }
    return run.ok(d.record(e1, gpu::StreamId::Compute), "record") &&
           run.ok(d.sync_event(e1), "sync_event") && run.ok(d.elapsed_ms(e0, e1, ms), "elapsed_ms");
  };

  const uint64_t copy_bytes = uint64_t{256} << 20;
  DevBuf a(d), b(d);
  if (!run.ok(a.alloc(copy_bytes), "malloc_device") ||
      !run.ok(b.alloc(copy_bytes), "malloc_device")) {
    return;
  }
  float ms = 0;
  if (!timed(
          [&] {
            return d.copy_async(b.as<uint8_t>(), a.as<uint8_t>(), copy_bytes,
                                gpu::StreamId::Compute);
          },
          10, &ms)) {
    return;
  }
  const double copy_rate = 2.0 * copy_bytes * 10 / (ms * 1e-3);  // read + write bytes per second
  res.note("device-to-device copy: " + fmt(copy_rate / 1e9) + " GB/s (read + write)");

  const int64_t rows = 57344, cols = 4096;
  for (TensorType t : {TensorType::Q4_K, TensorType::Q8_0}) {
    const uint64_t rb = kernels::row_bytes(t, cols).value();
    const uint64_t bytes = rb * rows;
    // Any bytes will do for timing; finite fp16 scales keep the arithmetic ordinary.
    std::vector<uint8_t> host(bytes);
    uint32_t s = 12345;
    for (auto& v : host) v = static_cast<uint8_t>((s = s * 1664525u + 1013904223u) >> 24);
    const int block = t == TensorType::Q4_K ? 144 : 34;
    const uint16_t scale = kernels::fp32_to_fp16(0.01f);
    for (uint64_t o = 0; o + block <= bytes; o += block) {
      std::memcpy(&host[o], &scale, 2);
      if (t == TensorType::Q4_K) std::memcpy(&host[o + 2], &scale, 2);
    }
    auto wd = run.put(host, tname(t) + " weights");
    auto xd = run.put(std::vector<float>(cols * 8, 0.5f), "x");
    auto yd = run.put(std::vector<float>(rows * 8, 0.0f), "y");
    if (!wd || !xd || !yd) return;
    const MatrixView w{t, rows, cols, rb, wd->as<uint8_t>()};
    for (const int64_t nt : {int64_t{1}, int64_t{8}}) {
      const int reps = 20;
      if (!timed([&] { return d.matmul(w, xd->as<float>(), nt, cols, yd->as<float>(), rows); },
                 reps, &ms)) {
        return;
      }
      const double rate = static_cast<double>(bytes) * reps / (ms * 1e-3);
      res.note(tname(t) + " " + std::to_string(rows) + "x" + std::to_string(cols) + ", " +
               std::to_string(nt) + " token" + (nt > 1 ? "s" : "") + ": " + fmt(ms / reps * 1e3) +
               " us, weights read at " + fmt(rate / 1e9) + " GB/s = " + fmt(rate / copy_rate) +
               " of the copy rate" + (nt == 1 ? " (target 0.70)" : ""));
    }
  }
}

}  // namespace

std::vector<NamedCheck> matmul_checks() {
  std::vector<NamedCheck> checks;
  for (TensorType t : kTypes) {
    checks.push_back({"matmul." + tname(t), [t](const CheckContext& ctx, CheckResult& r) {
                        check_matmul_type(t, ctx, r);
                      }});
  }
  checks.push_back({"matmul.heads", check_heads});
  checks.push_back({"matmul.large", check_large});
  checks.push_back({"matmul.activation_rounding", check_rounding});
  checks.push_back({"matmul.dequantize", check_dequantize});
  checks.push_back({"matmul.refusals", check_refusals});
  checks.push_back({"matmul.bandwidth", check_bandwidth});
  return checks;
}

}  // namespace emoe::gpucheck
