// Generation loop, stop conditions, cancellation and perplexity, checked against the
// independent float64 reference forward pass (tests/support/reference_forward).
#include <QTemporaryDir>
#include <QtTest>
#include <atomic>
#include <cmath>

#include "core/engine/generator.h"
#include "core/engine/perplexity.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "tests/support/reference_forward.h"

using namespace emoe;

namespace {

struct Fixture {
  QTemporaryDir dir;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<test::ReferenceForward> ref;
};

std::unique_ptr<Fixture> make_model() {
  auto f = std::make_unique<Fixture>();
  model::SyntheticModelSpec spec;
  spec.n_layer = 2;
  spec.n_embd = 64;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 96;
  spec.n_expert = 4;
  spec.n_expert_used = 2;
  spec.n_vocab = 600;
  spec.seed = 11;
  const std::string path = f->dir.filePath("m.gguf").toStdString();
  if (!model::write_synthetic_model(spec, path).is_ok()) return nullptr;
  auto m = model::Model::load(path);
  if (!m.ok()) return nullptr;
  f->model = std::move(m).value();
  auto r = test::ReferenceForward::create(f->model->file());
  if (!r.ok()) return nullptr;
  f->ref = std::move(r).value();
  return f;
}

int32_t argmax_row(const std::vector<double>& logits, int64_t row, int64_t n_vocab) {
  const double* p = logits.data() + row * n_vocab;
  return static_cast<int32_t>(std::max_element(p, p + n_vocab) - p);
}

}  // namespace

class TestGenerator : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    fx_ = make_model();
    QVERIFY(fx_ != nullptr);
  }

  void greedy_matches_reference() {
    auto engine = engine::Engine::create(*fx_->model, {});
    QVERIFY(engine.ok());
    auto seq = (*engine)->new_sequence();
    QVERIFY(seq.ok());
    std::vector<int32_t> tokens =
        fx_->model->tokenizer().encode("a small test prompt", true, false);
    engine::GenerateOptions o;
    o.max_new_tokens = 8;
    o.stop_at_eos = false;
    auto r = engine::generate(**engine, *seq, tokens, o);
    QVERIFY(r.ok());
    QCOMPARE(r->generated.size(), size_t{8});
    QCOMPARE(r->stop, engine::StopReason::Length);
    QCOMPARE(r->decode_steps, int64_t{7});
    const int64_t n_vocab = fx_->model->config().n_vocab;
    for (int32_t got : r->generated) {
      auto ref = fx_->ref->run(tokens);
      QVERIFY(ref.ok());
      const int32_t want = argmax_row(ref->logits, ref->n_tokens - 1, n_vocab);
      QCOMPARE(got, want);
      tokens.push_back(got);
    }
  }

  void cancel_flag_and_callback_stop_between_steps() {
    auto engine = engine::Engine::create(*fx_->model, {});
    QVERIFY(engine.ok());
    const std::vector<int32_t> prompt = {1, 50, 60};
    std::atomic<bool> cancel{false};
    engine::GenerateOptions o;
    o.max_new_tokens = 50;
    o.stop_at_eos = false;
    o.cancel = &cancel;
    int seen = 0;
    auto seq = (*engine)->new_sequence();
    auto r = engine::generate(**engine, *seq, prompt, o, [&](int32_t) {
      if (++seen == 3) cancel = true;
      return true;
    });
    QVERIFY(r.ok());
    QCOMPARE(r->stop, engine::StopReason::Cancelled);
    QCOMPARE(r->generated.size(), size_t{3});

    (*engine)->free_sequence(*seq);
    seq = (*engine)->new_sequence();
    cancel = false;
    r = engine::generate(**engine, *seq, prompt, o, [](int32_t) { return false; });
    QVERIFY(r.ok());
    QCOMPARE(r->stop, engine::StopReason::Cancelled);
    QCOMPARE(r->generated.size(), size_t{1});
  }

  void context_full_stops_cleanly() {
    const std::vector<int32_t> prompt = {1, 50, 60, 70};
    engine::EngineOptions eo;
    eo.n_ctx = static_cast<int64_t>(prompt.size()) + 2;
    auto engine = engine::Engine::create(*fx_->model, eo);
    QVERIFY(engine.ok());
    auto seq = (*engine)->new_sequence();
    engine::GenerateOptions o;
    o.max_new_tokens = 10;
    o.stop_at_eos = false;
    auto r = engine::generate(**engine, *seq, prompt, o);
    QVERIFY(r.ok());
    QCOMPARE(r->stop, engine::StopReason::ContextFull);
    // Tokens sampled from positions 3, 4 and 5: the last fits the 6-token context exactly.
    QCOMPARE(r->generated.size(), size_t{3});
  }

  void bad_requests_are_errors() {
    auto engine = engine::Engine::create(*fx_->model, {});
    QVERIFY(engine.ok());
    auto seq = (*engine)->new_sequence();
    engine::GenerateOptions o;
    QVERIFY(!engine::generate(**engine, *seq, {}, o).ok());
    const std::vector<int32_t> bad = {1, 1 << 30};
    auto r = engine::generate(**engine, *seq, bad, o);
    QVERIFY(!r.ok());
    QVERIFY(r.status().message().find("out of range") != std::string::npos);
    QVERIFY(!(*engine)->new_sequence().ok());  // max_sequences = 1 is in use
  }

  void perplexity_matches_reference() {
    auto engine = engine::Engine::create(*fx_->model, {});
    QVERIFY(engine.ok());
    std::vector<int32_t> tokens;
    const int64_t n_ctx = 24;
    for (int i = 0; i < 2 * n_ctx + 5; ++i) tokens.push_back(3 + (i * 37) % 500);
    auto r = engine::perplexity(**engine, tokens, n_ctx);
    QVERIFY(r.ok());
    QCOMPARE(r->chunks, int64_t{2});
    QCOMPARE(r->scored_tokens, int64_t{2 * (n_ctx / 2)});
    // Same definition computed from float64 logits: chunks start with BOS, the second half
    // of each chunk is scored.
    const int64_t n_vocab = fx_->model->config().n_vocab;
    double nll = 0;
    int64_t n = 0;
    for (int64_t c = 0; c < 2; ++c) {
      std::vector<int32_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
      chunk[0] = fx_->model->tokenizer().vocab().bos;
      auto ref = fx_->ref->run(chunk);
      QVERIFY(ref.ok());
      for (int64_t pos = n_ctx / 2 - 1; pos < n_ctx - 1; ++pos) {
        const double* row = ref->logits.data() + pos * n_vocab;
        const double mx = *std::max_element(row, row + n_vocab);
        double sum = 0;
        for (int64_t v = 0; v < n_vocab; ++v) sum += std::exp(row[v] - mx);
        nll += std::log(sum) + mx - row[tokens[c * n_ctx + pos + 1]];
        ++n;
      }
    }
    const double want = std::exp(nll / n);
    qInfo("perplexity engine %.6f reference %.6f", r->perplexity, want);
    QVERIFY(std::abs(r->perplexity - want) / want < 1e-4);
    QVERIFY(!engine::perplexity(**engine, std::vector<int32_t>(10, 5), n_ctx).ok());
  }

 private:
  std::unique_ptr<Fixture> fx_;
};

QTEST_GUILESS_MAIN(TestGenerator)
#include "test_generator.moc"
