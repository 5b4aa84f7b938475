// emoe replay: a recorded or imported routing trace run through the device tier's policy, the
// routing mode and optionally a predictor + planner, without the model; load time modelled from
// expert bytes and a bandwidth (core/predict/trace_replay.h).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/commands.h"
#include "core/common/json_writer.h"
#include "core/experts/cache_model.h"
#include "core/experts/expert_store.h"
#include "core/model/model.h"
#include "core/predict/trace_replay.h"
#include "db/trace_source.h"

namespace emoe::cli {
namespace {

void write_layer(JsonWriter& j, const predict::ReplayLayerReport& r) {
  j.key("decisions").value(r.decisions);
  j.key("hits").value(r.topk_hits).key("misses").value(r.topk_misses);
  j.key("hit_rate").value(r.topk_hit_rate());
  j.key("substitutions").value(r.substitutions).key("short_decisions").value(r.short_decisions);
  j.key("fallback_rate").value(r.fallback_rate());
  j.key("acquire_hits").value(r.hits).key("acquire_misses").value(r.misses);
  j.key("loads").value(r.loads).key("bytes_loaded").value(r.bytes_loaded);
  j.key("evictions").value(r.evictions).key("stall_ms").value(r.stall_s * 1e3);
}

}  // namespace

void declare_replay(CommandSpec& spec) {
  spec.option("db", 0, "FILE", "store to read the session from (default: the user's history)")
      .option("session", 0, "N", "session id in the store")
      .option("trace", 0, "FILE", "an emoe-trace JSONL file instead of a stored session")
      .option("model", 'm', "MODEL",
              "GGUF model for the expert sizes (default: the session's model file, if present)")
      .option("expert-bytes", 0, "N", "bytes of one expert, every routed layer (without a model)")
      .option("budget", 0, "SIZE",
              "device-tier budget: bytes (K/M/G), a percentage of all expert bytes (25%) or "
              "experts per layer (4e); default: the session's recorded budget")
      .option("routing", 0, "MODE", "exact or fallback (default: the session's, else exact)")
      .option("policy", 0, "POLICY", "lru or lfu (default: the session's, else lru)")
      .option("predictor", 0, "NAME",
              "drive pinned residency with this predictor and the planner (emoe-a, emoe-l, "
              "frequency, markov, popularity, activation-matrix, random, oracle)")
      .option("interval", 0, "P", "predictor invocation period in requests", "40")
      .flag("per-task", "predict per task (PeriodicInvoker PerTask mode)")
      .option("bandwidth-gbs", 0, "X", "modelled host-to-device bandwidth, GB/s (1e9 bytes)", "25")
      .option("latency-us", 0, "X", "modelled fixed cost per load, microseconds", "0")
      .option("prefill-chunk", 0, "N", "prompt tokens per forward step, as generated", "512")
      .flag("layers", "print per-layer results")
      .flag("json", "print one JSON object");
}

Status run_replay(const ParsedArgs& args) {
  const bool from_trace = args.has("trace");
  if (from_trace == args.has("session")) {
    return args.error("give either --session N (with --db FILE) or --trace FILE.jsonl");
  }
  if (from_trace && args.has("db")) return args.error("--db goes with --session, not --trace");
  auto chunk = args.get_int("prefill-chunk", 1, 1 << 24);
  if (!chunk.ok()) return chunk.status();
  auto bw = args.get_float("bandwidth-gbs", 1e-6, 1e6);
  if (!bw.ok()) return bw.status();
  auto latency = args.get_float("latency-us", 0, 1e9);
  if (!latency.ok()) return latency.status();
  auto interval = args.get_int("interval", 1, 200);
  if (!interval.ok()) return interval.status();

  // The trace.
  db::TraceInfo info;
  std::string source;
  Result<predict::ReplayInput> input = Status(invalid_argument("no trace"));
  if (from_trace) {
    auto path = args.get_string("trace");
    if (!path.ok()) return path.status();
    source = *path;
    input = db::load_trace_jsonl(*path, &info, *chunk);
  } else {
    auto session = args.get_int("session", 1);
    if (!session.ok()) return session.status();
    std::string store;
    if (args.has("db")) {
      store = *args.get_string("db");
    } else {
      auto def = default_db_path();
      if (!def.ok()) return def.status();
      store = *def;
    }
    if (!std::filesystem::exists(store)) {
      return not_found("database '" + store + "' does not exist");
    }
    source = store;
    input = db::load_session_trace(store, *session, &info, *chunk);
  }
  if (!input.ok()) return input.status();

  // Expert sizes: a model file, else --expert-bytes over the routed layers.
  experts::CacheShape shape;
  std::string sizes_from;
  std::string model_path = args.has("model") ? *args.get_string("model") : std::string();
  if (model_path.empty() && !args.has("expert-bytes") && !info.model_path.empty() &&
      std::filesystem::is_regular_file(info.model_path)) {
    model_path = info.model_path;
  }
  if (!model_path.empty()) {
    auto m = model::Model::load(model_path);
    if (!m.ok()) return m.status();
    if (!(*m)->config().is_moe()) return args.error("model '" + model_path + "' has no experts");
    const experts::ExpertStore store((*m)->config(), (*m)->weights());
    shape = experts::CacheShape::from_store(store);
    sizes_from = model_path;
  } else if (args.has("expert-bytes")) {
    auto bytes = args.get_int("expert-bytes", 1, int64_t{1} << 40);
    if (!bytes.ok()) return bytes.status();
    const std::vector<uint8_t> routed = input->routed_layers();
    const int32_t k_model = info.n_expert_used > 0 ? info.n_expert_used : input->k;
    shape = experts::CacheShape::uniform(input->n_layer, input->n_expert, k_model,
                                         static_cast<uint64_t>(*bytes), routed);
    sizes_from = "--expert-bytes";
  } else {
    return args.error("needs -m MODEL or --expert-bytes N for the experts' sizes");
  }
  EMOE_RETURN_IF_ERROR(shape.validate());

  // Settings: options, else what the session recorded.
  predict::ReplayOptions o;
  std::string routing = args.has("routing") ? *args.get_string("routing")
                        : info.routing && (*info.routing == "exact" || *info.routing == "fallback")
                            ? *info.routing
                            : "exact";
  auto mode = engine::routing_mode_from_name(routing);
  if (!mode || *mode == engine::RoutingMode::All) {
    return args.error("--routing expects exact or fallback, got '" + routing + "'");
  }
  o.mode = *mode;
  std::string policy = args.has("policy") ? *args.get_string("policy")
                       : info.policy && (*info.policy == "lru" || *info.policy == "lfu")
                           ? *info.policy
                           : "lru";
  if (policy != "lru" && policy != "lfu") {
    return args.error("--policy expects lru or lfu, got '" + policy + "'");
  }
  o.policy = policy == "lfu" ? experts::EvictionPolicy::Lfu : experts::EvictionPolicy::Lru;
  if (args.has("budget")) {
    auto b = experts::parse_budget_text(*args.get_string("budget"), shape);
    if (!b.ok()) return args.error("--budget: " + b.status().message());
    o.budget_bytes = *b;
  } else if (info.budget_bytes) {
    o.budget_bytes = *info.budget_bytes;
  } else {
    return args.error("needs --budget (the session recorded none)");
  }
  o.bandwidth_bytes_per_s = *bw * 1e9;
  o.load_latency_s = *latency * 1e-6;
  o.prefill_chunk = *chunk;
  if (args.has("predictor")) {
    o.predictor = *args.get_string("predictor");
    o.interval = static_cast<int32_t>(*interval);
    o.invoker_mode =
        args.flag("per-task") ? predict::InvokerMode::PerTask : predict::InvokerMode::Single;
  }

  auto rep = predict::replay_trace(*input, shape, o);
  if (!rep.ok()) return rep.status();
  const predict::ReplayLayerReport& t = rep->total;
  const std::string policy_out = o.predictor.empty() ? policy : "pinned";

  if (args.flag("json")) {
    JsonWriter j;
    j.begin_object();
    j.key("source").value(source);
    if (!from_trace) j.key("session_id").value(info.session_id);
    j.key("expert_sizes_from").value(sizes_from);
    j.key("requests").value(rep->requests).key("steps").value(rep->steps);
    j.key("tokens").value(rep->tokens).key("token_layer_events").value(rep->token_layer_events);
    j.key("n_slots").value(rep->n_slots).key("slot_bytes").value(rep->slot_bytes);
    j.key("bandwidth_bytes_per_s").value(o.bandwidth_bytes_per_s);
    // The same members as `emoe generate --json`'s "paging" object, modelled.
    j.key("paging").begin_object();
    j.key("routing").value(engine::routing_mode_name(o.mode));
    j.key("policy").value(policy_out);
    j.key("hits").value(t.topk_hits).key("misses").value(t.topk_misses);
    j.key("substitutions").value(t.substitutions).key("short_decisions").value(t.short_decisions);
    j.key("budget_bytes").value(rep->budget_bytes);
    j.key("loads").value(t.loads).key("bytes_loaded").value(t.bytes_loaded);
    j.key("evictions").value(t.evictions).key("stall_ms").value(t.stall_s * 1e3);
    j.key("peak_device_bytes").value(rep->peak_bytes);
    j.end_object();
    j.key("hit_rate").value(t.topk_hit_rate()).key("fallback_rate").value(t.fallback_rate());
    j.key("acquisitions").begin_object();
    j.key("hits").value(t.hits).key("misses").value(t.misses).end_object();
    j.key("rank_hits").array(rep->rank_hits).key("rank_misses").array(rep->rank_misses);
    j.key("fill_loads").value(rep->fill_loads).key("fill_bytes").value(rep->fill_bytes);
    j.key("modelled_stall_s").value(t.stall_s);
    if (!o.predictor.empty()) {
      j.key("predictor").begin_object();
      j.key("name").value(o.predictor).key("interval").value(o.interval);
      j.key("invocations").value(rep->predictor_invocations);
      j.key("plan_changes").value(rep->plan_changes);
      j.key("prefetch_loads").value(rep->prefetch_loads);
      j.key("prefetch_bytes").value(rep->prefetch_bytes);
      j.key("prefetch_s").value(rep->prefetch_s);
      j.key("pinned_overflows").value(rep->pinned_overflows);
      j.key("dropped_prefetches").value(rep->dropped_prefetches);
      j.end_object();
    }
    if (args.flag("layers")) {
      j.key("layers").begin_array();
      for (size_t l = 0; l < rep->layers.size(); ++l) {
        if (rep->layers[l].decisions == 0) continue;
        j.begin_object().key("layer").value(static_cast<int64_t>(l));
        write_layer(j, rep->layers[l]);
        j.end_object();
      }
      j.end_array();
    }
    j.key("replay_seconds").value(rep->replay_seconds);
    j.key("events_per_second").value(rep->events_per_second);
    j.end_object();
    std::printf("%s\n", j.str().c_str());
    return Status::ok();
  }

  std::printf("replay of %s: %lld requests, %lld steps, %lld tokens, %lld token-layer events\n",
              source.c_str(), (long long)rep->requests, (long long)rep->steps,
              (long long)rep->tokens, (long long)rep->token_layer_events);
  std::printf("tier: %s routing, %s, budget %s (%d slots of %s)\n",
              std::string(engine::routing_mode_name(o.mode)).c_str(), policy_out.c_str(),
              human_bytes(rep->budget_bytes).c_str(), rep->n_slots,
              human_bytes(rep->slot_bytes).c_str());
  std::printf(
      "top-k: hits %llu, misses %llu (hit rate %.2f%%), substitutions %llu "
      "(fallback rate %.2f%%)\n",
      (unsigned long long)t.topk_hits, (unsigned long long)t.topk_misses, 100.0 * t.topk_hit_rate(),
      (unsigned long long)t.substitutions, 100.0 * t.fallback_rate());
  std::printf(
      "acquisitions: hits %llu, misses %llu | loads %llu (%s), evictions %llu | "
      "modelled stall %.3f ms at %.1f GB/s\n",
      (unsigned long long)t.hits, (unsigned long long)t.misses, (unsigned long long)t.loads,
      human_bytes(t.bytes_loaded).c_str(), (unsigned long long)t.evictions, t.stall_s * 1e3,
      o.bandwidth_bytes_per_s / 1e9);
  if (!o.predictor.empty()) {
    std::printf(
        "predictor %s every %d: %lld invocations, %lld plan changes, prefetched %llu "
        "(%s, %.3f ms)\n",
        o.predictor.c_str(), o.interval, (long long)rep->predictor_invocations,
        (long long)rep->plan_changes, (unsigned long long)rep->prefetch_loads,
        human_bytes(rep->prefetch_bytes).c_str(), rep->prefetch_s * 1e3);
  }
  if (args.flag("layers")) {
    for (size_t l = 0; l < rep->layers.size(); ++l) {
      const predict::ReplayLayerReport& r = rep->layers[l];
      if (r.decisions == 0) continue;
      std::printf("  layer %3zu: hit rate %6.2f%%, fallback %6.2f%%, loads %llu, stall %.3f ms\n",
                  l, 100.0 * r.topk_hit_rate(), 100.0 * r.fallback_rate(),
                  (unsigned long long)r.loads, r.stall_s * 1e3);
    }
  }
  std::printf("replayed in %.3f s (%.1f M events/s)\n", rep->replay_seconds,
              rep->events_per_second / 1e6);
  return Status::ok();
}

}  // namespace emoe::cli
