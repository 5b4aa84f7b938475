// Periodic invocation: with period p the predictor runs exactly on prompts 0, p, 2p, ... and
// every prompt in between gets the last prediction unchanged; cold start fills unknown layers
// from the task profile, else the global profile, else the history's popularity (each checked
// against values written out here); p outside 1..200 and mismatched profiles are refused.
#include <QtTest>
#include <vector>

#include "core/predict/periodic_invoker.h"

using namespace emoe;
using namespace emoe::predict;

namespace {

const HistoryShape kShape{2, 4, 1, HistogramPhase::All};

PredictorOptions shape_options() {
  PredictorOptions o;
  o.shape = kShape;
  return o;
}

// Records which prompts it was asked about; call c predicts expert (c mod 4) at both layers,
// so consecutive predictions differ. With `know_layer1` false, layer 1 is left unknown.
class CountingPredictor : public Predictor {
 public:
  explicit CountingPredictor(bool know_layer0 = true, bool know_layer1 = true)
      : Predictor(shape_options()), know0_(know_layer0), know1_(know_layer1) {}
  std::string name() const override { return "counting"; }
  Status train(const RoutingHistory&) override { return Status::ok(); }
  Status observe(const PromptRecord&) override { return Status::ok(); }
  ExpertPrediction predict(const RoutingHistory& history, const std::string& task) override {
    asked_history_sizes.push_back(history.size());
    asked_tasks.push_back(task);
    ExpertPrediction p = unknown();
    const int32_t e = static_cast<int32_t>(calls % 4);
    if (know0_) p.row(0)[static_cast<size_t>(e)] = 1.0f;
    if (know1_) p.row(1)[static_cast<size_t>(e)] = 1.0f;
    ++calls;
    return p;
  }
  int64_t calls = 0;
  std::vector<size_t> asked_history_sizes;
  std::vector<std::string> asked_tasks;

 private:
  bool know0_, know1_;
};

RoutingHistory empty_history() { return std::move(RoutingHistory::create(kShape, 1000)).value(); }

PromptRecord record(int64_t id, std::string task, std::vector<uint32_t> counts) {
  return std::move(PromptRecord::from_counts(id, std::move(task), 2, 4, std::move(counts), {}))
      .value();
}

ExpertPrediction profile(std::vector<float> probs) {
  ExpertPrediction p;
  p.n_layer = 2;
  p.n_expert = 4;
  p.probs = std::move(probs);
  return p;
}

}  // namespace

class TestPeriodicInvoker : public QObject {
  Q_OBJECT

 private slots:
  void runs_on_multiples_of_p_and_reuses_in_between() {
    for (const int32_t p : {1, 7, 40, 200}) {
      CountingPredictor pred;
      auto inv = PeriodicInvoker::create(&pred, p);
      QVERIFY(inv.ok());
      RoutingHistory h = empty_history();
      const int64_t n = 450;
      std::vector<int64_t> invoked;
      ExpertPrediction last;
      for (int64_t i = 0; i < n; ++i) {
        PeriodicInvoker::Decision d;
        const ExpertPrediction& got = inv->next_prompt(h, "qa", &d);
        QCOMPARE(d.prompt_index, i);
        if (d.invoked) {
          invoked.push_back(i);
          last = got;
        } else {
          QVERIFY(got.probs == last.probs);  // reused unchanged
        }
        QVERIFY(h.add(record(i, "qa", {1, 0, 0, 0, 0, 1, 0, 0})).is_ok());
      }
      std::vector<int64_t> want;
      for (int64_t i = 0; i < n; i += p) want.push_back(i);
      QCOMPARE(invoked, want);
      QCOMPARE(inv->invocations(), static_cast<int64_t>(want.size()));
      QCOMPARE(inv->predictor_calls(), static_cast<int64_t>(want.size()));
      QCOMPARE(pred.calls, static_cast<int64_t>(want.size()));
      QCOMPARE(inv->prompts(), n);
      // The predictor saw the history as it was before each invoking prompt.
      for (size_t c = 0; c < want.size(); ++c) {
        QCOMPARE(pred.asked_history_sizes[c], static_cast<size_t>(want[c]));
      }
    }
  }

  void period_change_counts_from_last_run() {
    CountingPredictor pred;
    auto inv = PeriodicInvoker::create(&pred, 10);
    QVERIFY(inv.ok());
    RoutingHistory h = empty_history();
    std::vector<int64_t> invoked;
    for (int64_t i = 0; i < 30; ++i) {
      if (i == 12) QVERIFY(inv->set_period(3).is_ok());  // last run at 10 -> next at 13
      PeriodicInvoker::Decision d;
      inv->next_prompt(h, "qa", &d);
      if (d.invoked) invoked.push_back(i);
    }
    QCOMPARE(invoked, (std::vector<int64_t>{0, 10, 13, 16, 19, 22, 25, 28}));
    QCOMPARE(inv->period(), 3);
  }

  void cold_start_prefers_task_profile_then_global_then_popularity() {
    // The predictor knows layer 0 only; layer 1 comes from the cold-start chain.
    CountingPredictor pred(true, false);
    ColdStartProfile cold;
    cold.per_task["qa"] = profile({0, 0, 0, 0, 0.25f, 0.75f, 0, 0});
    // A task profile without layer 1 falls through to the global one there.
    cold.per_task["conv"] = profile({1, 0, 0, 0, 0, 0, 0, 0});
    cold.global = profile({0, 0, 0, 0, 0, 0, 2, 2});  // normalised on create: 0.5 / 0.5
    auto inv = PeriodicInvoker::create(&pred, 1, cold);
    QVERIFY(inv.ok());
    RoutingHistory h = empty_history();
    PeriodicInvoker::Decision d;
    ExpertPrediction p = inv->next_prompt(h, "qa", &d);
    QVERIFY(d.cold_start);
    QCOMPARE(p.probs, (std::vector<float>{1, 0, 0, 0, 0.25f, 0.75f, 0, 0}));  // call 0: expert 0
    p = inv->next_prompt(h, "conv", &d);
    QCOMPARE(p.probs, (std::vector<float>{0, 1, 0, 0, 0, 0, 0.5f, 0.5f}));
    p = inv->next_prompt(h, "sum", &d);
    QCOMPARE(p.probs, (std::vector<float>{0, 0, 1, 0, 0, 0, 0.5f, 0.5f}));

    // Without any profile: the history's token-weighted popularity. Layer 1 counts over the
    // two records: {0,1,0,0} + {0,3,0,4} = {0,4,0,4} -> {0, 0.5, 0, 0.5}.
    CountingPredictor pred2(true, false);
    auto inv2 = PeriodicInvoker::create(&pred2, 1);
    QVERIFY(inv2.ok());
    QVERIFY(h.add(record(0, "qa", {1, 0, 0, 0, 0, 1, 0, 0})).is_ok());
    QVERIFY(h.add(record(1, "qa", {0, 0, 0, 0, 0, 3, 0, 4})).is_ok());
    p = inv2->next_prompt(h, "qa", &d);
    QVERIFY(d.cold_start);
    QCOMPARE(p.probs, (std::vector<float>{1, 0, 0, 0, 0, 0.5f, 0, 0.5f}));

    // Nothing known anywhere: the layer stays unknown (all zero), not a made-up uniform row.
    CountingPredictor pred3(true, false);
    auto inv3 = PeriodicInvoker::create(&pred3, 1);
    QVERIFY(inv3.ok());
    p = inv3->next_prompt(empty_history(), "qa", &d);
    QVERIFY(!d.cold_start);
    QVERIFY(p.layer_known(0));
    QVERIFY(!p.layer_known(1));
  }

  void per_task_mode_predicts_each_task_once_per_run() {
    CountingPredictor pred;
    auto inv = PeriodicInvoker::create(&pred, 5, {}, InvokerMode::PerTask);
    QVERIFY(inv.ok());
    RoutingHistory h = empty_history();
    QVERIFY(h.add(record(0, "sum", {1, 0, 0, 0, 1, 0, 0, 0})).is_ok());
    // Run at prompt 0: tasks {qa (asked), sum (history)}, sorted: qa -> call 0, sum -> call 1.
    PeriodicInvoker::Decision d;
    ExpertPrediction p = inv->next_prompt(h, "qa", &d);
    QVERIFY(d.invoked);
    QCOMPARE(pred.asked_tasks, (std::vector<std::string>{"qa", "sum"}));
    QCOMPARE(p.top(0, 1), (std::vector<int32_t>{0}));
    // Prompts 1..4 reuse each task's own prediction; an unseen task gets the cold start
    // (here: the history's popularity, expert 0 at both layers).
    QCOMPARE(inv->next_prompt(h, "sum", &d).top(0, 1), (std::vector<int32_t>{1}));
    QVERIFY(!d.invoked);
    QCOMPARE(inv->next_prompt(h, "qa", &d).top(0, 1), (std::vector<int32_t>{0}));
    p = inv->next_prompt(h, "conv", &d);
    QVERIFY(d.cold_start);
    QCOMPARE(p.probs, (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0}));
    inv->next_prompt(h, "qa", &d);
    QCOMPARE(pred.calls, int64_t{2});
    // Prompt 5 runs again for conv, qa, sum (conv was asked, qa and sum known): 3 calls.
    inv->next_prompt(h, "conv", &d);
    QVERIFY(d.invoked);
    QCOMPARE(pred.calls, int64_t{5});
    QCOMPARE(inv->invocations(), int64_t{2});
    QCOMPARE(inv->predictor_calls(), int64_t{5});
    QVERIFY(inv->latest_for_task("sum") != nullptr);
    QVERIFY(inv->latest_for_task("none") == nullptr);
  }

  void bad_input_is_refused() {
    CountingPredictor pred;
    for (const int32_t p : {0, -1, 201, 1000}) {
      auto inv = PeriodicInvoker::create(&pred, p);
      QVERIFY(!inv.ok());
      QCOMPARE(inv.status().code(), StatusCode::InvalidArgument);
      QVERIFY2(inv.status().message().find("outside 1..200") != std::string::npos,
               inv.status().message().c_str());
    }
    QVERIFY(!PeriodicInvoker::create(nullptr, 40).ok());
    auto inv = PeriodicInvoker::create(&pred, 40);
    QVERIFY(inv.ok());
    QVERIFY(!inv->set_period(0).is_ok());
    QVERIFY(!inv->set_period(201).is_ok());
    QCOMPARE(inv->period(), 40);

    ColdStartProfile cold;
    cold.per_task["qa"] = ExpertPrediction::unknown(3, 4);
    auto bad = PeriodicInvoker::create(&pred, 40, cold);
    QVERIFY(!bad.ok());
    QVERIFY2(bad.status().message().find("\"qa\"") != std::string::npos,
             bad.status().message().c_str());
    ColdStartProfile cold2;
    cold2.global = ExpertPrediction::unknown(2, 5);
    QVERIFY(!PeriodicInvoker::create(&pred, 40, cold2).ok());
  }
};

QTEST_GUILESS_MAIN(TestPeriodicInvoker)
#include "test_periodic_invoker.moc"
