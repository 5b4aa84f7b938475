// emoe profile: measures the scheduler's inputs (DESIGN.md section 6, docs/SCHEDULING.md) on this
// machine and model: c, the compute time of one token in one forward step (from a prefill and a
// short decode), dE, the time one device-tier expert load takes (ExpertCache loads), and each
// task's mean output length (a short greedy run per task over the built-in prompts, or the
// workload limits). Stored as a runs row named "profile"; `emoe serve` loads the latest one of
// its model.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "app/cli/cli_common.h"
#include "app/cli/cli_db.h"
#include "app/cli/cli_profiles.h"
#include "app/cli/commands.h"
#include "core/common/json_reader.h"
#include "core/common/json_writer.h"
#include "core/engine/generator.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/sched/builtin_workloads.h"
#include "db/database.h"
#include "db/machine_profiles.h"
#include "db/recording_session.h"
#include "db/schema.h"
#include "kernels/gpu/gpu_device.h"

namespace emoe::cli {

namespace {

struct Timing {
  double prefill_ms_per_token = 0, decode_ms_per_token = 0;
  int64_t prompt_tokens = 0, decode_tokens = 0;
};

// Best of `reps` runs (the least disturbed) of a prefill of the prompt and `decode` single-token
// steps on a fresh sequence each time.
Result<Timing> measure_compute(engine::Engine& engine, const std::vector<int32_t>& prompt,
                               int32_t decode, int reps) {
  Timing t;
  t.prefill_ms_per_token = t.decode_ms_per_token = 1e300;
  for (int i = 0; i < reps; ++i) {
    auto seq = engine.new_sequence();
    if (!seq.ok()) return seq.status();
    engine::GenerateOptions o;
    o.max_new_tokens = decode + 1;  // the first token comes from the prefill's logits
    o.stop_at_eos = false;
    o.cancel = &interrupt_flag();
    auto r = engine::generate(engine, *seq, prompt, o);
    engine.free_sequence(*seq);
    if (!r.ok()) return r.status();
    if (r->stop == engine::StopReason::Cancelled) return cancelled("interrupted");
    t.prompt_tokens = r->prompt_tokens;
    t.decode_tokens = r->decode_steps;
    t.prefill_ms_per_token = std::min(
        t.prefill_ms_per_token, r->prefill_seconds * 1e3 / std::max<int64_t>(1, r->prompt_tokens));
    if (r->decode_steps > 0) {
      t.decode_ms_per_token =
          std::min(t.decode_ms_per_token, r->decode_seconds * 1e3 / r->decode_steps);
    }
  }
  if (t.decode_ms_per_token > 1e299) t.decode_ms_per_token = t.prefill_ms_per_token;
  return t;
}

struct LoadTiming {
  double ms_per_load = 0, bytes_per_s = 0;
  uint64_t bytes_per_load = 0;
  int64_t loads = 0;
};

// Synchronous loads into a device tier of the minimum size: cycling over every (layer, expert)
// in LRU order makes each acquire a miss, so each one copies one expert. A GPU tier only queues
// its copies on acquire, so there the loop is timed up to the copy stream's end instead.
Result<LoadTiming> measure_loads(const model::Model& model, int64_t n_loads,
                                 const std::shared_ptr<kernels::gpu::Device>& device) {
  LoadTiming t;
  if (!model.config().is_moe()) return t;
  experts::ExpertStore store(model.config(), model.weights());
  experts::ExpertCacheOptions o;
  o.budget_bytes = experts::ExpertCache::minimum_budget(store);
  o.async_loader = false;
  o.device = device;
  const auto t0 = std::chrono::steady_clock::now();
  auto cache = experts::ExpertCache::create(store, o);
  if (!cache.ok()) return cache.status();
  const int64_t pairs = int64_t{store.n_layer()} * store.n_expert();
  for (int64_t i = 0; i < n_loads + pairs && t.loads < n_loads; ++i) {
    const int32_t layer = static_cast<int32_t>((i / store.n_expert()) % store.n_layer());
    const int32_t expert = static_cast<int32_t>(i % store.n_expert());
    auto h = (*cache)->acquire(layer, expert, true);
    if (!h.ok()) return h.status();
    t.loads = static_cast<int64_t>((*cache)->stats().loads);
  }
  if (device) {
    const kernels::gpu::GpuStatus synced = device->sync_stream(kernels::gpu::StreamId::Copy);
    if (!synced.ok()) return device_error("profile: " + synced.message());
  }
  const experts::CacheStats st = (*cache)->stats();
  const double micros =
      device
          ? std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count()
          : st.stall_micros;
  if (st.loads == 0 || micros <= 0) return t;
  t.loads = static_cast<int64_t>(st.loads);
  t.ms_per_load = micros / 1e3 / static_cast<double>(st.loads);
  t.bytes_per_load = st.bytes_loaded / st.loads;
  t.bytes_per_s = static_cast<double>(st.bytes_loaded) / (micros / 1e6);
  return t;
}

}  // namespace

void declare_profile(CommandSpec& spec) {
  spec.required_option("model", 'm', "MODEL", "GGUF model file")
      .option("prompt-tokens", 0, "N", "prefill measurement: prompt length", "64")
      .option("decode-tokens", 0, "N", "decode measurement: single-token steps", "16")
      .option("reps", 0, "N", "compute measurements (the fastest counts)", "3")
      .option("loads", 0, "N", "expert loads timed for dE", "64")
      .option("output-runs", 0, "N",
              "greedy runs per task for the mean output length (built-in prompts); 0: use the "
              "per-task workload limits",
              "2")
      .option("max-new-tokens", 0, "N", "cap on each output-length run", "64")
      .option("db", 0, "FILE",
              "store the profile as a runs row in this SQLite database; default: "
              "$XDG_DATA_HOME/emoe-studio/history.db")
      .flag("no-db", "do not store the profile")
      .flag("json", "print only the JSON object");
  declare_engine_options(spec);
}

Status run_profile(const ParsedArgs& args) {
  auto prompt_len = args.get_int("prompt-tokens", 1, 4096);
  if (!prompt_len.ok()) return prompt_len.status();
  auto decode = args.get_int("decode-tokens", 1, 4096);
  if (!decode.ok()) return decode.status();
  auto reps = args.get_int("reps", 1, 100);
  if (!reps.ok()) return reps.status();
  auto n_loads = args.get_int("loads", 1, 1000000);
  if (!n_loads.ok()) return n_loads.status();
  auto output_runs = args.get_int("output-runs", 0, 100);
  if (!output_runs.ok()) return output_runs.status();
  auto cap = args.get_int("max-new-tokens", 1, 4096);
  if (!cap.ok()) return cap.status();
  auto eopts = engine_options(args);
  if (!eopts.ok()) return eopts.status();
  auto dbp = db_path(args);
  if (!dbp.ok()) return dbp.status();
  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status();
  auto model = load_model(args);
  if (!model.ok()) return model.status();
  const bool json = args.flag("json");
  auto engine = engine::Engine::create(**model, *eopts);
  if (!engine.ok()) return engine.status();
  const tokenizer::Tokenizer& tok = (*model)->tokenizer();
  const int64_t n_ctx = (*engine)->options().n_ctx;

  // The compute prompt: built-in prompts one after another, cut to the asked length (and so
  // that the decode steps still fit the context).
  std::vector<int32_t> prompt;
  const int64_t want = std::min<int64_t>(*prompt_len, std::max<int64_t>(1, n_ctx - *decode - 2));
  for (size_t k = 0; static_cast<int64_t>(prompt.size()) < want; ++k) {
    const auto& list = (*prompts)[k % sched::kTaskCount];
    if (list.empty()) continue;
    const std::vector<int32_t> part =
        tok.encode(list[(k / sched::kTaskCount) % list.size()], prompt.empty(), false);
    prompt.insert(prompt.end(), part.begin(), part.end());
    if (k > 100000) break;
  }
  if (prompt.empty()) return invalid_argument("the built-in prompts encode to no tokens");
  prompt.resize(static_cast<size_t>(std::min<int64_t>(want, static_cast<int64_t>(prompt.size()))));

  if (!json) std::fprintf(stderr, "profile: compute (%zu prompt tokens)...\n", prompt.size());
  auto compute =
      measure_compute(**engine, prompt, static_cast<int32_t>(*decode), static_cast<int>(*reps));
  if (!compute.ok()) return compute.status();
  if (!json) std::fprintf(stderr, "profile: expert loads...\n");
  auto loads = measure_loads(**model, *n_loads, eopts->device);
  if (!loads.ok()) return loads.status();

  // Mean output length per task: greedy, stopping at EOS, capped.
  std::array<double, sched::kTaskCount> mean_out{};
  const auto limits = sched::default_task_limits();
  for (const sched::TaskType t : sched::kAllTasks) {
    const size_t ti = static_cast<size_t>(sched::task_index(t));
    const int32_t limit = std::min<int32_t>(limits[ti].max_new_tokens, static_cast<int32_t>(*cap));
    const auto& list = (*prompts)[ti];
    if (*output_runs == 0 || list.empty()) {
      mean_out[ti] = limit;
      continue;
    }
    if (!json) {
      std::fprintf(stderr, "profile: output length of %s...\n",
                   std::string(sched::task_name(t)).c_str());
    }
    int64_t total = 0, runs = 0;
    for (int64_t k = 0; k < *output_runs; ++k) {
      const std::vector<int32_t> p =
          tok.encode(list[static_cast<size_t>(k) % list.size()], true, false);
      if (p.empty() || static_cast<int64_t>(p.size()) >= n_ctx) continue;
      auto seq = (*engine)->new_sequence();
      if (!seq.ok()) return seq.status();
      engine::GenerateOptions o;
      o.max_new_tokens = limit;
      o.cancel = &interrupt_flag();
      auto r = engine::generate(**engine, *seq, p, o);
      (*engine)->free_sequence(*seq);
      if (!r.ok()) return r.status();
      if (r->stop == engine::StopReason::Cancelled) return cancelled("interrupted");
      total += static_cast<int64_t>(r->generated.size());
      ++runs;
    }
    mean_out[ti] = runs > 0 ? static_cast<double>(total) / static_cast<double>(runs) : limit;
  }

  // c: the cost of one token in one step. Decode tokens (one per sequence per step) are the
  // dearer kind on a memory-bound machine, so Eq. 3 counts every token at that price: an upper
  // bound that keeps eMoE's SLO protection on the safe side.
  const double per_token_ms = compute->decode_ms_per_token;
  const db::ModelInfo info = db::describe_model(**model);

  JsonWriter cfg;
  cfg.begin_object().key("command").value("profile").key("model").value(info.path);
  cfg.key("model_size").value(info.size_bytes).key("threads").value(eopts->n_threads);
  cfg.key("ctx").value(n_ctx).key("prompt_tokens").value(compute->prompt_tokens);
  cfg.key("decode_tokens").value(compute->decode_tokens).key("reps").value(*reps);
  cfg.key("loads").value(*n_loads).key("output_runs").value(*output_runs);
  cfg.key("max_new_tokens").value(*cap).end_object();

  JsonWriter met;
  met.begin_object().key("per_token_ms").value(per_token_ms);
  met.key("prefill_ms_per_token").value(compute->prefill_ms_per_token);
  met.key("decode_ms_per_token").value(compute->decode_ms_per_token);
  met.key("expert_load_ms").value(loads->ms_per_load);
  met.key("expert_load_bytes_per_s").value(loads->bytes_per_s);
  met.key("expert_bytes").value(loads->bytes_per_load);
  met.key("expert_loads").value(loads->loads);
  for (const sched::TaskType t : sched::kAllTasks) {
    met.key(db::machine_profile_output_key(t))
        .value(mean_out[static_cast<size_t>(sched::task_index(t))]);
  }
  met.end_object();

  int64_t run_id = 0;
  if (*dbp) {
    auto id = db::store_run_row(**dbp, db::kMachineProfileRunName, cfg.str(), met.str());
    if (!id.ok()) return id.status().with_context("storing the profile in '" + **dbp + "'");
    run_id = *id;
  }

  JsonWriter j;
  j.begin_object().key("model").value(info.path);
  j.key("per_token_ms").value(per_token_ms);
  j.key("prefill_ms_per_token").value(compute->prefill_ms_per_token);
  j.key("decode_ms_per_token").value(compute->decode_ms_per_token);
  j.key("prompt_tokens").value(compute->prompt_tokens);
  j.key("decode_tokens").value(compute->decode_tokens);
  j.key("expert_load_ms").value(loads->ms_per_load);
  j.key("expert_load_bytes_per_s").value(loads->bytes_per_s);
  j.key("expert_bytes").value(loads->bytes_per_load).key("expert_loads").value(loads->loads);
  j.key("output_source").value(*output_runs == 0 ? "limits" : "greedy");
  j.key("mean_output_tokens").begin_object();
  for (const sched::TaskType t : sched::kAllTasks) {
    j.key(sched::task_name(t)).value(mean_out[static_cast<size_t>(sched::task_index(t))]);
  }
  j.end_object();
  if (*dbp) {
    j.key("db").begin_object().key("path").value(**dbp).key("run_id").value(run_id).end_object();
  }
  j.end_object();
  std::printf("%s\n", j.str().c_str());
  if (!json && *dbp) {
    std::fprintf(stderr, "stored profile run %lld in %s\n", static_cast<long long>(run_id),
                 dbp->value().c_str());
  }
  return Status::ok();
}

}  // namespace emoe::cli
