// Bad input for the qwen2moe, qwen3moe, olmoe, deepseek and deepseek2 loaders: a missing
// architecture-specific
// tensor or key, a wrong shape, an unsupported tensor type or architecture gives a Status that
// names what is wrong (never a crash), and the fallbacks llama.cpp has for absent keys
// (expert widths from feed_forward_length, tied output for qwen3moe) load and run. Also the
// synthetic-model spec rules each architecture adds.
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

#include "core/engine/engine.h"
#include "core/gguf/gguf_value.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "tests/support/gguf_edit.h"

using namespace emoe;
using emoe::test::GgufEdit;
using kernels::TensorType;

namespace {

// `which` is an architecture, or one of the deepseek2 variants below.
model::SyntheticModelSpec small(const std::string& which) {
  model::SyntheticModelSpec s;
  const std::string arch = which.rfind("deepseek2", 0) == 0 ? "deepseek2" : which;
  s.arch = arch;
  s.n_layer = 2;
  s.n_embd = 64;
  s.n_head = 4;
  s.n_head_kv = arch == "olmoe" ? 4 : 2;
  s.n_ff = 64;  // qwen2moe: shared expert 64 x top-2 = 128 wide
  s.n_expert = 4;
  s.n_expert_used = 2;
  s.n_vocab = 400;
  s.n_ctx = 128;
  s.seed = 3;
  s.n_threads = 2;
  if (arch.rfind("deepseek", 0) == 0) {
    // Layer 0 dense (ffn 128 wide), layer 1 MoE with one shared expert (64 wide). deepseek2:
    // heads of 8 nope + 8 rope, values 16, latent 32 (attn_kv_a_mqa [64, 40]).
    s.n_layer_dense_lead = 1;
    s.n_expert_shared = 1;
  }
  if (which == "deepseek2_legacy") s.mla_legacy_kv_b = true;  // attn_kv_b [32, 4 x (8 + 16)]
  if (which == "deepseek2_qlora") s.q_lora_rank = 16;
  if (which == "deepseek2_groups") {
    s.n_expert_groups = 2, s.n_group_used = 1;  // 2 groups of 2 experts, top-2 from one
    s.gating_sigmoid = s.exp_probs_b = true;
  }
  return s;
}

GgufEdit drop_tensor(const std::string& name) {
  GgufEdit e;
  e.drop_tensors = {name};
  return e;
}
GgufEdit drop_keys(std::vector<std::string> keys) {
  GgufEdit e;
  e.drop_keys = std::move(keys);
  return e;
}
GgufEdit set_key(const std::string& key, gguf::Value v) {
  GgufEdit e;
  e.set_keys = {{key, std::move(v)}};
  return e;
}
GgufEdit set_keys(std::vector<std::pair<std::string, gguf::Value>> kv) {
  GgufEdit e;
  e.set_keys = std::move(kv);
  return e;
}
GgufEdit retype(const std::string& name, TensorType type, std::vector<int64_t> ne) {
  GgufEdit e;
  e.retype = {{name, type, std::move(ne)}};
  return e;
}

struct BadCase {
  const char* name;
  const char* arch;
  GgufEdit edit;
  StatusCode code;
  const char* message;  // a part of the message
};

std::vector<BadCase> bad_cases() {
  const auto u32 = [](uint32_t v) { return gguf::Value::u32(v); };
  const auto nf = StatusCode::NotFound, bad = StatusCode::Corrupt, no = StatusCode::Unsupported;
  return {
      {"q2_no_q_bias", "qwen2moe", drop_tensor("blk.0.attn_q.bias"), nf,
       "qwen2moe: tensor 'blk.0.attn_q.bias' is missing"},
      {"q2_no_v_bias", "qwen2moe", drop_tensor("blk.1.attn_v.bias"), nf,
       "tensor 'blk.1.attn_v.bias' is missing"},
      {"q2_k_bias_shape", "qwen2moe", retype("blk.0.attn_k.bias", TensorType::F32, {64}), bad,
       "tensor 'blk.0.attn_k.bias' has shape [64], expected [32]"},
      {"q2_no_shexp_gate", "qwen2moe", drop_tensor("blk.0.ffn_gate_inp_shexp.weight"), nf,
       "qwen2moe shared expert: tensor 'blk.0.ffn_gate_inp_shexp.weight' is missing"},
      {"q2_no_shexp_down", "qwen2moe", drop_tensor("blk.1.ffn_down_shexp.weight"), nf,
       "tensor 'blk.1.ffn_down_shexp.weight' is missing"},
      {"q2_shexp_shape", "qwen2moe",
       retype("blk.0.ffn_up_shexp.weight", TensorType::F32, {64, 100}), bad,
       "tensor 'blk.0.ffn_up_shexp.weight' has shape [64, 100], expected [64, 128]"},
      {"q2_shexp_type", "qwen2moe",
       retype("blk.0.ffn_gate_shexp.weight", TensorType::IQ4_NL, {64, 128}), no,
       "which this engine cannot compute (supported: f32, f16"},
      {"q2_no_output", "qwen2moe", drop_tensor("output.weight"), nf,
       "tensor 'output.weight' is missing (qwen2moe"},
      {"q2_no_expert_count", "qwen2moe", drop_keys({"qwen2moe.expert_count"}), bad,
       "metadata 'qwen2moe.expert_count' is missing or 0"},
      {"q2_no_eps", "qwen2moe", drop_keys({"qwen2moe.attention.layer_norm_rms_epsilon"}), nf,
       "metadata 'qwen2moe.attention.layer_norm_rms_epsilon' is missing"},
      {"q2_no_widths", "qwen2moe",
       drop_keys({"qwen2moe.expert_feed_forward_length", "qwen2moe.feed_forward_length"}), nf,
       "metadata 'qwen2moe.expert_feed_forward_length' is missing"},
      {"q2_shared_width_mismatch", "qwen2moe",
       set_key("qwen2moe.expert_shared_feed_forward_length", u32(96)), bad,
       "tensor 'blk.0.ffn_gate_shexp.weight' has shape [64, 128], expected [64, 96]"},
      {"q2_partial_rope", "qwen2moe", set_key("qwen2moe.rope.dimension_count", u32(8)), no,
       "must equal the head size (16)"},
      {"q2_key_length", "qwen2moe", set_key("qwen2moe.attention.key_length", u32(32)), no,
       "must equal embedding_length (64)"},
      {"q3_no_q_norm", "qwen3moe", drop_tensor("blk.0.attn_q_norm.weight"), nf,
       "qwen3moe: tensor 'blk.0.attn_q_norm.weight' is missing"},
      {"q3_k_norm_whole", "qwen3moe", retype("blk.1.attn_k_norm.weight", TensorType::F32, {32}),
       bad, "tensor 'blk.1.attn_k_norm.weight' has shape [32], expected [16]"},
      {"q3_no_experts", "qwen3moe", set_key("qwen3moe.expert_count", u32(0)), bad,
       "qwen3moe is a mixture-of-experts architecture"},
      {"q3_top_k", "qwen3moe", set_key("qwen3moe.expert_used_count", u32(5)), bad,
       "expert_used_count (5) must be in 1..4"},
      {"q3_router_shape", "qwen3moe", retype("blk.0.ffn_gate_inp.weight", TensorType::F32, {64, 3}),
       bad, "tensor 'blk.0.ffn_gate_inp.weight' has shape [64, 3], expected [64, 4]"},
      {"olmoe_k_norm_per_head", "olmoe", retype("blk.0.attn_k_norm.weight", TensorType::F32, {16}),
       bad, "tensor 'blk.0.attn_k_norm.weight' has shape [16], expected [64]"},
      {"olmoe_no_q_norm", "olmoe", drop_tensor("blk.1.attn_q_norm.weight"), nf,
       "olmoe: tensor 'blk.1.attn_q_norm.weight' is missing"},
      {"olmoe_no_output", "olmoe", drop_tensor("output.weight"), nf,
       "tensor 'output.weight' is missing (olmoe"},
      {"olmoe_no_ff", "olmoe", drop_keys({"olmoe.feed_forward_length"}), nf,
       "metadata 'olmoe.feed_forward_length' is missing"},
      // deepseek (base: deepseek) and deepseek2 (base: deepseek2, split attn_k_b / attn_v_b;
      // deepseek2_legacy: attn_kv_b; deepseek2_qlora: low-rank Q; deepseek2_groups: grouped
      // sigmoid routing with a selection bias).
      {"ds_dense_lead_over", "deepseek", set_key("deepseek.leading_dense_block_count", u32(3)), bad,
       "metadata 'deepseek.leading_dense_block_count' (3) exceeds block_count (2)"},
      {"ds_no_dense_ffn", "deepseek", drop_tensor("blk.0.ffn_down.weight"), nf,
       "deepseek dense FFN: tensor 'blk.0.ffn_down.weight' is missing"},
      {"ds_no_dense_width", "deepseek", drop_keys({"deepseek.feed_forward_length"}), nf,
       "metadata 'deepseek.feed_forward_length' is missing (the dense FFN width)"},
      {"ds_no_shexp", "deepseek", drop_tensor("blk.1.ffn_down_shexp.weight"), nf,
       "deepseek shared expert: tensor 'blk.1.ffn_down_shexp.weight' is missing"},
      {"ds_shexp_count", "deepseek", set_key("deepseek.expert_shared_count", u32(2)), bad,
       "tensor 'blk.1.ffn_gate_shexp.weight' has shape [64, 64], expected [64, 128]"},
      {"ds_no_shexp_count", "deepseek", drop_keys({"deepseek.expert_shared_count"}), nf,
       "metadata 'deepseek.expert_shared_count' is missing"},
      {"ds_no_expert_width", "deepseek", drop_keys({"deepseek.expert_feed_forward_length"}), nf,
       "metadata 'deepseek.expert_feed_forward_length' is missing"},
      {"ds_partial_rope", "deepseek", set_key("deepseek.rope.dimension_count", u32(8)), no,
       "must equal the head size (16)"},
      {"ds_no_output", "deepseek", drop_tensor("output.weight"), nf,
       "tensor 'output.weight' is missing (deepseek"},
      {"ds2_kv_lora_zero", "deepseek2", set_key("deepseek2.attention.kv_lora_rank", u32(0)), bad,
       "metadata 'deepseek2.attention.kv_lora_rank' must be positive, got 0"},
      {"ds2_no_kv_lora", "deepseek2", drop_keys({"deepseek2.attention.kv_lora_rank"}), nf,
       "metadata 'deepseek2.attention.kv_lora_rank' is missing"},
      {"ds2_kv_lora_huge", "deepseek2", set_key("deepseek2.attention.kv_lora_rank", u32(1u << 30)),
       bad, "metadata 'deepseek2.attention.kv_lora_rank' = 1073741824 is out of range"},
      {"ds2_kv_lora_mismatch", "deepseek2", set_key("deepseek2.attention.kv_lora_rank", u32(24)),
       bad, "tensor 'blk.0.attn_kv_a_mqa.weight' has shape [64, 40], expected [64, 32]"},
      {"ds2_dense_lead_over", "deepseek2", set_key("deepseek2.leading_dense_block_count", u32(5)),
       bad, "metadata 'deepseek2.leading_dense_block_count' (5) exceeds block_count (2)"},
      {"ds2_gating_func", "deepseek2", set_key("deepseek2.expert_gating_func", u32(3)), no,
       "metadata 'deepseek2.expert_gating_func' = 3 is not supported (1: softmax, 2: sigmoid)"},
      {"ds2_no_kv_a_mqa", "deepseek2", drop_tensor("blk.0.attn_kv_a_mqa.weight"), nf,
       "deepseek2 latent attention: tensor 'blk.0.attn_kv_a_mqa.weight' is missing"},
      {"ds2_kv_a_mqa_width", "deepseek2",
       retype("blk.1.attn_kv_a_mqa.weight", TensorType::F32, {64, 32}), bad,
       "tensor 'blk.1.attn_kv_a_mqa.weight' has shape [64, 32], expected [64, 40]"},
      {"ds2_kv_a_mqa_type", "deepseek2",
       retype("blk.1.attn_kv_a_mqa.weight", TensorType::IQ4_NL, {64, 40}), no,
       "tensor 'blk.1.attn_kv_a_mqa.weight' has type iq4_nl, which this engine cannot compute"},
      {"ds2_no_kv_a_norm", "deepseek2", drop_tensor("blk.1.attn_kv_a_norm.weight"), nf,
       "deepseek2 latent attention: tensor 'blk.1.attn_kv_a_norm.weight' is missing"},
      {"ds2_kv_a_norm_shape", "deepseek2",
       retype("blk.0.attn_kv_a_norm.weight", TensorType::F32, {40}), bad,
       "tensor 'blk.0.attn_kv_a_norm.weight' has shape [40], expected [32]"},
      {"ds2_no_k_b", "deepseek2", drop_tensor("blk.0.attn_k_b.weight"), nf,
       "tensor 'blk.0.attn_k_b.weight' is missing"},
      {"ds2_k_b_shape", "deepseek2", retype("blk.0.attn_k_b.weight", TensorType::F32, {8, 16, 4}),
       bad, "tensor 'blk.0.attn_k_b.weight' has shape [8, 16, 4], expected [8, 32, 4]"},
      {"ds2_no_v_b", "deepseek2", drop_tensor("blk.1.attn_v_b.weight"), nf,
       "tensor 'blk.1.attn_v_b.weight' is missing"},
      {"ds2_half_split_keys", "deepseek2", drop_keys({"deepseek2.attention.value_length_mla"}), nf,
       "metadata 'deepseek2.attention.value_length_mla' is missing"},
      {"ds2_rope_whole_head", "deepseek2", set_key("deepseek2.rope.dimension_count", u32(16)), bad,
       "rope.dimension_count (16) must be even and smaller than the key head size (16)"},
      {"ds2_no_rope_dim", "deepseek2", drop_keys({"deepseek2.rope.dimension_count"}), nf,
       "metadata 'deepseek2.rope.dimension_count' is missing"},
      {"ds2_legacy_no_kv_b", "deepseek2_legacy", drop_tensor("blk.1.attn_kv_b.weight"), nf,
       "deepseek2 latent attention: tensor 'blk.1.attn_kv_b.weight' is missing"},
      {"ds2_legacy_kv_b_shape", "deepseek2_legacy",
       retype("blk.0.attn_kv_b.weight", TensorType::F32, {32, 90}), bad,
       "tensor 'blk.0.attn_kv_b.weight' has shape [32, 90], expected [32, 96]"},
      {"ds2_qlora_no_q_a_norm", "deepseek2_qlora", drop_tensor("blk.1.attn_q_a_norm.weight"), nf,
       "deepseek2 latent attention: tensor 'blk.1.attn_q_a_norm.weight' is missing"},
      {"ds2_qlora_no_q_b", "deepseek2_qlora", drop_tensor("blk.0.attn_q_b.weight"), nf,
       "tensor 'blk.0.attn_q_b.weight' is missing"},
      {"ds2_qlora_rank_dropped", "deepseek2_qlora", drop_keys({"deepseek2.attention.q_lora_rank"}),
       nf, "tensor 'blk.0.attn_q.weight' is missing"},
      {"ds2_no_shexp", "deepseek2", drop_tensor("blk.1.ffn_up_shexp.weight"), nf,
       "deepseek2 shared expert: tensor 'blk.1.ffn_up_shexp.weight' is missing"},
      {"ds2_shexp_count_zero", "deepseek2", set_key("deepseek2.expert_shared_count", u32(0)), bad,
       "metadata 'deepseek2.expert_shared_count' = 0: deepseek2 has at least one shared expert"},
      {"ds2_no_dense_ffn", "deepseek2", drop_tensor("blk.0.ffn_gate.weight"), nf,
       "deepseek2 dense FFN: tensor 'blk.0.ffn_gate.weight' is missing"},
      {"ds2_dense_ffn_shape", "deepseek2", retype("blk.0.ffn_up.weight", TensorType::F32, {64, 64}),
       bad, "tensor 'blk.0.ffn_up.weight' has shape [64, 64], expected [64, 128]"},
      {"ds2_group_used_over", "deepseek2_groups",
       set_key("deepseek2.expert_group_used_count", u32(3)), bad,
       "metadata 'deepseek2.expert_group_used_count' (3) must be in 1..2"},
      {"ds2_group_used_zero", "deepseek2_groups", drop_keys({"deepseek2.expert_group_used_count"}),
       bad, "metadata 'deepseek2.expert_group_used_count' (0) must be in 1..2"},
      {"ds2_group_count", "deepseek2_groups", set_key("deepseek2.expert_group_count", u32(3)), bad,
       "metadata 'deepseek2.expert_group_count' (3) must divide expert_count (4)"},
      {"ds2_probs_bias_shape", "deepseek2_groups",
       retype("blk.1.exp_probs_b.bias", TensorType::F32, {3}), bad,
       "tensor 'blk.1.exp_probs_b.bias' has shape [3], expected [4]"},
      {"ds2_rope_scaling_type", "deepseek2",
       set_keys({{"deepseek2.rope.scaling.type", gguf::Value::string("longrope")},
                 {"deepseek2.rope.scaling.factor", gguf::Value::f32(4.0f)}}),
       no, "rope scaling type 'longrope' is not supported for deepseek2 (supported: linear, yarn)"},
      {"unsupported_arch", "qwen3moe",
       set_key("general.architecture", gguf::Value::string("deepseek3")), no,
       "architecture 'deepseek3' is not supported (supported: deepseek, deepseek2, llama, "
       "olmoe, qwen2moe, qwen3moe)"},
  };
}

// One decode step over a short prompt: the loaded model must also run.
Status runs(const model::Model& m) {
  auto e = engine::Engine::create(m, {});
  if (!e.ok()) return e.status();
  auto seq = (*e)->new_sequence();
  if (!seq.ok()) return seq.status();
  engine::Batch b;
  for (int32_t i = 0; i < 4; ++i) b.push_back({5 + 7 * i, *seq, i, i == 3});
  std::vector<float> logits;
  EMOE_RETURN_IF_ERROR((*e)->decode(b, &logits));
  for (float v : logits) {
    if (!std::isfinite(v)) return internal_error("non-finite logit");
  }
  return Status::ok();
}

}  // namespace

class TestArchitectureErrors : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;
  std::string base(const std::string& arch) {
    const std::string p = tmp_.filePath(QString::fromStdString(arch) + ".gguf").toStdString();
    if (!QFile::exists(QString::fromStdString(p))) {
      const Status st = model::write_synthetic_model(small(arch), p);
      if (!st.is_ok()) qFatal("%s", st.message().c_str());
    }
    return p;
  }

 private slots:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void refusesBadFiles_data() {
    QTest::addColumn<int>("index");
    const auto cases = bad_cases();
    for (size_t i = 0; i < cases.size(); ++i) QTest::newRow(cases[i].name) << int(i);
  }
  void refusesBadFiles() {
    QFETCH(int, index);
    const BadCase c = bad_cases()[static_cast<size_t>(index)];
    const std::string path = tmp_.filePath(QString(c.name) + ".gguf").toStdString();
    const Status cp = test::copy_gguf_edited(base(c.arch), path, c.edit);
    QVERIFY2(cp.is_ok(), cp.message().c_str());
    auto m = model::Model::load(path);
    QVERIFY(!m.ok());
    const std::string& msg = m.status().message();
    QVERIFY2(msg.find(c.message) != std::string::npos, msg.c_str());
    QVERIFY2(m.status().code() == c.code, msg.c_str());
    QVERIFY2(msg.find(path) != std::string::npos, "the message names the file");
  }

  // llama.cpp's fallbacks for absent keys, and qwen3moe's tied output, load and run.
  void fallbacksLoad_data() {
    QTest::addColumn<QString>("arch");
    QTest::addColumn<int>("which");
    QTest::newRow("q2_expert_width_from_ff") << "qwen2moe" << 0;
    QTest::newRow("q2_shared_width_from_ff") << "qwen2moe" << 1;
    QTest::newRow("q3_expert_width_from_ff") << "qwen3moe" << 2;
    QTest::newRow("q3_tied_output") << "qwen3moe" << 3;
  }
  void fallbacksLoad() {
    QFETCH(QString, arch);
    QFETCH(int, which);
    const std::string a = arch.toStdString();
    GgufEdit e;
    switch (which) {
      case 0:
      case 2:
        e = drop_keys({a + ".expert_feed_forward_length"});  // 128 / top-2 = 64
        break;
      case 1:
        e = drop_keys({a + ".expert_shared_feed_forward_length"});  // feed_forward_length 128
        break;
      case 3:
        e = drop_tensor("output.weight");
        break;
    }
    const std::string path = tmp_.filePath(QString("fb%1.gguf").arg(which)).toStdString();
    QVERIFY(test::copy_gguf_edited(base(a), path, e).is_ok());
    auto m = model::Model::load(path);
    QVERIFY2(m.ok(), m.status().message().c_str());
    QCOMPARE((*m)->config().n_ff_exp, int64_t{64});
    if (a == "qwen2moe") QCOMPARE((*m)->config().n_ff_shexp, int64_t{128});
    if (which == 3) QVERIFY((*m)->weights().output.data == (*m)->weights().token_embd.data);
    const Status st = runs(**m);
    QVERIFY2(st.is_ok(), st.message().c_str());
  }

  void specRules_data() {
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("message");
    QTest::newRow("unknown") << 0
                             << "arch 'mixtral' is not supported (supported: deepseek, "
                                "deepseek2, llama, olmoe, qwen2moe, qwen3moe)";
    QTest::newRow("dense_qwen") << 1 << "arch qwen2moe is a mixture-of-experts architecture";
    QTest::newRow("olmoe_gqa") << 2 << "arch olmoe needs n_head_kv = n_head (4)";
    QTest::newRow("q2_head_dim") << 3 << "arch qwen2moe needs head_dim = n_embd / n_head (16)";
    QTest::newRow("llama_shexp") << 4 << "n_ff_shexp: arch llama has no shared expert";
    QTest::newRow("q3_partial_rope") << 5 << "arch qwen3moe rotates whole heads";
    QTest::newRow("q3_odd_head") << 6 << "head_dim = 33 must be even";
    QTest::newRow("q2_q8_shexp") << 7 << "needs the shared expert width (100) to be a multiple";
    QTest::newRow("q3_q8_heads") << 8 << "needs n_head * head_dim (72) to be a multiple";
  }
  void specRules() {
    QFETCH(int, which);
    QFETCH(QString, message);
    model::SyntheticModelSpec s = small("qwen2moe");
    switch (which) {
      case 0:
        s.arch = "mixtral";
        break;
      case 1:
        s.n_expert = 0;
        break;
      case 2:
        s.arch = "olmoe", s.n_head_kv = 2;
        break;
      case 3:
        s.head_dim = 32;
        break;
      case 4:
        s.arch = "llama", s.n_ff_shexp = 64;
        break;
      case 5:
        s.arch = "qwen3moe", s.n_rot = 8;
        break;
      case 6:
        s.arch = "qwen3moe", s.head_dim = 33;
        break;
      case 7:
        s.weight_type = TensorType::Q8_0, s.n_ff_shexp = 100;
        break;
      case 8:
        s.arch = "qwen3moe", s.weight_type = TensorType::Q8_0, s.head_dim = 18;
        break;
    }
    const Status st = model::validate_synthetic_spec(s);
    QCOMPARE(st.code(), StatusCode::InvalidArgument);
    QVERIFY2(st.message().find(message.toStdString()) != std::string::npos, st.message().c_str());
  }
};

QTEST_GUILESS_MAIN(TestArchitectureErrors)
#include "test_architecture_errors.moc"
