// Read API over the store, on a connection of its own (off the GUI thread). WAL readers see
// whole committed batches only. Every query returns plain structs; a damaged file, a missing
// table or an id that is not in the store comes back as a Status, never an abort.
// Units: times in microseconds on the recorder's steady clock, sizes in bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/common/status.h"

namespace emoe::db {

class Database;

// Every set field narrows the rows; unset fields do not filter. The phase and time filters
// need the token row of a routing position, so positions without one are excluded by them.
struct RoutingFilter {
  std::optional<int64_t> session_id;
  std::optional<int64_t> request_id;
  std::optional<int32_t> phase;  // 0 prefill, 1 decode (from the tokens table)
  // Fields below have initializers so that brace-initialising the first three stays warning-free.
  std::optional<std::string> task = std::nullopt;  // requests.task; "" selects those without one
  // Half-open [from_us, to_us) on tokens.time_us, the time the engine routed the token.
  std::optional<int64_t> from_us = std::nullopt, to_us = std::nullopt;
};

enum class ExpertChoice { Used, Router };

struct ExpertCount {
  int32_t layer = 0;
  int32_t expert = 0;
  int64_t count = 0;
  bool operator==(const ExpertCount&) const = default;
};

// One (position, layer) of a request: the router's top-k with gate weights and what was used.
struct TraceStep {
  int32_t pos = 0;
  int32_t layer = 0;
  int32_t token_id = -1;  // -1 when the token row is missing
  int32_t phase = -1;
  std::vector<int32_t> router_experts;
  std::vector<float> router_weights;
  std::vector<int32_t> used_experts;
  std::vector<float> used_weights;
};

// counts[a * n_expert + b]: tokens that used expert a at layer l and expert b at layer l+1.
struct TransitionMatrix {
  int32_t n_expert = 0;
  std::vector<int64_t> counts;
};

// Used experts of one task: counts[layer * n_expert + expert]; tokens is the number of token
// rows of that task's requests that pass the filter. Requests without a task are task "".
struct TaskPopularity {
  std::string task;
  int64_t tokens = 0;
  std::vector<int64_t> counts;
  bool operator==(const TaskPopularity&) const = default;
};

// Hits and misses (expert_events kinds 3 and 4) of one layer in one time bucket; the bucket
// starts bucket_start_us after the session's first expert event (of any kind).
struct HitRatePoint {
  int32_t layer = 0;
  int64_t bucket_start_us = 0;
  int64_t hits = 0;
  int64_t misses = 0;
  bool operator==(const HitRatePoint&) const = default;
};

struct SessionInfo {
  int64_t id = 0;
  std::optional<int64_t> model_id;
  std::string model_path;  // "" when the session has no model row
  int64_t started_at_us = 0;
  std::string config_json;
  int64_t request_count = 0;
  int64_t token_count = 0;
  bool operator==(const SessionInfo&) const = default;
};

// All columns of a requests row; NULL columns are nullopt.
struct RequestInfo {
  int64_t id = 0;
  int64_t session_id = 0;
  std::optional<std::string> task, text;
  std::optional<double> slo_ttft_ms, slo_e2e_ms;
  std::optional<int64_t> arrival_us, first_token_us, finish_us;
  std::optional<int64_t> prompt_tokens, generated_tokens;
  bool operator==(const RequestInfo&) const = default;
};

// Bytes of device-tier memory at time_us; a NULL column reads as 0.
struct MemorySampleRow {
  int64_t id = 0;
  int64_t time_us = 0;
  int64_t dense = 0, experts = 0, budget = 0, kv = 0, scratch = 0;
  bool operator==(const MemorySampleRow&) const = default;
};

struct ExpertEventRow {
  int64_t id = 0;
  int64_t time_us = 0;
  int32_t kind = 0;  // experts::ExpertEventKind: 0 LoadStarted, 1 LoadFinished, 2 Evicted,
                     // 3 Hit, 4 Miss
  int32_t layer = 0;
  int32_t expert = 0;
  int64_t bytes = 0;
  double micros = 0;
  bool operator==(const ExpertEventRow&) const = default;
};

struct RunInfo {
  int64_t id = 0;
  std::string name;
  std::optional<int64_t> session_id, created_at_us;
  std::optional<std::string> config_json, metrics_json;
  bool operator==(const RunInfo&) const = default;
};

// A JSON scalar: null (monostate), true/false, a number (as double: integers above 2^53 lose
// precision) or a string (UTF-8, escapes decoded).
using JsonScalar = std::variant<std::monostate, bool, double, std::string>;

// Parses one JSON object whose values are all scalars, e.g. runs.metrics. Keys keep their order
// in the text. Malformed JSON, a duplicate key or a nested object/array is InvalidArgument with
// the byte offset of the problem.
Result<std::vector<std::pair<std::string, JsonScalar>>> parse_flat_json_object(
    std::string_view text);
// How a value is shown in tables: null, true/false, the shortest round-trip number, the string.
std::string json_scalar_to_string(const JsonScalar& value);

// Rows are metric names (sorted), columns the runs in the order asked for.
struct RunComparison {
  std::vector<int64_t> run_ids;
  std::vector<std::string> run_names;
  std::vector<std::string> metrics;
  // values[row][column]; nullopt when that run has no such metric (or no metrics at all).
  std::vector<std::vector<std::optional<JsonScalar>>> values;
};

class RoutingQueries {
 public:
  // Opens read-only; the store must already have the current schema version.
  static Result<std::unique_ptr<RoutingQueries>> open(const std::string& path);
  ~RoutingQueries();

  // Non-zero counts sorted by (layer, expert).
  Result<std::vector<ExpertCount>> expert_counts(const RoutingFilter& filter,
                                                 ExpertChoice choice = ExpertChoice::Used);
  // Sorted by (pos, layer); experts in rank order. NotFound for an unknown request.
  Result<std::vector<TraceStep>> request_trace(int64_t request_id);
  // Used experts at layer -> layer + 1. An expert id >= n_expert is reported as Corrupt.
  Result<TransitionMatrix> transition_matrix(int32_t layer, int32_t n_expert,
                                             const RoutingFilter& filter = {});
  // One entry per task with routing or tokens under the filter, sorted by task name. A layer
  // or expert outside [0, n_layer) x [0, n_expert) is reported as Corrupt.
  Result<std::vector<TaskPopularity>> task_popularity(int32_t n_layer, int32_t n_expert,
                                                      const RoutingFilter& filter = {});
  // Buckets with at least one hit or miss, sorted by (layer, bucket_start_us).
  Result<std::vector<HitRatePoint>> hit_rate_over_time(int64_t session_id, int64_t bucket_us);

  // Listings (sorted by id, or by time then id); NotFound for an unknown session.
  Result<std::vector<SessionInfo>> list_sessions();
  Result<std::vector<RequestInfo>> session_requests(int64_t session_id);
  Result<std::vector<MemorySampleRow>> memory_samples(int64_t session_id);
  Result<std::vector<ExpertEventRow>> expert_events(int64_t session_id,
                                                    std::optional<int32_t> kind = {});
  Result<std::vector<RunInfo>> list_runs();
  // NotFound for an unknown run; a run whose metrics are not a flat JSON object is Corrupt.
  Result<RunComparison> compare_runs(const std::vector<int64_t>& run_ids);

 private:
  explicit RoutingQueries(std::unique_ptr<Database> db);
  Status require_session(int64_t session_id);
  std::unique_ptr<Database> db_;
};

}  // namespace emoe::db
