// How an MoE layer maps the router's choice to the experts actually computed with.
#pragma once

#include <optional>
#include <string_view>

namespace emoe::engine {

enum class RoutingMode {
  All,       // every expert available (host weights, or a device tier holding all of them)
  Exact,     // the router's top-k; a missing expert is loaded on demand (output equals All)
  Fallback,  // eMoE: the best-scoring resident experts replace missing ones; never waits
};

inline std::string_view routing_mode_name(RoutingMode m) {
  switch (m) {
    case RoutingMode::All:
      return "all";
    case RoutingMode::Exact:
      return "exact";
    case RoutingMode::Fallback:
      return "fallback";
  }
  return "unknown";
}

inline std::optional<RoutingMode> routing_mode_from_name(std::string_view s) {
  if (s == "all") return RoutingMode::All;
  if (s == "exact") return RoutingMode::Exact;
  if (s == "fallback") return RoutingMode::Fallback;
  return std::nullopt;
}

}  // namespace emoe::engine
