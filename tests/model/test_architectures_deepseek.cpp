// deepseek (DeepSeek-MoE) and deepseek2 (DeepSeek-V2 latent attention, V3-style routing keys)
// as llama.cpp runs them: generated F32 models against the independent float64 reference
// (tests/support/reference_forward + reference_mla, the latter in llama.cpp's decompressed MHA
// form while the engine attends in the absorbed latent form), with dense leading layers,
// ungated shared experts, both attn_k_b/attn_v_b and legacy attn_kv_b files, low-rank Q,
// sigmoid gating with selection bias, grouped top-k, weight norm and scale, and YaRN. Q8_0
// models against the reference with ggml's activation rounding (in the absorbed form llama.cpp
// runs for attn_k_b / attn_v_b files); the dense bytes of a legacy attn_kv_b file.
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <memory>

#include "core/gguf/gguf_file.h"
#include "core/model/architecture.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "tests/support/reference_compare.h"
#include "tests/support/reference_forward.h"

using namespace emoe;
using namespace emoe::test;

namespace {

model::SyntheticModelSpec base(const char* arch, uint64_t seed) {
  model::SyntheticModelSpec s;
  s.arch = arch;
  s.n_layer = 3;
  s.n_embd = 64;
  s.n_head = 4;
  s.n_head_kv = 4;
  s.n_ff = 32;
  s.n_expert = 8;
  s.n_expert_used = 2;
  s.n_layer_dense_lead = 1;
  s.n_vocab = 512;
  s.n_ctx = 256;
  s.seed = seed;
  s.n_threads = 2;
  return s;
}

struct Case {
  const char* name;
  model::SyntheticModelSpec spec;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  {
    auto s = base("deepseek", 31);
    s.n_head_kv = 2;
    s.n_expert_shared = 2;
    v.push_back({"deepseek_gqa_2shared", s});
  }
  {
    auto s = base("deepseek2", 32);  // V2-Lite-like: attn_q, split k_b / v_b, softmax
    v.push_back({"deepseek2_lite", s});
  }
  {
    auto s = base("deepseek2", 33);  // V2 / V3-like: low-rank Q, legacy kv_b, sigmoid + groups
    s.n_layer = 4;
    s.q_lora_rank = 32;
    s.mla_legacy_kv_b = true;
    s.gating_sigmoid = true;
    s.exp_probs_b = true;
    s.expert_weights_norm = true;
    s.expert_weights_scale = 2.5f;
    s.n_expert_groups = 4;
    s.n_group_used = 2;
    s.yarn_factor = 4.0f;
    s.yarn_log_multiplier = 0.0707f;
    s.yarn_orig_ctx = 64;
    v.push_back({"deepseek2_qlora_legacy_sigmoid_groups_yarn", s});
  }
  {
    auto s = base("deepseek2", 34);  // head 48 = 32 nope + 16 rope, values 24, latent 40
    s.head_dim = 48;
    s.n_rot = 16;
    s.v_head_dim = 24;
    s.kv_lora_rank = 40;
    s.n_layer_dense_lead = 0;
    s.n_expert_shared = 2;
    v.push_back({"deepseek2_wide_heads_no_dense", s});
  }
  return v;
}

// Q8_0 shapes: every row a multiple of 32 (heads of 32 nope + 32 rope, values 32, latent 64).
std::vector<Case> q8_cases() {
  std::vector<Case> v;
  {
    auto s = base("deepseek", 38);
    s.n_head_kv = 2;
    s.n_expert_shared = 2;
    v.push_back({"deepseek_q8", s});
  }
  {
    auto s = base("deepseek2", 36);
    s.head_dim = 64, s.n_rot = 32, s.v_head_dim = 32, s.kv_lora_rank = 64;
    v.push_back({"deepseek2_q8", s});
  }
  {
    auto s = base("deepseek2", 37);
    s.head_dim = 64, s.n_rot = 32, s.v_head_dim = 32, s.kv_lora_rank = 64;
    s.q_lora_rank = 32;
    s.gating_sigmoid = s.exp_probs_b = s.expert_weights_norm = true;
    s.n_expert_groups = 4, s.n_group_used = 2;
    s.n_expert_shared = 2;
    v.push_back({"deepseek2_q8_qlora_sigmoid_groups", s});
  }
  for (Case& c : v) {
    c.spec.weight_type = c.spec.embd_type = c.spec.output_type = kernels::TensorType::Q8_0;
  }
  return v;
}

constexpr double kRelTol = 1e-4;
constexpr int64_t kPrompt = 20, kDecode = 6;

}  // namespace

class TestArchitecturesDeepseek : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

  std::unique_ptr<model::Model> build(const Case& c) {
    const std::string path = tmp_.filePath(QString(c.name) + ".gguf").toStdString();
    const Status st = model::write_synthetic_model(c.spec, path);
    if (!st.is_ok()) qFatal("write_synthetic_model(%s): %s", c.name, st.message().c_str());
    auto m = model::Model::load(path);
    if (!m.ok()) qFatal("Model::load(%s): %s", c.name, m.status().message().c_str());
    return std::move(m).value();
  }

 private slots:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void matchesReference_data() {
    QTest::addColumn<int>("index");
    const auto cs = cases();
    for (size_t i = 0; i < cs.size(); ++i) QTest::newRow(cs[i].name) << static_cast<int>(i);
  }
  void matchesReference() {
    QFETCH(int, index);
    const Case c = cases()[static_cast<size_t>(index)];
    auto m = build(c);
    const model::ModelConfig& cfg = m->config();
    QCOMPARE(cfg.n_layer_dense_lead, c.spec.n_layer_dense_lead);
    QCOMPARE(cfg.mla, c.spec.arch == "deepseek2");
    QCOMPARE(cfg.n_ff_shexp, c.spec.n_ff * (c.spec.n_expert_shared ? c.spec.n_expert_shared : 1));
    // Dense layers hold no experts; the shared experts are dense bytes.
    QCOMPARE(m->weights().bytes_per_expert(0) == 0, c.spec.n_layer_dense_lead > 0);
    auto ref = ReferenceForward::create(m->file());
    QVERIFY2(ref.ok(), ref.status().message().c_str());
    const auto seq = spread_tokens(kPrompt + kDecode, c.spec.n_vocab, index + 40);
    auto cmp = compare_with_reference(*m, *ref.value(), seq, kPrompt, 2);
    QVERIFY2(cmp.ok(), cmp.status().message().c_str());
    const ReferenceComparison& r = cmp.value();
    qInfo("%s: %s", c.name, describe_comparison(r, false).c_str());
    QVERIFY(r.routes_complete);
    QCOMPARE(r.decisions, (c.spec.n_layer - c.spec.n_layer_dense_lead) * (kPrompt + kDecode));
    QVERIFY2(r.set_mismatches == 0, r.first_mismatch.c_str());
    QVERIFY2(r.logits_rel <= kRelTol, std::to_string(r.logits_rel).c_str());
    QVERIFY2(r.hidden_rel <= kRelTol, std::to_string(r.hidden_rel).c_str());
    QVERIFY2(r.probs_abs <= 1e-5, std::to_string(r.probs_abs).c_str());
    QVERIFY2(r.weights_abs <= 1e-5, std::to_string(r.weights_abs).c_str());

    // Control: the other top-k normalisation rule is noticed.
    RefOptions wrong;
    wrong.norm_topk = !cfg.expert_weights_norm;
    auto r2 = ReferenceForward::create(m->file(), wrong);
    QVERIFY(r2.ok());
    auto c2 = compare_with_reference(*m, *r2.value(), seq, kPrompt, 2);
    QVERIFY(c2.ok());
    QVERIFY2(c2->logits_rel > 100 * kRelTol, std::to_string(c2->logits_rel).c_str());
  }

  // Q8_0 weights: the reference decodes them and rounds activations to Q8_0 blocks where
  // llama.cpp's graph does. As in test_architectures.cpp, a float64 activation and the
  // engine's float32 one can fall on either side of a rounding boundary, so most positions,
  // not all, must agree to 1e-5.
  void q8_0MatchesReference_data() {
    QTest::addColumn<int>("index");
    const auto cs = q8_cases();
    for (size_t i = 0; i < cs.size(); ++i) QTest::newRow(cs[i].name) << static_cast<int>(i);
  }
  void q8_0MatchesReference() {
    QFETCH(int, index);
    const Case c = q8_cases()[static_cast<size_t>(index)];
    auto m = build(c);
    RefOptions o;
    o.emulate_ggml_activation_rounding = true;
    auto ref = ReferenceForward::create(m->file(), o);
    QVERIFY2(ref.ok(), ref.status().message().c_str());
    const auto seq = spread_tokens(kPrompt + kDecode, c.spec.n_vocab, index + 50);
    auto cmp = compare_with_reference(*m, *ref.value(), seq, kPrompt, 2);
    QVERIFY2(cmp.ok(), cmp.status().message().c_str());
    const ReferenceComparison& r = cmp.value();
    const int64_t close = positions_within(r, 1e-5);
    qInfo("%s: %s", c.name, describe_comparison(r, true).c_str());
    QVERIFY(r.routes_complete);
    QCOMPARE(r.decisions, (c.spec.n_layer - c.spec.n_layer_dense_lead) * (kPrompt + kDecode));
    QVERIFY2(r.logits_rel <= 2e-2, std::to_string(r.logits_rel).c_str());
    QVERIFY(close >= r.positions * 3 / 4);
    QVERIFY(r.set_mismatches <= r.decisions / 50);

    // Control: without the activation rounding hardly any position agrees to 1e-5, so the
    // rounding above (including the absorbed form's) is what makes the two agree.
    auto plain = ReferenceForward::create(m->file());
    QVERIFY(plain.ok());
    auto c2 = compare_with_reference(*m, *plain.value(), seq, kPrompt, 2);
    QVERIFY(c2.ok());
    const int64_t close2 = positions_within(*c2, 1e-5);
    QVERIFY2(close2 <= r.positions / 4, std::to_string(close2).c_str());
  }

  // dense_bytes counts what the engine keeps: a legacy attn_kv_b as its F32 rearrangement
  // (the file's Q8_0 tensor is only read at load), everything else as the file stores it.
  void legacyKvBDenseBytes() {
    Case c = q8_cases()[1];
    c.name = "deepseek2_q8_legacy";
    c.spec.mla_legacy_kv_b = true;
    auto m = build(c);
    const model::ModelConfig& cfg = m->config();
    QVERIFY(!cfg.mla_split_kv);
    uint64_t dense = 0, kv_b_file = 0, experts = 0;
    for (const gguf::TensorInfo& t : m->file().tensors()) {
      if (t.name.find("_exps.") != std::string::npos) {
        experts += t.n_bytes;
      } else if (t.name.find("attn_kv_b") != std::string::npos) {
        kv_b_file += t.n_bytes;
      } else {
        dense += t.n_bytes;
      }
    }
    // Per layer: n_head x (nope + v) rows of the latent's width, as F32.
    const uint64_t kv_b_f32 = 3ull * 4 * (32 + 32) * 64 * 4;
    QCOMPARE(kv_b_file, 3ull * 4 * (32 + 32) * 64 / 32 * 34);  // Q8_0: 34 bytes per 32
    QCOMPARE(m->weights().dense_bytes, dense + kv_b_f32);
    QCOMPARE(m->weights().expert_bytes, experts);
  }
};

QTEST_GUILESS_MAIN(TestArchitecturesDeepseek)
#include "test_architectures_deepseek.moc"
