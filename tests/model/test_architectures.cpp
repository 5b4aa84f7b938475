// qwen2moe, qwen3moe and olmoe (and llama beside them) as llama.cpp runs them: models from the
// project's builder in each architecture load with the architecture's semantics, and the
// engine's logits, layer outputs and routing match the independent float64 reference
// (tests/support/reference_forward, written from llama.cpp's graphs). Controls show the
// comparison notices a wrong RoPE mode or top-k rule. Q8_0 variants match the reference with
// ggml's activation rounding; Q4_K variants (which the reference does not decode) are checked
// against their F32 twins and for well-formed routing.
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <set>

#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_value.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "tests/support/engine_capture.h"
#include "tests/support/fixture_compare.h"
#include "tests/support/gguf_edit.h"
#include "tests/support/reference_compare.h"
#include "tests/support/reference_forward.h"

using namespace emoe;
using namespace emoe::test;
using kernels::TensorType;

namespace {

model::SyntheticModelSpec arch_spec(const char* arch, int64_t n_layer, int64_t n_embd,
                                    int64_t n_head, int64_t n_head_kv, int64_t n_ff,
                                    int64_t n_expert, int64_t top_k, uint64_t seed,
                                    int64_t head_dim = 0, int64_t n_ff_shexp = 0) {
  model::SyntheticModelSpec s;
  s.arch = arch;
  s.n_layer = n_layer;
  s.n_embd = n_embd;
  s.n_head = n_head;
  s.n_head_kv = n_head_kv;
  s.n_ff = n_ff;
  s.n_expert = n_expert;
  s.n_expert_used = top_k;
  s.head_dim = head_dim;
  s.n_ff_shexp = n_ff_shexp;
  s.n_vocab = 512;
  s.n_ctx = 256;
  s.seed = seed;
  s.n_threads = 2;
  return s;
}

struct ArchCase {
  const char* name;
  model::SyntheticModelSpec spec;
  bool tied = false;  // output.weight removed after writing
};

const ArchCase kCases[] = {
    {"llama_gqa", arch_spec("llama", 2, 64, 4, 2, 64, 4, 2, 21)},
    {"qwen2moe_gqa", arch_spec("qwen2moe", 2, 64, 4, 2, 64, 4, 2, 22)},
    {"qwen2moe_top1_wide_shared", arch_spec("qwen2moe", 3, 64, 4, 4, 32, 8, 1, 23, 0, 192)},
    {"qwen3moe_gqa_head32", arch_spec("qwen3moe", 2, 64, 4, 2, 64, 8, 4, 24, 32)},
    {"qwen3moe_mqa_tied", arch_spec("qwen3moe", 2, 64, 4, 1, 64, 4, 2, 25), true},
    {"olmoe_mha", arch_spec("olmoe", 3, 64, 4, 4, 64, 8, 2, 26)},
};

constexpr double kRelTol = 1e-4;  // the issue: logits within 1e-4 normalised error

constexpr int64_t kPrompt = 20, kDecode = 6;

}  // namespace

class TestArchitectures : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;

  std::string write(const ArchCase& c, const QString& suffix = {}) {
    const std::string path = tmp_.filePath(QString(c.name) + suffix + ".gguf").toStdString();
    const std::string built = c.tied ? path + ".untied" : path;
    const Status st = model::write_synthetic_model(c.spec, built);
    if (!st.is_ok()) qFatal("write_synthetic_model(%s): %s", c.name, st.message().c_str());
    if (c.tied) {
      GgufEdit e;
      e.drop_tensors = {"output.weight"};
      const Status cp = copy_gguf_edited(built, path, e);
      if (!cp.is_ok()) qFatal("%s", cp.message().c_str());
    }
    return path;
  }

  static std::unique_ptr<model::Model> load(const std::string& path) {
    auto m = model::Model::load(path);
    if (!m.ok()) qFatal("Model::load: %s", m.status().message().c_str());
    return std::move(m).value();
  }

 private slots:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void cases_data() {
    QTest::addColumn<int>("index");
    for (size_t i = 0; i < std::size(kCases); ++i) {
      QTest::newRow(kCases[i].name) << static_cast<int>(i);
    }
  }

  // The configuration carries each architecture's semantics, and the shared expert's weights
  // are dense bytes, not expert bytes.
  void configFollowsArchitecture_data() { cases_data(); }
  void configFollowsArchitecture() {
    QFETCH(int, index);
    const ArchCase& c = kCases[index];
    auto m = load(write(c));
    const model::ModelConfig& cfg = m->config();
    const std::string arch = c.spec.arch;
    QCOMPARE(cfg.arch, arch);
    const bool neox = arch != "llama";
    QCOMPARE(cfg.rope_mode == kernels::RopeMode::Neox, neox);
    QCOMPARE(cfg.expert_weights_norm, arch == "llama" || arch == "qwen3moe");
    QCOMPARE(cfg.qk_norm, arch == "qwen3moe" ? model::QkNorm::PerHead
                          : arch == "olmoe"  ? model::QkNorm::Whole
                                             : model::QkNorm::None);
    QCOMPARE(cfg.n_ff_exp, c.spec.n_ff);
    QCOMPARE(cfg.n_embd_head, c.spec.head_dim ? c.spec.head_dim : c.spec.n_embd / c.spec.n_head);
    const int64_t shexp =
        arch == "qwen2moe"
            ? (c.spec.n_ff_shexp ? c.spec.n_ff_shexp : c.spec.n_ff * c.spec.n_expert_used)
            : 0;
    QCOMPARE(cfg.n_ff_shexp, shexp);
    const model::ModelWeights& w = m->weights();
    QCOMPARE(w.layers[0].bq.empty(), arch != "qwen2moe");
    QCOMPARE(w.layers[0].attn_q_norm.empty(), cfg.qk_norm == model::QkNorm::None);

    // Every tensor is either dense or expert bytes; only *_exps tensors are expert bytes.
    uint64_t dense = 0, expert = 0;
    for (const gguf::TensorInfo& t : m->file().tensors()) {
      (t.name.find("_exps.") != std::string::npos ? expert : dense) += t.n_bytes;
    }
    QCOMPARE(w.expert_bytes, expert);
    QCOMPARE(w.dense_bytes, dense);
    const uint64_t per_expert = 3 * static_cast<uint64_t>(c.spec.n_embd * c.spec.n_ff) * 4;
    QCOMPARE(w.bytes_per_expert(0), per_expert);
  }

  // The keys and extra tensors llama.cpp's loader reads for the architecture, with the GGUF
  // types it insists on (uint32 widths, F32 one-dimensional tensors).
  void fileHasLlamaCppKeysAndTensors_data() { cases_data(); }
  void fileHasLlamaCppKeysAndTensors() {
    QFETCH(int, index);
    const ArchCase& c = kCases[index];
    auto m = load(write(c));
    const gguf::GgufFile& f = m->file();
    const model::SyntheticModelSpec& s = c.spec;
    const std::string a = s.arch + ".";
    const auto u32 = [&](const std::string& key) -> int64_t {
      const gguf::Value* v = f.find(key);
      if (!v || v->type() != gguf::ValueType::UInt32) return -1;
      return static_cast<int64_t>(*v->as_uint());
    };
    const bool qwen = s.arch == "qwen2moe" || s.arch == "qwen3moe";
    QCOMPARE(u32(a + "expert_count"), s.n_expert);
    QCOMPARE(u32(a + "expert_used_count"), s.n_expert_used);
    QCOMPARE(u32(a + "feed_forward_length"), qwen ? s.n_ff * s.n_expert_used : s.n_ff);
    QCOMPARE(u32(a + "expert_feed_forward_length"), qwen ? s.n_ff : -1);
    QCOMPARE(u32(a + "expert_shared_feed_forward_length"),
             s.arch == "qwen2moe" ? m->config().n_ff_shexp : -1);
    QCOMPARE(u32(a + "attention.key_length"), s.head_dim ? s.head_dim : -1);
    QCOMPARE(u32(a + "attention.value_length"), s.head_dim ? s.head_dim : -1);
    QVERIFY(f.find(a + "attention.layer_norm_rms_epsilon"));

    const int64_t hd = m->config().n_embd_head;
    const int64_t n_q = s.n_head * hd, n_kv = s.n_head_kv * hd;
    const auto shape = [&](const std::string& name) -> std::vector<int64_t> {
      const gguf::TensorInfo* t = f.find_tensor(name);
      if (!t) return {};
      std::vector<int64_t> ne = t->ne;
      while (ne.size() > 1 && ne.back() == 1) ne.pop_back();
      return ne;
    };
    const auto f32 = [&](const std::string& name) {
      const gguf::TensorInfo* t = f.find_tensor(name);
      return t && t->type == TensorType::F32;
    };
    for (int64_t l = 0; l < s.n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      QCOMPARE(shape(p + "attn_q.weight"), (std::vector<int64_t>{s.n_embd, n_q}));
      QCOMPARE(shape(p + "attn_output.weight"), (std::vector<int64_t>{n_q, s.n_embd}));
      const bool bias = s.arch == "qwen2moe";
      QCOMPARE(shape(p + "attn_q.bias"), bias ? std::vector<int64_t>{n_q} : std::vector<int64_t>{});
      QCOMPARE(shape(p + "attn_v.bias"),
               bias ? std::vector<int64_t>{n_kv} : std::vector<int64_t>{});
      if (bias) QVERIFY(f32(p + "attn_k.bias"));
      const int64_t qn = s.arch == "qwen3moe" ? hd : s.arch == "olmoe" ? n_q : 0;
      const int64_t kn = s.arch == "qwen3moe" ? hd : s.arch == "olmoe" ? n_kv : 0;
      QCOMPARE(shape(p + "attn_q_norm.weight"),
               qn ? std::vector<int64_t>{qn} : std::vector<int64_t>{});
      QCOMPARE(shape(p + "attn_k_norm.weight"),
               kn ? std::vector<int64_t>{kn} : std::vector<int64_t>{});
      const int64_t sh = m->config().n_ff_shexp;
      QCOMPARE(shape(p + "ffn_gate_inp_shexp.weight"),
               sh ? std::vector<int64_t>{s.n_embd} : std::vector<int64_t>{});
      const std::vector<int64_t> down_sh =
          sh ? std::vector<int64_t>{sh, s.n_embd} : std::vector<int64_t>{};
      QCOMPARE(shape(p + "ffn_down_shexp.weight"), down_sh);
      if (sh) QVERIFY(f32(p + "ffn_gate_inp_shexp.weight"));
    }
  }

  // (a) F32 models: engine vs the float64 reference.
  void matchesReference_data() { cases_data(); }
  void matchesReference() {
    QFETCH(int, index);
    const ArchCase& c = kCases[index];
    const std::string path = write(c);
    auto m = load(path);
    auto ref = ReferenceForward::create(m->file());
    QVERIFY2(ref.ok(), ref.status().message().c_str());
    QCOMPARE(ref.value()->hparams().tied_output, c.tied);
    const std::vector<int32_t> seq = spread_tokens(kPrompt + kDecode, c.spec.n_vocab, index);
    auto cmp = compare_with_reference(*m, *ref.value(), seq, kPrompt);
    QVERIFY2(cmp.ok(), cmp.status().message().c_str());
    const ReferenceComparison& r = cmp.value();
    qInfo("%s: %s", c.name, describe_comparison(r, false).c_str());
    QVERIFY(r.routes_complete);
    QCOMPARE(r.decisions, c.spec.n_layer * (kPrompt + kDecode));
    QVERIFY2(r.set_mismatches == 0, r.first_mismatch.c_str());
    QVERIFY2(r.logits_rel <= kRelTol, fmt(r.logits_rel).c_str());
    QVERIFY2(r.hidden_rel <= kRelTol, fmt(r.hidden_rel).c_str());
    QVERIFY2(r.probs_abs <= 1e-5, fmt(r.probs_abs).c_str());
    QVERIFY2(r.weights_abs <= 1e-5, fmt(r.weights_abs).c_str());
  }

  // Controls: the same comparison against a reference with the other RoPE pairing, or the
  // other top-k rule, fails by far more than the tolerance, so the agreement above does come
  // from the architecture's rules.
  void referenceControls_data() { cases_data(); }
  void referenceControls() {
    QFETCH(int, index);
    const ArchCase& c = kCases[index];
    auto m = load(write(c));
    const std::vector<int32_t> seq = spread_tokens(12, c.spec.n_vocab, index);
    RefOptions wrong_rope;
    wrong_rope.rope_neox = m->config().rope_mode != kernels::RopeMode::Neox;
    auto r1 = ReferenceForward::create(m->file(), wrong_rope);
    QVERIFY(r1.ok());
    auto c1 = compare_with_reference(*m, *r1.value(), seq, 8);
    QVERIFY(c1.ok());
    QVERIFY2(c1->logits_rel > 100 * kRelTol, fmt(c1->logits_rel).c_str());

    RefOptions wrong_norm;
    wrong_norm.norm_topk = !m->config().expert_weights_norm;
    auto r2 = ReferenceForward::create(m->file(), wrong_norm);
    QVERIFY(r2.ok());
    auto c2 = compare_with_reference(*m, *r2.value(), seq, 8);
    QVERIFY(c2.ok());
    QVERIFY2(c2->weights_abs > 1e-2, fmt(c2->weights_abs).c_str());
  }

  // (b) Q8_0 weights: the reference decodes them and rounds activations to Q8_0 blocks as
  // ggml does, so the engine stays close. Where a float64 activation and the engine's float32
  // one fall on either side of a Q8_0 rounding boundary, the two round to neighbouring
  // integers and later positions differ by more (seen once here, at 6e-3: the same model in
  // F32 agrees to 2e-7), so most positions, not all, must agree to 1e-5.
  void q8_0MatchesReference_data() { cases_data(); }
  void q8_0MatchesReference() {
    QFETCH(int, index);
    ArchCase c = kCases[index];
    c.spec.weight_type = c.spec.embd_type = c.spec.output_type = TensorType::Q8_0;
    auto m = load(write(c, "_q8"));
    RefOptions o;
    o.emulate_ggml_activation_rounding = true;
    auto ref = ReferenceForward::create(m->file(), o);
    QVERIFY2(ref.ok(), ref.status().message().c_str());
    const std::vector<int32_t> seq = spread_tokens(kPrompt + kDecode, c.spec.n_vocab, index);
    auto cmp = compare_with_reference(*m, *ref.value(), seq, kPrompt, 2);
    QVERIFY2(cmp.ok(), cmp.status().message().c_str());
    const ReferenceComparison& r = cmp.value();
    const int64_t close = positions_within(r, 1e-5);
    qInfo("%s q8_0: %s", c.name, describe_comparison(r, true).c_str());
    QVERIFY(r.routes_complete);
    QVERIFY2(r.logits_rel <= 2e-2, fmt(r.logits_rel).c_str());
    QVERIFY(close >= r.positions * 3 / 4);
    QVERIFY(r.set_mismatches <= r.decisions / 50);
  }

  // (c) Q4_K weights (256-wide rows): against the F32 model of the same seed, the logits stay
  // close and most routing sets agree; every routing event is well formed.
  void q4_kRunsAndRoutesSanely_data() { cases_data(); }
  void q4_kRunsAndRoutesSanely() {
    QFETCH(int, index);
    ArchCase c = kCases[index];
    c.spec.n_embd = 256;
    c.spec.n_ff = 256;
    c.spec.n_ff_shexp = 0;
    if (c.spec.head_dim) c.spec.head_dim = 128;  // rows of attn_output stay 256-aligned
    auto f32 = load(write(c, "_k32"));
    c.spec.weight_type = TensorType::Q4_K;
    auto q4 = load(write(c, "_q4k"));
    const std::vector<int32_t> seq = spread_tokens(16, c.spec.n_vocab, index);
    RunOptions o;
    o.n_ctx = 32;
    o.n_threads = 2;
    auto a = run_prompt(*f32, seq, o);
    auto b = run_prompt(*q4, seq, o);
    QVERIFY2(a.ok() && b.ok(), "run_prompt failed");
    double d = 0, mx = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    const auto n_logits = static_cast<double>(a->prompt_logits.size());
    for (size_t i = 0; i < a->prompt_logits.size(); ++i) {
      const double x = a->prompt_logits[i], y = b->prompt_logits[i];
      QVERIFY(std::isfinite(y));
      d = std::max(d, std::fabs(x - y));
      mx = std::max(mx, std::fabs(x));
      sa += x, sb += y, saa += x * x, sbb += y * y, sab += x * y;
    }
    const double corr = (sab - sa * sb / n_logits) /
                        std::sqrt((saa - sa * sa / n_logits) * (sbb - sb * sb / n_logits));
    const int64_t k = c.spec.n_expert_used;
    int64_t decisions = 0, same_sets = 0;
    for (int32_t L = 0; L < c.spec.n_layer; ++L) {
      for (int64_t pos = 0; pos < static_cast<int64_t>(seq.size()); ++pos) {
        const CapturedRoute* ra = a->capture.route(L, pos);
        const CapturedRoute* rb = b->capture.route(L, pos);
        QVERIFY(ra && rb);
        ++decisions;
        same_sets += std::set<int32_t>(ra->topk.begin(), ra->topk.end()) ==
                     std::set<int32_t>(rb->topk.begin(), rb->topk.end());
        QCOMPARE(static_cast<int64_t>(rb->topk.size()), k);
        QCOMPARE(static_cast<int64_t>(std::set<int32_t>(rb->topk.begin(), rb->topk.end()).size()),
                 k);
        const double psum = std::accumulate(rb->probs.begin(), rb->probs.end(), 0.0);
        QVERIFY(std::fabs(psum - 1.0) < 1e-5);
        double wsum = 0;
        for (size_t j = 0; j < rb->topk.size(); ++j) {
          QVERIFY(rb->topk[j] >= 0 && rb->topk[j] < c.spec.n_expert);
          if (j > 0) QVERIFY(rb->probs[rb->topk[j]] <= rb->probs[rb->topk[j - 1]]);
          QCOMPARE(rb->weights_raw[j], rb->probs[rb->topk[j]]);
          wsum += rb->weights[j];
        }
        if (q4->config().expert_weights_norm) {
          QVERIFY(std::fabs(wsum - 1.0) < 1e-5);
        } else {
          for (size_t j = 0; j < rb->topk.size(); ++j) QCOMPARE(rb->weights[j], rb->weights_raw[j]);
        }
      }
    }
    qInfo(
        "%s q4_K vs f32: logits normalised difference %.3g, correlation %.4f; %lld/%lld routing "
        "sets agree",
        c.name, d / mx, corr, static_cast<long long>(same_sets), static_cast<long long>(decisions));
    // 4.5-bit weights move logits by tens of percent of their range in a few layers; what
    // must hold is that they still track the F32 model's and route mostly alike.
    QVERIFY2(corr >= 0.95, fmt(corr).c_str());
    QVERIFY2(d / mx < 0.75, fmt(d / mx).c_str());
    QVERIFY(same_sets >= decisions * 3 / 4);
  }
};

QTEST_GUILESS_MAIN(TestArchitectures)
#include "test_architectures.moc"
