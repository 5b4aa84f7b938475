#include "db/model_profiles.h"

#include "core/common/json_writer.h"
#include "core/predict/sensitivity_profiler.h"
#include "db/database.h"
#include "db/routing_recorder.h"

namespace emoe::db {

namespace {

Status require_model(Database& db, int64_t model_id) {
  auto st = db.prepare("SELECT 1 FROM models WHERE id = ?1");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, model_id));
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return not_found("model " + std::to_string(model_id) + " is not in '" + db.path() + "'");
  }
  return Status::ok();
}

// SQLite's own JSON parser (built in since 3.38) decides what valid JSON is.
Status require_json(Database& db, const std::string& text, const std::string& what) {
  auto st = db.prepare("SELECT json_valid(?1)");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_text(1, text));
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row || st->column_int(0) != 1) return invalid_argument(what + " is not valid JSON");
  return Status::ok();
}

constexpr const char* kProfileColumns =
    "model_id, task, measured_at_us, metric, exact_score, fallback_score, sensitivity,"
    " insensitive, details";

SensitivityProfile read_profile(const Statement& st) {
  SensitivityProfile p;
  p.model_id = st.column_int(0);
  p.task = st.column_text(1);
  p.measured_at_us = st.column_int(2);
  p.metric = st.column_text(3);
  if (!st.column_is_null(4)) p.exact_score = st.column_double(4);
  if (!st.column_is_null(5)) p.fallback_score = st.column_double(5);
  if (!st.column_is_null(6)) p.sensitivity = st.column_double(6);
  p.insensitive = st.column_int(7) != 0;
  if (!st.column_is_null(8)) p.details_json = st.column_text(8);
  return p;
}

Status bind_opt_double(Statement& st, int i, const std::optional<double>& v) {
  return v ? st.bind_double(i, *v) : st.bind_null(i);
}

}  // namespace

Status put_sensitivity(Database& db, const SensitivityProfile& p) {
  const std::string where = "sensitivity profile of model " + std::to_string(p.model_id) +
                            " task '" + p.task + "' in '" + db.path() + "'";
  if (p.task.empty()) return invalid_argument(where + ": the task is empty");
  if (p.metric.empty()) return invalid_argument(where + ": the metric is empty");
  EMOE_RETURN_IF_ERROR(require_model(db, p.model_id));
  if (p.details_json) EMOE_RETURN_IF_ERROR(require_json(db, *p.details_json, where + ": details"));
  auto st = db.prepare(std::string("INSERT INTO sensitivity_profiles(") + kProfileColumns +
                       ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(model_id, task) DO "
                       "UPDATE SET measured_at_us=excluded.measured_at_us, "
                       "metric=excluded.metric, exact_score=excluded.exact_score, "
                       "fallback_score=excluded.fallback_score, "
                       "sensitivity=excluded.sensitivity, insensitive=excluded.insensitive, "
                       "details=excluded.details");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, p.model_id));
  EMOE_RETURN_IF_ERROR(st->bind_text(2, p.task));
  EMOE_RETURN_IF_ERROR(st->bind_int(3, p.measured_at_us));
  EMOE_RETURN_IF_ERROR(st->bind_text(4, p.metric));
  EMOE_RETURN_IF_ERROR(bind_opt_double(*st, 5, p.exact_score));
  EMOE_RETURN_IF_ERROR(bind_opt_double(*st, 6, p.fallback_score));
  EMOE_RETURN_IF_ERROR(bind_opt_double(*st, 7, p.sensitivity));
  EMOE_RETURN_IF_ERROR(st->bind_int(8, p.insensitive ? 1 : 0));
  EMOE_RETURN_IF_ERROR(p.details_json ? st->bind_text(9, *p.details_json) : st->bind_null(9));
  Status s = st->run();
  if (!s.is_ok()) return s.with_context("writing the " + where);
  return Status::ok();
}

Result<SensitivityProfile> get_sensitivity(Database& db, int64_t model_id,
                                           const std::string& task) {
  auto st = db.prepare(std::string("SELECT ") + kProfileColumns +
                       " FROM sensitivity_profiles WHERE model_id = ?1 AND task = ?2");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, model_id));
  EMOE_RETURN_IF_ERROR(st->bind_text(2, task));
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return not_found("no sensitivity profile for model " + std::to_string(model_id) + " task '" +
                     task + "' in '" + db.path() + "'");
  }
  return read_profile(*st);
}

Result<std::vector<SensitivityProfile>> list_sensitivity(Database& db, int64_t model_id) {
  auto st = db.prepare(std::string("SELECT ") + kProfileColumns +
                       " FROM sensitivity_profiles WHERE model_id = ?1 ORDER BY task");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, model_id));
  std::vector<SensitivityProfile> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(read_profile(*st));
  }
  return out;
}

Status save_predictor_state(Database& db, const PredictorState& s) {
  const std::string where =
      "predictor state of model " + std::to_string(s.model_id) + " in '" + db.path() + "'";
  if (s.prompts_seen < 0) return invalid_argument(where + ": prompts_seen is negative");
  EMOE_RETURN_IF_ERROR(require_model(db, s.model_id));
  EMOE_RETURN_IF_ERROR(require_json(db, s.state_json, where + ": state"));
  auto st = db.prepare(
      "INSERT INTO predictor_state(model_id, updated_at_us, prompts_seen, interval, state)"
      " VALUES (?1,?2,?3,?4,?5) ON CONFLICT(model_id) DO UPDATE SET"
      " updated_at_us=excluded.updated_at_us, prompts_seen=excluded.prompts_seen,"
      " interval=excluded.interval, state=excluded.state");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, s.model_id));
  EMOE_RETURN_IF_ERROR(st->bind_int(2, s.updated_at_us));
  EMOE_RETURN_IF_ERROR(st->bind_int(3, s.prompts_seen));
  EMOE_RETURN_IF_ERROR(s.interval ? st->bind_int(4, *s.interval) : st->bind_null(4));
  EMOE_RETURN_IF_ERROR(st->bind_text(5, s.state_json));
  Status r = st->run();
  if (!r.is_ok()) return r.with_context("writing the " + where);
  return Status::ok();
}

Result<PredictorState> load_predictor_state(Database& db, int64_t model_id) {
  auto st = db.prepare(
      "SELECT model_id, updated_at_us, prompts_seen, interval, state FROM predictor_state"
      " WHERE model_id = ?1");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, model_id));
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return not_found("no predictor state for model " + std::to_string(model_id) + " in '" +
                     db.path() + "'");
  }
  PredictorState s;
  s.model_id = st->column_int(0);
  s.updated_at_us = st->column_int(1);
  s.prompts_seen = st->column_int(2);
  if (!st->column_is_null(3)) s.interval = st->column_int(3);
  s.state_json = st->column_text(4);
  return s;
}

Status store_profiler_results(Database& db, int64_t model_id,
                              const std::vector<predict::SensitivityProfile>& profiles) {
  for (const predict::SensitivityProfile& p : profiles) {
    SensitivityProfile row;
    row.model_id = model_id;
    row.task = p.task;
    row.measured_at_us = RoutingRecorder::now_us();
    row.metric = "top1_agreement";
    row.exact_score = 1.0;
    if (!p.accuracy.empty()) row.fallback_score = p.accuracy.back();
    const int32_t n_moe = static_cast<int32_t>(p.moe_layers.size());
    row.sensitivity = n_moe > 0 ? static_cast<double>(n_moe - p.insensitive_layers) / n_moe : 1.0;
    row.insensitive = n_moe > 0 && p.insensitive_layers == n_moe;
    JsonWriter d;
    d.begin_object().key("threshold").value(p.threshold);
    d.key("moe_layers").array(p.moe_layers).key("accuracy").array(p.accuracy);
    d.key("insensitive_layers").value(p.insensitive_layers);
    d.key("sensitivity").array(p.sensitivity);
    d.key("positions").value(p.positions).key("prompts").value(p.prompts).end_object();
    row.details_json = d.str();
    EMOE_RETURN_IF_ERROR(put_sensitivity(db, row).with_context("storing '" + p.task + "'"));
  }
  return Status::ok();
}

}  // namespace emoe::db
