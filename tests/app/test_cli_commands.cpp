// End-to-end tests of the `emoe` binary: exit codes, help, one-line errors, and its outputs
// against the llama.cpp fixtures (independent reference) where a command computes something.
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <set>

#include "tests/support/cli_runner.h"
#include "tests/support/fixture_reader.h"

namespace {

using Run = emoe::test::CliRun;

Run run_emoe(const QStringList& args, int timeout_ms = 120000) {
  return emoe::test::run_cli(args, QString(), timeout_ms);
}

QString data(const char* rel) { return QStringLiteral(EMOE_TEST_DATA_DIR "/") + rel; }
const char* kA1 = "tiny-mixtral-f32/model.gguf";

QJsonObject json_of(const Run& r) { return r.json(); }

}  // namespace

class TestCliCommands : public QObject {
  Q_OBJECT

 private slots:
  void help_for_every_command() {
    Run top = run_emoe({"--help"});
    QCOMPARE(top.code, 0);
    for (const char* cmd :
         {"info", "generate", "logits", "trace", "perplexity", "mkmodel", "bench"}) {
      QVERIFY2(top.out.contains(cmd), cmd);
      Run r = run_emoe({cmd, "--help"});
      QCOMPARE(r.code, 0);
      QVERIFY2(r.out.toLower().contains("usage"), cmd);
    }
  }

  void bad_arguments_give_one_line_errors() {
    const QList<QStringList> cases = {
        {"nosuchcommand"},
        {"generate", "-p", "x"},  // missing -m
        {"generate", "-m", data(kA1), "-p", "x", "--threads", "abc"},
        {"info", "/nonexistent/model.gguf"},
        {"info", data("FIXTURES_README.md")},  // not a GGUF file
        {"logits", "-m", data(kA1), "-p", "x", "--out", "/nonexistent-dir/x.bin"},
        {"mkmodel", "--out", "/tmp/x.gguf", "--type", "q9_9"},
        {"bench", "-m", data(kA1), "--threads", "0"},
    };
    for (const QStringList& args : cases) {
      Run r = run_emoe(args);
      QVERIFY2(r.code != 0, qPrintable(args.join(' ')));
      const QByteArray msg = r.err.trimmed();
      QVERIFY2(!msg.isEmpty() && !msg.contains('\n'), qPrintable(args.join(' ') + ": " + msg));
    }
  }

  void info_reports_hand_checked_sizes() {
    Run r = run_emoe({"info", data(kA1), "--json"});
    QCOMPARE(r.code, 0);
    const QJsonObject o = json_of(r);
    QCOMPARE(o["tensors"].toArray().size(), 43);
    QCOMPARE(o["hparams"].toObject()["n_expert"].toInt(), 8);
    // 4 layers x 8 experts x 3 matrices x 128 x 256 F32 values (FIXTURES_README section 2).
    QCOMPARE(o["expert_bytes"].toDouble(), 4.0 * 8 * 3 * 128 * 256 * 4);
    QCOMPARE(o["bytes_per_expert"].toDouble(), 3.0 * 128 * 256 * 4);
    Run text = run_emoe({"info", data(kA1)});
    QCOMPARE(text.code, 0);
    QVERIFY(text.out.contains("blk.0.ffn_gate_exps.weight"));
  }

  void logits_match_llama_cpp() {
    auto fx = emoe::test::Fixture::load(emoe::test::fixture_ref_dir("tiny-mixtral-f32"));
    QVERIFY2(fx.ok(), fx.status().message().c_str());
    const emoe::test::PromptRef& p = fx->prompts[0];
    QTemporaryDir dir;
    const QString out = dir.filePath("logits.bin");
    Run r = run_emoe({"logits", "-m", data(kA1), "-p", QString::fromStdString(p.text), "--out", out,
                      "--threads", "1"});
    QCOMPARE(r.code, 0);
    const QJsonArray ids = json_of(r)["tokens"].toArray();
    QCOMPARE(ids.size(), static_cast<qsizetype>(p.token_ids.size()));
    for (qsizetype i = 0; i < ids.size(); ++i) QCOMPARE(ids[i].toInt(), p.token_ids[i]);
    QFile f(out);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray bytes = f.readAll();
    const int64_t n_vocab = fx->n_vocab;
    QCOMPARE(bytes.size(), static_cast<qsizetype>(p.token_ids.size() * n_vocab * 4));
    const float* got = reinterpret_cast<const float*>(bytes.constData());
    double max_diff = 0;
    for (int64_t pos : p.last3_positions) {
      const float* ref = p.full_row(pos, n_vocab);
      QVERIFY(ref);
      for (int64_t v = 0; v < n_vocab; ++v) {
        max_diff = std::max(max_diff, std::abs(double(got[pos * n_vocab + v]) - ref[v]));
      }
    }
    qInfo("emoe logits vs llama.cpp, prompt 0 last 3 rows: max |diff| %.3g", max_diff);
    QVERIFY(max_diff <= 5e-3);
  }

  void trace_and_generate_match_llama_cpp() {
    auto fx = emoe::test::Fixture::load(emoe::test::fixture_ref_dir("tiny-mixtral-f32"));
    QVERIFY(fx.ok());
    const emoe::test::PromptRef& p = fx->prompts[0];  // no near-tie greedy steps
    const QString text = QString::fromStdString(p.text);
    Run g = run_emoe({"generate", "-m", data(kA1), "-p", text, "-n", "16", "--ignore-eos", "--json",
                      "--threads", "2"});
    QCOMPARE(g.code, 0);
    const QJsonObject go = json_of(g);
    const QJsonArray gen = go["generated_tokens"].toArray();
    QCOMPARE(gen.size(), 16);
    for (int i = 0; i < 16; ++i) QCOMPARE(gen[i].toInt(), p.greedy.token_ids[i]);
    QVERIFY(go["decode_tok_s"].toDouble() > 0);
    QVERIFY(go.contains("text") && go.contains("prefill_tok_s"));

    Run t = run_emoe({"trace", "-m", data(kA1), "-p", text, "-n", "3", "--json"});
    QCOMPARE(t.code, 0);
    const QJsonArray positions = json_of(t)["positions"].toArray();
    QCOMPARE(positions.size(), static_cast<qsizetype>(p.n_tokens + 3));
    for (const QJsonValue& pv : positions) {
      const QJsonObject po = pv.toObject();
      const int pos = po["pos"].toInt();
      for (const QJsonValue& lv : po["layers"].toArray()) {
        const QJsonObject lo = lv.toObject();
        const auto& ref = p.routing[lo["layer"].toInt()].topk[pos];
        std::set<int> want(ref.begin(), ref.end()), got;
        for (const QJsonValue& e : lo["topk"].toArray()) got.insert(e.toInt());
        QVERIFY2(got == want,
                 qPrintable(QString("pos %1 layer %2").arg(pos).arg(lo["layer"].toInt())));
      }
    }
  }

  void mkmodel_then_info_generate_perplexity() {
    QTemporaryDir dir;
    const QString model = dir.filePath("m.gguf");
    Run mk =
        run_emoe({"mkmodel", "--out",      model, "--layers",  "2",    "--embd",  "64", "--heads",
                  "4",       "--kv-heads", "2",   "--experts", "4",    "--top-k", "2",  "--ff",
                  "96",      "--vocab",    "512", "--type",    "q8_0", "--seed",  "7"});
    QVERIFY2(mk.code == 0, mk.err.constData());
    Run info = run_emoe({"info", model, "--json"});
    QCOMPARE(info.code, 0);
    QCOMPARE(json_of(info)["hparams"].toObject()["n_expert"].toInt(), 4);
    Run gen = run_emoe({"generate", "-m", model, "-p", "the cat", "-n", "8", "--json", "--temp",
                        "0.8", "--top-k", "40", "--top-p", "0.9", "--seed", "3"});
    QCOMPARE(gen.code, 0);
    QVERIFY(json_of(gen)["generated_tokens"].toArray().size() >= 1);
    QFile text(dir.filePath("t.txt"));
    QVERIFY(text.open(QIODevice::WriteOnly));
    for (int i = 0; i < 60; ++i) text.write("The quick brown fox jumps over the lazy dog. ");
    text.close();
    Run ppl = run_emoe({"perplexity", "-m", model, "-f", text.fileName(), "--ctx", "64"});
    QVERIFY2(ppl.code == 0, ppl.err.constData());
    QVERIFY(ppl.out.contains("perplexity"));
  }

  void paging_flags() {
    const QStringList base = {"generate", "-m", data(kA1),      "-p",    "The quick brown fox",
                              "-n",       "6",  "--ignore-eos", "--json"};
    Run plain = run_emoe(base);
    QCOMPARE(plain.code, 0);
    Run exact =
        run_emoe(base + QStringList{"--budget", "40%", "--routing", "exact", "--policy", "lfu"});
    QVERIFY2(exact.code == 0, exact.err.constData());
    // Exact routing computes the same tokens as the full model, loading what it lacks.
    QCOMPARE(json_of(exact)["generated_tokens"], json_of(plain)["generated_tokens"]);
    const QJsonObject pg = json_of(exact)["paging"].toObject();
    QCOMPARE(pg["routing"].toString(), QStringLiteral("exact"));
    QVERIFY(pg["bytes_loaded"].toDouble() > 0 && pg["misses"].toDouble() > 0);
    QVERIFY(pg["peak_device_bytes"].toDouble() <= pg["budget_bytes"].toDouble());
    for (const char* k : {"hits", "loads", "evictions", "stall_ms"}) QVERIFY2(pg.contains(k), k);

    Run fb = run_emoe(base + QStringList{"--budget", "3e", "--routing", "fallback"});
    QCOMPARE(fb.code, 0);
    QCOMPARE(json_of(fb)["paging"].toObject()["loads"].toDouble(), 4.0 * 3);  // warm start only

    Run small = run_emoe(base + QStringList{"--budget", "1e"});
    QVERIFY(small.code != 0);
    QVERIFY2(small.err.contains("minimum of 3145728 bytes") && !small.err.trimmed().contains('\n'),
             small.err.constData());

    Run t = run_emoe({"trace", "-m", data(kA1), "-p", "Hello", "--budget", "3e", "--routing",
                      "fallback", "--json"});
    QCOMPARE(t.code, 0);
    const QJsonObject layer =
        json_of(t)["positions"].toArray()[0].toObject()["layers"].toArray()[0].toObject();
    for (const char* k : {"topk", "used", "used_weights", "resident"})
      QVERIFY2(layer.contains(k), k);

    Run half =
        run_emoe({"info", data(kA1), "--budget", "50%", "--device-memory", "256M", "--json"});
    Run full =
        run_emoe({"info", data(kA1), "--budget", "100%", "--device-memory", "256M", "--json"});
    QCOMPARE(half.code, 0);
    QCOMPARE(full.code, 0);
    const QJsonObject mh = json_of(half)["memory"].toObject();
    const QJsonObject mf = json_of(full)["memory"].toObject();
    // Half the expert tier (6 MiB of A1's 12 MiB) becomes KV cache at 2 KiB per token.
    QCOMPARE(mh["kv_bytes"].toDouble() - mf["kv_bytes"].toDouble(), 4.0 * 8 * 393216 / 2);
    QCOMPARE(mh["max_context"].toDouble() - mf["max_context"].toDouble(),
             4.0 * 8 * 393216 / 2 / 2048);
  }

  void bench_prints_json() {
    Run b = run_emoe({"bench", "-m", data(kA1), "--threads", "1", "--prompt-tokens", "32",
                      "--decode-tokens", "4", "-r", "1", "--bandwidth-mib", "64", "--json"});
    QVERIFY2(b.code == 0, b.err.constData());
    const QJsonObject run = json_of(b)["runs"].toArray()[0].toObject();
    for (const char* k : {"prefill_tok_s", "decode_tok_s", "decode_bytes_per_token", "decode_gb_s",
                          "memory_gb_s", "bandwidth_fraction"}) {
      QVERIFY2(run[k].toDouble() > 0, k);
    }
    // Hand count for A1 (FIXTURES_README section 2): F16 output 128 x 32000 x 2, attention
    // 4 x (128x128 + 2 x 128x64 + 128x128) x 4, norms (4 x 2 + 1) x 128 x 4, routers
    // 4 x 8 x 128 x 4, one F16 embedding row 256, and per layer 2 experts of 3 x 128x256 x 4.
    const double want = 8192000.0 + 786432 + 4608 + 16384 + 256 + 4 * 2 * 393216;
    QCOMPARE(run["decode_bytes_per_token"].toDouble(), want);
  }
};

QTEST_GUILESS_MAIN(TestCliCommands)
#include "test_cli_commands.moc"
