// deepseek (DeepSeek-MoE) and deepseek2 (DeepSeek-V2 latent attention, V3-style routing keys)
// as llama.cpp runs them: generated F32 models against the independent float64 reference
// (tests/support/reference_forward + reference_mla, the latter in llama.cpp's decompressed MHA
// form while the engine attends in the absorbed latent form), with dense leading layers,
// ungated shared experts, both attn_k_b/attn_v_b and legacy attn_kv_b files, low-rank Q,
// sigmoid gating with selection bias, grouped top-k, weight norm and scale, and YaRN.
#include <QTemporaryDir>
#include <QtTest>
#include <memory>

#include "core/gguf/gguf_file.h"
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
    qInfo(
        "%s: logits normalised error %.3g, hidden %.3g, probs %.3g, weights %.3g; %lld "
        "decisions, %lld set mismatches, min margin %.3g",
        c.name, r.logits_rel, r.hidden_rel, r.probs_abs, r.weights_abs,
        static_cast<long long>(r.decisions), static_cast<long long>(r.set_mismatches),
        r.min_margin);
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
};

QTEST_GUILESS_MAIN(TestArchitecturesDeepseek)
#include "test_architectures_deepseek.moc"
