// Trace replay speed: a synthetic trace (default 100k tokens x 32 layers x top-2 over 64
// experts, Zipf-like expert popularity per layer, requests of 250 prompt + 250 decode tokens)
// replayed through the cache model in exact LRU, exact LFU and fallback at 50% budget.
// Prints one JSON object; the target is >= 10 million token-layer events per second.
// Usage: bench_replay [tokens] [repeats]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/common/json_writer.h"
#include "core/experts/cache_model.h"
#include "core/predict/trace_replay.h"

using namespace emoe;

namespace {

predict::ReplayInput synthetic(int64_t tokens, int32_t n_layer, int32_t n_expert, int32_t k,
                               int32_t prompt, int32_t decode, uint32_t seed) {
  std::mt19937 rng(seed);
  // Per layer: popularity 1 / (rank + 1) over a random permutation of the experts.
  std::vector<std::vector<double>> cdf(static_cast<size_t>(n_layer));
  std::vector<std::vector<int32_t>> perm(static_cast<size_t>(n_layer));
  for (int32_t l = 0; l < n_layer; ++l) {
    auto& p = perm[static_cast<size_t>(l)];
    p.resize(static_cast<size_t>(n_expert));
    for (int32_t e = 0; e < n_expert; ++e) p[static_cast<size_t>(e)] = e;
    std::shuffle(p.begin(), p.end(), rng);
    double sum = 0;
    for (int32_t r = 0; r < n_expert; ++r) {
      sum += 1.0 / (r + 1);
      cdf[static_cast<size_t>(l)].push_back(sum);
    }
    for (double& c : cdf[static_cast<size_t>(l)]) c /= sum;
  }
  std::uniform_real_distribution<double> u(0, 1);
  predict::ReplayInput in;
  in.n_layer = n_layer;
  in.n_expert = n_expert;
  in.k = k;
  int64_t left = tokens;
  int64_t id = 0;
  while (left > 0) {
    predict::ReplayRequest r;
    r.id = ++id;
    r.task = std::string(1, 't');
    r.task += std::to_string(id % 5);
    const int32_t n = static_cast<int32_t>(std::min<int64_t>(left, prompt + decode));
    left -= n;
    r.router.assign(static_cast<size_t>(n) * n_layer * k, -1);
    for (int32_t t = 0; t < n; ++t) {
      r.pos.push_back(t);
      r.phase.push_back(t < prompt ? 0 : 1);
      for (int32_t l = 0; l < n_layer; ++l) {
        int32_t* dst = r.router.data() + (static_cast<size_t>(t) * n_layer + l) * k;
        const auto& c = cdf[static_cast<size_t>(l)];
        for (int32_t j = 0; j < k;) {
          const size_t rank =
              static_cast<size_t>(std::lower_bound(c.begin(), c.end(), u(rng)) - c.begin());
          const int32_t e = perm[static_cast<size_t>(l)][std::min(rank, c.size() - 1)];
          if (std::find(dst, dst + j, e) != dst + j) continue;
          dst[j++] = e;
        }
      }
    }
    predict::assign_steps(r, 512);
    in.requests.push_back(std::move(r));
  }
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t tokens = argc > 1 ? std::max<int64_t>(1, std::atoll(argv[1])) : 100000;
  const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  const int32_t n_layer = 32, n_expert = 64, k = 2;
  const predict::ReplayInput in = synthetic(tokens, n_layer, n_expert, k, 250, 250, 7);
  const uint64_t expert_bytes = 3u << 20;  // about a 4-bit 4096 x 14336 x 3 expert / 8
  const experts::CacheShape shape =
      experts::CacheShape::uniform(n_layer, n_expert, k, expert_bytes);

  struct Config {
    const char* name;
    engine::RoutingMode mode;
    experts::EvictionPolicy policy;
    const char* predictor;
  };
  const Config configs[] = {
      {"exact_lru", engine::RoutingMode::Exact, experts::EvictionPolicy::Lru, ""},
      {"exact_lfu", engine::RoutingMode::Exact, experts::EvictionPolicy::Lfu, ""},
      {"fallback", engine::RoutingMode::Fallback, experts::EvictionPolicy::Lru, ""},
      {"fallback_frequency_p40", engine::RoutingMode::Fallback, experts::EvictionPolicy::Lru,
       "frequency"},
  };
  JsonWriter j;
  j.begin_object();
  j.key("benchmark").value("replay");
  j.key("tokens").value(in.tokens()).key("layers").value(n_layer).key("experts").value(n_expert);
  j.key("top_k").value(k).key("requests").value(static_cast<int64_t>(in.requests.size()));
  j.key("token_layer_events").value(in.token_layer_events());
  j.key("budget").value("50%").key("expert_bytes").value(expert_bytes);
  j.key("target_events_per_second").value(1e7);
  j.key("results").begin_array();
  for (const Config& c : configs) {
    predict::ReplayOptions o;
    o.mode = c.mode;
    o.policy = c.policy;
    o.predictor = c.predictor;
    o.budget_bytes = shape.total_bytes() / 2;
    double best = 0;
    predict::ReplayReport last;
    for (int r = 0; r < repeats; ++r) {
      auto rep = predict::replay_trace(in, shape, o);
      if (!rep.ok()) {
        std::fprintf(stderr, "%s: %s\n", c.name, rep.status().message().c_str());
        return 1;
      }
      best = std::max(best, rep->events_per_second);
      last = std::move(rep).value();
    }
    j.begin_object().key("config").value(c.name);
    j.key("events_per_second").value(std::round(best));
    j.key("seconds").value(static_cast<double>(last.token_layer_events) / best);
    j.key("hit_rate").value(last.total.topk_hit_rate());
    j.key("fallback_rate").value(last.total.fallback_rate());
    j.key("loads").value(last.total.loads).key("evictions").value(last.total.evictions);
    j.key("modelled_stall_s").value(last.total.stall_s);
    j.key("meets_target").value(best >= 1e7);
    j.end_object();
  }
  j.end_array().end_object();
  std::printf("%s\n", j.str().c_str());
  return 0;
}
