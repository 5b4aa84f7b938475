// Predictors on synthetic histories whose right answers the test knows by construction:
//  (a) a periodic task sequence, each task with a fixed expert set per layer: frequency,
//      eMoE-A and eMoE-L must predict every set exactly after training; random stays at k/n;
//  (b) a Markov chain of routing states across prompts (disjoint expert sets per state): the
//      Bayes-optimal accuracy is computed here from the chain (float64) and on the realised
//      test sequence; markov, eMoE-A and eMoE-L must come close to it and beat popularity;
//  (c) the oracle scores exactly 100%;
//  (g) unknown names, bad options and mismatched shapes give a clear Status.
// Truth is compared on expert ids directly, not through PredictionScorer, except where the
// scorer itself is the point.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/predict/activation_matrix_predictor.h"
#include "core/predict/emoe_a_predictor.h"
#include "core/predict/prediction_metrics.h"
#include "core/predict/predictor.h"

using namespace emoe;
using namespace emoe::predict;

namespace {

struct World {
  HistoryShape shape;
  std::vector<ExpertSequence> sets;  // [state or task][layer] -> sorted expert set
  std::vector<int32_t> state;        // per prompt
  std::vector<PromptRecord> records;
};

// The record of a prompt in `set_seq`: set experts 10..19 tokens each, plus 3 noise experts
// outside the set with 1..3 tokens (never enough to enter the top-k).
PromptRecord make_record(int64_t id, const std::string& task, const HistoryShape& s,
                         const ExpertSequence& set_seq, std::mt19937_64& rng) {
  std::vector<uint32_t> pre(s.cells(), 0), dec(s.cells(), 0);
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const size_t row = static_cast<size_t>(l) * static_cast<size_t>(s.n_expert);
    const std::vector<int32_t>& set = set_seq[static_cast<size_t>(l)];
    for (const int32_t e : set) {
      pre[row + static_cast<size_t>(e)] = 10 + static_cast<uint32_t>(rng() % 10);
      dec[row + static_cast<size_t>(e)] = static_cast<uint32_t>(rng() % 4);
    }
    for (int n = 0; n < 3;) {
      const int32_t e = static_cast<int32_t>(rng() % static_cast<uint64_t>(s.n_expert));
      if (std::find(set.begin(), set.end(), e) != set.end()) continue;
      pre[row + static_cast<size_t>(e)] += 1 + static_cast<uint32_t>(rng() % 3);
      ++n;
    }
  }
  return std::move(PromptRecord::from_counts(id, task, s.n_layer, s.n_expert, pre, dec)).value();
}

std::vector<int32_t> sorted(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// (a) tasks cycle sum, qa, conv; each has its own random set per layer (sets may overlap).
World periodic_tasks(int32_t n_prompts) {
  World w;
  w.shape = HistoryShape{8, 32, 4, HistogramPhase::All};
  std::mt19937_64 rng(11);
  w.sets.resize(3);
  for (ExpertSequence& seq : w.sets) {
    for (int32_t l = 0; l < w.shape.n_layer; ++l) {
      std::vector<int32_t> ids(32);
      for (int32_t e = 0; e < 32; ++e) ids[static_cast<size_t>(e)] = e;
      for (size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng() % i]);
      seq.push_back(sorted({ids.begin(), ids.begin() + 4}));
    }
  }
  const char* names[3] = {"sum", "qa", "conv"};
  for (int32_t i = 0; i < n_prompts; ++i) {
    w.state.push_back(i % 3);
    w.records.push_back(
        make_record(i, names[i % 3], w.shape, w.sets[static_cast<size_t>(i % 3)], rng));
  }
  return w;
}

// (b) the chain's transition matrix; rows have different maxima so Bayes is not trivial.
const double kP[4][4] = {{0.05, 0.80, 0.10, 0.05},
                         {0.10, 0.10, 0.60, 0.20},
                         {0.30, 0.10, 0.10, 0.50},
                         {0.55, 0.15, 0.15, 0.15}};

World markov_chain(int32_t n_prompts) {
  World w;
  w.shape = HistoryShape{6, 32, 4, HistogramPhase::All};
  std::mt19937_64 rng(5);
  w.sets.assign(4, ExpertSequence(6));
  for (int32_t l = 0; l < 6; ++l) {
    std::vector<int32_t> ids(32);
    for (int32_t e = 0; e < 32; ++e) ids[static_cast<size_t>(e)] = e;
    for (size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng() % i]);
    for (int32_t s = 0; s < 4; ++s) {
      w.sets[static_cast<size_t>(s)][static_cast<size_t>(l)] =
          sorted({ids.begin() + 4 * s, ids.begin() + 4 * s + 4});
    }
  }
  int32_t s = 0;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int32_t i = 0; i < n_prompts; ++i) {
    if (i > 0) {
      double x = u(rng), acc = 0;
      int32_t next = 3;
      for (int32_t j = 0; j < 4; ++j) {
        acc += kP[s][j];
        if (x < acc) {
          next = j;
          break;
        }
      }
      s = next;
    }
    w.state.push_back(s);
    w.records.push_back(make_record(i, "chat", w.shape, w.sets[static_cast<size_t>(s)], rng));
  }
  return w;
}

RoutingHistory history(const World& w, size_t end) {
  RoutingHistory h = std::move(RoutingHistory::create(w.shape, 100000)).value();
  for (size_t i = 0; i < end; ++i) {
    const Status s = h.add(w.records[i]);
    Q_ASSERT(s.is_ok());
  }
  return h;
}

std::unique_ptr<Predictor> make(const std::string& name, const HistoryShape& shape) {
  PredictorOptions o;
  o.shape = shape;
  auto p = make_predictor(name, o);
  Q_ASSERT(p.ok());
  return std::move(p).value();
}

struct Outcome {
  double slot_accuracy = 0;  // predicted top-k experts that are in the true set, per slot
  double exact_layers = 0;   // layers whose top-k is exactly the true set
  double scorer_accuracy = 0;
};

// Trains on records [0, n_train), then predicts each later prompt from the history before it
// and observes it (deployment order). Truth: the world's set of the prompt's state.
Outcome evaluate(Predictor& p, const World& w, size_t n_train, bool train = true) {
  RoutingHistory h = history(w, n_train);
  if (train) {
    const Status s = p.train(h);
    Q_ASSERT(s.is_ok());
  }
  auto scorer = std::move(PredictionScorer::create(w.shape)).value();
  int64_t hits = 0, n_slots = 0, exact = 0, layers = 0;
  for (size_t i = n_train; i < w.records.size(); ++i) {
    p.reveal_future(w.records[i]);
    const ExpertPrediction pred = p.predict(h, w.records[i].task);
    const ExpertSequence& truth = w.sets[static_cast<size_t>(w.state[i])];
    for (int32_t l = 0; l < w.shape.n_layer; ++l) {
      const std::vector<int32_t> got = sorted(pred.top(l, w.shape.k));
      const std::vector<int32_t>& want = truth[static_cast<size_t>(l)];
      for (const int32_t e : got) hits += std::binary_search(want.begin(), want.end(), e);
      n_slots += static_cast<int64_t>(want.size());
      exact += got == want;
      ++layers;
    }
    Status s = scorer.add(pred, w.records[i]);
    Q_ASSERT(s.is_ok());
    s = p.observe(w.records[i]);
    Q_ASSERT(s.is_ok());
    s = h.add(w.records[i]);
    Q_ASSERT(s.is_ok());
  }
  return {static_cast<double>(hits) / static_cast<double>(n_slots),
          static_cast<double>(exact) / static_cast<double>(layers), scorer.overall().accuracy()};
}

}  // namespace

class TestPredictors : public QObject {
  Q_OBJECT

 private slots:
  void a_periodic_tasks_are_learned_exactly() {
    const World w = periodic_tasks(600);
    for (const char* name : {"frequency", "emoe-a", "emoe-l"}) {
      auto p = make(name, w.shape);
      const Outcome o = evaluate(*p, w, 300);
      qInfo("(a) %s: slot accuracy %.4f, exact layers %.4f", name, o.slot_accuracy, o.exact_layers);
      QVERIFY2(o.exact_layers >= 0.99, name);
      QVERIFY2(std::fabs(o.scorer_accuracy - o.slot_accuracy) < 1e-12, name);
    }
    // Random: each predicted slot hits with probability k / n = 4 / 32 (2400 prompt layers x 4
    // slots: standard deviation ~0.003).
    auto r = make("random", w.shape);
    const Outcome o = evaluate(*r, w, 300);
    qInfo("(a) random: slot accuracy %.4f (k/n = 0.125)", o.slot_accuracy);
    QVERIFY(std::fabs(o.slot_accuracy - 4.0 / 32) < 0.02);
  }

  void a_emoe_a_learns_online_without_train() {
    const World w = periodic_tasks(600);
    auto p = make("emoe-a", w.shape);
    // Untrained: nothing known, so every row is zero rather than a guess.
    const ExpertPrediction none = p->predict(history(w, 10), "qa");
    QVERIFY(!none.any_known());
    // Observe the first 300 prompts one by one (one SGD step each), then evaluate.
    for (size_t i = 0; i < 300; ++i) QVERIFY(p->observe(w.records[i]).is_ok());
    const Outcome o = evaluate(*p, w, 300, /*train=*/false);
    qInfo("(a) emoe-a online only: exact layers %.4f", o.exact_layers);
    QVERIFY(o.exact_layers >= 0.95);
  }

  void b_markov_chain_approaches_bayes_optimal() {
    const World w = markov_chain(3000);
    const size_t n_train = 2000;
    // Stationary distribution by power iteration, then the Bayes-optimal accuracy: predict the
    // most likely next state given the current one.
    std::vector<double> mu(4, 0.25);
    for (int it = 0; it < 2000; ++it) {
      std::vector<double> next(4, 0.0);
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j)
          next[static_cast<size_t>(j)] += mu[static_cast<size_t>(i)] * kP[i][j];
      }
      mu = next;
    }
    double bayes = 0, mu_max = 0;
    for (int i = 0; i < 4; ++i) {
      bayes += mu[static_cast<size_t>(i)] * *std::max_element(kP[i], kP[i] + 4);
      mu_max = std::max(mu_max, mu[static_cast<size_t>(i)]);
    }
    // The same predictor on the realised test sequence.
    int64_t right = 0;
    for (size_t i = n_train; i < w.records.size(); ++i) {
      const int32_t prev = w.state[i - 1];
      const int32_t best =
          static_cast<int32_t>(std::max_element(kP[prev], kP[prev] + 4) - kP[prev]);
      right += w.state[i] == best;
    }
    const double bayes_real =
        static_cast<double>(right) / static_cast<double>(w.records.size() - n_train);
    qInfo("(b) Bayes-optimal %.4f (realised %.4f), max stationary %.4f", bayes, bayes_real, mu_max);
    QVERIFY(std::fabs(bayes - bayes_real) < 0.05);  // the generator follows the chain

    auto pop = make("popularity", w.shape);
    const Outcome po = evaluate(*pop, w, n_train);
    qInfo("(b) popularity: %.4f", po.slot_accuracy);
    QVERIFY(po.slot_accuracy < mu_max + 0.05);
    for (const char* name : {"markov", "emoe-a", "emoe-l"}) {
      auto p = make(name, w.shape);
      const Outcome o = evaluate(*p, w, n_train);
      qInfo("(b) %s: %.4f", name, o.slot_accuracy);
      QVERIFY2(o.slot_accuracy >= bayes_real - 0.03, name);
      QVERIFY2(o.slot_accuracy > po.slot_accuracy + 0.15, name);
    }
  }

  void c_oracle_is_exact() {
    for (const World& w : {periodic_tasks(200), markov_chain(200)}) {
      auto p = make("oracle", w.shape);
      const Outcome o = evaluate(*p, w, 50);
      QCOMPARE(o.slot_accuracy, 1.0);
      QCOMPARE(o.exact_layers, 1.0);
      QCOMPARE(o.scorer_accuracy, 1.0);
    }
    // Without a revealed future the oracle knows nothing.
    const World w = markov_chain(10);
    auto p = make("oracle", w.shape);
    QVERIFY(!p->predict(history(w, 5), "chat").any_known());
  }

  void activation_matrix_prefix_match() {
    const World w = markov_chain(300);
    PredictorOptions o;
    o.shape = w.shape;
    ActivationMatrixPredictor p(o);
    QVERIFY(p.train(history(w, 300)).is_ok());
    // A running request whose first two layers route like state 2: the best stored match is a
    // state-2 prompt, so layers 2..5 must be state 2's sets.
    std::mt19937_64 rng(99);
    PromptRecord partial = make_record(1000, "chat", w.shape, w.sets[2], rng);
    for (size_t i = 2 * 32; i < partial.prefill.size(); ++i)
      partial.prefill[i] = partial.decode[i] = 0;
    auto pred = p.predict_from_prefix(partial, 2);
    QVERIFY2(pred.ok(), pred.status().message().c_str());
    for (int32_t l = 0; l < 6; ++l) {
      QCOMPARE(sorted(pred->top(l, 4)), w.sets[2][static_cast<size_t>(l)]);
    }
    QVERIFY(!p.predict_from_prefix(partial, 0).ok());
    QVERIFY(!p.predict_from_prefix(partial, 7).ok());
  }

  void training_is_deterministic() {
    const World w = markov_chain(400);
    for (const char* name : {"emoe-a", "emoe-l", "random"}) {
      auto p1 = make(name, w.shape);
      auto p2 = make(name, w.shape);
      const RoutingHistory h = history(w, 300);
      QVERIFY(p1->train(h).is_ok());
      QVERIFY(p2->train(h).is_ok());
      QVERIFY2(p1->predict(h, "chat").probs == p2->predict(h, "chat").probs, name);
    }
  }

  void g_bad_input_gives_clear_status() {
    PredictorOptions o;
    o.shape = HistoryShape{4, 8, 2, HistogramPhase::All};
    auto unknown = make_predictor("lstm", o);
    QVERIFY(!unknown.ok());
    QCOMPARE(unknown.status().code(), StatusCode::InvalidArgument);
    QVERIFY2(unknown.status().message().find("unknown predictor \"lstm\"") != std::string::npos,
             unknown.status().message().c_str());
    QVERIFY(unknown.status().message().find("emoe-a") != std::string::npos);

    PredictorOptions bad = o;
    bad.shape.k = 9;
    QVERIFY(!make_predictor("emoe-a", bad).ok());
    bad = o;
    bad.ema_alpha = 0;
    QVERIFY(!make_predictor("frequency", bad).ok());
    bad = o;
    bad.window = 0;
    QVERIFY(!make_predictor("emoe-a", bad).ok());
    bad = o;
    bad.neighbours = 0;
    QVERIFY(!make_predictor("activation-matrix", bad).ok());
    bad = o;
    bad.shape = HistoryShape{4096, 4096, 8, HistogramPhase::All};
    bad.layer_span = -1;
    auto huge = make_predictor("emoe-a", bad);
    QVERIFY(!huge.ok());
    QVERIFY2(huge.status().message().find("parameters") != std::string::npos,
             huge.status().message().c_str());

    // A history or record of another model: train and observe refuse it, predict answers
    // "unknown" in the predictor's own shape.
    auto other_history = RoutingHistory::create(HistoryShape{4, 9, 2, HistogramPhase::All}, 4);
    QVERIFY(other_history.ok());
    auto other_record = PromptRecord::from_counts(3, "qa", 4, 9, {}, {});
    QVERIFY(other_record.ok());
    auto other_phase = RoutingHistory::create(HistoryShape{4, 8, 2, HistogramPhase::Prefill}, 4);
    QVERIFY(other_phase.ok());
    for (const std::string& name : predictor_names()) {
      auto p = make_predictor(name, o);
      QVERIFY2(p.ok(), name.c_str());
      const Status s = (*p)->train(*other_history);
      QCOMPARE(s.code(), StatusCode::InvalidArgument);
      QVERIFY2(s.message().find(name) != std::string::npos, s.message().c_str());
      QVERIFY2(s.message().find("9 experts") != std::string::npos, s.message().c_str());
      QVERIFY2(!(*p)->train(*other_phase).is_ok(), name.c_str());
      const Status so = (*p)->observe(*other_record);
      QVERIFY2(!so.is_ok() && so.message().find("request 3") != std::string::npos,
               so.message().c_str());
      const ExpertPrediction pred = (*p)->predict(*other_history, "qa");
      QVERIFY(pred.same_shape(4, 8));
      QVERIFY2(!pred.any_known(), name.c_str());
    }
  }
};

QTEST_GUILESS_MAIN(TestPredictors)
#include "test_predictors.moc"
