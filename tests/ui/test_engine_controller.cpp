// EngineController end to end on the fixture model and the generated demo model. Telemetry is
// checked against an independent run of the same prompt through core (an Engine with an
// observer written here), the database against the telemetry, and settings, errors,
// cancellation and teardown by their signals. Waits are QTRY_ polls on signals, never fixed
// sleeps.
#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <map>
#include <memory>

#include "core/engine/engine.h"
#include "core/engine/generator.h"
#include "core/model/demo_model.h"
#include "core/model/model.h"
#include "db/routing_queries.h"
#include "ui/engine_controller.h"
#include "ui/telemetry_buffer.h"

using namespace emoe;
using emoe::ui::EngineController;
using emoe::ui::EngineReport;
using emoe::ui::EngineSettings;
using emoe::ui::ModelSummary;
using emoe::ui::PromptRequest;
using emoe::ui::RequestStats;
using emoe::ui::TelemetryBatch;

namespace {

constexpr int kTimeoutMs = 120000;  // generous: sanitizer builds on a loaded machine

const QString kFixture = QStringLiteral(EMOE_TEST_DATA_DIR "/tiny-mixtral-q/model.gguf");

// Everything the controller's telemetry produced, drained until a request finished.
struct Collected {
  TelemetryBatch all;
  void absorb(TelemetryBatch b) {
    auto move_in = [](auto& dst, auto& src) {
      dst.insert(dst.end(), std::make_move_iterator(src.begin()),
                 std::make_move_iterator(src.end()));
    };
    move_in(all.tokens, b.tokens);
    all.dropped_tokens += b.dropped_tokens;
    move_in(all.counts, b.counts);
    move_in(all.memory, b.memory);
    move_in(all.events, b.events);
    move_in(all.steps, b.steps);
    move_in(all.finished, b.finished);
    if (b.residency) all.residency = std::move(b.residency);  // the latest snapshot
  }
};

// The independent capture: every routing decision of a plain core run.
struct Route {
  int32_t seq = 0, pos = 0, layer = 0, token = 0;
  std::vector<int32_t> topk, used;
  std::vector<float> weights, used_weights;
};
struct RouteCapture : engine::ForwardObserver {
  void on_routing(const engine::RoutingEvent& ev) override {
    Route r;
    r.seq = ev.seq;
    r.pos = ev.pos;
    r.layer = ev.layer;
    r.token = ev.token;
    r.topk.assign(ev.topk.begin(), ev.topk.end());
    r.used.assign(ev.used.begin(), ev.used.end());
    r.weights.assign(ev.weights.begin(), ev.weights.end());
    r.used_weights.assign(ev.used_weights.begin(), ev.used_weights.end());
    by_key[{r.pos, r.layer}] = r;
    ++events;
  }
  std::map<std::pair<int32_t, int32_t>, Route> by_key;  // (pos, layer)
  int64_t events = 0;
};

struct CoreRun {
  std::vector<int32_t> prompt, generated;
  RouteCapture capture;
};

// What the controller should compute for `text` with default settings (all experts, 1 thread,
// greedy), run through core directly.
std::unique_ptr<CoreRun> run_core(const QString& model_path, const QString& text, int max_new) {
  auto m = model::Model::load(model_path.toStdString());
  if (!m.ok()) qFatal("load: %s", m.status().message().c_str());
  auto out = std::make_unique<CoreRun>();
  engine::EngineOptions eo;
  eo.n_threads = 1;
  auto e = engine::Engine::create(**m, eo);
  if (!e.ok()) qFatal("engine: %s", e.status().message().c_str());
  (*e)->add_observer(&out->capture);
  auto seq = (*e)->new_sequence();
  out->prompt = (*m)->tokenizer().encode(text.toStdString(), true, false);
  engine::GenerateOptions go;
  go.max_new_tokens = max_new;
  auto r = engine::generate(**e, *seq, out->prompt, go);
  if (!r.ok()) qFatal("generate: %s", r.status().message().c_str());
  out->generated = r->generated;
  (*e)->remove_observer(&out->capture);
  return out;
}

class Harness {
 public:
  Harness()
      : loaded(&ctl, &EngineController::model_loaded),
        failed(&ctl, &EngineController::model_failed),
        progress(&ctl, &EngineController::load_progress),
        applied(&ctl, &EngineController::settings_applied),
        settings_failed(&ctl, &EngineController::settings_failed),
        db_opened(&ctl, &EngineController::database_opened),
        db_failed(&ctl, &EngineController::database_failed),
        started(&ctl, &EngineController::request_started),
        recorded(&ctl, &EngineController::request_recorded),
        finished(&ctl, &EngineController::request_finished) {}

  // Opens a model and waits for it (and the settings it was configured with).
  bool open(const QString& path) {
    const qsizetype n = loaded.count(), a = applied.count(), f = failed.count();
    ctl.open_model(path);
    QElapsedTimer t;
    t.start();
    while ((loaded.count() == n || applied.count() == a) && t.elapsed() < kTimeoutMs) {
      if (failed.count() > f) return false;
      QTest::qWait(5);
    }
    return loaded.count() > n && applied.count() > a;
  }

  // Submits and waits for request_finished, draining telemetry all along.
  RequestStats run(const PromptRequest& r, Collected* c = nullptr) {
    const qsizetype n = finished.count();
    ctl.submit(r);
    QElapsedTimer t;
    t.start();
    while (finished.count() == n && t.elapsed() < kTimeoutMs) {
      if (c) c->absorb(ctl.telemetry().drain());
      QTest::qWait(5);
    }
    if (c) c->absorb(ctl.telemetry().drain());
    if (finished.count() == n) return {};
    return finished.last().at(0).value<RequestStats>();
  }

  EngineReport apply(const EngineSettings& s) {
    const qsizetype a = applied.count(), f = settings_failed.count();
    ctl.apply_settings(s);
    QElapsedTimer t;
    t.start();
    while (applied.count() == a && settings_failed.count() == f && t.elapsed() < kTimeoutMs) {
      QTest::qWait(5);
    }
    return applied.count() > a ? applied.last().at(0).value<EngineReport>() : EngineReport{};
  }

  EngineController ctl;
  QSignalSpy loaded, failed, progress, applied, settings_failed, db_opened, db_failed, started,
      recorded, finished;
};

PromptRequest prompt(const QString& text, int max_new, bool ignore_eos = false) {
  PromptRequest r;
  r.text = text;
  r.max_new_tokens = max_new;
  r.ignore_eos = ignore_eos;
  return r;
}

}  // namespace

class TestEngineController : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;
  QString demo_;

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    auto p = model::ensure_demo_model((tmp_.path() + "/models").toStdString());
    QVERIFY2(p.ok(), p.status().message().c_str());
    demo_ = QString::fromStdString(*p);
  }

  void buffer_drops_oldest_and_keeps_counts() {
    ui::TelemetryCapacity cap;
    cap.tokens = 4;
    cap.events = 3;
    ui::TelemetryBuffer b(cap);
    ui::LayerTrace lt;
    lt.layer = 1;
    lt.router_experts = {2, 3};
    lt.used_experts = {2, 0};
    for (int i = 0; i < 10; ++i) {
      ui::TokenTelemetry t;
      t.pos = i;
      b.push_token(t);
      b.add_counts(7, "qa", 2, 4, lt);
      b.push_event({});
    }
    ui::RequestStats rs;
    rs.request_id = 7;
    b.push_finished(rs);
    TelemetryBatch d = b.drain();
    QCOMPARE(d.tokens.size(), size_t{4});
    QCOMPARE(d.tokens.front().pos, 6);
    QCOMPARE(d.tokens.back().pos, 9);
    QCOMPARE(d.dropped_tokens, int64_t{6});
    QCOMPARE(d.events.size(), size_t{3});
    QCOMPARE(d.counts.size(), size_t{1});
    QCOMPARE(d.counts[0].task, std::string("qa"));
    QCOMPARE(d.counts[0].used, (std::vector<int64_t>{0, 0, 0, 0, 10, 0, 10, 0}));
    QCOMPARE(d.counts[0].router, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 10, 10}));
    QCOMPARE(d.finished.size(), size_t{1});
    QVERIFY(b.drain().empty());
    // Long runs without a drain stay bounded and count every drop.
    for (int i = 0; i < 1000; ++i) b.push_token({});
    d = b.drain();
    QCOMPARE(d.tokens.size(), size_t{4});
    QCOMPARE(d.dropped_tokens, int64_t{996});
  }

  void fixture_telemetry_equals_core() {
    Harness h;
    QVERIFY(h.open(kFixture));
    // Load stages in order, ending ready.
    QStringList stages;
    for (const auto& args : h.progress) stages << args.at(1).toString();
    QCOMPARE(stages,
             (QStringList{"mapping file", "reading metadata", "building tokenizer", "ready"}));
    const auto summary = h.loaded.last().at(0).value<ModelSummary>();
    auto m = model::Model::load(kFixture.toStdString());
    QVERIFY(m.ok());
    QCOMPARE(summary.n_layer, 4);
    QCOMPARE(summary.n_expert, 8);
    QCOMPARE(summary.n_expert_used, 2);
    QCOMPARE(summary.n_ff_exp, 256);  // blk.0.ffn_up_exps is 128 x 256 x 8
    QCOMPARE(summary.n_ff, static_cast<int32_t>((*m)->config().n_ff));
    QCOMPARE(summary.n_embd_head, static_cast<int32_t>((*m)->config().n_embd_head));
    QCOMPARE(summary.n_vocab, 32000);
    QCOMPARE(summary.file_bytes, uint64_t{10856608});
    QCOMPARE(summary.dense_bytes, (*m)->weights().dense_bytes);
    QCOMPARE(summary.all_expert_bytes, (*m)->weights().expert_bytes);
    QCOMPARE(summary.expert_bytes_per_layer, (*m)->weights().expert_bytes / 32);
    QCOMPARE(summary.kv_bytes_per_token, uint64_t{2 * 64 * 4 * 4});  // K+V, 64 wide, 4 layers
    QCOMPARE(summary.tensors.size(), (*m)->file().tensors().size());
    uint64_t expert_rows = 0, expert_bytes = 0;
    for (const auto& t : summary.tensors) {
      if (!t.expert) continue;
      ++expert_rows;
      expert_bytes += t.bytes;
      if (t.name == "blk.0.ffn_up_exps.weight") {
        QCOMPARE(t.type, QStringLiteral("q8_0"));
        QCOMPARE(t.shape, QStringLiteral("128 x 256 x 8"));
      }
    }
    QCOMPARE(expert_rows, uint64_t{12});
    QCOMPARE(expert_bytes, summary.all_expert_bytes);
    bool tokens_shortened = false;
    for (const auto& [k, v] : summary.metadata) {
      if (k == "tokenizer.ggml.tokens") tokens_shortened = v == QStringLiteral("[32000 strings]");
    }
    QVERIFY(tokens_shortened);
    const auto report = h.applied.last().at(0).value<EngineReport>();
    QCOMPARE(report.expert_budget_bytes, uint64_t{0});  // all experts, no device tier
    QCOMPARE(report.all_expert_bytes, summary.all_expert_bytes);

    const QString text = QStringLiteral("The quick brown fox jumps over the lazy dog");
    Collected c;
    // The request no longer counts as busy when its result arrives.
    bool busy_at_finish = true;
    QObject::connect(&h.ctl, &EngineController::request_finished, &h.ctl,
                     [&] { busy_at_finish = h.ctl.busy(); });
    const RequestStats rs = h.run(prompt(text, 8), &c);
    QVERIFY2(rs.error.empty(), rs.error.c_str());
    QVERIFY(!busy_at_finish);
    // No device tier: the residency snapshot is empty (no overlay).
    QVERIFY(c.all.residency.has_value() && c.all.residency->empty());
    const auto core = run_core(kFixture, text, 8);
    QCOMPARE(rs.prompt_tokens, static_cast<int64_t>(core->prompt.size()));
    QCOMPARE(rs.generated_tokens, static_cast<int64_t>(core->generated.size()));
    QCOMPARE(rs.output, (*m)->tokenizer().decode(core->generated, true, false));
    QVERIFY(rs.ttft_ms > 0 && rs.e2e_ms >= rs.ttft_ms);
    QCOMPARE(c.all.finished.size(), size_t{1});
    QCOMPARE(c.all.finished[0].request_id, rs.request_id);
    QCOMPARE(c.all.dropped_tokens, int64_t{0});

    // Per token and layer: the router's top-k and weights, and what was used, as core saw them.
    std::vector<int64_t> used(4 * 8), router(4 * 8);
    for (const auto& [key, r] : core->capture.by_key) {
      for (int32_t e : r.used) ++used[static_cast<size_t>(r.layer * 8 + e)];
      for (int32_t e : r.topk) ++router[static_cast<size_t>(r.layer * 8 + e)];
    }
    QCOMPARE(core->capture.events, static_cast<int64_t>(core->capture.by_key.size()));
    int64_t traced_layers = 0;
    std::vector<int32_t> stream;  // the token ids in order: prompt, then generated
    for (const auto& t : c.all.tokens) {
      QCOMPARE(t.request_id, rs.request_id);
      QCOMPARE(t.pos, static_cast<int32_t>(stream.size()));
      stream.push_back(t.token_id);
      QCOMPARE(t.piece, (*m)->tokenizer().token_to_piece(t.token_id, false));
      std::vector<double> weight_sum(8, 0.0);
      for (const auto& l : t.layers) {
        auto it = core->capture.by_key.find({t.pos, l.layer});
        QVERIFY(it != core->capture.by_key.end());
        QCOMPARE(l.router_experts, it->second.topk);
        QCOMPARE(l.router_weights, it->second.weights);
        QCOMPARE(l.used_experts, it->second.used);
        QCOMPARE(l.used_weights, it->second.used_weights);
        QCOMPARE(l.router_resident, (std::vector<uint8_t>{1, 1}));
        QCOMPARE(l.used_loaded, (std::vector<uint8_t>{0, 0}));
        QCOMPARE(it->second.token, t.token_id);
        for (size_t j = 0; j < l.used_experts.size(); ++j) {
          weight_sum[static_cast<size_t>(l.used_experts[j])] += l.used_weights[j];
        }
        ++traced_layers;
      }
      if (t.layers.empty()) {
        // Only the last generated token is never fed back.
        QCOMPARE(&t, &c.all.tokens.back());
        QCOMPARE(t.dominant_expert, -1);
      } else {
        QCOMPARE(t.layers.size(), size_t{4});
        QCOMPARE(t.dominant_expert,
                 static_cast<int32_t>(std::max_element(weight_sum.begin(), weight_sum.end()) -
                                      weight_sum.begin()));
      }
    }
    QCOMPARE(traced_layers, core->capture.events);
    std::vector<int32_t> expected_stream = core->prompt;
    expected_stream.insert(expected_stream.end(), core->generated.begin(), core->generated.end());
    QCOMPARE(stream, expected_stream);

    // The counts equal the routing decisions captured independently.
    std::vector<int64_t> got_used(32), got_router(32);
    for (const auto& d : c.all.counts) {
      QCOMPARE(d.request_id, rs.request_id);
      QCOMPARE(d.task, std::string("chat"));
      for (size_t i = 0; i < 32; ++i) {
        got_used[i] += d.used[i];
        got_router[i] += d.router[i];
      }
    }
    QCOMPARE(got_used, used);
    QCOMPARE(got_router, router);

    // One step for the prompt and one per fed-back token; a memory point per step.
    const size_t n_steps = 1 + core->generated.size() - 1;
    QCOMPARE(c.all.steps.size(), n_steps);
    QCOMPARE(c.all.memory.size(), n_steps);
    QCOMPARE(c.all.steps[0].phase, engine::Phase::Prefill);
    QCOMPARE(c.all.steps[0].n_tokens, static_cast<int32_t>(core->prompt.size()));
    QCOMPARE(c.all.steps[0].hits, static_cast<uint64_t>(core->prompt.size() * 4 * 2));
    for (size_t i = 1; i < n_steps; ++i) {
      QCOMPARE(c.all.steps[i].phase, engine::Phase::Decode);
      QCOMPARE(c.all.steps[i].n_tokens, 1);
      QCOMPARE(c.all.steps[i].misses, uint64_t{0});
      QVERIFY(c.all.steps[i].time_s >= c.all.steps[i - 1].time_s);
    }
    for (const auto& mp : c.all.memory) {
      QCOMPARE(mp.dense_bytes, summary.dense_bytes);
      QCOMPARE(mp.expert_bytes, summary.all_expert_bytes);
      QCOMPARE(mp.expert_budget, uint64_t{0});
      QVERIFY(mp.kv_bytes > 0);
    }
    QVERIFY(!h.ctl.busy());
  }

  void settings_change_the_engine_and_the_telemetry() {
    Harness h;
    QVERIFY(h.open(demo_));
    const auto summary = h.loaded.last().at(0).value<ModelSummary>();
    const PromptRequest req = prompt(QStringLiteral("summarize the meeting notes"), 12, true);

    EngineSettings exact;
    exact.mode = engine::RoutingMode::Exact;
    exact.budget_percent = 50;
    EngineReport r = h.apply(exact);
    QCOMPARE(r.settings, exact);
    QVERIFY(r.expert_budget_bytes > 0);
    QVERIFY(r.expert_budget_bytes <= summary.all_expert_bytes / 2 + 1);
    QCOMPARE(r.experts_per_layer, 4);
    Collected c1;
    RequestStats rs = h.run(req, &c1);
    QVERIFY2(rs.error.empty(), rs.error.c_str());
    int64_t loaded = 0, loaded_events = 0, substitutions = 0;
    for (const auto& t : c1.all.tokens) {
      for (const auto& l : t.layers) {
        QCOMPARE(l.used_experts, l.router_experts);  // exact computes the router's choice
        for (size_t j = 0; j < l.used_loaded.size(); ++j) {
          QCOMPARE(l.used_loaded[j] != 0, l.router_resident[j] == 0);
          loaded += l.used_loaded[j];
        }
      }
    }
    QVERIFY(loaded > 0);  // the tier started empty
    for (const auto& e : c1.all.events) {
      loaded_events += e.kind == experts::ExpertEventKind::LoadFinished;
    }
    QVERIFY(loaded_events > 0);
    uint64_t step_bytes = 0;
    for (const auto& s : c1.all.steps) step_bytes += s.bytes_loaded;
    QVERIFY(step_bytes > 0);
    QVERIFY(!c1.all.memory.empty());
    for (const auto& mp : c1.all.memory) {
      QCOMPARE(mp.expert_budget, r.expert_budget_bytes);
      QVERIFY(mp.expert_bytes <= mp.expert_budget);
      QVERIFY(mp.dense_bytes + mp.expert_bytes + mp.kv_bytes <=
              summary.dense_bytes + r.expert_budget_bytes + mp.kv_bytes);
      QVERIFY(mp.kv_bytes <= summary.kv_bytes_per_token * 2048);
    }
    // The residency snapshot: the tier started empty, so replaying its loads and evictions
    // gives the last snapshot.
    const size_t n_expert = static_cast<size_t>(summary.n_expert);
    const size_t cells = static_cast<size_t>(summary.n_layer) * n_expert;
    QVERIFY(c1.all.residency.has_value());
    QCOMPARE(c1.all.residency->size(), cells);
    std::vector<uint8_t> replay(cells, 0);
    for (const auto& e : c1.all.events) {
      const size_t cell = static_cast<size_t>(e.layer) * n_expert + static_cast<size_t>(e.expert);
      if (e.kind == experts::ExpertEventKind::LoadFinished) replay[cell] = 1;
      if (e.kind == experts::ExpertEventKind::Evicted) replay[cell] = 0;
    }
    QCOMPARE(*c1.all.residency, replay);
    auto per_layer = [&](const std::vector<uint8_t>& resident) {
      std::vector<int> n(static_cast<size_t>(summary.n_layer), 0);
      for (size_t i = 0; i < resident.size(); ++i) n[i / n_expert] += resident[i];
      return n;
    };
    // Slots are shared by all layers (LRU over the tier): the last step's experts of every
    // layer are still resident, and there are experts_per_layer slots per layer in all.
    int resident = 0;
    for (int n : per_layer(*c1.all.residency)) {
      QVERIFY(n >= summary.n_expert_used);
      resident += n;
    }
    QVERIFY(resident <= r.experts_per_layer * summary.n_layer);

    // Fallback at 50%: a full tier of half the experts; missing ones are substituted.
    EngineSettings fb = exact;
    fb.mode = engine::RoutingMode::Fallback;
    r = h.apply(fb);
    QCOMPARE(r.settings.mode, engine::RoutingMode::Fallback);
    Collected c2;
    rs = h.run(req, &c2);
    QVERIFY2(rs.error.empty(), rs.error.c_str());
    for (const auto& t : c2.all.tokens) {
      for (const auto& l : t.layers) {
        if (l.used_experts != l.router_experts) ++substitutions;
        QCOMPARE(l.used_loaded, std::vector<uint8_t>(l.used_experts.size(), 0));
      }
    }
    QVERIFY(substitutions > 0);
    for (const auto& mp : c2.all.memory) QVERIFY(mp.expert_bytes <= mp.expert_budget);
    for (const auto& s : c2.all.steps) QCOMPARE(s.bytes_loaded, uint64_t{0});
    // The full tier holds the same share of every layer and never changes.
    QVERIFY(c2.all.residency.has_value());
    for (int n : per_layer(*c2.all.residency)) QCOMPARE(n, r.experts_per_layer);

    // A budget below the minimum is raised to it.
    EngineSettings tiny = exact;
    tiny.budget_percent = 0;
    r = h.apply(tiny);
    QCOMPARE(r.expert_budget_bytes, r.min_budget_bytes);
    QCOMPARE(r.experts_per_layer, 2);

    // Impossible settings fail and keep the previous configuration.
    EngineSettings all_half;
    all_half.mode = engine::RoutingMode::All;
    all_half.budget_percent = 50;
    const qsizetype applied_before = h.applied.count();
    h.apply(all_half);
    QCOMPARE(h.settings_failed.count(), 1);
    QVERIFY(!h.settings_failed.last().at(0).toString().isEmpty());
    QCOMPARE(h.applied.count(), applied_before);
    Collected c3;
    rs = h.run(req, &c3);
    QVERIFY2(rs.error.empty(), rs.error.c_str());
    QVERIFY(!c3.all.memory.empty());
    QCOMPARE(c3.all.memory.back().expert_budget, r.expert_budget_bytes);  // still the tiny tier

    // Without a device tier the snapshot is empty: no overlay.
    r = h.apply(EngineSettings{});
    QCOMPARE(r.expert_budget_bytes, uint64_t{0});
    Collected c4;
    c4.absorb(h.ctl.telemetry().drain());
    QVERIFY(c4.all.residency.has_value());
    QVERIFY(c4.all.residency->empty());
  }

  void corrupt_model_then_a_good_one() {
    Harness h;
    RequestStats none = h.run(prompt(QStringLiteral("hi"), 2));
    QCOMPARE(none.stop_reason, std::string("error"));
    QVERIFY(!none.error.empty());

    const QString bad = tmp_.path() + "/corrupt.gguf";
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("GGUF\x03\x00\x00\x00 this is not a model", 32);
    f.close();
    h.ctl.open_model(bad);
    QTRY_COMPARE_WITH_TIMEOUT(h.failed.count(), 1, kTimeoutMs);
    QVERIFY(!h.failed.last().at(0).toString().isEmpty());
    QCOMPARE(h.loaded.count(), 0);
    QTRY_VERIFY(!h.ctl.busy());

    QVERIFY(h.open(demo_));
    RequestStats rs = h.run(prompt(QStringLiteral("hello"), 3));
    QVERIFY2(rs.error.empty(), rs.error.c_str());
    QVERIFY(rs.generated_tokens > 0);

    // A failed open keeps the previous model open and working; busy() has dropped by the
    // time the failure arrives.
    const int loaded_before = h.loaded.count();
    h.ctl.open_model(tmp_.path() + "/missing.gguf");
    QTRY_COMPARE_WITH_TIMEOUT(h.failed.count(), 2, kTimeoutMs);
    QVERIFY(!h.ctl.busy());
    QCOMPARE(h.loaded.count(), loaded_before);
    rs = h.run(prompt(QStringLiteral("hello"), 3));
    QVERIFY2(rs.error.empty(), rs.error.c_str());
    QVERIFY(rs.generated_tokens > 0);
    QVERIFY(h.open(kFixture));
  }

  void cancel_load_and_stop_drop_queued_work() {
    Harness h;
    QVERIFY(h.open(demo_));
    // A long request keeps the worker busy while a second request and an open are queued.
    h.ctl.submit(prompt(QStringLiteral("tell me a long story"), 100000, true));
    QTRY_COMPARE_WITH_TIMEOUT(h.started.count(), 1, kTimeoutMs);
    h.ctl.submit(prompt(QStringLiteral("queued"), 4));
    h.ctl.open_model(kFixture);
    h.ctl.cancel_load();
    QVERIFY(h.ctl.busy());
    QElapsedTimer t;
    t.start();
    h.ctl.stop();
    QTRY_COMPARE_WITH_TIMEOUT(h.finished.count(), 2, kTimeoutMs);
    const auto first = h.finished.at(0).at(0).value<RequestStats>();
    const auto second = h.finished.at(1).at(0).value<RequestStats>();
    QCOMPARE(first.stop_reason, std::string("cancelled"));
    QVERIFY(first.generated_tokens < 2000);
    QCOMPARE(second.stop_reason, std::string("cancelled"));
    QCOMPARE(second.generated_tokens, int64_t{0});
    QCOMPARE(h.started.count(), 1);  // the queued one never started
    QTRY_COMPARE_WITH_TIMEOUT(h.failed.count(), 1, kTimeoutMs);
    QVERIFY(h.failed.last().at(0).toString().contains("cancelled"));
    qInfo("stop to cancelled: %lld ms", static_cast<long long>(t.elapsed()));
    QTRY_VERIFY(!h.ctl.busy());
    // Usable afterwards.
    QVERIFY(h.open(kFixture));
    RequestStats rs = h.run(prompt(QStringLiteral("again"), 3));
    QVERIFY2(rs.error.empty(), rs.error.c_str());
  }

  void corrupt_database_keeps_generating() {
    Harness h;
    const QString bad = tmp_.path() + "/corrupt.sqlite";
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QByteArray(8192, 'x'));
    f.close();
    h.ctl.set_database(bad);
    QVERIFY(h.open(demo_));
    QTRY_COMPARE_WITH_TIMEOUT(h.db_failed.count(), 1, kTimeoutMs);
    QVERIFY(!h.db_failed.last().at(0).toString().isEmpty());
    QCOMPARE(h.db_opened.count(), 0);
    RequestStats rs = h.run(prompt(QStringLiteral("still works"), 4));
    QVERIFY2(rs.error.empty(), rs.error.c_str());
    QVERIFY(rs.generated_tokens > 0);
    QCOMPARE(h.recorded.count(), 0);
  }

  void database_records_the_telemetry() {
    Harness h;
    const QString path = tmp_.path() + "/history.sqlite";
    QVERIFY(h.open(demo_));
    EngineSettings fb;
    fb.mode = engine::RoutingMode::Fallback;
    fb.budget_percent = 50;
    h.apply(fb);
    h.ctl.set_database(path);
    QTRY_COMPARE_WITH_TIMEOUT(h.db_opened.count(), 1, kTimeoutMs);
    const qint64 session = h.db_opened.last().at(1).toLongLong();
    QVERIFY(session > 0);
    Collected c;
    RequestStats rs = h.run(prompt(QStringLiteral("compare two offers"), 10, true), &c);
    QVERIFY2(rs.error.empty(), rs.error.c_str());
    QCOMPARE(h.recorded.count(), 1);
    QCOMPARE(h.recorded.last().at(0).toLongLong(), rs.request_id);
    QCOMPARE(h.recorded.last().at(1).toLongLong(), session);
    const int64_t db_request = h.recorded.last().at(2).toLongLong();

    auto q = db::RoutingQueries::open(path.toStdString());
    QVERIFY2(q.ok(), q.status().message().c_str());
    auto trace = (*q)->request_trace(db_request);
    QVERIFY2(trace.ok(), trace.status().message().c_str());
    std::vector<db::TraceStep> expected;
    int64_t substitutions = 0;
    for (const auto& t : c.all.tokens) {
      for (const auto& l : t.layers) {
        db::TraceStep s;
        s.pos = t.pos;
        s.layer = l.layer;
        s.token_id = t.token_id;
        s.phase = static_cast<int32_t>(t.phase);
        s.router_experts = l.router_experts;
        s.router_weights = l.router_weights;
        s.used_experts = l.used_experts;
        s.used_weights = l.used_weights;
        substitutions += l.used_experts != l.router_experts;
        expected.push_back(std::move(s));
      }
    }
    QVERIFY(substitutions > 0);
    QCOMPARE(trace->size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      const db::TraceStep& a = (*trace)[i];
      const db::TraceStep& b = expected[i];
      QCOMPARE(a.pos, b.pos);
      QCOMPARE(a.layer, b.layer);
      QCOMPARE(a.token_id, b.token_id);
      QCOMPARE(a.phase, b.phase);
      QCOMPARE(a.router_experts, b.router_experts);
      QCOMPARE(a.router_weights, b.router_weights);
      QCOMPARE(a.used_experts, b.used_experts);
      QCOMPARE(a.used_weights, b.used_weights);
    }
    // The session's expert counts equal the heatmap's.
    const int32_t n_layer = 6, n_expert = 8;
    std::vector<int64_t> used(static_cast<size_t>(n_layer * n_expert));
    for (const auto& d : c.all.counts) {
      for (size_t i = 0; i < used.size(); ++i) used[i] += d.used[i];
    }
    db::RoutingFilter filter;
    filter.session_id = session;
    auto counts = (*q)->expert_counts(filter, db::ExpertChoice::Used);
    QVERIFY2(counts.ok(), counts.status().message().c_str());
    std::vector<int64_t> from_db(used.size());
    for (const auto& ec : *counts)
      from_db[static_cast<size_t>(ec.layer * n_expert + ec.expert)] = ec.count;
    QCOMPARE(from_db, used);
  }

  void destroying_during_generation_returns() {
    auto h = std::make_unique<Harness>();
    QVERIFY(h->open(demo_));
    h->ctl.submit(prompt(QStringLiteral("a very long answer"), 100000, true));
    h->ctl.submit(prompt(QStringLiteral("and another"), 100000, true));
    QTRY_COMPARE_WITH_TIMEOUT(h->started.count(), 1, kTimeoutMs);
    size_t tokens = 0;  // the drain has a side effect, so QTRY_ must not evaluate it twice
    QTRY_VERIFY_WITH_TIMEOUT((tokens += h->ctl.telemetry().drain().tokens.size()) > 0, kTimeoutMs);
    QElapsedTimer t;
    t.start();
    h.reset();
    qInfo("destroyed mid-generation in %lld ms", static_cast<long long>(t.elapsed()));
  }
};

QTEST_MAIN(TestEngineController)
#include "test_engine_controller.moc"
