#include "core/predict/sensitivity_profiler.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "core/engine/engine.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/metrics/accuracy.h"
#include "core/model/model.h"

namespace emoe::predict {
namespace {

// SplitMix64 with rejection sampling written out, so every standard library draws the same sets.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do {
      v = next();
    } while (v >= limit);
    return static_cast<uint32_t>(v % n);
  }
};

// k distinct experts out of n (partial Fisher-Yates), ascending.
std::vector<int32_t> random_set(Rng& rng, int32_t n, int32_t k) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), 0);
  for (int32_t i = 0; i < k; ++i) {
    const int32_t j = i + static_cast<int32_t>(rng.below(static_cast<uint32_t>(n - i)));
    std::swap(ids[static_cast<size_t>(i)], ids[static_cast<size_t>(j)]);
  }
  ids.resize(static_cast<size_t>(k));
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Restores the engine's expert access when the sweep ends, however it ends.
struct AccessGuard {
  engine::Engine& engine;
  engine::ExpertAccess saved;
  ~AccessGuard() { (void)engine.set_expert_access(saved); }
};

}  // namespace

int32_t insensitive_prefix(std::span<const double> accuracy, double threshold) {
  int32_t x = 0;
  while (static_cast<size_t>(x) < accuracy.size() &&
         accuracy[static_cast<size_t>(x)] >= threshold) {
    ++x;
  }
  return x;
}

std::vector<float> sensitivity_from_accuracy(std::span<const double> accuracy, double threshold,
                                             std::span<const int32_t> moe_layers, int32_t n_layer) {
  std::vector<float> s(static_cast<size_t>(std::max(n_layer, 0)), 0.0f);
  const int32_t x = insensitive_prefix(accuracy, threshold);
  for (size_t i = 0; i < moe_layers.size(); ++i) {
    const int32_t l = moe_layers[i];
    if (l < 0 || l >= n_layer) continue;
    s[static_cast<size_t>(l)] = static_cast<int32_t>(i) < x ? 0.0f : 1.0f;
  }
  return s;
}

Result<SensitivityProfile> profile_sensitivity(engine::Engine& engine, const std::string& task,
                                               std::span<const std::vector<int32_t>> prompts,
                                               const SensitivityOptions& options) {
  if (!std::isfinite(options.threshold)) {
    return invalid_argument("sensitivity: the threshold must be a finite number");
  }
  if (prompts.empty()) return invalid_argument("sensitivity: task '" + task + "' has no prompts");
  for (size_t p = 0; p < prompts.size(); ++p) {
    if (prompts[p].empty()) {
      return invalid_argument("sensitivity: prompt " + std::to_string(p) + " of task '" + task +
                              "' has no tokens");
    }
  }
  const model::Model& model = engine.model();
  if (!model.config().is_moe()) {
    return invalid_argument("sensitivity: the model has no experts");
  }
  experts::ExpertStore store(model.config(), model.weights());
  SensitivityProfile prof;
  prof.task = task;
  prof.threshold = options.threshold;
  prof.prompts = static_cast<int32_t>(prompts.size());
  for (int32_t l = 0; l < store.n_layer(); ++l) {
    if (store.layout(l).total > 0) prof.moe_layers.push_back(l);
  }
  const int32_t n_moe = static_cast<int32_t>(prof.moe_layers.size());
  const int32_t n_expert = store.n_expert();
  const int32_t k = store.n_expert_used();
  const int64_t step = options.granularity == RandomGranularity::Token ? 1 : 512;

  AccessGuard guard{engine, engine.expert_access()};
  EMOE_RETURN_IF_ERROR(engine.set_expert_access({engine::RoutingMode::All, nullptr}));

  // Reference: the sequences to teacher-force and the full model's top-1 at every position,
  // computed with the same step size as the randomised runs so batching cannot differ.
  const metrics::LogitsSource ref = metrics::engine_source(engine, step);
  const size_t n_vocab = static_cast<size_t>(ref.n_vocab);
  std::vector<std::vector<int32_t>> sequences;
  std::vector<std::vector<int32_t>> ref_top;
  std::vector<float> logits;
  for (size_t p = 0; p < prompts.size(); ++p) {
    std::vector<int32_t> seq = prompts[p];
    if (options.continuation_tokens > 0) {
      auto g = metrics::greedy_continuation(ref, seq, options.continuation_tokens);
      if (!g.ok())
        return g.status().with_context("sensitivity: reference, prompt " + std::to_string(p));
      seq.insert(seq.end(), g->begin(), g->end());
    }
    EMOE_RETURN_IF_ERROR(ref.forward(seq, &logits).with_context("sensitivity: reference"));
    std::vector<int32_t> top(seq.size());
    for (size_t i = 0; i < seq.size(); ++i) {
      top[i] = metrics::argmax(std::span<const float>(logits).subspan(i * n_vocab, n_vocab));
    }
    prof.positions += static_cast<int64_t>(seq.size());
    sequences.push_back(std::move(seq));
    ref_top.push_back(std::move(top));
  }

  const uint64_t slot = (store.max_expert_bytes() + 63) / 64 * 64;
  for (int32_t x = 1; x <= n_moe; ++x) {
    // Exactly enough slots for k experts in each randomised layer and all of them elsewhere,
    // so a new random set can only displace the layer's previous one.
    const uint64_t n_slots = static_cast<uint64_t>(x) * static_cast<uint64_t>(k) +
                             static_cast<uint64_t>(n_moe - x) * static_cast<uint64_t>(n_expert);
    experts::ExpertCacheOptions co;
    co.budget_bytes = n_slots * slot;
    co.policy = experts::EvictionPolicy::Pinned;
    co.async_loader = false;
    co.device = engine.options().device;  // the tier lives where the engine computes
    auto cache = experts::ExpertCache::create(store, co);
    if (!cache.ok()) return cache.status().with_context("sensitivity: prefix " + std::to_string(x));
    std::vector<int32_t> all(static_cast<size_t>(n_expert));
    std::iota(all.begin(), all.end(), 0);
    Rng rng{options.seed * 0x100000001B3ull + static_cast<uint64_t>(x)};
    for (int32_t i = x; i < n_moe; ++i) {
      EMOE_RETURN_IF_ERROR((*cache)->set_plan(prof.moe_layers[static_cast<size_t>(i)], all));
    }
    auto redraw = [&]() -> Status {
      for (int32_t i = 0; i < x; ++i) {
        const std::vector<int32_t> set = random_set(rng, n_expert, k);
        EMOE_RETURN_IF_ERROR((*cache)->set_plan(prof.moe_layers[static_cast<size_t>(i)], set));
      }
      return Status::ok();
    };
    EMOE_RETURN_IF_ERROR(redraw());
    EMOE_RETURN_IF_ERROR(engine.set_expert_access({engine::RoutingMode::Fallback, cache->get()}));
    const bool per_token = options.granularity == RandomGranularity::Token;
    const metrics::LogitsSource cand = metrics::engine_source(
        engine, step,
        [&](int32_t pos) -> Status { return per_token || pos == 0 ? redraw() : Status::ok(); });
    int64_t agree = 0;
    for (size_t p = 0; p < sequences.size(); ++p) {
      EMOE_RETURN_IF_ERROR(cand.forward(sequences[p], &logits)
                               .with_context("sensitivity: prefix " + std::to_string(x)));
      for (size_t i = 0; i < sequences[p].size(); ++i) {
        const int32_t top =
            metrics::argmax(std::span<const float>(logits).subspan(i * n_vocab, n_vocab));
        if (top == ref_top[p][i]) ++agree;
      }
    }
    EMOE_RETURN_IF_ERROR(engine.set_expert_access({engine::RoutingMode::All, nullptr}));
    prof.accuracy.push_back(static_cast<double>(agree) / static_cast<double>(prof.positions));
    if (options.progress && !options.progress(x, n_moe)) {
      return cancelled("sensitivity: cancelled after " + std::to_string(x) + " of " +
                       std::to_string(n_moe) + " prefixes");
    }
    if (options.stop_at_failure && prof.accuracy.back() < options.threshold) break;
  }
  prof.insensitive_layers = insensitive_prefix(prof.accuracy, options.threshold);
  prof.sensitivity =
      sensitivity_from_accuracy(prof.accuracy, options.threshold, prof.moe_layers, store.n_layer());
  return prof;
}

}  // namespace emoe::predict
