// The eMoE loop on the demo model (task-routed, core/model/demo_model.h) with a short mixed
// workload: the predictor runs exactly on prompts 0, p, 2p, ...; the device tier never holds
// more than its budget; the oracle is at least as accurate as eMoE-A, which is at least as
// accurate as random sets; with every expert resident, fallback routing is the full model
// (accuracy exactly 1); bad options are refused with a clear message.
#include <QTemporaryDir>
#include <QtTest>
#include <memory>

#include "core/engine/inference_session.h"
#include "core/model/demo_model.h"
#include "core/predict/emoe_runner.h"
#include "core/sched/builtin_workloads.h"

using namespace emoe;
using namespace emoe::predict;

namespace {

constexpr int kRequests = 48;
constexpr int kNewTokens = 6;

}  // namespace

class TestEmoeRunner : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::unique_ptr<engine::InferenceSession> session_;
  std::vector<RunnerRequest> requests_;
  ReferenceCache refs_;

  RunnerOptions options(const std::string& predictor, double percent, int32_t p) {
    RunnerOptions o;
    o.predictor = predictor;
    o.budget_percent = percent;
    o.interval = p;
    o.accuracy = true;
    o.n_ctx = 256;
    o.reference_cache = &refs_;
    return o;
  }

  Result<RunnerReport> run(const RunnerOptions& o) { return run_emoe(*session_, requests_, o); }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    auto path = model::ensure_demo_model(dir_.path().toStdString());
    QVERIFY2(path.ok(), path.status().message().c_str());
    auto s = engine::InferenceSession::open(*path);
    QVERIFY2(s.ok(), s.status().message().c_str());
    session_ = std::move(s).value();
    auto prompts = sched::builtin_task_prompts();
    QVERIFY2(prompts.ok(), prompts.status().message().c_str());
    sched::WorkloadOptions wo;
    wo.seed = 7;
    wo.n_requests = kRequests;
    auto w = sched::generate_workload(*prompts, wo);
    QVERIFY2(w.ok(), w.status().message().c_str());
    requests_ = runner_requests(*w, sched::TaskClassifier::builtin(), kNewTokens);
    QCOMPARE(requests_.size(), size_t{kRequests});
  }

  void invoked_every_p_prompts() {
    for (const int32_t p : {1, 10, 20}) {
      RunnerOptions o = options("emoe-a", 60, p);
      o.accuracy = false;
      auto r = run(o);
      QVERIFY2(r.ok(), r.status().message().c_str());
      QCOMPARE(r->requests.size(), size_t{kRequests});
      int64_t invoked = 0;
      for (size_t i = 0; i < r->requests.size(); ++i) {
        QCOMPARE(r->requests[i].invoked, i % static_cast<size_t>(p) == 0);
        invoked += r->requests[i].invoked;
      }
      QCOMPARE(r->summary.invocations, invoked);
      QCOMPARE(r->summary.invocations, int64_t{(kRequests + p - 1) / p});
      QCOMPARE(r->summary.interval, p);
    }
  }

  void budget_never_exceeded() {
    for (const double percent : {30.0, 60.0, 80.0}) {
      auto r = run(options("emoe-a", percent, 5));
      QVERIFY2(r.ok(), r.status().message().c_str());
      const auto& s = r->summary;
      QVERIFY(s.expert_budget_bytes > 0);
      QVERIFY2(s.peak_expert_bytes <= s.expert_budget_bytes,
               qPrintable(QString("%1 > %2").arg(s.peak_expert_bytes).arg(s.expert_budget_bytes)));
      QVERIFY(s.expert_budget_bytes < s.all_expert_bytes);
      QVERIFY(s.device_bytes < s.all_experts_device_bytes);
      QCOMPARE(s.device_bytes, s.dense_bytes + s.expert_budget_bytes + s.kv_bytes);
      QVERIFY(s.kv_bytes > 0);
    }
  }

  void oracle_beats_emoe_a_beats_random() {
    // p = 1 so that the oracle is a true upper bound; 60% of the experts, fallback routing.
    double acc[3] = {0, 0, 0};
    const char* names[3] = {"oracle", "emoe-a", "random"};
    for (int n = 0; n < 3; ++n) {
      auto r = run(options(names[n], 60, 1));
      QVERIFY2(r.ok(), r.status().message().c_str());
      QVERIFY(r->summary.accuracy_measured);
      QVERIFY(r->summary.positions > 0);
      acc[n] = r->summary.accuracy;
      qInfo("%s at 60%%, p = 1: accuracy %.4f, hit rate %.4f, fallback rate %.4f", names[n],
            r->summary.accuracy, r->summary.hit_rate, r->summary.fallback_rate);
    }
    constexpr double kEps = 1e-9;
    QVERIFY2(acc[0] + kEps >= acc[1], qPrintable(QString("%1 < %2").arg(acc[0]).arg(acc[1])));
    QVERIFY2(acc[1] + kEps >= acc[2], qPrintable(QString("%1 < %2").arg(acc[1]).arg(acc[2])));
  }

  void full_budget_is_the_full_model() {
    auto r = run(options("emoe-a", 100, 10));
    QVERIFY2(r.ok(), r.status().message().c_str());
    const auto& s = r->summary;
    QCOMPARE(s.resident_slots, s.total_experts);
    QCOMPARE(s.top1_agree, s.positions);
    QCOMPARE(s.accuracy, 1.0);
    QCOMPARE(s.mean_kl, 0.0);
    QCOMPARE(s.exact_match_rate, 1.0);
    QCOMPARE(s.substitutions, uint64_t{0});
    QCOMPARE(s.hit_rate, 1.0);
  }

  void exact_routing_loads_on_demand() {
    RunnerOptions o = options("none", 40, 1);
    o.mode = engine::RoutingMode::Exact;
    auto r = run(o);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QVERIFY(r->summary.accuracy_by_construction);
    QCOMPARE(r->summary.accuracy, 1.0);
    QVERIFY(r->summary.loads > 0);
    QVERIFY(r->summary.peak_expert_bytes <= r->summary.expert_budget_bytes);
    QCOMPARE(r->summary.invocations, int64_t{0});
  }

  void profiling_pass_and_task_agnostic() {
    RunnerOptions o = options("emoe-a", 60, 10);
    o.profile_requests = 8;
    o.task_aware = false;
    auto r = run(o);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->requests.size(), size_t{kRequests - 8});
    QCOMPARE(r->requests.front().index, size_t{8});
    QCOMPARE(r->summary.profile_requests, int64_t{8});
    // Single mode: one predict() call per invocation.
    QCOMPARE(r->summary.predictor_calls, r->summary.invocations);
    QVERIFY(r->summary.train_seconds > 0);
  }

  void bad_options() {
    RunnerOptions o = options("nope", 60, 10);
    auto r = run(o);
    QVERIFY(!r.ok());
    QVERIFY(r.status().message().find("unknown predictor 'nope'") != std::string::npos);
    o = options("emoe-a", 60, 0);
    r = run(o);
    QVERIFY(!r.ok());
    QVERIFY(r.status().message().find("1..200") != std::string::npos);
    o = options("emoe-a", 60, 10);
    o.mode = engine::RoutingMode::All;
    r = run(o);
    QVERIFY(!r.ok());
    o = options("emoe-a", 60, 10);
    o.profile_requests = kRequests;
    QVERIFY(!run(o).ok());
    o = options("emoe-a", 60, 10);
    o.sensitivity["qa"] = {1.0f};
    r = run(o);
    QVERIFY(!r.ok());
    QVERIFY(r.status().message().find("sensitivity") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestEmoeRunner)
#include "test_emoe_runner.moc"
