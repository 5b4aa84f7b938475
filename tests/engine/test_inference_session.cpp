// InferenceSession: configure() computes the effective budget (percent or bytes, raised to the
// tier's minimum), refuses impossible settings while keeping the previous engine, keeps its
// observers across reconfiguration, and run() generates on a fresh sequence each time (exact
// routing at any budget gives the same tokens as all experts).
#include <QTemporaryDir>
#include <QtTest>

#include "core/engine/inference_session.h"
#include "core/experts/expert_store.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"

using namespace emoe;
using engine::InferenceSession;
using engine::RoutingMode;
using engine::SessionSettings;

namespace {

struct Counter : engine::ForwardObserver, experts::ExpertEventObserver {
  void on_routing(const engine::RoutingEvent&) override { ++routes; }
  void on_memory_sample(const engine::MemorySample&) override { ++samples; }
  void on_expert_event(const experts::ExpertEvent& e) override {
    loads += e.kind == experts::ExpertEventKind::LoadFinished;
  }
  int64_t routes = 0, samples = 0;
  std::atomic<int64_t> loads{0};
};

}  // namespace

class TestInferenceSession : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  std::string path_;

 private slots:
  void initTestCase() {
    model::SyntheticModelSpec s;
    s.n_layer = 3;
    s.n_embd = 64;
    s.n_ff = 96;
    s.n_expert = 8;
    s.n_expert_used = 2;
    s.n_vocab = 512;
    s.n_ctx = 128;
    s.seed = 11;
    s.n_threads = 2;
    path_ = tmp_.path().toStdString() + "/m.gguf";
    Status st = model::write_synthetic_model(s, path_);
    QVERIFY2(st.is_ok(), st.message().c_str());
  }

  void configure_reports_the_effective_budget() {
    auto s = InferenceSession::open(path_);
    QVERIFY2(s.ok(), s.status().message().c_str());
    InferenceSession& is = **s;
    QVERIFY(!is.configured());
    QVERIFY(is.store());
    const uint64_t all = is.store()->total_bytes();
    const uint64_t min = experts::ExpertCache::minimum_budget(*is.store());

    auto r = is.configure({});
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->expert_budget_bytes, uint64_t{0});  // all experts from the file
    QVERIFY(!is.cache());
    QCOMPARE(r->all_expert_bytes, all);
    QCOMPARE(r->min_budget_bytes, min);
    QCOMPARE(r->experts_per_layer, 8);
    QCOMPARE(r->n_ctx, int64_t{128});  // the model's training context

    SessionSettings half;
    half.mode = RoutingMode::Exact;
    half.budget_percent = 50;
    r = is.configure(half);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->requested_budget, all / 2);
    QCOMPARE(r->expert_budget_bytes, all / 2);
    QVERIFY(!r->budget_clamped);
    QVERIFY(is.cache());
    QCOMPARE(is.cache()->budget_bytes(), all / 2);
    QCOMPARE(r->experts_per_layer, 4);

    SessionSettings bytes = half;
    bytes.budget_bytes = 1;  // wins over the percentage; raised to the minimum
    r = is.configure(bytes);
    QVERIFY(r.ok());
    QCOMPARE(r->expert_budget_bytes, min);
    QVERIFY(r->budget_clamped);
    QCOMPARE(r->experts_per_layer, 2);

    // Impossible settings: an error, and the previous tier and engine stay.
    experts::ExpertCache* before = is.cache();
    engine::Engine* engine_before = is.engine();
    std::vector<SessionSettings> bad(4, half);
    bad[0] = SessionSettings{};
    bad[0].budget_percent = 50;  // all experts cannot run from half of them
    bad[1].n_threads = 0;
    bad[2].budget_percent = 150;
    bad[3].n_ctx = -1;
    for (const SessionSettings& b : bad) {
      auto f = is.configure(b);
      QVERIFY(!f.ok());
      QVERIFY(!f.status().message().empty());
      QCOMPARE(is.cache(), before);
      QCOMPARE(is.engine(), engine_before);
      QCOMPARE(is.report().expert_budget_bytes, min);
    }
  }

  void observers_follow_reconfiguration_and_runs_agree() {
    auto s = InferenceSession::open(path_);
    QVERIFY(s.ok());
    InferenceSession& is = **s;
    Counter c;
    is.add_observer(&c);
    is.add_expert_observer(&c);
    const std::vector<int32_t> prompt = {1, 20, 30, 40, 50};
    engine::GenerateOptions go;
    go.max_new_tokens = 6;
    go.stop_at_eos = false;

    QVERIFY(is.configure({}).ok());
    std::vector<int32_t> seqs;
    engine::RunHooks hooks;
    hooks.on_sequence = [&](int32_t seq) { seqs.push_back(seq); };
    auto all = is.run(prompt, go, hooks);
    QVERIFY2(all.ok(), all.status().message().c_str());
    QCOMPARE(all->generated.size(), size_t{6});
    QCOMPARE(c.routes, int64_t{(5 + 5) * 3});  // prompt + fed-back tokens, per MoE layer
    QCOMPARE(c.samples, int64_t{6});

    SessionSettings exact;
    exact.mode = RoutingMode::Exact;
    exact.budget_percent = 0;  // the minimum: lots of on-demand loads
    QVERIFY(is.configure(exact).ok());
    auto ex = is.run(prompt, go, hooks);
    QVERIFY2(ex.ok(), ex.status().message().c_str());
    QCOMPARE(ex->generated, all->generated);
    QCOMPARE(c.routes, int64_t{2 * 10 * 3});
    QVERIFY(c.loads.load() > 0);
    QCOMPARE(seqs.size(), size_t{2});  // one fresh sequence per run

    // A token callback returning false stops the run.
    int seen = 0;
    hooks.on_token = [&](int32_t) { return ++seen < 2; };
    auto stopped = is.run(prompt, go, hooks);
    QVERIFY(stopped.ok());
    QCOMPARE(stopped->stop, engine::StopReason::Cancelled);
    QCOMPARE(stopped->generated.size(), size_t{2});

    is.remove_observer(&c);
    is.remove_expert_observer(&c);
    const int64_t routes = c.routes;
    QVERIFY(is.run(prompt, go).ok());
    QCOMPARE(c.routes, routes);
  }

  void dense_models_and_unconfigured_sessions() {
    model::SyntheticModelSpec d;
    d.n_layer = 2;
    d.n_embd = 64;
    d.n_ff = 96;
    d.n_expert = 0;
    d.n_vocab = 512;
    d.n_ctx = 64;
    const std::string p = tmp_.path().toStdString() + "/dense.gguf";
    QVERIFY(model::write_synthetic_model(d, p).is_ok());
    auto s = InferenceSession::open(p);
    QVERIFY2(s.ok(), s.status().message().c_str());
    QVERIFY(!(*s)->store());
    const std::vector<int32_t> prompt = {1, 2, 3};
    QVERIFY(!(*s)->run(prompt, {}).ok());  // not configured yet
    SessionSettings exact;
    exact.mode = RoutingMode::Exact;
    QVERIFY(!(*s)->configure(exact).ok());
    auto r = (*s)->configure({});
    QVERIFY(r.ok());
    QCOMPARE(r->all_expert_bytes, uint64_t{0});
    QVERIFY((*s)->run(prompt, {}).ok());
    QVERIFY(!InferenceSession::open(tmp_.path().toStdString() + "/missing.gguf").ok());
  }
};

QTEST_GUILESS_MAIN(TestInferenceSession)
#include "test_inference_session.moc"
