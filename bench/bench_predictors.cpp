// Expert-predictor benchmark, printed as JSON on stdout. A synthetic routing history
// (core/predict/synthetic_history.h; 2000 prompts, 16 layers x 64 experts, k = 8, 5 tasks with
// 3 routing modes each) is split into the first 1500 prompts for train() and 500 held-out
// prompts, which are predicted one at a time and then observed online (deployment order).
// Per predictor: train time, predict and observe time per call, and on the held-out prompts
// accuracy / precision / recall / F1 (docs/PREDICTORS.md) at p = 1, plus accuracy when the
// predictor only runs every p = 40 prompts (PeriodicInvoker, the paper's setting), both with
// one reused prediction (the paper) and with one prediction per task.
// Usage: bench_predictors [--quick] [--prompts N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/common/json_writer.h"
#include "core/predict/activation_matrix_predictor.h"
#include "core/predict/emoe_a_predictor.h"
#include "core/predict/emoe_l_predictor.h"
#include "core/predict/periodic_invoker.h"
#include "core/predict/prediction_metrics.h"
#include "core/predict/predictor.h"
#include "core/predict/synthetic_history.h"

using namespace emoe;
using namespace emoe::predict;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Entry {
  std::string label;
  std::function<std::unique_ptr<Predictor>()> make;
};

void fail(const Status& s) {
  std::fprintf(stderr, "bench_predictors: %s\n", s.message().c_str());
  std::exit(1);
}

RoutingHistory history_of(const HistoryShape& shape, const std::vector<PromptRecord>& records,
                          size_t end) {
  auto h = RoutingHistory::create(shape, records.size());
  if (!h.ok()) fail(h.status());
  for (size_t i = 0; i < end; ++i) {
    Status s = h->add(records[i]);
    if (!s.is_ok()) fail(s);
  }
  return std::move(h).value();
}

void write_scores(JsonWriter& j, const PredictionScorer& sc) {
  const SetScores& o = sc.overall();
  const WeightedScores w = sc.weighted_overall();
  j.key("accuracy").value(o.accuracy());
  j.key("precision").value(o.precision());
  j.key("recall").value(o.recall());
  j.key("f1").value(o.f1());
  j.key("weighted_precision").value(w.precision);
  j.key("weighted_recall").value(w.recall);
  j.key("weighted_f1").value(w.f1);
  j.key("exact_set_match").value(o.exact_match());
}

}  // namespace

int main(int argc, char** argv) {
  int32_t n_prompts = 2000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) n_prompts = 400;
    if (std::strcmp(argv[i], "--prompts") == 0 && i + 1 < argc) n_prompts = std::atoi(argv[++i]);
  }
  n_prompts = std::max(n_prompts, 20);
  SyntheticHistoryOptions so;
  so.shape = HistoryShape{16, 64, 8, HistogramPhase::All};
  so.n_prompts = n_prompts;
  const double t_gen = now_s();
  auto gen = make_synthetic_history(so);
  if (!gen.ok()) fail(gen.status());
  const std::vector<PromptRecord>& records = *gen;
  const double gen_s = now_s() - t_gen;
  const size_t n_train = records.size() * 3 / 4;

  PredictorOptions po;
  po.shape = so.shape;
  std::vector<Entry> entries;
  for (const std::string& name : predictor_names()) {
    entries.push_back({name, [name, po] {
                         auto p = make_predictor(name, po);
                         if (!p.ok()) fail(p.status());
                         return std::move(p).value();
                       }});
  }
  PredictorOptions set_target = po;
  set_target.target = PredictionTarget::Set;
  entries.push_back(
      {"emoe-a/set-target", [set_target] { return std::make_unique<EmoeAPredictor>(set_target); }});
  // Ablations of the defaults (docs/PREDICTORS.md): every layer as input, two previous
  // prompts, and averaging 8 matches instead of taking the best one.
  PredictorOptions all_layers = po;
  all_layers.layer_span = -1;
  entries.push_back(
      {"emoe-a/all-layers", [all_layers] { return std::make_unique<EmoeAPredictor>(all_layers); }});
  PredictorOptions w2 = po;
  w2.window = 2;
  entries.push_back({"emoe-a/window-2", [w2] { return std::make_unique<EmoeAPredictor>(w2); }});
  PredictorOptions nn8 = po;
  nn8.neighbours = 8;
  entries.push_back({"activation-matrix/8-nn",
                     [nn8] { return std::make_unique<ActivationMatrixPredictor>(nn8); }});
  entries.push_back(
      {"emoe-l/set-target", [set_target] { return std::make_unique<EmoeLPredictor>(set_target); }});

  JsonWriter j;
  j.begin_object();
  j.key("benchmark").value("predictors");
  j.key("history").begin_object();
  j.key("prompts").value(static_cast<int64_t>(records.size()));
  j.key("train_prompts").value(static_cast<int64_t>(n_train));
  j.key("held_out_prompts").value(static_cast<int64_t>(records.size() - n_train));
  j.key("n_layer").value(so.shape.n_layer);
  j.key("n_expert").value(so.shape.n_expert);
  j.key("k").value(so.shape.k);
  j.key("tasks").value(so.n_tasks);
  j.key("modes_per_task").value(so.modes_per_task);
  j.key("generate_s").value(gen_s);
  j.end_object();
  j.key("predictors").begin_array();
  for (const Entry& entry : entries) {
    // p = 1: every held-out prompt is predicted, then observed.
    std::unique_ptr<Predictor> p = entry.make();
    RoutingHistory train_hist = history_of(so.shape, records, n_train);
    const double t0 = now_s();
    Status s = p->train(train_hist);
    const double train_s = now_s() - t0;
    if (!s.is_ok()) fail(s);
    auto scorer = PredictionScorer::create(so.shape);
    if (!scorer.ok()) fail(scorer.status());
    RoutingHistory hist = history_of(so.shape, records, n_train);
    std::vector<double> predict_us, observe_us;
    for (size_t i = n_train; i < records.size(); ++i) {
      p->reveal_future(records[i]);
      const double a = now_s();
      const ExpertPrediction pred = p->predict(hist, records[i].task);
      const double b = now_s();
      s = scorer->add(pred, records[i]);
      if (!s.is_ok()) fail(s);
      const double c = now_s();
      s = p->observe(records[i]);
      const double d = now_s();
      if (!s.is_ok()) fail(s);
      predict_us.push_back((b - a) * 1e6);
      observe_us.push_back((d - c) * 1e6);
      s = hist.add(records[i]);
      if (!s.is_ok()) fail(s);
    }
    std::sort(predict_us.begin(), predict_us.end());
    std::sort(observe_us.begin(), observe_us.end());
    double predict_mean = 0;
    for (const double v : predict_us) predict_mean += v;
    predict_mean /= static_cast<double>(predict_us.size());

    // p = 40: a fresh, identically trained predictor behind the periodic invoker, in the
    // paper's single-prediction mode and in per-task mode.
    struct Periodic {
      int64_t invocations = 0, calls = 0;
      double accuracy = 0, f1 = 0;
    };
    auto periodic = [&](InvokerMode mode) {
      std::unique_ptr<Predictor> q = entry.make();
      Status st = q->train(train_hist);
      if (!st.is_ok()) fail(st);
      auto inv = PeriodicInvoker::create(q.get(), 40, {}, mode);
      if (!inv.ok()) fail(inv.status());
      auto sc = PredictionScorer::create(so.shape);
      RoutingHistory h = history_of(so.shape, records, n_train);
      for (size_t i = n_train; i < records.size(); ++i) {
        q->reveal_future(records[i]);
        const ExpertPrediction& pred = inv->next_prompt(h, records[i].task);
        st = sc->add(pred, records[i]);
        if (!st.is_ok()) fail(st);
        st = q->observe(records[i]);
        if (!st.is_ok()) fail(st);
        st = h.add(records[i]);
        if (!st.is_ok()) fail(st);
      }
      return Periodic{inv->invocations(), inv->predictor_calls(), sc->overall().accuracy(),
                      sc->overall().f1()};
    };
    const Periodic single = periodic(InvokerMode::Single);
    const Periodic per_task = periodic(InvokerMode::PerTask);

    j.begin_object();
    j.key("name").value(entry.label);
    j.key("train_s").value(train_s);
    j.key("predict_us_mean").value(predict_mean);
    j.key("predict_us_median").value(predict_us[predict_us.size() / 2]);
    j.key("observe_us_median").value(observe_us[observe_us.size() / 2]);
    j.key("p1").begin_object();
    write_scores(j, *scorer);
    j.end_object();
    for (const auto& [key, r] :
         {std::pair{"p40_single", single}, std::pair{"p40_per_task", per_task}}) {
      j.key(key).begin_object();
      j.key("invocations").value(r.invocations);
      j.key("predictor_calls").value(r.calls);
      j.key("accuracy").value(r.accuracy);
      j.key("f1").value(r.f1);
      j.end_object();
    }
    j.end_object();
    std::fprintf(stderr,
                 "%-20s train %.3f s, predict %.1f us, acc %.3f, f1 %.3f, wf1 %.3f, p40 acc %.3f "
                 "(per task %.3f)\n",
                 entry.label.c_str(), train_s, predict_mean, scorer->overall().accuracy(),
                 scorer->overall().f1(), scorer->weighted_overall().f1, single.accuracy,
                 per_task.accuracy);
  }
  j.end_array();
  j.end_object();
  std::printf("%s\n", j.str().c_str());
  return 0;
}
