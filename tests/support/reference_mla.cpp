#include "tests/support/reference_mla.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/gguf/gguf_file.h"

namespace emoe::test::ref {
namespace {

int64_t key_int(const gguf::GgufFile& f, const std::string& key, int64_t fallback) {
  auto v = f.get_int(key);
  return v.ok() ? v.value() : fallback;
}
double key_float(const gguf::GgufFile& f, const std::string& key, double fallback) {
  auto v = f.get_float(key);
  return v.ok() ? v.value() : fallback;
}

// y = m x, x first rounded as ggml rounds the activation before m's type when emulating.
void mv(const Mat& m, const double* x, double* y, bool emulate = false) {
  std::vector<double> xr(x, x + m.cols);
  if (emulate) round_activation(m.act, xr);
  for (int64_t r = 0; r < m.rows; ++r) {
    double acc = 0.0;
    for (int64_t c = 0; c < m.cols; ++c) acc += m.row(r)[c] * xr[static_cast<size_t>(c)];
    y[r] = acc;
  }
}

void norm(double* x, const std::vector<double>& w, double eps, int64_t n) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double s = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * s * w[static_cast<size_t>(i)];
}

// YaRN rotation of pairs (2i, 2i+1) (llama.cpp's NORM rope for deepseek2). llama.cpp cancels
// the rope's own YaRN magnitude factor for this architecture, so cos/sin are unscaled here and
// the magnitude lives in kq_scale.
void rope_yarn(double* v, const MlaHp& hp, int64_t pos) {
  const auto corr = [&](double rot) {
    return static_cast<double>(hp.n_rot) *
           std::log(static_cast<double>(hp.n_ctx_orig) / (rot * 2.0 * std::numbers::pi)) /
           (2.0 * std::log(hp.rope_base));
  };
  double lo = 0.0, hi = 0.0;
  if (hp.ext_factor != 0.0) {
    lo = std::max(0.0, std::floor(corr(hp.beta_fast)));
    hi = std::min(static_cast<double>(hp.n_rot - 1), std::ceil(corr(hp.beta_slow)));
  }
  for (int64_t i = 0; i < hp.n_rot / 2; ++i) {
    const double extrap =
        static_cast<double>(pos) *
        std::pow(hp.rope_base, -2.0 * static_cast<double>(i) / static_cast<double>(hp.n_rot));
    double theta = hp.freq_scale * extrap;
    if (hp.ext_factor != 0.0) {
      const double r = (static_cast<double>(i) - lo) / std::max(0.001, hi - lo);
      const double ramp = (1.0 - std::clamp(r, 0.0, 1.0)) * hp.ext_factor;
      theta = theta * (1.0 - ramp) + extrap * ramp;
    }
    const double c = std::cos(theta), s = std::sin(theta);
    const double x0 = v[2 * i], x1 = v[2 * i + 1];
    v[2 * i] = x0 * c - x1 * s;
    v[2 * i + 1] = x0 * s + x1 * c;
  }
}

#define MLA_LOAD(dst, expr)               \
  do {                                    \
    auto res_ = (expr);                   \
    if (!res_.ok()) return res_.status(); \
    dst = std::move(res_.value());        \
  } while (0)

}  // namespace

Status read_mla_hparams(const gguf::GgufFile& f, const std::string& arch, int64_t n_embd,
                        int64_t n_head, int64_t n_ctx_train, MlaHp* out) {
  MlaHp& hp = *out;
  const std::string a = arch + ".";
  hp.n_head = n_head;
  hp.q_lora = key_int(f, a + "attention.q_lora_rank", 0);
  hp.kv_lora = key_int(f, a + "attention.kv_lora_rank", 0);
  const int64_t k_mla = key_int(f, a + "attention.key_length_mla", 0);
  const int64_t v_mla = key_int(f, a + "attention.value_length_mla", 0);
  hp.split = k_mla > 0 && v_mla > 0;
  hp.head_k = hp.split ? k_mla : key_int(f, a + "attention.key_length", n_embd / n_head);
  hp.head_v = hp.split ? v_mla : key_int(f, a + "attention.value_length", n_embd / n_head);
  hp.n_rot = key_int(f, a + "rope.dimension_count", 0);
  hp.nope = hp.head_k - hp.n_rot;
  hp.rms_eps = key_float(f, a + "attention.layer_norm_rms_epsilon", 1e-6);
  hp.rope_base = key_float(f, a + "rope.freq_base", 10000.0);
  double log_mul = 0.0;
  const double factor = key_float(f, a + "rope.scaling.factor", 0.0);
  auto type = f.get_string(a + "rope.scaling.type");
  if (factor > 0.0) hp.freq_scale = 1.0 / factor;
  if (type.ok() && type.value() == "yarn" && factor > 0.0) {
    hp.ext_factor = 1.0;
    hp.n_ctx_orig = key_int(f, a + "rope.scaling.original_context_length", n_ctx_train);
    hp.beta_fast = key_float(f, a + "rope.scaling.yarn_beta_fast", 32.0);
    hp.beta_slow = key_float(f, a + "rope.scaling.yarn_beta_slow", 1.0);
    log_mul = key_float(f, a + "rope.scaling.yarn_log_multiplier", 0.0) / 0.1;
  }
  // DeepSeek-V2's softmax scale: mscale(factor, mscale_all_dim)^2 / sqrt(q head size).
  const double mscale = 1.0 + 0.1 * log_mul * std::log(1.0 / hp.freq_scale);
  hp.kq_scale = mscale * mscale / std::sqrt(static_cast<double>(hp.head_k));
  if (hp.kv_lora <= 0 || hp.n_rot <= 0 || hp.nope <= 0 || hp.head_v <= 0) {
    return invalid_argument("reference: inconsistent latent attention hyperparameters");
  }
  return Status::ok();
}

Status load_mla_layer(const gguf::GgufFile& f, const MlaHp& hp, int64_t n_embd, int64_t L,
                      MlaLayer* out) {
  MlaLayer& l = *out;
  const std::string p = "blk." + std::to_string(L) + ".";
  const int64_t n_q = hp.n_head * hp.head_k;
  if (hp.q_lora > 0) {
    MLA_LOAD(l.wq_a, load_mat(f, p + "attn_q_a.weight", hp.q_lora, n_embd));
    MLA_LOAD(l.q_a_norm, load_vec(f, p + "attn_q_a_norm.weight", hp.q_lora));
    MLA_LOAD(l.wq_b, load_mat(f, p + "attn_q_b.weight", n_q, hp.q_lora));
  } else {
    MLA_LOAD(l.wq, load_mat(f, p + "attn_q.weight", n_q, n_embd));
  }
  MLA_LOAD(l.wkv_a, load_mat(f, p + "attn_kv_a_mqa.weight", hp.kv_lora + hp.n_rot, n_embd));
  MLA_LOAD(l.kv_a_norm, load_vec(f, p + "attn_kv_a_norm.weight", hp.kv_lora));
  MLA_LOAD(l.wo, load_mat(f, p + "attn_output.weight", n_embd, hp.n_head * hp.head_v));
  for (int64_t h = 0; h < hp.n_head; ++h) {
    Mat k, v;
    if (hp.split) {
      Mat kb;  // [kv_lora][nope]: transpose into the decompression matrix
      MLA_LOAD(kb, load_mat(f, p + "attn_k_b.weight", hp.kv_lora, hp.nope, hp.n_head, h));
      k.rows = hp.nope;
      k.cols = hp.kv_lora;
      k.act = kb.act;  // the absorbed form rounds q_nope (kv_lora x nope rows) for this type
      k.w.resize(static_cast<size_t>(k.rows * k.cols));
      for (int64_t r = 0; r < hp.kv_lora; ++r) {
        for (int64_t d = 0; d < hp.nope; ++d)
          k.w[static_cast<size_t>(d * hp.kv_lora + r)] = kb.row(r)[d];
      }
      MLA_LOAD(v, load_mat(f, p + "attn_v_b.weight", hp.head_v, hp.kv_lora, hp.n_head, h));
    } else {
      Mat kv;
      MLA_LOAD(kv,
               load_mat(f, p + "attn_kv_b.weight", hp.n_head * (hp.nope + hp.head_v), hp.kv_lora));
      const int64_t base = h * (hp.nope + hp.head_v);
      k.rows = hp.nope;
      v.rows = hp.head_v;
      k.cols = v.cols = hp.kv_lora;
      k.act = v.act = kv.act;
      k.w.assign(kv.row(base), kv.row(base) + hp.nope * hp.kv_lora);
      v.w.assign(kv.row(base + hp.nope), kv.row(base + hp.nope) + hp.head_v * hp.kv_lora);
    }
    l.k_dec.push_back(std::move(k));
    l.v_dec.push_back(std::move(v));
  }
  return Status::ok();
}

void mla_forward(const MlaHp& hp, const MlaLayer& l, const std::vector<double>& normed, int64_t n,
                 int64_t n_embd, std::vector<double>& out, bool emulate) {
  const int64_t H = hp.n_head, hk = hp.head_k, hv = hp.head_v, R = hp.kv_lora;
  const int64_t W = R + hp.n_rot;
  // Rounded absorbed form only where llama.cpp runs it and there is rounding to reproduce;
  // otherwise the decompressed (MHA) form, which is equal in exact arithmetic.
  const bool absorbed = emulate && hp.split;
  std::vector<double> q(static_cast<size_t>(n * H * hk)), k(q.size()),
      v(static_cast<size_t>(n * H * hv)), ckv(static_cast<size_t>(n * W));
  for (int64_t t = 0; t < n; ++t) {
    const double* x = &normed[static_cast<size_t>(t * n_embd)];
    double* qt = &q[static_cast<size_t>(t * H * hk)];
    if (hp.q_lora > 0) {
      std::vector<double> qa(static_cast<size_t>(hp.q_lora));
      mv(l.wq_a, x, qa.data(), emulate);
      norm(qa.data(), l.q_a_norm, hp.rms_eps, hp.q_lora);
      mv(l.wq_b, qa.data(), qt, emulate);
    } else {
      mv(l.wq, x, qt, emulate);
    }
    double* ct = &ckv[static_cast<size_t>(t * W)];
    mv(l.wkv_a, x, ct, emulate);
    norm(ct, l.kv_a_norm, hp.rms_eps, R);
    rope_yarn(ct + R, hp, t);
    for (int64_t h = 0; h < H; ++h) {
      rope_yarn(qt + h * hk + hp.nope, hp, t);
      if (absorbed) continue;
      double* kh = &k[static_cast<size_t>((t * H + h) * hk)];
      mv(l.k_dec[static_cast<size_t>(h)], ct, kh, emulate);  // k = [k_nope | shared k_pe]
      std::copy_n(ct + R, hp.n_rot, kh + hp.nope);
      mv(l.v_dec[static_cast<size_t>(h)], ct, &v[static_cast<size_t>((t * H + h) * hv)], emulate);
    }
  }
  std::vector<double> attn(static_cast<size_t>(H * hv)), sc(static_cast<size_t>(n));
  std::vector<double> qabs(static_cast<size_t>(W)), lat(static_cast<size_t>(R));
  out.assign(static_cast<size_t>(n * n_embd), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      const double* qh = &q[static_cast<size_t>((t * H + h) * hk)];
      const Mat& kd = l.k_dec[static_cast<size_t>(h)];
      if (absorbed) {  // [k_dec^T q_nope | q_pe]: the query in the latent's space
        std::vector<double> qn(qh, qh + hp.nope);
        round_activation(kd.act, qn);
        for (int64_t r = 0; r < R; ++r) {
          double acc = 0.0;
          for (int64_t d = 0; d < hp.nope; ++d) acc += kd.row(d)[r] * qn[static_cast<size_t>(d)];
          qabs[static_cast<size_t>(r)] = acc;
        }
        std::copy_n(qh + hp.nope, hp.n_rot, qabs.begin() + R);
      }
      double mx = -INFINITY;
      for (int64_t s = 0; s <= t; ++s) {
        const double* a = absorbed ? qabs.data() : qh;
        const double* b =
            absorbed ? &ckv[static_cast<size_t>(s * W)] : &k[static_cast<size_t>((s * H + h) * hk)];
        double d = 0.0;
        for (int64_t i = 0; i < (absorbed ? W : hk); ++i) d += a[i] * b[i];
        sc[s] = d * hp.kq_scale;
        mx = std::max(mx, sc[s]);
      }
      double sum = 0.0;
      for (int64_t s = 0; s <= t; ++s) sum += (sc[s] = std::exp(sc[s] - mx));
      double* o = &attn[static_cast<size_t>(h * hv)];
      if (absorbed) {  // the weighted latent, then attn_v_b
        std::fill(lat.begin(), lat.end(), 0.0);
        for (int64_t s = 0; s <= t; ++s) {
          const double* c = &ckv[static_cast<size_t>(s * W)];
          for (int64_t i = 0; i < R; ++i) lat[static_cast<size_t>(i)] += sc[s] / sum * c[i];
        }
        mv(l.v_dec[static_cast<size_t>(h)], lat.data(), o, true);
        continue;
      }
      std::fill_n(o, hv, 0.0);
      for (int64_t s = 0; s <= t; ++s) {
        const double* vh = &v[static_cast<size_t>((s * H + h) * hv)];
        for (int64_t i = 0; i < hv; ++i) o[i] += sc[s] / sum * vh[i];
      }
    }
    mv(l.wo, attn.data(), &out[static_cast<size_t>(t * n_embd)], emulate);
  }
}

}  // namespace emoe::test::ref
