// `emoe mkmodel --arch qwen2moe|qwen3moe|olmoe|llama` end to end: the files describe their
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
    QTest::newRow("architecture")
        << 0
        << "architecture 'deepseek3' is not supported (supported: deepseek, deepseek2, llama, "
           "olmoe, qwen2moe, qwen3moe)";
    QTest::newRow("tensor_type") << 1 << "which this engine cannot compute (supported: f32";
  }
  void unsupportedFilesStillShowMetadata() {
    QFETCH(int, which);
    QFETCH(QString, reason);
    const QString src = make("qwen2moe");
    const QString bad = dir_.filePath(QString("bad%1.gguf").arg(which));
    emoe::test::GgufEdit e;
    if (which == 0) {
      e.set_keys = {{"general.architecture", emoe::gguf::Value::string("deepseek3")}};
    } else {
      e.retype = {{"blk.1.ffn_down_shexp.weight", emoe::kernels::TensorType::IQ4_NL, {128, 64}}};
    }
    const emoe::Status st = emoe::test::copy_gguf_edited(src.toStdString(), bad.toStdString(), e);
    QVERIFY2(st.is_ok(), st.message().c_str());

    const CliRun text = emoe({"info", bad});
    QVERIFY2(text.code == 0, text.err.constData());
    QVERIFY(text.out.contains("qwen2moe.expert_shared_feed_forward_length"));
    QVERIFY(text.out.contains("blk.1.ffn_down_shexp.weight"));
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
