// ExpertCache on the CPU backend: LRU and LFU hit/miss/eviction sequences equal hand-computed
// expectations; pinned handles are never evicted; the Pinned policy follows set_plan; budgets
// below the minimum are refused naming it; the budget holds after every event under randomized
// budgets, policies, prefetch and concurrent acquires; wait_layer waits only for its own
// layer; async and sync copies are byte-identical; evicted slots are poisoned.
#include <QTemporaryDir>
#include <QtTest>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/experts/expert_cache.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"

using emoe::StatusCode;
using emoe::experts::CacheStats;
using emoe::experts::EvictionPolicy;
using emoe::experts::ExpertCache;
using emoe::experts::ExpertCacheOptions;
using emoe::experts::ExpertEvent;
using emoe::experts::ExpertEventKind;
using emoe::experts::ExpertEventObserver;
using emoe::experts::ExpertHandle;
using emoe::experts::ExpertMatrices;
using emoe::experts::ExpertStore;
using emoe::model::Model;
using emoe::model::SyntheticModelSpec;

namespace {

// F32, n_embd 72, n_ff 37: one expert is 32032 bytes laid out (see test_expert_store), so a
// slot is align64(32032) = 32064 bytes.
constexpr uint64_t kSlot = 32064;

SyntheticModelSpec spec_for(int64_t n_layer, int64_t n_expert) {
  SyntheticModelSpec s;
  s.n_layer = n_layer;
  s.n_embd = 72;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 37;
  s.n_expert = n_expert;
  s.n_expert_used = 2;
  s.n_vocab = 300;
  s.n_ctx = 64;
  s.seed = 5;
  s.name = "cache-" + std::to_string(n_layer) + "x" + std::to_string(n_expert);
  s.n_threads = 2;
  return s;
}

struct Fixture {
  QTemporaryDir dir;
  std::unique_ptr<Model> model;
  std::unique_ptr<ExpertStore> store;
  Fixture(int64_t n_layer, int64_t n_expert) {
    const SyntheticModelSpec spec = spec_for(n_layer, n_expert);
    const std::string path = dir.filePath("m.gguf").toStdString();
    emoe::Status st = emoe::model::write_synthetic_model(spec, path);
    if (!st.is_ok()) qFatal("write_synthetic_model: %s", st.message().c_str());
    auto m = Model::load(path);
    if (!m.ok()) qFatal("Model::load: %s", m.status().message().c_str());
    model = std::move(m).value();
    store = std::make_unique<ExpertStore>(model->config(), model->weights());
  }
};

std::unique_ptr<ExpertCache> make_cache(const ExpertStore& store, uint64_t budget,
                                        EvictionPolicy policy, bool async, bool poison = false) {
  ExpertCacheOptions o;
  o.budget_bytes = budget;
  o.policy = policy;
  o.async_loader = async;
  o.poison_freed_slots = poison;
  auto c = ExpertCache::create(store, o);
  if (!c.ok()) qFatal("ExpertCache::create: %s", c.status().message().c_str());
  return std::move(c).value();
}

class Recorder : public ExpertEventObserver {
 public:
  void on_expert_event(const ExpertEvent& e) override {
    std::lock_guard<std::mutex> g(mu_);
    events_.push_back(e);
  }
  std::vector<ExpertEvent> events() const {
    std::lock_guard<std::mutex> g(mu_);
    return events_;
  }
  void clear() {
    std::lock_guard<std::mutex> g(mu_);
    events_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<ExpertEvent> events_;
};

// One acquire's outcome: 'H' or 'M', and the expert evicted for it (-1: none).
struct Step {
  char kind;
  int evicted;
  bool operator==(const Step& o) const { return kind == o.kind && evicted == o.evicted; }
};

// Acquires (load_if_missing) and releases each id of a layer-0 trace, reading the outcome
// from the events: a miss is Evicted? LoadStarted LoadFinished Miss, a hit one Hit.
std::vector<Step> run_trace(ExpertCache& cache, const std::vector<int>& trace) {
  Recorder rec;
  cache.add_observer(&rec);
  std::vector<Step> out;
  for (int id : trace) {
    rec.clear();
    auto h = cache.acquire(0, id, true);
    if (!h.ok()) qFatal("acquire(%d): %s", id, h.status().message().c_str());
    std::vector<ExpertEvent> ev = rec.events();
    if (ev.size() == 1 && ev[0].kind == ExpertEventKind::Hit && ev[0].expert == id) {
      out.push_back({'H', -1});
      continue;
    }
    size_t i = 0;
    int evicted = -1;
    if (ev.size() == 4 && ev[0].kind == ExpertEventKind::Evicted) evicted = ev[i++].expert;
    if (ev.size() != i + 3 || ev[i].kind != ExpertEventKind::LoadStarted ||
        ev[i + 1].kind != ExpertEventKind::LoadFinished ||
        ev[i + 2].kind != ExpertEventKind::Miss || ev[i + 2].expert != id) {
      out.push_back({'?', -2});
      continue;
    }
    out.push_back({'M', evicted});
  }
  cache.remove_observer(&rec);
  return out;
}

bool same_bytes(const ExpertMatrices& a, const ExpertMatrices& b) {
  auto eq = [](const emoe::kernels::MatrixView& x, const emoe::kernels::MatrixView& y) {
    return x.rows == y.rows && x.row_stride == y.row_stride &&
           std::memcmp(x.data, y.data, static_cast<size_t>(x.rows) * x.row_stride) == 0;
  };
  return eq(a.gate, b.gate) && eq(a.up, b.up) && eq(a.down, b.down);
}

// Blocks the loader thread at LoadStarted of one layer until opened.
class GateObserver : public Recorder {
 public:
  explicit GateObserver(int32_t layer) : layer_(layer) {}
  void on_expert_event(const ExpertEvent& e) override {
    Recorder::on_expert_event(e);
    if (e.kind != ExpertEventKind::LoadStarted || e.layer != layer_) return;
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return open_; });
  }
  void open() {
    std::lock_guard<std::mutex> g(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  int32_t layer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct OpenOnExit {
  GateObserver& g;
  ~OpenOnExit() { g.open(); }
};

class BudgetChecker : public ExpertEventObserver {
 public:
  BudgetChecker(uint64_t budget, uint64_t slot) : budget_(budget), slot_(slot) {}
  void on_expert_event(const ExpertEvent& e) override {
    events.fetch_add(1, std::memory_order_relaxed);
    if (e.resident_bytes > budget_ || e.resident_bytes % slot_ != 0) {
      violations.fetch_add(1, std::memory_order_relaxed);
    }
  }
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> violations{0};

 private:
  uint64_t budget_, slot_;
};

// splitmix64: a seeded, implementation-independent stream for the randomized test.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int32_t below(int32_t n) { return static_cast<int32_t>(next() % static_cast<uint64_t>(n)); }
};

}  // namespace

class TestExpertCache : public QObject {
  Q_OBJECT

 private slots:
  void lru_sequence() {
    Fixture f(1, 8);
    // 3 slots (the remainder of the budget is less than a slot and unused).
    auto c = make_cache(*f.store, 3 * kSlot + 100, EvictionPolicy::Lru, false);
    QCOMPARE(c->slot_bytes(), kSlot);
    QCOMPARE(c->n_slots(), 3);
    // Recency lists oldest first:
    // 0 M [0]; 1 M [0 1]; 2 M [0 1 2]; 0 H [1 2 0]; 3 M-1 [2 0 3]; 0 H [2 3 0];
    // 1 M-2 [3 0 1]; 4 M-3 [0 1 4]; 0 H [1 4 0]; 2 M-1 [4 0 2]
    const std::vector<Step> want = {{'M', -1}, {'M', -1}, {'M', -1}, {'H', -1}, {'M', 1},
                                    {'H', -1}, {'M', 2},  {'M', 3},  {'H', -1}, {'M', 1}};
    QVERIFY(run_trace(*c, {0, 1, 2, 0, 3, 0, 1, 4, 0, 2}) == want);
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{0, 2, 4}));
    const CacheStats s = c->stats();
    QCOMPARE(s.hits, uint64_t{3});
    QCOMPARE(s.misses, uint64_t{7});
    QCOMPARE(s.loads, uint64_t{7});
    QCOMPARE(s.evictions, uint64_t{4});
    QCOMPARE(s.bytes_loaded, uint64_t{7} * 32032);
    QCOMPARE(s.resident_bytes, 3 * kSlot);
    QCOMPARE(s.peak_bytes, 3 * kSlot);
  }

  void lru_and_lfu_differ() {
    Fixture f(1, 8);
    const std::vector<int> trace = {0, 0, 1, 1, 2, 3, 2, 4, 1, 3};
    // LRU, recency oldest first: 0 M [0]; 0 H; 1 M [0 1]; 1 H; 2 M [0 1 2]; 3 M-0 [1 2 3];
    // 2 H [1 3 2]; 4 M-1 [3 2 4]; 1 M-3 [2 4 1]; 3 M-2 [4 1 3].
    auto lru = make_cache(*f.store, 3 * kSlot, EvictionPolicy::Lru, false);
    const std::vector<Step> want_lru = {{'M', -1}, {'H', -1}, {'M', -1}, {'H', -1}, {'M', -1},
                                        {'M', 0},  {'H', -1}, {'M', 1},  {'M', 3},  {'M', 2}};
    QVERIFY(run_trace(*lru, trace) == want_lru);
    QCOMPARE(lru->resident_experts(0), (std::vector<int32_t>{1, 3, 4}));
    // LFU, lifetime acquire counts (count, last use) of the residents:
    // 0 M {0(1,1)}; 0 H {0(2,2)}; 1 M, 1 H {0(2,2) 1(2,4)}; 2 M {.. 2(1,5)};
    // 3 M: fewest is 2 -> evict 2 {0(2,2) 1(2,4) 3(1,6)};
    // 2 M (2's count becomes 2): fewest is 3 -> evict 3 {0(2,2) 1(2,4) 2(2,7)};
    // 4 M: all have 2, least recent is 0 -> evict 0 {1(2,4) 2(2,7) 4(1,8)}; 1 H 1(3,9);
    // 3 M (count 2): fewest is 4 -> evict 4 {1 2 3}.
    auto lfu = make_cache(*f.store, 3 * kSlot, EvictionPolicy::Lfu, false);
    const std::vector<Step> want_lfu = {{'M', -1}, {'H', -1}, {'M', -1}, {'H', -1}, {'M', -1},
                                        {'M', 2},  {'M', 3},  {'M', 0},  {'H', -1}, {'M', 4}};
    QVERIFY(run_trace(*lfu, trace) == want_lfu);
    QCOMPARE(lfu->resident_experts(0), (std::vector<int32_t>{1, 2, 3}));
  }

  void pinned_handles_are_never_evicted() {
    Fixture f(1, 8);
    auto c = make_cache(*f.store, 3 * kSlot, EvictionPolicy::Lru, false);
    auto h0 = c->acquire(0, 0, true);
    auto h1 = c->acquire(0, 1, true);
    auto h2 = c->acquire(0, 2, true);
    QVERIFY(h0.ok() && h1.ok() && h2.ok());
    auto h3 = c->acquire(0, 3, true);
    QVERIFY(!h3.ok());
    QCOMPARE(h3.status().code(), StatusCode::OutOfMemory);
    QVERIFY(QString::fromStdString(h3.status().message()).contains("slot"));
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{0, 1, 2}));
    // Without loading: an empty handle and a miss, not an error.
    auto miss = c->acquire(0, 5, false);
    QVERIFY(miss.ok() && !*miss);
    // Releasing 1 makes it the only victim although 0 is older.
    *h1 = ExpertHandle{};
    auto h4 = c->acquire(0, 4, true);
    QVERIFY(h4.ok() && *h4);
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{0, 2, 4}));
    QVERIFY(same_bytes(h0->matrices(), f.store->host(0, 0)));
    QVERIFY(same_bytes(h2->matrices(), f.store->host(0, 2)));
    QVERIFY(same_bytes(h4->matrices(), f.store->host(0, 4)));
    // Moving a handle keeps the pin; the moved-from one releases nothing.
    ExpertHandle moved = std::move(*h0);
    QVERIFY(!*h0 && moved);
    *h2 = ExpertHandle{};
    *h4 = ExpertHandle{};
    auto h5 = c->acquire(0, 5, true);  // LRU among 2 and 4: 2
    QVERIFY(h5.ok());
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{0, 4, 5}));
    QCOMPARE(c->acquire(0, 8, true).status().code(), StatusCode::InvalidArgument);
  }

  void pinned_policy_follows_plan() {
    Fixture f(1, 8);
    auto c = make_cache(*f.store, 3 * kSlot, EvictionPolicy::Pinned, false);
    QVERIFY(c->set_plan(0, std::vector<int32_t>{1, 2}).is_ok());
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{1, 2}));
    QVERIFY(c->acquire(0, 5, true).ok());  // a free slot
    QVERIFY(c->acquire(0, 6, true).ok());  // evicts 5, the only unplanned resident
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{1, 2, 6}));
    // New plan {6, 3}: 1 and 2 become evictable; loading 3 evicts the older, 1.
    QVERIFY(c->set_plan(0, std::vector<int32_t>{6, 3}).is_ok());
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{2, 3, 6}));
    QVERIFY(c->acquire(0, 7, true).ok());  // evicts 2, the only unplanned one
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{3, 6, 7}));
    QVERIFY(c->set_plan(0, std::vector<int32_t>{3, 6, 7}).is_ok());
    auto r = c->acquire(0, 0, true);  // everything planned: nothing may be evicted
    QCOMPARE(r.status().code(), StatusCode::OutOfMemory);
    emoe::Status too_many = c->set_plan(0, std::vector<int32_t>{0, 1, 2, 3});
    QCOMPARE(too_many.code(), StatusCode::OutOfMemory);
    QCOMPARE(c->set_plan(0, std::vector<int32_t>{9}).code(), StatusCode::InvalidArgument);
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{3, 6, 7}));
  }

  void budget_minimum_and_clamp() {
    Fixture f(2, 4);
    // 2 experts per layer x 2 MoE layers x 32064 bytes = 128256 bytes.
    QCOMPARE(ExpertCache::minimum_budget(*f.store), uint64_t{128256});
    ExpertCacheOptions o;
    o.budget_bytes = 128255;
    auto bad = ExpertCache::create(*f.store, o);
    QVERIFY(!bad.ok());
    QCOMPARE(bad.status().code(), StatusCode::OutOfMemory);
    const QString msg = QString::fromStdString(bad.status().message());
    QVERIFY2(msg.contains("128256") && msg.contains("MiB"), qPrintable(msg));
    o.budget_bytes = 128256;
    auto ok = ExpertCache::create(*f.store, o);
    QVERIFY(ok.ok());
    QCOMPARE((*ok)->n_slots(), 4);
    o.budget_bytes = uint64_t{1} << 40;  // far beyond all 8 experts
    auto big = ExpertCache::create(*f.store, o);
    QVERIFY(big.ok());
    QCOMPARE((*big)->n_slots(), 8);
    QCOMPARE((*big)->budget_bytes(), 8 * kSlot);
    // fill(): round-robin over layers, lowest ids first, until full (5 slots over 2 layers:
    // experts 0, 1, 2 of layer 0 and 0, 1 of layer 1).
    auto c = make_cache(*f.store, 5 * kSlot, EvictionPolicy::Lru, true);
    c->fill();
    QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{0, 1, 2}));
    QCOMPARE(c->resident_experts(1), (std::vector<int32_t>{0, 1}));
    QCOMPARE(c->stats().resident_bytes, 5 * kSlot);
  }

  void dense_model_is_safe() {
    QTemporaryDir dir;
    SyntheticModelSpec spec = spec_for(2, 0);
    const std::string path = dir.filePath("d.gguf").toStdString();
    QVERIFY(emoe::model::write_synthetic_model(spec, path).is_ok());
    auto m = Model::load(path);
    QVERIFY(m.ok());
    ExpertStore store((*m)->config(), (*m)->weights());
    QCOMPARE(ExpertCache::minimum_budget(store), uint64_t{0});
    auto c = make_cache(store, 1 << 20, EvictionPolicy::Lru, true);
    QCOMPARE(c->n_slots(), 0);
    QCOMPARE(c->acquire(0, 0, true).status().code(), StatusCode::InvalidArgument);
    c->prefetch(0, std::vector<int32_t>{0});
    c->wait_layer(0);
    c->fill();
    QVERIFY(c->resident_experts(0).empty());
  }

  void wait_layer_waits_only_for_its_layer() {
    Fixture f(2, 4);
    auto c = make_cache(*f.store, 8 * kSlot, EvictionPolicy::Lru, true);
    GateObserver gate(1);  // the copy thread stops at layer 1's first LoadStarted
    c->add_observer(&gate);
    {
      OpenOnExit guard{gate};
      c->prefetch(0, std::vector<int32_t>{0, 1, 2});
      c->prefetch(1, std::vector<int32_t>{0, 1});
      c->wait_layer(0);  // returns although layer 1's loads cannot finish yet
      QCOMPARE(c->resident_experts(0), (std::vector<int32_t>{0, 1, 2}));
      QVERIFY(c->resident_experts(1).empty());
      int finished0 = 0;
      for (const ExpertEvent& e : gate.events()) {
        QVERIFY(!(e.kind == ExpertEventKind::LoadFinished && e.layer == 1));
        finished0 += e.kind == ExpertEventKind::LoadFinished && e.layer == 0;
      }
      QCOMPARE(finished0, 3);
    }
    c->wait_layer(1);
    QCOMPARE(c->resident_experts(1), (std::vector<int32_t>{0, 1}));
    // Request order: every layer-0 load finished before any layer-1 load started.
    std::vector<std::pair<ExpertEventKind, int32_t>> order;
    for (const ExpertEvent& e : gate.events()) order.emplace_back(e.kind, e.layer);
    const std::vector<std::pair<ExpertEventKind, int32_t>> want = {
        {ExpertEventKind::LoadStarted, 0}, {ExpertEventKind::LoadFinished, 0},
        {ExpertEventKind::LoadStarted, 0}, {ExpertEventKind::LoadFinished, 0},
        {ExpertEventKind::LoadStarted, 0}, {ExpertEventKind::LoadFinished, 0},
        {ExpertEventKind::LoadStarted, 1}, {ExpertEventKind::LoadFinished, 1},
        {ExpertEventKind::LoadStarted, 1}, {ExpertEventKind::LoadFinished, 1}};
    QVERIFY(order == want);
    c->remove_observer(&gate);
  }

  void acquire_waits_for_an_inflight_load() {
    Fixture f(1, 4);
    auto c = make_cache(*f.store, 4 * kSlot, EvictionPolicy::Lru, true);
    GateObserver gate(0);
    c->add_observer(&gate);
    std::atomic<int> kind{-1};
    std::thread t;
    {
      OpenOnExit guard{gate};
      c->prefetch(0, std::vector<int32_t>{2});
      // The copy thread now holds slot 2 in state Loading: a non-loading acquire misses at once.
      while (gate.events().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      auto now = c->acquire(0, 2, false);
      QVERIFY(now.ok() && !*now);
      t = std::thread([&] {
        auto h = c->acquire(0, 2, true);
        kind = h.ok() && *h && same_bytes(h->matrices(), f.store->host(0, 2)) ? 1 : 0;
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    t.join();
    QCOMPARE(kind.load(), 1);
    const CacheStats s = c->stats();
    QCOMPARE(s.loads, uint64_t{1});  // loaded once, not twice
    QCOMPARE(s.misses, uint64_t{2});
    QCOMPARE(s.hits, uint64_t{0});
    c->remove_observer(&gate);
  }

  void async_and_sync_copies_are_identical() {
    Fixture f(2, 4);
    auto a = make_cache(*f.store, 8 * kSlot, EvictionPolicy::Lru, true);
    auto s = make_cache(*f.store, 8 * kSlot, EvictionPolicy::Lru, false);
    for (int32_t l = 0; l < 2; ++l) {
      a->prefetch(l, std::vector<int32_t>{3, 1, 0, 2});
      s->prefetch(l, std::vector<int32_t>{3, 1, 0, 2});
    }
    a->wait_layer(0);
    a->wait_layer(1);
    for (int32_t l = 0; l < 2; ++l) {
      for (int32_t e = 0; e < 4; ++e) {
        auto ha = a->acquire(l, e, false);
        auto hs = s->acquire(l, e, false);
        QVERIFY(ha.ok() && *ha && hs.ok() && *hs);
        const size_t total = f.store->layout(l).total;  // padding included
        QVERIFY(std::memcmp(ha->matrices().gate.data, hs->matrices().gate.data, total) == 0);
        QVERIFY(same_bytes(ha->matrices(), f.store->host(l, e)));
      }
    }
    QCOMPARE(a->stats().hits, uint64_t{8});
  }

  void evicted_slots_are_poisoned() {
    Fixture f(1, 8);
    auto c = make_cache(*f.store, 3 * kSlot, EvictionPolicy::Lru, false, true);
    const uint8_t* base = nullptr;
    {
      auto h = c->acquire(0, 0, true);
      QVERIFY(h.ok() && *h);
      base = static_cast<const uint8_t*>(h->matrices().gate.data);
      QVERIFY(same_bytes(h->matrices(), f.store->host(0, 0)));
    }
    QVERIFY(c->acquire(0, 1, true).ok());
    QVERIFY(c->acquire(0, 2, true).ok());
    // Loading 3 evicts 0 (LRU) and reuses its slot; LoadStarted is delivered after the
    // eviction and before the copy, so the observer sees the freed slot's bytes.
    class Peek : public ExpertEventObserver {
     public:
      Peek(const uint8_t* p, size_t n) : p_(p), n_(n) {}
      void on_expert_event(const ExpertEvent& e) override {
        kinds.push_back(e.kind);
        if (e.kind == ExpertEventKind::LoadStarted) bytes.assign(p_, p_ + n_);
        if (e.kind == ExpertEventKind::Evicted) evicted = e.expert;
      }
      std::vector<ExpertEventKind> kinds;
      std::vector<uint8_t> bytes;
      int evicted = -1;

     private:
      const uint8_t* p_;
      size_t n_;
    } peek(base, static_cast<size_t>(kSlot));
    c->add_observer(&peek);
    auto h3 = c->acquire(0, 3, true);
    c->remove_observer(&peek);
    QVERIFY(h3.ok() && *h3);
    QCOMPARE(peek.evicted, 0);
    QCOMPARE(static_cast<const uint8_t*>(h3->matrices().gate.data), base);
    QCOMPARE(peek.bytes.size(), static_cast<size_t>(kSlot));
    for (size_t i = 0; i < peek.bytes.size(); ++i) {
      if (peek.bytes[i] != 0xFF) QFAIL(qPrintable(QString("byte %1 not poisoned").arg(i)));
    }
    QVERIFY(!c->resident(0, 0));
    QVERIFY(same_bytes(h3->matrices(), f.store->host(0, 3)));  // the copy then overwrote it
  }

  void budget_holds_under_random_load() {
    Fixture f(3, 8);
    const int32_t n_layer = 3, n_expert = 8;
    const uint64_t minimum = ExpertCache::minimum_budget(*f.store);
    QCOMPARE(minimum, 6 * kSlot);
    Rng rng{20240601};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
    int rounds = 0;
    while (rounds < 24 && (rounds < 4 || std::chrono::steady_clock::now() < deadline)) {
      ++rounds;
      const uint64_t budget = minimum + rng.next() % (20 * kSlot);
      const EvictionPolicy policy = static_cast<EvictionPolicy>(rng.below(3));
      const bool async = rng.below(2) == 0;
      auto c = make_cache(*f.store, budget, policy, async, rng.below(2) == 0);
      QVERIFY(c->budget_bytes() <= budget);
      BudgetChecker check(c->budget_bytes(), kSlot);
      c->add_observer(&check);
      std::atomic<uint64_t> acquires{0}, bad{0}, oom{0};
      auto worker = [&](uint64_t seed) {
        Rng r{seed};
        for (int i = 0; i < 150; ++i) {
          const int32_t l = r.below(n_layer), e = r.below(n_expert);
          auto h = c->acquire(l, e, r.below(4) != 0);
          ++acquires;
          if (!h.ok()) {
            (h.status().code() == StatusCode::OutOfMemory ? oom : bad)++;
            continue;
          }
          if (*h && !same_bytes(h->matrices(), f.store->host(l, e))) ++bad;
        }
      };
      std::thread t1(worker, rng.next()), t2(worker, rng.next());
      for (int i = 0; i < 40; ++i) {
        const int32_t l = rng.below(n_layer);
        std::vector<int32_t> ids;
        for (int k = 0, n = rng.below(3); k <= n; ++k) ids.push_back(rng.below(n_expert));
        if (rng.below(2) == 0) {
          c->prefetch(l, ids);
        } else {
          (void)c->set_plan(l, ids);
        }
        if (rng.below(2) == 0) c->wait_layer(rng.below(n_layer));
      }
      t1.join();
      t2.join();
      for (int32_t l = 0; l < n_layer; ++l) c->wait_layer(l);
      const CacheStats s = c->stats();
      c->remove_observer(&check);
      QCOMPARE(check.violations.load(), uint64_t{0});
      QVERIFY(check.events.load() > 0);
      QCOMPARE(bad.load(), uint64_t{0});
      // Two threads pin at most 2 slots and loads hold at most 3 more: only planned slots
      // (Pinned policy) can leave an acquire without a victim.
      if (policy != EvictionPolicy::Pinned) QCOMPARE(oom.load(), uint64_t{0});
      QCOMPARE(s.hits + s.misses, acquires.load() - oom.load());
      QVERIFY(s.peak_bytes <= c->budget_bytes());
      QVERIFY(s.resident_bytes <= c->budget_bytes());
    }
  }
};

QTEST_GUILESS_MAIN(TestExpertCache)
#include "test_expert_cache.moc"
