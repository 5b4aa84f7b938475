#include "db/trace_source.h"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "db/database.h"
#include "db/schema.h"
#include "db/trace_import.h"

namespace emoe::db {
namespace {

// A JSON member of a stored object, NULL when the text is not JSON or lacks it.
std::string json_member(const char* column, const char* member) {
  return std::string("CASE WHEN json_valid(") + column + ") THEN json_extract(" + column + ", '$." +
         member + "') END";
}

int32_t small_int(const Statement& st, int col) {
  if (st.column_is_null(col)) return 0;
  const int64_t v = st.column_int(col);
  return v > 0 && v <= (1 << 20) ? static_cast<int32_t>(v) : 0;
}

Status read_info(Database& db, int64_t session_id, TraceInfo& info) {
  auto st = db.prepare(
      "SELECT s.config, m.path, " + json_member("m.hparams", "n_layer") + ", " +
      json_member("m.hparams", "n_expert") + ", " + json_member("m.hparams", "n_expert_used") +
      ", " + json_member("s.config", "routing") + ", " + json_member("s.config", "policy") + ", " +
      json_member("s.config", "budget_bytes") +
      " FROM sessions s LEFT JOIN models m ON m.id = s.model_id WHERE s.id = ?1");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, session_id));
  auto row = st->step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return not_found("session " + std::to_string(session_id) + " is not in '" + db.path() + "'");
  }
  info.session_id = session_id;
  info.config_json = st->column_is_null(0) ? "" : st->column_text(0);
  info.model_path = st->column_is_null(1) ? "" : st->column_text(1);
  info.n_layer = small_int(*st, 2);
  info.n_expert = small_int(*st, 3);
  info.n_expert_used = small_int(*st, 4);
  if (!st->column_is_null(5)) info.routing = st->column_text(5);
  if (!st->column_is_null(6)) info.policy = st->column_text(6);
  if (!st->column_is_null(7) && st->column_int(7) > 0) {
    info.budget_bytes = static_cast<uint64_t>(st->column_int(7));
  }
  return Status::ok();
}

int32_t checked_id(int64_t v) {
  return v >= 0 && v <= std::numeric_limits<int32_t>::max() ? static_cast<int32_t>(v) : -1;
}

}  // namespace

Result<predict::ReplayInput> load_session_trace(Database& db, int64_t session_id, TraceInfo* info,
                                                int64_t prefill_chunk) {
  TraceInfo local;
  TraceInfo& ti = info ? *info : local;
  EMOE_RETURN_IF_ERROR(read_info(db, session_id, ti));
  // Dimensions from the model's hparams when present, else inferred from the data.
  predict::ReplayInputBuilder builder(ti.n_layer, ti.n_expert, ti.n_expert_used);

  auto reqs =
      db.prepare("SELECT id, task, prompt_tokens FROM requests WHERE session_id = ?1 ORDER BY id");
  if (!reqs.ok()) return reqs.status();
  EMOE_RETURN_IF_ERROR(reqs->bind_int(1, session_id));
  struct Req {
    int64_t id;
    std::string task;
    int64_t prompt_tokens;  // -1 unknown
  };
  std::vector<Req> list;
  for (;;) {
    auto row = reqs->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    list.push_back({reqs->column_int(0), reqs->column_is_null(1) ? "" : reqs->column_text(1),
                    reqs->column_is_null(2) ? -1 : reqs->column_int(2)});
  }

  auto rows = db.prepare(
      "SELECT r.pos, r.layer, r.rank, r.router_expert, r.router_weight, r.used_expert, t.phase"
      " FROM routing r LEFT JOIN tokens t ON t.request_id = r.request_id AND t.pos = r.pos"
      " WHERE r.request_id = ?1 ORDER BY r.pos, r.layer, r.rank");
  if (!rows.ok()) return rows.status();
  std::vector<int32_t> router, used;
  std::vector<float> weights;
  bool all_weights = true;
  for (const Req& q : list) {
    builder.begin_request(q.id, q.task);
    rows->reset();
    EMOE_RETURN_IF_ERROR(rows->bind_int(1, q.id));
    int64_t cur_pos = -1, cur_layer = -1;
    int32_t cur_phase = 0;
    const auto flush = [&]() -> Status {
      if (cur_pos < 0) return Status::ok();
      if (router.empty()) {
        return corrupt("request " + std::to_string(q.id) + " position " + std::to_string(cur_pos) +
                       " layer " + std::to_string(cur_layer) + " has no router expert");
      }
      Status s = builder.add(
          static_cast<int32_t>(cur_pos), static_cast<int32_t>(cur_layer), cur_phase, router,
          all_weights ? std::span<const float>(weights) : std::span<const float>(), used, true);
      router.clear();
      used.clear();
      weights.clear();
      all_weights = true;
      return s.is_ok() ? s : corrupt("session " + std::to_string(session_id) + ": " + s.message());
    };
    for (;;) {
      auto row = rows->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const int64_t pos = rows->column_int(0), layer = rows->column_int(1);
      if (pos < 0 || pos > std::numeric_limits<int32_t>::max() || layer < 0 || layer > 65535) {
        return corrupt("request " + std::to_string(q.id) + " has a routing row at position " +
                       std::to_string(pos) + " layer " + std::to_string(layer));
      }
      if (pos != cur_pos || layer != cur_layer) {
        EMOE_RETURN_IF_ERROR(flush());
        cur_pos = pos;
        cur_layer = layer;
        if (!rows->column_is_null(6)) {
          cur_phase = rows->column_int(6) == 1 ? 1 : 0;
        } else {
          cur_phase = q.prompt_tokens >= 0 && pos >= q.prompt_tokens ? 1 : 0;
        }
      }
      if (!rows->column_is_null(3)) {
        const int32_t e = checked_id(rows->column_int(3));
        if (e < 0) {
          return corrupt("request " + std::to_string(q.id) + " position " + std::to_string(pos) +
                         " has router expert " + std::to_string(rows->column_int(3)));
        }
        router.push_back(e);
        if (rows->column_is_null(4)) {
          all_weights = false;
        } else {
          weights.push_back(static_cast<float>(rows->column_double(4)));
        }
      }
      if (!rows->column_is_null(5)) {
        const int32_t e = checked_id(rows->column_int(5));
        if (e < 0) {
          return corrupt("request " + std::to_string(q.id) + " position " + std::to_string(pos) +
                         " has used expert " + std::to_string(rows->column_int(5)));
        }
        used.push_back(e);
      }
    }
    EMOE_RETURN_IF_ERROR(flush());
  }
  if (builder.decisions() == 0) {
    return invalid_argument("session " + std::to_string(session_id) + " in '" + db.path() +
                            "' has no routing to replay");
  }
  auto in = builder.finish(prefill_chunk);
  if (!in.ok())
    return corrupt("session " + std::to_string(session_id) + ": " + in.status().message());
  return in;
}

Result<predict::ReplayInput> load_session_trace(const std::string& store_path, int64_t session_id,
                                                TraceInfo* info, int64_t prefill_chunk) {
  OpenOptions o;
  o.read_only = true;
  auto db = open_store(store_path, o);
  if (!db.ok()) return db.status();
  return load_session_trace(**db, session_id, info, prefill_chunk);
}

Result<predict::ReplayInput> load_trace_jsonl(const std::string& path, TraceInfo* info,
                                              int64_t prefill_chunk) {
  OpenOptions o;
  o.wal = false;
  auto db = open_store(":memory:", o);
  if (!db.ok()) return db.status();
  auto imported = import_trace_jsonl(**db, path);
  if (!imported.ok()) return imported.status();
  return load_session_trace(**db, imported->session_id, info, prefill_chunk);
}

}  // namespace emoe::db
