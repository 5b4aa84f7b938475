// Read API over the store, on a connection of its own (off the GUI thread). WAL readers see
// whole committed batches only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/common/status.h"

namespace emoe::db {

class Database;

struct RoutingFilter {
  std::optional<int64_t> session_id;
  std::optional<int64_t> request_id;
  std::optional<int32_t> phase;  // 0 prefill, 1 decode (from the tokens table)
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

class RoutingQueries {
 public:
  static Result<std::unique_ptr<RoutingQueries>> open(const std::string& path);
  ~RoutingQueries();

  // Non-zero counts sorted by (layer, expert).
  Result<std::vector<ExpertCount>> expert_counts(const RoutingFilter& filter,
                                                 ExpertChoice choice = ExpertChoice::Used);
  // Sorted by (pos, layer); experts in rank order.
  Result<std::vector<TraceStep>> request_trace(int64_t request_id);
  // Used experts at layer -> layer + 1. An expert id >= n_expert is reported as Corrupt.
  Result<TransitionMatrix> transition_matrix(int32_t layer, int32_t n_expert,
                                             const RoutingFilter& filter = {});

 private:
  explicit RoutingQueries(std::unique_ptr<Database> db);
  std::unique_ptr<Database> db_;
};

}  // namespace emoe::db
