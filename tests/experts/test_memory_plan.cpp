// The device-memory breakdown, checked against sizes computed by hand from the A1 fixture's
// shapes (tests/data/FIXTURES_README.md section 2), and the budget trade it exists to show.
#include <QtTest>

#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/experts/memory_plan.h"
#include "core/model/model.h"

using namespace emoe;

class TestMemoryPlan : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    auto m = model::Model::load(EMOE_TEST_DATA_DIR "/tiny-mixtral-f32/model.gguf");
    QVERIFY(m.ok());
    model_ = std::move(m).value();
    store_ = std::make_unique<experts::ExpertStore>(model_->config(), model_->weights());
  }

  void hand_computed_sizes() {
    // F16 token_embd and output: 2 x 128 x 32000 x 2; F32 attention per layer:
    // (128x128 + 2 x 128x64 + 128x128) x 4; norms (4 x 2 + 1) x 128 x 4; routers 4 x 8 x 128 x 4.
    const uint64_t dense = 2ull * 128 * 32000 * 2 + 4ull * (128 * 128 * 2 + 2 * 128 * 64) * 4 +
                           9ull * 128 * 4 + 4ull * 8 * 128 * 4;
    const uint64_t expert = 3ull * 128 * 256 * 4;  // gate + up + down, F32
    QCOMPARE(store_->max_expert_bytes(), expert);
    QCOMPARE(store_->total_bytes(), 4 * 8 * expert);
    QCOMPARE(experts::ExpertCache::minimum_budget(*store_), 4 * 2 * expert);

    experts::MemoryPlanOptions o;
    o.device_bytes = 256ull << 20;  // scratch alone holds 512 rows of 32000 logits
    o.expert_budget = 4 * 4 * expert;  // four experts per layer
    auto p = experts::plan_memory(model_->config(), model_->weights(), *store_, o);
    QVERIFY2(p.ok(), p.status().message().c_str());
    QCOMPARE(p->dense_bytes, dense);
    QCOMPARE(p->expert_bytes, 4 * 4 * expert);
    QCOMPARE(p->kv_bytes_per_token, uint64_t{2 * 4 * 64 * 4});  // K and V, 4 layers, F32
    QCOMPARE(p->kv_bytes, o.device_bytes - dense - p->expert_bytes - p->scratch_bytes);
    QCOMPARE(p->max_context, int64_t(p->kv_bytes / 2048));

    // Halving the expert tier hands exactly those bytes to the KV cache.
    o.expert_budget = 4 * 2 * expert;
    auto q = experts::plan_memory(model_->config(), model_->weights(), *store_, o);
    QVERIFY(q.ok());
    QCOMPARE(q->kv_bytes - p->kv_bytes, 4 * 2 * expert);
    QVERIFY(q->max_context > p->max_context);

    o.kv_type = kernels::TensorType::F16;
    auto h = experts::plan_memory(model_->config(), model_->weights(), *store_, o);
    QVERIFY(h.ok());
    QCOMPARE(h->kv_bytes_per_token, uint64_t{1024});
  }

  void budgets_too_small_are_refused_naming_the_minimum() {
    const uint64_t expert = 3ull * 128 * 256 * 4;
    experts::MemoryPlanOptions o;
    o.expert_budget = 4 * 2 * expert - 1;
    auto p = experts::plan_memory(model_->config(), model_->weights(), *store_, o);
    QVERIFY(!p.ok());
    QVERIFY2(p.status().message().find(std::to_string(4 * 2 * expert)) != std::string::npos,
             p.status().message().c_str());
    o.expert_budget = 0;
    o.device_bytes = 1 << 20;
    p = experts::plan_memory(model_->config(), model_->weights(), *store_, o);
    QVERIFY(!p.ok());
    QVERIFY(p.status().message().find("minimum") != std::string::npos);
  }

 private:
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<experts::ExpertStore> store_;
};

QTEST_GUILESS_MAIN(TestMemoryPlan)
#include "test_memory_plan.moc"
