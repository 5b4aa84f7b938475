// Paging, routing capture and fallback routing for every architecture (qwen2moe, qwen3moe,
// olmoe beside llama): the expert store holds the routed experts only (qwen2moe's shared
// expert is dense and always resident), exact routing over a small device tier equals the
// all-experts run bit for bit, and fallback routing computes only with resident experts, with
// the router's top-k weight sum kept (1 where the architecture renormalises, the softmax mass
// of the top-k where it does not).
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <cmath>

#include "core/engine/engine.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "tests/support/routing_log.h"

using namespace emoe;

namespace {

const std::vector<int32_t> kPrompt = {1, 17, 230, 45, 301, 99, 7, 150};

Result<std::vector<float>> run(const model::Model& m, engine::ExpertAccess access,
                               test::RoutingLog* routes = nullptr) {
  return test::run_prompt_then_greedy(m, access, kPrompt, routes);
}

}  // namespace

class TestArchPaging : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    for (const char* arch : {"llama", "qwen2moe", "qwen3moe", "olmoe", "deepseek", "deepseek2"}) {
      for (auto type : {kernels::TensorType::F32, kernels::TensorType::Q8_0}) {
        model::SyntheticModelSpec s;
        s.arch = arch;
        s.n_layer = 3;
        s.n_embd = 64;
        s.n_head = 4;
        s.n_head_kv = std::string(arch) == "olmoe" ? 4 : 2;
        s.n_ff = 64;
        s.n_expert = 8;
        s.n_expert_used = 2;
        s.n_vocab = 400;
        s.weight_type = type;
        s.seed = 31;
        s.n_threads = 2;
        if (std::string(arch).starts_with("deepseek")) {
          s.n_layer_dense_lead = 1;  // a dense layer: no experts, no routing events
          s.n_head_kv = 4;
        }
        if (std::string(arch) == "deepseek2") {
          s.head_dim = 64;  // nope 32 + rope 32, so Q8_0 blocks tile every latent width
          s.n_rot = 32;
          s.q_lora_rank = 32;
        }
        const std::string path =
            dir_.filePath(QString("%1_%2.gguf").arg(arch).arg(int(type))).toStdString();
        const Status st = model::write_synthetic_model(s, path);
        QVERIFY2(st.is_ok(), st.message().c_str());
        auto m = model::Model::load(path);
        QVERIFY2(m.ok(), m.status().message().c_str());
        models_.push_back(std::move(m).value());
      }
    }
  }

  // The store pages the routed experts only; the shared expert stays in the dense bytes.
  void storeHoldsRoutedExpertsOnly() {
    for (const auto& m : models_) {
      experts::ExpertStore store(m->config(), m->weights());
      QCOMPARE(store.total_bytes(), m->weights().expert_bytes);
      QCOMPARE(store.n_expert(), 8);
      if (m->config().has_shared_expert()) {
        const auto first_moe = m->config().n_layer_dense_lead;  // deepseek: layer 0 is dense
        const model::LayerWeights& l = m->weights().layers[static_cast<size_t>(first_moe)];
        const uint64_t shexp =
            static_cast<uint64_t>(l.ffn_gate_shexp.rows) *
                (l.ffn_gate_shexp.row_stride + l.ffn_up_shexp.row_stride) +
            static_cast<uint64_t>(l.ffn_down_shexp.rows) * l.ffn_down_shexp.row_stride;
        QVERIFY(shexp > 0);
        QVERIFY(m->weights().dense_bytes > (3 - first_moe) * shexp);  // every MoE layer's
        QCOMPARE(uint64_t{store.layout(static_cast<int32_t>(first_moe)).total},
                 m->weights().bytes_per_expert(first_moe));
        for (int64_t d = 0; d < first_moe; ++d) {
          QCOMPARE(uint64_t{store.layout(static_cast<int32_t>(d)).total}, uint64_t{0});
        }
      }
    }
  }

  void exactEqualsAllAtSmallBudgets() {
    for (const auto& m : models_) {
      auto reference = run(*m, {});
      QVERIFY(reference.ok());
      experts::ExpertStore store(m->config(), m->weights());
      const uint64_t min = experts::ExpertCache::minimum_budget(store);
      for (uint64_t budget : {min, min + (store.total_bytes() - min) / 2}) {
        experts::ExpertCacheOptions o;
        o.budget_bytes = budget;
        o.poison_freed_slots = true;
        auto cache = experts::ExpertCache::create(store, o);
        QVERIFY2(cache.ok(), cache.status().message().c_str());
        test::RoutingLog routes;
        auto got = run(*m, {engine::RoutingMode::Exact, cache->get()}, &routes);
        QVERIFY2(got.ok(), got.status().message().c_str());
        QVERIFY2(test::bit_equal(*got, *reference), m->config().arch.c_str());
        QVERIFY((*cache)->stats().peak_bytes <= budget);
        // One routing event per MoE layer and token: 8 prompt tokens + 4 steps; dense layers
        // (deepseek's leading ones) report none.
        const auto moe_layers = static_cast<size_t>(3 - m->config().n_layer_dense_lead);
        QCOMPARE(routes.entries.size(), moe_layers * (kPrompt.size() + 4));
      }
    }
  }

  void fallbackUsesOnlyResidentExperts() {
    for (const auto& m : models_) {
      experts::ExpertStore store(m->config(), m->weights());
      experts::ExpertCacheOptions o;
      o.budget_bytes = experts::ExpertCache::minimum_budget(store) * 3 / 2;
      o.poison_freed_slots = true;
      auto cache = experts::ExpertCache::create(store, o);
      QVERIFY(cache.ok());
      const auto has_experts = [&](int32_t l) { return store.layout(l).total > 0; };
      for (int32_t l = 0; l < store.n_layer(); ++l) {
        if (!has_experts(l)) continue;
        for (int32_t e = 0; e < store.n_expert(); ++e) QVERIFY((*cache)->acquire(l, e, true).ok());
      }
      for (int32_t l = 0; l < store.n_layer(); ++l) {
        if (!has_experts(l)) continue;
        for (int32_t j = 0; j < 3; ++j) {
          QVERIFY((*cache)->acquire(l, (l * 3 + j * 2) % store.n_expert(), true).ok());
        }
      }
      std::vector<std::vector<int32_t>> resident(static_cast<size_t>(store.n_layer()));
      for (int32_t l = 0; l < store.n_layer(); ++l) resident[l] = (*cache)->resident_experts(l);
      const uint64_t loads_before = (*cache)->stats().loads;
      test::RoutingLog routes;
      auto got = run(*m, {engine::RoutingMode::Fallback, cache->get()}, &routes);
      QVERIFY2(got.ok(), got.status().message().c_str());
      QCOMPARE((*cache)->stats().loads, loads_before);
      for (float v : *got) QVERIFY(std::isfinite(v));
      int64_t substituted = 0;
      for (const auto& e : routes.entries) {
        const auto& res = resident[static_cast<size_t>(e.layer)];
        QVERIFY(!e.used.empty());
        for (int32_t x : e.used) QVERIFY(std::find(res.begin(), res.end(), x) != res.end());
        float topk_sum = 0, used_sum = 0, raw_sum = 0;
        for (float w : e.weights) topk_sum += w;
        for (float w : e.used_w) used_sum += w;
        for (int32_t x : e.topk) raw_sum += e.probs[static_cast<size_t>(x)];
        QVERIFY(std::abs(used_sum - topk_sum) < 1e-5f);
        QVERIFY(std::abs(topk_sum - (m->config().expert_weights_norm ? 1.0f : raw_sum)) < 1e-5f);
        for (size_t j = 0; j < e.topk.size(); ++j) substituted += !e.resident[j];
      }
      QVERIFY2(substituted > 0, "the budget should force substitutions");
    }
  }

 private:
  QTemporaryDir dir_;
  std::vector<std::unique_ptr<model::Model>> models_;
};

QTEST_GUILESS_MAIN(TestArchPaging)
#include "test_arch_paging.moc"
