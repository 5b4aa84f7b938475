// Round trip through the store: a real engine decodes two requests (batched prefill, then greedy
// steps together) with a RoutingRecorder attached, and an in-memory observer records the same
// events; the queries must read back exactly what the observer saw, and counts and transitions
// must equal ones aggregated by hand from the observer. Also: backpressure on a tiny queue and
// a failing batch reported with SQLite's message and the statement.
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include "core/engine/engine.h"
#include "core/model/model.h"
#include "db/database.h"
#include "db/routing_queries.h"
#include "db/routing_recorder.h"
#include "db/routing_writer.h"
#include "db/schema.h"

using namespace emoe;

namespace {

struct Seen {
  int32_t seq, pos, layer, token, phase;
  std::vector<int32_t> topk, used;
  std::vector<float> weights, used_weights;
};

struct PlainObserver : engine::ForwardObserver {
  void on_routing(const engine::RoutingEvent& ev) override {
    events.push_back({ev.seq,
                      ev.pos,
                      ev.layer,
                      ev.token,
                      static_cast<int32_t>(ev.phase),
                      {ev.topk.begin(), ev.topk.end()},
                      {ev.used.begin(), ev.used.end()},
                      {ev.weights.begin(), ev.weights.end()},
                      {ev.used_weights.begin(), ev.used_weights.end()}});
  }
  void on_memory_sample(const engine::MemorySample&) override { ++memory_samples; }
  std::vector<Seen> events;
  int64_t memory_samples = 0;
};

int32_t argmax(const float* row, int64_t n) {
  return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

}  // namespace

class TestRoutingWriter : public QObject {
  Q_OBJECT

 private slots:
  void engine_round_trip() {
    auto model = model::Model::load(EMOE_TEST_DATA_DIR "/tiny-mixtral-f32/model.gguf");
    QVERIFY2(model.ok(), model.status().message().c_str());
    const auto& cfg = (*model)->config();
    QVERIFY(cfg.n_expert > 0 && cfg.n_layer >= 2);

    QTemporaryDir dir;
    const std::string path = dir.filePath("trace.db").toStdString();
    db::WriterOptions wo;
    wo.batch_rows = 64;  // several batches even for this small run
    auto writer = db::RoutingWriter::open(path, wo);
    QVERIFY2(writer.ok(), writer.status().message().c_str());
    db::RoutingWriter& w = **writer;
    // Request 101 in session 1, request 202 in session 2 (so the session filter is tested).
    QVERIFY(w.push(db::SessionRecord{1, std::nullopt, 10, "{}"}).is_ok());
    QVERIFY(w.push(db::SessionRecord{2, std::nullopt, 20, "{}"}).is_ok());
    const std::vector<int32_t> prompts[2] = {{1, 17, 230, 45, 301, 99}, {1, 5, 66, 7}};
    const int64_t request_ids[2] = {101, 202};
    for (int r = 0; r < 2; ++r) {
      db::RequestRecord rq;
      rq.id = request_ids[r];
      rq.session_id = r + 1;
      rq.task = r == 0 ? "qa" : "summarization";
      rq.arrival_us = 1000 * (r + 1);
      rq.prompt_tokens = static_cast<int64_t>(prompts[r].size());
      QVERIFY(w.push(rq).is_ok());
    }

    engine::EngineOptions eo;
    eo.n_ctx = 64;
    eo.max_sequences = 2;
    auto eng = engine::Engine::create(**model, eo);
    QVERIFY2(eng.ok(), eng.status().message().c_str());
    db::RoutingRecorder recorder(w, 1);
    PlainObserver plain;
    (*eng)->add_observer(&recorder);
    (*eng)->add_observer(&plain);
    int32_t seqs[2];
    std::map<int32_t, int64_t> seq_to_request;
    for (int r = 0; r < 2; ++r) {
      auto s = (*eng)->new_sequence();
      QVERIFY(s.ok());
      seqs[r] = *s;
      recorder.bind_sequence(*s, request_ids[r]);
      seq_to_request[*s] = request_ids[r];
    }
    // One batch with both prompts, then 3 greedy decode steps of both sequences together.
    engine::Batch b;
    for (int r = 0; r < 2; ++r) {
      for (size_t i = 0; i < prompts[r].size(); ++i) {
        b.push_back({prompts[r][i], seqs[r], static_cast<int32_t>(i), i + 1 == prompts[r].size(),
                     engine::Phase::Prefill});
      }
    }
    std::vector<float> logits;
    QVERIFY((*eng)->decode(b, &logits).is_ok());
    const int64_t n_vocab = cfg.n_vocab;
    int32_t pos[2] = {static_cast<int32_t>(prompts[0].size()),
                      static_cast<int32_t>(prompts[1].size())};
    for (int step = 0; step < 3; ++step) {
      engine::Batch d;
      for (int r = 0; r < 2; ++r) {
        d.push_back({argmax(logits.data() + r * n_vocab, n_vocab), seqs[r], pos[r]++, true,
                     engine::Phase::Decode});
      }
      QVERIFY((*eng)->decode(d, &logits).is_ok());
    }
    (*eng)->remove_observer(&recorder);
    QVERIFY(recorder.status().is_ok());
    QCOMPARE(recorder.unmapped_events(), int64_t{0});
    QVERIFY(w.flush().is_ok());
    const int64_t n_tokens = static_cast<int64_t>(prompts[0].size() + prompts[1].size()) + 6;
    QCOMPARE(static_cast<int64_t>(plain.events.size()), n_tokens * cfg.n_layer);
    QVERIFY(w.committed_batches() >= 2);

    auto q = db::RoutingQueries::open(path);
    QVERIFY2(q.ok(), q.status().message().c_str());

    // Token-by-token traces equal the plain observer's events exactly (floats round-trip
    // through REAL without loss).
    for (int r = 0; r < 2; ++r) {
      std::map<std::pair<int32_t, int32_t>, const Seen*> expected;
      for (const Seen& e : plain.events) {
        if (e.seq == seqs[r]) expected[{e.pos, e.layer}] = &e;
      }
      auto trace = (*q)->request_trace(request_ids[r]);
      QVERIFY2(trace.ok(), trace.status().message().c_str());
      QCOMPARE(trace->size(), expected.size());
      size_t i = 0;
      for (const auto& [key, e] : expected) {
        const db::TraceStep& s = (*trace)[i++];
        QCOMPARE(s.pos, key.first);
        QCOMPARE(s.layer, key.second);
        QCOMPARE(s.token_id, e->token);
        QCOMPARE(s.phase, e->phase);
        QCOMPARE(s.router_experts, e->topk);
        QCOMPARE(s.router_weights, e->weights);
        QCOMPARE(s.used_experts, e->used);
        QCOMPARE(s.used_weights, e->used_weights);
      }
    }

    // Counts per layer x expert, by hand, under several filters.
    auto hand_counts = [&](std::optional<int64_t> request, std::optional<int32_t> phase,
                           bool router) {
      std::map<std::pair<int32_t, int32_t>, int64_t> m;
      for (const Seen& e : plain.events) {
        if (request && seq_to_request[e.seq] != *request) continue;
        if (phase && e.phase != *phase) continue;
        for (int32_t x : router ? e.topk : e.used) ++m[{e.layer, x}];
      }
      std::vector<db::ExpertCount> v;
      for (const auto& [k, c] : m) v.push_back({k.first, k.second, c});
      return v;
    };
    auto check = [&](const db::RoutingFilter& f, std::optional<int64_t> request,
                     std::optional<int32_t> phase, db::ExpertChoice choice) {
      auto got = (*q)->expert_counts(f, choice);
      QVERIFY2(got.ok(), got.status().message().c_str());
      const auto want = hand_counts(request, phase, choice == db::ExpertChoice::Router);
      QVERIFY(!want.empty());
      QVERIFY(*got == want);
    };
    check({}, std::nullopt, std::nullopt, db::ExpertChoice::Used);
    check({}, std::nullopt, std::nullopt, db::ExpertChoice::Router);
    check({std::nullopt, 202, std::nullopt}, 202, std::nullopt, db::ExpertChoice::Used);
    check({1, std::nullopt, std::nullopt}, 101, std::nullopt, db::ExpertChoice::Used);
    check({std::nullopt, std::nullopt, 1}, std::nullopt, 1, db::ExpertChoice::Used);
    check({2, std::nullopt, 0}, 202, 0, db::ExpertChoice::Used);
    auto none = (*q)->expert_counts({7, std::nullopt, std::nullopt});
    QVERIFY(none.ok() && none->empty());

    // Transition matrix layer 0 -> 1, by hand.
    const auto n_expert = static_cast<int32_t>(cfg.n_expert);
    std::map<std::tuple<int32_t, int32_t, int32_t>, const Seen*> by_key;  // seq, pos, layer
    for (const Seen& e : plain.events) by_key[{e.seq, e.pos, e.layer}] = &e;
    for (int32_t layer = 0; layer + 1 < cfg.n_layer; ++layer) {
      std::vector<int64_t> want(static_cast<size_t>(n_expert) * n_expert, 0);
      for (const auto& [k, e] : by_key) {
        if (std::get<2>(k) != layer) continue;
        const Seen* next = by_key.at({std::get<0>(k), std::get<1>(k), layer + 1});
        for (int32_t a : e->used) {
          for (int32_t c : next->used) ++want[static_cast<size_t>(a * n_expert + c)];
        }
      }
      auto got = (*q)->transition_matrix(layer, n_expert);
      QVERIFY2(got.ok(), got.status().message().c_str());
      QCOMPARE(got->counts, want);
    }
    auto small = (*q)->transition_matrix(0, 1);
    QVERIFY(!small.ok());
    QCOMPARE(small.status().code(), StatusCode::Corrupt);

    // Memory samples: one per decode step, all committed after close.
    QVERIFY(w.close().is_ok());
    auto db = db::open_store(path);
    QVERIFY(db.ok());
    auto n_mem = (*db)->query_int("SELECT count(*) FROM memory_samples WHERE session_id = 1");
    QVERIFY(n_mem.ok());
    QCOMPARE(*n_mem, plain.memory_samples);
    QVERIFY(plain.memory_samples == 4);
  }

  void backpressure_waits_and_loses_nothing() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("bp.db").toStdString();
    db::WriterOptions wo;
    wo.queue_capacity = 8;
    wo.batch_rows = 1000;  // never reached: every batch is cut by time, the queue stays full
    wo.max_delay = std::chrono::milliseconds(5);
    auto writer = db::RoutingWriter::open(path, wo);
    QVERIFY2(writer.ok(), writer.status().message().c_str());
    db::RoutingWriter& w = **writer;
    QVERIFY(w.push(db::SessionRecord{1, std::nullopt, 0, "{}"}).is_ok());
    db::RequestRecord rq;
    rq.id = 1;
    rq.session_id = 1;
    QVERIFY(w.push(rq).is_ok());
    const int kRows = 300;
    std::thread producer([&] {
      for (int i = 0; i < kRows; ++i) {
        db::RoutingRecord r;
        r.request_id = 1;
        r.pos = i / 8;
        r.layer = 0;
        r.rank = i % 8;
        r.router_expert = i % 8;
        r.router_weight = 0.125f;
        r.used_expert = (i * 3) % 8;
        r.used_weight = 0.25f;
        if (!w.push(r).is_ok()) return;
      }
    });
    producer.join();
    QVERIFY(w.flush().is_ok());
    QVERIFY(w.producer_wait_micros() > 0);
    QCOMPARE(w.committed_records(), int64_t{kRows + 2});
    QVERIFY(w.committed_batches() >= kRows / 8);
    QVERIFY(w.close().is_ok());
    auto db = db::open_store(path);
    QVERIFY(db.ok());
    auto n = (*db)->query_int("SELECT count(*) FROM routing");
    QVERIFY(n.ok());
    QCOMPARE(*n, int64_t{kRows});
    auto sum = (*db)->query_int("SELECT sum(used_expert) FROM routing");
    QVERIFY(sum.ok());
    int64_t want = 0;
    for (int i = 0; i < kRows; ++i) want += (i * 3) % 8;
    QCOMPARE(*sum, want);
    // A read-only reader opens the closed WAL store and counts the same rows.
    auto q = db::RoutingQueries::open(path);
    QVERIFY2(q.ok(), q.status().message().c_str());
    auto counts = (*q)->expert_counts({});
    QVERIFY2(counts.ok(), counts.status().message().c_str());
    int64_t n_counted = 0;
    for (const auto& c : *counts) n_counted += c.count;
    QCOMPARE(n_counted, int64_t{kRows});
  }

  // Batches are cut at exactly 64 records (count only: the time limit is far away), so a
  // reader that ever sees a count that is not a multiple of 64 saw a partial transaction.
  void concurrent_reader_sees_whole_batches() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("readers.db").toStdString();
    db::WriterOptions wo;
    wo.queue_capacity = 256;
    wo.batch_rows = 64;
    wo.max_delay = std::chrono::seconds(60);
    auto writer = db::RoutingWriter::open(path, wo);
    QVERIFY2(writer.ok(), writer.status().message().c_str());
    db::RoutingWriter& w = **writer;
    QVERIFY(w.push(db::SessionRecord{1, std::nullopt, 0, "{}"}).is_ok());
    db::RequestRecord rq;
    rq.id = 1;
    rq.session_id = 1;
    QVERIFY(w.push(rq).is_ok());
    QVERIFY(w.flush().is_ok());
    auto q = db::RoutingQueries::open(path);
    QVERIFY2(q.ok(), q.status().message().c_str());
    const int kGroups = 300;
    std::atomic<bool> done{false};
    std::thread producer([&] {
      for (int i = 0; i < kGroups * 64; ++i) {
        db::RoutingRecord r;
        r.request_id = 1;
        r.pos = i / 64;
        r.layer = (i / 8) % 8;
        r.rank = i % 8;
        r.used_expert = i % 8;
        r.used_weight = 1.0f;
        if (!w.push(r).is_ok()) break;
      }
      done = true;
    });
    int64_t reads = 0, partial = 0, errors = 0, last = 0;
    while (!done.load() || last < kGroups * 64) {
      auto counts = (*q)->expert_counts({});
      if (!counts.ok()) {
        ++errors;
        break;
      }
      int64_t n = 0;
      for (const auto& c : *counts) n += c.count;
      ++reads;
      if (n % 64 != 0) ++partial;
      last = n;
      if (done.load() && reads > 100000) break;
    }
    producer.join();
    QCOMPARE(errors, int64_t{0});
    QCOMPARE(partial, int64_t{0});
    QCOMPARE(last, int64_t{kGroups * 64});
    QVERIFY(w.close().is_ok());
    QCOMPARE(w.committed_batches(), int64_t{1 + kGroups});  // the flushed setup batch + groups
  }

  void failing_batch_reports_statement() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("fk.db").toStdString();
    auto writer = db::RoutingWriter::open(path);
    QVERIFY(writer.ok());
    db::TokenRecord t;  // request 5 does not exist: the foreign key fails
    t.request_id = 5;
    QVERIFY((*writer)->push(t).is_ok());
    Status s = (*writer)->flush();
    QVERIFY(!s.is_ok());
    const QString msg = QString::fromStdString(s.message());
    QVERIFY2(msg.contains("FOREIGN KEY") && msg.contains("INSERT OR REPLACE INTO tokens"),
             qPrintable(msg));
    QVERIFY(!(*writer)->push(t).is_ok());
    QVERIFY(!(*writer)->close().is_ok());
  }
};

QTEST_GUILESS_MAIN(TestRoutingWriter)
#include "test_routing_writer.moc"
