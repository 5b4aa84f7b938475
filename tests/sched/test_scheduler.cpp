// Admission policies on hand-computed cases: eMoE's Algorithm 1 with Eq. 3 (as DESIGN.md
// section 6 corrects it), FCFS and shortest-job-first; the G_i countdown with its 5% reset;
// request and run metrics.
#include <QtTest>
#include <cmath>

#include "core/sched/request_metrics.h"
#include "core/sched/scheduler.h"

using namespace emoe;
using sched::RefusalReason;
using sched::SchedRequest;
using sched::TaskType;

namespace {

// Profile of every eMoE case below: c = 10 ms per token, mean output QA 4, conversation 20,
// summarization 10, classification 2, comparison 8 tokens; dE = 0 unless a case sets it.
sched::SchedulerProfile profile() {
  sched::SchedulerProfile p;
  p.mean_output_tokens = {10, 2, 4, 8, 20};
  p.per_token_ms = 10.0;
  return p;
}

// The running request S of the eMoE cases: QA, arrived at 0, W = 8 prompt tokens all
// prefilled, 2 tokens generated, so G_S = 4 - 2 = 2; e2e SLO `slo` ms.
SchedRequest running_s(double slo_e2e, int64_t id = 100) {
  SchedRequest s;
  s.id = id;
  s.task = TaskType::QA;
  s.arrival_ms = 0;
  s.slo_e2e_ms = slo_e2e;
  s.input_tokens = 8;
  s.max_new_tokens = 1000;
  s.generated = 2;
  s.prefill_remaining = 0;
  s.estimate = sched::OutputEstimate(4);
  s.estimate.on_token();
  s.estimate.on_token();
  return s;
}

SchedRequest waiting(int64_t id, TaskType task, int64_t w, double arrival, double slo_ttft = 0,
                     double slo_e2e = 0, int32_t max_new = 1000) {
  SchedRequest r;
  r.id = id;
  r.task = task;
  r.input_tokens = w;
  r.prefill_remaining = w;
  r.arrival_ms = arrival;
  r.slo_ttft_ms = slo_ttft;
  r.slo_e2e_ms = slo_e2e;
  r.max_new_tokens = max_new;
  return r;
}

sched::Admission run(sched::Scheduler& s, double now, const std::vector<SchedRequest>& w,
                     const std::vector<SchedRequest>& r, sched::EngineCapacity cap = {}) {
  return s.schedule({now, w, r, cap});
}

std::vector<int64_t> ids(const sched::Admission& a) { return a.admitted; }

}  // namespace

class TestScheduler : public QObject {
  Q_OBJECT

 private slots:
  void output_estimate_counts_down_and_resets() {
    sched::OutputEstimate e(10);
    QCOMPARE(e.initial(), 10.0);
    for (int i = 0; i < 3; ++i) e.on_token();
    QCOMPARE(e.remaining(), 7.0);
    for (int i = 0; i < 7; ++i) e.on_token();
    // Reached 0 while still running: 5% of the start value, 0.5.
    QCOMPARE(e.remaining(), 0.5);
    QCOMPARE(e.resets(), 1);
    e.on_token();  // 0.5 - 1 < 0: reset again
    QCOMPARE(e.remaining(), 0.5);
    QCOMPARE(e.resets(), 2);

    sched::OutputEstimate f(40, 0.25);
    for (int i = 0; i < 40; ++i) f.on_token();
    QCOMPARE(f.remaining(), 10.0);
  }

  void start_estimate_uses_task_mean_capped_by_max_new() {
    const sched::SchedulerProfile p = profile();
    QCOMPARE(p.start_estimate(TaskType::Conversation, 1000).initial(), 20.0);
    QCOMPARE(p.start_estimate(TaskType::Conversation, 6).initial(), 6.0);
    sched::SchedulerProfile unknown;  // no means: the request's own limit
    QCOMPARE(unknown.start_estimate(TaskType::QA, 33).initial(), 33.0);
  }

  void eq3_and_later_finishers() {
    // G: S 2, A 20, B 2, C 1 -> n_S counts G >= 2: S, A, B = 3.
    std::vector<SchedRequest> set = {running_s(0, 1), running_s(0, 2), running_s(0, 3),
                                     running_s(0, 4)};
    set[1].estimate = sched::OutputEstimate(20);
    set[3].estimate = sched::OutputEstimate(1);
    QCOMPARE(sched::later_finishers(set[0], set), 3);
    QCOMPARE(sched::later_finishers(set[1], set), 1);
    QCOMPARE(sched::later_finishers(set[3], set), 4);
    // t = 50 + (5 + 3 * 2) * 10 + 100 = 260
    QCOMPARE(sched::expected_latency_ms(50, 5, 3, 2, 10, 100), 260.0);
  }

  void emoe_admits_when_running_request_keeps_its_slo() {
    // now = 100. S alone: n_S = 1, t_S = (0 + 1 * 2) * 10 + 100 = 120 <= 200: S meets its SLO.
    // R (conversation, W = 5): G_R = 20 >= G_S, so n_S = 2 with R;
    // t_S' = (5 + 2 * 2) * 10 + 100 = 190 <= 200: admitted.
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, profile());
    const auto a = run(*s, 100, {waiting(1, TaskType::Conversation, 5, 90)}, {running_s(200)});
    QCOMPARE(ids(a), std::vector<int64_t>{1});
    QVERIFY(a.refused.empty());
  }

  void emoe_refuses_when_running_request_would_miss() {
    // As above with W = 10: t_S' = (10 + 2 * 2) * 10 + 100 = 240 > 200: refused for S.
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, profile());
    const auto a = run(*s, 100, {waiting(1, TaskType::Conversation, 10, 90)}, {running_s(200)});
    QVERIFY(a.admitted.empty());
    QCOMPARE(a.refused.size(), size_t{1});
    QCOMPARE(a.refused[0].reason, RefusalReason::Slo);
    QCOMPARE(a.refused[0].victim, int64_t{100});
    // FCFS and SJF ignore SLOs: both admit it.
    for (auto kind : {sched::SchedulerKind::Fcfs, sched::SchedulerKind::Sjf}) {
      auto b = sched::make_scheduler(kind, profile());
      QCOMPARE(ids(run(*b, 100, {waiting(1, TaskType::Conversation, 10, 90)}, {running_s(200)})),
               std::vector<int64_t>{1});
    }
  }

  void emoe_short_candidate_does_not_count_in_n() {
    // n_S counts only requests expected to run at least as long as S. R (conversation, W = 8)
    // with max_new_tokens 1 has G_R = 1 < G_S = 2, so n_S stays 1:
    // t_S' = (8 + 1 * 2) * 10 + 100 = 200 <= 200: admitted. Uncapped, G_R = 20 >= 2, n_S = 2:
    // t_S' = (8 + 2 * 2) * 10 + 100 = 220 > 200: refused.
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, profile());
    auto a = run(*s, 100, {waiting(1, TaskType::Conversation, 8, 90, 0, 0, 1)}, {running_s(200)});
    QCOMPARE(ids(a), std::vector<int64_t>{1});
    a = run(*s, 100, {waiting(1, TaskType::Conversation, 8, 90)}, {running_s(200)});
    QVERIFY(a.admitted.empty());
    QCOMPARE(a.refused[0].reason, RefusalReason::Slo);
  }

  void emoe_counts_expert_loading_time() {
    // W = 5 fits without loads (190, above). With dE = 50 ms for conversation:
    // t_S' = 50 + 190 = 240 > 200: refused. With the task-switch estimator, a running
    // conversation request means its experts are resident: dE = 0, admitted.
    sched::SchedulerProfile p = profile();
    p.expert_load = sched::task_switch_load_estimator({0, 0, 0, 0, 50});
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, p);
    auto a = run(*s, 100, {waiting(1, TaskType::Conversation, 5, 90)}, {running_s(200)});
    QVERIFY(a.admitted.empty());
    QCOMPARE(a.refused[0].reason, RefusalReason::Slo);

    // A conversation request that is already running (no SLO, G = 20): now n_S = 3 with R, so
    // W must shrink: t_S' = (W + 3 * 2) * 10 + 100 <= 200 for W <= 4.
    SchedRequest conv = running_s(0, 101);
    conv.task = TaskType::Conversation;
    conv.estimate = sched::OutputEstimate(20);
    a = run(*s, 100, {waiting(1, TaskType::Conversation, 4, 90)}, {running_s(200), conv});
    QCOMPARE(ids(a), std::vector<int64_t>{1});
    a = run(*s, 100, {waiting(1, TaskType::Conversation, 5, 90)}, {running_s(200), conv});
    QVERIFY(a.admitted.empty());
  }

  void emoe_ignores_requests_already_missing() {
    // S with SLO 110: t_S = 120 > 110 already, so S is not protected and R (t_S' = 240) is
    // admitted.
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, profile());
    const auto a = run(*s, 100, {waiting(1, TaskType::Conversation, 10, 90)}, {running_s(110)});
    QCOMPARE(ids(a), std::vector<int64_t>{1});
  }

  void emoe_tightest_slo_first() {
    // One free sequence (max 2, S runs). A: TTFT SLO 1000 arrived at 0 (deadline 1000);
    // B: TTFT SLO 100 arrived at 5 (deadline 105). eMoE admits B; FCFS admits A.
    sched::EngineCapacity cap;
    cap.max_sequences = 2;
    const std::vector<SchedRequest> w = {waiting(1, TaskType::Summarization, 2, 0, 1000),
                                         waiting(2, TaskType::QA, 2, 5, 100)};
    auto e = sched::make_scheduler(sched::SchedulerKind::Emoe, profile());
    auto a = run(*e, 10, w, {running_s(0)}, cap);
    QCOMPARE(ids(a), std::vector<int64_t>{2});
    QCOMPARE(a.refused.size(), size_t{1});
    QCOMPARE(a.refused[0].id, int64_t{1});
    QCOMPARE(a.refused[0].reason, RefusalReason::Sequences);
    auto f = sched::make_scheduler(sched::SchedulerKind::Fcfs, profile());
    QCOMPARE(ids(run(*f, 10, w, {running_s(0)}, cap)), std::vector<int64_t>{1});
    // No TTFT SLO: the e2e deadline counts (C: 5 + 50 = 55 beats B's 105); none at all: last.
    const std::vector<SchedRequest> w2 = {waiting(3, TaskType::QA, 2, 0),
                                          waiting(2, TaskType::QA, 2, 5, 100),
                                          waiting(4, TaskType::QA, 2, 5, 0, 50)};
    cap.max_sequences = 0;
    QCOMPARE(ids(run(*e, 10, w2, {}, cap)), (std::vector<int64_t>{4, 2, 3}));
  }

  void emoe_greedy_skips_refused_request() {
    // Sorted: B (deadline 60) then A (deadline 1000). B's W = 10 would push S to 240 > 200;
    // A's W = 5 gives 190: A is admitted although B came first in the order.
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, profile());
    const auto a = run(*s, 100,
                       {waiting(1, TaskType::Conversation, 5, 0, 1000),
                        waiting(2, TaskType::Conversation, 10, 50, 10)},
                       {running_s(200)});
    QCOMPARE(ids(a), std::vector<int64_t>{1});
    QCOMPARE(a.refused[0].id, int64_t{2});
    QCOMPARE(a.refused[0].reason, RefusalReason::Slo);
  }

  void emoe_admissions_in_one_call_accumulate() {
    // R1 (W = 5, G 20, no SLO) is admitted: t_S' = 190. For R2 (W = 5, G 20) R1's prompt is
    // still pending (5) and n_S = 3: t_S'' = (5 + 5 + 3 * 2) * 10 + 100 = 260 > 200: refused.
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, profile());
    const auto a =
        run(*s, 100,
            {waiting(1, TaskType::Conversation, 5, 10), waiting(2, TaskType::Conversation, 5, 20)},
            {running_s(200)});
    QCOMPARE(ids(a), std::vector<int64_t>{1});
    QCOMPARE(a.refused[0].id, int64_t{2});
    QCOMPARE(a.refused[0].victim, int64_t{100});
  }

  void emoe_protects_ttft_of_request_in_prefill() {
    // P: admitted at 0, arrived at 0, now 50, prompt 8 not yet prefilled, no token, TTFT SLO
    // 200, no e2e SLO. First-token estimate: (8 + 0) * 10 + 50 = 130 <= 200. With R (W = 7):
    // (8 + 7) * 10 + 50 = 200 <= 200: admitted; with W = 8: 210 > 200: refused.
    SchedRequest p = waiting(100, TaskType::QA, 8, 0, 200);
    p.estimate = sched::OutputEstimate(4);
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, profile());
    QCOMPARE(ids(run(*s, 50, {waiting(1, TaskType::QA, 7, 40)}, {p})), std::vector<int64_t>{1});
    const auto a = run(*s, 50, {waiting(1, TaskType::QA, 8, 40)}, {p});
    QVERIFY(a.admitted.empty());
    QCOMPARE(a.refused[0].victim, int64_t{100});
    // Once P has its first token, its TTFT is settled: nothing to protect.
    p.generated = 1;
    p.prefill_remaining = 0;
    QCOMPARE(ids(run(*s, 50, {waiting(1, TaskType::QA, 8, 40)}, {p})), std::vector<int64_t>{1});
  }

  void emoe_starvation_bound() {
    // The refused case above (240 > 200), but R has waited 95 ms > starvation_ms = 60.
    sched::SchedulerProfile p = profile();
    p.starvation_ms = 60;
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, p);
    QCOMPARE(ids(run(*s, 100, {waiting(1, TaskType::Conversation, 10, 5)}, {running_s(200)})),
             std::vector<int64_t>{1});
    QVERIFY(run(*s, 100, {waiting(1, TaskType::Conversation, 10, 50)}, {running_s(200)})
                .admitted.empty());
  }

  void capacity_limits() {
    // T_max = 20: S holds 8 + 2 = 10 tokens; W = 10 fits exactly, W = 11 does not.
    sched::EngineCapacity cap;
    cap.max_tokens = 20;
    for (auto kind :
         {sched::SchedulerKind::Emoe, sched::SchedulerKind::Fcfs, sched::SchedulerKind::Sjf}) {
      auto s = sched::make_scheduler(kind, profile());
      QCOMPARE(ids(run(*s, 100, {waiting(1, TaskType::QA, 10, 90)}, {running_s(0)}, cap)),
               std::vector<int64_t>{1});
      const auto a = run(*s, 100, {waiting(1, TaskType::QA, 11, 90)}, {running_s(0)}, cap);
      QVERIFY(a.admitted.empty());
      QCOMPARE(a.refused[0].reason, RefusalReason::Tokens);
    }
    // KV reservation: S reserves 8 + 1000; R 4 + 10. Budget 1022 fits, 1021 does not.
    sched::EngineCapacity kv;
    kv.max_kv_tokens = 1022;
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, profile());
    QCOMPARE(ids(run(*s, 100, {waiting(1, TaskType::QA, 4, 90, 0, 0, 10)}, {running_s(0)}, kv)),
             std::vector<int64_t>{1});
    kv.max_kv_tokens = 1021;
    QCOMPARE(run(*s, 100, {waiting(1, TaskType::QA, 4, 90, 0, 0, 10)}, {running_s(0)}, kv)
                 .refused[0]
                 .reason,
             RefusalReason::KvBudget);
    // Within one call the admitted requests count: T_max 20 with nothing running admits two
    // prompts of 8 and refuses a third.
    sched::EngineCapacity t;
    t.max_tokens = 20;
    const auto a = run(*s, 0,
                       {waiting(1, TaskType::QA, 8, 0), waiting(2, TaskType::QA, 8, 1),
                        waiting(3, TaskType::QA, 8, 2)},
                       {}, t);
    QCOMPARE(ids(a), (std::vector<int64_t>{1, 2}));
  }

  void fcfs_order_and_blocking() {
    // Arrival order (ties by id); the first that does not fit blocks the rest.
    auto s = sched::make_scheduler(sched::SchedulerKind::Fcfs, profile());
    const std::vector<SchedRequest> w = {
        waiting(5, TaskType::QA, 3, 30), waiting(2, TaskType::QA, 3, 10),
        waiting(9, TaskType::QA, 3, 10), waiting(1, TaskType::QA, 3, 20)};
    QCOMPARE(ids(run(*s, 50, w, {})), (std::vector<int64_t>{2, 9, 1, 5}));
    // T_max = 12: 2 (3) + 9 (3) fit = 6; 1 with W = 10 would make 16: blocks; 5 (W 3) is
    // behind it and refused for order although it would fit.
    std::vector<SchedRequest> w2 = w;
    w2[3].input_tokens = 10;
    sched::EngineCapacity cap;
    cap.max_tokens = 12;
    const auto a = run(*s, 50, w2, {}, cap);
    QCOMPARE(ids(a), (std::vector<int64_t>{2, 9}));
    QCOMPARE(a.refused.size(), size_t{2});
    QCOMPARE(a.refused[0].id, int64_t{1});
    QCOMPARE(a.refused[0].reason, RefusalReason::Tokens);
    QCOMPARE(a.refused[1].id, int64_t{5});
    QCOMPARE(a.refused[1].reason, RefusalReason::Order);
  }

  void sjf_order() {
    // Expected outputs: summarization 10, classification 2, QA 4, conversation 20 (capped to 3
    // by max_new_tokens for id 4); ties by arrival: 3 (QA, 0) before 6 (QA, 5).
    auto s = sched::make_scheduler(sched::SchedulerKind::Sjf, profile());
    const std::vector<SchedRequest> w = {waiting(1, TaskType::Summarization, 3, 0),
                                         waiting(6, TaskType::QA, 3, 5),
                                         waiting(2, TaskType::Classification, 3, 9),
                                         waiting(3, TaskType::QA, 3, 0),
                                         waiting(4, TaskType::Conversation, 3, 1, 0, 0, 3),
                                         waiting(5, TaskType::Conversation, 3, 0)};
    QCOMPARE(ids(run(*s, 10, w, {})), (std::vector<int64_t>{2, 4, 3, 6, 1, 5}));
    sched::EngineCapacity cap;
    cap.max_sequences = 2;
    const auto a = run(*s, 10, w, {}, cap);
    QCOMPARE(ids(a), (std::vector<int64_t>{2, 4}));
    QCOMPARE(a.refused[0].id, int64_t{3});
    QCOMPARE(a.refused[0].reason, RefusalReason::Sequences);
  }

  void names_round_trip() {
    for (auto k :
         {sched::SchedulerKind::Fcfs, sched::SchedulerKind::Sjf, sched::SchedulerKind::Emoe}) {
      QCOMPARE(sched::parse_scheduler_kind(sched::scheduler_kind_name(k)), k);
    }
    QCOMPARE(sched::parse_scheduler_kind("EMOE"), sched::SchedulerKind::Emoe);
    QVERIFY(!sched::parse_scheduler_kind("lifo"));
  }

  void request_metrics_by_hand() {
    // Arrived 10, admitted 15, first token 40, 5 tokens, last at 80:
    // TTFT 30, E2E 70, TPOT (80 - 40) / 4 = 10.
    sched::RequestTiming t;
    t.arrival_ms = 10;
    t.admit_ms = 15;
    t.first_token_ms = 40;
    t.finish_ms = 80;
    t.generated_tokens = 5;
    t.prompt_tokens = 7;
    t.slo_ttft_ms = 30;
    t.slo_e2e_ms = 69;
    sched::RequestMetrics m = sched::compute_request_metrics(t);
    QVERIFY(m.completed);
    QCOMPARE(m.queue_ms, 5.0);
    QCOMPARE(m.ttft_ms, 30.0);
    QCOMPARE(m.e2e_ms, 70.0);
    QCOMPARE(m.tpot_ms, 10.0);
    QVERIFY(m.ttft_met);  // 30 <= 30
    QVERIFY(!m.e2e_met);  // 70 > 69
    QVERIFY(!m.slo_met);

    sched::RequestTiming u = t;
    u.slo_ttft_ms = 0;
    u.slo_e2e_ms = 0;
    u.arrival_ms = 0;
    u.first_token_ms = 20;
    u.finish_ms = 20;
    u.generated_tokens = 1;
    const sched::RequestMetrics mu = sched::compute_request_metrics(u);
    QVERIFY(mu.slo_met);
    QCOMPARE(mu.tpot_ms, 0.0);

    sched::RequestTiming rej;
    rej.rejected = true;
    rej.arrival_ms = 5;
    const sched::RequestMetrics mr = sched::compute_request_metrics(rej);
    QVERIFY(!mr.completed);
    QVERIFY(!mr.slo_met);

    // Run: 3 requests, one met (u), span 0 -> 80 ms, 6 tokens: 75 tokens/s.
    const std::vector<sched::RequestTiming> ts = {t, u, rej};
    const std::vector<sched::RequestMetrics> ms = {m, mu, mr};
    const sched::RunMetrics r = sched::summarize_run(ts, ms);
    QCOMPARE(r.requests, int64_t{3});
    QCOMPARE(r.completed, int64_t{2});
    QCOMPARE(r.rejected, int64_t{1});
    QCOMPARE(r.slo_met, int64_t{1});
    QCOMPARE(r.slo_attainment, 1.0 / 3.0);
    QCOMPARE(r.generated_tokens, int64_t{6});
    QCOMPARE(r.span_ms, 80.0);
    QCOMPARE(r.throughput_tokens_per_s, 75.0);
    QCOMPARE(r.mean_ttft_ms, 25.0);
    QCOMPARE(r.p50_ttft_ms, 20.0);
    QCOMPARE(r.p99_ttft_ms, 30.0);
  }
};

QTEST_APPLESS_MAIN(TestScheduler)
#include "test_scheduler.moc"
