#include "tests/support/reference_forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/gguf/gguf_file.h"

namespace emoe::test {

// ggml type ids (the GGUF on-disk numbers), spelled out here so the decoders below depend on
// the file format only.
namespace {
constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kBF16 = 30;

enum class Rounding { None, Half, BFloat, Q8_0 };

struct Mat {
  int64_t rows = 0, cols = 0;
  Rounding act = Rounding::None;  // how ggml rounds the activation before this matrix
  std::vector<double> w;          // [rows][cols]
  const double* row(int64_t r) const { return w.data() + r * cols; }
};

uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

}  // namespace

double ref_half_to_double(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(mant), -24);  // zero or subnormal
  } else if (exp == 31) {
    v = mant == 0 ? INFINITY : NAN;
  } else {
    v = std::ldexp(static_cast<double>(1024 + mant), exp - 25);
  }
  return sign ? -v : v;
}

double ref_round_to_half(double x) {
  if (std::isnan(x) || std::isinf(x) || x == 0.0) return x;
  const double ax = std::fabs(x);
  int e = 0;
  std::frexp(ax, &e);  // ax = m * 2^e, m in [0.5, 1): the leading bit is 2^(e-1)
  // Spacing of binary16 values around ax: 2^(e-1-10) for normals, 2^-24 for subnormals.
  const int quantum_exp = std::max(e - 11, -24);
  const double r = std::ldexp(std::nearbyint(std::ldexp(ax, -quantum_exp)), quantum_exp);
  const double out = r > 65504.0 ? INFINITY : r;
  return x < 0 ? -out : out;
}

namespace {

double bf16_to_double(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

double round_to_bf16(double x) {
  float f = static_cast<float>(x);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return x;  // NaN
  bits = (bits + (0x7fffu + ((bits >> 16) & 1u))) & 0xffff0000u;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Bytes of one row of `cols` values, or 0 for a type this reference does not decode.
uint64_t ref_row_bytes(uint32_t type, int64_t cols) {
  switch (type) {
    case kF32:
      return static_cast<uint64_t>(cols) * 4;
    case kF16:
    case kBF16:
      return static_cast<uint64_t>(cols) * 2;
    case kQ8_0:
      return cols % 32 ? 0 : static_cast<uint64_t>(cols / 32) * 34;
    case kQ4_0:
      return cols % 32 ? 0 : static_cast<uint64_t>(cols / 32) * 18;
    default:
      return 0;
  }
}

// Decodes one row. Q8_0 block: fp16 d, 32 x int8 q; x = d*q. Q4_0 block: fp16 d, 16 bytes;
// byte j holds element j in its low nibble and element j+16 in its high nibble; x = d*(q-8).
void decode_row(uint32_t type, const uint8_t* src, int64_t cols, double* dst) {
  switch (type) {
    case kF32:
      for (int64_t i = 0; i < cols; ++i) {
        float f;
        std::memcpy(&f, src + 4 * i, 4);
        dst[i] = f;
      }
      break;
    case kF16:
      for (int64_t i = 0; i < cols; ++i) dst[i] = ref_half_to_double(load_u16(src + 2 * i));
      break;
    case kBF16:
      for (int64_t i = 0; i < cols; ++i) dst[i] = bf16_to_double(load_u16(src + 2 * i));
      break;
    case kQ8_0:
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* blk = src + b * 34;
        const double d = ref_half_to_double(load_u16(blk));
        for (int j = 0; j < 32; ++j) dst[b * 32 + j] = d * static_cast<int8_t>(blk[2 + j]);
      }
      break;
    case kQ4_0:
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* blk = src + b * 18;
        const double d = ref_half_to_double(load_u16(blk));
        for (int j = 0; j < 16; ++j) {
          dst[b * 32 + j] = d * ((blk[2 + j] & 0x0f) - 8);
          dst[b * 32 + j + 16] = d * ((blk[2 + j] >> 4) - 8);
        }
      }
      break;
    default:
      break;
  }
}

Rounding rounding_for(uint32_t type) {
  switch (type) {
    case kF16:
      return Rounding::Half;
    case kBF16:
      return Rounding::BFloat;
    case kQ8_0:
    case kQ4_0:
      return Rounding::Q8_0;
    default:
      return Rounding::None;
  }
}

// ggml's x86 quantize_row_q8_0 in float32: d = amax/127 stored as fp16, q = round-half-even
// (x * 127/amax). Returns the value the integer dot product effectively sees, fp16(d) * q.
void round_q8_0(std::vector<double>& x) {
  const size_t n = x.size();
  for (size_t b = 0; b + 32 <= n; b += 32) {
    float amax = 0.0f;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(static_cast<float>(x[b + j])));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const double dh = ref_round_to_half(d);
    for (size_t j = 0; j < 32; ++j) {
      const float q = std::nearbyint(static_cast<float>(x[b + j]) * id);
      x[b + j] = dh * q;
    }
  }
}

}  // namespace

struct ReferenceForward::Weights {
  struct Layer {
    std::vector<double> attn_norm, ffn_norm;
    Mat wq, wk, wv, wo;
    Mat router;
    std::vector<Mat> gate, up, down;  // [n_expert]
    Mat ffn_gate, ffn_up, ffn_down;   // dense layers
  };
  Mat token_embd;
  std::vector<Layer> layers;
  std::vector<double> output_norm;
  Mat output;  // empty when tied
};

namespace {

const gguf::TensorInfo* find(const gguf::GgufFile& f, const std::string& name) {
  return f.find_tensor(name);
}

// Dequantizes a 2-D tensor (or one 2-D slice of a 3-D one) of shape ne=[cols, rows(, n)].
Result<Mat> load_mat(const gguf::GgufFile& f, const std::string& name, int64_t rows, int64_t cols,
                     int64_t n_slices = 1, int64_t slice = 0) {
  const gguf::TensorInfo* t = find(f, name);
  if (!t) return not_found("reference: tensor " + name + " is missing");
  if (t->dim(0) != cols || t->dim(1) != rows || t->dim(2) != n_slices || t->dim(3) != 1) {
    return invalid_argument("reference: tensor " + name + " has ne [" + std::to_string(t->dim(0)) +
                            ", " + std::to_string(t->dim(1)) + ", " + std::to_string(t->dim(2)) +
                            "], expected [" + std::to_string(cols) + ", " + std::to_string(rows) +
                            ", " + std::to_string(n_slices) + "]");
  }
  const auto type = static_cast<uint32_t>(t->type);
  const uint64_t rb = ref_row_bytes(type, cols);
  if (rb == 0) {
    return unsupported("reference: tensor " + name + " has type id " + std::to_string(type) +
                       ", which this reference does not decode");
  }
  if (t->n_bytes != rb * static_cast<uint64_t>(rows * n_slices) || t->data == nullptr) {
    return invalid_argument("reference: tensor " + name + " byte size " +
                            std::to_string(t->n_bytes) + " does not match its shape");
  }
  Mat m;
  m.rows = rows;
  m.cols = cols;
  m.act = rounding_for(type);
  m.w.resize(static_cast<size_t>(rows * cols));
  const uint8_t* base = t->data + static_cast<uint64_t>(slice * rows) * rb;
  for (int64_t r = 0; r < rows; ++r) decode_row(type, base + r * rb, cols, m.w.data() + r * cols);
  return m;
}

Result<std::vector<double>> load_vec(const gguf::GgufFile& f, const std::string& name, int64_t n) {
  auto m = load_mat(f, name, 1, n);
  if (!m.ok()) return m.status();
  return std::move(m.value().w);
}

int64_t meta_int(const gguf::GgufFile& f, const std::string& key, int64_t fallback) {
  auto v = f.get_int(key);
  return v.ok() ? v.value() : fallback;
}

double meta_float(const gguf::GgufFile& f, const std::string& key, double fallback) {
  auto v = f.get_float(key);
  return v.ok() ? v.value() : fallback;
}

void rms_norm(const double* x, const std::vector<double>& w, double eps, int64_t n, double* y) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[static_cast<size_t>(i)];
}

// y[rows] = W x[cols], with the activation first rounded like ggml when asked.
void matvec(const Mat& m, const double* x, bool emulate, double* y) {
  std::vector<double> xr(x, x + m.cols);
  if (emulate) {
    switch (m.act) {
      case Rounding::Half:
        for (double& v : xr) v = ref_round_to_half(v);
        break;
      case Rounding::BFloat:
        for (double& v : xr) v = round_to_bf16(v);
        break;
      case Rounding::Q8_0:
        round_q8_0(xr);
        break;
      case Rounding::None:
        break;
    }
  }
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
  if (hp.arch != "llama") {
    return unsupported("reference: architecture " + hp.arch + " (only llama is implemented)");
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
  if (scaling.ok() && scaling.value() != "linear" && scaling.value() != "none") {
    return unsupported("reference: rope scaling " + scaling.value());
  }
  const double factor = meta_float(f, a + "rope.scaling.factor", 0.0);
  hp.rope_scale = factor > 0.0 ? 1.0 / factor : 1.0;
  auto bool_key = f.get_bool(a + "expert_weights_norm");
  hp.norm_topk = options.norm_topk.value_or(bool_key.ok() ? bool_key.value() : true);
  hp.rope_neox = options.rope_neox.value_or(false);  // llama uses NORM
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
  auto te = load_mat(f, "token_embd.weight", hp.n_vocab, hp.n_embd);
  if (!te.ok()) return te.status();
  w->token_embd = std::move(te.value());
  const int64_t q_dim = hp.n_head * hp.head_dim, kv_dim = hp.n_head_kv * hp.head_dim;

  for (int64_t L = 0; L < hp.n_layer; ++L) {
    Weights::Layer l;
    const std::string p = "blk." + std::to_string(L) + ".";
#define REF_LOAD(dst, expr)               \
  do {                                    \
    auto res_ = (expr);                   \
    if (!res_.ok()) return res_.status(); \
    dst = std::move(res_.value());        \
  } while (0)
    REF_LOAD(l.attn_norm, load_vec(f, p + "attn_norm.weight", hp.n_embd));
    REF_LOAD(l.ffn_norm, load_vec(f, p + "ffn_norm.weight", hp.n_embd));
    REF_LOAD(l.wq, load_mat(f, p + "attn_q.weight", q_dim, hp.n_embd));
    REF_LOAD(l.wk, load_mat(f, p + "attn_k.weight", kv_dim, hp.n_embd));
    REF_LOAD(l.wv, load_mat(f, p + "attn_v.weight", kv_dim, hp.n_embd));
    REF_LOAD(l.wo, load_mat(f, p + "attn_output.weight", hp.n_embd, q_dim));
    if (hp.n_expert > 0) {
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
    } else {
      const gguf::TensorInfo* g = f.find_tensor(p + "ffn_gate.weight");
      if (!g) return not_found("reference: " + p + "ffn_gate.weight is missing");
      hp.n_ff = g->dim(1);
      REF_LOAD(l.ffn_gate, load_mat(f, p + "ffn_gate.weight", hp.n_ff, hp.n_embd));
      REF_LOAD(l.ffn_up, load_mat(f, p + "ffn_up.weight", hp.n_ff, hp.n_embd));
      REF_LOAD(l.ffn_down, load_mat(f, p + "ffn_down.weight", hp.n_embd, hp.n_ff));
    }
    w->layers.push_back(std::move(l));
  }
  REF_LOAD(w->output_norm, load_vec(f, "output_norm.weight", hp.n_embd));
  if (f.find_tensor("output.weight")) {
    REF_LOAD(w->output, load_mat(f, "output.weight", hp.n_vocab, hp.n_embd));
  } else {
    hp.tied_output = true;
  }
#undef REF_LOAD
  r->w_ = std::move(w);
  return r;
}

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
    const Weights::Layer& l = W.layers[static_cast<size_t>(L)];
    for (int64_t t = 0; t < n; ++t) {
      rms_norm(&x[t * E], l.attn_norm, hp.rms_eps, E, cur.data());
      matvec(l.wq, cur.data(), emu, &q[t * q_dim]);
      matvec(l.wk, cur.data(), emu, &k[t * kv_dim]);
      matvec(l.wv, cur.data(), emu, &v[t * kv_dim]);
      rope(&q[t * q_dim], hp.n_head, hd, hp.n_rot, t, hp.rope_base, hp.rope_scale, hp.rope_neox);
      rope(&k[t * kv_dim], hp.n_head_kv, hd, hp.n_rot, t, hp.rope_base, hp.rope_scale,
           hp.rope_neox);
      if (opt_.kv_f16) {
        for (int64_t i = 0; i < kv_dim; ++i) {
          k[t * kv_dim + i] = ref_round_to_half(k[t * kv_dim + i]);
          v[t * kv_dim + i] = ref_round_to_half(v[t * kv_dim + i]);
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

    if (hp.n_expert > 0) out.routing.emplace_back(static_cast<size_t>(n));
    std::vector<double> g(static_cast<size_t>(hp.n_ff)), u(static_cast<size_t>(hp.n_ff));
    for (int64_t t = 0; t < n; ++t) {
      rms_norm(&x[t * E], l.ffn_norm, hp.rms_eps, E, cur.data());
      std::vector<double> ffn(static_cast<size_t>(E), 0.0);
      if (hp.n_expert > 0) {
        RefRoute& rt = out.routing.back()[static_cast<size_t>(t)];
        rt.router_logits.resize(static_cast<size_t>(hp.n_expert));
        matvec(l.router, cur.data(), emu, rt.router_logits.data());
        const double mx = *std::max_element(rt.router_logits.begin(), rt.router_logits.end());
        rt.probs.resize(rt.router_logits.size());
        double sum = 0.0;
        for (size_t e = 0; e < rt.probs.size(); ++e) {
          sum += (rt.probs[e] = std::exp(rt.router_logits[e] - mx));
        }
        for (double& p : rt.probs) p /= sum;
        std::vector<int32_t> order(static_cast<size_t>(hp.n_expert));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t a, int32_t b) { return rt.probs[a] > rt.probs[b]; });
        rt.topk.assign(order.begin(), order.begin() + hp.n_expert_used);
        double wsum = 0.0;
        for (int32_t e : rt.topk) wsum += rt.probs[static_cast<size_t>(e)];
        for (int32_t e : rt.topk) {
          rt.weights.push_back(rt.probs[static_cast<size_t>(e)] / (hp.norm_topk ? wsum : 1.0));
        }
        const double min_sel = rt.router_logits[static_cast<size_t>(rt.topk.back())];
        double max_unsel = -INFINITY;
        for (size_t j = static_cast<size_t>(hp.n_expert_used); j < order.size(); ++j) {
          max_unsel = std::max(max_unsel, rt.router_logits[static_cast<size_t>(order[j])]);
        }
        rt.margin = min_sel - max_unsel;
        for (size_t j = 0; j < rt.topk.size(); ++j) {
          const auto e = static_cast<size_t>(rt.topk[j]);
          matvec(l.gate[e], cur.data(), emu, g.data());
          matvec(l.up[e], cur.data(), emu, u.data());
          for (int64_t i = 0; i < hp.n_ff; ++i) g[i] = silu(g[i]) * u[i];
          matvec(l.down[e], g.data(), emu, tmp.data());
          for (int64_t i = 0; i < E; ++i) ffn[i] += rt.weights[j] * tmp[i];
        }
      } else {
        matvec(l.ffn_gate, cur.data(), emu, g.data());
        matvec(l.ffn_up, cur.data(), emu, u.data());
        for (int64_t i = 0; i < hp.n_ff; ++i) g[i] = silu(g[i]) * u[i];
        matvec(l.ffn_down, g.data(), emu, ffn.data());
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
