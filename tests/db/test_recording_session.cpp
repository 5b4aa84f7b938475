// RecordingSession end to end without an engine: hand-made RoutingEvents (prefill of two
// sequences in one step, then decode steps, one of them with fallback routing and one with
// fewer used experts) go through recorder().on_routing, paging events and memory samples
// through the recorder's other observers, and the request lifecycle through begin_request /
// first_token / finish_request. Read back with RoutingQueries, everything equals what the test
// sent; token times are recorder-clock times taken during the run. A second session on the
// same model reuses the model row, a different model file gets a new one.
#include <QTemporaryDir>
#include <QtTest>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/engine/forward_observer.h"
#include "core/experts/expert_events.h"
#include "db/recording_session.h"
#include "db/routing_queries.h"
#include "db/store_summary.h"

using namespace emoe;

namespace {

constexpr int32_t kLayers = 2;

// One routing decision as the engine would report it; owns the arrays the event's spans view.
struct Decision {
  int32_t seq, pos, layer, token;
  engine::Phase phase;
  std::vector<int32_t> topk;
  std::vector<float> weights;
  std::vector<int32_t> used;
  std::vector<float> used_weights;

  engine::RoutingEvent event() const {
    engine::RoutingEvent e;
    e.seq = seq;
    e.pos = pos;
    e.layer = layer;
    e.token = token;
    e.phase = phase;
    e.topk = topk;
    e.weights = weights;
    e.weights_raw = weights;
    e.used = used;
    e.used_weights = used_weights;
    return e;
  }
};

}  // namespace

class TestRecordingSession : public QObject {
  Q_OBJECT

 private slots:
  void record_and_read_back() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("session.db").toStdString();
    db::ModelInfo model;
    model.path = "/models/tiny.gguf";
    model.size_bytes = 123456;
    model.arch = "llama";
    model.hparams_json = "{\"n_layer\":2,\"n_expert\":4}";
    model.sha256 = "00ff";

    const int64_t t_open = db::RoutingRecorder::now_us();
    auto session = db::RecordingSession::open(path, model, "{\"budget_experts\":2}");
    QVERIFY2(session.ok(), session.status().message().c_str());
    db::RecordingSession& s = **session;
    QVERIFY(s.session_id() > 0 && s.model_id() > 0);

    db::RequestStart qa;
    qa.task = "qa";
    qa.text = "what is a mixture of experts?";
    qa.slo_ttft_ms = 250.0;
    qa.arrival_us = 1'000'000;
    db::RequestStart sum;
    sum.task = "summarization";
    sum.text = "summarise: ...";
    sum.slo_e2e_ms = 4000.0;  // arrival left to "now"
    auto r1 = s.begin_request(/*seq=*/7, qa);
    QVERIFY2(r1.ok(), r1.status().message().c_str());
    const int64_t t_before_r2 = db::RoutingRecorder::now_us();
    auto r2 = s.begin_request(/*seq=*/3, sum);
    const int64_t t_after_r2 = db::RoutingRecorder::now_us();
    QVERIFY2(r2.ok(), r2.status().message().c_str());
    QVERIFY(*r1 != *r2);

    // Prefill: seq 7 has 3 prompt tokens, seq 3 has 2, in one step (layer by layer over the
    // batch, as the engine reports). Then two decode steps of both.
    std::vector<Decision> sent;
    auto step = [&](std::vector<std::tuple<int32_t, int32_t, int32_t, engine::Phase>> batch) {
      for (int32_t layer = 0; layer < kLayers; ++layer) {
        for (const auto& [seq, pos, token, phase] : batch) {
          Decision d{seq, pos, layer, token, phase, {}, {}, {}, {}};
          d.topk = {(pos + layer) % 4, (pos + layer + 1) % 4};
          d.weights = {0.75f - 0.01f * pos, 0.25f + 0.01f * pos};
          d.used = d.topk;
          d.used_weights = d.weights;
          if (phase == engine::Phase::Decode && pos == 3 && layer == 1) {
            d.used = {d.topk[0], (d.topk[1] + 1) % 4};  // fallback: second expert not resident
            d.used_weights = {0.6f, 0.4f};
          }
          if (phase == engine::Phase::Decode && pos == 4 && seq == 7 && layer == 0) {
            d.used = {d.topk[0]};  // only one resident expert
            d.used_weights = {1.0f};
          }
          const engine::RoutingEvent e = d.event();
          s.recorder().on_routing(e);
          sent.push_back(std::move(d));
        }
      }
    };
    const int64_t t_prefill = db::RoutingRecorder::now_us();
    step({{7, 0, 11, engine::Phase::Prefill},
          {7, 1, 12, engine::Phase::Prefill},
          {7, 2, 13, engine::Phase::Prefill},
          {3, 0, 21, engine::Phase::Prefill},
          {3, 1, 22, engine::Phase::Prefill}});
    QVERIFY(s.first_token(*r1, 1'000'500).is_ok());
    step({{7, 3, 14, engine::Phase::Decode}, {3, 2, 23, engine::Phase::Decode}});
    step({{7, 4, 15, engine::Phase::Decode}, {3, 3, 24, engine::Phase::Decode}});
    const int64_t t_decoded = db::RoutingRecorder::now_us();
    QVERIFY(s.first_token(*r2, t_decoded).is_ok());

    engine::MemorySample m;
    m.dense_bytes = 1000;
    m.expert_bytes = 2000;
    m.expert_budget = 4000;
    m.kv_bytes = 300;
    m.scratch_bytes = 64;
    s.recorder().on_memory_sample(m);
    for (int k = 0; k <= 4; ++k) {
      experts::ExpertEvent ev;
      ev.kind = static_cast<experts::ExpertEventKind>(k);
      ev.layer = k % kLayers;
      ev.expert = k;
      ev.bytes = 4096u * static_cast<uint64_t>(k);
      ev.micros = 1.5 * k;
      s.recorder().on_expert_event(ev);
    }
    QVERIFY(s.finish_request(7, *r1, 3, 2, 1'002'000).is_ok());
    QVERIFY(s.finish_request(3, *r2, 2, 2).is_ok());
    const int64_t t_finished = db::RoutingRecorder::now_us();
    // Routing of a sequence after finish_request is counted as unmapped, not recorded.
    Decision late{7, 5, 0, 16, engine::Phase::Decode, {0, 1}, {0.5f, 0.5f}, {0, 1}, {0.5f, 0.5f}};
    s.recorder().on_routing(late.event());
    QCOMPARE(s.recorder().unmapped_events(), int64_t{1});
    QVERIFY(s.update_config("{\"budget_experts\":3}").is_ok());
    Status closed = s.close();
    QVERIFY2(closed.is_ok(), closed.message().c_str());

    auto q = db::RoutingQueries::open(path);
    QVERIFY2(q.ok(), q.status().message().c_str());
    auto sessions = (*q)->list_sessions();
    QVERIFY(sessions.ok());
    QCOMPARE(sessions->size(), size_t{1});
    const db::SessionInfo& si = (*sessions)[0];
    QCOMPARE(si.id, s.session_id());
    QCOMPARE(si.model_id, std::optional<int64_t>(s.model_id()));
    QCOMPARE(QString::fromStdString(si.model_path), QString("/models/tiny.gguf"));
    QVERIFY(si.started_at_us >= t_open && si.started_at_us <= t_before_r2);
    QCOMPARE(QString::fromStdString(si.config_json), QString("{\"budget_experts\":3}"));
    QCOMPARE(si.request_count, int64_t{2});
    QCOMPARE(si.token_count, int64_t{9});

    auto reqs = (*q)->session_requests(s.session_id());
    QVERIFY2(reqs.ok(), reqs.status().message().c_str());
    QCOMPARE(reqs->size(), size_t{2});
    const db::RequestInfo& a = (*reqs)[0];
    const db::RequestInfo& b = (*reqs)[1];
    QCOMPARE(a.id, *r1);
    QCOMPARE(a.task, std::optional<std::string>("qa"));
    QCOMPARE(a.text, std::optional<std::string>("what is a mixture of experts?"));
    QCOMPARE(a.slo_ttft_ms, std::optional<double>(250.0));
    QVERIFY(!a.slo_e2e_ms);
    QCOMPARE(a.arrival_us, std::optional<int64_t>(1'000'000));
    QCOMPARE(a.first_token_us, std::optional<int64_t>(1'000'500));
    QCOMPARE(a.finish_us, std::optional<int64_t>(1'002'000));
    QCOMPARE(a.prompt_tokens, std::optional<int64_t>(3));
    QCOMPARE(a.generated_tokens, std::optional<int64_t>(2));
    QCOMPARE(b.id, *r2);
    QCOMPARE(b.task, std::optional<std::string>("summarization"));
    QCOMPARE(b.text, std::optional<std::string>("summarise: ..."));
    QVERIFY(!b.slo_ttft_ms);
    QCOMPARE(b.slo_e2e_ms, std::optional<double>(4000.0));
    QVERIFY(b.arrival_us && *b.arrival_us >= t_before_r2 && *b.arrival_us <= t_after_r2);
    QCOMPARE(b.first_token_us, std::optional<int64_t>(t_decoded));
    QVERIFY(b.finish_us && *b.finish_us >= t_decoded && *b.finish_us <= t_finished);
    QCOMPARE(b.prompt_tokens, std::optional<int64_t>(2));
    QCOMPARE(b.generated_tokens, std::optional<int64_t>(2));

    // Routing and tokens, per request, equal what was sent; token times are in the run.
    const std::map<int32_t, int64_t> seq_request = {{7, *r1}, {3, *r2}};
    for (const auto& [seq, request] : seq_request) {
      auto trace = (*q)->request_trace(request);
      QVERIFY2(trace.ok(), trace.status().message().c_str());
      std::map<std::pair<int32_t, int32_t>, const Decision*> want;
      for (const Decision& d : sent)
        if (d.seq == seq) want[{d.pos, d.layer}] = &d;
      QCOMPARE(trace->size(), want.size());
      size_t i = 0;
      for (const auto& [key, d] : want) {
        const db::TraceStep& t = (*trace)[i++];
        QCOMPARE(t.pos, d->pos);
        QCOMPARE(t.layer, d->layer);
        QCOMPARE(t.token_id, d->token);
        QCOMPARE(t.phase, static_cast<int32_t>(d->phase));
        QCOMPARE(t.router_experts, d->topk);
        QCOMPARE(t.router_weights, d->weights);
        QCOMPARE(t.used_experts, d->used);
        QCOMPARE(t.used_weights, d->used_weights);
      }
    }
    // Every token has a time within the run: the time filter over [t_prefill, t_decoded]
    // keeps all routing, an empty range none.
    db::RoutingFilter all_time;
    all_time.from_us = t_prefill;
    all_time.to_us = t_decoded + 1;
    auto timed = (*q)->expert_counts(all_time);
    auto untimed = (*q)->expert_counts({});
    QVERIFY(timed.ok() && untimed.ok());
    QVERIFY(!untimed->empty());
    QVERIFY(*timed == *untimed);
    db::RoutingFilter before;
    before.to_us = t_prefill;
    QVERIFY((*q)->expert_counts(before).value().empty());
    // Per-task popularity: both tasks, token counts 5 and 4, fallback counted as used.
    auto pop = (*q)->task_popularity(kLayers, 4);
    QVERIFY2(pop.ok(), pop.status().message().c_str());
    QCOMPARE(pop->size(), size_t{2});
    QCOMPARE((*pop)[0].task, std::string("qa"));
    QCOMPARE((*pop)[0].tokens, int64_t{5});
    QCOMPARE((*pop)[1].task, std::string("summarization"));
    QCOMPARE((*pop)[1].tokens, int64_t{4});
    std::vector<int64_t> qa_counts(kLayers * 4, 0);
    for (const Decision& d : sent)
      if (d.seq == 7)
        for (int32_t e : d.used) ++qa_counts[static_cast<size_t>(d.layer * 4 + e)];
    QCOMPARE((*pop)[0].counts, qa_counts);

    auto mem = (*q)->memory_samples(s.session_id());
    QVERIFY(mem.ok());
    QCOMPARE(mem->size(), size_t{1});
    QCOMPARE((*mem)[0].experts, int64_t{2000});
    QCOMPARE((*mem)[0].budget, int64_t{4000});
    QVERIFY((*mem)[0].time_us >= t_decoded && (*mem)[0].time_us <= t_finished);
    auto events = (*q)->expert_events(s.session_id());
    QVERIFY(events.ok());
    QCOMPARE(events->size(), size_t{5});
    for (int k = 0; k <= 4; ++k) {
      const db::ExpertEventRow& e = (*events)[static_cast<size_t>(k)];
      QCOMPARE(e.kind, k);
      QCOMPARE(e.layer, k % kLayers);
      QCOMPARE(e.expert, k);
      QCOMPARE(e.bytes, int64_t{4096} * k);
      QCOMPARE(e.micros, 1.5 * k);
    }
    auto hits = (*q)->expert_events(s.session_id(), 3);
    QVERIFY(hits.ok() && hits->size() == 1 && (*hits)[0].expert == 3);
  }

  void second_session_reuses_model_row() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("two.db").toStdString();
    db::ModelInfo model;
    model.path = "/models/tiny.gguf";
    model.size_bytes = 777;
    model.arch = "qwen2moe";
    model.hparams_json = "{}";
    int64_t first_model = 0, first_session = 0;
    {
      auto s1 = db::RecordingSession::open(path, model, "{}");
      QVERIFY2(s1.ok(), s1.status().message().c_str());
      first_model = (*s1)->model_id();
      first_session = (*s1)->session_id();
      // A second session while the first is still recording (two writers on one file).
      auto s2 = db::RecordingSession::open(path, model, "{\"p\":8}");
      QVERIFY2(s2.ok(), s2.status().message().c_str());
      QCOMPARE((*s2)->model_id(), first_model);
      QVERIFY((*s2)->session_id() != first_session);
      db::RequestStart r;
      r.task = std::string("qa");
      r.text = std::string("x");
      QVERIFY((*s1)->begin_request(0, r).ok());
      QVERIFY((*s2)->begin_request(0, r).ok());
      QVERIFY((*s1)->close().is_ok());
      QVERIFY((*s2)->close().is_ok());
    }
    {
      auto s3 = db::RecordingSession::open(path, model, "{}");
      QVERIFY(s3.ok());
      QCOMPARE((*s3)->model_id(), first_model);
      db::ModelInfo other = model;
      other.size_bytes = 778;  // same path, a different file
      auto s4 = db::RecordingSession::open(path, other, "{}");
      QVERIFY(s4.ok());
      QVERIFY((*s4)->model_id() != first_model);
    }
    auto summary = db::summarize_store(path);
    QVERIFY2(summary.ok(), summary.status().message().c_str());
    QCOMPARE(summary->sessions, int64_t{4});
    QCOMPARE(summary->models.size(), size_t{2});
    QCOMPARE(summary->models[0].id, first_model);
    QCOMPARE(summary->models[0].sessions, int64_t{3});
    QCOMPARE(summary->models[0].size_bytes, int64_t{777});
    QCOMPARE(summary->models[1].sessions, int64_t{1});
    QCOMPARE(summary->tables[0].table, std::string("models"));
    QCOMPARE(summary->tables[0].rows, int64_t{2});
    QCOMPARE(summary->tables[2].table, std::string("requests"));
    QCOMPARE(summary->tables[2].rows, int64_t{2});
    auto q = db::RoutingQueries::open(path);
    QVERIFY(q.ok());
    auto sessions = (*q)->list_sessions();
    QVERIFY(sessions.ok());
    QCOMPARE(sessions->size(), size_t{4});
    QCOMPARE((*sessions)[0].request_count, int64_t{1});
    QCOMPARE((*sessions)[1].request_count, int64_t{1});
    QCOMPARE(QString::fromStdString((*sessions)[1].config_json), QString("{\"p\":8}"));
  }
};

QTEST_GUILESS_MAIN(TestRecordingSession)
#include "test_recording_session.moc"
