// The experiment runner on a small task-routed model (core/model/task_routed_model.h): a
// 2-budget x 2-scheduler matrix runs end to end on the virtual clock; the workload, latencies,
// SLOs, routing decisions and bytes moved are recomputed here from independent sources (the
// workload generator, the request timings, the tokenizer, the expert store's sizes); routing
// "all" produces exactly the full model's greedy outputs (checked with engine::generate), and
// the fallback accuracy equals a teacher-forced comparison computed here with
// metrics::engine_source; the tier never exceeds its budget; runs are reproducible; cancel and
// bad configurations behave.
#include <QTemporaryDir>
#include <QtTest>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>

#include "core/engine/engine.h"
#include "core/engine/generator.h"
#include "core/engine/inference_session.h"
#include "core/experiment/experiment_runner.h"
#include "core/experiment/memory_timeline.h"
#include "core/experts/cache_model.h"
#include "core/experts/expert_store.h"
#include "core/metrics/accuracy.h"
#include "core/model/model.h"
#include "core/sched/builtin_workloads.h"
#include "tests/support/small_models.h"

using namespace emoe;
using namespace emoe::experiment;

namespace {

constexpr int kRequests = 12;
constexpr int kCap = 5;
constexpr double kRate = 40.0;
constexpr double kSloScale = 0.3;  // tight enough that some SLOs are missed

ExperimentConfig base_config() {
  ExperimentConfig c;
  c.name = "test";
  c.workload.requests = kRequests;
  c.workload.seed = 3;
  c.workload.max_new_tokens_cap = kCap;
  c.budgets = {"100%", "40%"};
  c.predictors = {"emoe-a"};
  c.intervals = {4};
  c.schedulers = {"emoe", "fcfs"};
  c.arrival_rates = {kRate};
  c.workload.slo_scale = kSloScale;
  c.routing = {engine::RoutingMode::Fallback};
  c.seeds = {1};
  c.serving.max_sequences = 3;
  c.serving.max_batch_tokens = 48;
  c.serving.clock = sched::ClockKind::Virtual;
  c.serving.cost.step_ms = 1.0;
  c.serving.cost.token_ms = 1.0;
  c.profile_requests = 6;
  c.accuracy = true;
  return c;
}

// Each request's generated tokens, rebuilt from the loop's Token events.
using Outputs = std::map<std::pair<int32_t, int64_t>, std::vector<int32_t>>;

}  // namespace

class TestExperimentRunner : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::unique_ptr<engine::InferenceSession> session_;
  std::vector<sched::Request> workload_;  // base_config()'s, generated here independently

  Result<ExperimentResult> run(const ExperimentConfig& c, const ExperimentCallbacks& cb = {}) {
    return run_experiment(*session_, c, {}, cb);
  }

  static ExperimentCallbacks recording(Outputs* outputs) {
    ExperimentCallbacks cb;
    cb.request_event = [outputs](int32_t point, const sched::RequestEvent& e) {
      if (e.kind == sched::RequestEvent::Kind::Token) (*outputs)[{point, e.id}].push_back(e.token);
    };
    return cb;
  }

  // An engine with every expert, separate from anything the runner made.
  std::unique_ptr<engine::Engine> full_engine() {
    engine::EngineOptions eo;
    eo.n_ctx = 512;
    auto e = engine::Engine::create(session_->model(), eo);
    if (!e.ok()) return nullptr;
    return std::move(e).value();
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    auto prompts = sched::builtin_task_prompts();
    QVERIFY2(prompts.ok(), prompts.status().message().c_str());
    const std::string path = dir_.filePath("small.gguf").toStdString();
    Status st = test::write_small_task_routed_model(path, 5, "experiment test model");
    QVERIFY2(st.is_ok(), st.message().c_str());
    auto s = engine::InferenceSession::open(path);
    QVERIFY2(s.ok(), s.status().message().c_str());
    session_ = std::move(s).value();

    sched::WorkloadOptions wo;
    wo.seed = 3;
    wo.n_requests = kRequests;
    wo.rate_per_s = kRate;
    auto w = sched::generate_workload(*prompts, wo);
    QVERIFY2(w.ok(), w.status().message().c_str());
    workload_ = std::move(w).value();
  }

  void matrix_runs_end_to_end() {
    const ExperimentConfig c = base_config();
    std::vector<int32_t> done_points;
    std::map<int32_t, int64_t> max_done;
    ExperimentCallbacks cb;
    cb.point_done = [&](const PointResult& p) {
      done_points.push_back(p.point.index);
      return Status::ok();
    };
    cb.progress = [&](const ExperimentProgress& p) {
      if (p.phase == "point") max_done[p.point] = std::max(max_done[p.point], p.requests_done);
    };
    auto r = run(c, cb);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QVERIFY(!r->cancelled);
    QCOMPARE(r->points.size(), size_t{4});
    QCOMPARE(done_points, (std::vector<int32_t>{0, 1, 2, 3}));
    for (int32_t i = 0; i < 4; ++i) QCOMPARE(max_done[i], int64_t{kRequests});
    QCOMPARE(r->model.n_expert, int64_t{8});

    const model::Model& m = session_->model();
    const experts::ExpertStore& store = *session_->store();
    int64_t all_met = 0, all_missed = 0;
    for (const PointResult& p : r->points) {
      QCOMPARE(p.requests.size(), size_t{kRequests});
      int64_t met = 0, completed = 0, fed_tokens = 0;
      for (size_t i = 0; i < p.requests.size(); ++i) {
        const RequestOutcome& o = p.requests[i];
        const sched::Request& w = workload_[i];
        QCOMPARE(o.id, int64_t(i));
        QVERIFY2(o.state == "finished" || o.state == "rejected", o.state.c_str());
        // The workload, from the generator and the tokenizer directly.
        QCOMPARE(o.task, std::string(sched::task_name(*w.task)));
        QCOMPARE(o.timing.arrival_ms, w.arrival_ms);
        const double slo_ttft = w.slo_ttft_ms * kSloScale, slo_e2e = w.slo_e2e_ms * kSloScale;
        QCOMPARE(o.timing.slo_ttft_ms, slo_ttft);
        QCOMPARE(o.timing.slo_e2e_ms, slo_e2e);
        QCOMPARE(o.timing.prompt_tokens, int64_t(m.tokenizer().encode(w.text, true, false).size()));
        if (o.state != "finished") continue;
        const int64_t gen = o.timing.generated_tokens;
        QVERIFY(gen >= 1 && gen <= std::min(kCap, w.max_new_tokens));
        // Latencies and SLOs from the timings, by their definitions.
        const sched::RequestTiming& t = o.timing;
        QVERIFY(t.arrival_ms <= t.admit_ms && t.admit_ms < t.first_token_ms &&
                t.first_token_ms <= t.finish_ms);
        QCOMPARE(o.prefill_done_ms, t.first_token_ms);
        const double ttft = t.first_token_ms - t.arrival_ms;
        const double e2e = t.finish_ms - t.arrival_ms;
        const double tpot = gen > 1 ? (t.finish_ms - t.first_token_ms) / double(gen - 1) : 0.0;
        QCOMPARE(o.metrics.ttft_ms, ttft);
        QCOMPARE(o.metrics.e2e_ms, e2e);
        QCOMPARE(o.metrics.tpot_ms, tpot);
        QCOMPARE(o.metrics.queue_ms, t.admit_ms - t.arrival_ms);
        const bool slo = (slo_ttft == 0 || ttft <= slo_ttft) && (slo_e2e == 0 || e2e <= slo_e2e);
        QCOMPARE(o.metrics.slo_met, slo);
        met += slo;
        ++completed;
        fed_tokens += t.prompt_tokens + gen - 1;  // the last token is sampled, never fed
      }
      all_met += met;
      all_missed += completed - met;
      QCOMPARE(p.run.completed, completed);
      QCOMPARE(p.run.slo_met, met);
      QCOMPARE(p.run.slo_attainment, double(met) / kRequests);
      // Every fed token is routed once in every MoE layer, with k resident flags each.
      QCOMPARE(p.decisions, uint64_t(fed_tokens * m.config().n_layer));
      QCOMPARE(p.hits + p.misses, p.decisions * 2);
      // Loads move whole experts of one size.
      QCOMPARE(p.bytes_moved, p.loads * store.max_expert_bytes());
      QVERIFY(p.predictor_invocations >= 1);
      QCOMPARE(p.dense_bytes, m.weights().dense_bytes);
      QCOMPARE(p.all_expert_bytes, store.total_bytes());
      QVERIFY(!p.memory.empty());
      QVERIFY(p.steps > 0);
      QVERIFY(p.accuracy_measured);
      QVERIFY(p.accuracy >= 0 && p.accuracy <= 1);
      QCOMPARE(p.per_token_ms, 1.0);  // the virtual clock's own token cost
    }
    QVERIFY2(all_met > 0 && all_missed > 0, "the SLOs should be neither all met nor all missed");
    // Points 0 and 1 hold every expert: fallback never substitutes, so the outputs are the
    // full model's (measured, not assumed).
    for (int i : {0, 1}) {
      QCOMPARE(r->points[i].expert_fraction, 1.0);
      QCOMPARE(r->points[i].substitutions, uint64_t{0});
      QCOMPARE(r->points[i].accuracy, 1.0);
      QCOMPARE(r->points[i].exact_match_rate, 1.0);
    }
    for (const PointResult& p : r->points) {
      qInfo("%s: SLO %.2f, accuracy %.3f, exact %.2f, hit rate %.3f, loads %llu, steps %lld",
            p.point.label().c_str(), p.run.slo_attainment, p.accuracy, p.exact_match_rate,
            p.hit_rate, static_cast<unsigned long long>(p.loads), static_cast<long long>(p.steps));
    }
    QVERIFY(r->points[2].expert_fraction < 1.0);
    QVERIFY(r->points[2].substitutions > 0);
  }

  void p90_is_the_nearest_rank() {
    ExperimentConfig c = base_config();
    c.budgets = {"40%"};
    c.schedulers = {"fcfs"};
    auto r = run(c);
    QVERIFY2(r.ok(), r.status().message().c_str());
    std::vector<double> e2e;
    for (const RequestOutcome& o : r->points[0].requests) {
      if (o.metrics.completed) e2e.push_back(o.metrics.e2e_ms);
    }
    std::sort(e2e.begin(), e2e.end());
    const size_t rank = static_cast<size_t>(std::ceil(0.9 * double(e2e.size())));
    QCOMPARE(r->points[0].run.p90_e2e_ms, e2e[rank - 1]);
  }

  void routing_all_is_the_full_model() {
    ExperimentConfig c = base_config();
    c.routing = {engine::RoutingMode::All};
    c.schedulers = {"fcfs"};
    Outputs outputs;
    auto r = run(c, recording(&outputs));
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->points.size(), size_t{1});  // budgets and predictors collapse
    const PointResult& p = r->points[0];
    QCOMPARE(p.point.budget, std::string("100%"));
    QCOMPARE(p.accuracy, 1.0);
    QVERIFY(!p.accuracy_measured);
    QCOMPARE(p.loads, uint64_t{0});
    QCOMPARE(p.misses, uint64_t{0});
    auto full = full_engine();
    QVERIFY(full);
    const model::Model& m = session_->model();
    for (const RequestOutcome& o : p.requests) {
      QCOMPARE(o.state, std::string("finished"));
      QVERIFY(o.matches_reference);
      const sched::Request& w = workload_[size_t(o.id)];
      const std::vector<int32_t> prompt = m.tokenizer().encode(w.text, true, false);
      auto seq = full->new_sequence();
      QVERIFY(seq.ok());
      engine::GenerateOptions go;
      go.max_new_tokens = std::min(kCap, w.max_new_tokens);
      auto g = engine::generate(*full, *seq, prompt, go);
      full->free_sequence(*seq);
      QVERIFY2(g.ok(), g.status().message().c_str());
      QCOMPARE(outputs[std::make_pair(0, o.id)], g->generated);
    }
  }

  void fallback_accuracy_is_teacher_forced_agreement() {
    ExperimentConfig c = base_config();
    c.budgets = {"30%"};
    c.schedulers = {"emoe"};
    Outputs outputs;
    auto r = run(c, recording(&outputs));
    QVERIFY2(r.ok(), r.status().message().c_str());
    const PointResult& p = r->points[0];
    QVERIFY(p.accuracy_measured);
    auto full = full_engine();
    QVERIFY(full);
    const metrics::LogitsSource src = metrics::engine_source(*full);
    const model::Model& m = session_->model();
    const size_t n_vocab = size_t(m.config().n_vocab);
    int64_t scored = 0, agreeing = 0, completed = 0, exact = 0;
    for (const RequestOutcome& o : p.requests) {
      if (!o.metrics.completed) continue;
      const std::vector<int32_t>& gen = outputs[std::make_pair(0, o.id)];
      QCOMPARE(int64_t(gen.size()), o.timing.generated_tokens);
      std::vector<int32_t> tokens = m.tokenizer().encode(workload_[size_t(o.id)].text, true, false);
      const size_t w = tokens.size();
      tokens.insert(tokens.end(), gen.begin(), gen.end());
      std::vector<float> logits;
      QVERIFY(src.forward(tokens, &logits).is_ok());
      int64_t agree = 0;
      for (size_t j = 0; j < gen.size(); ++j) {
        const std::span<const float> row(logits.data() + (w - 1 + j) * n_vocab, n_vocab);
        agree += metrics::argmax(row) == gen[j];
      }
      QCOMPARE(o.scored_tokens, int64_t(gen.size()));
      QCOMPARE(o.agreeing_tokens, agree);
      scored += int64_t(gen.size());
      agreeing += agree;
      // The full model's own greedy output.
      auto ref = metrics::greedy_continuation(src, std::span(tokens).first(w), int32_t(gen.size()));
      QVERIFY(ref.ok());
      // Equal continuations of the request's length also stop alike at EOS.
      QCOMPARE(o.matches_reference, *ref == gen);
      exact += o.matches_reference;
      ++completed;
    }
    QCOMPARE(p.accuracy, double(agreeing) / double(scored));
    QCOMPARE(p.exact_match_rate, double(exact) / double(completed));
    QVERIFY2(p.accuracy < 1.0, "30% of the experts should change some tokens");
  }

  void small_budget_memory_stays_within_budget() {
    ExperimentConfig c = base_config();
    c.budgets = {"30%"};
    c.schedulers = {"sjf"};
    c.routing = {engine::RoutingMode::Fallback, engine::RoutingMode::Exact};
    auto r = run(c);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->points.size(), size_t{2});
    const experts::ExpertStore& store = *session_->store();
    auto budget = experts::parse_budget_text("30%", experts::CacheShape::from_store(store));
    QVERIFY(budget.ok());
    const uint64_t tenth3 = store.total_bytes() * 3 / 10;
    QVERIFY(*budget + 1 >= tenth3 && *budget <= tenth3 + 1);
    for (const PointResult& p : r->points) {
      QCOMPARE(p.expert_budget_bytes, *budget);
      QVERIFY(p.peak_expert_bytes <= *budget);
      QVERIFY(p.peak_expert_bytes > 0);
      QVERIFY(p.memory.size() <= 1000);
      uint64_t max_total = 0;
      for (size_t i = 0; i < p.memory.size(); ++i) {
        const MemoryPoint& s = p.memory[i];
        QVERIFY(s.expert_bytes <= *budget);
        QCOMPARE(s.expert_budget, *budget);
        QCOMPARE(s.dense_bytes, session_->model().weights().dense_bytes);
        if (i > 0) QVERIFY(s.time_ms >= p.memory[i - 1].time_ms);
        max_total = std::max(max_total, s.total());
      }
      QVERIFY(p.peak_total_bytes >= max_total);
      // Exact routing loads what it misses; every expert it computes with is the router's.
      if (p.point.routing == engine::RoutingMode::Exact) {
        QCOMPARE(p.substitutions, uint64_t{0});
        QVERIFY(p.loads > 0);
        QCOMPARE(p.accuracy, 1.0);
        QVERIFY(!p.accuracy_measured);
      }
    }
  }

  // On the virtual clock every expert load costs serving.expert_load_ms in the step that caused
  // it: one request alone (the steps do not depend on time) finishes exactly loads x cost later.
  void virtual_clock_charges_expert_loads() {
    ExperimentConfig c = base_config();
    c.workload.requests = 1;
    c.budgets = {"30%"};
    c.schedulers = {"fcfs"};
    c.routing = {engine::RoutingMode::Exact};
    c.predictors = {"none"};
    c.accuracy = false;
    auto free_loads = run(c);
    QVERIFY2(free_loads.ok(), free_loads.status().message().c_str());
    c.serving.expert_load_ms = 2.5;
    auto paid = run(c);
    QVERIFY2(paid.ok(), paid.status().message().c_str());
    const PointResult& a = free_loads->points.at(0);
    const PointResult& b = paid->points.at(0);
    QVERIFY(b.loads > 0);
    QCOMPARE(b.loads, a.loads);
    const double extra = b.requests.at(0).timing.finish_ms - a.requests.at(0).timing.finish_ms;
    QVERIFY2(std::abs(extra - 2.5 * static_cast<double>(b.loads)) < 1e-6,
             qPrintable(QString("extra %1 ms for %2 loads").arg(extra).arg(b.loads)));
  }

  void same_config_same_results() {
    ExperimentConfig c = base_config();
    c.budgets = {"40%"};
    c.routing = {engine::RoutingMode::Fallback, engine::RoutingMode::Exact};
    auto a = run(c);
    auto b = run(c);
    QVERIFY2(a.ok(), a.status().message().c_str());
    QVERIFY2(b.ok(), b.status().message().c_str());
    QCOMPARE(a->points.size(), b->points.size());
    for (size_t i = 0; i < a->points.size(); ++i) {
      const PointResult& x = a->points[i];
      const PointResult& y = b->points[i];
      QCOMPARE(x.point.label(), y.point.label());
      QCOMPARE(x.requests.size(), y.requests.size());
      for (size_t j = 0; j < x.requests.size(); ++j) {
        const RequestOutcome& p = x.requests[j];
        const RequestOutcome& q = y.requests[j];
        QCOMPARE(p.state, q.state);
        QCOMPARE(p.timing.admit_ms, q.timing.admit_ms);
        QCOMPARE(p.timing.first_token_ms, q.timing.first_token_ms);
        QCOMPARE(p.timing.finish_ms, q.timing.finish_ms);
        QCOMPARE(p.timing.generated_tokens, q.timing.generated_tokens);
        QCOMPARE(p.agreeing_tokens, q.agreeing_tokens);
        QCOMPARE(p.matches_reference, q.matches_reference);
      }
      QCOMPARE(x.memory.size(), y.memory.size());
      for (size_t j = 0; j < x.memory.size(); ++j) {
        QCOMPARE(x.memory[j].time_ms, y.memory[j].time_ms);
        QCOMPARE(x.memory[j].total(), y.memory[j].total());
      }
      QCOMPARE(x.hits, y.hits);
      QCOMPARE(x.substitutions, y.substitutions);
      QCOMPARE(x.loads, y.loads);
      QCOMPARE(x.bytes_moved, y.bytes_moved);
      QCOMPARE(x.evictions, y.evictions);
      QCOMPARE(x.steps, y.steps);
      QCOMPARE(x.accuracy, y.accuracy);
      QCOMPARE(x.run.slo_attainment, y.run.slo_attainment);
      QCOMPARE(x.predictor_invocations, y.predictor_invocations);
    }
  }

  void cancel_stops_early() {
    const ExperimentConfig c = base_config();
    // Between points: after the first one.
    std::atomic<bool> cancel{false};
    ExperimentCallbacks cb;
    cb.cancel = &cancel;
    int32_t done = 0;
    cb.point_done = [&](const PointResult&) {
      ++done;
      cancel = true;
      return Status::ok();
    };
    auto r = run(c, cb);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QVERIFY(r->cancelled);
    QCOMPARE(done, 1);
    QCOMPARE(r->points.size(), size_t{1});

    // Inside a point: after its third request.
    cancel = false;
    ExperimentCallbacks inside;
    inside.cancel = &cancel;
    int64_t seen = 0;
    inside.progress = [&](const ExperimentProgress& p) {
      if (p.phase == "point") seen = std::max(seen, p.requests_done);
      if (p.phase == "point" && p.requests_done >= 3) cancel = true;
    };
    auto q = run(c, inside);
    QVERIFY2(q.ok(), q.status().message().c_str());
    QVERIFY(q->cancelled);
    QVERIFY(q->points.empty());
    QVERIFY(seen < kRequests);
  }

  void point_done_error_stops_the_run() {
    ExperimentCallbacks cb;
    int32_t calls = 0;
    cb.point_done = [&](const PointResult&) {
      ++calls;
      return io_error("disk full");
    };
    auto r = run(base_config(), cb);
    QVERIFY(!r.ok());
    QCOMPARE(calls, 1);
    QVERIFY(r.status().message().find("disk full") != std::string::npos);
  }

  void file_workload_is_scaled_to_the_rate() {
    // Three requests whose mean rate (requests / last arrival) is 3 / 0.6 s = 5 per second.
    const std::string jsonl =
        R"({"task": "qa", "text": "What is the capital of France?", "arrival_ms": 100, )"
        R"("slo_ttft_ms": 50, "slo_e2e_ms": 400, "max_new_tokens": 9})"
        "\n"
        R"({"task": "summarization", "text": "Summarize: the cat sat on the mat.", )"
        R"("arrival_ms": 250, "max_new_tokens": 3})"
        "\n"
        R"({"text": "Compare apples and oranges.", "arrival_ms": 600, "max_new_tokens": 4})"
        "\n";
    QFile f(dir_.filePath("three.jsonl"));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(jsonl.data(), qint64(jsonl.size()));
    f.close();
    ExperimentConfig c = base_config();
    c.source = dir_.filePath("experiment.json").toStdString();  // the file is relative to it
    c.workload.file = "three.jsonl";
    c.workload.slo_scale = 2.0;
    c.budgets = {"40%"};
    c.schedulers = {"fcfs"};
    c.arrival_rates = {0.0, 10.0};  // the file's own times; twice its rate
    auto r = run(c);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->points.size(), size_t{2});
    const double own[3] = {100, 250, 600};
    for (int i = 0; i < 3; ++i) {
      QCOMPARE(r->points[0].requests[size_t(i)].timing.arrival_ms, own[i]);
      QCOMPARE(r->points[1].requests[size_t(i)].timing.arrival_ms, own[i] / 2);
    }
    const RequestOutcome& first = r->points[1].requests[0];
    QCOMPARE(first.task, std::string("qa"));
    QCOMPARE(first.timing.slo_ttft_ms, 100.0);
    QCOMPARE(first.timing.slo_e2e_ms, 800.0);
    QVERIFY(first.timing.generated_tokens <= kCap);  // 9 capped to 5
    QCOMPARE(r->points[1].requests[2].timing.slo_e2e_ms, 0.0);

    c.arrival_rates = {0.0};
    c.workload.file = "missing.jsonl";
    auto m = run(c);
    QVERIFY(!m.ok());
    QVERIFY2(m.status().message().find("missing.jsonl") != std::string::npos,
             m.status().message().c_str());
  }

  void memory_timelines_thin_evenly() {
    std::vector<MemoryPoint> points(2500);
    for (size_t i = 0; i < points.size(); ++i) points[i].time_ms = double(i);
    const std::vector<MemoryPoint> thin = thin_evenly(points, 1000);
    QCOMPARE(thin.size(), size_t{1000});
    QCOMPARE(thin.front().time_ms, 0.0);
    QCOMPARE(thin.back().time_ms, 2499.0);
    for (size_t i = 1; i < thin.size(); ++i) {
      const double gap = thin[i].time_ms - thin[i - 1].time_ms;  // 2499 / 999 = 2.5 apart
      QVERIFY2(gap == 2.0 || gap == 3.0, qPrintable(QString::number(gap)));
      QVERIFY(std::abs(thin[i].time_ms - double(i) * 2499.0 / 999.0) <= 0.5);
    }
    QCOMPARE(thin_evenly(points, 3000).size(), points.size());
  }

  void bad_points_are_named() {
    ExperimentConfig c = base_config();
    c.predictors = {"emoe-a", "crystal-ball"};
    auto r = run(c);
    QVERIFY(!r.ok());
    QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
    const std::string msg = r.status().message();
    QVERIFY2(msg.find("point 2") != std::string::npos, msg.c_str());  // budgets outermost
    QVERIFY2(msg.find("predictor=crystal-ball") != std::string::npos, msg.c_str());
    QVERIFY2(msg.find("unknown predictor 'crystal-ball'") != std::string::npos, msg.c_str());

    c = base_config();
    c.budgets = {"60%", "10%"};  // the minimum is 2 of 8 experts per layer: 25%
    r = run(c);
    QVERIFY(!r.ok());
    const std::string b = r.status().message();
    QVERIFY2(b.find("point 2") != std::string::npos, b.c_str());
    QVERIFY2(b.find("budget=10%") != std::string::npos, b.c_str());
    QVERIFY2(b.find("below the minimum") != std::string::npos, b.c_str());
    const uint64_t minimum = experts::ExpertCache::minimum_budget(*session_->store());
    QVERIFY2(b.find(std::to_string(minimum)) != std::string::npos, b.c_str());

    c = base_config();
    c.schedulers = {"lifo"};
    r = run(c);
    QVERIFY(!r.ok());
    QVERIFY2(r.status().message().find("unknown scheduler 'lifo'") != std::string::npos,
             r.status().message().c_str());
  }
};

QTEST_GUILESS_MAIN(TestExperimentRunner)
#include "test_experiment_runner.moc"
