// emoe bench: prefill/decode throughput and decode's share of the memory bandwidth, for each
// requested thread count, in one run so the ratios are measured side by side.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
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
      .flag("record",
            "also measure decode with the run recorded into the database (--db), interleaved "
            "with unrecorded runs (first thread count)")
      .flag("json", "print one JSON object");
  declare_db_options(spec, /*opt_in=*/true);
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

// Decode throughput without and with recording, interleaved (plain, recorded, plain, ...) so
// both see the same machine state; best of `reps` each, as the other figures.
struct RecordCost {
  double plain_tok_s = 0;
  double recorded_tok_s = 0;
  double cost = 0;  // 1 - recorded / plain
};

Result<RecordCost> record_cost(const model::Model& m, int threads, int64_t tokens, int reps,
                               CliRecording& rec) {
  engine::EngineOptions eo;
  eo.n_threads = threads;
  eo.n_ctx = tokens;
  auto engine = engine::Engine::create(m, eo);
  if (!engine.ok()) return engine.status();
  engine::Engine& e = **engine;
  const int32_t bos = m.tokenizer().vocab().bos;
  RecordCost r;
  std::vector<float> logits;
  engine::Batch batch;
  for (int rep = 0; rep < reps; ++rep) {
    for (const bool recorded : {false, true}) {
      auto seq = e.new_sequence();
      if (!seq.ok()) return seq.status();
      int64_t request = 0;
      if (recorded) {
        auto id = rec.begin_request(*seq, "bench decode " + std::to_string(rep));
        if (!id.ok()) return id.status();
        request = *id;
        rec.attach(e, nullptr);
      }
      int32_t next = bos >= 0 ? bos : 1;
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < tokens; ++i) {
        batch.assign(1, {next, *seq, static_cast<int32_t>(i), true, engine::Phase::Decode});
        EMOE_RETURN_IF_ERROR(e.decode(batch, &logits));
        next =
            static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        if (recorded && i == 0) EMOE_RETURN_IF_ERROR(rec.first_token(request));
      }
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double tok_s = static_cast<double>(tokens) / s;
      if (recorded) {
        rec.detach();
        EMOE_RETURN_IF_ERROR(rec.finish_request(*seq, request, 0, tokens));
        r.recorded_tok_s = std::max(r.recorded_tok_s, tok_s);
      } else {
        r.plain_tok_s = std::max(r.plain_tok_s, tok_s);
      }
      e.free_sequence(*seq);
    }
  }
  r.cost = r.plain_tok_s > 0 ? 1.0 - r.recorded_tok_s / r.plain_tok_s : 0;
  return r;
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
  // Recording is opt-in here: a benchmark should not grow the history unless asked to.
  std::unique_ptr<CliRecording> rec;
  if (args.flag("record")) {
    if (args.flag("no-db")) return args.error("--record needs a database; drop --no-db");
    SessionConfig cfg = session_config(args, "bench");
    cfg.extra = [&](JsonWriter& j) {
      j.key("threads").value(int64_t{threads->front()}).key("decode_tokens").value(*dt);
      j.key("repetitions").value(*reps);
    };
    auto opened = CliRecording::open(args, **model, session_config_json(cfg));
    if (!opened.ok()) return opened.status();
    rec = std::move(opened).value();
  }

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
  RecordCost cost;
  if (rec) {
    std::fprintf(stderr, "bench: decode with and without recording...\n");
    auto c = record_cost(**model, threads->front(), *dt, static_cast<int>(*reps), *rec);
    EMOE_RETURN_IF_ERROR(close_recording(rec.get(), c.ok() ? Status::ok() : c.status()));
    cost = *c;
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
    if (rec) {
      j.key("recording").begin_object().key("threads").value(int64_t{threads->front()});
      j.key("plain_decode_tok_s").value(cost.plain_tok_s);
      j.key("recorded_decode_tok_s").value(cost.recorded_tok_s);
      j.key("cost").value(cost.cost).end_object();
      rec->write_json(j);
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
  if (rec) {
    std::printf(
        "\nrecording (%d threads): decode %.2f tok/s plain, %.2f tok/s recorded, cost %.1f%%\n",
        threads->front(), cost.plain_tok_s, cost.recorded_tok_s, 100.0 * cost.cost);
    rec->print_summary();
  }
  return Status::ok();
}

}  // namespace emoe::cli
