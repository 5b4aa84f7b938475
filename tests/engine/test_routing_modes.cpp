// Routing modes over the expert device tier: exact equals all bit for bit at every budget;
// fallback equals all when everything is resident, and otherwise computes only with resident
// experts (evicted slots are poisoned with NaN, so reading one would show in the logits), with
// gate weights renormalised over the experts used.
#include <QTemporaryDir>
#include <QtTest>
#include <atomic>
#include <cmath>
#include <random>

#include "core/engine/engine.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "tests/support/routing_log.h"

using namespace emoe;

namespace {

// Checks the device tier's bytes against its budget after every paging event.
struct BudgetWatch : experts::ExpertEventObserver {
  explicit BudgetWatch(uint64_t budget) : budget(budget) {}
  void on_expert_event(const experts::ExpertEvent& e) override {
    ++events;
    if (e.resident_bytes > budget) ++violations;
  }
  uint64_t budget;
  std::atomic<int64_t> events{0}, violations{0};
};

const std::vector<int32_t> kPrompt = {1, 17, 230, 45, 301, 99};

Result<std::vector<float>> run(const model::Model& m, engine::ExpertAccess access,
                               test::RoutingLog* log = nullptr,
                               const std::vector<int32_t>& prompt = kPrompt) {
  return test::run_prompt_then_greedy(m, access, prompt, log);
}

}  // namespace

class TestRoutingModes : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    for (auto type : {kernels::TensorType::F32, kernels::TensorType::Q8_0}) {
      model::SyntheticModelSpec spec;
      spec.n_layer = 3;
      spec.n_embd = 64;
      spec.n_head = 4;
      spec.n_head_kv = 2;
      spec.n_ff = 64;
      spec.n_expert = 8;
      spec.n_expert_used = 2;
      spec.n_vocab = 400;
      spec.weight_type = type;
      spec.seed = 5;
      const std::string path = dir_.filePath(QString("m%1.gguf").arg(int(type))).toStdString();
      QVERIFY(model::write_synthetic_model(spec, path).is_ok());
      auto m = model::Model::load(path);
      QVERIFY(m.ok());
      models_.push_back(std::move(m).value());
    }
    for (const char* fixture : {EMOE_TEST_DATA_DIR "/tiny-mixtral-f32/model.gguf",
                                EMOE_TEST_DATA_DIR "/tiny-mixtral-q/model.gguf"}) {
      auto m = model::Model::load(fixture);
      QVERIFY(m.ok());
      models_.push_back(std::move(m).value());
    }
  }

  void exact_equals_all_at_every_budget() {
    std::mt19937 rng(7);
    for (const auto& m : models_) {
      experts::ExpertStore store(m->config(), m->weights());
      const uint64_t min = experts::ExpertCache::minimum_budget(store);
      const uint64_t all = store.total_bytes() + store.n_layer() * store.n_expert() * 64;
      for (int step = 0; step <= 10; ++step) {
        experts::ExpertCacheOptions o;
        o.budget_bytes = min + (all - min) * step / 10;
        o.policy = (rng() & 1) ? experts::EvictionPolicy::Lru : experts::EvictionPolicy::Lfu;
        o.poison_freed_slots = true;
        auto cache = experts::ExpertCache::create(store, o);
        QVERIFY2(cache.ok(), cache.status().message().c_str());
        BudgetWatch watch(o.budget_bytes);
        (*cache)->add_observer(&watch);
        // A random prompt per budget (3..12 tokens, ids below 300 exist in every vocabulary).
        std::vector<int32_t> prompt = {1};
        const int len = 2 + static_cast<int>(rng() % 10);
        for (int i = 0; i < len; ++i) prompt.push_back(2 + static_cast<int32_t>(rng() % 298));
        auto reference = run(*m, {}, nullptr, prompt);
        QVERIFY(reference.ok());
        test::RoutingLog log;
        auto got = run(*m, {engine::RoutingMode::Exact, cache->get()}, &log, prompt);
        (*cache)->remove_observer(&watch);
        QCOMPARE(watch.violations.load(), int64_t{0});
        QVERIFY(watch.events.load() > 0);
        QVERIFY2(got.ok(), got.status().message().c_str());
        QCOMPARE(log.samples.size(), size_t{5});  // one per step: prompt + 4 decode steps
        for (const engine::MemorySample& ms : log.samples) {
          QCOMPARE(ms.expert_budget, (*cache)->budget_bytes());
          QVERIFY(ms.expert_bytes <= ms.expert_budget);
          QCOMPARE(ms.dense_bytes, m->weights().dense_bytes);
          // One sequence of n_ctx = 64 tokens: K and V for every layer, F32.
          QCOMPARE(ms.kv_bytes,
                   uint64_t(2 * 64 * m->config().n_layer * m->config().n_embd_kv() * 4));
          QVERIFY(ms.scratch_bytes > 0);
        }
        QVERIFY2(test::bit_equal(*got, *reference),
                 qPrintable(QString("exact != all at budget step %1").arg(step)));
        QVERIFY((*cache)->stats().peak_bytes <= o.budget_bytes);
      }
    }
  }

  void fallback_full_budget_equals_all() {
    for (const auto& m : models_) {
      auto reference = run(*m, {});
      QVERIFY(reference.ok());
      experts::ExpertStore store(m->config(), m->weights());
      experts::ExpertCacheOptions o;
      o.budget_bytes = store.total_bytes() * 2;
      auto cache = experts::ExpertCache::create(store, o);
      QVERIFY(cache.ok());
      (*cache)->fill();
      auto got = run(*m, {engine::RoutingMode::Fallback, cache->get()});
      QVERIFY(got.ok());
      QVERIFY(test::bit_equal(*got, *reference));
    }
  }

  void fallback_uses_only_resident_experts() {
    for (const auto& m : models_) {
      experts::ExpertStore store(m->config(), m->weights());
      experts::ExpertCacheOptions o;
      o.budget_bytes = experts::ExpertCache::minimum_budget(store) * 3 / 2;
      o.poison_freed_slots = true;
      auto cache = experts::ExpertCache::create(store, o);
      QVERIFY(cache.ok());
      // Churn the tier first so evicted slots hold poison, then fill what fits.
      for (int32_t l = 0; l < store.n_layer(); ++l) {
        for (int32_t e = 0; e < store.n_expert(); ++e) QVERIFY((*cache)->acquire(l, e, true).ok());
      }
      // The budget holds three experts per layer: make those three different in each layer,
      // evicting (and poisoning) everything the churn left behind.
      for (int32_t l = 0; l < store.n_layer(); ++l) {
        for (int32_t j = 0; j < 3; ++j) {
          QVERIFY((*cache)->acquire(l, (l * 3 + j * 2) % store.n_expert(), true).ok());
        }
      }
      std::vector<std::vector<int32_t>> resident(static_cast<size_t>(store.n_layer()));
      for (int32_t l = 0; l < store.n_layer(); ++l) resident[l] = (*cache)->resident_experts(l);
      const uint64_t loads_before = (*cache)->stats().loads;
      test::RoutingLog log;
      auto got = run(*m, {engine::RoutingMode::Fallback, cache->get()}, &log);
      QVERIFY2(got.ok(), got.status().message().c_str());
      QCOMPARE((*cache)->stats().loads, loads_before);  // a token never waits for a load
      for (float v : *got) QVERIFY(std::isfinite(v));   // no poisoned slot was read
      int64_t substituted = 0;
      for (const auto& e : log.entries) {
        const auto& res = resident[static_cast<size_t>(e.layer)];
        QVERIFY(!e.used.empty());
        for (size_t j = 0; j < e.used.size(); ++j) {
          QVERIFY(std::find(res.begin(), res.end(), e.used[j]) != res.end());
        }
        for (size_t j = 0; j < e.topk.size(); ++j) {
          const bool in = std::find(res.begin(), res.end(), e.topk[j]) != res.end();
          QCOMPARE(bool(e.resident[j]), in);
        }
        float topk_sum = 0, used_sum = 0;
        for (float w : e.weights) topk_sum += w;
        for (float w : e.used_w) used_sum += w;
        QVERIFY(std::abs(used_sum - topk_sum) < 1e-5f);
        // Weights are proportional to the router probabilities of the experts used.
        for (size_t j = 1; j < e.used.size(); ++j) {
          const double r1 = e.used_w[j] / e.used_w[0];
          const double r2 = e.probs[e.used[j]] / e.probs[e.used[0]];
          QVERIFY(std::abs(r1 - r2) <= 1e-5 * std::max(1.0, r2));
        }
        for (size_t j = 0; j < e.topk.size(); ++j) {
          if (!e.resident[j]) ++substituted;
        }
      }
      QVERIFY2(substituted > 0, "the budget should force substitutions");
    }
  }

 private:
  QTemporaryDir dir_;
  std::vector<std::unique_ptr<model::Model>> models_;
};

QTEST_GUILESS_MAIN(TestRoutingModes)
#include "test_routing_modes.moc"
