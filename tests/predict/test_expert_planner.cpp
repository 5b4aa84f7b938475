// ExpertPlanner (Eq. 2) on cases whose N values are written out by hand below; a layer where
// every active task is insensitive keeps its residents; ties go to the lower id; random cases
// never exceed the budget and always keep the L largest N; budgets in bytes give the same
// per-layer shares as ExpertCache::fill(); PlanApplier moves weights only for changed layers
// (counted through the cache's load statistics and the set_plan calls it reports).
#include <QtTest>
#include <algorithm>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/model/model.h"
#include "core/predict/expert_planner.h"
#include "core/predict/planned_access.h"

using namespace emoe;
using namespace emoe::predict;

namespace {

PlannerShape shape(int32_t n_layer, int32_t n_expert, int32_t cap, uint64_t bytes = 1000) {
  PlannerShape s;
  s.n_layer = n_layer;
  s.n_expert = n_expert;
  s.capacity.assign(static_cast<size_t>(n_layer), cap);
  s.expert_bytes.assign(static_cast<size_t>(n_layer), bytes);
  return s;
}

ExpertPrediction freq(int32_t n_layer, int32_t n_expert, std::vector<float> probs) {
  ExpertPrediction p;
  p.n_layer = n_layer;
  p.n_expert = n_expert;
  p.probs = std::move(probs);
  return p;
}

// The two-task case. qa: W_o = 10, s = (1, 1); chat: W_o = 40, s = (0, 1).
ExpertPlanner two_task_planner(int32_t cap) {
  auto p = ExpertPlanner::create(shape(2, 4, cap));
  TaskModel qa;
  qa.mean_output_tokens = 10;
  qa.sensitivity = {1, 1};
  qa.frequency = freq(2, 4, {0.5f, 0.3f, 0.2f, 0.0f, /**/ 0.1f, 0.2f, 0.3f, 0.4f});
  TaskModel chat;
  chat.mean_output_tokens = 40;
  chat.sensitivity = {0, 1};
  chat.frequency = freq(2, 4, {0.0f, 0.0f, 0.0f, 1.0f, /**/ 0.6f, 0.0f, 0.2f, 0.2f});
  if (!p.ok() || !p->set_task("qa", qa).is_ok() || !p->set_task("chat", chat).is_ok()) {
    qFatal("planner setup failed");
  }
  return std::move(p).value();
}

bool near(double a, double b) { return std::abs(a - b) <= 1e-5 * std::max(1.0, std::abs(b)); }

}  // namespace

class TestExpertPlanner : public QObject {
  Q_OBJECT

 private slots:
  void eq2_hand_computed() {
    const ExpertPlanner p = two_task_planner(2);
    // qa: two requests, W = 20 and 30: weight = (20 + 30) + 2 * 10 = 70.
    // chat: one request, W = 10: weight = 10 + 1 * 40 = 50.
    const std::vector<RunningRequest> reqs = {{"qa", 20}, {"chat", 10}, {"qa", 30}};
    // Layer 0: chat is insensitive (s = 0), so N = 70 * (0.5, 0.3, 0.2, 0) = (35, 21, 14, 0);
    //          top 2 = {0, 1}. (Counting chat would add 50 to expert 3 and pick {0, 3}.)
    // Layer 1: N = 70 * (0.1, 0.2, 0.3, 0.4) + 50 * (0.6, 0, 0.2, 0.2)
    //            = (7, 14, 21, 28) + (30, 0, 10, 10) = (37, 14, 31, 38); top 2 = {0, 3}.
    const Residents res = {{2, 3}, {3, 0}};
    auto plan = p.plan(reqs, res);
    QVERIFY2(plan.ok(), plan.status().message().c_str());
    const LayerPlan& l0 = plan->layers[0];
    const LayerPlan& l1 = plan->layers[1];
    const double n0[] = {35, 21, 14, 0}, n1[] = {37, 14, 31, 38};
    for (int e = 0; e < 4; ++e) {
      QVERIFY2(near(l0.score[e], n0[e]), qPrintable(QString::number(l0.score[e])));
      QVERIFY2(near(l1.score[e], n1[e]), qPrintable(QString::number(l1.score[e])));
    }
    QCOMPARE(l0.experts, (std::vector<int32_t>{0, 1}));
    QCOMPARE(l0.load, (std::vector<int32_t>{0, 1}));
    QCOMPARE(l0.evict, (std::vector<int32_t>{2, 3}));
    QVERIFY(l0.changed && !l0.kept);
    QCOMPARE(l1.experts, (std::vector<int32_t>{0, 3}));
    QVERIFY(l1.load.empty() && l1.evict.empty());
    QVERIFY(!l1.changed);
    QCOMPARE(plan->changed_layers, (std::vector<int32_t>{0}));
    QCOMPARE(plan->bytes_to_load, uint64_t{2000});
    QCOMPARE(plan->planned_experts, int64_t{4});

    // L = 3. Layer 0: 35, 21, 14 -> {0, 1, 2}. Layer 1: 38, 37, 31 -> {0, 2, 3}.
    const ExpertPlanner p3 = two_task_planner(3);
    auto plan3 = p3.plan(reqs, res);
    QVERIFY(plan3.ok());
    QCOMPARE(plan3->layers[0].experts, (std::vector<int32_t>{0, 1, 2}));
    QCOMPARE(plan3->layers[1].experts, (std::vector<int32_t>{0, 2, 3}));
    QCOMPARE(plan3->layers[1].load, (std::vector<int32_t>{2}));
    QCOMPARE(plan3->bytes_to_load, uint64_t{3000});  // 0, 1 at layer 0; 2 at layer 1
  }

  void insensitive_layer_keeps_residents() {
    const ExpertPlanner p = two_task_planner(2);
    // Only chat runs (W = 10 + 40 = 50). Layer 0: s = 0 -> N = 0 everywhere: keep {2, 3}.
    // Layer 1: N = 50 * (0.6, 0, 0.2, 0.2) = (30, 0, 10, 10): expert 0, then the tie between
    // 2 and 3 goes to 2.
    const std::vector<RunningRequest> reqs = {{"chat", 10}};
    auto plan = p.plan(reqs, Residents{{3, 2}, {1, 3}});
    QVERIFY(plan.ok());
    QVERIFY(plan->layers[0].kept);
    QVERIFY(!plan->layers[0].changed);
    QCOMPARE(plan->layers[0].experts, (std::vector<int32_t>{2, 3}));
    QCOMPARE(plan->layers[1].experts, (std::vector<int32_t>{0, 2}));
    QCOMPARE(plan->changed_layers, (std::vector<int32_t>{1}));
    QCOMPARE(plan->bytes_to_load, uint64_t{2000});

    // Kept residents beyond L are cut to L by ascending id.
    auto over = p.plan(reqs, Residents{{3, 1, 2}, {}});
    QVERIFY(over.ok());
    QCOMPARE(over->layers[0].experts, (std::vector<int32_t>{1, 2}));
    QCOMPARE(over->layers[0].evict, (std::vector<int32_t>{3}));

    // Nothing running: every layer keeps what it has.
    auto idle = p.plan(std::vector<RunningRequest>{}, Residents{{0, 3}, {1, 2}});
    QVERIFY(idle.ok());
    QVERIFY(idle->changed_layers.empty());
    QCOMPARE(idle->bytes_to_load, uint64_t{0});
  }

  void fractional_sensitivity_and_fill() {
    auto p = ExpertPlanner::create(shape(1, 4, 3));
    QVERIFY(p.ok());
    TaskModel a;
    a.mean_output_tokens = 0;
    a.sensitivity = {0.5f};
    a.frequency = freq(1, 4, {0.0f, 0.0f, 1.0f, 0.0f});
    QVERIFY(p->set_task("a", a).is_ok());
    // N = (8 + 0) * 0.5 * (0, 0, 1, 0) = (0, 0, 4, 0): expert 2, then residents 3 and 1
    // (ascending: 1, 3) fill the free slots; expert 0 stays out (N = 0, not resident).
    auto plan = p->plan(std::vector<RunningRequest>{{"a", 8}}, Residents{{3, 1}});
    QVERIFY(plan.ok());
    QVERIFY(near(plan->layers[0].score[2], 4.0));
    QCOMPARE(plan->layers[0].experts, (std::vector<int32_t>{1, 2, 3}));
    // With fill_unpredicted and no residents, the lowest ids fill instead.
    PlannerOptions o;
    o.fill_unpredicted = true;
    auto q = ExpertPlanner::create(shape(1, 4, 3), o);
    QVERIFY(q.ok());
    QVERIFY(q->set_task("a", a).is_ok());
    auto plan2 = q->plan(std::vector<RunningRequest>{{"a", 8}}, Residents{{}});
    QVERIFY(plan2.ok());
    QCOMPARE(plan2->layers[0].experts, (std::vector<int32_t>{0, 1, 2}));
  }

  void bad_inputs_are_refused() {
    ExpertPlanner p = two_task_planner(2);
    TaskModel bad;
    bad.sensitivity = {1, 1, 1};
    QVERIFY(!p.set_task("x", bad).is_ok());
    bad.sensitivity = {1.5f, 0};
    QVERIFY(!p.set_task("x", bad).is_ok());
    bad.sensitivity = {};
    bad.frequency = freq(3, 4, std::vector<float>(12, 0.0f));
    QVERIFY(!p.set_task("x", bad).is_ok());
    QVERIFY(!p.plan(std::vector<RunningRequest>{}, Residents{{}}).ok());  // 1 layer of 2
    QVERIFY(!p.plan(std::vector<RunningRequest>{}, Residents{{9}, {}}).ok());
    QVERIFY(!ExpertPlanner::create(shape(2, 4, 5)).ok());
  }

  void budget_never_exceeded_and_top_l_kept() {
    std::mt19937 rng(11);
    for (int trial = 0; trial < 300; ++trial) {
      const int32_t n_layer = 1 + static_cast<int32_t>(rng() % 4);
      const int32_t n_expert = 2 + static_cast<int32_t>(rng() % 9);
      PlannerShape s = shape(n_layer, n_expert, 0);
      for (auto& c : s.capacity) c = static_cast<int32_t>(rng() % (n_expert + 1));
      PlannerOptions o;
      o.fill_unpredicted = rng() & 1;
      auto p = ExpertPlanner::create(s, o);
      QVERIFY(p.ok());
      const int n_task = 1 + static_cast<int>(rng() % 3);
      std::vector<RunningRequest> reqs;
      for (int t = 0; t < n_task; ++t) {
        TaskModel m;
        m.mean_output_tokens = rng() % 50;
        for (int32_t l = 0; l < n_layer; ++l) m.sensitivity.push_back((rng() % 3) * 0.5f);
        m.frequency = ExpertPrediction::unknown(n_layer, n_expert);
        // Small integer weights so that ties happen.
        for (auto& v : m.frequency.probs) v = static_cast<float>(rng() % 3);
        m.frequency.normalize_rows();
        // (Built in two steps: GCC 12 warns falsely (-Wrestrict) on "t" + std::string.)
        std::string name = "t";
        name += std::to_string(t);
        QVERIFY(p->set_task(name, m).is_ok());
        for (int r = static_cast<int>(rng() % 3); r > 0; --r) {
          reqs.push_back({name, static_cast<int64_t>(rng() % 100)});
        }
      }
      Residents res(static_cast<size_t>(n_layer));
      for (auto& r : res) {
        for (int32_t e = 0; e < n_expert; ++e) {
          if (rng() % 2) r.push_back(e);
        }
      }
      auto plan = p->plan(reqs, res);
      QVERIFY(plan.ok());
      int64_t total = 0;
      for (int32_t l = 0; l < n_layer; ++l) {
        const LayerPlan& lp = plan->layers[static_cast<size_t>(l)];
        const size_t cap = static_cast<size_t>(s.capacity[static_cast<size_t>(l)]);
        QVERIFY(lp.experts.size() <= cap);
        QVERIFY(std::is_sorted(lp.experts.begin(), lp.experts.end()));
        total += static_cast<int64_t>(lp.experts.size());
        if (lp.score.empty()) continue;
        // Every chosen expert with N > 0 beats or ties every unchosen one; a tie needs a
        // lower id.
        const std::set<int32_t> chosen(lp.experts.begin(), lp.experts.end());
        for (const int32_t a : lp.experts) {
          for (int32_t b = 0; b < n_expert; ++b) {
            if (chosen.count(b) || lp.score[a] <= 0) continue;
            const double na = lp.score[static_cast<size_t>(a)];
            const double nb = lp.score[static_cast<size_t>(b)];
            QVERIFY(na > nb || (na == nb && a < b));
          }
        }
        // Unchosen experts with N > 0 exist only when the layer is full.
        for (int32_t b = 0; b < n_expert; ++b) {
          if (!chosen.count(b) && lp.score[static_cast<size_t>(b)] > 0) {
            QCOMPARE(lp.experts.size(), cap);
          }
        }
        // When N is zero everywhere, the plan is a subset of the residents.
        if (lp.kept) {
          for (const int32_t e : lp.experts) {
            QVERIFY(std::count(res[l].begin(), res[l].end(), e) == 1);
          }
        }
      }
      QVERIFY(total <= s.total_capacity());
      QCOMPARE(total, plan->planned_experts);
    }
  }

  void byte_budget_matches_cache_shares() {
    auto m = model::Model::load(EMOE_TEST_DATA_DIR "/tiny-mixtral-q/model.gguf");
    QVERIFY(m.ok());
    experts::ExpertStore store((*m)->config(), (*m)->weights());
    const uint64_t min = experts::ExpertCache::minimum_budget(store);  // 2 per layer, 4 layers
    const uint64_t slot = min / 8;
    // 10 slots over 4 layers: 3, 3, 2, 2.
    auto s = PlannerShape::from_budget(store, 10 * slot + slot / 2);
    QVERIFY(s.ok());
    QCOMPARE(s->capacity, (std::vector<int32_t>{3, 3, 2, 2}));
    QCOMPARE(s->expert_bytes[0], static_cast<uint64_t>(store.layout(0).total));
    experts::ExpertCacheOptions co;
    co.budget_bytes = 10 * slot + slot / 2;
    auto cache = experts::ExpertCache::create(store, co);
    QVERIFY(cache.ok());
    (*cache)->fill();
    auto from_cache = PlannerShape::from_cache(**cache);
    QVERIFY(from_cache.ok());
    QCOMPARE(from_cache->capacity, s->capacity);
    for (int32_t l = 0; l < 4; ++l) {
      QCOMPARE(static_cast<int32_t>((*cache)->resident_experts(l).size()),
               s->capacity[static_cast<size_t>(l)]);
    }
    QVERIFY(!PlannerShape::from_budget(store, min - 1).ok());
  }

  void apply_moves_only_changed_layers() {
    auto m = model::Model::load(EMOE_TEST_DATA_DIR "/tiny-mixtral-q/model.gguf");
    QVERIFY(m.ok());
    experts::ExpertStore store((*m)->config(), (*m)->weights());
    const uint64_t slot = experts::ExpertCache::minimum_budget(store) / 8;
    experts::ExpertCacheOptions co;
    co.budget_bytes = 12 * slot;  // 3 per layer
    co.policy = experts::EvictionPolicy::Pinned;
    co.async_loader = false;
    auto cache_r = experts::ExpertCache::create(store, co);
    QVERIFY(cache_r.ok());
    experts::ExpertCache& cache = **cache_r;
    cache.fill();  // experts 0, 1, 2 in every layer
    auto shape_r = PlannerShape::from_cache(cache);
    QVERIFY(shape_r.ok());
    auto planner = ExpertPlanner::create(*shape_r);
    QVERIFY(planner.ok());
    // Task "a" wants 0, 1, 5 at layer 0 and 0, 1, 2 elsewhere (f = 0.4, 0.3, 0.3).
    ExpertPrediction f = ExpertPrediction::unknown(4, 8);
    auto set_row = [&](int32_t l, std::vector<int32_t> ids) {
      const float w[] = {0.4f, 0.3f, 0.3f};
      std::fill(f.row(l).begin(), f.row(l).end(), 0.0f);
      for (size_t i = 0; i < ids.size(); ++i) f.row(l)[static_cast<size_t>(ids[i])] = w[i];
    };
    set_row(0, {0, 1, 5});
    for (int32_t l = 1; l < 4; ++l) set_row(l, {0, 1, 2});
    TaskModel tm;
    tm.mean_output_tokens = 5;
    tm.frequency = f;
    QVERIFY(planner->set_task("a", tm).is_ok());
    const std::vector<RunningRequest> reqs = {{"a", 10}};
    PlanApplier applier(cache);

    cache.reset_stats();
    auto plan1 = planner->plan(reqs, residents_of(cache));
    QVERIFY(plan1.ok());
    QCOMPARE(plan1->changed_layers, (std::vector<int32_t>{0}));
    auto r1 = applier.apply(*plan1, true);
    QVERIFY2(r1.ok(), r1.status().message().c_str());
    // First apply: every layer is pinned once to what it keeps, layer 0 once more to its plan.
    QCOMPARE(r1->set_plan_calls, 5);
    QCOMPARE(r1->pinned_layers, (std::vector<int32_t>{0, 1, 2, 3, 0}));
    QCOMPARE(cache.stats().loads, uint64_t{1});      // expert 5 of layer 0
    QCOMPARE(cache.stats().evictions, uint64_t{1});  // expert 2 of layer 0, not another layer's
    QCOMPARE(cache.resident_experts(0), (std::vector<int32_t>{0, 1, 5}));
    for (int32_t l = 1; l < 4; ++l) {
      QCOMPARE(cache.resident_experts(l), (std::vector<int32_t>{0, 1, 2}));
    }

    // Layer 2's prediction moves to 3, 4, 6: one set_plan call, three loads, all at layer 2.
    set_row(2, {3, 4, 6});
    tm.frequency = f;
    QVERIFY(planner->set_task("a", tm).is_ok());
    cache.reset_stats();
    auto plan2 = planner->plan(reqs, residents_of(cache));
    QVERIFY(plan2.ok());
    QCOMPARE(plan2->changed_layers, (std::vector<int32_t>{2}));
    QCOMPARE(plan2->bytes_to_load, 3 * static_cast<uint64_t>(store.layout(2).total));
    auto r2 = applier.apply(*plan2, true);
    QVERIFY(r2.ok());
    QCOMPARE(r2->set_plan_calls, 1);
    QCOMPARE(r2->pinned_layers, (std::vector<int32_t>{2}));
    QCOMPARE(r2->bytes_requested, plan2->bytes_to_load);
    QCOMPARE(cache.stats().loads, uint64_t{3});
    QCOMPARE(cache.stats().bytes_loaded, plan2->bytes_to_load);
    QCOMPARE(cache.resident_experts(2), (std::vector<int32_t>{3, 4, 6}));
    QCOMPARE(cache.resident_experts(0), (std::vector<int32_t>{0, 1, 5}));
    QCOMPARE(cache.resident_experts(3), (std::vector<int32_t>{0, 1, 2}));

    // The same plan again: nothing to tell the cache, nothing moves.
    cache.reset_stats();
    auto plan3 = planner->plan(reqs, residents_of(cache));
    QVERIFY(plan3.ok());
    QVERIFY(plan3->changed_layers.empty());
    auto r3 = applier.apply(*plan3, true);
    QVERIFY(r3.ok());
    QCOMPARE(r3->set_plan_calls, 0);
    QCOMPARE(cache.stats().loads, uint64_t{0});
    QVERIFY(cache.stats().resident_bytes <= cache.budget_bytes());
  }
};

QTEST_GUILESS_MAIN(TestExpertPlanner)
#include "test_expert_planner.moc"
