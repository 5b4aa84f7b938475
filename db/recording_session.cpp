#include "db/recording_session.h"

#include <filesystem>

#include "core/common/json_writer.h"
#include "core/model/model.h"
#include "db/database.h"
#include "db/schema.h"

namespace emoe::db {

Result<std::optional<int64_t>> find_model_row(Database& db, const ModelInfo& m, bool add) {
  auto find =
      db.prepare("SELECT id FROM models WHERE path=?1 AND size_bytes=?2 ORDER BY id LIMIT 1");
  if (!find.ok()) return find.status();
  EMOE_RETURN_IF_ERROR(find->bind_text(1, m.path));
  EMOE_RETURN_IF_ERROR(find->bind_int(2, static_cast<int64_t>(m.size_bytes)));
  auto row = find->step();
  if (!row.ok()) return row.status();
  if (*row) return std::optional<int64_t>(find->column_int(0));
  if (!add) return std::optional<int64_t>();
  auto ins = db.prepare(
      "INSERT INTO models(path, sha256, size_bytes, arch, hparams) VALUES (?1,?2,?3,?4,?5)");
  if (!ins.ok()) return ins.status();
  EMOE_RETURN_IF_ERROR(ins->bind_text(1, m.path));
  EMOE_RETURN_IF_ERROR(m.sha256 ? ins->bind_text(2, *m.sha256) : ins->bind_null(2));
  EMOE_RETURN_IF_ERROR(ins->bind_int(3, static_cast<int64_t>(m.size_bytes)));
  EMOE_RETURN_IF_ERROR(ins->bind_text(4, m.arch));
  EMOE_RETURN_IF_ERROR(ins->bind_text(5, m.hparams_json));
  EMOE_RETURN_IF_ERROR(ins->run());
  return std::optional<int64_t>(db.last_insert_rowid());
}

ModelInfo describe_model(const model::Model& m) {
  ModelInfo info;
  std::error_code ec;
  const auto abs =
      std::filesystem::weakly_canonical(std::filesystem::absolute(m.file().path(), ec), ec);
  info.path = ec ? m.file().path() : abs.string();
  info.size_bytes = m.file().file_size();
  const model::ModelConfig& c = m.config();
  info.arch = c.arch;
  JsonWriter j;
  j.begin_object().key("name").value(c.name);
  model::write_hparams_json(j, c);
  j.key("dense_bytes").value(m.weights().dense_bytes);
  j.key("expert_bytes").value(m.weights().expert_bytes).end_object();
  info.hparams_json = j.str();
  return info;
}

Result<std::unique_ptr<RecordingSession>> RecordingSession::open(const std::string& db_path,
                                                                 const ModelInfo& model,
                                                                 const std::string& config_json,
                                                                 WriterOptions options) {
  auto ids = open_store(db_path);
  if (!ids.ok()) return ids.status();
  std::unique_ptr<RecordingSession> s(new RecordingSession());
  s->path_ = db_path;
  s->started_at_us_ = RoutingRecorder::now_us();
  Status st = in_transaction(**ids, [&]() -> Status {
    auto model_id = find_model_row(**ids, model, true);
    if (!model_id.ok()) return model_id.status();
    s->model_id_ = **model_id;
    auto add =
        (*ids)->prepare("INSERT INTO sessions(model_id, started_at, config) VALUES (?1,?2,?3)");
    if (!add.ok()) return add.status();
    EMOE_RETURN_IF_ERROR(add->bind_int(1, s->model_id_));
    EMOE_RETURN_IF_ERROR(add->bind_int(2, s->started_at_us_));
    EMOE_RETURN_IF_ERROR(add->bind_text(3, config_json));
    EMOE_RETURN_IF_ERROR(add->run());
    s->session_id_ = (*ids)->last_insert_rowid();
    return Status::ok();
  });
  if (!st.is_ok()) return st.with_context("starting a recorded session in '" + db_path + "'");
  s->ids_ = std::move(*ids);
  auto writer = RoutingWriter::open(db_path, options);
  if (!writer.ok()) return writer.status();
  s->writer_ = std::move(*writer);
  s->recorder_ = std::make_unique<RoutingRecorder>(*s->writer_, s->session_id_);
  return s;
}

RecordingSession::~RecordingSession() { (void)close(); }

Result<int64_t> RecordingSession::begin_request(int32_t seq, const RequestStart& start) {
  if (closed_) return invalid_argument("RecordingSession: begin_request after close");
  auto add = ids_->prepare(
      "INSERT INTO requests(session_id, task, text, slo_ttft_ms, slo_e2e_ms, arrival_us) "
      "VALUES (?1,?2,?3,?4,?5,?6)");
  if (!add.ok()) return add.status();
  EMOE_RETURN_IF_ERROR(add->bind_int(1, session_id_));
  EMOE_RETURN_IF_ERROR(add->bind_text(2, start.task));
  EMOE_RETURN_IF_ERROR(add->bind_text(3, start.text));
  EMOE_RETURN_IF_ERROR(start.slo_ttft_ms ? add->bind_double(4, *start.slo_ttft_ms)
                                         : add->bind_null(4));
  EMOE_RETURN_IF_ERROR(start.slo_e2e_ms ? add->bind_double(5, *start.slo_e2e_ms)
                                        : add->bind_null(5));
  EMOE_RETURN_IF_ERROR(add->bind_int(6, start.arrival_us.value_or(RoutingRecorder::now_us())));
  Status st = add->run();
  if (!st.is_ok()) return st.with_context("adding a request to '" + path_ + "'");
  const int64_t id = ids_->last_insert_rowid();
  recorder_->bind_sequence(seq, id);
  return id;
}

Status RecordingSession::first_token(int64_t request_id, int64_t time_us) {
  RequestRecord r;
  r.id = request_id;
  r.session_id = session_id_;
  r.first_token_us = time_us;
  return writer_->push(std::move(r));
}

Status RecordingSession::finish_request(int32_t seq, int64_t request_id, int64_t prompt_tokens,
                                        int64_t generated_tokens,
                                        std::optional<int64_t> finish_us) {
  recorder_->unbind_sequence(seq);
  RequestRecord r;
  r.id = request_id;
  r.session_id = session_id_;
  r.finish_us = finish_us.value_or(RoutingRecorder::now_us());
  r.prompt_tokens = prompt_tokens;
  r.generated_tokens = generated_tokens;
  return writer_->push(std::move(r));
}

Status RecordingSession::update_config(const std::string& config_json) {
  SessionRecord r;
  r.id = session_id_;
  r.model_id = model_id_;
  r.started_at_us = started_at_us_;
  r.config_json = config_json;
  return writer_->push(std::move(r));
}

Status RecordingSession::close() {
  if (closed_) return writer_ ? writer_->status() : Status::ok();
  closed_ = true;
  if (!writer_) return Status::ok();
  Status s = writer_->close();
  if (s.is_ok()) s = recorder_->status();
  return s;
}

}  // namespace emoe::db
