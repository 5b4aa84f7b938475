// The device-memory breakdown, checked against sizes computed by hand from the A1 fixture's
// shapes (tests/data/FIXTURES_README.md section 2), and the budget trade it exists to show;
// the planned scratch against what the engine really allocates, for every attention and FFN
// layout (latent attention, leading dense layers, shared experts).
#include <QTemporaryDir>
#include <QtTest>

#include "core/engine/engine.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/experts/memory_plan.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"

using namespace emoe;

namespace {

struct MemoryProbe : engine::ForwardObserver {
  engine::MemorySample last;
  int samples = 0;
  void on_memory_sample(const engine::MemorySample& s) override {
    last = s;
    ++samples;
  }
};

model::SyntheticModelSpec scratch_spec(int which) {
  model::SyntheticModelSpec s;
  s.arch = "deepseek2";
  s.n_layer = 3;
  s.n_embd = 64;
  s.n_head = 4;
  s.n_head_kv = 4;
  s.n_ff = 32;
  s.n_expert = 8;
  s.n_expert_used = 3;
  s.n_layer_dense_lead = 1;
  s.n_vocab = 320;
  s.n_ctx = 64;
  s.seed = 7;
  s.n_threads = 2;
  switch (which) {
    case 0:  // wide latent and low-rank Q: MLA's buffers dominate
      s.head_dim = 48, s.n_rot = 16, s.v_head_dim = 32, s.kv_lora_rank = 160;
      s.q_lora_rank = 96, s.n_expert_shared = 2;
      break;
    case 1:  // legacy attn_kv_b
      s.mla_legacy_kv_b = true;
      break;
    case 2:
      s.arch = "deepseek", s.n_head_kv = 2, s.n_expert_shared = 3;
      break;
    case 3:
      s.arch = "qwen2moe", s.n_head_kv = 2, s.n_layer_dense_lead = 0;
      break;
  }
  return s;
}

}  // namespace

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
    o.device_bytes = 256ull << 20;     // scratch alone holds 512 rows of 32000 logits
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

  // plan_memory's scratch for a batch must cover the engine's measured step buffers plus the
  // batch's logits (which the plan counts as scratch too), without overstating them twice.
  void scratch_covers_the_engines_buffers_data() {
    QTest::addColumn<int>("which");
    QTest::newRow("deepseek2_wide_latent_qlora") << 0;
    QTest::newRow("deepseek2_legacy_kv_b") << 1;
    QTest::newRow("deepseek_shared_dense") << 2;
    QTest::newRow("qwen2moe") << 3;
  }
  void scratch_covers_the_engines_buffers() {
    QFETCH(int, which);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const std::string path = tmp.filePath("m.gguf").toStdString();
    const Status st = model::write_synthetic_model(scratch_spec(which), path);
    QVERIFY2(st.is_ok(), st.message().c_str());
    auto m = model::Model::load(path);
    QVERIFY2(m.ok(), m.status().message().c_str());
    engine::EngineOptions eo;
    eo.n_threads = 2;
    eo.n_ctx = 64;
    auto e = engine::Engine::create(**m, eo);
    QVERIFY2(e.ok(), e.status().message().c_str());
    MemoryProbe probe;
    (*e)->add_observer(&probe);
    auto seq = (*e)->new_sequence();
    QVERIFY(seq.ok());
    constexpr int32_t kBatch = 24;
    engine::Batch b;
    for (int32_t i = 0; i < kBatch; ++i) b.push_back({3 + 11 * i, *seq, i, true});
    std::vector<float> logits;
    const Status d = (*e)->decode(b, &logits);
    QVERIFY2(d.is_ok(), d.message().c_str());
    QCOMPARE(probe.samples, 1);
    const uint64_t measured = probe.last.scratch_bytes + logits.size() * sizeof(float);

    experts::ExpertStore store((*m)->config(), (*m)->weights());
    experts::MemoryPlanOptions o;
    o.n_batch = kBatch;
    auto p = experts::plan_memory((*m)->config(), (*m)->weights(), store, o);
    QVERIFY2(p.ok(), p.status().message().c_str());
    qInfo("planned scratch %llu bytes, engine %llu (+ logits %llu)",
          static_cast<unsigned long long>(p->scratch_bytes),
          static_cast<unsigned long long>(probe.last.scratch_bytes),
          static_cast<unsigned long long>(logits.size() * sizeof(float)));
    QVERIFY2(p->scratch_bytes >= measured, std::to_string(p->scratch_bytes).c_str());
    QVERIFY2(p->scratch_bytes <= 2 * measured, std::to_string(p->scratch_bytes).c_str());
    // Without the logits too, the step buffers alone are planned for.
    const uint64_t logit_rows =
        uint64_t{kBatch} * static_cast<uint64_t>((*m)->config().n_vocab) * 4;
    QVERIFY(p->scratch_bytes - logit_rows >= probe.last.scratch_bytes);
    QVERIFY(p->scratch_bytes - logit_rows <= 2 * probe.last.scratch_bytes);
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
