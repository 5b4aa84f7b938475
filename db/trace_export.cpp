#include "db/trace_export.h"

#include <optional>
#include <utility>
#include <vector>

#include "core/common/json_writer.h"
#include "db/database.h"
#include "db/export_file.h"
#include "core/common/json_reader.h"

namespace emoe::db {

namespace {

using namespace export_detail;

// The session's model row id; NotFound when the session does not exist.
Result<std::optional<int64_t>> session_model(Database& db, int64_t session_id) {
  auto st = db.prepare("SELECT model_id FROM sessions WHERE id=?1");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, session_id));
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) return not_found("session " + std::to_string(session_id) + " does not exist");
  if (st->column_is_null(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(st->column_int(0));
}

struct TraceHeader {
  std::string model;
  std::optional<int64_t> n_layer, n_expert, top_k;
};

TraceHeader trace_header(Database& db, int64_t session_id, std::optional<int64_t> model_id) {
  TraceHeader h;
  h.model = "session " + std::to_string(session_id);
  if (!model_id) return h;
  auto st = db.prepare("SELECT path, hparams FROM models WHERE id=?1");
  if (!st.ok() || !st->bind_int(1, *model_id).is_ok()) return h;
  auto row = st->step();
  if (!row.ok() || !*row) return h;
  if (!st->column_is_null(0)) h.model = st->column_text(0);
  auto hp = parse_json(st->column_text(1));
  if (!hp.ok()) return h;
  auto get = [&](const char* key) -> std::optional<int64_t> {
    const JsonValue* v = hp->find(key);
    if (v && v->is_integer() && v->as_int() > 0) return v->as_int();
    return std::nullopt;
  };
  h.n_layer = get("n_layer");
  h.n_expert = get("n_expert");
  h.top_k = get("n_expert_used");
  return h;
}

// One (pos, layer) of a request while its rank rows are collected.
struct TraceRecord {
  int64_t pos = -1, layer = -1;
  std::vector<int64_t> experts, used;
  std::vector<double> weights, used_weights;
  bool weights_complete = true, used_weights_complete = true;
  std::optional<int64_t> token, phase, time_us;
};

void append_int_array(std::string& o, const std::vector<int64_t>& v) {
  o += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) o += ',';
    append_int(o, v[i]);
  }
  o += ']';
}

void append_weight_array(std::string& o, const std::vector<double>& v) {
  o += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) o += ',';
    append_weight(o, v[i]);
  }
  o += ']';
}

}  // namespace

Result<ExportSummary> export_trace_jsonl(Database& db, int64_t session_id, const std::string& path,
                                         const ExportOptions& options) {
  auto body = [&]() -> Result<ExportSummary> {
    ReadTransaction tx(db);
    EMOE_RETURN_IF_ERROR(tx.begin());
    auto model_id = session_model(db, session_id);
    if (!model_id.ok()) return model_id.status();
    const TraceHeader h = trace_header(db, session_id, *model_id);
    TempPath tmp(path);
    OutFile out;
    EMOE_RETURN_IF_ERROR(out.open(tmp.path()));
    std::string line = "{\"format\":\"emoe-trace\",\"version\":1,\"model\":";
    line += JsonWriter::escape(h.model);
    const std::pair<const char*, std::optional<int64_t>> dims[] = {
        {"n_layer", h.n_layer}, {"n_expert", h.n_expert}, {"top_k", h.top_k}};
    for (const auto& [name, v] : dims) {
      if (!v) continue;
      line += ",\"";
      line += name;
      line += "\":";
      append_int(line, *v);
    }
    line += "}\n";
    out.write(line);

    Progress progress(options);
    ExportSummary summary;
    auto reqs = db.prepare("SELECT id, task, text FROM requests WHERE session_id=?1 ORDER BY id");
    if (!reqs.ok()) return reqs.status();
    auto rows = db.prepare(
        "SELECT r.pos, r.layer, r.router_expert, r.router_weight, r.used_expert, r.used_weight, "
        "t.token_id, t.phase, t.time_us FROM routing r LEFT JOIN tokens t "
        "ON t.request_id=r.request_id AND t.pos=r.pos WHERE r.request_id=?1 "
        "ORDER BY r.pos, r.layer, r.rank");
    if (!rows.ok()) return rows.status();
    EMOE_RETURN_IF_ERROR(reqs->bind_int(1, session_id));
    while (true) {
      auto more = reqs->step();
      if (!more.ok()) return more.status();
      if (!*more) break;
      const int64_t request_id = reqs->column_int(0);
      std::optional<std::string> task, text;
      if (!reqs->column_is_null(1)) task = reqs->column_text(1);
      if (!reqs->column_is_null(2)) text = reqs->column_text(2);
      ++summary.requests;
      bool first = true;
      TraceRecord rec;
      auto flush = [&]() -> Status {
        if (rec.pos < 0) return Status::ok();
        line.clear();
        line += "{\"request\":";
        append_int(line, request_id);
        line += ",\"pos\":";
        append_int(line, rec.pos);
        line += ",\"layer\":";
        append_int(line, rec.layer);
        line += ",\"experts\":";
        append_int_array(line, rec.experts);
        const bool weights = rec.weights_complete && !rec.experts.empty();
        if (weights) {
          line += ",\"weights\":";
          append_weight_array(line, rec.weights);
        }
        // used_* only where they differ from the router's choice (fallback routing).
        const bool used_weights = rec.used_weights_complete && !rec.used.empty();
        const bool same = rec.used == rec.experts && used_weights == weights &&
                          (!weights || rec.used_weights == rec.weights);
        if (!same) {
          line += ",\"used_experts\":";
          append_int_array(line, rec.used);
          if (used_weights) {
            line += ",\"used_weights\":";
            append_weight_array(line, rec.used_weights);
          }
        }
        if (rec.token && *rec.token >= 0) {
          line += ",\"token\":";
          append_int(line, *rec.token);
        }
        if (rec.phase && (*rec.phase == 0 || *rec.phase == 1)) {
          line += *rec.phase == 1 ? ",\"phase\":\"decode\"" : ",\"phase\":\"prefill\"";
        }
        if (rec.time_us) {
          line += ",\"time_us\":";
          append_int(line, *rec.time_us);
        }
        if (first) {
          if (task) line += ",\"task\":" + JsonWriter::escape(*task);
          if (text) line += ",\"text\":" + JsonWriter::escape(*text);
          first = false;
        }
        line += "}\n";
        out.write(line);
        ++summary.routing;
        rec = TraceRecord{};
        return progress.tick();
      };
      EMOE_RETURN_IF_ERROR(rows->bind_int(1, request_id));
      while (true) {
        auto r = rows->step();
        if (!r.ok()) return r.status();
        if (!*r) break;
        const int64_t pos = rows->column_int(0), layer = rows->column_int(1);
        if (pos != rec.pos || layer != rec.layer) {
          EMOE_RETURN_IF_ERROR(flush());
          rec.pos = pos;
          rec.layer = layer;
          if (!rows->column_is_null(6)) rec.token = rows->column_int(6);
          if (!rows->column_is_null(7)) rec.phase = rows->column_int(7);
          if (!rows->column_is_null(8)) rec.time_us = rows->column_int(8);
        }
        if (!rows->column_is_null(2)) {
          rec.experts.push_back(rows->column_int(2));
          rec.weights_complete = rec.weights_complete && !rows->column_is_null(3);
          rec.weights.push_back(rows->column_double(3));
        }
        if (!rows->column_is_null(4)) {
          rec.used.push_back(rows->column_int(4));
          rec.used_weights_complete = rec.used_weights_complete && !rows->column_is_null(5);
          rec.used_weights.push_back(rows->column_double(5));
        }
      }
      EMOE_RETURN_IF_ERROR(flush());
      rows->reset();
    }
    EMOE_RETURN_IF_ERROR(progress.check_cancel());
    EMOE_RETURN_IF_ERROR(out.close());
    EMOE_RETURN_IF_ERROR(tmp.commit_file());
    progress.finish();
    return summary;
  };
  auto r = body();
  if (!r.ok()) {
    return r.status().with_context("exporting the trace of session " + std::to_string(session_id) +
                                   " to '" + path + "'");
  }
  return r;
}

}  // namespace emoe::db
