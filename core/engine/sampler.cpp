#include "core/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace emoe::engine {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Strict weak order that never leaves ties to the sort: higher logit first, then lower id.
bool ranks_before(const TokenCandidate& a, const TokenCandidate& b) {
  if (a.logit != b.logit) return a.logit > b.logit;
  return a.id < b.id;
}

int32_t argmax_lowest_id(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best;
}

// exp((l - max) / t) that is well defined when max is +inf: only the maxima get weight.
double weight(float logit, float max_logit, double inv_temp) {
  if (logit == max_logit) return 1.0;
  return std::exp((static_cast<double>(logit) - static_cast<double>(max_logit)) * inv_temp);
}

}  // namespace

Status SamplerParams::validate() const {
  if (!std::isfinite(temperature)) {
    return invalid_argument("sampler: temperature must be finite, got " +
                            std::to_string(temperature));
  }
  if (top_k < 0) {
    return invalid_argument("sampler: top_k must be >= 0, got " + std::to_string(top_k));
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    return invalid_argument("sampler: top_p must be in (0, 1], got " + std::to_string(top_p));
  }
  if (min_keep < 1) {
    return invalid_argument("sampler: min_keep must be >= 1, got " + std::to_string(min_keep));
  }
  if (!(std::isfinite(repeat_penalty) && repeat_penalty > 0.0f)) {
    return invalid_argument("sampler: repeat_penalty must be > 0, got " +
                            std::to_string(repeat_penalty));
  }
  if (repeat_last_n < -1) {
    return invalid_argument("sampler: repeat_last_n must be >= -1, got " +
                            std::to_string(repeat_last_n));
  }
  return Status::ok();
}

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history,
                              float penalty, int last_n) {
  if (penalty == 1.0f || last_n == 0 || history.empty()) return;
  size_t window = history.size();
  if (last_n > 0) window = std::min(window, static_cast<size_t>(last_n));
  // llama.cpp penalises each distinct token once, however often it repeats.
  std::vector<int32_t> ids(history.end() - static_cast<std::ptrdiff_t>(window), history.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= logits.size()) continue;
    float& l = logits[static_cast<size_t>(id)];
    l = l > 0.0f ? l / penalty : l * penalty;
  }
}

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

Sampler::Sampler(SamplerParams params) : params_(params), rng_(params.seed) {
  // Out-of-range values from callers that skipped validate() degrade to "off", never to UB.
  if (!std::isfinite(params_.temperature)) params_.temperature = 0.0f;
  params_.top_k = std::max(params_.top_k, 0);
  if (!(params_.top_p > 0.0f && params_.top_p <= 1.0f)) params_.top_p = 1.0f;
  params_.min_keep = std::max(params_.min_keep, 1);
  if (!(std::isfinite(params_.repeat_penalty) && params_.repeat_penalty > 0.0f)) {
    params_.repeat_penalty = 1.0f;
  }
  params_.repeat_last_n = std::max(params_.repeat_last_n, -1);
}

void Sampler::reset(uint64_t seed) {
  params_.seed = seed;
  rng_.seed(seed);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  candidates_.clear();
  if (logits.empty()) return -1;

  work_.assign(logits.begin(), logits.end());
  for (float& l : work_) {
    if (std::isnan(l)) l = kNegInf;
  }
  apply_repetition_penalty(work_, history, params_.repeat_penalty, params_.repeat_last_n);

  if (params_.temperature <= 0.0f) return argmax_lowest_id(work_);

  const size_t n = work_.size();
  candidates_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    candidates_[i] = TokenCandidate{static_cast<int32_t>(i), work_[i], 0.0};
  }
  const size_t min_keep = static_cast<size_t>(params_.min_keep);

  // Sorting a 150k vocabulary costs milliseconds per token, so it only happens when a filter
  // needs the order; unfiltered draws walk the candidates in id order.
  bool sorted = false;
  if (params_.top_k > 0) {
    const size_t k = std::min(std::max(static_cast<size_t>(params_.top_k), min_keep), n);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k),
                      candidates_.end(), ranks_before);
    candidates_.resize(k);
    sorted = true;
  }
  if (params_.top_p < 1.0f) {
    if (!sorted) std::sort(candidates_.begin(), candidates_.end(), ranks_before);
    sorted = true;
    const float max_logit = candidates_.front().logit;
    double total = 0.0;
    for (TokenCandidate& c : candidates_) {
      c.p = weight(c.logit, max_logit, 1.0);
      total += c.p;
    }
    double cum = 0.0;
    size_t keep = candidates_.size();
    for (size_t i = 0; i < candidates_.size(); ++i) {
      cum += candidates_[i].p / total;
      if (cum >= static_cast<double>(params_.top_p) && i + 1 >= min_keep) {
        keep = i + 1;
        break;
      }
    }
    candidates_.resize(keep);
  }

  float max_logit = kNegInf;
  for (const TokenCandidate& c : candidates_) max_logit = std::max(max_logit, c.logit);
  if (max_logit == kNegInf) {
    // Nothing is possible; keep the documented lowest-id answer and the one-draw-per-call rule.
    (void)uniform01(rng_);
    candidates_.clear();
    return 0;
  }

  const double inv_temp = 1.0 / static_cast<double>(params_.temperature);
  double total = 0.0;
  for (TokenCandidate& c : candidates_) {
    c.p = weight(c.logit, max_logit, inv_temp);
    total += c.p;
  }
  for (TokenCandidate& c : candidates_) c.p /= total;

  const double target = uniform01(rng_);
  double cum = 0.0;
  int32_t chosen = -1;
  for (const TokenCandidate& c : candidates_) {
    cum += c.p;
    if (c.p > 0.0) chosen = c.id;  // rounding can leave cum just below 1: take the last possible
    if (cum > target && c.p > 0.0) break;
  }
  return chosen;
}

}  // namespace emoe::engine
