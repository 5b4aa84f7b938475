// Sensitivity profiling: the insensitive-prefix rule on hand-made accuracy curves (including a
// non-monotone one, where a later recovery must not make a layer insensitive again), and the
// sweep on the tiny fixture: threshold 0 makes every layer insensitive, 1.01 none; routing
// events show that exactly the first x MoE layers are randomised in sweep step x (a new random
// set per token) while the others route exactly; the same seed gives the same curve.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <vector>

#include "core/engine/engine.h"
#include "core/model/model.h"
#include "core/predict/sensitivity_profiler.h"

using namespace emoe;
using namespace emoe::predict;

namespace {

// Per sweep step (bucketed by the progress callback) and layer: routing events seen, events
// whose used experts differ from the router's top-k, and the distinct used sets.
struct RoutingAudit : engine::ForwardObserver {
  struct Cell {
    int64_t events = 0, rerouted = 0;
    std::set<std::vector<int32_t>> used_sets;
  };
  void on_routing(const engine::RoutingEvent& ev) override {
    if (cells.size() <= static_cast<size_t>(step)) cells.resize(static_cast<size_t>(step) + 1);
    auto& row = cells[static_cast<size_t>(step)];
    if (row.size() <= static_cast<size_t>(ev.layer)) row.resize(static_cast<size_t>(ev.layer) + 1);
    Cell& c = row[static_cast<size_t>(ev.layer)];
    ++c.events;
    std::vector<int32_t> used(ev.used.begin(), ev.used.end());
    std::vector<int32_t> top(ev.topk.begin(), ev.topk.end());
    std::sort(used.begin(), used.end());
    std::sort(top.begin(), top.end());
    if (used != top) ++c.rerouted;
    c.used_sets.insert(used);
  }
  int32_t step = 0;
  std::vector<std::vector<Cell>> cells;  // [step][layer]
};

}  // namespace

class TestSensitivity : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    auto m = model::Model::load(EMOE_TEST_DATA_DIR "/tiny-mixtral-q/model.gguf");
    QVERIFY2(m.ok(), m.status().message().c_str());
    model_ = std::move(m).value();
    engine::EngineOptions o;
    o.n_ctx = 128;
    auto e = engine::Engine::create(*model_, o);
    QVERIFY(e.ok());
    engine_ = std::move(e).value();
    const auto& tok = model_->tokenizer();
    prompts_.push_back(tok.encode("Classify the sentiment: I loved this film.", true, false));
    prompts_.push_back(tok.encode("Translate to French: good morning", true, false));
  }

  void prefix_rule_on_hand_made_curves() {
    // Accuracy with MoE layers 0..i random, i = 0..3. 0.70 < 0.85 at i = 2 ends the prefix;
    // the recovery to 0.88 at i = 3 does not make layer 3 insensitive.
    const std::vector<double> curve = {0.95, 0.90, 0.70, 0.88};
    const std::vector<int32_t> moe = {0, 1, 2, 3};
    QCOMPARE(insensitive_prefix(curve, 0.85), 2);
    QCOMPARE(sensitivity_from_accuracy(curve, 0.85, moe, 4), (std::vector<float>{0, 0, 1, 1}));
    QCOMPARE(insensitive_prefix(curve, 0.90), 2);  // equal to the threshold still counts
    QCOMPARE(insensitive_prefix(curve, 0.91), 1);
    QCOMPARE(insensitive_prefix(curve, 0.96), 0);
    QCOMPARE(insensitive_prefix(curve, 0.5), 4);
    QCOMPARE(sensitivity_from_accuracy(curve, 0.96, moe, 4), (std::vector<float>{1, 1, 1, 1}));
    // MoE blocks 1 and 3 of a model with dense blocks 0 and 2; a sweep cut short after one
    // prefix leaves the unmeasured layer sensitive.
    const std::vector<double> short_curve = {0.9};
    const std::vector<int32_t> sparse = {1, 3};
    QCOMPARE(sensitivity_from_accuracy(short_curve, 0.85, sparse, 4),
             (std::vector<float>{0, 0, 0, 1}));
    QCOMPARE(insensitive_prefix(std::vector<double>{}, 0.85), 0);
  }

  void threshold_zero_every_layer_insensitive() {
    RoutingAudit audit;
    engine_->add_observer(&audit);
    SensitivityOptions o;
    o.threshold = 0.0;
    o.continuation_tokens = 8;
    o.seed = 3;
    o.progress = [&](int32_t done, int32_t total) {
      audit.step = done;
      return done <= total;
    };
    auto p = profile_sensitivity(*engine_, "classification", prompts_, o);
    engine_->remove_observer(&audit);
    QVERIFY2(p.ok(), p.status().message().c_str());
    QCOMPARE(p->moe_layers, (std::vector<int32_t>{0, 1, 2, 3}));
    QCOMPARE(p->accuracy.size(), size_t{4});
    QCOMPARE(p->insensitive_layers, 4);
    QCOMPARE(p->sensitivity, (std::vector<float>{0, 0, 0, 0}));
    const int64_t positions = static_cast<int64_t>(prompts_[0].size() + prompts_[1].size()) + 2 * 8;
    QCOMPARE(p->positions, positions);
    for (const double a : p->accuracy) QVERIFY(a >= 0.0 && a <= 1.0);
    qInfo("tiny-mixtral-q, random routing in the first 1..4 MoE layers: %.3f %.3f %.3f %.3f",
          p->accuracy[0], p->accuracy[1], p->accuracy[2], p->accuracy[3]);
    // Random routing in every layer must change some predictions of this model.
    QVERIFY(p->accuracy[3] < 1.0);

    // Step x (events between progress calls x-1 and x) randomises MoE layers 0..x-1 only. Step
    // 0 also holds the reference runs, so its rerouting share at layer 0 is not checked.
    QCOMPARE(audit.cells.size(), size_t{4});  // steps 0..3; nothing runs after the last call
    for (int32_t x = 1; x <= 4; ++x) {
      const auto& row = audit.cells[static_cast<size_t>(x - 1)];
      QCOMPARE(row.size(), size_t{4});
      for (int32_t l = 0; l < 4; ++l) {
        const auto& c = row[static_cast<size_t>(l)];
        QVERIFY(c.events > 0);
        if (l >= x) {
          QCOMPARE(c.rerouted, int64_t{0});
        } else {
          // Per-token redraws: many distinct sets, and most tokens rerouted (a random pair
          // equals the router's pair with probability 1/28).
          QVERIFY2(c.used_sets.size() > 5, qPrintable(QString::number(c.used_sets.size())));
          if (x > 1) QVERIFY(c.rerouted * 2 > c.events);
        }
      }
    }

    // The same seed reproduces the curve.
    SensitivityOptions again = o;
    again.progress = {};
    auto q = profile_sensitivity(*engine_, "classification", prompts_, again);
    QVERIFY(q.ok());
    QCOMPARE(q->accuracy, p->accuracy);
    // The engine is back on all experts.
    QCOMPARE(engine_->expert_access().mode, engine::RoutingMode::All);
    QVERIFY(engine_->expert_access().cache == nullptr);
  }

  void threshold_above_one_no_layer_insensitive() {
    SensitivityOptions o;
    o.threshold = 1.01;
    o.continuation_tokens = 4;
    o.granularity = RandomGranularity::Prompt;
    o.stop_at_failure = true;
    auto p = profile_sensitivity(*engine_, "conversation", prompts_, o);
    QVERIFY2(p.ok(), p.status().message().c_str());
    QCOMPARE(p->accuracy.size(), size_t{1});  // stopped at the first prefix
    QCOMPARE(p->insensitive_layers, 0);
    QCOMPARE(p->sensitivity, (std::vector<float>{1, 1, 1, 1}));
    QCOMPARE(p->task, std::string("conversation"));
  }

  void bad_inputs_are_refused() {
    QVERIFY(!profile_sensitivity(*engine_, "x", std::vector<std::vector<int32_t>>{}).ok());
    QVERIFY(!profile_sensitivity(*engine_, "x", std::vector<std::vector<int32_t>>{{}}).ok());
    SensitivityOptions o;
    o.threshold = std::nan("");
    QVERIFY(!profile_sensitivity(*engine_, "x", prompts_, o).ok());
    SensitivityOptions stop;
    stop.continuation_tokens = 0;
    stop.progress = [](int32_t, int32_t) { return false; };
    auto r = profile_sensitivity(*engine_, "x", prompts_, stop);
    QVERIFY(!r.ok());
    QCOMPARE(r.status().code(), StatusCode::Cancelled);
    QCOMPARE(engine_->expert_access().mode, engine::RoutingMode::All);
  }

 private:
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<engine::Engine> engine_;
  std::vector<std::vector<int32_t>> prompts_;
};

QTEST_GUILESS_MAIN(TestSensitivity)
#include "test_sensitivity.moc"
