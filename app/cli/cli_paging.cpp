#include "app/cli/cli_paging.h"

#include "app/cli/cli_common.h"
#include "core/experts/cache_model.h"

namespace emoe::cli {

void declare_paging_options(CommandSpec& spec) {
  spec.option("budget", 0, "SIZE",
              "expert device-tier budget: bytes (K/M/G suffixes), a percentage of all expert "
              "bytes (25%), or experts per layer (4e); default: no device tier")
      .option("routing", 0, "MODE", "all, exact or fallback (default: exact with --budget)")
      .option("policy", 0, "POLICY", "eviction policy for on-demand loads: lru or lfu", "lru");
}

Result<uint64_t> parse_budget(const std::string& text, const experts::ExpertStore& store) {
  // One grammar for live runs, replays and experiments (core/experts/budget_text.h).
  return experts::parse_budget_text(text, experts::CacheShape::from_store(store));
}

Result<PagingSetup> paging_setup(const ParsedArgs& args, const model::Model& model) {
  PagingSetup p;
  auto routing_text = args.has("routing") ? args.get_choice("routing", {"all", "exact", "fallback"})
                                          : Result<std::string>(std::string());
  if (!routing_text.ok()) return routing_text.status();
  auto policy = args.get_choice("policy", {"lru", "lfu"});
  if (!policy.ok()) return policy.status();
  const bool has_budget = args.has("budget");
  if (!has_budget) {
    if (!routing_text->empty() && *routing_text != "all") {
      return args.error("--routing " + *routing_text + " needs --budget (the device tier)");
    }
    return p;  // all experts from the mapped file
  }
  if (!model.config().is_moe()) return args.error("--budget needs a model with experts");
  p.store = std::make_unique<experts::ExpertStore>(model.config(), model.weights());
  auto budget = parse_budget(*args.get_string("budget"), *p.store);
  if (!budget.ok()) return args.error("--budget: " + budget.status().message());
  experts::ExpertCacheOptions o;
  o.budget_bytes = *budget;
  auto device = selected_device(args);  // the tier lives where the engine computes
  if (!device.ok()) return device.status();
  o.device = *device;
  o.policy = *policy == "lfu" ? experts::EvictionPolicy::Lfu : experts::EvictionPolicy::Lru;
  auto cache = experts::ExpertCache::create(*p.store, o);
  if (!cache.ok()) return cache.status();
  p.cache = std::move(cache).value();
  p.access.cache = p.cache.get();
  p.access.mode = engine::routing_mode_from_name(routing_text->empty() ? "exact" : *routing_text)
                      .value_or(engine::RoutingMode::Exact);
  if (p.access.mode == engine::RoutingMode::All) {
    p.cache->fill();
    const uint64_t all = p.store->total_bytes();
    for (int32_t l = 0; l < p.store->n_layer(); ++l) {
      if (static_cast<int32_t>(p.cache->resident_experts(l).size()) < p.store->n_expert()) {
        return args.error("--routing all needs a budget that holds every expert (" +
                          std::to_string(all) + " bytes of experts)");
      }
    }
  } else if (p.access.mode == engine::RoutingMode::Fallback) {
    p.cache->fill();  // fallback never loads on its own; start from a full device tier
  }
  return p;
}

void write_paging_json(JsonWriter& j, const PagingSetup& p, const metrics::RoutingCounters& c) {
  j.key("paging").begin_object();
  j.key("routing").value(engine::routing_mode_name(p.access.mode));
  j.key("hits").value(c.hits).key("misses").value(c.misses);
  j.key("substitutions").value(c.substitutions).key("short_decisions").value(c.short_decisions);
  if (p.cache) {
    const experts::CacheStats st = p.cache->stats();
    j.key("budget_bytes").value(p.cache->budget_bytes());
    j.key("loads").value(st.loads).key("bytes_loaded").value(st.bytes_loaded);
    j.key("evictions").value(st.evictions).key("stall_ms").value(st.stall_micros / 1000.0);
    j.key("peak_device_bytes").value(st.peak_bytes);
  }
  j.end_object();
}

}  // namespace emoe::cli
