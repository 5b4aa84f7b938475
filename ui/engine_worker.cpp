#include "ui/engine_worker.h"

#include <QFileInfo>
#include <filesystem>

#include "core/common/json_writer.h"
#include "core/experts/expert_store.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model.h"
#include "core/model/model_config.h"
#include "db/recording_session.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// Arrays longer than this are shown as "[32000 strings]" in the Model dock.
constexpr size_t kMaxShownItems = 16;
// Longer values (chat templates) are cut; the dock is a table, not a viewer.
constexpr int kMaxValueChars = 512;

QString display_value(const gguf::Value& v) {
  if (const gguf::Value::Array* a = v.as_array(); a && a->size() > kMaxShownItems) {
    return QStringLiteral("[%1 %2s]")
        .arg(a->size())
        .arg(qs(std::string(gguf::value_type_name(v.elem_type()))));
  }
  QString s = qs(v.to_display_string(kMaxShownItems));
  if (s.size() > kMaxValueChars) {
    const qsizetype n = s.size();
    s.truncate(kMaxValueChars);
    s += QStringLiteral("... (%1 characters)").arg(n);
  }
  return s;
}

ModelSummary summarize(const model::Model& m, const QString& path) {
  const model::ModelConfig& c = m.config();
  const gguf::GgufFile& f = m.file();
  ModelSummary s;
  s.path = path;
  s.name = c.name.empty() ? QFileInfo(path).fileName() : qs(c.name);
  s.arch = qs(c.arch);
  s.file_bytes = f.file_size();
  s.n_layer = static_cast<int32_t>(c.n_layer);
  s.n_embd = static_cast<int32_t>(c.n_embd);
  s.n_head = static_cast<int32_t>(c.n_head);
  s.n_head_kv = static_cast<int32_t>(c.n_head_kv);
  s.n_vocab = static_cast<int32_t>(c.n_vocab);
  s.n_expert = static_cast<int32_t>(c.n_expert);
  s.n_expert_used = static_cast<int32_t>(c.n_expert_used);
  s.n_ff = static_cast<int32_t>(c.n_ff);
  s.n_ff_exp = static_cast<int32_t>(c.n_ff_exp);
  s.n_embd_head = static_cast<int32_t>(c.n_embd_head);
  s.n_ctx_train = c.n_ctx_train;
  s.dense_bytes = m.weights().dense_bytes;
  s.all_expert_bytes = m.weights().expert_bytes;
  s.expert_bytes_per_layer = c.is_moe() ? m.weights().bytes_per_expert(0) : 0;
  s.kv_bytes_per_token = 2ull * static_cast<uint64_t>(c.n_embd_kv()) *
                         static_cast<uint64_t>(c.n_layer) * sizeof(float);
  s.metadata.reserve(f.metadata().size());
  for (const auto& [key, value] : f.metadata())
    s.metadata.emplace_back(qs(key), display_value(value));
  s.tensors.reserve(f.tensors().size());
  for (const gguf::TensorInfo& t : f.tensors()) {
    TensorRow r;
    r.name = qs(t.name);
    r.type = qs(std::string(kernels::type_name(t.type)));
    QStringList dims;
    for (int64_t d : t.ne) dims << QString::number(d);
    r.shape = dims.join(QStringLiteral(" x "));
    r.bytes = t.n_bytes;
    r.expert = t.name.find("_exps") != std::string::npos;
    s.tensors.push_back(std::move(r));
  }
  return s;
}

engine::SessionSettings to_session(const EngineSettings& s) {
  engine::SessionSettings o;
  o.budget_percent = s.budget_percent;
  o.mode = s.mode;
  o.policy = s.policy;
  o.n_threads = s.n_threads;
  o.n_ctx = s.n_ctx;
  return o;
}

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

std::string EngineController::Worker::config_json() const {
  const engine::SessionReport& r = session_->report();
  JsonWriter j;
  j.begin_object().key("command").value("studio");
  j.key("threads").value(int64_t{settings_.n_threads}).key("ctx").value(r.n_ctx);
  j.key("kv_type").value("f32");
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
  auto r = next->configure(to_session(settings));
  if (!r.ok()) {
    log(1, QStringLiteral("the settings do not fit this model (%1); using all experts")
               .arg(qs(r.status().message())));
    EngineSettings d;
    d.n_threads = settings_.n_threads;
    r = next->configure(to_session(d));
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
  ModelSummary summary = summarize(session_->model(), path);
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
  auto r = session_->configure(to_session(settings));
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
  st.task = request.task.isEmpty() ? std::string("chat") : request.task.toStdString();
  st.prompt = request.text.toStdString();
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
  if (!r.ok()) return fail(r.status().message());
  st.prefill_tok_s = r->prefill_seconds > 0 ? r->prompt_tokens / r->prefill_seconds : 0;
  st.decode_tok_s = r->decode_seconds > 0 ? r->decode_steps / r->decode_seconds : 0;
  st.stop_reason = engine::stop_reason_name(r->stop);
  finish(std::move(st));
}

}  // namespace emoe::ui
