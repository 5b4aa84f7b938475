#include "tests/support/reference_forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/gguf/gguf_file.h"
#include "tests/support/reference_mla.h"

namespace emoe::test {

using ref::load_mat;
using ref::load_vec;
using ref::Mat;

namespace {
struct LayerW {
  std::vector<double> attn_norm, ffn_norm;
  Mat wq, wk, wv, wo;
  std::vector<double> bq, bk, bv;      // empty without biases
  std::vector<double> q_norm, k_norm;  // empty without Q/K norms
  Mat router;
  std::vector<Mat> gate, up, down;  // [n_expert]
  Mat ffn_gate, ffn_up, ffn_down;   // dense layers
  std::vector<double> sh_gate_inp;  // shared expert's gate vector [n_embd]
  Mat sh_gate, sh_up, sh_down;      // shared expert
  std::vector<double> exp_b;        // deepseek2's selection bias; empty without
  ref::MlaLayer mla;                // deepseek2's attention
};
}  // namespace

struct ReferenceForward::Weights {
  Mat token_embd;
  std::vector<LayerW> layers;
  std::vector<double> output_norm;
  Mat output;  // empty when tied
  ref::MlaHp mla;
};

namespace {

// What differs between the architectures, as llama.cpp's graphs do it (written here from
// llama.cpp's sources, independently of core/model/arch_*.cpp):
// - llama: NORM rope, renormalised top-k, optional q/k/v biases, optional output.weight;
// - qwen2moe: NEOX rope, required q/k/v biases, plain top-k softmax weights, a shared expert
//   scaled by sigmoid(ffn_gate_inp_shexp . x) added after the routed sum, output required;
// - qwen3moe: NEOX rope, per-head Q/K RMSNorm before RoPE, renormalised top-k, optional
//   biases, optional output.weight;
// - olmoe: NEOX rope, Q/K RMSNorm over the whole projection, plain top-k weights, no biases,
//   output required;
// - deepseek: NORM rope, llama-style attention, leading_dense_block_count dense layers, plain
//   top-k softmax weights (norm_w and scale_w false), expert_shared_count shared experts of the
//   expert width added without a gate, output required;
// - deepseek2: latent attention (reference_mla.h), NORM rope on the rope parts, dense leading
//   layers, ungated shared experts, and the router the file describes: softmax or sigmoid
//   (expert_gating_func 2), exp_probs_b added for selection only, grouped top-k (groups scored
//   by the sum of their two best), expert_weights_norm (sum clamped at 2^-14),
//   expert_weights_scale; output optional.
enum class Bias { Unused, Optional, Required };
struct ArchRule {
  const char* name;
  bool neox;
  bool norm_topk;
  Bias bias;
  RefHparams::QkNorm qk_norm;
  bool shared_expert;
  bool output_required;
  bool deepseek = false;  // dense leading layers, ungated shared experts
  bool mla = false;       // latent attention and the router from the file
};
constexpr ArchRule kRules[] = {
    {"deepseek", false, false, Bias::Optional, RefHparams::QkNorm::None, true, true, true, false},
    {"deepseek2", false, false, Bias::Unused, RefHparams::QkNorm::None, true, false, true, true},
    {"llama", false, true, Bias::Optional, RefHparams::QkNorm::None, false, false},
    {"qwen2moe", true, false, Bias::Required, RefHparams::QkNorm::None, true, true},
    {"qwen3moe", true, true, Bias::Optional, RefHparams::QkNorm::PerHead, false, false},
    {"olmoe", true, false, Bias::Unused, RefHparams::QkNorm::Whole, false, true},
};

int64_t meta_int(const gguf::GgufFile& f, const std::string& key, int64_t fallback) {
  auto v = f.get_int(key);
  return v.ok() ? v.value() : fallback;
}

double meta_float(const gguf::GgufFile& f, const std::string& key, double fallback) {
  auto v = f.get_float(key);
  return v.ok() ? v.value() : fallback;
}

// y = x / sqrt(mean(x^2) + eps) * w[0..n); y may alias x.
void rms_norm(const double* x, const double* w, double eps, int64_t n, double* y) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}
void rms_norm(const double* x, const std::vector<double>& w, double eps, int64_t n, double* y) {
  rms_norm(x, w.data(), eps, n, y);
}

// y[rows] = W x[cols], with the activation first rounded like ggml when asked.
void matvec(const Mat& m, const double* x, bool emulate, double* y) {
  std::vector<double> xr(x, x + m.cols);
  if (emulate) ref::round_activation(m.act, xr);
  for (int64_t r = 0; r < m.rows; ++r) {
    const double* w = m.row(r);
    double acc = 0.0;
    for (int64_t c = 0; c < m.cols; ++c) acc += w[c] * xr[static_cast<size_t>(c)];
    y[r] = acc;
  }
}

void rope(double* v, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos, double base,
          double scale, bool neox) {
  for (int64_t h = 0; h < n_heads; ++h) {
    double* x = v + h * head_dim;
    for (int64_t i = 0; i < n_rot / 2; ++i) {
      const double theta =
          static_cast<double>(pos) * scale *
          std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
      const double c = std::cos(theta), s = std::sin(theta);
      const int64_t a = neox ? i : 2 * i;
      const int64_t b = neox ? i + n_rot / 2 : 2 * i + 1;
      const double x0 = x[a], x1 = x[b];
      x[a] = x0 * c - x1 * s;
      x[b] = x0 * s + x1 * c;
    }
  }
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

// Loads `name` into `dst` when present; a missing optional tensor leaves `dst` empty.
Status load_optional_vec(const gguf::GgufFile& f, const std::string& name, int64_t n, bool required,
                         std::vector<double>* dst) {
  if (!required && !f.find_tensor(name)) return Status::ok();
  auto v = load_vec(f, name, n);
  if (!v.ok()) return v.status();
  *dst = std::move(v.value());
  return Status::ok();
}

#define REF_LOAD(dst, expr)               \
  do {                                    \
    auto res_ = (expr);                   \
    if (!res_.ok()) return res_.status(); \
    dst = std::move(res_.value());        \
  } while (0)

Status load_layer(const gguf::GgufFile& f, const ArchRule& rule, RefHparams& hp,
                  const ref::MlaHp& mla, int64_t L, LayerW* out) {
  auto& l = *out;
  const std::string p = "blk." + std::to_string(L) + ".";
  const int64_t q_dim = hp.n_head * hp.head_dim, kv_dim = hp.n_head_kv * hp.head_dim;
  REF_LOAD(l.attn_norm, load_vec(f, p + "attn_norm.weight", hp.n_embd));
  REF_LOAD(l.ffn_norm, load_vec(f, p + "ffn_norm.weight", hp.n_embd));
  if (hp.mla) {
    EMOE_RETURN_IF_ERROR(ref::load_mla_layer(f, mla, hp.n_embd, L, &l.mla));
  } else {
    REF_LOAD(l.wq, load_mat(f, p + "attn_q.weight", q_dim, hp.n_embd));
    REF_LOAD(l.wk, load_mat(f, p + "attn_k.weight", kv_dim, hp.n_embd));
    REF_LOAD(l.wv, load_mat(f, p + "attn_v.weight", kv_dim, hp.n_embd));
    REF_LOAD(l.wo, load_mat(f, p + "attn_output.weight", hp.n_embd, q_dim));
  }
  if (rule.bias != Bias::Unused) {
    const bool req = rule.bias == Bias::Required;
    EMOE_RETURN_IF_ERROR(load_optional_vec(f, p + "attn_q.bias", q_dim, req, &l.bq));
    EMOE_RETURN_IF_ERROR(load_optional_vec(f, p + "attn_k.bias", kv_dim, req, &l.bk));
    EMOE_RETURN_IF_ERROR(load_optional_vec(f, p + "attn_v.bias", kv_dim, req, &l.bv));
    hp.qkv_bias = hp.qkv_bias || !l.bq.empty();
  }
  if (hp.qk_norm != RefHparams::QkNorm::None) {
    const bool whole = hp.qk_norm == RefHparams::QkNorm::Whole;
    REF_LOAD(l.q_norm, load_vec(f, p + "attn_q_norm.weight", whole ? q_dim : hp.head_dim));
    REF_LOAD(l.k_norm, load_vec(f, p + "attn_k_norm.weight", whole ? kv_dim : hp.head_dim));
  }
  if (hp.n_expert > 0 && L >= hp.n_dense_lead) {
    const gguf::TensorInfo* g = f.find_tensor(p + "ffn_gate_exps.weight");
    if (!g) return not_found("reference: " + p + "ffn_gate_exps.weight is missing");
    hp.n_ff = g->dim(1);
    REF_LOAD(l.router, load_mat(f, p + "ffn_gate_inp.weight", hp.n_expert, hp.n_embd));
    for (int64_t e = 0; e < hp.n_expert; ++e) {
      Mat m;
      REF_LOAD(m, load_mat(f, p + "ffn_gate_exps.weight", hp.n_ff, hp.n_embd, hp.n_expert, e));
      l.gate.push_back(std::move(m));
      REF_LOAD(m, load_mat(f, p + "ffn_up_exps.weight", hp.n_ff, hp.n_embd, hp.n_expert, e));
      l.up.push_back(std::move(m));
      REF_LOAD(m, load_mat(f, p + "ffn_down_exps.weight", hp.n_embd, hp.n_ff, hp.n_expert, e));
      l.down.push_back(std::move(m));
    }
    if (rule.shared_expert) {
      const gguf::TensorInfo* s = f.find_tensor(p + "ffn_gate_shexp.weight");
      if (!s) return not_found("reference: " + p + "ffn_gate_shexp.weight is missing");
      hp.n_ff_shexp = s->dim(1);
      if (!hp.shexp_ungated) {
        REF_LOAD(l.sh_gate_inp, load_vec(f, p + "ffn_gate_inp_shexp.weight", hp.n_embd));
      }
      REF_LOAD(l.sh_gate, load_mat(f, p + "ffn_gate_shexp.weight", hp.n_ff_shexp, hp.n_embd));
      REF_LOAD(l.sh_up, load_mat(f, p + "ffn_up_shexp.weight", hp.n_ff_shexp, hp.n_embd));
      REF_LOAD(l.sh_down, load_mat(f, p + "ffn_down_shexp.weight", hp.n_embd, hp.n_ff_shexp));
    }
    if (rule.mla) {
      EMOE_RETURN_IF_ERROR(
          load_optional_vec(f, p + "exp_probs_b.bias", hp.n_expert, false, &l.exp_b));
    }
  } else {
    const gguf::TensorInfo* g = f.find_tensor(p + "ffn_gate.weight");
    if (!g) return not_found("reference: " + p + "ffn_gate.weight is missing");
    const int64_t ff = g->dim(1);  // a dense layer's own width (deepseek's differ from experts)
    REF_LOAD(l.ffn_gate, load_mat(f, p + "ffn_gate.weight", ff, hp.n_embd));
    REF_LOAD(l.ffn_up, load_mat(f, p + "ffn_up.weight", ff, hp.n_embd));
    REF_LOAD(l.ffn_down, load_mat(f, p + "ffn_down.weight", hp.n_embd, ff));
    if (hp.n_expert == 0) hp.n_ff = ff;
  }
  return Status::ok();
}

// SwiGLU FFN: y = down(silu(gate x) * up x).
void swiglu(const Mat& gate, const Mat& up, const Mat& down, const double* x, bool emu, double* y) {
  std::vector<double> g(static_cast<size_t>(gate.rows)), u(g.size());
  matvec(gate, x, emu, g.data());
  matvec(up, x, emu, u.data());
  for (size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
  matvec(down, g.data(), emu, y);
}

// Router as build_moe_ffn: softmax or sigmoid probabilities, selection on probs + bias with
// only the best groups eligible, top-k (ties: lower index first), optional renormalisation and
// scale of the selected probabilities.
void route(const LayerW& l, const RefHparams& hp, const double* x, bool emu, RefRoute& rt) {
  rt.router_logits.resize(static_cast<size_t>(hp.n_expert));
  matvec(l.router, x, emu, rt.router_logits.data());
  rt.probs.resize(rt.router_logits.size());
  if (hp.sigmoid) {
    for (size_t e = 0; e < rt.probs.size(); ++e) {
      rt.probs[e] = 1.0 / (1.0 + std::exp(-rt.router_logits[e]));
    }
  } else {
    const double mx = *std::max_element(rt.router_logits.begin(), rt.router_logits.end());
    double sum = 0.0;
    for (size_t e = 0; e < rt.probs.size(); ++e) {
      sum += (rt.probs[e] = std::exp(rt.router_logits[e] - mx));
    }
    for (double& p : rt.probs) p /= sum;
  }
  std::vector<double> sel = rt.probs;
  for (size_t e = 0; e < l.exp_b.size(); ++e) sel[e] += l.exp_b[e];
  if (hp.n_groups > 1) {
    const int64_t per = hp.n_expert / hp.n_groups;
    std::vector<double> gscore(static_cast<size_t>(hp.n_groups));
    for (int64_t g = 0; g < hp.n_groups; ++g) {
      std::vector<double> v(sel.begin() + g * per, sel.begin() + (g + 1) * per);
      std::sort(v.begin(), v.end(), std::greater<>());
      gscore[static_cast<size_t>(g)] = v[0] + v[1];
    }
    std::vector<int32_t> gorder(static_cast<size_t>(hp.n_groups));
    std::iota(gorder.begin(), gorder.end(), 0);
    std::stable_sort(gorder.begin(), gorder.end(),
                     [&](int32_t a, int32_t b) { return gscore[a] > gscore[b]; });
    for (size_t j = static_cast<size_t>(hp.n_group_used); j < gorder.size(); ++j) {
      std::fill_n(sel.begin() + gorder[j] * per, per, -INFINITY);
    }
  }
  std::vector<int32_t> order(static_cast<size_t>(hp.n_expert));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return sel[a] > sel[b]; });
  rt.topk.assign(order.begin(), order.begin() + hp.n_expert_used);
  double wsum = 0.0;
  for (int32_t e : rt.topk) wsum += rt.probs[static_cast<size_t>(e)];
  wsum = std::max(wsum, 6.103515625e-5);
  const double scale = hp.w_scale != 0.0 && hp.w_scale != 1.0 ? hp.w_scale : 1.0;
  for (int32_t e : rt.topk) {
    rt.weights.push_back(rt.probs[static_cast<size_t>(e)] / (hp.norm_topk ? wsum : 1.0) * scale);
  }
  // On the selection scores: for softmax without bias or groups they order like the logits.
  const double min_sel = sel[static_cast<size_t>(rt.topk.back())];
  double max_unsel = -INFINITY;
  for (size_t j = static_cast<size_t>(hp.n_expert_used); j < order.size(); ++j) {
    max_unsel = std::max(max_unsel, sel[static_cast<size_t>(order[j])]);
  }
  rt.margin = min_sel - max_unsel;
}

}  // namespace

ReferenceForward::~ReferenceForward() = default;

Result<std::unique_ptr<ReferenceForward>> ReferenceForward::create(const gguf::GgufFile& f,
                                                                   RefOptions options) {
  std::unique_ptr<ReferenceForward> r(new ReferenceForward());
  r->opt_ = options;
  RefHparams& hp = r->hp_;
  auto arch = f.get_string("general.architecture");
  if (!arch.ok()) return arch.status().with_context("reference");
  hp.arch = arch.value();
  const ArchRule* rule = nullptr;
  for (const ArchRule& a : kRules) {
    if (hp.arch == a.name) rule = &a;
  }
  if (!rule) {
    return unsupported("reference: architecture " + hp.arch +
                       " (implemented: llama, qwen2moe, qwen3moe, olmoe, deepseek, deepseek2)");
  }
  const std::string a = hp.arch + ".";
  hp.n_embd = meta_int(f, a + "embedding_length", 0);
  hp.n_layer = meta_int(f, a + "block_count", 0);
  hp.n_head = meta_int(f, a + "attention.head_count", 0);
  hp.n_head_kv = meta_int(f, a + "attention.head_count_kv", hp.n_head);
  hp.head_dim = meta_int(f, a + "attention.key_length", hp.n_head ? hp.n_embd / hp.n_head : 0);
  hp.n_rot = meta_int(f, a + "rope.dimension_count", hp.head_dim);
  hp.n_expert = meta_int(f, a + "expert_count", 0);
  hp.n_expert_used = meta_int(f, a + "expert_used_count", 0);
  hp.rope_base = meta_float(f, a + "rope.freq_base", 10000.0);
  hp.rms_eps = meta_float(f, a + "attention.layer_norm_rms_epsilon", 1e-5);
  auto scaling = f.get_string(a + "rope.scaling.type");
  if (scaling.ok() && scaling.value() != "linear" && scaling.value() != "none" &&
      !(rule->mla && scaling.value() == "yarn")) {
    return unsupported("reference: rope scaling " + scaling.value());
  }
  const double factor = meta_float(f, a + "rope.scaling.factor", 0.0);
  hp.rope_scale = factor > 0.0 ? 1.0 / factor : 1.0;
  // Only the llama reference honours a stored flag (the A1/A2 fixtures' convention); llama.cpp
  // hard-codes the rule for the others.
  bool norm = rule->norm_topk;
  if (auto key = f.get_bool(a + "expert_weights_norm"); key.ok() && hp.arch == "llama") {
    norm = key.value();
  }
  hp.norm_topk = options.norm_topk.value_or(norm);
  hp.rope_neox = options.rope_neox.value_or(rule->neox);
  hp.qk_norm = rule->qk_norm;
  hp.mla = rule->mla;
  hp.shexp_ungated = rule->deepseek;
  if (rule->deepseek) hp.n_dense_lead = meta_int(f, a + "leading_dense_block_count", 0);
  if (rule->mla) {
    hp.sigmoid = meta_int(f, a + "expert_gating_func", 1) == 2;
    hp.w_scale = meta_float(f, a + "expert_weights_scale", 0.0);
    auto nk = f.get_bool(a + "expert_weights_norm");
    hp.norm_topk = options.norm_topk.value_or(nk.ok() && nk.value());
    hp.n_groups = meta_int(f, a + "expert_group_count", 0);
    hp.n_group_used = meta_int(f, a + "expert_group_used_count", 0);
    hp.head_dim = meta_int(f, a + "attention.key_length_mla", hp.head_dim);
    hp.n_rot = 0;  // checked by the latent attention's own reader
  }
  if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_head <= 0 || hp.n_head_kv <= 0 ||
      hp.head_dim <= 0 || hp.n_head % hp.n_head_kv != 0 || hp.n_rot > hp.head_dim ||
      hp.n_rot % 2 != 0 ||
      (hp.n_expert > 0 && (hp.n_expert_used <= 0 || hp.n_expert_used > hp.n_expert))) {
    return invalid_argument("reference: inconsistent hyperparameters");
  }
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd) return not_found("reference: token_embd.weight is missing");
  hp.n_vocab = embd->dim(1);

  auto w = std::make_unique<Weights>();
  if (hp.mla) {
    EMOE_RETURN_IF_ERROR(ref::read_mla_hparams(f, hp.arch, hp.n_embd, hp.n_head,
                                               meta_int(f, a + "context_length", 0), &w->mla));
  }
  REF_LOAD(w->token_embd, load_mat(f, "token_embd.weight", hp.n_vocab, hp.n_embd));
  for (int64_t L = 0; L < hp.n_layer; ++L) {
    LayerW l;
    EMOE_RETURN_IF_ERROR(load_layer(f, *rule, hp, w->mla, L, &l));
    w->layers.push_back(std::move(l));
  }
  REF_LOAD(w->output_norm, load_vec(f, "output_norm.weight", hp.n_embd));
  if (f.find_tensor("output.weight")) {
    REF_LOAD(w->output, load_mat(f, "output.weight", hp.n_vocab, hp.n_embd));
  } else if (rule->output_required) {
    return not_found("reference: output.weight is missing (required for " + hp.arch + ")");
  } else {
    hp.tied_output = true;
  }
  r->w_ = std::move(w);
  return r;
}
#undef REF_LOAD

Result<RefOutput> ReferenceForward::run(std::span<const int32_t> tokens) const {
  const RefHparams& hp = hp_;
  const Weights& W = *w_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t E = hp.n_embd, hd = hp.head_dim;
  const int64_t q_dim = hp.n_head * hd, kv_dim = hp.n_head_kv * hd;
  const bool emu = opt_.emulate_ggml_activation_rounding;
  RefOutput out;
  out.n_tokens = n;

  std::vector<double> x(static_cast<size_t>(n * E));
  for (int64_t t = 0; t < n; ++t) {
    const int32_t id = tokens[static_cast<size_t>(t)];
    if (id < 0 || id >= hp.n_vocab) {
      return invalid_argument("reference: token id " + std::to_string(id) + " out of range");
    }
    // get_rows dequantizes exactly, so no activation rounding here.
    std::copy_n(W.token_embd.row(id), E, x.begin() + t * E);
  }

  std::vector<double> cur(static_cast<size_t>(E)), q(static_cast<size_t>(n * q_dim)),
      k(static_cast<size_t>(n * kv_dim)), v(static_cast<size_t>(n * kv_dim)),
      attn(static_cast<size_t>(q_dim)), tmp(static_cast<size_t>(E));
  const double kq_scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const int64_t group = hp.n_head / hp.n_head_kv;

  for (int64_t L = 0; L < hp.n_layer; ++L) {
    const LayerW& l = W.layers[static_cast<size_t>(L)];
    if (hp.mla) {
      std::vector<double> normed(static_cast<size_t>(n * E)), att;
      for (int64_t t = 0; t < n; ++t)
        rms_norm(&x[t * E], l.attn_norm, hp.rms_eps, E, &normed[t * E]);
      ref::mla_forward(W.mla, l.mla, normed, n, E, att, emu);
      for (size_t i = 0; i < att.size(); ++i) x[i] += att[i];
    } else {
      for (int64_t t = 0; t < n; ++t) {
        double* qt = &q[t * q_dim];
        double* kt = &k[t * kv_dim];
        double* vt = &v[t * kv_dim];
        rms_norm(&x[t * E], l.attn_norm, hp.rms_eps, E, cur.data());
        matvec(l.wq, cur.data(), emu, qt);
        matvec(l.wk, cur.data(), emu, kt);
        matvec(l.wv, cur.data(), emu, vt);
        for (size_t i = 0; i < l.bq.size(); ++i) qt[i] += l.bq[i];
        for (size_t i = 0; i < l.bk.size(); ++i) kt[i] += l.bk[i];
        for (size_t i = 0; i < l.bv.size(); ++i) vt[i] += l.bv[i];
        if (hp.qk_norm == RefHparams::QkNorm::PerHead) {
          for (int64_t h = 0; h < hp.n_head; ++h) {
            rms_norm(qt + h * hd, l.q_norm, hp.rms_eps, hd, qt + h * hd);
          }
          for (int64_t h = 0; h < hp.n_head_kv; ++h) {
            rms_norm(kt + h * hd, l.k_norm, hp.rms_eps, hd, kt + h * hd);
          }
        } else if (hp.qk_norm == RefHparams::QkNorm::Whole) {
          rms_norm(qt, l.q_norm, hp.rms_eps, q_dim, qt);
          rms_norm(kt, l.k_norm, hp.rms_eps, kv_dim, kt);
        }
        rope(qt, hp.n_head, hd, hp.n_rot, t, hp.rope_base, hp.rope_scale, hp.rope_neox);
        rope(kt, hp.n_head_kv, hd, hp.n_rot, t, hp.rope_base, hp.rope_scale, hp.rope_neox);
        if (opt_.kv_f16) {
          for (int64_t i = 0; i < kv_dim; ++i) {
            kt[i] = ref_round_to_half(kt[i]);
            vt[i] = ref_round_to_half(vt[i]);
          }
        }
      }
      std::vector<double> scores(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t h = 0; h < hp.n_head; ++h) {
          std::vector<double> qv(&q[t * q_dim + h * hd], &q[t * q_dim + h * hd] + hd);
          const bool round_qp = opt_.kv_f16 && opt_.kv_f16_round_q_p;
          if (round_qp) {
            for (double& e : qv) e = ref_round_to_half(e);
          }
          const double* qh = qv.data();
          const int64_t kvh = h / group;
          double mx = -INFINITY;
          for (int64_t s = 0; s <= t; ++s) {
            const double* kh = &k[s * kv_dim + kvh * hd];
            double d = 0.0;
            for (int64_t i = 0; i < hd; ++i) d += qh[i] * kh[i];
            scores[s] = d * kq_scale;
            mx = std::max(mx, scores[s]);
          }
          double sum = 0.0;
          for (int64_t s = 0; s <= t; ++s) sum += (scores[s] = std::exp(scores[s] - mx));
          double* o = &attn[h * hd];
          std::fill_n(o, hd, 0.0);
          for (int64_t s = 0; s <= t; ++s) {
            const double p = round_qp ? ref_round_to_half(scores[s] / sum) : scores[s] / sum;
            const double* vh = &v[s * kv_dim + kvh * hd];
            for (int64_t i = 0; i < hd; ++i) o[i] += p * vh[i];
          }
        }
        matvec(l.wo, attn.data(), emu, tmp.data());
        for (int64_t i = 0; i < E; ++i) x[t * E + i] += tmp[i];
      }
    }

    const bool moe = hp.n_expert > 0 && L >= hp.n_dense_lead;
    if (hp.n_expert > 0) out.routing.emplace_back(moe ? static_cast<size_t>(n) : 0);
    for (int64_t t = 0; t < n; ++t) {
      rms_norm(&x[t * E], l.ffn_norm, hp.rms_eps, E, cur.data());
      std::vector<double> ffn(static_cast<size_t>(E), 0.0);
      if (moe) {
        RefRoute& rt = out.routing.back()[static_cast<size_t>(t)];
        route(l, hp, cur.data(), emu, rt);
        for (size_t j = 0; j < rt.topk.size(); ++j) {
          const auto e = static_cast<size_t>(rt.topk[j]);
          swiglu(l.gate[e], l.up[e], l.down[e], cur.data(), emu, tmp.data());
          for (int64_t i = 0; i < E; ++i) ffn[i] += rt.weights[j] * tmp[i];
        }
        if (!l.sh_gate.w.empty()) {
          double gate = 1.0;  // deepseek's shared experts have no gate
          if (!l.sh_gate_inp.empty()) {
            double logit = 0.0;
            for (int64_t i = 0; i < E; ++i) logit += l.sh_gate_inp[static_cast<size_t>(i)] * cur[i];
            gate = 1.0 / (1.0 + std::exp(-logit));
          }
          swiglu(l.sh_gate, l.sh_up, l.sh_down, cur.data(), emu, tmp.data());
          for (int64_t i = 0; i < E; ++i) ffn[i] += gate * tmp[i];
        }
      } else {
        swiglu(l.ffn_gate, l.ffn_up, l.ffn_down, cur.data(), emu, ffn.data());
      }
      for (int64_t i = 0; i < E; ++i) x[t * E + i] += ffn[i];
    }
    out.hidden.push_back(x);
  }

  const Mat& wout = hp.tied_output ? W.token_embd : W.output;
  out.logits.resize(static_cast<size_t>(n * hp.n_vocab));
  for (int64_t t = 0; t < n; ++t) {
    rms_norm(&x[t * E], W.output_norm, hp.rms_eps, E, cur.data());
    matvec(wout, cur.data(), emu, &out.logits[t * hp.n_vocab]);
  }
  return out;
}

}  // namespace emoe::test
