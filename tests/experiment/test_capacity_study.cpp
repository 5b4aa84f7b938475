// The capacity study on a small task-routed model: the limits are recomputed here from the
// model's shapes and plan_memory's fixed parts (dense, scratch); a smaller expert budget buys
// a larger batch and a longer prompt; the confirming runs really serve those limits within the
// device budget; one more request or token would not fit; bad budgets are refused by name.
#include <QTemporaryDir>
#include <QtTest>
#include <memory>

#include "core/engine/inference_session.h"
#include "core/experiment/capacity_run.h"
#include "core/experiment/capacity_study.h"
#include "core/experiment/experiment_runner.h"
#include "core/experts/cache_model.h"
#include "core/experts/expert_store.h"
#include "core/experts/memory_plan.h"
#include "core/model/model.h"
#include "tests/support/small_models.h"

using namespace emoe;
using namespace emoe::experiment;

namespace {

CapacitySpec small_study() {
  CapacitySpec s;
  s.enabled = true;
  s.budgets = {"100%", "60%"};
  s.prompt_tokens = 24;
  s.batch = 2;
  s.generate_tokens = 3;
  s.max_batch_limit = 64;
  return s;
}

}  // namespace

class TestCapacityStudy : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::unique_ptr<engine::InferenceSession> session_;

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    const std::string path = dir_.filePath("small.gguf").toStdString();
    Status st = test::write_small_task_routed_model(path, 5, "capacity test model");
    QVERIFY2(st.is_ok(), st.message().c_str());
    auto s = engine::InferenceSession::open(path);
    QVERIFY2(s.ok(), s.status().message().c_str());
    session_ = std::move(s).value();
  }

  void limits_match_a_hand_computation() {
    const CapacitySpec spec = small_study();
    const model::Model& m = session_->model();
    const experts::ExpertStore& store = *session_->store();
    QCOMPARE(capacity_step_tokens(spec), int64_t{512});
    // K and V of 4 layers, 2 KV heads of 32 dims, F32.
    const uint64_t kv_token = 2 * 4 * (2 * 32) * 4;
    // Every expert: gate, up and down of 128 x 128 F32 weights; 4 layers x 8 experts.
    const uint64_t expert = 3 * 128 * 128 * 4;
    QCOMPARE(store.total_bytes(), 32 * expert);
    // The plan's scratch for 512-token steps (the only number taken from plan_memory).
    experts::MemoryPlanOptions o;
    o.device_bytes = uint64_t{1} << 40;
    o.n_batch = 512;
    auto fixed = experts::plan_memory(m.config(), m.weights(), store, o);
    QVERIFY(fixed.ok());
    QCOMPARE(fixed->kv_bytes_per_token, kv_token);
    const uint64_t scratch = fixed->scratch_bytes;
    const uint64_t dense = m.weights().dense_bytes;

    // The baseline: all experts and a batch of 2 x (24 + 3) tokens, exactly full.
    const uint64_t device = dense + 32 * expert + scratch + 2 * 27 * kv_token;
    auto base = baseline_device_bytes(*session_, spec);
    QVERIFY2(base.ok(), base.status().message().c_str());
    QCOMPARE(*base, device);

    auto plan = plan_capacity(*session_, spec);
    QVERIFY2(plan.ok(), plan.status().message().c_str());
    QCOMPARE(plan->size(), size_t{2});
    const CapacityOutcome& full = (*plan)[0];
    QCOMPARE(full.device_bytes, device);
    QCOMPARE(full.max_context_tokens, int64_t{54});
    QCOMPARE(full.max_batch, 2);
    QCOMPARE(full.max_prompt, int64_t{24});
    QCOMPARE(full.expert_fraction, 1.0);

    const uint64_t budget60 = 32 * expert * 60 / 100;  // 3774873 (exact: 32 x 196608 x 0.6)
    const CapacityOutcome& part = (*plan)[1];
    QCOMPARE(part.expert_bytes, budget60);
    QCOMPARE(part.kv_bytes, device - dense - budget60 - scratch);
    const int64_t ctx = int64_t((device - dense - budget60 - scratch) / kv_token);
    QCOMPARE(part.max_context_tokens, ctx);
    QCOMPARE(part.max_batch, int32_t(std::min<int64_t>(ctx / 27, 64)));
    QCOMPARE(part.max_prompt, ctx / 2 - 3);
    QCOMPARE(part.expert_fraction, double(budget60 / expert) / 32.0);  // 19 of 32 slots

    // A smaller expert tier buys both a larger batch and a longer prompt.
    QVERIFY(part.max_batch > full.max_batch);
    QVERIFY(part.max_prompt > full.max_prompt);
    // One more request, or one more prompt token per request, would not fit.
    for (const CapacityOutcome& c : *plan) {
      if (c.max_batch < spec.max_batch_limit) {
        QVERIFY((c.max_batch + 1) * 27 > c.max_context_tokens);
      }
      QVERIFY(2 * (c.max_prompt + 1 + 3) > c.max_context_tokens);
      QVERIFY(int64_t(c.max_batch) * 27 <= c.max_context_tokens);
      QVERIFY(2 * (c.max_prompt + 3) <= c.max_context_tokens);
    }
  }

  void batch_limit_clamps() {
    CapacitySpec spec = small_study();
    spec.max_batch_limit = 10;
    auto plan = plan_capacity(*session_, spec);
    QVERIFY2(plan.ok(), plan.status().message().c_str());
    QCOMPARE((*plan)[1].max_batch, 10);
  }

  void confirming_runs_fit_the_device() {
    const CapacitySpec spec = small_study();
    std::vector<int32_t> calls;
    auto out = run_capacity_study(*session_, spec, 1, [&](int32_t i, int32_t n) {
      QCOMPARE(n, 2);
      calls.push_back(i);
    });
    QVERIFY2(out.ok(), out.status().message().c_str());
    QCOMPARE(calls, (std::vector<int32_t>{0, 1}));
    auto plan = plan_capacity(*session_, spec);
    QVERIFY(plan.ok());
    QCOMPARE(out->size(), size_t{2});
    const uint64_t dense = session_->model().weights().dense_bytes;
    for (size_t i = 0; i < out->size(); ++i) {
      const CapacityOutcome& c = (*out)[i];
      qInfo("%s: device %llu, max batch %d (peak %llu), max prompt %lld (peak %llu)",
            c.budget.c_str(), static_cast<unsigned long long>(c.device_bytes), c.max_batch,
            static_cast<unsigned long long>(c.batch_run_peak_bytes),
            static_cast<long long>(c.max_prompt),
            static_cast<unsigned long long>(c.prompt_run_peak_bytes));
      QCOMPARE(c.max_batch, (*plan)[i].max_batch);
      QCOMPARE(c.max_prompt, (*plan)[i].max_prompt);
      QVERIFY2(c.batch_run_ok, c.batch_run_error.c_str());
      QVERIFY2(c.prompt_run_ok, c.prompt_run_error.c_str());
      QVERIFY(c.batch_run_peak_bytes <= c.device_bytes);
      QVERIFY(c.prompt_run_peak_bytes <= c.device_bytes);
      // The runs really held that much KV cache next to the dense weights and experts.
      const uint64_t experts_resident =
          i == 0 ? session_->store()->total_bytes()
                 : c.expert_bytes / (3 * 128 * 128 * 4) * (3 * 128 * 128 * 4);
      QVERIFY(c.batch_run_peak_bytes >=
              dense + experts_resident + uint64_t(c.max_batch) * 27 * c.kv_bytes_per_token);
      QVERIFY(c.prompt_run_peak_bytes >=
              dense + experts_resident + 2 * uint64_t(c.max_prompt + 3) * c.kv_bytes_per_token);
      QVERIFY(c.batch_run_tokens_per_s > 0);
    }
  }

  void runs_that_do_not_fit_are_reported() {
    auto plan = plan_capacity(*session_, small_study());
    QVERIFY(plan.ok());
    const std::vector<int32_t> stream = session_->model().tokenizer().encode(
        "Summarize the following report on the quarterly results of the company.", true, false);
    CapacityRunSpec rs;
    rs.requests = 2;
    rs.prompt_tokens = 24;
    rs.generate_tokens = 3;
    // The same run, checked against a device one byte smaller than the dense weights.
    CapacityOutcome small = (*plan)[1];
    small.device_bytes = session_->model().weights().dense_bytes - 1;
    auto r = run_capacity_check(*session_, small, rs, stream, nullptr);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QVERIFY(!r->ok);
    QVERIFY2(r->error.find("exceeds the device budget") != std::string::npos, r->error.c_str());
    QCOMPARE(r->peak_running, 2);
    QCOMPARE(r->peak_kv_bytes, uint64_t{2 * 27 * 2048});
    // A plan that assumed another KV size per token is caught.
    CapacityOutcome wrong = (*plan)[1];
    wrong.kv_bytes_per_token += 4;
    r = run_capacity_check(*session_, wrong, rs, stream, nullptr);
    QVERIFY(r.ok());
    QVERIFY(!r->ok);
    QVERIFY2(r->error.find("KV cache") != std::string::npos, r->error.c_str());
    // No request at all is a failed run, not an error.
    rs.requests = 0;
    r = run_capacity_check(*session_, (*plan)[1], rs, stream, nullptr);
    QVERIFY(r.ok());
    QVERIFY(!r->ok);
  }

  void bad_budgets_are_named() {
    CapacitySpec spec = small_study();
    spec.budgets = {"60%", "10%"};
    auto r = plan_capacity(*session_, spec);
    QVERIFY(!r.ok());
    QVERIFY2(r.status().message().find("'10%'") != std::string::npos, r.status().message().c_str());
    QVERIFY2(r.status().message().find("minimum") != std::string::npos,
             r.status().message().c_str());

    spec = small_study();
    spec.device_bytes = session_->model().weights().dense_bytes;  // no room for experts
    r = plan_capacity(*session_, spec);
    QVERIFY(!r.ok());
    QVERIFY2(r.status().message().find("'100%'") != std::string::npos,
             r.status().message().c_str());

    spec = small_study();
    spec.budgets = {"lots"};
    r = plan_capacity(*session_, spec);
    QVERIFY(!r.ok());
    QVERIFY2(r.status().message().find("lots") != std::string::npos, r.status().message().c_str());
  }

  void experiment_runs_the_study() {
    ExperimentConfig c;
    c.workload.requests = 3;
    c.workload.max_new_tokens_cap = 2;
    c.budgets = {"60%"};
    c.predictors = {"none"};
    c.schedulers = {"fcfs"};
    c.arrival_rates = {10.0};
    c.profile_requests = 0;
    c.accuracy = false;
    c.capacity = small_study();
    std::vector<std::string> phases;
    ExperimentCallbacks cb;
    cb.progress = [&](const ExperimentProgress& p) {
      if (phases.empty() || phases.back() != p.phase) phases.push_back(p.phase);
    };
    auto r = run_experiment(*session_, c, {}, cb);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->points.size(), size_t{1});
    QCOMPARE(r->capacity.size(), size_t{2});
    QVERIFY(r->capacity[1].batch_run_ok);
    QCOMPARE(phases, (std::vector<std::string>{"point", "capacity"}));

    // A bad capacity budget is found before any point runs.
    c.capacity.budgets = {"1%"};
    int32_t points_done = 0;
    cb.point_done = [&](const PointResult&) {
      ++points_done;
      return Status::ok();
    };
    r = run_experiment(*session_, c, {}, cb);
    QVERIFY(!r.ok());
    QCOMPARE(points_done, 0);
  }
};

QTEST_GUILESS_MAIN(TestCapacityStudy)
#include "test_capacity_study.moc"
