// `emoe mkmodel --arch qwen2moe|qwen3moe|olmoe|llama|deepseek|deepseek2` end to end: the
// files describe their
// architecture in `emoe info`, generate text, page experts under a budget with fallback
// routing; an unsupported architecture or tensor type is refused with a message listing what
// is supported while `emoe info` still prints the file's metadata.
#include <QJsonArray>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include "core/gguf/gguf_value.h"
#include "tests/support/cli_runner.h"
#include "tests/support/gguf_edit.h"

namespace {

using emoe::test::CliRun;

const QStringList kShape = {"--layers",  "2", "--embd",  "64", "--heads", "4",  "--ff", "64",
                            "--experts", "4", "--top-k", "2",  "--vocab", "512"};

}  // namespace

class TestCliMkmodelArch : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;
  CliRun emoe(const QStringList& args) { return emoe::test::run_cli(args, dir_.filePath("xdg")); }
  QString make(const QString& arch, const QStringList& extra = {}) {
    const QString out = dir_.filePath(arch + QString::number(qHash(extra.join(' '))) + ".gguf");
    const CliRun r = emoe(QStringList{"mkmodel", "--arch", arch, "--out", out} + kShape + extra);
    if (r.code != 0) qWarning("mkmodel: %s", r.err.constData());
    return out;
  }

 private slots:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void eachArchitecture_data() {
    QTest::addColumn<QString>("arch");
    QTest::addColumn<bool>("neox");
    QTest::addColumn<QString>("qk_norm");
    QTest::addColumn<int>("n_ff_shexp");
    QTest::newRow("llama") << "llama" << false << "none" << 0;
    QTest::newRow("qwen2moe") << "qwen2moe" << true << "none" << 128;  // --ff x --top-k
    QTest::newRow("qwen3moe") << "qwen3moe" << true << "per_head" << 0;
    QTest::newRow("olmoe") << "olmoe" << true << "whole" << 0;
  }
  void eachArchitecture() {
    QFETCH(QString, arch);
    QFETCH(bool, neox);
    QFETCH(QString, qk_norm);
    QFETCH(int, n_ff_shexp);
    for (const QString type : {"f32", "q8_0"}) {
      const QString model = make(arch, {"--type", type});
      const CliRun info = emoe({"info", model, "--json"});
      QVERIFY2(info.code == 0, info.err.constData());
      const QJsonObject j = info.json();
      QCOMPARE(j["arch"].toString(), arch);
      // Metadata values print as they display: strings quoted.
      QCOMPARE(j["metadata"].toObject()["general.architecture"].toString(), '"' + arch + '"');
      const QJsonObject hp = j["hparams"].toObject();
      QCOMPARE(hp["rope_neox"].toBool(), neox);
      QCOMPARE(hp["qk_norm"].toString(), qk_norm);
      QCOMPARE(hp["n_ff_shexp"].toInt(), n_ff_shexp);
      QCOMPARE(hp["n_ff_exp"].toInt(), 64);
      // llama.cpp's olmoe has no grouped-query attention: kv heads follow --heads.
      QCOMPARE(hp["n_head_kv"].toInt(), arch == "olmoe" ? 4 : 2);
      const CliRun text = emoe({"info", model});
      QCOMPARE(text.code, 0);
      QVERIFY(text.out.contains("semantics:"));

      const CliRun gen = emoe({"generate", "-m", model, "-p", "The river was quiet", "-n", "4",
                               "--ignore-eos", "--json"});
      QVERIFY2(gen.code == 0, gen.err.constData());
      QCOMPARE(gen.json()["generated_tokens"].toArray().size(), 4);
      const CliRun paged =
          emoe({"generate", "-m", model, "-p", "The river was quiet", "-n", "4", "--ignore-eos",
                "--json", "--budget", "3e", "--routing", "fallback"});
      QVERIFY2(paged.code == 0, paged.err.constData());
      QCOMPARE(paged.json()["paging"].toObject()["routing"].toString(), QString("fallback"));
    }
  }

  // DeepSeek at mkmodel's default shapes (4 layers, the first dense; 8 experts, top-2; one
  // shared expert; deepseek2: latent 64, heads 16 nope + 16 rope), in F32 and Q4_K_M.
  void deepseekArchitectures_data() {
    QTest::addColumn<QString>("arch");
    QTest::addColumn<QString>("type");
    for (const char* a : {"deepseek", "deepseek2"}) {
      for (const char* t : {"f32", "q4_k_m"}) {
        QTest::newRow((std::string(a) + "_" + t).c_str()) << QString(a) << QString(t);
      }
    }
  }
  void deepseekArchitectures() {
    QFETCH(QString, arch);
    QFETCH(QString, type);
    const bool mla = arch == "deepseek2";
    const QString model = dir_.filePath(arch + "_" + type + ".gguf");
    const CliRun mk = emoe({"mkmodel", "--arch", arch, "--type", type, "--out", model});
    QVERIFY2(mk.code == 0, mk.err.constData());

    const CliRun info = emoe({"info", model, "--json"});
    QVERIFY2(info.code == 0, info.err.constData());
    const QJsonObject j = info.json();
    QCOMPARE(j["arch"].toString(), arch);
    QCOMPARE(j["loadable"].toBool(), true);
    const QJsonObject hp = j["hparams"].toObject();
    QCOMPARE(hp["n_layer"].toInt(), 4);
    QCOMPARE(hp["n_expert"].toInt(), 8);
    QCOMPARE(hp["n_expert_used"].toInt(), 2);
    QCOMPARE(hp["n_expert_shared"].toInt(), 1);
    QCOMPARE(hp["n_ff_shexp"].toInt(), 256);  // one shared expert of the routed width
    QCOMPARE(hp["n_layer_dense_lead"].toInt(), 1);
    QCOMPARE(hp["n_ff"].toInt(), 512);  // the dense layer's width
    QCOMPARE(hp["rope_neox"].toBool(), false);
    QCOMPARE(hp["mla"].toBool(), mla);
    const QJsonObject meta = j["metadata"].toObject();
    QCOMPARE(meta[arch + ".leading_dense_block_count"].toString(), QString("1"));
    if (mla) {
      QCOMPARE(hp["n_lora_kv"].toInt(), 64);
      QCOMPARE(hp["n_lora_q"].toInt(), 0);
      QCOMPARE(hp["n_embd_head"].toInt(), 32);
      QCOMPARE(hp["n_rot"].toInt(), 16);
      QCOMPARE(hp["kv_elems_per_token_layer"].toInt(), 64 + 16);
      QCOMPARE(meta["deepseek2.attention.kv_lora_rank"].toString(), QString("64"));
    } else {
      QVERIFY(!hp.contains("n_lora_kv"));
      QCOMPARE(hp["n_head_kv"].toInt(), 2);
    }
    // Layer 0 is dense: the per-expert size is a MoE layer's.
    QVERIFY(j["bytes_per_expert"].toInteger() > 0);
    QStringList types;
    for (const auto& t : j["tensors"].toArray()) types << t.toObject()["type"].toString();
    QVERIFY2(types.contains(type == "f32" ? "f32" : "q4_K"), qPrintable(types.join(' ')));
    if (type != "f32") QVERIFY(types.contains("q6_K"));

    const CliRun text = emoe({"info", model});
    QVERIFY2(text.code == 0, text.err.constData());
    QVERIFY2(text.out.contains("1 leading dense layers (n_ff 512)") &&
                 text.out.contains("1 shared experts n_ff_shexp 256 (ungated, dense)") &&
                 text.out.contains("(3 x 8 experts"),
             text.out.constData());
    QCOMPARE(text.out.contains("latent attention: kv_lora_rank 64, q_lora_rank 0, heads 16 nope "
                               "+ 16 rope, values 32, K/V from attn_k_b/attn_v_b, KV cache 80 "
                               "elements per token and layer"),
             mla);

    const CliRun gen = emoe({"generate", "-m", model, "-p", "The river was quiet", "-n", "5",
                             "--ignore-eos", "--json"});
    QVERIFY2(gen.code == 0, gen.err.constData());
    QCOMPARE(gen.json()["generated_tokens"].toArray().size(), 5);
    const CliRun paged =
        emoe({"generate", "-m", model, "-p", "The river was quiet", "-n", "3", "--ignore-eos",
              "--json", "--budget", "3e", "--routing", "fallback"});
    QVERIFY2(paged.code == 0, paged.err.constData());
    QCOMPARE(paged.json()["generated_tokens"].toArray().size(), 3);
  }

  // deepseek2's options reach the file and `emoe info`: low-rank Q, legacy attn_kv_b, grouped
  // sigmoid routing with a scale, YaRN.
  void deepseek2Options() {
    const QString model =
        make("deepseek2", {"--q-lora", "32", "--kv-lora", "48", "--legacy-kv-b", "--gating",
                           "sigmoid", "--expert-groups", "2", "--groups-used", "1",
                           "--weights-scale", "2.5", "--yarn-factor", "4"});
    const CliRun info = emoe({"info", model, "--json"});
    QVERIFY2(info.code == 0, info.err.constData());
    const QJsonObject hp = info.json()["hparams"].toObject();
    QCOMPARE(hp["n_lora_q"].toInt(), 32);
    QCOMPARE(hp["n_lora_kv"].toInt(), 48);
    QCOMPARE(hp["mla_split_kv"].toBool(), false);
    QCOMPARE(hp["gating"].toString(), QString("sigmoid"));
    QCOMPARE(hp["n_expert_groups"].toInt(), 2);
    QCOMPARE(hp["n_group_used"].toInt(), 1);
    QCOMPARE(hp["expert_weights_scale"].toDouble(), 2.5);
    QCOMPARE(hp["rope_scaling"].toString(), QString("yarn"));
    const CliRun text = emoe({"info", model});
    QVERIFY2(text.out.contains("router sigmoid in 2 groups (best 1 used), weights x 2.5") &&
                 text.out.contains("kv_lora_rank 48, q_lora_rank 32") &&
                 text.out.contains("attn_kv_b (legacy, rearranged to F32)") &&
                 text.out.contains("YaRN rope (factor 4"),
             text.out.constData());
    const CliRun gen = emoe({"generate", "-m", model, "-p", "x", "-n", "2", "--ignore-eos"});
    QVERIFY2(gen.code == 0, gen.err.constData());
  }

  void qwen3HeadDim() {
    const QString model = make("qwen3moe", {"--head-dim", "32"});
    const CliRun info = emoe({"info", model, "--json"});
    QVERIFY2(info.code == 0, info.err.constData());
    QCOMPARE(info.json()["hparams"].toObject()["n_embd_head"].toInt(), 32);
    QCOMPARE(info.json()["metadata"].toObject()["qwen3moe.attention.key_length"].toString(),
             QString("32"));
  }

  void badArchOption() {
    const CliRun r = emoe(
        QStringList{"mkmodel", "--arch", "mixtral", "--out", dir_.filePath("x.gguf")} + kShape);
    QVERIFY(r.code != 0);
    const QByteArray msg = r.err.trimmed();
    QVERIFY2(!msg.contains('\n') && msg.contains("qwen2moe") && msg.contains("olmoe"),
             msg.constData());
    const CliRun g = emoe(QStringList{"mkmodel", "--arch", "olmoe", "--kv-heads", "2", "--out",
                                      dir_.filePath("y.gguf")} +
                          kShape);
    QVERIFY(g.code != 0);
    QVERIFY2(g.err.contains("n_head_kv = n_head"), g.err.constData());
  }

  // Not loadable, still described: info prints metadata and tensors, and why it cannot run.
  void unsupportedFilesStillShowMetadata_data() {
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("reason");
    const char* arch_reason =
        "architecture 'deepseek3' is not supported (supported: deepseek, deepseek2, llama, "
        "olmoe, qwen2moe, qwen3moe)";
    QTest::newRow("architecture") << 0 << arch_reason;
    QTest::newRow("tensor_type") << 1 << "which this engine cannot compute (supported: f32";
    QTest::newRow("deepseek2_architecture") << 2 << arch_reason;
    QTest::newRow("deepseek2_tensor_type")
        << 3
        << "tensor 'blk.1.attn_kv_a_mqa.weight' has type iq4_nl, which this engine cannot "
           "compute (supported: f32";
  }
  void unsupportedFilesStillShowMetadata() {
    QFETCH(int, which);
    QFETCH(QString, reason);
    const bool ds = which >= 2;
    const QString src = ds ? make("deepseek2", {"--dense-layers", "1"}) : make("qwen2moe");
    const QString bad = dir_.filePath(QString("bad%1.gguf").arg(which));
    emoe::test::GgufEdit e;
    if (which == 0 || which == 2) {
      e.set_keys = {{"general.architecture", emoe::gguf::Value::string("deepseek3")}};
    } else if (which == 1) {
      e.retype = {{"blk.1.ffn_down_shexp.weight", emoe::kernels::TensorType::IQ4_NL, {128, 64}}};
    } else {  // attn_kv_a_mqa [n_embd, kv_lora + rope] = [64, 32 + 8]
      e.retype = {{"blk.1.attn_kv_a_mqa.weight", emoe::kernels::TensorType::IQ4_NL, {64, 40}}};
    }
    const emoe::Status st = emoe::test::copy_gguf_edited(src.toStdString(), bad.toStdString(), e);
    QVERIFY2(st.is_ok(), st.message().c_str());

    const CliRun text = emoe({"info", bad});
    QVERIFY2(text.code == 0, text.err.constData());
    QVERIFY(text.out.contains(ds ? "deepseek2.attention.kv_lora_rank"
                                 : "qwen2moe.expert_shared_feed_forward_length"));
    QVERIFY(text.out.contains(ds ? "blk.1.attn_kv_a_mqa.weight" : "blk.1.ffn_down_shexp.weight"));
    QVERIFY2(
        text.out.contains(("not loadable by this engine: ")) && text.out.contains(reason.toUtf8()),
        text.out.constData());
    const CliRun json = emoe({"info", bad, "--json"});
    QCOMPARE(json.code, 0);
    QCOMPARE(json.json()["loadable"].toBool(), false);
    QVERIFY(json.json()["error"].toString().contains(reason));
    QVERIFY(json.json()["metadata"].toObject().contains("general.architecture"));

    const CliRun gen = emoe({"generate", "-m", bad, "-p", "x", "-n", "2"});
    QVERIFY(gen.code != 0);
    QVERIFY2(gen.err.contains(reason.toUtf8()) && !gen.err.trimmed().contains('\n'),
             gen.err.constData());
  }
};

QTEST_GUILESS_MAIN(TestCliMkmodelArch)
#include "test_cli_mkmodel_arch.moc"
