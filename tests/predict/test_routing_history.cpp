// The routing history: RoutingHistoryRecorder fed hand-made RoutingEvents must produce exactly
// the histograms counted by hand (prefill and decode apart, used vs router experts, unbound
// sequences and out-of-range ids not counted); expert sets follow the top-k-with-lower-id rule;
// the history is bounded; malformed records are refused with a message that says why.
#include <QtTest>
#include <vector>

#include "core/predict/expert_prediction.h"
#include "core/predict/routing_history.h"
#include "core/predict/routing_history_recorder.h"

using namespace emoe;
using namespace emoe::predict;

namespace {

void send_event(engine::ForwardObserver& obs, int32_t seq, int32_t pos, int32_t layer,
                engine::Phase phase, std::vector<int32_t> topk, std::vector<int32_t> used) {
  std::vector<float> logits(5, 0.0f), w(topk.size(), 0.5f), uw(used.size(), 0.5f);
  std::vector<uint8_t> resident(topk.size(), 1);
  engine::RoutingEvent ev;
  ev.seq = seq;
  ev.pos = pos;
  ev.layer = layer;
  ev.token = 42;
  ev.phase = phase;
  ev.router_logits = logits;
  ev.probs = logits;
  ev.topk = topk;
  ev.weights_raw = w;
  ev.weights = w;
  ev.used = used;
  ev.used_weights = uw;
  ev.resident = resident;
  obs.on_routing(ev);
}

using P = engine::Phase;

// Two requests, 3 layers x 5 experts, k = 2, driven like the engine: per step, layer by layer
// over the batch. Request 100 (seq 0): prefill pos 0..2, then decode pos 3 and 4. Request 200
// (seq 1): prefill pos 0..1, one decode step at pos 2 under fallback routing (used != topk).
void drive(RoutingHistoryRecorder& rec) {
  rec.bind_sequence(0, 100, "qa");
  rec.bind_sequence(1, 200, "sum");
  // Step 1: batched prefill of both sequences.
  struct T {
    int32_t seq, pos;
    std::vector<int32_t> l0, l1, l2;
  };
  const std::vector<T> prefill = {
      {0, 0, {0, 1}, {2, 3}, {4, 0}}, {0, 1, {0, 2}, {2, 3}, {4, 1}},
      {0, 2, {1, 0}, {3, 4}, {4, 0}}, {1, 0, {3, 4}, {0, 1}, {1, 2}},
      {1, 1, {3, 2}, {0, 4}, {1, 2}},
  };
  for (int32_t layer = 0; layer < 3; ++layer) {
    for (const T& t : prefill) {
      const std::vector<int32_t>& e = layer == 0 ? t.l0 : layer == 1 ? t.l1 : t.l2;
      send_event(rec, t.seq, t.pos, layer, P::Prefill, e, e);
    }
  }
  // Step 2: decode, both sequences. Seq 1 at layer 1: router wanted {0, 1}, used {0, 4}.
  send_event(rec, 0, 3, 0, P::Decode, {0, 1}, {0, 1});
  send_event(rec, 1, 2, 0, P::Decode, {3, 4}, {3, 4});
  send_event(rec, 0, 3, 1, P::Decode, {2, 4}, {2, 4});
  send_event(rec, 1, 2, 1, P::Decode, {0, 1}, {0, 4});
  send_event(rec, 0, 3, 2, P::Decode, {4, 3}, {4, 3});
  send_event(rec, 1, 2, 2, P::Decode, {2, 1}, {2, 1});
  // Step 3: decode seq 0 only.
  send_event(rec, 0, 4, 0, P::Decode, {1, 0}, {1, 0});
  send_event(rec, 0, 4, 1, P::Decode, {2, 3}, {2, 3});
  send_event(rec, 0, 4, 2, P::Decode, {4, 0}, {4, 0});
  // Noise the recorder must not count: an unbound sequence, a bad layer, a bad expert id.
  send_event(rec, 7, 0, 0, P::Prefill, {0, 1}, {0, 1});
  send_event(rec, 0, 5, 3, P::Decode, {0, 1}, {0, 1});
  send_event(rec, 0, 5, 0, P::Decode, {0, 9}, {0, 9});
}

}  // namespace

class TestRoutingHistory : public QObject {
  Q_OBJECT

 private slots:
  void recorder_counts_equal_hand_counts() {
    RoutingHistoryRecorder rec(3, 5);
    drive(rec);
    QCOMPARE(rec.unmapped_events(), int64_t{1});
    QCOMPARE(rec.rejected_events(), int64_t{2});

    auto r100 = rec.finish_sequence(0);
    QVERIFY2(r100.ok(), r100.status().message().c_str());
    QCOMPARE(r100->request_id, int64_t{100});
    QCOMPARE(r100->task, std::string("qa"));
    QCOMPARE(r100->prefill_tokens, int64_t{3});
    QCOMPARE(r100->decode_tokens, int64_t{2});
    // Hand counts, [layer][expert]. Prefill: layer 0 {0,1},{0,2},{1,0}; layer 1 {2,3},{2,3},
    // {3,4}; layer 2 {4,0},{4,1},{4,0}. Decode: layer 0 {0,1},{1,0}; layer 1 {2,4},{2,3};
    // layer 2 {4,3},{4,0}.
    const std::vector<uint32_t> pre100 = {3, 2, 1, 0, 0,  //
                                          0, 0, 2, 3, 1,  //
                                          2, 1, 0, 0, 3};
    const std::vector<uint32_t> dec100 = {2, 2, 0, 0, 0,  //
                                          0, 0, 2, 1, 1,  //
                                          1, 0, 0, 1, 2};
    QCOMPARE(r100->prefill, pre100);
    QCOMPARE(r100->decode, dec100);

    auto r200 = rec.finish_sequence(1);
    QVERIFY(r200.ok());
    QCOMPARE(r200->prefill_tokens, int64_t{2});
    QCOMPARE(r200->decode_tokens, int64_t{1});
    const std::vector<uint32_t> pre200 = {0, 0, 1, 2, 1,  //
                                          2, 1, 0, 0, 1,  //
                                          0, 2, 2, 0, 0};
    const std::vector<uint32_t> dec200 = {0, 0, 0, 1, 1,  //
                                          1, 0, 0, 0, 1,  // used {0, 4}, not the router's {0, 1}
                                          0, 1, 1, 0, 0};
    QCOMPARE(r200->prefill, pre200);
    QCOMPARE(r200->decode, dec200);

    // Finished sequences are gone.
    auto again = rec.finish_sequence(0);
    QVERIFY(!again.ok());
    QCOMPARE(again.status().code(), StatusCode::NotFound);
  }

  void recorder_router_source_counts_topk() {
    RoutingHistoryRecorder rec(3, 5, RoutingSource::Router);
    drive(rec);
    auto r200 = rec.finish_sequence(1);
    QVERIFY(r200.ok());
    const std::vector<uint32_t> dec200 = {0, 0, 0, 1, 1,  //
                                          1, 1, 0, 0, 0,  // the router's {0, 1}
                                          0, 1, 1, 0, 0};
    QCOMPARE(r200->decode, dec200);
  }

  void expert_sets_and_frequency() {
    RoutingHistoryRecorder rec(3, 5);
    drive(rec);
    auto r = rec.finish_sequence(0);
    QVERIFY(r.ok());
    // All phases, layer 0: counts {5, 4, 1, 0, 0} -> top-2 {0, 1}.
    QCOMPARE(r->expert_set(HistogramPhase::All, 0, 2), (std::vector<int32_t>{0, 1}));
    // Layer 1 prefill {0,0,2,3,1}: {3, 2}. Layer 2 all {3,1,0,1,5}: 4, then 0.
    QCOMPARE(r->expert_set(HistogramPhase::Prefill, 1, 2), (std::vector<int32_t>{3, 2}));
    QCOMPARE(r->expert_set(HistogramPhase::All, 2, 2), (std::vector<int32_t>{4, 0}));
    // Layer 2 decode {1,0,0,1,2}: 4 first, then a tie of 0 and 3 -> the lower id.
    QCOMPARE(r->expert_set(HistogramPhase::Decode, 2, 2), (std::vector<int32_t>{4, 0}));
    // Fewer used experts than k: the set is shorter, never padded with unused experts.
    QCOMPARE(r->expert_set(HistogramPhase::Decode, 0, 3), (std::vector<int32_t>{0, 1}));
    std::vector<float> f(5);
    r->frequency(HistogramPhase::All, 0, f);
    QCOMPARE(f, (std::vector<float>{0.5f, 0.4f, 0.1f, 0.0f, 0.0f}));
  }

  void top_experts_ties_and_zeros() {
    const std::vector<float> row = {0.2f, 0.3f, 0.0f, 0.3f, 0.2f};
    QCOMPARE(top_experts(std::span<const float>(row), 3), (std::vector<int32_t>{1, 3, 0}));
    QCOMPARE(top_experts(std::span<const float>(row), 9), (std::vector<int32_t>{1, 3, 0, 4}));
    const std::vector<float> zero(4, 0.0f);
    QVERIFY(top_experts(std::span<const float>(zero), 2).empty());
  }

  void history_is_bounded_and_checks_shapes() {
    auto h = RoutingHistory::create(HistoryShape{2, 3, 1, HistogramPhase::All}, 3);
    QVERIFY(h.ok());
    for (int64_t i = 0; i < 5; ++i) {
      auto r = PromptRecord::from_counts(i, "t", 2, 3, {1, 0, 0, 0, 1, 0}, {});
      QVERIFY2(r.ok(), r.status().message().c_str());
      QVERIFY(h->add(std::move(r).value()).is_ok());
    }
    QCOMPARE(h->size(), size_t{3});
    QCOMPARE(h->total_added(), int64_t{5});
    QCOMPARE(h->at(0).request_id, int64_t{2});
    QCOMPARE(h->back().request_id, int64_t{4});

    // A record of another model is refused, naming both shapes.
    auto other = PromptRecord::from_counts(9, "t", 3, 3, std::vector<uint32_t>(9, 1), {});
    QVERIFY(other.ok());
    const Status s = h->add(std::move(other).value());
    QCOMPARE(s.code(), StatusCode::InvalidArgument);
    QVERIFY2(s.message().find("3 layers x 3 experts") != std::string::npos, s.message().c_str());
    QCOMPARE(h->size(), size_t{3});
  }

  void bad_counts_and_shapes_are_refused() {
    auto r = PromptRecord::from_counts(5, "qa", 2, 3, std::vector<uint32_t>(5, 1), {});
    QVERIFY(!r.ok());
    QCOMPARE(r.status().code(), StatusCode::InvalidArgument);
    QVERIFY2(r.status().message().find("expected 6 counts") != std::string::npos,
             r.status().message().c_str());
    QVERIFY(r.status().message().find("request 5") != std::string::npos);
    QVERIFY(!PromptRecord::from_counts(5, "qa", 0, 3, {}, {}).ok());
    QVERIFY(!PromptRecord::from_counts(5, "qa", 2, 3, {}, {}, -1, 0).ok());

    QVERIFY(!RoutingHistory::create(HistoryShape{2, 3, 4, HistogramPhase::All}, 8).ok());
    QVERIFY(!RoutingHistory::create(HistoryShape{2, 3, 0, HistogramPhase::All}, 8).ok());
    QVERIFY(!RoutingHistory::create(HistoryShape{0, 3, 1, HistogramPhase::All}, 8).ok());
    QVERIFY(!RoutingHistory::create(HistoryShape{2, 3, 1, HistogramPhase::All}, 0).ok());
    auto bad = RoutingHistory::create(HistoryShape{2, 3, 4, HistogramPhase::All}, 8);
    QVERIFY(bad.status().message().find("k (experts per token) 4") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestRoutingHistory)
#include "test_routing_history.moc"
