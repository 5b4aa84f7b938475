#include "db/experiment_store.h"

#include <chrono>
#include <map>

#include "core/common/json_reader.h"
#include "core/common/json_writer.h"
#include "db/database.h"

namespace emoe::db {

namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string model_json(const experiment::ModelInfo& m) {
  JsonWriter j;
  j.begin_object().key("path").value(m.path).key("arch").value(m.arch).key("name").value(m.name);
  j.key("n_layer").value(m.n_layer).key("n_expert").value(m.n_expert);
  j.key("n_expert_used").value(m.n_expert_used).key("n_embd").value(m.n_embd);
  j.key("n_vocab").value(m.n_vocab).key("file_bytes").value(m.file_bytes).end_object();
  return j.str();
}

std::string machine_json(const experiment::MachineInfo& m) {
  JsonWriter j;
  j.begin_object().key("cpu").value(m.cpu).key("cores").value(m.cores);
  j.key("memory_bytes").value(m.memory_bytes).key("os").value(m.os).end_object();
  return j.str();
}

// Members of a stored JSON object, read leniently: a missing or mistyped member keeps the
// default (older rows may lack newer keys).
struct Fields {
  const JsonValue* obj;
  double num(std::string_view k, double def = 0.0) const {
    const JsonValue* v = obj ? obj->find(k) : nullptr;
    return v && v->is_number() ? v->as_double() : def;
  }
  int64_t integer(std::string_view k, int64_t def = 0) const {
    const JsonValue* v = obj ? obj->find(k) : nullptr;
    if (!v || !v->is_number()) return def;
    return v->is_integer() ? v->as_int() : static_cast<int64_t>(v->as_double());
  }
  uint64_t bytes(std::string_view k) const { return static_cast<uint64_t>(integer(k)); }
  std::string str(std::string_view k) const {
    const JsonValue* v = obj ? obj->find(k) : nullptr;
    return v && v->is_string() ? v->as_string() : std::string();
  }
  bool flag(std::string_view k) const {
    const JsonValue* v = obj ? obj->find(k) : nullptr;
    return v && v->is_bool() && v->as_bool();
  }
};

Result<JsonValue> parse_column(const std::string& text, const std::string& what) {
  auto v = parse_json(text);
  if (!v.ok()) return corrupt(what + ": " + v.status().message());
  return v;
}

experiment::ModelInfo model_from(const JsonValue& v) {
  Fields f{&v};
  experiment::ModelInfo m;
  m.path = f.str("path");
  m.arch = f.str("arch");
  m.name = f.str("name");
  m.n_layer = f.integer("n_layer");
  m.n_expert = f.integer("n_expert");
  m.n_expert_used = f.integer("n_expert_used");
  m.n_embd = f.integer("n_embd");
  m.n_vocab = f.integer("n_vocab");
  m.file_bytes = f.bytes("file_bytes");
  return m;
}

experiment::MachineInfo machine_from(const JsonValue& v) {
  Fields f{&v};
  experiment::MachineInfo m;
  m.cpu = f.str("cpu");
  m.cores = static_cast<int32_t>(f.integer("cores"));
  m.memory_bytes = f.bytes("memory_bytes");
  m.os = f.str("os");
  return m;
}

std::vector<experiment::CapacityOutcome> capacity_from(const JsonValue& v) {
  std::vector<experiment::CapacityOutcome> out;
  for (const JsonValue& item : v.items()) {
    Fields f{&item};
    experiment::CapacityOutcome c;
    c.budget = f.str("budget");
    c.expert_fraction = f.num("expert_fraction", 1.0);
    c.device_bytes = f.bytes("device_bytes");
    c.dense_bytes = f.bytes("dense_bytes");
    c.expert_bytes = f.bytes("expert_bytes");
    c.scratch_bytes = f.bytes("scratch_bytes");
    c.kv_bytes = f.bytes("kv_bytes");
    c.kv_bytes_per_token = f.bytes("kv_bytes_per_token");
    c.max_context_tokens = f.integer("max_context_tokens");
    c.max_batch = static_cast<int32_t>(f.integer("max_batch"));
    c.max_prompt = f.integer("max_prompt");
    c.batch_run_ok = f.flag("batch_run_ok");
    c.batch_run_error = f.str("batch_run_error");
    c.batch_run_peak_bytes = f.bytes("batch_run_peak_bytes");
    c.batch_run_tokens_per_s = f.num("batch_run_tokens_per_s");
    c.prompt_run_ok = f.flag("prompt_run_ok");
    c.prompt_run_error = f.str("prompt_run_error");
    c.prompt_run_peak_bytes = f.bytes("prompt_run_peak_bytes");
    out.push_back(std::move(c));
  }
  return out;
}

std::string capacity_json(const std::vector<experiment::CapacityOutcome>& capacity) {
  JsonWriter j;
  j.begin_array();
  for (const experiment::CapacityOutcome& c : capacity) experiment::write_capacity_json(j, c);
  j.end_array();
  return j.str();
}

// The point's parameters and metrics back from its runs.metrics object.
experiment::PointResult point_from(const JsonValue& v) {
  Fields f{&v};
  experiment::PointResult r;
  experiment::ExperimentPoint& p = r.point;
  p.index = static_cast<int32_t>(f.integer("index"));
  p.budget = f.str("budget");
  p.predictor = f.str("predictor");
  p.interval = static_cast<int32_t>(f.integer("interval"));
  p.scheduler = f.str("scheduler");
  p.arrival_rate = f.num("arrival_rate");
  p.routing = engine::routing_mode_from_name(f.str("routing")).value_or(engine::RoutingMode::All);
  p.seed = static_cast<uint64_t>(f.integer("seed"));
  sched::RunMetrics& m = r.run;
  m.requests = f.integer("requests");
  m.completed = f.integer("completed");
  m.rejected = f.integer("rejected");
  m.slo_met = f.integer("slo_met");
  m.slo_attainment = f.num("slo_attainment");
  m.throughput_tokens_per_s = f.num("throughput_tok_s");
  m.throughput_requests_per_s = f.num("throughput_req_s");
  m.prompt_tokens = f.integer("prompt_tokens");
  m.generated_tokens = f.integer("generated_tokens");
  m.span_ms = f.num("span_ms");
  m.mean_ttft_ms = f.num("ttft_mean_ms");
  m.p50_ttft_ms = f.num("ttft_p50_ms");
  m.p99_ttft_ms = f.num("ttft_p99_ms");
  m.mean_e2e_ms = f.num("e2e_mean_ms");
  m.p50_e2e_ms = f.num("e2e_p50_ms");
  m.p99_e2e_ms = f.num("e2e_p99_ms");
  m.mean_tpot_ms = f.num("tpot_mean_ms");
  m.p90_ttft_ms = f.num("ttft_p90_ms");
  m.p90_e2e_ms = f.num("e2e_p90_ms");
  r.hits = f.bytes("hits");
  r.misses = f.bytes("misses");
  r.substitutions = f.bytes("substitutions");
  r.decisions = f.bytes("decisions");
  r.hit_rate = f.num("hit_rate");
  r.loads = f.bytes("loads");
  r.bytes_moved = f.bytes("bytes_moved");
  r.evictions = f.bytes("evictions");
  r.stall_ms = f.num("stall_ms");
  r.dense_bytes = f.bytes("dense_bytes");
  r.expert_budget_bytes = f.bytes("expert_budget_bytes");
  r.all_expert_bytes = f.bytes("all_expert_bytes");
  r.peak_expert_bytes = f.bytes("peak_expert_bytes");
  r.peak_total_bytes = f.bytes("peak_total_bytes");
  r.expert_fraction = f.num("expert_fraction", 1.0);
  r.accuracy_measured = f.flag("accuracy_measured");
  r.accuracy = f.num("accuracy");
  r.exact_match_rate = f.num("exact_match_rate");
  r.predictor_invocations = f.integer("predictor_invocations");
  r.predict_ms = f.num("predict_ms");
  r.steps = f.integer("steps");
  r.wall_seconds = f.num("wall_seconds");
  r.per_token_ms = f.num("per_token_ms");
  r.expert_load_ms = f.num("expert_load_ms");
  return r;
}

Status load_point_rows(Database& db, experiment::PointResult& r) {
  auto q = db.prepare(
      "SELECT request, task, state, stop, arrival_ms, admit_ms, prefill_done_ms, "
      "first_token_ms, finish_ms, slo_ttft_ms, slo_e2e_ms, prompt_tokens, generated_tokens, "
      "scored_tokens, agreeing_tokens, matches_reference FROM experiment_requests "
      "WHERE run_id = ?1 ORDER BY request");
  if (!q.ok()) return q.status();
  EMOE_RETURN_IF_ERROR(q->bind_int(1, r.run_id));
  while (true) {
    auto row = q->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    experiment::RequestOutcome o;
    o.id = q->column_int(0);
    o.task = q->column_text(1);
    o.state = q->column_text(2);
    o.stop_reason = q->column_text(3);
    sched::RequestTiming& t = o.timing;
    t.arrival_ms = q->column_double(4);
    t.admit_ms = q->column_double(5);
    o.prefill_done_ms = q->column_double(6);
    t.first_token_ms = q->column_double(7);
    t.finish_ms = q->column_double(8);
    t.slo_ttft_ms = q->column_double(9);
    t.slo_e2e_ms = q->column_double(10);
    t.prompt_tokens = q->column_int(11);
    t.generated_tokens = q->column_int(12);
    t.rejected = o.state == "rejected";
    o.scored_tokens = q->column_int(13);
    o.agreeing_tokens = q->column_int(14);
    o.matches_reference = q->column_int(15) != 0;
    o.metrics = sched::compute_request_metrics(t);
    r.requests.push_back(std::move(o));
  }
  auto m = db.prepare(
      "SELECT time_ms, dense, experts, budget, kv, scratch FROM experiment_memory "
      "WHERE run_id = ?1 ORDER BY sample");
  if (!m.ok()) return m.status();
  EMOE_RETURN_IF_ERROR(m->bind_int(1, r.run_id));
  while (true) {
    auto row = m->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    experiment::MemoryPoint p;
    p.time_ms = m->column_double(0);
    p.dense_bytes = static_cast<uint64_t>(m->column_int(1));
    p.expert_bytes = static_cast<uint64_t>(m->column_int(2));
    p.expert_budget = static_cast<uint64_t>(m->column_int(3));
    p.kv_bytes = static_cast<uint64_t>(m->column_int(4));
    p.scratch_bytes = static_cast<uint64_t>(m->column_int(5));
    r.memory.push_back(p);
  }
  return Status::ok();
}

// The experiments row into `out` (config, model, machine, capacity, status).
Status load_header(Database& db, int64_t experiment_id, experiment::ExperimentResult& out) {
  auto q = db.prepare(
      "SELECT name, created_at_us, config, model, machine, capacity, wall_seconds, status "
      "FROM experiments WHERE id = ?1");
  if (!q.ok()) return q.status();
  EMOE_RETURN_IF_ERROR(q->bind_int(1, experiment_id));
  auto row = q->step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return not_found("no experiment " + std::to_string(experiment_id) + " in '" + db.path() + "'");
  }
  const std::string what = "experiment " + std::to_string(experiment_id);
  auto config = experiment::parse_experiment_config(q->column_text(2), what + " config");
  if (!config.ok()) return corrupt(config.status().message());
  out.config = std::move(*config);
  out.config.name = q->column_text(0);
  out.started_at_us = q->column_int(1);
  if (!q->column_is_null(3)) {
    auto v = parse_column(q->column_text(3), what + " model");
    if (!v.ok()) return v.status();
    out.model = model_from(*v);
  }
  if (!q->column_is_null(4)) {
    auto v = parse_column(q->column_text(4), what + " machine");
    if (!v.ok()) return v.status();
    out.machine = machine_from(*v);
  }
  if (!q->column_is_null(5)) {
    auto v = parse_column(q->column_text(5), what + " capacity");
    if (!v.ok()) return v.status();
    out.capacity = capacity_from(*v);
  }
  out.wall_seconds = q->column_is_null(6) ? 0.0 : q->column_double(6);
  out.cancelled = q->column_text(7) == "cancelled";
  out.experiment_id = experiment_id;
  return Status::ok();
}

// The run's point (metrics and rows); sets *experiment_id.
Result<experiment::PointResult> load_point(Database& db, int64_t run_id, int64_t* experiment_id) {
  auto q = db.prepare("SELECT experiment_id, metrics FROM runs WHERE id = ?1");
  if (!q.ok()) return q.status();
  EMOE_RETURN_IF_ERROR(q->bind_int(1, run_id));
  auto row = q->step();
  if (!row.ok()) return row.status();
  if (!*row || q->column_is_null(0)) {
    return not_found("run " + std::to_string(run_id) + " in '" + db.path() +
                     "' is not an experiment point");
  }
  *experiment_id = q->column_int(0);
  auto v = parse_column(q->column_text(1), "run " + std::to_string(run_id) + " metrics");
  if (!v.ok()) return v.status();
  experiment::PointResult r = point_from(*v);
  r.run_id = run_id;
  EMOE_RETURN_IF_ERROR(load_point_rows(db, r));
  return r;
}

}  // namespace

Result<int64_t> begin_experiment(Database& db, const experiment::ExperimentResult& header,
                                 std::optional<int64_t> model_id) {
  auto ins = db.prepare(
      "INSERT INTO experiments(name, created_at_us, model_id, config, model, machine, status) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running')");
  if (!ins.ok()) return ins.status();
  EMOE_RETURN_IF_ERROR(ins->bind_text(1, header.config.name));
  EMOE_RETURN_IF_ERROR(ins->bind_int(2, header.started_at_us ? header.started_at_us : now_us()));
  EMOE_RETURN_IF_ERROR(model_id ? ins->bind_int(3, *model_id) : ins->bind_null(3));
  EMOE_RETURN_IF_ERROR(ins->bind_text(4, experiment::experiment_config_to_json(header.config)));
  EMOE_RETURN_IF_ERROR(ins->bind_text(5, model_json(header.model)));
  EMOE_RETURN_IF_ERROR(ins->bind_text(6, machine_json(header.machine)));
  EMOE_RETURN_IF_ERROR(ins->run());
  return db.last_insert_rowid();
}

Result<int64_t> store_experiment_point(Database& db, int64_t experiment_id,
                                       const experiment::PointResult& point) {
  int64_t run_id = 0;
  Status s = in_transaction(db, [&]() -> Status {
    JsonWriter config;
    config.begin_object().key("experiment_id").value(experiment_id);
    config.key("label").value(point.point.label()).end_object();
    JsonWriter metrics;
    experiment::write_point_json(metrics, point, false);
    auto run = db.prepare(
        "INSERT INTO runs(name, created_at_us, config, metrics, experiment_id, point_index) "
        "VALUES ('experiment', ?1, ?2, ?3, ?4, ?5)");
    if (!run.ok()) return run.status();
    EMOE_RETURN_IF_ERROR(run->bind_int(1, now_us()));
    EMOE_RETURN_IF_ERROR(run->bind_text(2, config.str()));
    EMOE_RETURN_IF_ERROR(run->bind_text(3, metrics.str()));
    EMOE_RETURN_IF_ERROR(run->bind_int(4, experiment_id));
    EMOE_RETURN_IF_ERROR(run->bind_int(5, point.point.index));
    EMOE_RETURN_IF_ERROR(run->run());
    run_id = db.last_insert_rowid();

    auto req = db.prepare(
        "INSERT INTO experiment_requests(run_id, request, task, state, stop, arrival_ms, "
        "admit_ms, prefill_done_ms, first_token_ms, finish_ms, slo_ttft_ms, slo_e2e_ms, "
        "prompt_tokens, generated_tokens, scored_tokens, agreeing_tokens, matches_reference) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)");
    if (!req.ok()) return req.status();
    for (const experiment::RequestOutcome& o : point.requests) {
      const sched::RequestTiming& t = o.timing;
      EMOE_RETURN_IF_ERROR(req->bind_int(1, run_id));
      EMOE_RETURN_IF_ERROR(req->bind_int(2, o.id));
      EMOE_RETURN_IF_ERROR(req->bind_text(3, o.task));
      EMOE_RETURN_IF_ERROR(req->bind_text(4, o.state));
      EMOE_RETURN_IF_ERROR(req->bind_text(5, o.stop_reason));
      EMOE_RETURN_IF_ERROR(req->bind_double(6, t.arrival_ms));
      EMOE_RETURN_IF_ERROR(req->bind_double(7, t.admit_ms));
      EMOE_RETURN_IF_ERROR(req->bind_double(8, o.prefill_done_ms));
      EMOE_RETURN_IF_ERROR(req->bind_double(9, t.first_token_ms));
      EMOE_RETURN_IF_ERROR(req->bind_double(10, t.finish_ms));
      EMOE_RETURN_IF_ERROR(req->bind_double(11, t.slo_ttft_ms));
      EMOE_RETURN_IF_ERROR(req->bind_double(12, t.slo_e2e_ms));
      EMOE_RETURN_IF_ERROR(req->bind_int(13, t.prompt_tokens));
      EMOE_RETURN_IF_ERROR(req->bind_int(14, t.generated_tokens));
      EMOE_RETURN_IF_ERROR(req->bind_int(15, o.scored_tokens));
      EMOE_RETURN_IF_ERROR(req->bind_int(16, o.agreeing_tokens));
      EMOE_RETURN_IF_ERROR(req->bind_int(17, o.matches_reference ? 1 : 0));
      EMOE_RETURN_IF_ERROR(req->run());
    }
    auto mem = db.prepare(
        "INSERT INTO experiment_memory(run_id, sample, time_ms, dense, experts, budget, kv, "
        "scratch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!mem.ok()) return mem.status();
    int64_t sample = 0;
    for (const experiment::MemoryPoint& m : point.memory) {
      EMOE_RETURN_IF_ERROR(mem->bind_int(1, run_id));
      EMOE_RETURN_IF_ERROR(mem->bind_int(2, sample++));
      EMOE_RETURN_IF_ERROR(mem->bind_double(3, m.time_ms));
      EMOE_RETURN_IF_ERROR(mem->bind_int(4, static_cast<int64_t>(m.dense_bytes)));
      EMOE_RETURN_IF_ERROR(mem->bind_int(5, static_cast<int64_t>(m.expert_bytes)));
      EMOE_RETURN_IF_ERROR(mem->bind_int(6, static_cast<int64_t>(m.expert_budget)));
      EMOE_RETURN_IF_ERROR(mem->bind_int(7, static_cast<int64_t>(m.kv_bytes)));
      EMOE_RETURN_IF_ERROR(mem->bind_int(8, static_cast<int64_t>(m.scratch_bytes)));
      EMOE_RETURN_IF_ERROR(mem->run());
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s.with_context("storing point " + point.point.label());
  return run_id;
}

Status finish_experiment(Database& db, int64_t experiment_id,
                         const experiment::ExperimentResult& result, const std::string& status) {
  auto up = db.prepare(
      "UPDATE experiments SET capacity = ?1, wall_seconds = ?2, status = ?3 WHERE id = ?4");
  if (!up.ok()) return up.status();
  EMOE_RETURN_IF_ERROR(up->bind_text(1, capacity_json(result.capacity)));
  EMOE_RETURN_IF_ERROR(up->bind_double(2, result.wall_seconds));
  EMOE_RETURN_IF_ERROR(up->bind_text(3, status));
  EMOE_RETURN_IF_ERROR(up->bind_int(4, experiment_id));
  return up->run();
}

Result<std::vector<ExperimentRow>> list_experiments(Database& db) {
  auto q = db.prepare(
      "SELECT e.id, e.name, e.created_at_us, e.status, e.model, e.wall_seconds, "
      "(SELECT COUNT(*) FROM runs r WHERE r.experiment_id = e.id) FROM experiments e "
      "ORDER BY e.id");
  if (!q.ok()) return q.status();
  std::vector<ExperimentRow> out;
  while (true) {
    auto row = q->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ExperimentRow r;
    r.id = q->column_int(0);
    r.name = q->column_text(1);
    r.created_at_us = q->column_int(2);
    r.status = q->column_text(3);
    if (!q->column_is_null(4)) {
      auto v = parse_json(q->column_text(4));
      if (v.ok()) r.model_path = Fields{&*v}.str("path");
    }
    r.wall_seconds = q->column_is_null(5) ? 0.0 : q->column_double(5);
    r.points = q->column_int(6);
    out.push_back(std::move(r));
  }
  return out;
}

Result<experiment::ExperimentResult> load_experiment(Database& db, int64_t experiment_id) {
  experiment::ExperimentResult out;
  EMOE_RETURN_IF_ERROR(load_header(db, experiment_id, out));
  auto q = db.prepare("SELECT id FROM runs WHERE experiment_id = ?1 ORDER BY point_index, id");
  if (!q.ok()) return q.status();
  EMOE_RETURN_IF_ERROR(q->bind_int(1, experiment_id));
  std::vector<int64_t> ids;
  while (true) {
    auto row = q->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ids.push_back(q->column_int(0));
  }
  for (int64_t id : ids) {
    int64_t owner = 0;
    auto p = load_point(db, id, &owner);
    if (!p.ok()) return p.status();
    out.points.push_back(std::move(*p));
  }
  return out;
}

Result<experiment::ExperimentResult> load_experiment_runs(Database& db,
                                                          std::span<const int64_t> run_ids) {
  if (run_ids.empty()) return invalid_argument("no runs given");
  experiment::ExperimentResult out;
  for (size_t i = 0; i < run_ids.size(); ++i) {
    int64_t owner = 0;
    auto p = load_point(db, run_ids[i], &owner);
    if (!p.ok()) return p.status();
    if (i == 0) EMOE_RETURN_IF_ERROR(load_header(db, owner, out));
    out.points.push_back(std::move(*p));
  }
  return out;
}

}  // namespace emoe::db
