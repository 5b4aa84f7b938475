// The expert device tier as the CLI configures it: --budget, --routing, --policy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "app/cli/cli_args.h"
#include "core/common/json_writer.h"
#include "core/engine/moe_layer.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/metrics/routing_counters.h"
#include "core/model/model.h"

namespace emoe::cli {

struct PagingSetup {
  std::unique_ptr<experts::ExpertStore> store;
  std::unique_ptr<experts::ExpertCache> cache;  // null: no device tier (routing all, host)
  engine::ExpertAccess access;
};

void declare_paging_options(CommandSpec& spec);

// "1073741824", "512M", "1.5G" (binary units), "25%" of all expert bytes, or "4e" experts per
// MoE layer.
Result<uint64_t> parse_budget(const std::string& text, const experts::ExpertStore& store);

Result<PagingSetup> paging_setup(const ParsedArgs& args, const model::Model& model);

// Adds "paging": {routing, budget_bytes, hits, misses, substitutions, loads, bytes_loaded,
// evictions, stall_ms, peak_device_bytes} to an open JSON object.
void write_paging_json(JsonWriter& j, const PagingSetup& p, const metrics::RoutingCounters& c);

}  // namespace emoe::cli
