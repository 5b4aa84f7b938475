// GPU checks of attention over a device KV cache (gpu_device.h AttentionArgs): grouped-query
// heads, F32 and F16 caches, several sequences and positions, latent (MLA) attention with
// v == k, against a float64 loop written here.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "tests/gpu/check_support.h"

namespace emoe::gpucheck {
namespace {

using gpu::GpuStatus;
using gpu::StreamId;
using kernels::TensorType;

// ---------------------------------------------------------------- attention

struct AttnCase {
  const char* name;
  int64_t n_head, n_head_kv, hd_k, hd_v;
  bool mla;  // v == k: the value is the leading hd_v of the key row
  bool f16;
  float q_amp;  // query amplitude: larger values give peakier softmaxes
  float scale;  // 0: 1 / sqrt(hd_k)
  std::vector<int32_t> seq, n_pos;
  int64_t n_seq, ctx;
  double tol;
};

void run_attention_case(const CheckContext& ctx, CheckResult& r, const AttnCase& c) {
  Run run{ctx.device, r};
  std::mt19937 rng(static_cast<unsigned>(c.n_head * 131 + c.hd_k * 7 + c.f16 + c.ctx));
  const int64_t nt = static_cast<int64_t>(c.seq.size());
  const int64_t q_stride = c.n_head * c.hd_k + 8, out_stride = c.n_head * c.hd_v + 4;
  const int64_t k_row = c.n_head_kv * c.hd_k + 16, k_seq = c.ctx * k_row + 32;
  const int64_t v_row = c.mla ? k_row : c.n_head_kv * c.hd_v + 8;
  const int64_t v_seq = c.mla ? k_seq : c.ctx * v_row + 8;
  const float scale = c.scale > 0 ? c.scale : 1.0f / std::sqrt(static_cast<float>(c.hd_k));
  const auto q = uniform(rng, static_cast<size_t>(nt * q_stride), -c.q_amp, c.q_amp);
  // Values with a non-zero mean keep outputs O(1) at long contexts, so the normalised error
  // measures the kernel and not cancellation in a near-zero average (MLA's values are keys).
  auto kf = uniform(rng, static_cast<size_t>(c.n_seq * k_seq), c.mla ? -0.5f : -1.0f,
                    c.mla ? 1.5f : 1.0f);
  auto vf = c.mla ? std::vector<float>{}
                  : uniform(rng, static_cast<size_t>(c.n_seq * v_seq), -0.5f, 1.5f);
  std::vector<uint16_t> k16, v16;
  if (c.f16) {  // the cache holds F16; the reference reads the same rounded values
    for (float& x : kf) x = kernels::fp16_to_fp32(kernels::fp32_to_fp16(x));
    for (float& x : vf) x = kernels::fp16_to_fp32(kernels::fp32_to_fp16(x));
    for (float x : kf) k16.push_back(kernels::fp32_to_fp16(x));
    for (float x : vf) v16.push_back(kernels::fp32_to_fp16(x));
  }
  const std::vector<float>& vsrc = c.mla ? kf : vf;
  auto to_half = [](double x) {
    return static_cast<double>(kernels::fp16_to_fp32(kernels::fp32_to_fp16(static_cast<float>(x))));
  };

  // Float64 reference, with the F16 roundings the contract specifies. A probability within
  // kPrecision of a point where F16 rounding changes may round either way in a float kernel;
  // `slack` bounds what that moves each output by, so the tolerance itself can stay tight.
  constexpr double kPrecision = 1e-5;  // a float kernel's probabilities are ~1e-6 off
  std::vector<float> want(static_cast<size_t>(nt * out_stride), kSentinel);
  std::vector<double> slack(want.size(), 0.0);
  std::vector<char> mask(want.size(), 0);
  const int64_t group = c.n_head / c.n_head_kv;
  std::vector<double> qd(static_cast<size_t>(c.hd_k)), p, acc;
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t s = c.seq[t], np = c.n_pos[t];
    for (int64_t h = 0; h < c.n_head; ++h) {
      const int64_t kh = h / group, o = t * out_stride + h * c.hd_v;
      p.assign(static_cast<size_t>(np), 0.0);
      acc.assign(static_cast<size_t>(c.hd_v), 0.0);
      for (int64_t d = 0; d < c.hd_k; ++d) {
        const double x = q[t * q_stride + h * c.hd_k + d];
        qd[d] = c.f16 ? to_half(x) : x;
      }
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < np; ++j) {
        double dot = 0;
        const float* k = &kf[s * k_seq + j * k_row + kh * c.hd_k];
        for (int64_t d = 0; d < c.hd_k; ++d) dot += qd[d] * k[d];
        p[j] = dot * scale;
        mx = std::max(mx, p[j]);
      }
      for (int64_t j = 0; j < np; ++j) sum += (p[j] = std::exp(p[j] - mx));
      for (int64_t j = 0; j < np; ++j) {
        const float* v = &vsrc[s * v_seq + j * v_row + kh * c.hd_v];
        const double pj = p[j] / sum;
        const double ambiguous =
            c.f16 ? std::fabs(to_half(pj * (1 + kPrecision)) - to_half(pj * (1 - kPrecision))) : 0;
        p[j] = c.f16 ? to_half(pj) : pj;
        for (int64_t d = 0; d < c.hd_v; ++d) {
          acc[d] += p[j] * v[d];
          slack[o + d] += ambiguous * std::fabs(v[d]);
        }
      }
      for (int64_t d = 0; d < c.hd_v; ++d) {
        want[o + d] = static_cast<float>(acc[d]);
        mask[o + d] = 1;
      }
    }
  }

  auto dq = run.put(q, "q");
  auto dk = c.f16 ? run.put(k16, "k") : run.put(kf, "k");
  auto dv = c.mla ? nullptr : (c.f16 ? run.put(v16, "v") : run.put(vf, "v"));
  auto dseq = run.put(c.seq, "seq");
  auto dpos = run.put(c.n_pos, "n_pos");
  auto dout = run.put(std::vector<float>(want.size(), kSentinel), "out");
  if (!dq || !dk || (!c.mla && !dv) || !dseq || !dpos || !dout) return;
  gpu::AttentionArgs a;
  a.q = dq->as<float>();
  a.q_token_stride = q_stride;
  a.n_tokens = nt;
  a.n_head = c.n_head;
  a.n_head_kv = c.n_head_kv;
  a.head_dim_k = c.hd_k;
  a.head_dim_v = c.hd_v;
  a.scale = scale;
  a.k = dk->get();
  a.v = c.mla ? dk->get() : dv->get();
  a.kv_type = c.f16 ? TensorType::F16 : TensorType::F32;
  a.k_seq_stride = k_seq;
  a.k_row_stride = k_row;
  a.v_seq_stride = v_seq;
  a.v_row_stride = v_row;
  a.seq = dseq->as<int32_t>();
  a.n_pos = dpos->as<int32_t>();
  a.out = dout->as<float>();
  a.out_token_stride = out_stride;
  std::vector<float> got;
  if (!run.ok(ctx.device.attention(a), std::string("attention ") + c.name) ||
      !run.get(*dout, got, "out")) {
    return;
  }
  double max_ref = 1e-30, worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!mask[i]) {
      if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
        r.expect(false, std::string(c.name) + ": padding element " + std::to_string(i) +
                            " was written (" + fmt(got[i]) + ")");
        return;
      }
      continue;
    }
    if (!std::isfinite(got[i])) {
      r.expect(false,
               std::string(c.name) + ": element " + std::to_string(i) + " is " + fmt(got[i]));
      return;
    }
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    const double excess = std::fabs(static_cast<double>(got[i]) - want[i]) - slack[i];
    if (excess > worst) {
      worst = excess;
      worst_i = i;
    }
  }
  const double err = worst / max_ref;
  r.note(std::string(c.name) + ": normalised error " + fmt(err));
  r.expect(err <= c.tol, std::string(c.name) + ": normalised error " + fmt(err) + " > " +
                             fmt(c.tol) + " at element " + std::to_string(worst_i) + " (" +
                             fmt(got[worst_i]) + " vs " + fmt(want[worst_i]) + ")");
}

}  // namespace

void check_attention(const CheckContext& ctx, CheckResult& r) {
  // Tolerances: a float kernel's dot products and sums against float64 are ~2e-7 of the
  // output here, ~3e-6 over 5000 positions or with scores of ~100 (their float rounding,
  // ~1e-5 absolute, goes through exp); measured with a float emulation of the CUDA kernel. A
  // missed position moves outputs by >= 4e-4, a wrong GQA head by O(1), skipping the F16
  // rounding of q or of the probabilities by >= 6e-5 in the short F16 cases, and a softmax
  // without max subtraction overflows to NaN in the ~100 cases.
  using V = std::vector<int32_t>;
  const V seq5 = {0, 1, 2, 1, 0}, pos5 = {1, 7, 37, 8, 130};
  const V seq2 = {0, 0}, pos2 = {40, 41}, seq3 = {0, 1, 1}, pos3 = {1, 45, 46};
  const V long_seq = {0, 1, 2}, long_pos = {4096, 4097, 5000};
  // name, n_head, n_head_kv, hd_k, hd_v, mla, f16, q_amp, scale, seq, n_pos, n_seq, ctx, tol
  const std::vector<AttnCase> cases = {
      {"gqa f32 (8/2 heads)", 8, 2, 64, 64, false, false, 1.0f, 0, seq5, pos5, 3, 160, 1e-5},
      {"gqa f16 (8/2 heads)", 8, 2, 64, 64, false, true, 1.0f, 0, seq5, pos5, 3, 160, 1e-5},
      {"mha f32 peaky", 4, 4, 128, 128, false, false, 4.0f, 0, {1, 0}, {50, 3}, 2, 64, 1e-5},
      {"f32 scores ~100", 2, 2, 32, 32, false, false, 30.0f, 1.0f, seq2, pos2, 1, 48, 3e-5},
      {"f16 scores ~100", 2, 2, 32, 32, false, true, 30.0f, 1.0f, seq2, pos2, 1, 48, 3e-5},
      {"mla f32 (v 64 of 96)", 4, 1, 96, 64, true, false, 2.0f, 0, seq3, pos3, 2, 50, 1e-5},
      {"mla f16 (v 64 of 96)", 4, 1, 96, 64, true, true, 2.0f, 0, seq3, pos3, 2, 50, 1e-5},
      {"long f32", 2, 1, 64, 64, false, false, 3.0f, 0, long_seq, long_pos, 3, 5000, 5e-5},
      {"long f16", 2, 1, 64, 64, false, true, 3.0f, 0, {2, 0}, {5000, 4097}, 3, 5000, 5e-5},
      {"mla f16 576/512 long", 2, 1, 576, 512, true, true, 1.0f, 0, {0}, {4500}, 1, 4500, 5e-5},
  };
  for (const AttnCase& c : cases) run_attention_case(ctx, r, c);
}

}  // namespace emoe::gpucheck
