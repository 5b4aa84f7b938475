#include "core/metrics/engine_bench.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/engine/engine.h"
#include "core/experts/expert_cache.h"
#include "core/metrics/decode_traffic.h"
#include "core/metrics/routing_counters.h"
#include "core/model/model.h"
#include "kernels/cpu/mem_bandwidth.h"
#include "kernels/cpu/thread_pool.h"

namespace emoe::metrics {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

Result<EngineBenchResult> run_engine_bench(const model::Model& model, const EngineBenchOptions& o) {
  if (o.prompt_tokens < 1 || o.decode_tokens < 1 || o.repetitions < 1) {
    return invalid_argument("bench: prompt, decode and repetition counts must be >= 1");
  }
  engine::EngineOptions eo;
  eo.n_threads = o.n_threads;
  eo.n_ctx = std::max(o.prompt_tokens, o.decode_tokens);
  eo.experts = o.experts;
  experts::ExpertCache* cache = o.experts.cache;
  auto engine = engine::Engine::create(model, eo);
  if (!engine.ok()) return engine.status();
  engine::Engine& e = **engine;
  DecodeTraffic traffic(model.weights());
  e.add_observer(&traffic);

  // Seeded pseudo-random prompt tokens: real text is not needed to time the arithmetic.
  std::vector<int32_t> prompt(static_cast<size_t>(o.prompt_tokens));
  uint64_t s = o.seed;
  const int64_t n_vocab = model.config().n_vocab;
  for (int32_t& t : prompt) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    t = static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(n_vocab));
  }

  EngineBenchResult r;
  r.n_threads = o.n_threads;
  r.prompt_tokens = o.prompt_tokens;
  r.decode_tokens = o.decode_tokens;
  std::vector<float> logits;
  engine::Batch batch;
  for (int rep = 0; rep < o.repetitions; ++rep) {
    auto seq = e.new_sequence();
    if (!seq.ok()) return seq.status();
    batch.clear();
    for (int64_t i = 0; i < o.prompt_tokens; ++i) {
      batch.push_back({prompt[static_cast<size_t>(i)], *seq, static_cast<int32_t>(i),
                       i == o.prompt_tokens - 1, engine::Phase::Prefill});
    }
    const auto t0 = Clock::now();
    EMOE_RETURN_IF_ERROR(e.decode(batch, &logits));
    r.prefill_tok_s = std::max(r.prefill_tok_s, o.prompt_tokens / since(t0));
    e.free_sequence(*seq);

    // Decode starts from one token in a fresh sequence, like llama-bench's tg test, so the
    // figure is the weight-streaming rate rather than attention over a long context.
    seq = e.new_sequence();
    if (!seq.ok()) return seq.status();
    int32_t next = prompt[0];
    double bytes = 0;
    RoutingCounters counters;
    e.add_observer(&counters);
    if (cache) cache->reset_stats();
    const auto t1 = Clock::now();
    for (int64_t i = 0; i < o.decode_tokens; ++i) {
      traffic.begin_step();
      batch.assign(1, {next, *seq, static_cast<int32_t>(i), true, engine::Phase::Decode});
      EMOE_RETURN_IF_ERROR(e.decode(batch, &logits));
      bytes += static_cast<double>(traffic.step_bytes());
      next = argmax(logits);
    }
    const double tok_s = o.decode_tokens / since(t1);
    e.remove_observer(&counters);
    if (tok_s > r.decode_tok_s) {
      const double n = static_cast<double>(o.decode_tokens);
      r.decode_tok_s = tok_s;
      r.decode_bytes_per_token = bytes / n;
      const uint64_t lookups = counters.hits + counters.misses;
      r.hit_rate = lookups ? static_cast<double>(counters.hits) / lookups : 1.0;
      if (cache) {
        const experts::CacheStats st = cache->stats();
        r.loaded_bytes_per_token = static_cast<double>(st.bytes_loaded) / n;
        r.stall_ms_per_token = st.stall_micros / 1000.0 / n;
        r.peak_device_bytes = st.peak_bytes;
      }
    }
    e.free_sequence(*seq);
  }
  e.remove_observer(&traffic);
  r.decode_gb_s = r.decode_bytes_per_token * r.decode_tok_s / 1e9;

  kernels::ThreadPool pool(o.n_threads);
  for (int rep = 0; rep < o.repetitions; ++rep) {
    r.memory_gb_s =
        std::max(r.memory_gb_s, kernels::measure_read_bandwidth_gbs(
                                    static_cast<size_t>(o.bandwidth_bytes), o.n_threads, &pool));
  }
  r.bandwidth_fraction = r.memory_gb_s > 0 ? r.decode_gb_s / r.memory_gb_s : 0;
  return r;
}

}  // namespace emoe::metrics
