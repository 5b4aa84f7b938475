#include "db/routing_queries.h"

#include "db/database.h"
#include "db/schema.h"

namespace emoe::db {

namespace {

// ?1 session, ?2 request, ?3 phase; NULL disables a filter. Expects aliases r (routing) and
// q (requests) and t (tokens, left-joined).
constexpr const char* kFilter =
    " (?1 IS NULL OR q.session_id = ?1) AND (?2 IS NULL OR r.request_id = ?2) AND"
    " (?3 IS NULL OR t.phase = ?3) ";

Status bind_filter(Statement& st, const RoutingFilter& f) {
  EMOE_RETURN_IF_ERROR(f.session_id ? st.bind_int(1, *f.session_id) : st.bind_null(1));
  EMOE_RETURN_IF_ERROR(f.request_id ? st.bind_int(2, *f.request_id) : st.bind_null(2));
  return f.phase ? st.bind_int(3, *f.phase) : st.bind_null(3);
}

}  // namespace

RoutingQueries::RoutingQueries(std::unique_ptr<Database> db) : db_(std::move(db)) {}
RoutingQueries::~RoutingQueries() = default;

Result<std::unique_ptr<RoutingQueries>> RoutingQueries::open(const std::string& path) {
  OpenOptions o;
  o.read_only = true;
  auto db = open_store(path, o);
  if (!db.ok()) return db.status();
  return std::unique_ptr<RoutingQueries>(new RoutingQueries(std::move(*db)));
}

Result<std::vector<ExpertCount>> RoutingQueries::expert_counts(const RoutingFilter& filter,
                                                               ExpertChoice choice) {
  const std::string col = choice == ExpertChoice::Used ? "r.used_expert" : "r.router_expert";
  const std::string sql =
      "SELECT r.layer, " + col +
      ", count(*) FROM routing r"
      " JOIN requests q ON q.id = r.request_id"
      " LEFT JOIN tokens t ON t.request_id = r.request_id AND t.pos = r.pos WHERE" +
      kFilter + "AND " + col + " IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2";
  auto st = db_->prepare(sql);
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(bind_filter(*st, filter));
  std::vector<ExpertCount> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back({static_cast<int32_t>(st->column_int(0)), static_cast<int32_t>(st->column_int(1)),
                   st->column_int(2)});
  }
  return out;
}

Result<std::vector<TraceStep>> RoutingQueries::request_trace(int64_t request_id) {
  auto st = db_->prepare(
      "SELECT r.pos, r.layer, r.rank, r.router_expert, r.router_weight, r.used_expert,"
      " r.used_weight, t.token_id, t.phase FROM routing r"
      " LEFT JOIN tokens t ON t.request_id = r.request_id AND t.pos = r.pos"
      " WHERE r.request_id = ?1 ORDER BY r.pos, r.layer, r.rank");
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(st->bind_int(1, request_id));
  std::vector<TraceStep> out;
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const auto pos = static_cast<int32_t>(st->column_int(0));
    const auto layer = static_cast<int32_t>(st->column_int(1));
    if (out.empty() || out.back().pos != pos || out.back().layer != layer) {
      TraceStep s;
      s.pos = pos;
      s.layer = layer;
      if (!st->column_is_null(7)) {
        s.token_id = static_cast<int32_t>(st->column_int(7));
        s.phase = static_cast<int32_t>(st->column_int(8));
      }
      out.push_back(std::move(s));
    }
    TraceStep& s = out.back();
    if (!st->column_is_null(3)) {
      s.router_experts.push_back(static_cast<int32_t>(st->column_int(3)));
      s.router_weights.push_back(static_cast<float>(st->column_double(4)));
    }
    if (!st->column_is_null(5)) {
      s.used_experts.push_back(static_cast<int32_t>(st->column_int(5)));
      s.used_weights.push_back(static_cast<float>(st->column_double(6)));
    }
  }
  return out;
}

Result<TransitionMatrix> RoutingQueries::transition_matrix(int32_t layer, int32_t n_expert,
                                                           const RoutingFilter& filter) {
  if (n_expert <= 0) return invalid_argument("transition_matrix: n_expert must be positive");
  const std::string sql =
      "SELECT r.used_expert, n.used_expert, count(*) FROM routing r"
      " JOIN routing n ON n.request_id = r.request_id AND n.pos = r.pos AND n.layer = r.layer + 1"
      " JOIN requests q ON q.id = r.request_id"
      " LEFT JOIN tokens t ON t.request_id = r.request_id AND t.pos = r.pos WHERE" +
      std::string(kFilter) +
      "AND r.layer = ?4 AND r.used_expert IS NOT NULL AND n.used_expert IS NOT NULL"
      " GROUP BY 1, 2";
  auto st = db_->prepare(sql);
  if (!st.ok()) return st.status();
  EMOE_RETURN_IF_ERROR(bind_filter(*st, filter));
  EMOE_RETURN_IF_ERROR(st->bind_int(4, layer));
  TransitionMatrix m;
  m.n_expert = n_expert;
  m.counts.assign(static_cast<size_t>(n_expert) * n_expert, 0);
  while (true) {
    auto row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const int64_t a = st->column_int(0), b = st->column_int(1);
    if (a < 0 || b < 0 || a >= n_expert || b >= n_expert) {
      return corrupt("routing at layer " + std::to_string(layer) + " names expert " +
                     std::to_string(a >= n_expert || a < 0 ? a : b) + ", outside [0, " +
                     std::to_string(n_expert) + ")");
    }
    m.counts[static_cast<size_t>(a * n_expert + b)] += st->column_int(2);
  }
  return m;
}

}  // namespace emoe::db
