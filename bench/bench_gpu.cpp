// GPU benchmark (issue 9's performance figures), printed as one JSON object on stdout:
//  1. the machine's copy ceilings on CUDA device 0: pinned host-to-device (256 MiB, best of 5,
//     timed with events on the copy stream) and device-to-device (same size, compute stream);
//  2. a generated Mixtral-shaped model of several GB (model_builder.h; skipped when the file
//     already exists in --scratch), loaded once;
//  3. at expert budgets 100% (every expert uploaded by the engine, routing "all"), 60% and 30%
//     (a device-tier ExpertCache filled round-robin, fallback routing): prefill tok/s on a
//     512-token prompt, decode tok/s over 64 greedy tokens after a 16-token prompt, the weight
//     bytes each decode token reads and the HBM bandwidth that implies against the D2D rate,
//     and the expert loads (bytes, H2D bandwidth against the pinned peak); below 100% also an
//     exact-routing decode, whose on-demand loads run between the layers' kernels.
// Without a usable GPU it prints {"skipped": "<reason>"} and exits 0.
// Usage: bench_gpu [--scratch DIR] [--layers N] [--embd N] [--ff N] [--experts N] [--top-k N]
//                  [--type q4_K] [--device N] [--budgets 100,60,30] [--quick]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/common/json_writer.h"
#include "core/engine/engine.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/metrics/decode_traffic.h"
#include "core/metrics/routing_counters.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "kernels/gpu/gpu_device.h"

using namespace emoe;
namespace gpu = kernels::gpu;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Options {
  std::string scratch;
  int device = 0;
  model::SyntheticModelSpec spec;
  std::vector<int> budgets = {100, 60, 30};
  int64_t prefill_tokens = 512;
  int64_t prompt_tokens = 16;
  int64_t decode_tokens = 64;
  int repetitions = 2;  // best-of, after one warm-up (first calls load kernels, cuBLAS plans)
  bool generate_only = false;  // write the model (CPU only) and exit: overlaps with other work
};

// One budget's headline figures, for the table on stderr (bench/gpu_check.sh prints it).
struct Summary {
  int pct = 0;
  const char* routing = "";
  double prefill_tok_s = 0, decode_tok_s = 0, hbm_ratio = 0;
  double fill_gb_s = 0, fill_ratio = 0;  // the tier's fill loads (below 100%)
  double exact_decode_tok_s = 0, exact_load_gb_s = 0;
  std::string error;
};

bool parse_int(const char* s, int64_t lo, int64_t hi, int64_t* out) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parse(int argc, char** argv, Options* o) {
  model::SyntheticModelSpec& s = o->spec;
  s.arch = "llama";
  s.n_layer = 8;
  s.n_embd = 4096;
  s.n_head = 32;
  s.n_head_kv = 8;
  s.n_ff = 14336;
  s.n_expert = 8;
  s.n_expert_used = 2;
  s.weight_type = kernels::TensorType::Q4_K;
  s.n_threads = 0;  // every core
  s.seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    int64_t n = 0;
    if (a == "--generate-only") {
      o->generate_only = true;
      continue;
    }
    if (a == "--quick") {  // a smoke-test size (~100 MB)
      s.n_layer = 2;
      s.n_embd = 1024;
      s.n_head = 8;
      s.n_head_kv = 2;
      s.n_ff = 2048;
      o->prefill_tokens = 128;
      o->decode_tokens = 16;
      continue;
    }
    if (!v) return false;
    ++i;
    if (a == "--scratch") {
      o->scratch = v;
    } else if (a == "--type") {
      auto t = kernels::type_from_name(v);
      if (!t) return false;
      s.weight_type = *t;
    } else if (a == "--budgets") {
      o->budgets.clear();
      std::string list = v;
      size_t at = 0;
      while (at <= list.size()) {
        const size_t comma = std::min(list.find(',', at), list.size());
        if (!parse_int(list.substr(at, comma - at).c_str(), 1, 100, &n)) return false;
        o->budgets.push_back(static_cast<int>(n));
        at = comma + 1;
      }
    } else if (!parse_int(v, 0, 1 << 20, &n)) {
      return false;
    } else if (a == "--layers") {
      s.n_layer = n;
    } else if (a == "--embd") {
      s.n_embd = n;
      s.n_head = std::max<int64_t>(1, n / 128);
      s.n_head_kv = std::max<int64_t>(1, s.n_head / 4);
    } else if (a == "--ff") {
      s.n_ff = n;
    } else if (a == "--experts") {
      s.n_expert = n;
    } else if (a == "--top-k") {
      s.n_expert_used = n;
    } else if (a == "--device") {
      o->device = static_cast<int>(n);
    } else {
      return false;
    }
  }
  if (o->scratch.empty()) {
    std::error_code ec;
    o->scratch = (std::filesystem::temp_directory_path(ec) / "emoe-bench-gpu").string();
  }
  return true;
}

struct CopyRates {
  double pinned_h2d_gb_s = 0;
  double d2d_copy_gb_s = 0;  // bytes copied per second (HBM traffic is twice this)
  std::string error;
};

// Best of `reps` timed copies of `bytes` on stream s, timed by events on that stream.
gpu::GpuStatus time_copy(gpu::Device& d, void* dst, const void* src, uint64_t bytes,
                         gpu::StreamId s, int reps, double* best_gb_s) {
  gpu::Event a = nullptr, b = nullptr;
  gpu::GpuStatus st = d.create_event(&a);
  if (st.ok()) st = d.create_event(&b);
  for (int r = 0; r <= reps && st.ok(); ++r) {  // r == 0: warm-up
    st = d.record(a, s);
    if (st.ok()) st = d.copy_async(dst, src, bytes, s);
    if (st.ok()) st = d.record(b, s);
    if (st.ok()) st = d.sync_event(b);
    float ms = 0;
    if (st.ok()) st = d.elapsed_ms(a, b, &ms);
    if (st.ok() && r > 0 && ms > 0) *best_gb_s = std::max(*best_gb_s, bytes / (ms * 1e6));
  }
  if (a) d.destroy_event(a);
  if (b) d.destroy_event(b);
  return st;
}

CopyRates measure_copy_rates(gpu::Device& d) {
  CopyRates r;
  constexpr uint64_t kBytes = uint64_t{256} << 20;
  void *host = nullptr, *dev_a = nullptr, *dev_b = nullptr;
  gpu::GpuStatus st = d.malloc_pinned(kBytes, &host);
  if (st.ok()) st = d.malloc_device(kBytes, &dev_a);
  if (st.ok()) st = d.malloc_device(kBytes, &dev_b);
  if (st.ok()) {
    std::memset(host, 1, kBytes);  // fault the pages in before timing
    st = time_copy(d, dev_a, host, kBytes, gpu::StreamId::Copy, 5, &r.pinned_h2d_gb_s);
  }
  if (st.ok()) st = time_copy(d, dev_b, dev_a, kBytes, gpu::StreamId::Compute, 5, &r.d2d_copy_gb_s);
  if (!st.ok()) r.error = st.message();
  if (dev_b) d.free_device(dev_b);
  if (dev_a) d.free_device(dev_a);
  if (host) d.free_pinned(host);
  return r;
}

std::vector<int32_t> seeded_tokens(int64_t n, int64_t n_vocab, uint64_t seed) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t& x : t) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<int32_t>((seed >> 33) % static_cast<uint64_t>(n_vocab));
  }
  return t;
}

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

struct PhaseResult {
  double prefill_tok_s = 0;
  double decode_tok_s = 0;
  double decode_bytes_per_token = 0;
  double hit_rate = 1;
  uint64_t loaded_bytes = 0;  // expert bytes copied into the tier during the best decode
  double stall_ms_per_token = 0;
};

// Prefill of `prefill_tokens` (timed alone), then decode: a 16-token prompt (untimed) and
// decode_tokens greedy steps. Best of repetitions after a warm-up round.
Result<PhaseResult> run_phases(engine::Engine& e, const model::Model& m, const Options& o,
                               experts::ExpertCache* cache, bool prefill) {
  PhaseResult r;
  const int64_t n_vocab = m.config().n_vocab;
  const std::vector<int32_t> long_prompt = seeded_tokens(o.prefill_tokens, n_vocab, 1);
  const std::vector<int32_t> prompt = seeded_tokens(o.prompt_tokens, n_vocab, 2);
  metrics::DecodeTraffic traffic(m.weights());
  std::vector<float> logits;
  engine::Batch batch;
  for (int rep = 0; rep <= o.repetitions; ++rep) {
    if (prefill) {
      auto seq = e.new_sequence();
      if (!seq.ok()) return seq.status();
      batch.clear();
      for (int64_t i = 0; i < o.prefill_tokens; ++i) {
        batch.push_back({long_prompt[static_cast<size_t>(i)], *seq, static_cast<int32_t>(i),
                         i + 1 == o.prefill_tokens, engine::Phase::Prefill});
      }
      const auto t0 = Clock::now();
      Status st = e.decode(batch, &logits);
      const double s = since(t0);
      e.free_sequence(*seq);
      EMOE_RETURN_IF_ERROR(st);
      if (rep > 0) r.prefill_tok_s = std::max(r.prefill_tok_s, o.prefill_tokens / s);
    }

    auto seq = e.new_sequence();
    if (!seq.ok()) return seq.status();
    batch.clear();
    for (int64_t i = 0; i < o.prompt_tokens; ++i) {
      batch.push_back({prompt[static_cast<size_t>(i)], *seq, static_cast<int32_t>(i),
                       i + 1 == o.prompt_tokens, engine::Phase::Prefill});
    }
    Status st = e.decode(batch, &logits);
    if (!st) {
      e.free_sequence(*seq);
      return st;
    }
    int32_t next = argmax(logits);
    metrics::RoutingCounters counters;
    e.add_observer(&counters);
    e.add_observer(&traffic);
    if (cache) cache->reset_stats();
    double bytes = 0;
    const auto t1 = Clock::now();
    for (int64_t i = 0; i < o.decode_tokens && st; ++i) {
      traffic.begin_step();
      batch.assign(
          1, {next, *seq, static_cast<int32_t>(o.prompt_tokens + i), true, engine::Phase::Decode});
      st = e.decode(batch, &logits);
      bytes += static_cast<double>(traffic.step_bytes());
      next = argmax(logits);
    }
    const double s = since(t1);
    e.remove_observer(&traffic);
    e.remove_observer(&counters);
    e.free_sequence(*seq);
    EMOE_RETURN_IF_ERROR(st);
    const double tok_s = o.decode_tokens / s;
    if (rep > 0 && tok_s > r.decode_tok_s) {
      const double n = static_cast<double>(o.decode_tokens);
      r.decode_tok_s = tok_s;
      r.decode_bytes_per_token = bytes / n;
      const uint64_t lookups = counters.hits + counters.misses;
      r.hit_rate = lookups ? static_cast<double>(counters.hits) / lookups : 1.0;
      if (cache) {
        const experts::CacheStats cs = cache->stats();
        r.loaded_bytes = cs.bytes_loaded;
        r.stall_ms_per_token = cs.stall_micros / 1000.0 / n;
      }
    }
  }
  return r;
}

// Writes the decode figures; returns the HBM ratio. seconds > 0: the decode time the loads
// ran in (exact routing), for their bandwidth.
double write_phases(JsonWriter& j, const PhaseResult& p, const CopyRates& rates, double seconds,
                    double* load_gb_s) {
  const double read_gb_s = p.decode_bytes_per_token * p.decode_tok_s / 1e9;
  const double hbm_gb_s = 2 * rates.d2d_copy_gb_s;
  const double ratio = hbm_gb_s > 0 ? read_gb_s / hbm_gb_s : 0.0;
  j.key("decode_tok_s").value(p.decode_tok_s);
  j.key("decode_bytes_per_token").value(p.decode_bytes_per_token);
  j.key("decode_read_gb_s").value(read_gb_s);
  j.key("hbm_ratio").value(ratio);
  j.key("hit_rate").value(p.hit_rate);
  if (seconds > 0) {
    *load_gb_s = p.loaded_bytes / seconds / 1e9;
    j.key("decode_loaded_bytes").value(p.loaded_bytes);
    j.key("decode_load_gb_s").value(*load_gb_s);
    j.key("stall_ms_per_token").value(p.stall_ms_per_token);
  }
  return ratio;
}

// One budget: the engine (and below 100% its device tier), the loads that fill the tier, then
// the measured phases. Errors go into the JSON object; the other budgets still run.
bool run_budget(JsonWriter& j, const std::shared_ptr<gpu::Device>& dev, const model::Model& m,
                const experts::ExpertStore& store, const Options& o, const CopyRates& rates,
                int pct, Summary* sum) {
  sum->pct = pct;
  sum->routing = pct < 100 ? "fallback" : "all";
  j.begin_object().key("budget_pct").value(pct);
  auto error = [&](const Status& s) {
    sum->error = s.message();
    j.key("error").value(s.message()).end_object();
    std::fprintf(stderr, "bench_gpu: %d%% budget: %s\n", pct, s.message().c_str());
    return false;
  };
  const uint64_t before = dev->allocated_bytes();
  std::unique_ptr<experts::ExpertCache> cache;
  engine::EngineOptions eo;
  eo.device = dev;
  eo.n_ctx = std::max<int64_t>(o.prefill_tokens, o.prompt_tokens + o.decode_tokens) + 1;
  j.key("routing").value(sum->routing);
  if (pct < 100) {
    experts::ExpertCacheOptions co;
    co.device = dev;
    co.budget_bytes = std::max(experts::ExpertCache::minimum_budget(store),
                               store.total_bytes() * static_cast<uint64_t>(pct) / 100);
    auto c = experts::ExpertCache::create(store, co);
    if (!c.ok()) return error(c.status());
    cache = std::move(*c);
    // The loads: fill() stages every expert that fits through pinned memory on the copy
    // stream; the time runs until the copy stream has drained.
    const auto t0 = Clock::now();
    cache->fill();
    for (int32_t l = 0; l < store.n_layer(); ++l) cache->wait_layer(l);
    const gpu::GpuStatus st = dev->sync_stream(gpu::StreamId::Copy);
    const double s = since(t0);
    if (!st.ok()) return error(Status(StatusCode::DeviceError, st.message()));
    const experts::CacheStats cs = cache->stats();
    const double gb_s = s > 0 ? cs.bytes_loaded / s / 1e9 : 0;
    sum->fill_gb_s = gb_s;
    sum->fill_ratio = rates.pinned_h2d_gb_s > 0 ? gb_s / rates.pinned_h2d_gb_s : 0;
    j.key("budget_bytes").value(co.budget_bytes);
    j.key("expert_loads").begin_object();
    j.key("count").value(cs.loads).key("bytes").value(cs.bytes_loaded).key("seconds").value(s);
    j.key("gb_s").value(gb_s);
    j.key("ratio_vs_pinned").value(sum->fill_ratio);
    j.key("failed").value(cs.failed_loads).end_object();
    eo.experts = {engine::RoutingMode::Fallback, cache.get()};
  }
  const auto t_create = Clock::now();
  auto e = engine::Engine::create(m, eo);
  if (!e.ok()) return error(e.status());
  j.key("engine_create_s").value(since(t_create));
  j.key("backend").value((*e)->backend_name());
  j.key("device_bytes").value(dev->allocated_bytes() - before);
  auto p = run_phases(**e, m, o, cache.get(), true);
  if (!p.ok()) return error(p.status());
  j.key("prefill_tok_s").value(p->prefill_tok_s);
  double unused = 0;
  sum->prefill_tok_s = p->prefill_tok_s;
  sum->decode_tok_s = p->decode_tok_s;
  sum->hbm_ratio = write_phases(j, *p, rates, 0, &unused);
  if (cache) {
    // Exact routing over the same tier: misses load on demand between the layers' kernels.
    Status st = (*e)->set_expert_access({engine::RoutingMode::Exact, cache.get()});
    if (!st) return error(st);
    auto x = run_phases(**e, m, o, cache.get(), false);
    if (!x.ok()) return error(x.status());
    j.key("exact").begin_object();
    write_phases(j, *x, rates, o.decode_tokens / x->decode_tok_s, &sum->exact_load_gb_s);
    sum->exact_decode_tok_s = x->decode_tok_s;
    j.end_object();
  }
  j.end_object();
  return true;
}

// The model file in the scratch directory, generated unless it already exists.
Status ensure_model(const Options& o, std::string* path, double* generate_s) {
  const model::SyntheticModelSpec& s = o.spec;
  char name[160];
  std::snprintf(name, sizeof name, "mixtral-L%lld-E%lld-F%lld-X%lld-K%lld-%s.gguf",
                static_cast<long long>(s.n_layer), static_cast<long long>(s.n_embd),
                static_cast<long long>(s.n_ff), static_cast<long long>(s.n_expert),
                static_cast<long long>(s.n_expert_used),
                std::string(kernels::type_name(s.weight_type)).c_str());
  std::error_code ec;
  std::filesystem::create_directories(o.scratch, ec);
  *path = (std::filesystem::path(o.scratch) / name).string();
  *generate_s = 0;
  if (std::filesystem::exists(*path)) return Status::ok();
  const auto t0 = Clock::now();
  int last = -1;
  Status st = model::write_synthetic_model(s, *path, [&](double f) {
    const int tenth = static_cast<int>(f * 10);
    if (tenth != last) std::fprintf(stderr, "bench_gpu: generating %s: %d%%\n", name, tenth * 10);
    last = tenth;
    return true;
  });
  *generate_s = since(t0);
  return st;
}

void print_summary(const CopyRates& rates, const std::vector<Summary>& rows) {
  std::fprintf(stderr, "summary: pinned H2D %.1f GB/s | D2D copy %.1f GB/s (HBM %.1f GB/s)\n",
               rates.pinned_h2d_gb_s, rates.d2d_copy_gb_s, 2 * rates.d2d_copy_gb_s);
  std::fprintf(stderr, "summary: %-6s %-8s %9s %9s %10s %9s %10s %9s %9s\n", "budget", "routing",
               "prefill/s", "decode/s", "hbm>=0.70", "fill GB/s", "load>=0.80", "exact/s",
               "exact GB/s");
  for (const Summary& r : rows) {
    if (!r.error.empty()) {
      std::fprintf(stderr, "summary: %5d%% %-8s error: %s\n", r.pct, r.routing, r.error.c_str());
      continue;
    }
    std::fprintf(stderr, "summary: %5d%% %-8s %9.1f %9.1f %10.3f", r.pct, r.routing,
                 r.prefill_tok_s, r.decode_tok_s, r.hbm_ratio);
    if (r.pct < 100) {
      std::fprintf(stderr, " %9.2f %10.3f %9.1f %9.2f\n", r.fill_gb_s, r.fill_ratio,
                   r.exact_decode_tok_s, r.exact_load_gb_s);
    } else {
      std::fprintf(stderr, " %9s %10s %9s %9s\n", "-", "-", "-", "-");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: bench_gpu [--scratch DIR] [--layers N] [--embd N] [--ff N] "
                 "[--experts N] [--top-k N] [--type q4_K] [--device N] [--budgets 100,60,30] "
                 "[--quick] [--generate-only]\n");
    return 2;
  }
  std::string path;
  double generate_s = 0;
  if (o.generate_only) {
    const Status st = ensure_model(o, &path, &generate_s);
    std::printf("{\"model\": %s, \"generate_s\": %.3f%s%s}\n", JsonWriter::escape(path).c_str(),
                generate_s,
                st ? "" : ", \"error\": ", st ? "" : JsonWriter::escape(st.message()).c_str());
    return st ? 0 : 1;
  }
  gpu::OpenResult opened = gpu::open_device(o.device);
  if (!opened.device) {
    std::printf("{\"skipped\": %s}\n", JsonWriter::escape(opened.status.message()).c_str());
    std::fprintf(stderr, "summary: skipped: %s\n", opened.status.message().c_str());
    return 0;
  }
  std::shared_ptr<gpu::Device> dev = opened.device;
  const gpu::DeviceInfo& info = dev->info();
  const CopyRates rates = measure_copy_rates(*dev);

  JsonWriter j;
  j.begin_object().key("bench").value("gpu");
  j.key("device").begin_object().key("index").value(info.index).key("name").value(info.name);
  j.key("total_bytes").value(info.total_bytes);
  j.key("cc").value(std::to_string(info.cc_major) + "." + std::to_string(info.cc_minor));
  j.key("sm_count").value(info.sm_count).end_object();
  j.key("pinned_h2d_gb_s").value(rates.pinned_h2d_gb_s);
  j.key("d2d_copy_gb_s").value(rates.d2d_copy_gb_s);
  j.key("hbm_gb_s").value(2 * rates.d2d_copy_gb_s);  // a copy reads and writes every byte
  if (!rates.error.empty()) j.key("copy_error").value(rates.error);
  j.key("targets").begin_object().key("decode_hbm_ratio").value(0.70);
  j.key("expert_load_ratio").value(0.80).end_object();

  const model::SyntheticModelSpec& s = o.spec;
  Status st = ensure_model(o, &path, &generate_s);
  j.key("model").begin_object().key("path").value(path);
  j.key("layers").value(s.n_layer).key("n_embd").value(s.n_embd).key("n_ff").value(s.n_ff);
  j.key("experts").value(s.n_expert).key("top_k").value(s.n_expert_used);
  j.key("type").value(kernels::type_name(s.weight_type));
  if (generate_s > 0) j.key("generate_s").value(generate_s);
  std::unique_ptr<model::Model> m;
  if (st) {
    auto loaded = model::Model::load(path);
    if (loaded.ok()) {
      m = std::move(*loaded);
    } else {
      st = loaded.status();
    }
  }
  if (!st) {
    j.key("error").value(st.message()).end_object().end_object();
    std::printf("%s\n", j.str().c_str());
    std::fprintf(stderr, "summary: model: %s\n", st.message().c_str());
    return 1;
  }
  std::error_code ec;
  j.key("file_bytes").value(static_cast<uint64_t>(std::filesystem::file_size(path, ec)));
  const experts::ExpertStore store(m->config(), m->weights());
  j.key("expert_bytes").value(store.total_bytes()).end_object();

  int rc = 0;
  std::vector<Summary> rows;
  j.key("budgets").begin_array();
  for (int pct : o.budgets) {
    rows.emplace_back();
    if (!run_budget(j, dev, *m, store, o, rates, pct, &rows.back())) rc = 1;
  }
  j.end_array().end_object();
  std::printf("%s\n", j.str().c_str());
  print_summary(rates, rows);
  return rc;
}
