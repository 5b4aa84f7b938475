// Trace replay against the live engine: the tiny fixture model runs a few prompts through a
// real ExpertCache (exact LRU, exact LFU, fallback, small prefill chunks); the routing events it
// reports become a ReplayInput, and the replay must reproduce the cache's hits, misses, loads
// and evictions and the per-token top-k counts exactly. The CacheModel is also checked against
// ExpertCache call by call on random sequences (LRU, LFU, Pinned with plans), and on a
// hand-worked LRU example.
#include <QTemporaryDir>
#include <QtTest>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/engine/inference_session.h"
#include "core/experts/cache_model.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/metrics/routing_counters.h"
#include "core/model/model.h"
#include "core/predict/trace_replay.h"
#include "db/trace_source.h"

using namespace emoe;

namespace {

const std::string kModel = std::string(EMOE_TEST_DATA_DIR) + "/tiny-mixtral-q/model.gguf";

// Feeds every routing event into a builder, one request per prompt.
struct Capture : engine::ForwardObserver {
  predict::ReplayInputBuilder builder;
  Status status;
  void on_routing(const engine::RoutingEvent& ev) override {
    Status s = builder.add(ev.pos, ev.layer, static_cast<int32_t>(ev.phase),
                           {ev.topk.data(), ev.topk.size()}, {ev.weights.data(), ev.weights.size()},
                           {ev.used.data(), ev.used.size()}, true);
    if (status.is_ok() && !s.is_ok()) status = s;
  }
};

struct LiveRun {
  experts::CacheStats cache;
  metrics::RoutingCounters counters;
  predict::ReplayInput input;
  experts::CacheShape shape;
  uint64_t budget = 0;
};

const char* const kPrompts[] = {
    "The quick brown fox jumps over the lazy dog",
    "Once upon a time, in a land far away, there lived a king",
    "1 2 3 4 5 6 7 8 9 10",
    "The quick brown fox jumps over the lazy dog",
};

LiveRun run_live(engine::RoutingMode mode, experts::EvictionPolicy policy, double percent,
                 int64_t prefill_chunk) {
  LiveRun out;
  auto s = engine::InferenceSession::open(kModel);
  if (!s.ok()) qFatal("%s", s.status().message().c_str());
  engine::InferenceSession& is = **s;
  engine::SessionSettings st;
  st.mode = mode;
  st.policy = policy;
  st.budget_percent = percent;
  st.n_threads = 1;
  auto rep = is.configure(st);
  if (!rep.ok()) qFatal("%s", rep.status().message().c_str());
  Capture cap;
  is.add_observer(&cap);
  is.add_observer(&out.counters);
  engine::GenerateOptions go;
  go.max_new_tokens = 10;
  go.stop_at_eos = false;
  go.prefill_chunk = prefill_chunk;
  int64_t id = 0;
  for (const char* p : kPrompts) {
    cap.builder.begin_request(++id, "t");
    const std::vector<int32_t> toks = is.model().tokenizer().encode(p, true, false);
    auto r = is.run(toks, go);
    if (!r.ok()) qFatal("%s", r.status().message().c_str());
  }
  is.remove_observer(&cap);
  is.remove_observer(&out.counters);
  if (!cap.status.is_ok()) qFatal("%s", cap.status.message().c_str());
  out.cache = is.cache()->stats();
  out.budget = is.cache()->budget_bytes();
  out.shape = experts::CacheShape::from_store(*is.store());
  auto in = cap.builder.finish(prefill_chunk);
  if (!in.ok()) qFatal("%s", in.status().message().c_str());
  out.input = std::move(in).value();
  return out;
}

}  // namespace

class TestTraceReplay : public QObject {
  Q_OBJECT

  void check_live(engine::RoutingMode mode, experts::EvictionPolicy policy, double percent,
                  int64_t chunk) {
    const LiveRun live = run_live(mode, policy, percent, chunk);
    QVERIFY(live.input.token_layer_events() > 0);
    predict::ReplayOptions o;
    o.mode = mode;
    o.policy = policy;
    o.budget_bytes = live.budget;
    auto rep = predict::replay_trace(live.input, live.shape, o);
    QVERIFY2(rep.ok(), rep.status().message().c_str());
    const predict::ReplayLayerReport& t = rep->total;
    QCOMPARE(t.hits, live.cache.hits);
    QCOMPARE(t.misses, live.cache.misses);
    QCOMPARE(t.loads, live.cache.loads);
    QCOMPARE(t.evictions, live.cache.evictions);
    QCOMPARE(t.bytes_loaded, live.cache.bytes_loaded);
    QCOMPARE(rep->peak_bytes, live.cache.peak_bytes);
    QCOMPARE(t.topk_hits, live.counters.hits);
    QCOMPARE(t.topk_misses, live.counters.misses);
    QCOMPARE(t.substitutions, live.counters.substitutions);
    QCOMPARE(t.short_decisions, live.counters.short_decisions);
    QCOMPARE(t.decisions, live.counters.decisions);
    QCOMPARE(static_cast<uint64_t>(rep->token_layer_events), live.counters.decisions);
    if (mode == engine::RoutingMode::Exact) {
      QVERIFY(t.misses > 0);  // the budget makes it page
      QVERIFY(t.evictions > 0);
      // Stall: every on-demand load at bytes / bandwidth.
      double want = 0;
      for (int32_t l = 0; l < live.shape.n_layer; ++l) {
        want += static_cast<double>(rep->layers[static_cast<size_t>(l)].loads) *
                static_cast<double>(live.shape.expert_bytes[static_cast<size_t>(l)]) / 25e9;
      }
      QVERIFY(std::abs(t.stall_s - want) <= 1e-12 + 1e-9 * want);
    } else {
      QCOMPARE(t.evictions, uint64_t{0});
      QCOMPARE(t.stall_s, 0.0);
      QCOMPARE(rep->fill_loads, t.loads);
      QVERIFY(t.substitutions > 0);
    }
  }

 private slots:
  void exact_lru_matches_the_live_cache() {
    check_live(engine::RoutingMode::Exact, experts::EvictionPolicy::Lru, 50, 512);
  }
  void exact_lfu_matches_the_live_cache() {
    check_live(engine::RoutingMode::Exact, experts::EvictionPolicy::Lfu, 50, 512);
  }
  void fallback_matches_the_live_cache() {
    check_live(engine::RoutingMode::Fallback, experts::EvictionPolicy::Lru, 50, 512);
  }
  void small_prefill_chunks_match() {
    check_live(engine::RoutingMode::Exact, experts::EvictionPolicy::Lru, 30, 3);
    check_live(engine::RoutingMode::Exact, experts::EvictionPolicy::Lfu, 75, 5);
  }

  // CacheModel vs ExpertCache, call by call, on random acquisitions and plans.
  void cache_model_follows_expert_cache() {
    auto m = model::Model::load(kModel);
    QVERIFY2(m.ok(), m.status().message().c_str());
    const experts::ExpertStore store((*m)->config(), (*m)->weights());
    const experts::CacheShape shape = experts::CacheShape::from_store(store);
    std::vector<int32_t> layers;
    for (int32_t l = 0; l < store.n_layer(); ++l) {
      if (store.layout(l).total > 0) layers.push_back(l);
    }
    for (auto policy : {experts::EvictionPolicy::Lru, experts::EvictionPolicy::Lfu,
                        experts::EvictionPolicy::Pinned}) {
      for (uint64_t budget : {experts::ExpertCache::minimum_budget(store) + 100,
                              store.total_bytes() / 3, store.total_bytes() / 2}) {
        experts::ExpertCacheOptions co;
        co.budget_bytes = budget;
        co.policy = policy;
        co.async_loader = false;
        auto real = experts::ExpertCache::create(store, co);
        QVERIFY2(real.ok(), real.status().message().c_str());
        experts::CacheModelOptions mo;
        mo.budget_bytes = budget;
        mo.policy = policy;
        mo.overflow_planned = false;
        auto sim = experts::CacheModel::create(shape, mo);
        QVERIFY2(sim.ok(), sim.status().message().c_str());
        QCOMPARE(sim->n_slots(), (*real)->n_slots());
        QCOMPARE(sim->slot_bytes(), (*real)->slot_bytes());
        QCOMPARE(sim->budget_bytes(), (*real)->budget_bytes());
        std::mt19937 rng(static_cast<uint32_t>(budget) + static_cast<uint32_t>(policy));
        if (policy == experts::EvictionPolicy::Lfu) {
          (*real)->fill();
          sim->fill();
        }
        for (int i = 0; i < 3000; ++i) {
          const int32_t l = layers[rng() % layers.size()];
          // Skewed popularity so that LFU and LRU differ.
          const int32_t e = static_cast<int32_t>(
              std::min<uint32_t>(rng() % store.n_expert(), rng() % store.n_expert()));
          if (policy == experts::EvictionPolicy::Pinned && i % 200 == 0) {
            const int32_t cap = sim->n_slots() / static_cast<int32_t>(layers.size()) - 1;
            for (int32_t pl : layers) {
              std::vector<int32_t> plan;
              for (int32_t x = 0; x < cap; ++x) {
                plan.push_back(static_cast<int32_t>((pl + i / 200 + 3 * x) % store.n_expert()));
              }
              std::sort(plan.begin(), plan.end());
              plan.erase(std::unique(plan.begin(), plan.end()), plan.end());
              QVERIFY((*real)->set_plan(pl, plan).is_ok());
              QVERIFY(sim->set_plan(pl, plan).is_ok());
            }
          }
          const bool load = rng() % 8 != 0;
          auto h = (*real)->acquire(l, e, load);
          QVERIFY2(h.ok(), h.status().message().c_str());
          const bool real_hit = static_cast<bool>(*h);
          auto a = sim->acquire(l, e, load);
          QVERIFY2(a.ok(), a.status().message().c_str());
          QCOMPARE(*a != experts::AcquireResult::Missed, real_hit);
        }
        const experts::CacheStats rs = (*real)->stats();
        const experts::CacheModelStats& ms = sim->stats();
        QCOMPARE(ms.total.hits, rs.hits);
        QCOMPARE(ms.total.misses, rs.misses);
        QCOMPARE(ms.total.loads, rs.loads);
        QCOMPARE(ms.total.evictions, rs.evictions);
        QCOMPARE(ms.total.bytes_loaded, rs.bytes_loaded);
        for (int32_t l : layers) QCOMPARE(sim->resident_experts(l), (*real)->resident_experts(l));
      }
    }
  }

  // 1 layer, 4 experts of 64 bytes, k 1, budget 2 slots; decode steps of one token each.
  void lru_by_hand() {
    const experts::CacheShape shape = experts::CacheShape::uniform(1, 4, 1, 64);
    predict::ReplayInputBuilder b(1, 4, 1);
    b.begin_request(7, "");
    const int32_t seq[] = {0, 1, 0, 2, 1, 0};
    for (int32_t p = 0; p < 6; ++p) {
      const int32_t e = seq[p];
      QVERIFY(b.add(p, 0, 1, {&e, 1}).is_ok());
    }
    auto in = b.finish();
    QVERIFY2(in.ok(), in.status().message().c_str());
    QCOMPARE(in->requests[0].n_steps(), 6);
    predict::ReplayOptions o;
    o.budget_bytes = 128;
    o.bandwidth_bytes_per_s = 64e6;  // 1 µs per load
    o.load_latency_s = 1e-6;
    auto rep = predict::replay_trace(*in, shape, o);
    QVERIFY2(rep.ok(), rep.status().message().c_str());
    // 0 miss, 1 miss, 0 hit, 2 miss (evicts 1), 1 miss (evicts 0), 0 miss (evicts 2).
    QCOMPARE(rep->total.hits, uint64_t{1});
    QCOMPARE(rep->total.misses, uint64_t{5});
    QCOMPARE(rep->total.loads, uint64_t{5});
    QCOMPARE(rep->total.evictions, uint64_t{3});
    QCOMPARE(rep->total.topk_hits, uint64_t{1});
    QCOMPARE(rep->total.bytes_loaded, uint64_t{320});
    QVERIFY(std::abs(rep->total.stall_s - 10e-6) < 1e-12);
    o.policy = experts::EvictionPolicy::Lfu;
    rep = predict::replay_trace(*in, shape, o);
    QVERIFY2(rep.ok(), rep.status().message().c_str());
    // LFU keeps 0 (the most used) throughout: 0 m, 1 m, 0 h, 2 m (evicts 1, used once),
    // 1 m (evicts 2, used once), 0 h.
    QCOMPARE(rep->total.hits, uint64_t{2});
    QCOMPARE(rep->total.misses, uint64_t{4});
    QCOMPARE(rep->total.evictions, uint64_t{2});
  }

  void steps_follow_the_generator() {
    predict::ReplayInputBuilder b(2, 8, 2);
    b.begin_request(1, "qa");
    const int32_t ex[] = {1, 2};
    // 1100 prompt positions then 3 decode positions, added out of order.
    for (int32_t p = 1102; p >= 0; --p) {
      for (int32_t l = 1; l >= 0; --l) QVERIFY(b.add(p, l, p >= 1100 ? 1 : 0, ex).is_ok());
    }
    auto in = b.finish(512);
    QVERIFY2(in.ok(), in.status().message().c_str());
    const predict::ReplayRequest& r = in->requests[0];
    QCOMPARE(r.n_tokens(), 1103);
    QCOMPARE(r.prefill_tokens(), int64_t{1100});
    QCOMPARE(r.step_begin, (std::vector<int32_t>{0, 512, 1024, 1100, 1101, 1102, 1103}));
    QCOMPARE(in->token_layer_events(), int64_t{2206});
    // Duplicates and phase conflicts are refused.
    predict::ReplayInputBuilder d;
    d.begin_request(1);
    QVERIFY(d.add(0, 0, 0, ex).is_ok());
    QVERIFY(d.add(0, 0, 0, ex).is_ok());
    QVERIFY(!d.finish().ok());
    predict::ReplayInputBuilder c;
    c.begin_request(1);
    QVERIFY(c.add(0, 0, 0, ex).is_ok());
    QVERIFY(c.add(0, 1, 1, ex).is_ok());
    QVERIFY(!c.finish().ok());
    const int32_t twice[] = {3, 3};
    QVERIFY(!c.add(1, 0, 0, twice).is_ok());
  }

  void budget_below_minimum_is_refused() {
    const experts::CacheShape shape = experts::CacheShape::uniform(2, 4, 2, 100);
    predict::ReplayInputBuilder b(2, 4, 2);
    b.begin_request(1);
    const int32_t ex[] = {0, 1};
    QVERIFY(b.add(0, 0, 0, ex).is_ok());
    auto in = b.finish();
    QVERIFY(in.ok());
    predict::ReplayOptions o;
    o.budget_bytes = 3 * 128;  // minimum is 2 x 128 x 2
    auto rep = predict::replay_trace(*in, shape, o);
    QVERIFY(!rep.ok());
    QCOMPARE(rep.status().code(), StatusCode::OutOfMemory);
    QVERIFY(rep.status().message().find("minimum of 512") != std::string::npos);
    QCOMPARE(experts::parse_budget_text("50%", shape).value(), uint64_t{400});
    QCOMPARE(experts::parse_budget_text("2e", shape).value(), uint64_t{512});
    QVERIFY(!experts::parse_budget_text("12x", shape).ok());
  }

  void predictor_drives_pinned_residency() {
    const LiveRun live =
        run_live(engine::RoutingMode::Exact, experts::EvictionPolicy::Lru, 50, 512);
    for (const char* name : {"oracle", "frequency", "emoe-a"}) {
      for (auto mode : {engine::RoutingMode::Fallback, engine::RoutingMode::Exact}) {
        predict::ReplayOptions o;
        o.mode = mode;
        o.budget_bytes = live.budget;
        o.predictor = name;
        o.interval = 2;
        auto rep = predict::replay_trace(live.input, live.shape, o);
        QVERIFY2(rep.ok(), rep.status().message().c_str());
        QCOMPARE(rep->predictor_invocations, int64_t{2});  // requests 0 and 2
        QVERIFY(rep->plan_changes > 0);
        QCOMPARE(rep->total.decisions, live.counters.decisions);
        if (mode == engine::RoutingMode::Fallback) {
          // The tier starts full, so every planned load evicts one expert.
          QCOMPARE(rep->fill_loads, static_cast<uint64_t>(rep->n_slots));
          QCOMPARE(rep->total.evictions, rep->prefetch_loads);
          QCOMPARE(rep->total.stall_s, 0.0);
        }
      }
    }
  }

  void jsonl_trace_is_read() {
    QTemporaryDir dir;
    const std::string path = dir.path().toStdString() + "/t.jsonl";
    FILE* f = std::fopen(path.c_str(), "wb");
    QVERIFY(f);
    std::fputs(
        "{\"format\":\"emoe-trace\",\"version\":1,\"n_layer\":2,\"n_expert\":4,\"top_k\":2}\n", f);
    std::fputs("{\"request\":\"a\",\"pos\":0,\"layer\":0,\"experts\":[0,1]}\n", f);
    std::fputs("{\"request\":\"a\",\"pos\":0,\"layer\":1,\"experts\":[2,1]}\n", f);
    std::fputs("{\"request\":\"a\",\"pos\":1,\"layer\":0,\"experts\":[3,1],\"phase\":\"decode\"}\n",
               f);
    std::fputs("{\"request\":\"b\",\"pos\":0,\"layer\":1,\"experts\":[3,2],\"used_experts\":[2]}\n",
               f);
    std::fclose(f);
    db::TraceInfo info;
    auto in = db::load_trace_jsonl(path, &info);
    QVERIFY2(in.ok(), in.status().message().c_str());
    QCOMPARE(in->n_layer, 2);
    QCOMPARE(in->n_expert, 4);
    QCOMPARE(in->k, 2);
    QCOMPARE(in->requests.size(), size_t{2});
    QCOMPARE(in->requests[0].n_steps(), 2);
    QCOMPARE(in->requests[0].phase, (std::vector<uint8_t>{0, 1}));
    QCOMPARE(in->token_layer_events(), int64_t{4});
    const predict::ReplayRequest& b = in->requests[1];
    QCOMPARE(b.router, (std::vector<int32_t>{-1, -1, 3, 2}));
    QCOMPARE(b.used, (std::vector<int32_t>{-1, -1, 2, -1}));
    // Exact LRU replay with 4 slots shared by both layers: a pos 0: L0 {0,1} and L1 {1,2}, 4
    // misses; a pos 1: L0 {1,3}: 1 hits, 3 misses and evicts L0 expert 0 (the oldest); b pos 0:
    // L1 {2,3}: 2 hits, 3 misses and evicts L1 expert 1.
    const experts::CacheShape shape = experts::CacheShape::uniform(2, 4, 2, 64);
    predict::ReplayOptions o;
    o.budget_bytes = 4 * 64;
    auto rep = predict::replay_trace(*in, shape, o);
    QVERIFY2(rep.ok(), rep.status().message().c_str());
    QCOMPARE(rep->total.misses, uint64_t{6});
    QCOMPARE(rep->total.hits, uint64_t{2});
    QCOMPARE(rep->total.evictions, uint64_t{2});

    f = std::fopen(path.c_str(), "wb");
    std::fputs("{\"request\":\"a\",\"pos\":0,\"layer\":0,\"experts\":[0,0]}\n", f);
    std::fclose(f);
    in = db::load_trace_jsonl(path);
    QVERIFY(!in.ok());
    QVERIFY2(in.status().message().find("line 1") != std::string::npos,
             in.status().message().c_str());
  }
};

QTEST_GUILESS_MAIN(TestTraceReplay)
#include "test_trace_replay.moc"
