// emoe bench: prefill/decode throughput and decode's share of the memory bandwidth, for each
// requested thread count, in one run so the ratios are measured side by side.
#include <cstdio>
#include <sstream>

#include "app/cli/cli_common.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/experts/expert_cache.h"
#include "core/experts/memory_plan.h"
#include "core/metrics/engine_bench.h"

namespace emoe::cli {
namespace {

Result<std::vector<int>> parse_thread_list(const ParsedArgs& args) {
  auto s = args.get_string("threads");
  if (!s.ok()) return s.status();
  std::vector<int> out;
  std::stringstream ss(*s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 512) {
      return args.error("--threads expects a comma-separated list of integers in 1..512, got '" +
                        *s + "'");
    }
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) return args.error("--threads is empty");
  return out;
}

}  // namespace

void declare_bench(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file")
      .option("threads", 't', "LIST", "thread counts to measure, comma-separated", "1,2")
      .option("prompt-tokens", 0, "N", "prompt length for the prefill measurement", "512")
      .option("decode-tokens", 0, "N", "decode steps per measurement", "64")
      .option("repetitions", 'r', "N", "best of N for every figure", "3")
      .option("bandwidth-mib", 0, "N", "buffer for the memory-bandwidth measurement", "1024")
      .flag("budget-sweep",
            "also run expert budgets 10%..100% with exact+LRU, exact+LFU and fallback routing "
            "(first thread count)")
      .flag("json", "print one JSON object");
}

namespace {

struct SweepRow {
  double percent = 0;
  std::string config;
  uint64_t budget = 0;
  int64_t max_context = 0;
  metrics::EngineBenchResult r;
};

Result<std::vector<SweepRow>> budget_sweep(const model::Model& m, metrics::EngineBenchOptions o) {
  std::vector<SweepRow> rows;
  experts::ExpertStore store(m.config(), m.weights());
  const uint64_t min = experts::ExpertCache::minimum_budget(store);
  struct Config {
    const char* name;
    engine::RoutingMode mode;
    experts::EvictionPolicy policy;
  };
  const Config configs[] = {
      {"exact+lru", engine::RoutingMode::Exact, experts::EvictionPolicy::Lru},
      {"exact+lfu", engine::RoutingMode::Exact, experts::EvictionPolicy::Lfu},
      {"fallback", engine::RoutingMode::Fallback, experts::EvictionPolicy::Lru}};
  for (int pct = 10; pct <= 100; pct += 10) {
    // 100% gets a whole slot per expert; below, the percentage of all expert bytes.
    const uint64_t budget = pct == 100
                                ? store.total_bytes() + 64ull * store.n_layer() * store.n_expert()
                                : std::max(min, store.total_bytes() * pct / 100);
    experts::MemoryPlanOptions po;
    po.expert_budget = budget;
    auto plan = experts::plan_memory(m.config(), m.weights(), store, po);
    for (const Config& c : configs) {
      experts::ExpertCacheOptions co;
      co.budget_bytes = budget;
      co.policy = c.policy;
      auto cache = experts::ExpertCache::create(store, co);
      if (!cache.ok()) return cache.status();
      if (c.mode == engine::RoutingMode::Fallback) (*cache)->fill();
      o.experts = {c.mode, cache->get()};
      std::fprintf(stderr, "bench: budget %d%% %s...\n", pct, c.name);
      auto r = metrics::run_engine_bench(m, o);
      if (!r.ok()) return r.status();
      rows.push_back({double(pct), c.name, budget, plan.ok() ? plan->max_context : 0, *r});
    }
  }
  return rows;
}

}  // namespace

Status run_bench(const ParsedArgs& args) {
  auto threads = parse_thread_list(args);
  if (!threads.ok()) return threads.status();
  metrics::EngineBenchOptions o;
  auto pt = args.get_int("prompt-tokens", 1, 1 << 16);
  if (!pt.ok()) return pt.status();
  auto dt = args.get_int("decode-tokens", 1, 1 << 16);
  if (!dt.ok()) return dt.status();
  auto reps = args.get_int("repetitions", 1, 100);
  if (!reps.ok()) return reps.status();
  auto bw = args.get_int("bandwidth-mib", 16, 1 << 20);
  if (!bw.ok()) return bw.status();
  o.bandwidth_bytes = static_cast<uint64_t>(*bw) << 20;
  o.prompt_tokens = *pt;
  o.decode_tokens = *dt;
  o.repetitions = static_cast<int>(*reps);
  auto model = load_model(args);
  if (!model.ok()) return model.status();

  std::vector<metrics::EngineBenchResult> results;
  for (int t : *threads) {
    o.n_threads = t;
    std::fprintf(stderr, "bench: %d thread(s)...\n", t);
    auto r = metrics::run_engine_bench(**model, o);
    if (!r.ok()) return r.status();
    results.push_back(*r);
  }
  std::vector<SweepRow> sweep;
  if (args.flag("budget-sweep")) {
    if (!(*model)->config().is_moe())
      return args.error("--budget-sweep needs a model with experts");
    o.n_threads = threads->front();
    auto rows = budget_sweep(**model, o);
    if (!rows.ok()) return rows.status();
    sweep = std::move(rows).value();
  }
  const model::ModelWeights& w = (*model)->weights();
  if (args.flag("json")) {
    JsonWriter j;
    j.begin_object().key("model").value((*model)->file().path());
    j.key("weight_bytes").value(w.dense_bytes + w.expert_bytes);
    j.key("expert_bytes").value(w.expert_bytes).key("runs").begin_array();
    for (const auto& r : results) {
      j.begin_object().key("threads").value(int64_t{r.n_threads});
      j.key("prompt_tokens").value(r.prompt_tokens).key("prefill_tok_s").value(r.prefill_tok_s);
      j.key("decode_tokens").value(r.decode_tokens).key("decode_tok_s").value(r.decode_tok_s);
      j.key("decode_bytes_per_token").value(r.decode_bytes_per_token);
      j.key("decode_gb_s").value(r.decode_gb_s).key("memory_gb_s").value(r.memory_gb_s);
      j.key("bandwidth_fraction").value(r.bandwidth_fraction).end_object();
    }
    j.end_array();
    if (!sweep.empty()) {
      j.key("budget_sweep").begin_array();
      for (const SweepRow& row : sweep) {
        j.begin_object().key("budget_percent").value(row.percent).key("config").value(row.config);
        j.key("budget_bytes").value(row.budget).key("max_context").value(row.max_context);
        j.key("decode_tok_s").value(row.r.decode_tok_s).key("hit_rate").value(row.r.hit_rate);
        j.key("loaded_bytes_per_token").value(row.r.loaded_bytes_per_token);
        j.key("stall_ms_per_token").value(row.r.stall_ms_per_token);
        j.key("peak_device_bytes").value(row.r.peak_device_bytes).end_object();
      }
      j.end_array();
    }
    j.end_object();
    std::printf("%s\n", j.str().c_str());
    return Status::ok();
  }
  std::printf("%-8s %14s %13s %16s %11s %11s %9s\n", "threads", "prefill tok/s", "decode tok/s",
              "bytes/token", "decode GB/s", "memory GB/s", "fraction");
  for (const auto& r : results) {
    std::printf("%-8d %14.1f %13.2f %16s %11.2f %11.2f %8.0f%%\n", r.n_threads, r.prefill_tok_s,
                r.decode_tok_s,
                human_bytes(static_cast<uint64_t>(r.decode_bytes_per_token)).c_str(), r.decode_gb_s,
                r.memory_gb_s, 100.0 * r.bandwidth_fraction);
  }
  if (!sweep.empty()) {
    std::printf("\n%-7s %-10s %13s %8s %14s %12s %12s %12s\n", "budget", "config", "decode tok/s",
                "hit", "loaded/token", "stall ms/tok", "peak", "max context");
    for (const SweepRow& row : sweep) {
      std::printf("%6.0f%% %-10s %13.2f %7.1f%% %14s %12.3f %12s %12lld\n", row.percent,
                  row.config.c_str(), row.r.decode_tok_s, 100.0 * row.r.hit_rate,
                  human_bytes(static_cast<uint64_t>(row.r.loaded_bytes_per_token)).c_str(),
                  row.r.stall_ms_per_token, human_bytes(row.r.peak_device_bytes).c_str(),
                  static_cast<long long>(row.max_context));
    }
  }
  return Status::ok();
}

}  // namespace emoe::cli
