#include "core/predict/synthetic_history.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace emoe::predict {

Status SyntheticHistoryOptions::validate() const {
  EMOE_RETURN_IF_ERROR(shape.validate().with_context("synthetic history"));
  auto prob = [](double p) { return p >= 0.0 && p <= 1.0; };
  if (n_prompts < 1 || n_prompts > 10'000'000) {
    return invalid_argument("synthetic history: n_prompts must be in 1..10000000");
  }
  if (n_tasks < 1 || n_tasks > 1000 || modes_per_task < 1 || modes_per_task > 1000) {
    return invalid_argument("synthetic history: n_tasks and modes_per_task must be in 1..1000");
  }
  if (!prob(task_stay) || !prob(mode_stay) || !prob(swap_fraction) || !prob(token_noise)) {
    return invalid_argument("synthetic history: probabilities must be in [0, 1]");
  }
  if (!(zipf_s >= 0 && zipf_s <= 4)) return invalid_argument("synthetic history: zipf_s in 0..4");
  if (min_tokens < 1 || max_tokens < min_tokens || max_tokens > 1'000'000) {
    return invalid_argument("synthetic history: need 1 <= min_tokens <= max_tokens");
  }
  return Status::ok();
}

namespace {

class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  uint64_t next() { return g_(); }
  double uniform() { return static_cast<double>(g_() >> 11) * 0x1.0p-53; }
  int32_t below(int32_t n) { return static_cast<int32_t>(g_() % static_cast<uint64_t>(n)); }
  // Index drawn from cumulative weights.
  int32_t pick(const std::vector<double>& cumulative) {
    const double u = uniform() * cumulative.back();
    const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
    return static_cast<int32_t>(
        std::min<std::ptrdiff_t>(it - cumulative.begin(), std::ssize(cumulative) - 1));
  }

 private:
  std::mt19937_64 g_;
};

// k distinct experts drawn by popularity, excluding those already in `set`.
void fill_set(std::vector<int32_t>& set, int32_t k, const std::vector<double>& cumulative,
              Rng& rng) {
  while (static_cast<int32_t>(set.size()) < k) {
    const int32_t e = rng.pick(cumulative);
    if (std::find(set.begin(), set.end(), e) == set.end()) set.push_back(e);
  }
}

}  // namespace

Result<std::vector<PromptRecord>> make_synthetic_history(const SyntheticHistoryOptions& o) {
  EMOE_RETURN_IF_ERROR(o.validate());
  const HistoryShape& s = o.shape;
  Rng rng(o.seed);
  // Global popularity per layer: Zipf over a per-layer random ranking of the experts.
  std::vector<std::vector<double>> popularity(static_cast<size_t>(s.n_layer));
  for (auto& cum : popularity) {
    std::vector<int32_t> rank(static_cast<size_t>(s.n_expert));
    for (int32_t e = 0; e < s.n_expert; ++e) rank[static_cast<size_t>(e)] = e;
    for (size_t i = rank.size(); i > 1; --i) std::swap(rank[i - 1], rank[rng.next() % i]);
    cum.resize(rank.size());
    double acc = 0;
    for (int32_t e = 0; e < s.n_expert; ++e) {
      acc += 1.0 / std::pow(static_cast<double>(rank[static_cast<size_t>(e)] + 1), o.zipf_s);
      cum[static_cast<size_t>(e)] = acc;
    }
  }
  // modes[task][mode][layer]: the mode's expert set.
  std::vector<std::vector<ExpertSequence>> modes(static_cast<size_t>(o.n_tasks));
  for (auto& task_modes : modes) {
    task_modes.resize(static_cast<size_t>(o.modes_per_task));
    for (ExpertSequence& seq : task_modes) {
      seq.resize(static_cast<size_t>(s.n_layer));
      for (int32_t l = 0; l < s.n_layer; ++l) {
        fill_set(seq[static_cast<size_t>(l)], s.k, popularity[static_cast<size_t>(l)], rng);
      }
    }
  }

  std::vector<PromptRecord> out;
  out.reserve(static_cast<size_t>(o.n_prompts));
  std::vector<int32_t> last_mode(static_cast<size_t>(o.n_tasks), -1);
  int32_t task = rng.below(o.n_tasks);
  std::vector<int32_t> token_set;
  for (int32_t i = 0; i < o.n_prompts; ++i) {
    if (i > 0 && rng.uniform() >= o.task_stay) task = rng.below(o.n_tasks);
    int32_t& mode = last_mode[static_cast<size_t>(task)];
    if (mode < 0 || rng.uniform() >= o.mode_stay) mode = rng.below(o.modes_per_task);
    const ExpertSequence& base = modes[static_cast<size_t>(task)][static_cast<size_t>(mode)];

    PromptRecord r = PromptRecord::empty(i, "task" + std::to_string(task), s.n_layer, s.n_expert);
    r.prefill_tokens = o.min_tokens + rng.below(o.max_tokens - o.min_tokens + 1);
    r.decode_tokens = o.min_tokens + rng.below(o.max_tokens - o.min_tokens + 1);
    for (int32_t l = 0; l < s.n_layer; ++l) {
      const std::vector<double>& pop = popularity[static_cast<size_t>(l)];
      // The prompt's own set: the mode's, with some experts swapped for popular others.
      std::vector<int32_t> set;
      for (const int32_t e : base[static_cast<size_t>(l)]) {
        if (rng.uniform() >= o.swap_fraction) set.push_back(e);
      }
      fill_set(set, s.k, pop, rng);
      const size_t row = static_cast<size_t>(l) * static_cast<size_t>(s.n_expert);
      for (int phase = 0; phase < 2; ++phase) {
        std::vector<uint32_t>& counts = phase == 0 ? r.prefill : r.decode;
        const int64_t tokens = phase == 0 ? r.prefill_tokens : r.decode_tokens;
        for (int64_t t = 0; t < tokens; ++t) {
          token_set.clear();
          while (static_cast<int32_t>(token_set.size()) < s.k) {
            // Earlier members of the set are preferred (within-set skew), noise goes anywhere.
            const int32_t e =
                rng.uniform() < o.token_noise
                    ? rng.pick(pop)
                    : set[static_cast<size_t>(std::min(rng.below(s.k), rng.below(s.k)))];
            if (std::find(token_set.begin(), token_set.end(), e) == token_set.end()) {
              token_set.push_back(e);
            }
          }
          for (const int32_t e : token_set) ++counts[row + static_cast<size_t>(e)];
        }
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace emoe::predict
