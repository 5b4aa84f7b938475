#include "ui/experiment_worker.h"

#include <QMetaType>
#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "core/engine/compute_device.h"
#include "core/engine/inference_session.h"
#include "core/experiment/experiment_runner.h"
#include "core/model/demo_model.h"
#include "core/model/model.h"
#include "core/sched/serving_loop.h"
#include "db/experiment_recording.h"
#include "db/machine_profiles.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

using Clock = std::chrono::steady_clock;

// Signals are queued to the GUI thread; more often than its ~30 Hz tick would only queue up.
constexpr auto kFlushInterval = std::chrono::milliseconds(30);
constexpr auto kProgressInterval = std::chrono::milliseconds(50);

}  // namespace

double ExperimentProgressInfo::fraction() const {
  // Shares of the bar: rough, but they keep it moving forward through every phase.
  constexpr double kWarmUp = 0.05, kCapacity = 0.15;
  const double cap = capacity ? kCapacity : 0.0, pts = 1.0 - kWarmUp - cap;
  const auto share = [](double done, double total) {
    return total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
  };
  const double in_point = share(static_cast<double>(requests_done), static_cast<double>(requests));
  if (phase == "warm-up") return kWarmUp * in_point;
  if (phase == "point") return kWarmUp + pts * share(point + in_point, points);
  if (phase == "capacity") return kWarmUp + pts + cap * share(point, points);
  return 0;  // opening the model
}

// The job's state on its thread: batches request events and throttles progress so the GUI
// thread gets a bounded number of queued signals whatever the experiment's size.
class ExperimentWorker::Run {
 public:
  explicit Run(ExperimentWorker* w) : w_(w) {}

  void progress(ExperimentProgressInfo p, bool force) {
    const auto now = Clock::now();
    const bool changed = p.point != last_progress_.point || p.phase != last_progress_.phase;
    if (!force && !changed && now - last_progress_at_ < kProgressInterval) return;
    last_progress_at_ = now;
    last_progress_ = p;
    emit w_->progress(p);
  }

  void event(int32_t point, const sched::RequestEvent& e) {
    using K = sched::RequestEvent::Kind;
    TimelineEvent t;
    t.point = point;
    t.id = e.id;
    t.time_ms = e.time_ms;
    std::lock_guard lock(mu_);
    if (point != point_) {
      tokens_.clear();
      point_ = point;
    }
    switch (e.kind) {
      case K::Arrived:
        t.kind = TimelineEvent::Arrived;
        break;
      case K::Admitted:
        t.kind = TimelineEvent::Admitted;
        break;
      case K::Rejected:
        t.kind = TimelineEvent::Rejected;
        break;
      case K::Finished:
        t.kind = TimelineEvent::Finished;
        t.tokens = tokens_[e.id];
        break;
      case K::Token:
        if (tokens_[e.id]++ > 0) return;  // only the first one changes the timeline
        t.kind = TimelineEvent::FirstToken;
        break;
    }
    pending_.push_back(t);
    if (Clock::now() - last_flush_ >= kFlushInterval) flush_locked();
  }

  void flush() {
    std::lock_guard lock(mu_);
    flush_locked();
  }

 private:
  ExperimentWorker* w_;
  // The runner may call request_event from its serving loop's thread; everything below up to
  // last_flush_ is guarded.
  std::mutex mu_;
  std::vector<TimelineEvent> pending_;
  std::unordered_map<int64_t, int64_t> tokens_;  // request id -> tokens seen in this point
  int32_t point_ = -1;
  Clock::time_point last_flush_ = Clock::now();
  Clock::time_point last_progress_at_{};
  ExperimentProgressInfo last_progress_;

  void flush_locked() {
    last_flush_ = Clock::now();
    if (pending_.empty()) return;
    std::vector<TimelineEvent> batch;
    batch.swap(pending_);
    emit w_->request_events(batch);  // under the lock, so batches arrive in order
  }
};

ExperimentWorker::ExperimentWorker(QObject* parent) : QObject(parent) {
  qRegisterMetaType<emoe::ui::ExperimentProgressInfo>();
  qRegisterMetaType<emoe::ui::TimelineEvent>();
  qRegisterMetaType<std::vector<emoe::ui::TimelineEvent>>();
  qRegisterMetaType<emoe::experiment::PointResult>();
  qRegisterMetaType<emoe::experiment::ExperimentResult>();
}

ExperimentWorker::~ExperimentWorker() {
  cancel();
  if (thread_) thread_->wait();
}

bool ExperimentWorker::start(ExperimentJob job) {
  if (running_.exchange(true)) return false;
  if (thread_) thread_->wait();  // the previous job has already emitted its last signal
  cancel_.store(false);
  thread_.reset(QThread::create([this, job = std::move(job)] { run_job(job); }));
  thread_->setObjectName("experiment");
  thread_->start();
  return true;
}

void ExperimentWorker::cancel() { cancel_.store(true); }

void ExperimentWorker::run_job(const ExperimentJob& job) {
  Run run(this);
  // running() turns false before the last signal, so its handler may start the next run.
  const auto fail = [&](const QString& m) {
    run.flush();
    running_.store(false);
    emit failed(m);
  };
  // The device first, as `emoe experiment` does: a bad name fails before the model loads, and
  // the stored configuration names the backend that runs ("cpu" when CUDA is missing).
  experiment::ExperimentConfig config = job.config;
  auto device = engine::select_compute_device(config.device);
  if (!device.ok()) {
    return fail(qs(device.status().with_context("the configuration's device").message()));
  }
  if (!device->notice.empty()) {
    emit log_message(1, tr("Experiment: %1").arg(qs(device->notice)));
  } else if (device->gpu) {
    emit log_message(0, tr("Experiment: computing on %1").arg(qs(device->name)));
  }
  config.device = experiment::backend_device_name(*device);

  ExperimentProgressInfo p;
  p.phase = "model";
  p.capacity = config.capacity.enabled;
  p.points = static_cast<int32_t>(experiment::expand_matrix(config).size());

  // The model: the demo is generated on this thread when missing (a few seconds).
  std::string model_path = job.model_path.toStdString();
  if (model_path.empty() || model_path == "demo") {
    p.label = tr("generating the demo model");
    run.progress(p, true);
    auto demo = model::ensure_demo_model(job.demo_dir.toStdString(),
                                         [this](double) { return !cancel_.load(); });
    if (!demo.ok()) return fail(tr("demo model: %1").arg(qs(demo.status().message())));
    model_path = *demo;
  }
  p.label = tr("opening %1").arg(qs(model_path));
  run.progress(p, true);
  auto session = engine::InferenceSession::open(model_path);
  if (!session.ok()) return fail(qs(session.status().message()));
  const model::Model& model = (*session)->model();
  if (!model.config().is_moe()) {
    return fail(
        tr("'%1' has no experts: experiments need a mixture-of-experts model").arg(qs(model_path)));
  }

  experiment::ExperimentResult header;
  header.config = config;
  header.model = experiment::describe_experiment_model(model);
  header.machine = experiment::describe_machine();

  // The scheduler's inputs as `emoe profile` stored them for this model, as the CLI uses them.
  experiment::MachineProfile profile;
  std::unique_ptr<db::ExperimentRecording> recording;
  int64_t experiment_id = 0;
  if (!job.db_path.isEmpty()) {
    const std::string path = job.db_path.toStdString();
    auto p = db::load_machine_profile(path, model);
    if (!p.ok()) return fail(tr("database %1: %2").arg(job.db_path, qs(p.status().message())));
    if (*p) profile = (*p)->scheduler_inputs();
    auto r = db::ExperimentRecording::open(path, model, header);
    if (!r.ok()) return fail(tr("database %1: %2").arg(job.db_path, qs(r.status().message())));
    recording = std::move(*r);
    experiment_id = recording->experiment_id();
  }
  emit started(experiment_id, qs(model_path));

  experiment::ExperimentCallbacks cb;
  cb.cancel = &cancel_;
  cb.progress = [&](const experiment::ExperimentProgress& e) {
    ExperimentProgressInfo q;
    q.phase = qs(e.phase);
    q.point = e.point;
    q.points = e.points;
    q.requests_done = e.requests_done;
    q.requests = e.requests;
    q.label = qs(e.label);
    q.capacity = config.capacity.enabled;
    run.flush();  // events of this point before its progress
    run.progress(q, false);
  };
  cb.request_event = [&](int32_t point, const sched::RequestEvent& e) { run.event(point, e); };
  cb.point_done = [&](const experiment::PointResult& r) -> Status {
    run.flush();
    experiment::PointResult stored = r;
    if (recording) {
      auto id = recording->store_point(r);
      if (!id.ok()) return id.status().with_context("storing point '" + r.point.label() + "'");
      stored.run_id = *id;
    }
    emit point_finished(stored);
    return Status::ok();
  };
  // The runner's own notices (a full-model reference that does not fit on the GPU).
  cb.notice = [this](const std::string& n) {
    emit log_message(1, tr("Experiment: %1").arg(qs(n)));
  };
  auto result = experiment::run_experiment(**session, config, profile, cb, &*device);
  run.flush();
  if (!result.ok()) {
    if (recording) (void)recording->finish(header, "failed");
    return fail(qs(result.status().message()));
  }
  result->model = header.model;
  result->machine = header.machine;
  result->experiment_id = experiment_id;
  if (recording) {
    const std::string status = result->cancelled ? "cancelled" : "done";
    Status s = recording->finish(*result, status);
    if (!s.is_ok()) return fail(tr("finishing the experiment: %1").arg(qs(s.message())));
    // The stored copy is what the list, comparisons and reports read back later.
    auto stored = recording->load();
    if (!stored.ok()) return fail(qs(stored.status().message()));
    result = std::move(stored);
  }
  running_.store(false);
  emit finished(*result);
}

}  // namespace emoe::ui
