// The float64 reference forward pass (tests/support/reference_forward) is first validated
// against llama.cpp's A1/A2 fixtures, then used as the oracle for models the project's own
// builder generates in shapes the fixtures do not cover: MHA, GQA and MQA attention, top-1 to
// top-4 routing, dense FFNs, partial RoPE, odd widths and depths.
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <memory>

#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "tests/support/engine_capture.h"
#include "tests/support/fixture_compare.h"
#include "tests/support/fixture_reader.h"
#include "tests/support/reference_forward.h"

using namespace emoe;
using namespace emoe::test;

namespace {

// Prompt tokens followed by greedy tokens 0..14: one causal pass covers every prompt row, every
// decode row and every routing position of the fixture.
std::vector<int32_t> full_sequence(const PromptRef& p) {
  std::vector<int32_t> t = p.token_ids;
  t.insert(t.end(), p.greedy.token_ids.begin(), p.greedy.token_ids.end() - 1);
  return t;
}

struct SynthCase {
  const char* name;
  model::SyntheticModelSpec spec;
};

model::SyntheticModelSpec spec(int64_t n_layer, int64_t n_embd, int64_t n_head, int64_t n_head_kv,
                               int64_t n_ff, int64_t n_expert, int64_t top_k, int64_t n_rot,
                               uint64_t seed) {
  model::SyntheticModelSpec s;
  s.n_layer = n_layer;
  s.n_embd = n_embd;
  s.n_head = n_head;
  s.n_head_kv = n_head_kv;
  s.n_ff = n_ff;
  s.n_expert = n_expert;
  s.n_expert_used = top_k;
  s.n_rot = n_rot;
  s.n_vocab = 512;
  s.n_ctx = 256;
  s.seed = seed;
  s.n_threads = 2;
  return s;
}

const SynthCase kCases[] = {
    {"gqa_top2", spec(2, 64, 4, 2, 64, 4, 2, 0, 11)},
    {"mha_top1", spec(3, 64, 4, 4, 96, 4, 1, 0, 12)},
    {"mqa_top4", spec(2, 128, 8, 1, 64, 8, 4, 0, 13)},
    {"dense", spec(2, 64, 2, 1, 128, 0, 0, 0, 14)},
    {"partial_rope", spec(2, 64, 2, 2, 64, 4, 2, 16, 15)},
    {"deep_odd", spec(6, 96, 3, 1, 80, 6, 3, 0, 16)},
    {"tied_output", spec(2, 64, 4, 2, 64, 4, 2, 0, 17)},  // output.weight removed below
};

// Copies a GGUF file without one tensor (a model with tied embeddings: no output.weight).
Status copy_without_tensor(const std::string& src, const std::string& dst,
                           const std::string& skip) {
  auto in = gguf::GgufFile::open(src);
  if (!in.ok()) return in.status();
  gguf::GgufWriter w;
  for (const auto& [key, value] : in.value()->metadata()) w.set(key, value);
  for (const gguf::TensorInfo& t : in.value()->tensors()) {
    if (t.name == skip) continue;
    EMOE_RETURN_IF_ERROR(w.add_tensor(t.name, t.type, t.ne, std::span(t.data, t.n_bytes)));
  }
  return w.write(dst);
}

constexpr double kRelTol = 1e-4;      // the brief: max |d| / max |ref| for logits
constexpr double kTinyMargin = 1e-4;  // router-logit margin below which float32 may flip top-k

double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

}  // namespace

class TestReferenceForward : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;

  // The reference against a fixture: returns the comparisons of all six prompts.
  std::vector<PromptComparison> reference_vs_fixture(const char* folder, RefOptions opt,
                                                     double logit_tol) {
    std::vector<PromptComparison> out;
    auto fx = Fixture::load(fixture_ref_dir(folder));
    if (!fx.ok()) {
      qWarning("%s", fx.status().message().c_str());
      return out;
    }
    auto file = gguf::GgufFile::open(fx->model_path);
    if (!file.ok()) {
      qWarning("%s", file.status().message().c_str());
      return out;
    }
    auto ref = ReferenceForward::create(*file.value(), opt);
    if (!ref.ok()) {
      qWarning("%s", ref.status().message().c_str());
      return out;
    }
    for (const PromptRef& p : fx->prompts) {
      const std::vector<int32_t> seq = full_sequence(p);
      auto r = ref.value()->run(seq);
      if (!r.ok()) {
        qWarning("%s", r.status().message().c_str());
        return {};
      }
      const EngineRun run = run_from_reference(r.value(), seq, p.n_tokens, fx->n_vocab, fx->n_embd);
      out.push_back(compare_prompt(run, p, fx.value(), {logit_tol, 1e-5}));
    }
    return out;
  }

 private slots:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void halfConversion() {
    // Hand-checked binary16 values.
    QCOMPARE(ref_half_to_double(0x3c00), 1.0);
    QCOMPARE(ref_half_to_double(0xc000), -2.0);
    QCOMPARE(ref_half_to_double(0x7bff), 65504.0);
    QCOMPARE(ref_half_to_double(0x0001), std::ldexp(1.0, -24));
    QCOMPARE(ref_half_to_double(0x0400), std::ldexp(1.0, -14));
    QCOMPARE(ref_half_to_double(0x3555), 0.333251953125);
    QVERIFY(std::isinf(ref_half_to_double(0x7c00)));
    QCOMPARE(ref_round_to_half(1.0 + std::ldexp(1.0, -11)), 1.0);  // tie to even
    QCOMPARE(ref_round_to_half(1.0 + 3 * std::ldexp(1.0, -11)), 1.0 + std::ldexp(1.0, -9));
    QCOMPARE(ref_round_to_half(65519.0), 65504.0);
    QVERIFY(std::isinf(ref_round_to_half(65520.0)));
    QCOMPARE(ref_round_to_half(std::ldexp(1.0, -25)), 0.0);  // tie to even (zero)
    QCOMPARE(ref_round_to_half(std::ldexp(3.0, -25)), std::ldexp(1.0, -23));
  }

  // (a) The reference itself reproduces llama.cpp on A1: README's independent numpy check got
  // logits 2.5e-3 with plain F32 activations and 3.5e-4 rounding them to F16 before the F16
  // output matrix; routing 524/524 sets, probs 4e-7, hidden 2.6e-6, greedy 96/96.
  void referenceMatchesA1_data() {
    QTest::addColumn<bool>("emulate");
    QTest::addColumn<double>("logit_tol");
    QTest::newRow("plain") << false << 5e-3;
    QTest::newRow("ggml_rounding") << true << 1e-3;
  }
  void referenceMatchesA1() {
    QFETCH(bool, emulate);
    QFETCH(double, logit_tol);
    RefOptions opt;
    opt.emulate_ggml_activation_rounding = emulate;
    const std::vector<PromptComparison> cs =
        reference_vs_fixture("tiny-mixtral-f32", opt, logit_tol);
    QCOMPARE(cs.size(), size_t{6});
    Failures f;
    double logits = 0, hidden = 0, probs = 0;
    int64_t sets = 0, decisions = 0, argmax = 0, steps = 0;
    for (const PromptComparison& c : cs) {
      const std::string p = "prompt " + std::to_string(c.prompt) + ": ";
      for (const RoutingMismatch& m : c.set_mismatch) f.expect(false, p + m.describe());
      f.expect(c.missing_routes == 0 && c.missing_hidden == 0, p + "missing routes or hidden");
      f.expect(c.max_abs_logits() <= logit_tol, p + "logits " + fmt(c.max_abs_logits()));
      f.expect(c.max_abs_step_top10 <= logit_tol, p + "step logits " + fmt(c.max_abs_step_top10));
      f.expect(c.max_abs_lse <= logit_tol, p + "logsumexp " + fmt(c.max_abs_lse));
      f.expect(c.max_abs_probs <= 1e-5, p + "probs " + fmt(c.max_abs_probs));
      f.expect(c.max_abs_weights <= 1e-5, p + "weights " + fmt(c.max_abs_weights));
      f.expect(c.max_abs_hidden <= 1e-4, p + "hidden " + fmt(c.max_abs_hidden));
      f.expect(c.argmax_diff_unambiguous.empty(), p + "argmax differs");
      f.expect(c.step_argmax_diff_unambiguous.empty(), p + "greedy step differs");
      logits = std::max({logits, c.max_abs_logits(), c.max_abs_step_top10});
      hidden = std::max(hidden, c.max_abs_hidden);
      probs = std::max(probs, c.max_abs_probs);
      decisions += c.decisions;
      sets += c.decisions - static_cast<int64_t>(c.set_mismatch.size());
      argmax += c.argmax_equal;
      steps += c.steps - static_cast<int64_t>(c.step_argmax_diff.size());
    }
    qInfo(
        "reference vs A1 (%s): logits max |d| %.3g, hidden %.3g, probs %.3g, routing sets "
        "%lld/%lld, argmax %lld/131, greedy rows %lld/96",
        emulate ? "ggml activation rounding" : "plain", logits, hidden, probs,
        static_cast<long long>(sets), static_cast<long long>(decisions),
        static_cast<long long>(argmax), static_cast<long long>(steps));
    QVERIFY2(f.empty(), f.c_str());
  }

  // The reference's own Q8_0/Q4_0 decoders against A2. With ggml's activation rounding the
  // README's numpy check got 524/524 routing sets, argmax 130/131 and 88.5% of positions within
  // 1e-5, so the A2 engine criteria apply. With plain dequantized weights it measured 26/524
  // routing sets and 16/131 argmax differing, 3/131 of them in layer 0 (so README's "loose"
  // layer-0 >= 99% does not hold even there); the bounds below sit just under those figures.
  void referenceMatchesA2_data() {
    QTest::addColumn<bool>("emulate");
    QTest::newRow("plain") << false;
    QTest::newRow("ggml_rounding") << true;
  }
  void referenceMatchesA2() {
    QFETCH(bool, emulate);
    RefOptions opt;
    opt.emulate_ggml_activation_rounding = emulate;
    const std::vector<PromptComparison> cs = reference_vs_fixture("tiny-mixtral-q", opt, 0.05);
    QCOMPARE(cs.size(), size_t{6});
    int64_t positions = 0, argmax = 0, within = 0, within5 = 0, decisions = 0, sets = 0;
    int64_t l0 = 0, l0_sets = 0;
    double worst = 0.0;
    for (const PromptComparison& c : cs) {
      positions += c.n;
      argmax += c.argmax_equal;
      for (double d : c.pos_max_abs) {
        within += d <= 1e-3;
        within5 += d <= 1e-5;
      }
      decisions += c.decisions_prompt;
      sets += c.decisions_prompt - c.set_mismatch_prompt;
      l0 += c.decisions_prompt / 4;
      l0_sets += c.decisions_prompt / 4;
      for (const RoutingMismatch& m : c.set_mismatch) l0_sets -= (m.layer == 0 && m.pos < c.n);
      worst = std::max(worst, c.max_abs_logits());
    }
    qInfo(
        "reference vs A2 (%s): routing sets %lld/%lld (layer 0 %lld/%lld), argmax %lld/%lld, "
        "positions within 1e-3 %lld, within 1e-5 %lld, max logits |d| %.3g",
        emulate ? "ggml activation rounding" : "plain", static_cast<long long>(sets),
        static_cast<long long>(decisions), static_cast<long long>(l0_sets),
        static_cast<long long>(l0), static_cast<long long>(argmax),
        static_cast<long long>(positions), static_cast<long long>(within),
        static_cast<long long>(within5), worst);
    QCOMPARE(positions, int64_t{131});
    if (emulate) {
      QVERIFY(sets >= 0.99 * static_cast<double>(decisions));
      QVERIFY(argmax >= 0.97 * static_cast<double>(positions));
      QVERIFY(within >= 0.85 * static_cast<double>(positions));
    } else {
      QVERIFY(sets >= 0.94 * static_cast<double>(decisions));    // README: 498/524 = 95.0%
      QVERIFY(l0_sets >= 0.97 * static_cast<double>(l0));        // README: 128/131 = 97.7%
      QVERIFY(argmax >= 0.85 * static_cast<double>(positions));  // README: 115/131 = 87.8%
      // Control: without the activation rounding no position is within 1e-3, so the emulated
      // figures come from reproducing ggml's rounding, not from loose criteria.
      QVERIFY(within == 0);
    }
  }

  // (b) Engine vs reference on generated F32 models.
  void syntheticModels_data() {
    QTest::addColumn<int>("index");
    for (size_t i = 0; i < std::size(kCases); ++i) {
      QTest::newRow(kCases[i].name) << static_cast<int>(i);
    }
  }
  void syntheticModels() {
    QFETCH(int, index);
    const SynthCase& sc = kCases[index];
    const std::string path = tmp_.filePath(QString(sc.name) + ".gguf").toStdString();
    const bool tied = std::string(sc.name) == "tied_output";
    const std::string built = tied ? path + ".untied" : path;
    const Status st = model::write_synthetic_model(sc.spec, built);
    QVERIFY2(st.is_ok(), st.message().c_str());
    if (tied) {
      const Status cp = copy_without_tensor(built, path, "output.weight");
      QVERIFY2(cp.is_ok(), cp.message().c_str());
    }
    auto m = model::Model::load(path);
    QVERIFY2(m.ok(), m.status().message().c_str());
    auto file = gguf::GgufFile::open(path);
    QVERIFY2(file.ok(), file.status().message().c_str());
    auto ref = ReferenceForward::create(*file.value());
    QVERIFY2(ref.ok(), ref.status().message().c_str());
    const RefHparams& hp = ref.value()->hparams();
    QCOMPARE(hp.n_expert, sc.spec.n_expert);
    QCOMPARE(hp.tied_output, tied);
    QCOMPARE(hp.n_rot, sc.spec.n_rot ? sc.spec.n_rot : sc.spec.n_embd / sc.spec.n_head);

    // 20 prompt tokens (BOS-free ids spread over the vocabulary) + 6 decode steps.
    const int64_t n_prompt = 20, n_decode = 6;
    std::vector<int32_t> seq;
    for (int64_t i = 0; i < n_prompt + n_decode; ++i) {
      seq.push_back(static_cast<int32_t>((i * 7919 + 13 * index + 5) % hp.n_vocab));
    }
    RunOptions o;
    o.n_ctx = 64;
    o.forced.assign(seq.begin() + n_prompt, seq.end());
    auto run = run_prompt(*m.value(), std::span(seq).first(n_prompt), o);
    QVERIFY2(run.ok(), run.status().message().c_str());
    auto rr = ref.value()->run(seq);
    QVERIFY2(rr.ok(), rr.status().message().c_str());
    const RefOutput& r = rr.value();
    const int64_t V = hp.n_vocab, n_total = n_prompt + n_decode;

    // Routing first: a flip at a tiny margin legitimately changes everything after it in the
    // sequence, so later positions are left out of the value comparison.
    int64_t cut = n_total, compared = 0, tiny_flips = 0;
    Failures f;
    for (int64_t pos = 0; pos < n_total && pos < cut; ++pos) {
      for (int32_t L = 0; L < static_cast<int32_t>(r.routing.size()); ++L) {
        const RefRoute& rt = r.routing[static_cast<size_t>(L)][static_cast<size_t>(pos)];
        const CapturedRoute* got = run.value().capture.route(L, pos);
        if (!got) {
          f.expect(false, "no routing event at layer " + std::to_string(L) + " pos " +
                              std::to_string(pos));
          continue;
        }
        ++compared;
        std::vector<int32_t> a = rt.topk, b = got->topk;
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        if (a != b) {
          if (rt.margin < kTinyMargin) {
            ++tiny_flips;
            cut = pos;
          } else {
            f.expect(false, "top-k set differs at layer " + std::to_string(L) + " pos " +
                                std::to_string(pos) + " (margin " + fmt(rt.margin) + ")");
          }
        }
      }
    }
    if (hp.n_expert == 0) QCOMPARE(run.value().capture.route_count(), int64_t{0});

    double d_logits = 0.0, d_hidden = 0.0, d_w = 0.0;
    const double ref_max = max_abs(r.logits);
    double hidden_max = 0.0;
    for (const auto& h : r.hidden) hidden_max = std::max(hidden_max, max_abs(h));
    for (int64_t pos = 0; pos < cut; ++pos) {
      const float* got =
          pos < n_prompt ? run.value().prompt_row(pos) : run.value().step_row(pos - n_prompt + 1);
      for (int64_t i = 0; i < V; ++i) {
        d_logits =
            std::max(d_logits, std::fabs(got[i] - r.logits[static_cast<size_t>(pos * V + i)]));
      }
      for (int32_t L = 0; L < static_cast<int32_t>(hp.n_layer); ++L) {
        const std::vector<float>* h = run.value().capture.hidden(L, pos);
        f.expect(h != nullptr, "no layer output at layer " + std::to_string(L));
        if (!h) continue;
        for (int64_t i = 0; i < hp.n_embd; ++i) {
          d_hidden = std::max(
              d_hidden,
              std::fabs(
                  (*h)[static_cast<size_t>(i)] -
                  r.hidden[static_cast<size_t>(L)][static_cast<size_t>(pos * hp.n_embd + i)]));
        }
        if (hp.n_expert > 0) {
          const CapturedRoute* got_r = run.value().capture.route(L, pos);
          const RefRoute& rt = r.routing[static_cast<size_t>(L)][static_cast<size_t>(pos)];
          if (got_r && got_r->topk == rt.topk) {
            for (size_t j = 0; j < rt.weights.size(); ++j) {
              d_w = std::max(d_w, std::fabs(got_r->weights[j] - rt.weights[j]));
            }
          }
        }
      }
    }
    qInfo(
        "%s (L%lld E%lld H%lld/%lld rot %lld, experts %lld top-%lld, ff %lld): logits max |d| "
        "%.3g = %.3g relative (max |ref| %.3g); hidden %.3g relative; gate weights %.3g; "
        "routing %lld decisions, %lld tiny-margin flips; %lld/%lld positions compared",
        sc.name, static_cast<long long>(hp.n_layer), static_cast<long long>(hp.n_embd),
        static_cast<long long>(hp.n_head), static_cast<long long>(hp.n_head_kv),
        static_cast<long long>(hp.n_rot), static_cast<long long>(hp.n_expert),
        static_cast<long long>(hp.n_expert_used), static_cast<long long>(hp.n_ff), d_logits,
        d_logits / ref_max, ref_max, d_hidden / hidden_max, d_w, static_cast<long long>(compared),
        static_cast<long long>(tiny_flips), static_cast<long long>(cut),
        static_cast<long long>(n_total));
    f.expect(cut >= n_prompt / 2,
             "a tiny-margin flip early in the prompt left too little to compare");
    f.expect(d_logits / ref_max <= kRelTol, "logits relative error " + fmt(d_logits / ref_max));
    f.expect(d_hidden / hidden_max <= kRelTol,
             "hidden relative error " + fmt(d_hidden / hidden_max));
    f.expect(d_w <= 1e-5, "gate weights max |d| " + fmt(d_w));
    QVERIFY2(f.empty(), f.c_str());
  }
};

QTEST_GUILESS_MAIN(TestReferenceForward)
#include "test_reference_forward.moc"
