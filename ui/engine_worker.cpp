#include "ui/engine_worker.h"

#include <filesystem>

#include "core/common/json_writer.h"
#include "core/experts/expert_store.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model.h"
#include "core/model/model_config.h"
#include "core/predict/routing_history_recorder.h"
#include "db/recording_session.h"
#include "ui/model_summary.h"
#include "ui/sensitivity_store.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

int64_t to_us(std::chrono::steady_clock::time_point t) {
  // RoutingRecorder::now_us() is steady_clock since its epoch, in microseconds.
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

EngineController::Worker::Worker(EngineController* controller) : ctl_(controller) {}

EngineController::Worker::~Worker() { close_model(); }

void EngineController::Worker::enqueue(Command command) {
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(std::move(command));
  }
  QMetaObject::invokeMethod(
      this, [this] { run_next(); }, Qt::QueuedConnection);
}

void EngineController::Worker::run_next() {
  Command c;
  {
    std::lock_guard lock(queue_mu_);
    if (queue_.empty()) return;
    c = std::move(queue_.front());
    queue_.pop_front();
  }
  c(*this);
}

template <typename F>
void EngineController::Worker::emit_later(F&& f) {
  QMetaObject::invokeMethod(ctl_, std::forward<F>(f), Qt::QueuedConnection);
}

void EngineController::Worker::log(int level, const QString& message) {
  emit_later([c = ctl_, level, message] { emit c->log_message(level, message); });
}

Result<engine::SessionReport> EngineController::Worker::configure(engine::InferenceSession& session,
                                                                  const EngineSettings& s) {
  if (device_spec_.empty() || s.device != device_spec_) {
    auto d = engine::select_compute_device(s.device);
    if (!d.ok()) return d.status();
    device_ = std::move(d).value();
    device_spec_ = s.device;
    if (!device_.notice.empty()) {
      log(1, qs(device_.notice));
    } else if (device_.gpu) {
      log(0, QStringLiteral("computing on %1").arg(qs(device_.name)));
    }
  }
  engine::SessionSettings o;
  o.budget_percent = s.budget_percent;
  o.mode = s.mode;
  // eMoE's planner decides residency; on-demand loads may only evict unplanned experts.
  o.policy = s.predictor != "none" ? experts::EvictionPolicy::Pinned : s.policy;
  o.n_threads = s.n_threads;
  o.n_ctx = s.n_ctx;
  o.device = device_.gpu;
  return session.configure(o);
}

std::string EngineController::Worker::config_json() const {
  const engine::SessionReport& r = session_->report();
  JsonWriter j;
  j.begin_object().key("command").value("studio");
  j.key("threads").value(int64_t{settings_.n_threads}).key("ctx").value(r.n_ctx);
  j.key("kv_type").value("f32");
  j.key("device").value(session_->engine() ? session_->engine()->backend_name() : "cpu");
  j.key("routing").value(engine::routing_mode_name(settings_.mode));
  j.key("budget_percent").value(settings_.budget_percent);
  if (r.expert_budget_bytes > 0) {
    j.key("budget_bytes").value(r.expert_budget_bytes);
    j.key("policy").value(experts::policy_name(settings_.policy));
  } else {
    j.key("budget_bytes").null().key("policy").null();
  }
  j.end_object();
  return j.str();
}

EngineReport EngineController::Worker::report() const {
  EngineReport r;
  r.settings = settings_;
  if (!session_) return r;
  const engine::SessionReport& s = session_->report();
  r.expert_budget_bytes = s.expert_budget_bytes;
  r.all_expert_bytes = s.all_expert_bytes;
  r.min_budget_bytes = s.min_budget_bytes;
  r.experts_per_layer = s.experts_per_layer;
  if (const engine::Engine* e = session_->engine()) r.backend = e->backend_name();
  if (device_spec_ == settings_.device) {
    if (device_.gpu) r.device_name = device_.name;
    r.device_notice = device_.notice;
  }
  return r;
}

void EngineController::Worker::close_recording() {
  if (!recording_) return;
  if (session_) {
    session_->remove_observer(&recording_->recorder());
    session_->remove_expert_observer(&recording_->recorder());
  }
  Status st = recording_->close();
  recording_.reset();
  if (!st.is_ok())
    log(1, QStringLiteral("recording closed with an error: %1").arg(qs(st.message())));
}

void EngineController::Worker::close_model() {
  close_recording();
  loop_.reset();
  session_.reset();  // stops the tier's copy thread before the collector goes
  collector_.reset();
  ctl_->telemetry_.reset();
}

void EngineController::Worker::open_recording() {
  close_recording();
  if (db_path_.isEmpty() || !session_) return;
  auto rs = db::RecordingSession::open(db_path_.toStdString(),
                                       db::describe_model(session_->model()), config_json());
  if (!rs.ok()) {
    const QString msg = qs(rs.status().message());
    log(2, QStringLiteral("recording is off: %1").arg(msg));
    emit_later([c = ctl_, msg] { emit c->database_failed(msg); });
    return;
  }
  recording_ = std::move(rs).value();
  session_->add_observer(&recording_->recorder());
  session_->add_expert_observer(&recording_->recorder());
  const qint64 id = recording_->session_id();
  emit_later([c = ctl_, p = db_path_, id] { emit c->database_opened(p, id); });
}

void EngineController::Worker::open_model(const QString& path, uint64_t load_epoch) {
  // The load goes into a new session; the current one (model, settings, recording) stays until
  // the new one is ready, so a bad file or a cancel leaves the window with what it had.
  BusyGuard busy{this};
  const auto cancelled = [&] { return ctl_->load_epoch_.load() != load_epoch; };
  const auto progress = [&](double f, const char* stage) {
    emit_later([c = ctl_, f, s = QString::fromLatin1(stage)] { emit c->load_progress(f, s); });
  };
  const auto fail = [&](const QString& msg) {
    log(2, msg);
    busy.release();
    emit_later([c = ctl_, msg] { emit c->model_failed(msg); });
  };
  const QString cancel_msg = QStringLiteral("loading '%1' was cancelled").arg(path);
  const std::string p = path.toStdString();

  // Model::load repeats the first two stages; mapping is lazy and parsing is cheap next to
  // building the tokenizer, and doing them first gives early errors and cancel points.
  progress(0.0, "mapping file");
  if (cancelled()) return fail(cancel_msg);
  {
    auto file = gguf::GgufFile::open(p);
    if (!file.ok()) return fail(qs(file.status().message()));
    if (cancelled()) return fail(cancel_msg);
    progress(0.25, "reading metadata");
    auto config = model::ModelConfig::from_gguf(**file);
    if (!config.ok()) return fail(qs(config.status().with_context(p).message()));
  }  // unmapped before the full load
  if (cancelled()) return fail(cancel_msg);
  progress(0.5, "building tokenizer");
  auto m = model::Model::load(p);
  if (!m.ok()) return fail(qs(m.status().message()));
  if (cancelled()) return fail(cancel_msg);

  auto next = std::make_unique<engine::InferenceSession>(std::move(m).value());
  EngineSettings settings = settings_;
  auto r = configure(*next, settings);
  if (!r.ok()) {
    log(1, QStringLiteral("the settings do not fit this model (%1); using all experts")
               .arg(qs(r.status().message())));
    EngineSettings d;
    d.n_threads = settings_.n_threads;
    // A GPU that opened is kept; if every expert does not fit it either, the CPU runs.
    d.device = device_spec_ == settings.device ? settings.device : d.device;
    r = configure(*next, d);
    if (!r.ok() && d.device != "cpu") {
      d.device = "cpu";
      r = configure(*next, d);
    }
    if (!r.ok()) return fail(qs(r.status().with_context(p).message()));
    settings = d;
  }
  if (cancelled()) return fail(cancel_msg);

  close_model();
  session_ = std::move(next);
  settings_ = settings;
  collector_ =
      std::make_unique<TelemetryCollector>(ctl_->telemetry_, session_->model(), ctl_->origin_);
  session_->add_observer(collector_.get());
  session_->add_expert_observer(collector_.get());
  collector_->set_cache(session_->cache());
  ModelSummary summary = summarize_model(session_->model(), path);
  progress(1.0, "ready");
  busy.release();
  emit_later([c = ctl_, s = std::move(summary)] { emit c->model_loaded(s); });
  emit_later([c = ctl_, rep = report()] { emit c->settings_applied(rep); });
  open_recording();
}

void EngineController::Worker::set_database(const QString& path) {
  db_path_ = path;
  if (path.isEmpty()) {
    close_recording();
    return;
  }
  open_recording();  // without a model: opened with the next one
}

void EngineController::Worker::apply_settings(const EngineSettings& settings) {
  if (!session_) {
    settings_ = settings;  // checked against the next model
    emit_later([c = ctl_, rep = report()] { emit c->settings_applied(rep); });
    return;
  }
  if (settings.predictor != "none" && settings.mode == engine::RoutingMode::All) {
    const QString msg = QStringLiteral("predictor '%1' needs exact or fallback routing")
                            .arg(qs(settings.predictor));
    log(1, QStringLiteral("settings not applied: %1").arg(msg));
    emit_later([c = ctl_, msg] { emit c->settings_failed(msg); });
    return;
  }
  loop_.reset();  // a new configuration (and tier): the loop starts over
  loop_requests_ = 0;
  auto r = configure(*session_, settings);
  collector_->set_cache(session_->cache());  // a new tier, or the old one after an error
  if (!r.ok()) {
    const QString msg = qs(r.status().message());
    log(1, QStringLiteral("settings not applied: %1").arg(msg));
    emit_later([c = ctl_, msg] { emit c->settings_failed(msg); });
    return;
  }
  settings_ = settings;
  emit_later([c = ctl_, rep = report()] { emit c->settings_applied(rep); });
  if (recording_) {
    Status st = recording_->update_config(config_json());
    if (!st.is_ok()) log(1, QStringLiteral("recording: %1").arg(qs(st.message())));
  }
}

void EngineController::Worker::finish(RequestStats stats) {
  job_done();  // busy() is false by the time request_finished arrives (unless more is queued)
  ctl_->telemetry_.push_finished(stats);
  emit_later([c = ctl_, s = std::move(stats)] { emit c->request_finished(s); });
}

void EngineController::Worker::run_request(const PromptRequest& request, Clock::time_point arrival,
                                           uint64_t stop_epoch) {
  // Every path ends in finish(), which releases the busy count.
  RequestStats st;
  st.request_id = next_request_id_++;
  st.prompt = request.text.toStdString();
  const bool emoe = settings_.predictor != "none";
  st.task = request.task.toStdString();
  if (st.task == "auto" || (st.task.empty() && emoe)) {
    st.task = std::string(sched::task_name(classifier_.classify(st.prompt).task));
  } else if (st.task.empty()) {
    st.task = "chat";
  }
  st.arrival_s = std::chrono::duration<double>(arrival - ctl_->origin_).count();
  st.slo_ttft_ms = request.slo_ttft_ms;
  st.slo_e2e_ms = request.slo_e2e_ms;
  const auto dropped = [&] { return ctl_->stop_epoch_.load() != stop_epoch; };
  if (dropped()) {
    st.stop_reason = "cancelled";
    return finish(std::move(st));
  }
  // stop() bumps the epoch before raising the flag, so a stop that lands between these lines
  // is caught by the second check, and one after it by generate().
  ctl_->cancel_.store(false);
  if (dropped()) {
    st.stop_reason = "cancelled";
    return finish(std::move(st));
  }
  const auto fail = [&](const std::string& msg) {
    st.stop_reason = "error";
    st.error = msg;
    log(2, QStringLiteral("request %1 failed: %2").arg(st.request_id).arg(qs(msg)));
    finish(std::move(st));
  };
  if (!session_) return fail("no model is open");
  const model::Model& model = session_->model();
  const std::vector<int32_t> prompt = model.tokenizer().encode(st.prompt, true, false);
  if (prompt.empty()) return fail("the prompt has no tokens");
  st.prompt_tokens = static_cast<int64_t>(prompt.size());

  // eMoE's step before the request: predict (every p requests), plan, load.
  std::optional<predict::EmoeStep> step;
  std::optional<predict::RoutingHistoryRecorder> routing;
  experts::CacheStats before;
  if (emoe) {
    Status ls = ensure_loop();
    if (!ls.is_ok()) return fail(ls.message());
    before = session_->cache()->stats();
    auto planned = loop_->plan(st.task, st.prompt_tokens, request.max_new_tokens);
    if (!planned.ok()) return fail(planned.status().message());
    step = std::move(planned).value();
    routing.emplace(loop_->shape().n_layer, loop_->shape().n_expert,
                    predict::RoutingSource::Router);
    session_->add_observer(&*routing);
  }
  struct ObserverGuard {
    engine::InferenceSession* s;
    engine::ForwardObserver* o;
    ~ObserverGuard() {
      if (o) s->remove_observer(o);
    }
  } routing_scope{session_.get(), routing ? &*routing : nullptr};

  emit_later([c = ctl_, id = st.request_id, t = qs(st.task)] { emit c->request_task(id, t); });
  emit_later([c = ctl_, id = st.request_id, t = request.text] { emit c->request_started(id, t); });
  collector_->begin_request(st.request_id, st.task);

  int32_t seq = -1;
  int64_t db_request = 0;
  std::optional<Clock::time_point> first_token;
  Clock::time_point last_token = arrival;
  std::vector<int32_t> generated;
  engine::RunHooks hooks;
  hooks.on_sequence = [&](int32_t s) {
    seq = s;
    if (routing) routing->bind_sequence(s, st.request_id, st.task);
    if (!recording_) return;
    db::RequestStart rs;
    rs.task = st.task;
    rs.text = st.prompt;
    rs.slo_ttft_ms = st.slo_ttft_ms;
    rs.slo_e2e_ms = st.slo_e2e_ms;
    rs.arrival_us = to_us(arrival);
    auto id = recording_->begin_request(s, rs);
    if (!id.ok()) {
      log(1, QStringLiteral("recording: %1").arg(qs(id.status().message())));
      return;
    }
    db_request = *id;
    emit_later([c = ctl_, rid = st.request_id, sid = recording_->session_id(), db_request] {
      emit c->request_recorded(rid, sid, db_request);
    });
  };
  hooks.on_token = [&](int32_t token) {
    last_token = Clock::now();
    if (!first_token) {
      first_token = last_token;
      if (db_request) (void)recording_->first_token(db_request, to_us(last_token));
    }
    generated.push_back(token);
    collector_->mark_step_start();
    return true;
  };
  engine::GenerateOptions go;
  go.max_new_tokens = request.max_new_tokens;
  go.sampling.temperature = static_cast<float>(request.temperature);
  go.sampling.seed = request.seed;
  go.stop_at_eos = !request.ignore_eos;
  go.cancel = &ctl_->cancel_;
  auto r = session_->run(prompt, go, hooks);
  const Clock::time_point end = Clock::now();
  collector_->end_request();
  if (r.ok() && static_cast<int64_t>(r->generated.size()) > r->decode_steps) {
    collector_->push_unrouted_token(
        static_cast<int32_t>(st.prompt_tokens + static_cast<int64_t>(r->generated.size()) - 1),
        r->generated.back());
  }

  if (db_request) {
    Status s = recording_->finish_request(seq, db_request, st.prompt_tokens,
                                          static_cast<int64_t>(generated.size()), to_us(end));
    if (s.is_ok()) s = recording_->writer().flush();  // queries right after see the request
    if (s.is_ok()) s = recording_->recorder().status();
    if (!s.is_ok()) {
      const QString msg = qs(s.message());
      emit_later([c = ctl_, msg] { emit c->database_failed(msg); });
      close_recording();
    }
  }

  st.generated_tokens = static_cast<int64_t>(generated.size());
  st.output = model.tokenizer().decode(generated, true, false);
  if (first_token) {
    st.ttft_ms = std::chrono::duration<double, std::milli>(*first_token - arrival).count();
    st.e2e_ms = std::chrono::duration<double, std::milli>(last_token - arrival).count();
  } else {
    st.e2e_ms = std::chrono::duration<double, std::milli>(end - arrival).count();
  }
  if (routing && seq >= 0) {
    // A failed or cancelled request is not observed: its routing is partial.
    if (r.ok() && r->stop != engine::StopReason::Cancelled) {
      auto rec = routing->finish_sequence(seq);
      if (!rec.ok()) return fail(rec.status().message());
      auto observed = loop_->observe(*rec);
      if (!observed.ok()) return fail(observed.status().message());
      push_prediction(st, *step, *rec, before);
    } else {
      routing->unbind_sequence(seq);
    }
  }
  if (!r.ok()) return fail(r.status().message());
  st.prefill_tok_s = r->prefill_seconds > 0 ? r->prompt_tokens / r->prefill_seconds : 0;
  st.decode_tok_s = r->decode_seconds > 0 ? r->decode_steps / r->decode_seconds : 0;
  st.stop_reason = engine::stop_reason_name(r->stop);
  finish(std::move(st));
}

Status EngineController::Worker::ensure_loop() {
  if (loop_) return Status::ok();
  if (!session_ || session_->cache() == nullptr) {
    return invalid_argument("predictor '" + settings_.predictor +
                            "' needs a device tier (exact or fallback routing)");
  }
  const model::ModelConfig& cfg = session_->model().config();
  predict::HistoryShape shape;
  shape.n_layer = static_cast<int32_t>(cfg.n_layer);
  shape.n_expert = static_cast<int32_t>(cfg.n_expert);
  shape.k = static_cast<int32_t>(cfg.n_expert_used);
  predict::EmoeLoopOptions o;
  o.predictor = settings_.predictor;
  o.interval = settings_.interval;
  o.task_aware = settings_.task_aware;
  o.mode = settings_.mode;
  if (settings_.task_aware) {
    const SensitivityMatrix m = read_sensitivity();
    for (size_t t = 0; t < m.tasks.size(); ++t) o.sensitivity[m.tasks[t]] = m.values[t];
  }
  auto loop = predict::EmoeLoop::create(*session_->cache(), shape, std::move(o));
  if (!loop.ok()) return loop.status();
  loop_ = std::move(loop).value();
  loop_requests_ = 0;
  log(0, QStringLiteral("eMoE: predictor %1, p = %2, task-aware %3, %4 stored sensitivity "
                        "profile(s)")
             .arg(qs(settings_.predictor))
             .arg(settings_.interval)
             .arg(settings_.task_aware ? "on" : "off")
             .arg(loop_->options().sensitivity.size()));
  return Status::ok();
}

void EngineController::Worker::push_prediction(const RequestStats& st,
                                               const predict::EmoeStep& step,
                                               const predict::PromptRecord& rec,
                                               const experts::CacheStats& before) {
  const predict::HistoryShape& shape = loop_->shape();
  PredictionStats p;
  p.request_id = st.request_id;
  p.task = st.task;
  p.predictor = settings_.predictor;
  p.interval = settings_.interval;
  p.task_aware = settings_.task_aware;
  p.config_request = loop_requests_++;
  p.invoked = step.invoked;
  p.cold_start = step.cold_start;
  p.invocations = loop_->invocations();
  p.n_layer = shape.n_layer;
  p.n_expert = shape.n_expert;
  p.k = shape.k;
  p.predicted = step.planned;
  p.actual.assign(static_cast<size_t>(shape.n_layer) * static_cast<size_t>(shape.n_expert), 0);
  for (int32_t l = 0; l < shape.n_layer; ++l) {
    for (int32_t e = 0; e < shape.n_expert; ++e) {
      p.actual[static_cast<size_t>(l) * static_cast<size_t>(shape.n_expert) +
               static_cast<size_t>(e)] = rec.count(predict::HistogramPhase::All, l, e);
    }
    const std::vector<int32_t> a = rec.expert_set(predict::HistogramPhase::All, l, shape.k);
    if (a.empty()) continue;  // a dense layer, or no tokens: not scored
    const std::vector<int32_t>& planned = static_cast<size_t>(l) < p.predicted.size()
                                              ? p.predicted[static_cast<size_t>(l)]
                                              : std::vector<int32_t>{};
    for (int32_t e : a) {
      p.true_positives += std::find(planned.begin(), planned.end(), e) != planned.end();
    }
    p.predicted_total += static_cast<int64_t>(planned.size());
    p.actual_total += static_cast<int64_t>(a.size());
  }
  p.precision = p.predicted_total > 0
                    ? static_cast<double>(p.true_positives) / static_cast<double>(p.predicted_total)
                    : 0.0;
  p.recall = p.actual_total > 0
                 ? static_cast<double>(p.true_positives) / static_cast<double>(p.actual_total)
                 : 0.0;
  p.changed_layers = step.changed_layers;
  const experts::CacheStats after = session_->cache()->stats();
  p.loads = after.loads - before.loads;
  p.bytes_loaded = after.bytes_loaded - before.bytes_loaded;
  p.predict_ms = step.predict_seconds * 1e3;
  p.load_ms = step.load_seconds * 1e3;
  p.expert_budget_bytes = session_->report().expert_budget_bytes;
  p.peak_expert_bytes = after.peak_bytes;
  ctl_->telemetry_.push_prediction(std::move(p));
}

SensitivityMatrix EngineController::Worker::read_sensitivity() {
  if (!session_) {
    SensitivityMatrix m;
    m.note = QStringLiteral("no model is open");
    return m;
  }
  QStringList warnings;
  SensitivityMatrix m =
      read_sensitivity_matrix(db_path_.toStdString(), session_->model(), &warnings);
  for (const QString& w : warnings) log(1, w);
  return m;
}

void EngineController::Worker::load_sensitivity() {
  emit_later([c = ctl_, m = read_sensitivity()] { emit c->sensitivity_loaded(m); });
}

void EngineController::Worker::profile_sensitivity() {
  BusyGuard busy{this};
  const auto fail = [&](const QString& msg) {
    log(2, QStringLiteral("sensitivity profiling: %1").arg(msg));
    busy.release();
    emit_later([c = ctl_, msg] { emit c->sensitivity_failed(msg); });
  };
  if (!session_) return fail(QStringLiteral("no model is open"));
  if (db_path_.isEmpty()) return fail(QStringLiteral("no history database to store it in"));
  SensitivityRun run;
  run.threshold = settings_.sensitivity_threshold;
  run.n_threads = settings_.n_threads;
  run.progress = [this](double f, const std::string& task) {
    emit_later([c = ctl_, f, s = qs(task)] { emit c->sensitivity_progress(f, s); });
    return !ctl_->cancel_profile_.load();
  };
  auto n = profile_and_store_sensitivity(db_path_.toStdString(), session_->model(), run);
  if (!n.ok()) {
    return fail(ctl_->cancel_profile_.load() ? QStringLiteral("cancelled")
                                             : qs(n.status().message()));
  }
  loop_.reset();  // the next request plans with the new profiles
  busy.release();
  log(0, QStringLiteral("sensitivity profiled for %1 tasks (threshold %2)")
             .arg(*n)
             .arg(settings_.sensitivity_threshold));
  emit_later([c = ctl_, m = read_sensitivity()] { emit c->sensitivity_loaded(m); });
}

}  // namespace emoe::ui
