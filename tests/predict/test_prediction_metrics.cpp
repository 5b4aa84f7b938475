// Prediction metrics on cases small enough to count by hand (2 layers x 6 experts, k = 2).
// Every expected number below is derived in the comment next to it.
#include <QtTest>
#include <cmath>
#include <vector>

#include "core/predict/prediction_metrics.h"

using namespace emoe;
using namespace emoe::predict;

namespace {

const HistoryShape kShape{2, 6, 2, HistogramPhase::All};

PromptRecord record(std::vector<uint32_t> prefill, std::vector<uint32_t> decode = {}) {
  auto r = PromptRecord::from_counts(0, "t", 2, 6, std::move(prefill), std::move(decode));
  return std::move(r).value();
}

ExpertPrediction prediction(std::vector<float> probs) {
  ExpertPrediction p;
  p.n_layer = 2;
  p.n_expert = 6;
  p.probs = std::move(probs);
  return p;
}

bool near(double a, double b) { return std::fabs(a - b) < 1e-12; }

}  // namespace

class TestPredictionMetrics : public QObject {
  Q_OBJECT

 private slots:
  void hand_computed_scores() {
    auto sc = PredictionScorer::create(kShape);
    QVERIFY(sc.ok());
    // Prompt 1. Layer 0: counts {5,3,0,0,0,0} -> A = {0,1}; prediction top-2 {1,3} -> 1 hit.
    // Layer 1: counts {0,0,1,0,2,2} (prefill + decode) -> A = {4,5}; predicted {4,5}: exact.
    QVERIFY(
        sc->add(prediction({0.2f, 0.5f, 0, 0.3f, 0, 0,  //
                            0, 0, 0.1f, 0, 0.45f, 0.45f}),
                record({5, 3, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}))
            .is_ok());
    // Prompt 2. Layer 0: only expert 2 used -> A = {2} (|A| = 1); predicted {2,0} -> 1 hit, 1 FP.
    // Layer 1: no tokens -> not scored at all, whatever was predicted.
    QVERIFY(sc->add(prediction({0.3f, 0, 0.7f, 0, 0, 0,  //
                                1, 0, 0, 0, 0, 0}),
                    record({0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
                .is_ok());
    // Prompt 3. Layer 0: A = {0,1}; the prediction knows nothing (all zero): P empty, 2 FN.
    // Layer 1: A = {4,5}... counts {0,0,0,0,4,4}; prediction {1/6 each}: ties -> top-2 {0,1}.
    QVERIFY(sc->add(prediction({0, 0, 0, 0, 0, 0,  //
                                1.f / 6, 1.f / 6, 1.f / 6, 1.f / 6, 1.f / 6, 1.f / 6}),
                    record({2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4}))
                .is_ok());
    QCOMPARE(sc->prompts(), int64_t{3});

    // Pairs: P1L0, P1L1, P2L0, P3L0, P3L1 = 5. Hits: 1 + 2 + 1 + 0 + 0 = 4; |A| sum 2+2+1+2+2 = 9.
    const SetScores& o = sc->overall();
    QCOMPARE(o.pairs, int64_t{5});
    QCOMPARE(o.hits_at_k, int64_t{4});
    QCOMPARE(o.actual, int64_t{9});
    QVERIFY(near(o.accuracy(), 4.0 / 9));
    // TP 4. FP: P1L0 {3}, P2L0 {0}, P3L1 {0,1} = 4. FN: P1L0 {0}, P3L0 {0,1}, P3L1 {4,5} = 5.
    QCOMPARE(o.tp, int64_t{4});
    QCOMPARE(o.fp, int64_t{4});
    QCOMPARE(o.fn, int64_t{5});
    QVERIFY(near(o.precision(), 4.0 / 8));
    QVERIFY(near(o.recall(), 4.0 / 9));
    QVERIFY(near(o.f1(), 8.0 / 17));  // 2TP / (2TP + FP + FN)
    QCOMPARE(o.exact, int64_t{1});    // P1L1 only
    QVERIFY(near(o.exact_match(), 1.0 / 5));
    // Jaccard: 1/3, 1, 1/2, 0, 0.
    QVERIFY(near(o.jaccard(), (1.0 / 3 + 1 + 0.5) / 5));

    // Per layer. Layer 0: pairs 3, hits 2 of 5. Layer 1: pairs 2, hits 2 of 4.
    QCOMPARE(sc->layer(0).pairs, int64_t{3});
    QVERIFY(near(sc->layer(0).accuracy(), 2.0 / 5));
    QVERIFY(near(sc->layer(1).accuracy(), 2.0 / 4));
    QVERIFY(near(sc->layer(1).precision(), 2.0 / 4));

    // Weighted over labels (layer, expert), weight = support (times in A):
    //  L0e0: support 2, TP 0, FP 1 (P2)        -> P 0,   R 0,   F 0
    //  L0e1: support 2, TP 1 (P1), FN 1 (P3)   -> P 1,   R 1/2, F 2/3
    //  L0e2: support 1, TP 1                   -> P 1,   R 1,   F 1
    //  L0e3: support 0 (FP only)               -> not counted
    //  L1e4, L1e5: support 2 each, TP 1, FN 1  -> P 1,   R 1/2, F 2/3
    //  L1e0, L1e1: support 0 (FP only)         -> not counted
    // Total support 9. P = (0 + 2 + 1 + 2 + 2) / 9; R = (0 + 1 + 1 + 1 + 1) / 9 (= micro recall);
    // F = (0 + 4/3 + 1 + 4/3 + 4/3) / 9.
    const WeightedScores w = sc->weighted_overall();
    QCOMPARE(w.support, int64_t{9});
    QVERIFY(near(w.precision, 7.0 / 9));
    QVERIFY(near(w.recall, 4.0 / 9));
    QVERIFY(near(w.f1, 5.0 / 9));
    // Layer 1 alone: support 4, P = (2 + 2) / 4 = 1, R = 2/4, F = (4/3 + 4/3) / 4 = 2/3.
    const WeightedScores w1 = sc->weighted_layer(1);
    QVERIFY(near(w1.precision, 1.0));
    QVERIFY(near(w1.recall, 0.5));
    QVERIFY(near(w1.f1, 2.0 / 3));
  }

  void larger_predicted_set() {
    // P = top-3: a loader that keeps 3 experts per layer. Accuracy still uses the top-k (2).
    auto sc = PredictionScorer::create(kShape, 3);
    QVERIFY(sc.ok());
    // Layer 0: A = {0,1}; prediction order 1, 3, 0 -> top-2 {1,3}: 1 hit; top-3 {1,3,0}: TP 2,
    // FP 1, FN 0. Layer 1: no tokens.
    QVERIFY(sc->add(prediction({0.2f, 0.5f, 0, 0.3f, 0, 0, 0, 0, 0, 0, 0, 0}),
                    record({5, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
                .is_ok());
    const SetScores& o = sc->overall();
    QVERIFY(near(o.accuracy(), 0.5));
    QVERIFY(near(o.precision(), 2.0 / 3));
    QVERIFY(near(o.recall(), 1.0));
    QVERIFY(near(o.f1(), 0.8));
    QCOMPARE(o.exact, int64_t{0});  // {1,3,0} != {0,1}
  }

  void bad_input_is_refused() {
    QVERIFY(!PredictionScorer::create(kShape, 7).ok());
    QVERIFY(!PredictionScorer::create(HistoryShape{2, 6, 0, HistogramPhase::All}).ok());
    auto sc = PredictionScorer::create(kShape);
    QVERIFY(sc.ok());
    ExpertPrediction wrong = ExpertPrediction::unknown(3, 6);
    const Status s = sc->add(wrong, record(std::vector<uint32_t>(12, 1)));
    QCOMPARE(s.code(), StatusCode::InvalidArgument);
    QVERIFY2(s.message().find("3 layers x 6 experts") != std::string::npos, s.message().c_str());
    auto other = PromptRecord::from_counts(1, "t", 2, 5, {}, {});
    QVERIFY(other.ok());
    QVERIFY(!sc->add(ExpertPrediction::unknown(2, 6), *other).is_ok());
    QCOMPARE(sc->prompts(), int64_t{0});
    QCOMPARE(sc->overall().pairs, int64_t{0});
  }
};

QTEST_GUILESS_MAIN(TestPredictionMetrics)
#include "test_prediction_metrics.moc"
