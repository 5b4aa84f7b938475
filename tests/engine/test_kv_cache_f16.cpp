// The F16 KV cache on A1 (tests/data/tiny-mixtral-f32). llama.cpp's default F16 cache was
// recorded as a secondary reference (index.json variants_vs_this_reference.kv16.reference:
// greedy ids, per-position argmax, per-layer top-k at prompt and decode positions). Its stated
// behaviour against the F32 reference: logits max |d| 5.4e-3 (5.5e-3 on decode rows), 1/131
// argmax differs, routing identical, greedy identical. The engine with kv_type F16 is held to
// that behaviour, and to the float64 reference run with the same F16 roundings.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <memory>

#include "core/gguf/gguf_file.h"
#include "core/model/model.h"
#include "tests/support/engine_capture.h"
#include "tests/support/fixture_compare.h"
#include "tests/support/fixture_reader.h"
#include "tests/support/reference_forward.h"

using namespace emoe;
using namespace emoe::test;

namespace {

// Engine F16-KV logits against the F32 reference: llama.cpp's own F16 cache moved them by up
// to 5.5e-3; an engine rounding the same operands lands in the same range, 2x is the bound.
constexpr double kKvLogitTol = 1.1e-2;
// An argmax / greedy step / top-k choice may differ from the kv16 reference only where the F32
// reference's decision is closer than the two F16-cache deviations together.
constexpr double kAmbiguousGap = 2 * kKvLogitTol;
constexpr double kAmbiguousMargin = 2 * kKvLogitTol;

bool same_set(std::vector<int32_t> a, std::vector<int32_t> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

}  // namespace

class TestKvCacheF16 : public QObject {
  Q_OBJECT

 private:
  Fixture fx_;
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<gguf::GgufFile> file_;

  RunOptions f16_options(int prompt) const {
    RunOptions o;
    o.kv_type = kernels::TensorType::F16;
    const auto& g = fx_.kv16->greedy[static_cast<size_t>(prompt)];
    o.forced.assign(g.begin(), g.end() - 1);
    return o;
  }

  // Measures a run against the kv16 reference; returns the failures it found.
  struct Kv16Figures {
    int64_t argmax_equal = 0, positions = 0, decisions = 0, sets_equal = 0, steps = 0,
            steps_equal = 0;
  };
  void compare_kv16(const EngineRun& run, int prompt, Kv16Figures& fig, Failures& f) const {
    const PromptRef& p = fx_.prompts[static_cast<size_t>(prompt)];
    const Kv16Ref& k = *fx_.kv16;
    const std::string w = "prompt " + std::to_string(prompt) + ": ";
    for (int64_t pos = 0; pos < p.n_tokens; ++pos) {
      ++fig.positions;
      const int32_t got = argmax_row(run.prompt_row(pos), fx_.n_vocab);
      if (got == k.argmax[static_cast<size_t>(prompt)][static_cast<size_t>(pos)]) {
        ++fig.argmax_equal;
      } else {
        qInfo("  prompt %d pos %lld: argmax %d, kv16 reference %d, F32 reference %d (F32 gap %.3g)",
              prompt, static_cast<long long>(pos), got,
              k.argmax[static_cast<size_t>(prompt)][static_cast<size_t>(pos)],
              p.argmax[static_cast<size_t>(pos)], p.top_gap(pos));
        f.expect(
            p.top_gap(pos) < kAmbiguousGap,
            w + "argmax " + std::to_string(got) + " at pos " + std::to_string(pos) +
                ", kv16 reference " +
                std::to_string(k.argmax[static_cast<size_t>(prompt)][static_cast<size_t>(pos)]) +
                " (F32 gap " + fmt(p.top_gap(pos)) + ")");
      }
    }
    for (int64_t j = 0; j < run.n_steps(); ++j) {
      ++fig.steps;
      const int32_t got = argmax_row(run.step_row(j), fx_.n_vocab);
      const int32_t want = k.greedy[static_cast<size_t>(prompt)][static_cast<size_t>(j)];
      if (got == want) {
        ++fig.steps_equal;
      } else {
        const float gap = p.greedy.top1_top2_gap[static_cast<size_t>(j)];
        f.expect(gap < kAmbiguousGap, w + "greedy step " + std::to_string(j) + " chose " +
                                          std::to_string(got) + ", kv16 reference " +
                                          std::to_string(want) + " (F32 gap " + fmt(gap) + ")");
      }
    }
    const auto& topk = k.topk[static_cast<size_t>(prompt)];
    const int64_t covered = p.n_tokens + run.n_steps() - 1;
    for (int32_t L = 0; L < fx_.n_layer; ++L) {
      for (int64_t pos = 0; pos < covered; ++pos) {
        ++fig.decisions;
        const CapturedRoute* r = run.capture.route(L, pos);
        if (!r) {
          f.expect(false, w + "no routing event at layer " + std::to_string(L) + " pos " +
                              std::to_string(pos));
          continue;
        }
        const auto& want = topk[static_cast<size_t>(L)][static_cast<size_t>(pos)];
        if (same_set(r->topk, want)) {
          ++fig.sets_equal;
        } else {
          const float margin = p.routing[static_cast<size_t>(L)].margin[static_cast<size_t>(pos)];
          f.expect(margin < kAmbiguousMargin,
                   w + "top-k set differs from kv16 at layer " + std::to_string(L) + " pos " +
                       std::to_string(pos) + " (F32 margin " + fmt(margin) + ")");
        }
      }
    }
  }

 private slots:
  void initTestCase() {
    auto fx = Fixture::load(fixture_ref_dir("tiny-mixtral-f32"));
    QVERIFY2(fx.ok(), fx.status().message().c_str());
    fx_ = std::move(fx.value());
    QVERIFY2(fx_.kv16.has_value(), "index.json has no kv16 reference");
    auto m = model::Model::load(fx_.model_path);
    QVERIFY2(m.ok(), m.status().message().c_str());
    model_ = std::move(m.value());
    auto file = gguf::GgufFile::open(fx_.model_path);
    QVERIFY2(file.ok(), file.status().message().c_str());
    file_ = std::move(file.value());
    for (size_t i = 0; i < fx_.prompts.size(); ++i) {
      // The kv16 run generated the same tokens as the F32 one (stated: greedy identical), so
      // the F32 routing positions and margins describe the same sequence.
      QCOMPARE(fx_.kv16->greedy[i], fx_.prompts[i].greedy.token_ids);
      QCOMPARE(static_cast<int64_t>(fx_.kv16->argmax[i].size()), fx_.prompts[i].n_tokens);
    }
  }

  // The float64 reference with llama.cpp's F16-cache roundings (K, V stored as F16; Q and the
  // softmax probabilities converted to F16 where they meet the cache; activations into the F16
  // output matrix as F16) must reproduce the kv16 reference: this shows what "F16 KV" means
  // before the engine is held to it.
  void referenceReproducesKv16() {
    RefOptions opt;
    opt.kv_f16 = true;
    opt.kv_f16_round_q_p = true;
    opt.emulate_ggml_activation_rounding = true;
    auto ref = ReferenceForward::create(*file_, opt);
    QVERIFY2(ref.ok(), ref.status().message().c_str());
    Kv16Figures fig;
    Failures f;
    for (const PromptRef& p : fx_.prompts) {
      std::vector<int32_t> seq = p.token_ids;
      const auto& g = fx_.kv16->greedy[static_cast<size_t>(p.index)];
      seq.insert(seq.end(), g.begin(), g.end() - 1);
      auto r = ref.value()->run(seq);
      QVERIFY2(r.ok(), r.status().message().c_str());
      const EngineRun run = run_from_reference(r.value(), seq, p.n_tokens, fx_.n_vocab, fx_.n_embd);
      compare_kv16(run, p.index, fig, f);
    }
    qInfo(
        "float64 reference with F16-cache roundings vs kv16: argmax %lld/%lld, greedy %lld/%lld, "
        "routing sets %lld/%lld",
        static_cast<long long>(fig.argmax_equal), static_cast<long long>(fig.positions),
        static_cast<long long>(fig.steps_equal), static_cast<long long>(fig.steps),
        static_cast<long long>(fig.sets_equal), static_cast<long long>(fig.decisions));
    QVERIFY2(f.empty(), f.c_str());
  }

  void engineMatchesKv16Reference() {
    // Three float64 passes differing only in what is rounded to F16: llama.cpp's F16-cache
    // roundings (K, V, Q, P), K and V only, and none (F32 cache).
    RefOptions ggml16;
    ggml16.kv_f16 = true;
    ggml16.kv_f16_round_q_p = true;
    ggml16.emulate_ggml_activation_rounding = true;
    RefOptions kv_only = ggml16;
    kv_only.kv_f16_round_q_p = false;
    RefOptions none;
    none.emulate_ggml_activation_rounding = true;
    std::unique_ptr<ReferenceForward> refs[3];
    const RefOptions* opts[3] = {&ggml16, &kv_only, &none};
    for (int i = 0; i < 3; ++i) {
      auto r = ReferenceForward::create(*file_, *opts[i]);
      QVERIFY2(r.ok(), r.status().message().c_str());
      refs[i] = std::move(r.value());
    }
    Kv16Figures fig;
    Failures f;
    double vs_f32_logits = 0.0, vs_f32_hidden = 0.0, f16_vs_f32_engine = 0.0;
    std::vector<double> pos_hidden[3];  // per position: max |d| over layers, engine vs refs[i]
    double max_hidden[3] = {0, 0, 0};
    for (const PromptRef& p : fx_.prompts) {
      const std::string w = "prompt " + std::to_string(p.index) + ": ";
      const RunOptions o16 = f16_options(p.index);
      auto run = run_prompt(*model_, p.token_ids, o16);
      QVERIFY2(run.ok(), run.status().message().c_str());
      compare_kv16(run.value(), p.index, fig, f);

      // Against the F32 llama.cpp reference: within the F16 cache's stated deviation.
      const PromptComparison c = compare_prompt(run.value(), p, fx_, {kKvLogitTol, 1e-5});
      vs_f32_logits = std::max({vs_f32_logits, c.max_abs_logits(), c.max_abs_step_top10});
      vs_f32_hidden = std::max(vs_f32_hidden, c.max_abs_hidden);
      f.expect(c.missing_hidden == 0 && c.missing_routes == 0, w + "missing layer outputs/routes");

      std::vector<int32_t> seq = p.token_ids;
      seq.insert(seq.end(), o16.forced.begin(), o16.forced.end());
      for (int i = 0; i < 3; ++i) {
        auto r = refs[i]->run(seq);
        QVERIFY2(r.ok(), r.status().message().c_str());
        for (int64_t pos = 0; pos < static_cast<int64_t>(seq.size()); ++pos) {
          double m = 0.0;
          for (int32_t L = 0; L < fx_.n_layer; ++L) {
            const std::vector<float>* h = run.value().capture.hidden(L, pos);
            QVERIFY(h);
            const double* want = r.value().hidden[static_cast<size_t>(L)].data() + pos * fx_.n_embd;
            for (int64_t e = 0; e < fx_.n_embd; ++e) {
              m = std::max(m, std::fabs((*h)[static_cast<size_t>(e)] - want[e]));
            }
          }
          pos_hidden[i].push_back(m);
          max_hidden[i] = std::max(max_hidden[i], m);
        }
      }

      // The option takes effect: an F32 cache gives different numbers.
      RunOptions o32 = o16;
      o32.kv_type = kernels::TensorType::F32;
      auto run32 = run_prompt(*model_, p.token_ids, o32);
      QVERIFY2(run32.ok(), run32.status().message().c_str());
      f16_vs_f32_engine = std::max(
          f16_vs_f32_engine, diff_runs(run.value(), run32.value(), fx_.n_layer).max_abs_logits);
    }
    double median[3];
    for (int i = 0; i < 3; ++i) {
      std::vector<double> v = pos_hidden[i];
      std::nth_element(v.begin(), v.begin() + static_cast<int64_t>(v.size() / 2), v.end());
      median[i] = v[v.size() / 2];
    }
    qInfo(
        "engine F16 KV vs kv16 reference: argmax %lld/%lld, greedy %lld/%lld, routing sets "
        "%lld/%lld",
        static_cast<long long>(fig.argmax_equal), static_cast<long long>(fig.positions),
        static_cast<long long>(fig.steps_equal), static_cast<long long>(fig.steps),
        static_cast<long long>(fig.sets_equal), static_cast<long long>(fig.decisions));
    qInfo(
        "engine F16 KV vs F32 llama.cpp reference: logits max |d| %.3g (llama.cpp's F16 cache: "
        "5.4e-3), hidden %.3g (llama.cpp: 2.7e-3); engine F16 vs F32 cache: logits %.3g",
        vs_f32_logits, vs_f32_hidden, f16_vs_f32_engine);
    qInfo(
        "engine F16 KV hidden vs float64 passes (median / max per position): ggml F16 roundings "
        "%.3g / %.3g, K/V rounding only %.3g / %.3g, no F16 %.3g / %.3g",
        median[0], max_hidden[0], median[1], max_hidden[1], median[2], max_hidden[2]);
    f.expect(vs_f32_logits <= kKvLogitTol, "logits vs F32 reference " + fmt(vs_f32_logits));
    f.expect(f16_vs_f32_engine > 0.0, "kv_type F16 gives bit-identical logits to F32: ignored?");
    // Which computation the engine performs: it must be nearest to llama.cpp's roundings.
    // F16 rounding-boundary flips keep the distance above float32 noise, so the test compares
    // distances rather than holding them to a fixed tolerance.
    f.expect(median[0] < median[1] && median[0] < median[2] && max_hidden[0] < max_hidden[2],
             "the engine's F16 cache is not nearest to llama.cpp's F16 roundings (K, V, Q, P)");
    QVERIFY2(f.empty(), f.c_str());
  }
};

QTEST_GUILESS_MAIN(TestKvCacheF16)
#include "test_kv_cache_f16.moc"
