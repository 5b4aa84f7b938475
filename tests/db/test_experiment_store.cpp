// The experiment store (schema v3): a hand-made ExperimentResult (two points with requests of
// every state and memory samples, a capacity study) is stored point by point and read back
// field for field; runs picked across two experiments come back in the order asked; unknown
// ids, runs that are not experiment points and damaged metrics are errors that say so.
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <string>
#include <vector>

#include "core/experiment/experiment_result.h"
#include "db/database.h"
#include "db/experiment_store.h"
#include "db/schema.h"

using namespace emoe;
using experiment::ExperimentResult;
using experiment::PointResult;

namespace {

experiment::RequestOutcome request(int64_t id, const std::string& state, double arrival,
                                   double admit, double first, double finish, int64_t generated) {
  experiment::RequestOutcome o;
  o.id = id;
  o.task = id % 2 ? "qa" : "summarization";
  o.state = state;
  o.stop_reason = state == "finished" ? "length" : "";
  o.timing.arrival_ms = arrival;
  o.timing.admit_ms = admit;
  o.timing.first_token_ms = first;
  o.timing.finish_ms = finish;
  o.timing.slo_ttft_ms = id % 2 ? 50.0 : 0.0;
  o.timing.slo_e2e_ms = 400.0;
  o.timing.prompt_tokens = 10 + id;
  o.timing.generated_tokens = generated;
  o.timing.rejected = state == "rejected";
  o.prefill_done_ms = first > 0 ? first - 0.5 : -1.0;
  o.scored_tokens = generated;
  o.agreeing_tokens = generated / 2;
  o.matches_reference = id == 0;
  o.metrics = sched::compute_request_metrics(o.timing);
  return o;
}

PointResult point(int32_t index, const std::string& scheduler, double rate) {
  PointResult p;
  p.point.index = index;
  p.point.budget = "60%";
  p.point.predictor = "emoe-a";
  p.point.interval = 40;
  p.point.scheduler = scheduler;
  p.point.arrival_rate = rate;
  p.point.routing = engine::RoutingMode::Fallback;
  p.point.seed = 7;
  p.requests = {request(0, "finished", 0.0, 1.0, 12.0, 80.0, 8),
                request(1, "finished", 5.0, 9.0, 70.0, 500.0, 12),
                request(2, "rejected", 9.0, -1.0, -1.0, -1.0, 0)};
  p.run.requests = 3;
  p.run.completed = 2;
  p.run.rejected = 1;
  p.run.slo_met = 1;
  p.run.slo_attainment = 1.0 / 3.0;
  p.run.throughput_tokens_per_s = 40.0 + index;
  p.run.mean_e2e_ms = 283.0;
  p.run.p99_e2e_ms = 495.0;
  p.run.p90_e2e_ms = 490.5;
  p.run.p90_ttft_ms = 64.25;
  p.hits = 100 + static_cast<uint64_t>(index);
  p.misses = 25;
  p.loads = 7;
  p.bytes_moved = 7u * 131072u;
  p.hit_rate = 0.8;
  p.peak_total_bytes = uint64_t{3} << 30;  // above 2^31: 64-bit columns
  p.accuracy_measured = true;
  p.accuracy = 0.625;
  p.exact_match_rate = 0.5;
  p.predictor_invocations = 2;
  p.memory = {{0.5, 1000, 2000, 4000, 300, 50}, {1.5, 1000, 3000, 4000, 600, 50}};
  return p;
}

ExperimentResult experiment_with(const std::string& name) {
  ExperimentResult r;
  r.config.name = name;
  r.config.schedulers = {"emoe", "fcfs"};
  r.config.arrival_rates = {2.0};
  r.model.path = "/models/demo.gguf";
  r.model.arch = "llama";
  r.model.n_layer = 6;
  r.model.n_expert = 8;
  r.machine.cpu = "Test CPU \"quoted\"";
  r.machine.cores = 2;
  r.started_at_us = 1700000000000000;
  experiment::CapacityOutcome c;
  c.budget = "60%";
  c.max_batch = 9;
  c.max_prompt = 1234;
  c.batch_run_ok = true;
  c.prompt_run_error = "over budget by 12 bytes";
  c.device_bytes = uint64_t{5} << 30;
  r.capacity = {c};
  r.wall_seconds = 12.5;
  return r;
}

void compare_points(const PointResult& got, const PointResult& want) {
  QCOMPARE(QString::fromStdString(got.point.label()), QString::fromStdString(want.point.label()));
  QCOMPARE(got.point.index, want.point.index);
  QCOMPARE(got.run.requests, want.run.requests);
  // Metrics are stored as JSON numbers with 9 significant digits.
  QVERIFY(std::abs(got.run.slo_attainment - want.run.slo_attainment) < 1e-8);
  QCOMPARE(got.run.throughput_tokens_per_s, want.run.throughput_tokens_per_s);
  QCOMPARE(got.run.p90_e2e_ms, want.run.p90_e2e_ms);
  QCOMPARE(got.run.p90_ttft_ms, want.run.p90_ttft_ms);
  QCOMPARE(got.hits, want.hits);
  QCOMPARE(got.bytes_moved, want.bytes_moved);
  QCOMPARE(got.peak_total_bytes, want.peak_total_bytes);
  QCOMPARE(got.accuracy, want.accuracy);
  QCOMPARE(got.accuracy_measured, want.accuracy_measured);
  QCOMPARE(got.requests.size(), want.requests.size());
  for (size_t i = 0; i < want.requests.size(); ++i) {
    const auto& a = got.requests[i];
    const auto& b = want.requests[i];
    QCOMPARE(a.id, b.id);
    QCOMPARE(a.state, b.state);
    QCOMPARE(a.task, b.task);
    QCOMPARE(a.timing.first_token_ms, b.timing.first_token_ms);
    QCOMPARE(a.timing.slo_ttft_ms, b.timing.slo_ttft_ms);
    QCOMPARE(a.prefill_done_ms, b.prefill_done_ms);
    QCOMPARE(a.agreeing_tokens, b.agreeing_tokens);
    QCOMPARE(a.matches_reference, b.matches_reference);
    // Derived metrics are recomputed from the timing on load.
    QCOMPARE(a.metrics.slo_met, b.metrics.slo_met);
    QCOMPARE(a.metrics.e2e_ms, b.metrics.e2e_ms);
  }
  QCOMPARE(got.memory.size(), want.memory.size());
  for (size_t i = 0; i < want.memory.size(); ++i) {
    QCOMPARE(got.memory[i].time_ms, want.memory[i].time_ms);
    QCOMPARE(got.memory[i].total(), want.memory[i].total());
  }
}

}  // namespace

class TestExperimentStore : public QObject {
  Q_OBJECT

 private slots:
  void store_and_load_round_trip() {
    QTemporaryDir dir;
    auto db = db::open_store(dir.filePath("h.db").toStdString());
    QVERIFY2(db.ok(), db.status().message().c_str());
    ExperimentResult r = experiment_with("sweep");
    r.points = {point(0, "emoe", 2.0), point(1, "fcfs", 2.0)};
    auto id = db::begin_experiment(**db, r, std::nullopt);
    QVERIFY2(id.ok(), id.status().message().c_str());
    // Listed as running before any point is stored.
    auto listed = db::list_experiments(**db);
    QVERIFY(listed.ok());
    QCOMPARE(listed->size(), size_t{1});
    QCOMPARE(QString::fromStdString(listed->at(0).status), QString("running"));
    QCOMPARE(listed->at(0).points, int64_t{0});
    std::vector<int64_t> runs;
    for (const PointResult& p : r.points) {
      auto run = db::store_experiment_point(**db, *id, p);
      QVERIFY2(run.ok(), run.status().message().c_str());
      runs.push_back(*run);
    }
    QVERIFY(runs[1] > runs[0]);
    QVERIFY(db::finish_experiment(**db, *id, r, "done").is_ok());

    auto back = db::load_experiment(**db, *id);
    QVERIFY2(back.ok(), back.status().message().c_str());
    QCOMPARE(back->experiment_id, *id);
    QCOMPARE(QString::fromStdString(back->config.name), QString("sweep"));
    QCOMPARE(back->config.schedulers.size(), size_t{2});
    QCOMPARE(QString::fromStdString(back->model.path), QString("/models/demo.gguf"));
    QCOMPARE(back->model.n_expert, int64_t{8});
    QCOMPARE(QString::fromStdString(back->machine.cpu), QString("Test CPU \"quoted\""));
    QCOMPARE(back->wall_seconds, 12.5);
    QCOMPARE(back->started_at_us, r.started_at_us);
    QVERIFY(!back->cancelled);
    QCOMPARE(back->capacity.size(), size_t{1});
    QCOMPARE(back->capacity[0].max_batch, 9);
    QCOMPARE(back->capacity[0].max_prompt, int64_t{1234});
    QCOMPARE(back->capacity[0].device_bytes, uint64_t{5} << 30);
    QVERIFY(back->capacity[0].batch_run_ok);
    QVERIFY(!back->capacity[0].prompt_run_ok);
    QCOMPARE(QString::fromStdString(back->capacity[0].prompt_run_error),
             QString("over budget by 12 bytes"));
    QCOMPARE(back->points.size(), size_t{2});
    for (size_t i = 0; i < 2; ++i) {
      compare_points(back->points[i], r.points[i]);
      QCOMPARE(back->points[i].run_id, runs[i]);
    }
    listed = db::list_experiments(**db);
    QCOMPARE(QString::fromStdString(listed->at(0).status), QString("done"));
    QCOMPARE(listed->at(0).points, int64_t{2});
  }

  void runs_across_experiments_in_given_order() {
    QTemporaryDir dir;
    auto db = db::open_store(dir.filePath("h.db").toStdString());
    QVERIFY(db.ok());
    ExperimentResult a = experiment_with("first");
    ExperimentResult b = experiment_with("second");
    auto ida = db::begin_experiment(**db, a, std::nullopt);
    auto idb = db::begin_experiment(**db, b, std::nullopt);
    QVERIFY(ida.ok() && idb.ok());
    auto ra = db::store_experiment_point(**db, *ida, point(0, "emoe", 1.0));
    auto rb = db::store_experiment_point(**db, *idb, point(0, "sjf", 4.0));
    QVERIFY(ra.ok() && rb.ok());
    const std::vector<int64_t> pick = {*rb, *ra};
    auto both = db::load_experiment_runs(**db, pick);
    QVERIFY2(both.ok(), both.status().message().c_str());
    QCOMPARE(both->points.size(), size_t{2});
    QCOMPARE(QString::fromStdString(both->points[0].point.scheduler), QString("sjf"));
    QCOMPARE(QString::fromStdString(both->points[1].point.scheduler), QString("emoe"));
    // The header is the first run's experiment.
    QCOMPARE(QString::fromStdString(both->config.name), QString("second"));
  }

  void unknown_ids_and_damage_are_errors() {
    QTemporaryDir dir;
    auto db = db::open_store(dir.filePath("h.db").toStdString());
    QVERIFY(db.ok());
    auto missing = db::load_experiment(**db, 42);
    QVERIFY(!missing.ok());
    QCOMPARE(missing.status().code(), StatusCode::NotFound);
    QVERIFY(missing.status().message().find("42") != std::string::npos);

    // A runs row that is not an experiment point.
    QVERIFY((*db)
                ->exec("INSERT INTO runs(name, config, metrics) VALUES ('serve', '{}', '{}')")
                .is_ok());
    const int64_t serve_run = (*db)->last_insert_rowid();
    const std::vector<int64_t> pick = {serve_run};
    auto not_point = db::load_experiment_runs(**db, pick);
    QVERIFY(!not_point.ok());
    QVERIFY(not_point.status().message().find("not an experiment point") != std::string::npos);
    QVERIFY(!db::load_experiment_runs(**db, {}).ok());

    // Damaged metrics JSON: Corrupt naming the run.
    ExperimentResult r = experiment_with("x");
    auto id = db::begin_experiment(**db, r, std::nullopt);
    auto run = db::store_experiment_point(**db, *id, point(0, "emoe", 1.0));
    QVERIFY(run.ok());
    QVERIFY(
        (*db)
            ->exec("UPDATE runs SET metrics = '{\"index\": ' WHERE id = " + std::to_string(*run))
            .is_ok());
    auto damaged = db::load_experiment(**db, *id);
    QVERIFY(!damaged.ok());
    QCOMPARE(damaged.status().code(), StatusCode::Corrupt);
    QVERIFY2(damaged.status().message().find("run " + std::to_string(*run)) != std::string::npos,
             damaged.status().message().c_str());
  }
};

QTEST_GUILESS_MAIN(TestExperimentStore)
#include "test_experiment_store.moc"
