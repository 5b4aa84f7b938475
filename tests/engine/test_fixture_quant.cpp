// A2 (tests/data/tiny-mixtral-q: experts and output Q8_0, attention and token_embd Q4_0): the
// engine against llama.cpp with FIXTURES_README.md section 5's A2 criteria for an engine that
// quantizes activations to Q8_0 as ggml does. Rounding-boundary flips cascade here, so the
// criteria are fractions over all six prompts rather than per-value tolerances:
// token ids exact; top-k sets equal at >= 99% of decisions; argmax equal at >= 97% of
// positions; greedy equal up to the first step whose reference top1-top2 gap is below 0.05.
//
// Logits: README section 5's criterion, |d| <= 1e-3 at >= 85% of positions, is enforced. It
// holds because the quantized dot products reproduce ggml's float32 summation order (8-lane
// order of ggml_vec_dot/tinyBLAS; per-block order of the repacked Q4_0 GEMV/GEMM), so a Q8_0
// rounding boundary is crossed exactly where llama.cpp crosses it. An engine with another
// summation order measured about 80%, and one with wrong Q8_0/Q4_0 arithmetic gets 0%.
#include <QtTest>
#include <algorithm>
#include <memory>

#include "core/model/model.h"
#include "tests/support/engine_capture.h"
#include "tests/support/fixture_compare.h"
#include "tests/support/fixture_reader.h"

using namespace emoe;
using namespace emoe::test;

namespace {
constexpr double kGreedyGap = 0.05;
constexpr double kRoutingFrac = 0.99;
constexpr double kArgmaxFrac = 0.97;
constexpr double kLogitPosTol = 1e-3;
constexpr double kLogitPosFrac = 0.85;  // README section 5
}  // namespace

class TestFixtureQuant : public QObject {
  Q_OBJECT

 private:
  Fixture fx_;
  std::unique_ptr<model::Model> model_;

 private slots:
  void initTestCase() {
    auto fx = Fixture::load(fixture_ref_dir("tiny-mixtral-q"));
    QVERIFY2(fx.ok(), fx.status().message().c_str());
    fx_ = std::move(fx.value());
    QCOMPARE(fx_.prompts.size(), size_t{6});
    auto m = model::Model::load(fx_.model_path);
    QVERIFY2(m.ok(), m.status().message().c_str());
    model_ = std::move(m.value());
    QCOMPARE(model_->config().n_vocab, fx_.n_vocab);
    QCOMPARE(model_->config().n_expert, fx_.n_expert);
  }

  void tokenIds() {
    for (const PromptRef& p : fx_.prompts) {
      const std::vector<int32_t> ids = model_->tokenizer().encode(p.text, true, false);
      QVERIFY2(ids == p.token_ids, ("prompt " + std::to_string(p.index)).c_str());
    }
  }

  void acceptanceCriteria() {
    int64_t positions = 0, argmax_equal = 0, pos_within = 0, pos_within_1e5 = 0;
    int64_t decisions_prompt = 0, set_equal_prompt = 0, decisions = 0, set_equal = 0;
    int64_t layer0 = 0, layer0_equal = 0, steps_checked = 0;
    double max_logits = 0.0, max_hidden = 0.0;
    Failures f;
    for (const PromptRef& p : fx_.prompts) {
      RunOptions o;
      o.forced.assign(p.greedy.token_ids.begin(), p.greedy.token_ids.end() - 1);
      auto run = run_prompt(*model_, p.token_ids, o);
      QVERIFY2(run.ok(), run.status().message().c_str());
      const PromptComparison c = compare_prompt(run.value(), p, fx_, {kGreedyGap, 1e-5});
      f.expect(c.missing_routes == 0 && c.bad_route_shape == 0 && c.missing_hidden == 0,
               "prompt " + std::to_string(p.index) + ": routing events or layer outputs missing");
      positions += c.n;
      argmax_equal += c.argmax_equal;
      for (double d : c.pos_max_abs) {
        pos_within += d <= kLogitPosTol;
        pos_within_1e5 += d <= 1e-5;
      }
      decisions += c.decisions;
      set_equal += c.decisions - static_cast<int64_t>(c.set_mismatch.size());
      decisions_prompt += c.decisions_prompt;
      set_equal_prompt += c.decisions_prompt - c.set_mismatch_prompt;
      layer0 += static_cast<int64_t>(p.routing_positions.size());
      layer0_equal += static_cast<int64_t>(p.routing_positions.size());
      for (const RoutingMismatch& m : c.set_mismatch) {
        if (m.layer == 0) --layer0_equal;
        qInfo("  A2 prompt %d top-k set differs: %s", p.index, m.describe().c_str());
      }
      const Divergence dv = first_hidden_divergence(run.value(), p, fx_, 1e-4);
      if (dv.layer >= 0) {
        qInfo(
            "  A2 prompt %d: hidden first departs from llama.cpp by > 1e-4 at pos %lld layer %d "
            "(|d| %.3g); first logits position beyond 1e-3: %lld",
            p.index, static_cast<long long>(dv.pos), dv.layer, dv.max_abs,
            static_cast<long long>(std::find_if(c.pos_max_abs.begin(), c.pos_max_abs.end(),
                                                [](double d) { return d > kLogitPosTol; }) -
                                   c.pos_max_abs.begin()));
      }
      max_logits = std::max(max_logits, c.max_abs_logits());
      max_hidden = std::max(max_hidden, c.max_abs_hidden);
      // Greedy: every step before the first fragile one must choose the reference token.
      const int64_t limit = c.first_fragile_step < 0 ? c.steps : c.first_fragile_step;
      steps_checked += limit;
      for (int64_t j : c.step_argmax_diff) {
        f.expect(j >= limit, "prompt " + std::to_string(p.index) +
                                 ": greedy token differs at step " + std::to_string(j) +
                                 ", before the first step with gap < 0.05 (" +
                                 std::to_string(limit) + ")");
      }
      qInfo(
          "A2 prompt %d: logits max |d| %.3g, positions within 1e-3 %lld/%lld, argmax %lld/%lld, "
          "routing sets %lld/%lld, hidden %.3g, probs %.3g, greedy rows equal %lld/%lld "
          "(checked before first gap<0.05: %lld)",
          p.index, c.max_abs_logits(),
          static_cast<long long>(std::count_if(c.pos_max_abs.begin(), c.pos_max_abs.end(),
                                               [](double d) { return d <= kLogitPosTol; })),
          static_cast<long long>(c.n), static_cast<long long>(c.argmax_equal),
          static_cast<long long>(c.n),
          static_cast<long long>(c.decisions - static_cast<int64_t>(c.set_mismatch.size())),
          static_cast<long long>(c.decisions), c.max_abs_hidden, c.max_abs_probs,
          static_cast<long long>(c.steps - static_cast<int64_t>(c.step_argmax_diff.size())),
          static_cast<long long>(c.steps), static_cast<long long>(limit));
    }
    const double f_route_prompt =
        static_cast<double>(set_equal_prompt) / static_cast<double>(decisions_prompt);
    const double f_route = static_cast<double>(set_equal) / static_cast<double>(decisions);
    const double f_argmax = static_cast<double>(argmax_equal) / static_cast<double>(positions);
    const double f_logits = static_cast<double>(pos_within) / static_cast<double>(positions);
    qInfo(
        "A2 totals: routing sets equal %lld/%lld prompt decisions (%.2f%%), %lld/%lld incl. "
        "decode positions (%.2f%%), layer 0 %lld/%lld; argmax %lld/%lld (%.2f%%); positions "
        "with logits within 1e-3 %lld/%lld (%.2f%%), within 1e-5 %lld; max logits |d| %.3g; max "
        "hidden |d| %.3g; greedy steps checked %lld",
        static_cast<long long>(set_equal_prompt), static_cast<long long>(decisions_prompt),
        100 * f_route_prompt, static_cast<long long>(set_equal), static_cast<long long>(decisions),
        100 * f_route, static_cast<long long>(layer0_equal), static_cast<long long>(layer0),
        static_cast<long long>(argmax_equal), static_cast<long long>(positions), 100 * f_argmax,
        static_cast<long long>(pos_within), static_cast<long long>(positions), 100 * f_logits,
        static_cast<long long>(pos_within_1e5), max_logits, max_hidden,
        static_cast<long long>(steps_checked));
    QCOMPARE(positions, int64_t{131});
    QCOMPARE(decisions_prompt, int64_t{524});
    f.expect(f_route_prompt >= kRoutingFrac, "routing sets equal at " + fmt(100 * f_route_prompt) +
                                                 "% of prompt decisions (need 99%)");
    f.expect(f_route >= kRoutingFrac,
             "routing sets equal at " + fmt(100 * f_route) + "% of all decisions (need 99%)");
    f.expect(f_argmax >= kArgmaxFrac, "argmax equal at " + fmt(100 * f_argmax) + "% (need 97%)");
    f.expect(f_logits >= kLogitPosFrac,
             "logits within 1e-3 at " + fmt(100 * f_logits) + "% of positions (need 85%)");
    QVERIFY2(f.empty(), f.c_str());
  }
};

QTEST_GUILESS_MAIN(TestFixtureQuant)
#include "test_fixture_quant.moc"
