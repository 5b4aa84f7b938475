// Continuous batching: a batch of mixed requests (different prompt lengths and arrival times,
// prompts chunked across steps, prefill mixed with decode) produces exactly the tokens each
// request produces alone through engine::generate on a fresh engine, greedy and seeded, on the
// llama.cpp fixtures; the virtual clock's times by hand; eMoE holding a request back until a
// completion; the G_i countdown as the scheduler sees it; metrics sanity; rejection.
#include <QtTest>
#include <algorithm>
#include <filesystem>

#include "core/engine/generator.h"
#include "core/model/model.h"
#include "core/sched/serving_loop.h"
#include "core/sched/workload.h"

using namespace emoe;
using sched::TaskType;

namespace {

std::string fixture(const char* name) {
  return (std::filesystem::path(EMOE_TEST_DATA_DIR) / name / "model.gguf").string();
}

// Deterministic prompt of n tokens: BOS then ids spread over the vocabulary.
std::vector<int32_t> prompt_of(int n, int salt, int32_t n_vocab) {
  std::vector<int32_t> p = {1};
  for (int i = 1; i < n; ++i)
    p.push_back(static_cast<int32_t>((i * 7919 + salt * 104729) % (n_vocab - 3)) + 3);
  return p;
}

struct Spec {
  int prompt_len;
  double arrival_ms;
  int32_t max_new;
  TaskType task;
};

// Six requests: prompts 3..37 tokens, arrivals 0..30 ms, 4..12 new tokens.
const Spec kSpecs[] = {{17, 0, 9, TaskType::Summarization}, {3, 0, 12, TaskType::QA},
                       {37, 2, 6, TaskType::Conversation},  {9, 5, 10, TaskType::Comparison},
                       {5, 9, 7, TaskType::Classification}, {23, 30, 4, TaskType::QA}};

std::vector<sched::ServeRequest> mixed_requests(int32_t n_vocab, engine::SamplerParams sp) {
  std::vector<sched::ServeRequest> out;
  int i = 0;
  for (const Spec& s : kSpecs) {
    sched::ServeRequest r;
    r.id = 10 + i;
    r.task = s.task;
    r.prompt = prompt_of(s.prompt_len, i, n_vocab);
    r.arrival_ms = s.arrival_ms;
    r.max_new_tokens = s.max_new;
    r.sampling = sp;
    r.sampling.seed = sp.seed + static_cast<uint64_t>(i);
    out.push_back(r);
    ++i;
  }
  return out;
}

sched::SchedulerProfile demo_profile() {
  sched::SchedulerProfile p;
  p.mean_output_tokens = {9, 7, 8, 10, 12};
  p.per_token_ms = 0.1;
  return p;
}

// Records what the wrapped scheduler was given on each call.
class RecordingScheduler : public sched::Scheduler {
 public:
  explicit RecordingScheduler(std::unique_ptr<sched::Scheduler> inner)
      : Scheduler(inner->profile()), inner_(std::move(inner)) {}
  sched::SchedulerKind kind() const override { return inner_->kind(); }
  sched::Admission schedule(const sched::SchedulerInput& in) override {
    Call c;
    c.now = in.now_ms;
    c.waiting.assign(in.waiting.begin(), in.waiting.end());
    c.running.assign(in.running.begin(), in.running.end());
    c.admission = inner_->schedule(in);
    calls.push_back(c);
    return c.admission;
  }
  struct Call {
    double now = 0;
    std::vector<sched::SchedRequest> waiting, running;
    sched::Admission admission;
  };
  std::vector<Call> calls;

 private:
  std::unique_ptr<sched::Scheduler> inner_;
};

const sched::ServedRequest* find(const sched::ServingResult& r, int64_t id) {
  for (const auto& q : r.requests) {
    if (q.id == id) return &q;
  }
  return nullptr;
}

}  // namespace

class TestServingLoop : public QObject {
  Q_OBJECT

  // Serves the mixed requests concurrently and compares every request with generate() alone.
  void check_batched_equals_alone(const char* model_name, engine::SamplerParams sp,
                                  sched::SchedulerKind kind) {
    auto model = model::Model::load(fixture(model_name));
    QVERIFY2(model.ok(), model.status().message().c_str());
    const int32_t n_vocab = (*model)->config().n_vocab;
    const auto requests = mixed_requests(n_vocab, sp);

    engine::EngineOptions eo;
    eo.max_sequences = 4;  // six requests: some must wait
    eo.n_threads = 2;
    auto engine = engine::Engine::create(**model, eo);
    QVERIFY(engine.ok());
    auto scheduler = sched::make_scheduler(kind, demo_profile());
    sched::ServingOptions so;
    so.max_batch_tokens = 8;  // long prompts go in chunks, next to decode tokens
    so.cost = {1.0, 0.25, {}};
    int max_seqs = 0, mixed_steps = 0, waiting_steps = 0, steps = 0;
    int64_t tokens_seen = 0;
    so.on_step = [&](const sched::StepInfo& s) {
      max_seqs = std::max(max_seqs, s.sequences);
      if (s.prefill_tokens > 0 && s.decode_tokens > 0) ++mixed_steps;
      if (s.waiting > 0) ++waiting_steps;
      QVERIFY(s.decode_tokens + s.prefill_tokens <= 8 || s.prefill_tokens == 0);
      QVERIFY(s.end_ms > s.start_ms);
      ++steps;
    };
    so.on_request = [&](const sched::RequestEvent& e) {
      if (e.kind == sched::RequestEvent::Kind::Token) ++tokens_seen;
    };
    auto res = sched::serve(**engine, *scheduler, requests, so);
    QVERIFY2(res.ok(), res.status().message().c_str());
    // The batching really happened: several sequences per step, prefill next to decode, and
    // requests queued behind the sequence limit.
    QCOMPARE(max_seqs, 4);
    QVERIFY(mixed_steps > 0);
    QVERIFY(waiting_steps > 0);
    QCOMPARE(res->steps, int64_t{steps});

    int64_t generated = 0;
    for (const sched::ServeRequest& r : requests) {
      auto ref_engine = engine::Engine::create(**model, {});
      QVERIFY(ref_engine.ok());
      auto seq = (*ref_engine)->new_sequence();
      QVERIFY(seq.ok());
      engine::GenerateOptions go;
      go.max_new_tokens = r.max_new_tokens;
      go.sampling = r.sampling;
      auto alone = engine::generate(**ref_engine, *seq, r.prompt, go);
      QVERIFY(alone.ok());
      const sched::ServedRequest* got = find(*res, r.id);
      QVERIFY(got != nullptr);
      QCOMPARE(got->state, sched::RequestState::Finished);
      const std::string msg = std::string(model_name) + " request " + std::to_string(r.id);
      QVERIFY2(got->generated == alone->generated, msg.c_str());
      QCOMPARE(got->stop, alone->stop);
      generated += static_cast<int64_t>(got->generated.size());

      // Metrics sanity.
      const sched::RequestTiming& t = got->timing;
      const sched::RequestMetrics& m = got->metrics;
      QVERIFY(m.completed);
      QVERIFY(t.admit_ms >= t.arrival_ms);
      QVERIFY(t.first_token_ms > t.admit_ms);
      QVERIFY(t.finish_ms >= t.first_token_ms);
      QVERIFY(m.ttft_ms > 0);
      QVERIFY(m.ttft_ms <= m.e2e_ms);
      QCOMPARE(t.generated_tokens, static_cast<int64_t>(got->generated.size()));
      QCOMPARE(t.prompt_tokens, static_cast<int64_t>(r.prompt.size()));
      if (got->generated.size() > 1) {
        QCOMPARE(m.tpot_ms, (t.finish_ms - t.first_token_ms) / double(got->generated.size() - 1));
      }
    }
    QCOMPARE(res->run.requests, int64_t{6});
    QCOMPARE(res->run.completed, int64_t{6});
    QCOMPARE(res->run.generated_tokens, generated);
    QCOMPARE(tokens_seen, generated);
    QCOMPARE(res->run.slo_met, int64_t{6});  // no SLOs: every completed request meets them
    QVERIFY(res->run.throughput_tokens_per_s > 0);
    QVERIFY(res->scheduler_calls >= 1);
    QCOMPARE((*engine)->sequence_length(0), 0);  // sequences were freed
  }

 private slots:
  void greedy_batch_equals_alone_f32() {
    check_batched_equals_alone("tiny-mixtral-f32", {}, sched::SchedulerKind::Fcfs);
  }
  void greedy_batch_equals_alone_quant() {
    check_batched_equals_alone("tiny-mixtral-q", {}, sched::SchedulerKind::Emoe);
  }
  void seeded_batch_equals_alone() {
    engine::SamplerParams sp;
    sp.temperature = 0.9f;
    sp.top_k = 40;
    sp.top_p = 0.95f;
    sp.repeat_penalty = 1.1f;
    sp.seed = 1234;
    check_batched_equals_alone("tiny-mixtral-f32", sp, sched::SchedulerKind::Sjf);
    check_batched_equals_alone("tiny-mixtral-q", sp, sched::SchedulerKind::Fcfs);
  }

  void virtual_clock_by_hand() {
    // Arrival 10, prompt 4, 3 tokens; step cost 1 + 0.5 per token. The loop idles to 10,
    // prefills 4 tokens (3 ms: first token at 13), then two decode steps of 1.5 ms: 14.5, 16.
    // TTFT 3, E2E 6, TPOT 1.5.
    auto model = model::Model::load(fixture("tiny-mixtral-f32"));
    QVERIFY(model.ok());
    auto engine = engine::Engine::create(**model, {});
    QVERIFY(engine.ok());
    auto s = sched::make_scheduler(sched::SchedulerKind::Fcfs, {});
    sched::ServingOptions so;
    so.stop_at_eos = false;
    so.cost = {1.0, 0.5, {}};
    sched::ServeRequest r;
    r.id = 7;
    r.prompt = prompt_of(4, 1, 32000);
    r.arrival_ms = 10;
    r.max_new_tokens = 3;
    r.slo_ttft_ms = 3;
    r.slo_e2e_ms = 5.5;
    auto res = sched::serve(**engine, *s, std::vector<sched::ServeRequest>{r}, so);
    QVERIFY2(res.ok(), res.status().message().c_str());
    const auto& q = res->requests.at(0);
    QCOMPARE(q.timing.admit_ms, 10.0);
    QCOMPARE(q.timing.first_token_ms, 13.0);
    QCOMPARE(q.timing.finish_ms, 16.0);
    QCOMPARE(q.metrics.ttft_ms, 3.0);
    QCOMPARE(q.metrics.e2e_ms, 6.0);
    QCOMPARE(q.metrics.tpot_ms, 1.5);
    QVERIFY(q.metrics.ttft_met);
    QVERIFY(!q.metrics.e2e_met);  // 6 > 5.5
    QCOMPARE(res->run.slo_attainment, 0.0);
    QCOMPARE(res->steps, int64_t{3});
    QCOMPARE(res->end_ms, 16.0);
    QCOMPARE(q.stop, engine::StopReason::Length);
  }

  void emoe_holds_back_until_completion() {
    // c = 0.5 ms per token = the virtual cost per token; step 1 ms. S: QA (mean 20), prompt 4,
    // 20 tokens, e2e SLO 35, arrives at 0. Steps: prefill 4 -> 3 ms (token 1), decode 1.5 ms
    // each -> 4.5, 6. R (conversation, mean 20, prompt 30, 20 tokens) arrives at 5 and is seen at 6
    // with S at 3 tokens: G_S = 17, r_S = 6. Alone t_S = 17 * 0.5 + 6 = 14.5 <= 35; with R, n_S =
    // 2: (30 + 2 * 17) * 0.5 + 6 = 38 > 35: R waits. S finishes at 3 + 19 * 1.5 = 31.5 (e2e 31.5,
    // met); R is admitted then. FCFS admits R at 6.
    auto model = model::Model::load(fixture("tiny-mixtral-f32"));
    QVERIFY(model.ok());
    engine::EngineOptions eo;
    eo.max_sequences = 2;
    sched::SchedulerProfile p;
    p.mean_output_tokens = {20, 20, 20, 20, 20};
    p.per_token_ms = 0.5;
    std::vector<sched::ServeRequest> reqs(2);
    reqs[0].id = 1;
    reqs[0].task = TaskType::QA;
    reqs[0].prompt = prompt_of(4, 2, 32000);
    reqs[0].max_new_tokens = 20;
    reqs[0].slo_e2e_ms = 35;
    reqs[1].id = 2;
    reqs[1].task = TaskType::Conversation;
    reqs[1].prompt = prompt_of(30, 3, 32000);
    reqs[1].arrival_ms = 5;
    reqs[1].max_new_tokens = 20;  // G_R = 20 (a cap below 17 would leave n_S at 1)
    sched::ServingOptions so;
    so.stop_at_eos = false;
    so.cost = {1.0, 0.5, {}};

    for (auto kind : {sched::SchedulerKind::Emoe, sched::SchedulerKind::Fcfs}) {
      auto engine = engine::Engine::create(**model, eo);
      QVERIFY(engine.ok());
      RecordingScheduler rec(sched::make_scheduler(kind, p));
      auto res = sched::serve(**engine, rec, reqs, so);
      QVERIFY2(res.ok(), res.status().message().c_str());
      const sched::ServedRequest* s = find(*res, 1);
      const sched::ServedRequest* r = find(*res, 2);
      QVERIFY(s && r);
      QCOMPARE(rec.calls.size() >= 2, true);
      const auto& at6 = rec.calls[1];
      QCOMPARE(at6.now, 6.0);
      QCOMPARE(at6.running.size(), size_t{1});
      QCOMPARE(at6.running[0].generated, int64_t{3});
      QCOMPARE(at6.running[0].estimate.remaining(), 17.0);
      if (kind == sched::SchedulerKind::Emoe) {
        QVERIFY(at6.admission.admitted.empty());
        QCOMPARE(at6.admission.refused.at(0).reason, sched::RefusalReason::Slo);
        QCOMPARE(s->timing.finish_ms, 31.5);
        QVERIFY(s->metrics.slo_met);
        QCOMPARE(r->timing.admit_ms, 31.5);
      } else {
        QCOMPARE(r->timing.admit_ms, 6.0);
        QVERIFY(s->metrics.e2e_ms > 35);  // sharing steps with R's prompt costs S its SLO
        QVERIFY(!s->metrics.slo_met);
      }
    }
  }

  void estimate_resets_in_the_loop() {
    // QA mean 2: after 3 tokens the scheduler sees 2 -> 1 -> reset 0.1 -> reset 0.1.
    auto model = model::Model::load(fixture("tiny-mixtral-f32"));
    QVERIFY(model.ok());
    engine::EngineOptions eo;
    eo.max_sequences = 2;
    auto engine = engine::Engine::create(**model, eo);
    QVERIFY(engine.ok());
    sched::SchedulerProfile p;
    p.mean_output_tokens = {2, 2, 2, 2, 2};
    RecordingScheduler rec(sched::make_scheduler(sched::SchedulerKind::Fcfs, p));
    std::vector<sched::ServeRequest> reqs(2);
    reqs[0].prompt = prompt_of(4, 4, 32000);
    reqs[0].max_new_tokens = 8;
    reqs[1].id = 1;
    reqs[1].prompt = prompt_of(4, 5, 32000);
    reqs[1].arrival_ms = 5;
    reqs[1].max_new_tokens = 2;
    sched::ServingOptions so;
    so.stop_at_eos = false;
    so.cost = {1.0, 0.5, {}};
    auto res = sched::serve(**engine, rec, reqs, so);
    QVERIFY(res.ok());
    QVERIFY(rec.calls.size() >= 2);
    const auto& c = rec.calls[1];  // at 6: request 0 has 3 tokens
    QCOMPARE(c.running.at(0).generated, int64_t{3});
    QCOMPARE(c.running.at(0).estimate.remaining(), 0.1);
    QCOMPARE(c.running.at(0).estimate.resets(), 2);
    // A waiting request's G starts at the mean capped by its max_new_tokens.
    QCOMPARE(c.waiting.at(0).estimate.initial(), 2.0);
  }

  void rejects_what_never_fits() {
    auto model = model::Model::load(fixture("tiny-mixtral-f32"));
    QVERIFY(model.ok());
    engine::EngineOptions eo;
    eo.n_ctx = 16;
    eo.max_sequences = 2;
    auto engine = engine::Engine::create(**model, eo);
    QVERIFY(engine.ok());
    auto s = sched::make_scheduler(sched::SchedulerKind::Emoe, {});
    std::vector<sched::ServeRequest> reqs(3);
    reqs[0].prompt = prompt_of(20, 1, 32000);  // longer than the context
    reqs[1].id = 1;
    reqs[1].prompt = prompt_of(14, 2, 32000);  // fits; hits the context after 3 tokens
    reqs[1].max_new_tokens = 10;
    reqs[2].id = 2;
    reqs[2].prompt = prompt_of(5, 3, 32000);
    reqs[2].max_new_tokens = 2;
    sched::ServingOptions so;
    so.stop_at_eos = false;
    auto res = sched::serve(**engine, *s, reqs, so);
    QVERIFY2(res.ok(), res.status().message().c_str());
    QCOMPARE(res->requests[0].state, sched::RequestState::Rejected);
    QVERIFY(res->requests[0].reject_reason.find("context") != std::string::npos);
    QCOMPARE(res->requests[1].stop, engine::StopReason::ContextFull);
    QCOMPARE(res->requests[1].generated.size(), size_t{3});  // positions 14, 15 fed; 3 sampled
    QCOMPARE(res->requests[2].generated.size(), size_t{2});
    QCOMPARE(res->run.rejected, int64_t{1});
    QCOMPARE(res->run.completed, int64_t{2});
    QCOMPARE(res->run.slo_attainment, 2.0 / 3.0);

    // Bad submissions are refused with the request named.
    auto loop = sched::ServingLoop::create(**engine, *s, so);
    QVERIFY(loop.ok());
    sched::ServeRequest bad;
    bad.id = 9;
    QCOMPARE((*loop)->submit(bad).code(), StatusCode::InvalidArgument);  // empty prompt
    bad.prompt = {1, 40000};
    const Status st = (*loop)->submit(bad);
    QCOMPARE(st.code(), StatusCode::InvalidArgument);
    QVERIFY(st.message().find("request 9") != std::string::npos);
    bad.prompt = {1, 2};
    QVERIFY((*loop)->submit(bad).is_ok());
    QCOMPARE((*loop)->submit(bad).code(), StatusCode::InvalidArgument);  // duplicate id
    so.max_batch_tokens = 0;
    QVERIFY(!sched::ServingLoop::create(**engine, *s, so).ok());
  }

  void serve_requests_from_workload() {
    auto model = model::Model::load(fixture("tiny-mixtral-f32"));
    QVERIFY(model.ok());
    std::vector<sched::Request> w(2);
    w[0].task = TaskType::Summarization;
    w[0].text = "Summarize this text";
    w[0].arrival_ms = 3;
    w[0].max_new_tokens = 4;
    w[0].slo_ttft_ms = 100;
    w[1].text = "What is the capital of France?";
    w[1].max_new_tokens = 2;
    engine::SamplerParams sp;
    sp.seed = 50;
    const auto classifier = sched::TaskClassifier::builtin();
    const auto r = sched::serve_requests(w, (*model)->tokenizer(), classifier, sp);
    QCOMPARE(r.size(), size_t{2});
    QCOMPARE(r[0].id, int64_t{0});
    QCOMPARE(r[0].task, TaskType::Summarization);
    QCOMPARE(r[1].task, classifier.classify(w[1].text).task);
    QCOMPARE(r[0].prompt, (*model)->tokenizer().encode(w[0].text, true, false));
    QCOMPARE(r[0].arrival_ms, 3.0);
    QCOMPARE(r[0].slo_ttft_ms, 100.0);
    QCOMPARE(r[1].sampling.seed, uint64_t{51});
  }
};

QTEST_APPLESS_MAIN(TestServingLoop)
#include "test_serving_loop.moc"
