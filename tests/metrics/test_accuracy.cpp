// Accuracy against the full model: top-1 agreement, KL divergence and perplexity on logit rows
// written out here (checked against float64 arithmetic done in the test), LCS on hand-counted
// strings, and on the tiny fixture: the full model against a device tier holding every expert
// (fallback) agrees exactly, while fallback at the minimum budget does not; that agreement and
// KL are recomputed here from two logits dumps made with the engine directly.
#include <QtTest>
#include <cmath>
#include <memory>
#include <vector>

#include "core/engine/engine.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/metrics/accuracy.h"
#include "core/model/model.h"
#include "core/predict/expert_planner.h"
#include "core/predict/planned_access.h"

using namespace emoe;
using namespace emoe::metrics;

namespace {

// KL(softmax(a) || softmax(b)) written out in float64, independent of the library's shifts.
double kl_ref(const std::vector<double>& a, const std::vector<double>& b) {
  double za = 0, zb = 0;
  for (double v : a) za += std::exp(v);
  for (double v : b) zb += std::exp(v);
  double kl = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double p = std::exp(a[i]) / za, q = std::exp(b[i]) / zb;
    if (p > 0) kl += p * std::log(p / q);
  }
  return kl;
}

double log_softmax_ref(const std::vector<double>& a, size_t i) {
  double z = 0;
  for (double v : a) z += std::exp(v);
  return a[i] - std::log(z);
}

std::vector<float> to_float(const std::vector<std::vector<double>>& rows) {
  std::vector<float> out;
  for (const auto& r : rows) {
    for (double v : r) out.push_back(static_cast<float>(v));
  }
  return out;
}

// Router top-k counts per (layer, expert) of every token the engine runs.
struct TopkCounter : engine::ForwardObserver {
  TopkCounter(int32_t n_layer, int32_t n_expert)
      : n_expert(n_expert), f(predict::ExpertPrediction::unknown(n_layer, n_expert)) {}
  void on_routing(const engine::RoutingEvent& ev) override {
    for (const int32_t e : ev.topk) f.row(ev.layer)[static_cast<size_t>(e)] += 1.0f;
  }
  int32_t n_expert;
  predict::ExpertPrediction f;
};

// Router top-k slots at MoE layer 0 and how many of them were resident.
struct HitCounter : engine::ForwardObserver {
  void on_routing(const engine::RoutingEvent& ev) override {
    if (ev.layer != 0) return;
    for (const uint8_t h : ev.resident) hits += h;
    total += static_cast<int64_t>(ev.resident.size());
  }
  int64_t hits = 0, total = 0;
};

// Logits of every position of `tokens` from a fresh sequence, one batched step: the test's own
// dump, not engine_source's.
std::vector<float> dump_logits(engine::Engine& e, const std::vector<int32_t>& tokens) {
  auto seq = e.new_sequence();
  if (!seq.ok()) return {};
  engine::Batch b;
  for (size_t i = 0; i < tokens.size(); ++i) {
    b.push_back({tokens[i], *seq, static_cast<int32_t>(i), true, engine::Phase::Prefill});
  }
  std::vector<float> logits;
  if (!e.decode(b, &logits).is_ok()) logits.clear();
  e.free_sequence(*seq);
  return logits;
}

}  // namespace

class TestAccuracy : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    auto m = model::Model::load(EMOE_TEST_DATA_DIR "/tiny-mixtral-q/model.gguf");
    QVERIFY2(m.ok(), m.status().message().c_str());
    model_ = std::move(m).value();
    store_ = std::make_unique<experts::ExpertStore>(model_->config(), model_->weights());
    const auto& tok = model_->tokenizer();
    for (const char* text : {"The capital of France is", "Once upon a time there was a little",
                             "Summarize: the quick brown fox jumps over the lazy dog.",
                             "Question: what is two plus two? Answer:"}) {
      prompts_.push_back(tok.encode(text, true, false));
    }
  }

  void argmax_ties_go_to_lower_id() {
    const std::vector<float> row = {0.5f, 2.0f, -1.0f, 2.0f};
    QCOMPARE(argmax(row), 1);
    QCOMPARE(argmax(std::span<const float>()), -1);
  }

  void hand_made_rows() {
    // Row 0: ref argmax 2, cand argmax 2 (agree). Row 1: ref argmax 0, cand argmax 1 (disagree).
    // Row 2: identical rows (agree, KL 0).
    const std::vector<std::vector<double>> ref = {{0.0, 1.0, 3.0}, {2.0, 0.5, -1.0}, {1, 1, 0}};
    const std::vector<std::vector<double>> cand = {{0.5, 0.0, 2.0}, {0.0, 1.5, 1.0}, {1, 1, 0}};
    const std::vector<int32_t> targets = {2, 1, -1};
    auto c = compare_logits(to_float(ref), to_float(cand), 3, targets);
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->positions, int64_t{3});
    QCOMPARE(c->top1_agree, int64_t{2});
    QCOMPARE(c->agreement(), 2.0 / 3.0);
    const double kl = kl_ref(ref[0], cand[0]) + kl_ref(ref[1], cand[1]) + 0.0;
    QVERIFY(kl > 0.1);  // the rows really differ
    QVERIFY(std::abs(c->kl_sum - kl) < 1e-12);
    QVERIFY(std::abs(c->mean_kl() - kl / 3) < 1e-12);
    QCOMPARE(c->scored, int64_t{2});
    const double ref_nll = -log_softmax_ref(ref[0], 2) - log_softmax_ref(ref[1], 1);
    const double cand_nll = -log_softmax_ref(cand[0], 2) - log_softmax_ref(cand[1], 1);
    QVERIFY(std::abs(c->ref_nll_sum - ref_nll) < 1e-12);
    QVERIFY(std::abs(c->cand_nll_sum - cand_nll) < 1e-12);
    QVERIFY(std::abs(c->ref_perplexity() - std::exp(ref_nll / 2)) < 1e-9);
    QVERIFY(std::abs(c->cand_perplexity() - std::exp(cand_nll / 2)) < 1e-9);
    // KL is zero for a shifted copy (softmax is shift invariant) and never negative.
    const std::vector<float> a = {1.0f, -2.0f, 0.25f}, b = {11.0f, 8.0f, 10.25f};
    QVERIFY(std::abs(kl_divergence(a, b)) < 1e-12);
    QVERIFY(kl_divergence(a, a) == 0.0);
  }

  void large_logits_do_not_overflow() {
    // Softmax is shift invariant: rows (1000, 999) and (999, 1000) give the KL of (1, 0) and
    // (0, 1), which kl_ref computes without overflow.
    const double want = kl_ref({1.0, 0.0}, {0.0, 1.0});
    const std::vector<float> rf = {1000.0f, 999.0f}, cf = {999.0f, 1000.0f};
    QVERIFY(want > 0.4);
    QVERIFY(std::abs(kl_divergence(rf, cf) - want) < 1e-9);
    QVERIFY(std::abs(log_softmax_at(rf, 1) - log_softmax_ref({1.0, 0.0}, 1)) < 1e-9);
  }

  void mismatched_sizes_are_refused() {
    const std::vector<float> a(6, 0.0f), b(5, 0.0f);
    const std::vector<int32_t> t = {0, 1};
    QVERIFY(!compare_logits(a, b, 3, t).ok());
    const std::vector<int32_t> bad = {0, 3};
    QVERIFY(!compare_logits(a, a, 3, bad).ok());
  }

  void lcs_hand_counted() {
    const std::vector<int32_t> a = {1, 2, 3, 4}, b = {1, 3, 4, 5}, c = {7, 8};
    QCOMPARE(lcs_length(a, b), int64_t{3});  // 1 3 4
    QCOMPARE(lcs_similarity(a, b), 0.75);
    QCOMPARE(lcs_similarity(a, c), 0.0);
    QCOMPARE(lcs_similarity(a, a), 1.0);
    const std::vector<int32_t> d = {2, 1, 2, 1, 2}, e = {1, 2, 1};
    QCOMPARE(lcs_length(d, e), int64_t{3});
    QCOMPARE(lcs_similarity(d, e), 3.0 / 5.0);
    QCOMPARE(lcs_similarity(std::vector<int32_t>{}, std::vector<int32_t>{}), 1.0);
  }

  void greedy_from_a_forward_function() {
    // Row i is one-hot at (tokens[i] + 1) mod 5: greedy after [3] is 4, 0, 1.
    LogitsSource s;
    s.n_vocab = 5;
    s.forward = [](std::span<const int32_t> tokens, std::vector<float>* logits) {
      logits->assign(tokens.size() * 5, 0.0f);
      for (size_t i = 0; i < tokens.size(); ++i) (*logits)[i * 5 + (tokens[i] + 1) % 5] = 1.0f;
      return Status::ok();
    };
    const std::vector<int32_t> prompt = {3};
    auto g = greedy_continuation(s, prompt, 3);
    QVERIFY(g.ok());
    QCOMPARE(*g, (std::vector<int32_t>{4, 0, 1}));

    // Against a source predicting (t + 2) mod 5: continuations 4 0 1 and 0 2 4 share one token
    // (LCS 1/3); teacher forcing over 3 4 0 1 agrees nowhere.
    LogitsSource t = s;
    t.forward = [](std::span<const int32_t> tokens, std::vector<float>* logits) {
      logits->assign(tokens.size() * 5, 0.0f);
      for (size_t i = 0; i < tokens.size(); ++i) (*logits)[i * 5 + (tokens[i] + 2) % 5] = 1.0f;
      return Status::ok();
    };
    const std::vector<std::vector<int32_t>> prompts = {prompt};
    AccuracyOptions o;
    o.continuation_tokens = 3;
    auto r = compare_models(s, t, prompts, o);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->prompts[0].cand_greedy, (std::vector<int32_t>{0, 2, 4}));
    QCOMPARE(r->total.positions, int64_t{4});
    QCOMPARE(r->total.top1_agree, int64_t{0});
    QCOMPARE(r->exact_match_rate, 0.0);
    QVERIFY(std::abs(r->mean_lcs - 1.0 / 3.0) < 1e-12);
    QCOMPARE(r->total.scored, int64_t{3});
  }

  void full_model_against_itself() {
    auto ref = make_engine({engine::RoutingMode::All, nullptr});
    QVERIFY(ref);
    // A device tier holding every expert, in fallback mode: the same model by another path.
    experts::ExpertCacheOptions co;
    co.budget_bytes = UINT64_MAX / 2;
    co.policy = experts::EvictionPolicy::Lru;
    auto cache = experts::ExpertCache::create(*store_, co);
    QVERIFY(cache.ok());
    (*cache)->fill();
    auto cand = make_engine({engine::RoutingMode::Fallback, cache->get()});
    QVERIFY(cand);
    auto r = compare_models(engine_source(*ref), engine_source(*cand), prompts_);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->total.positions, [&] {
      int64_t n = 0;
      for (const auto& p : prompts_) n += static_cast<int64_t>(p.size()) + 16;
      return n;
    }());
    QCOMPARE(r->agreement(), 1.0);
    QCOMPARE(r->mean_kl(), 0.0);
    QCOMPARE(r->exact_match_rate, 1.0);
    QCOMPARE(r->mean_lcs, 1.0);
    QCOMPARE(r->total.ref_perplexity(), r->total.cand_perplexity());
    QVERIFY(r->total.ref_perplexity() > 1.0);
  }

  void fallback_at_small_budgets() {
    auto ref = make_engine({engine::RoutingMode::All, nullptr});
    QVERIFY(ref);
    const uint64_t min = experts::ExpertCache::minimum_budget(*store_);  // 2 of 8 per layer
    for (const int per_layer : {2, 4}) {
      experts::ExpertCacheOptions co;
      co.budget_bytes = min / 2 * static_cast<uint64_t>(per_layer);
      auto cache = experts::ExpertCache::create(*store_, co);
      QVERIFY2(cache.ok(), cache.status().message().c_str());
      (*cache)->fill();  // experts 0..per_layer-1 of every layer
      QCOMPARE((*cache)->resident_experts(0).size(), static_cast<size_t>(per_layer));
      auto cand = make_engine({engine::RoutingMode::Fallback, cache->get()});
      QVERIFY(cand);
      auto r = compare_models(engine_source(*ref), engine_source(*cand), prompts_);
      QVERIFY2(r.ok(), r.status().message().c_str());
      qInfo(
          "fallback, %d of 8 experts per layer: top-1 agreement %.4f, mean KL %.5f, "
          "perplexity %.2f vs %.2f, exact match %.2f, LCS %.3f over %lld positions",
          per_layer, r->agreement(), r->mean_kl(), r->total.ref_perplexity(),
          r->total.cand_perplexity(), r->exact_match_rate, r->mean_lcs,
          static_cast<long long>(r->total.positions));
      if (per_layer == 2) {
        QVERIFY(r->agreement() < 1.0);
        QVERIFY(r->mean_kl() > 0.0);
      }

      // The same agreement and KL from the test's own logits dumps of the same sequences.
      int64_t agree = 0, rows = 0;
      double kl = 0;
      const size_t v = static_cast<size_t>(model_->config().n_vocab);
      for (size_t p = 0; p < prompts_.size(); ++p) {
        std::vector<int32_t> tokens = prompts_[p];
        const auto& g = r->prompts[p].ref_greedy;
        tokens.insert(tokens.end(), g.begin(), g.end());
        const std::vector<float> a = dump_logits(*ref, tokens), b = dump_logits(*cand, tokens);
        QCOMPARE(a.size(), tokens.size() * v);
        QCOMPARE(b.size(), a.size());
        for (size_t i = 0; i < tokens.size(); ++i) {
          size_t ia = 0, ib = 0;
          std::vector<double> ra(v), rb(v);
          for (size_t j = 0; j < v; ++j) {
            ra[j] = a[i * v + j];
            rb[j] = b[i * v + j];
            if (a[i * v + j] > a[i * v + ia]) ia = j;
            if (b[i * v + j] > b[i * v + ib]) ib = j;
          }
          agree += ia == ib ? 1 : 0;
          ++rows;
          // Shift by the row maximum before exp so the test's float64 KL cannot overflow.
          const double ma = *std::max_element(ra.begin(), ra.end());
          const double mb = *std::max_element(rb.begin(), rb.end());
          for (size_t j = 0; j < v; ++j) {
            ra[j] -= ma;
            rb[j] -= mb;
          }
          kl += kl_ref(ra, rb);
        }
      }
      QCOMPARE(rows, r->total.positions);
      QCOMPARE(agree, r->total.top1_agree);
      QVERIFY(std::abs(kl - r->total.kl_sum) <= 1e-9 * std::max(1.0, kl));
    }
  }

  // Half the experts per layer, chosen by Eq. 2 from the prompts' own routing (an oracle f),
  // against the lowest ids that fill() leaves. Layer 0 routes the same tokens with the same
  // inputs in both runs, so the planned set must cover more of its router slots; agreement and
  // KL of this random-weight model are reported, not asserted (they need not improve).
  void planned_residents_cover_more_at_half_budget() {
    auto ref = make_engine({engine::RoutingMode::All, nullptr});
    QVERIFY(ref);
    const int32_t n_layer = static_cast<int32_t>(model_->config().n_layer);
    const int32_t n_expert = static_cast<int32_t>(model_->config().n_expert);
    TopkCounter counter(n_layer, n_expert);
    ref->add_observer(&counter);
    auto self = compare_models(engine_source(*ref), engine_source(*ref), prompts_);
    ref->remove_observer(&counter);
    QVERIFY(self.ok());
    counter.f.normalize_rows();

    const uint64_t half = experts::ExpertCache::minimum_budget(*store_) * 2;  // 4 of 8
    double coverage[2] = {0, 0};
    for (int planned = 0; planned < 2; ++planned) {
      experts::ExpertCacheOptions co;
      co.budget_bytes = half;
      co.policy = experts::EvictionPolicy::Pinned;
      co.async_loader = false;
      auto cache = experts::ExpertCache::create(*store_, co);
      QVERIFY(cache.ok());
      (*cache)->fill();
      if (planned) {
        auto shape = predict::PlannerShape::from_cache(**cache);
        QVERIFY(shape.ok());
        QCOMPARE(shape->capacity, (std::vector<int32_t>{4, 4, 4, 4}));
        auto planner = predict::ExpertPlanner::create(*shape);
        QVERIFY(planner.ok());
        predict::TaskModel tm;
        tm.mean_output_tokens = 16;
        tm.frequency = counter.f;
        QVERIFY(planner->set_task("all", tm).is_ok());
        auto plan = planner->plan(std::vector<predict::RunningRequest>{{"all", 32}},
                                  predict::residents_of(**cache));
        QVERIFY(plan.ok());
        predict::PlanApplier applier(**cache);
        QVERIFY(applier.apply(*plan, true).ok());
        for (int32_t l = 0; l < n_layer; ++l) {
          QCOMPARE((*cache)->resident_experts(l), plan->layers[static_cast<size_t>(l)].experts);
        }
      }
      auto cand = make_engine({engine::RoutingMode::Fallback, cache->get()});
      QVERIFY(cand);
      HitCounter hits;
      cand->add_observer(&hits);
      auto r = compare_models(engine_source(*ref), engine_source(*cand), prompts_);
      cand->remove_observer(&hits);
      QVERIFY(r.ok());
      QVERIFY(hits.total > 0);
      coverage[planned] = static_cast<double>(hits.hits) / static_cast<double>(hits.total);
      qInfo(
          "fallback, 4 of 8 experts per layer, %s: layer-0 hit rate %.3f, top-1 agreement "
          "%.4f, mean KL %.5f, perplexity %.2f vs %.2f, exact match %.2f, LCS %.3f",
          planned ? "planned by Eq. 2 (oracle f)" : "lowest ids (fill)", coverage[planned],
          r->agreement(), r->mean_kl(), r->total.ref_perplexity(), r->total.cand_perplexity(),
          r->exact_match_rate, r->mean_lcs);
    }
    QVERIFY(coverage[1] > coverage[0]);
  }

 private:
  std::unique_ptr<engine::Engine> make_engine(engine::ExpertAccess access) {
    engine::EngineOptions o;
    o.n_ctx = 128;
    o.experts = access;
    auto e = engine::Engine::create(*model_, o);
    if (!e.ok()) return nullptr;
    return std::move(e).value();
  }

  std::unique_ptr<model::Model> model_;
  std::unique_ptr<experts::ExpertStore> store_;
  std::vector<std::vector<int32_t>> prompts_;
};

QTEST_GUILESS_MAIN(TestAccuracy)
#include "test_accuracy.moc"
