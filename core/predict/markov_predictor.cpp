#include "core/predict/markov_predictor.h"

namespace emoe::predict {

MarkovPredictor::MarkovPredictor(PredictorOptions options)
    : Predictor(std::move(options)), n_expert_(options_.shape.n_expert) {
  reset();
}

void MarkovPredictor::reset() {
  const size_t e = static_cast<size_t>(n_expert_);
  tables_.assign(static_cast<size_t>(shape().n_layer), std::vector<double>(e * e, 0.0));
  marginal_.assign(shape().cells(), 0.0);
  last_first_.clear();
  any_ = false;
}

void MarkovPredictor::count(std::vector<double>& table, const std::vector<int32_t>& from,
                            const std::vector<int32_t>& to) {
  for (const int32_t i : from) {
    for (const int32_t j : to) {
      table[static_cast<size_t>(i) * static_cast<size_t>(n_expert_) + static_cast<size_t>(j)] +=
          1.0;
    }
  }
}

Status MarkovPredictor::train(const RoutingHistory& history) {
  EMOE_RETURN_IF_ERROR(check_history(history));
  reset();
  for (size_t i = 0; i < history.size(); ++i) EMOE_RETURN_IF_ERROR(observe(history.at(i)));
  return Status::ok();
}

Status MarkovPredictor::observe(const PromptRecord& record) {
  EMOE_RETURN_IF_ERROR(check_record(record));
  const ExpertSequence seq = expert_sequence(record, shape());
  // Dense blocks (no routing) are skipped: a table links each MoE layer to the previous one,
  // and the first MoE layer's table links it to the previous prompt's first MoE layer.
  const std::vector<int32_t>* prev = last_first_.empty() ? nullptr : &last_first_;
  std::vector<int32_t> first;
  for (int32_t l = 0; l < shape().n_layer; ++l) {
    const std::vector<int32_t>& set = seq[static_cast<size_t>(l)];
    if (set.empty()) continue;
    for (const int32_t e : set) {
      marginal_[static_cast<size_t>(l) * static_cast<size_t>(n_expert_) + static_cast<size_t>(e)] +=
          1.0;
    }
    if (prev != nullptr) count(tables_[static_cast<size_t>(l)], *prev, set);
    if (first.empty()) first = set;
    prev = &set;
  }
  if (!first.empty()) last_first_ = std::move(first);
  any_ = true;
  return Status::ok();
}

void MarkovPredictor::step(const std::vector<double>& table, std::span<const double> in,
                           std::span<const double> fallback, std::span<double> out) const {
  const size_t n = static_cast<size_t>(n_expert_);
  std::fill(out.begin(), out.end(), 0.0);
  double fallback_sum = 0;
  for (const double v : fallback) fallback_sum += v;
  for (size_t i = 0; i < n; ++i) {
    if (in[i] <= 0) continue;
    const double* row = table.data() + i * n;
    double sum = 0;
    for (size_t j = 0; j < n; ++j) sum += row[j];
    if (sum > 0) {
      for (size_t j = 0; j < n; ++j) out[j] += in[i] * row[j] / sum;
    } else if (fallback_sum > 0) {
      for (size_t j = 0; j < n; ++j) out[j] += in[i] * fallback[j] / fallback_sum;
    }
  }
}

ExpertPrediction MarkovPredictor::predict(const RoutingHistory& history,
                                          const std::string& /*task*/) {
  ExpertPrediction p = unknown();
  if (!check_history(history).is_ok() || !any_) return p;
  const size_t n = static_cast<size_t>(n_expert_);
  std::vector<double> cur(n, 0.0), next(n, 0.0);
  // The seed: the last prompt's first routed layer (layer 0 for all-MoE models).
  if (!history.empty()) {
    for (int32_t l = 0; l < shape().n_layer; ++l) {
      const std::vector<int32_t> seed = history.back().expert_set(shape().phase, l, shape().k);
      if (seed.empty()) continue;
      for (const int32_t e : seed) {
        cur[static_cast<size_t>(e)] = 1.0 / static_cast<double>(seed.size());
      }
      break;
    }
  }
  for (int32_t l = 0; l < shape().n_layer; ++l) {
    const std::span<const double> fallback(marginal_.data() + static_cast<size_t>(l) * n, n);
    double seen = 0;
    for (const double v : fallback) seen += v;
    if (seen <= 0) continue;  // never routed (a dense block): unknown, the chain skips it
    double mass = 0;
    for (const double v : cur) mass += v;
    if (mass > 0) {
      step(tables_[static_cast<size_t>(l)], cur, fallback, next);
    } else {
      // No seed (empty history): start from the marginal.
      std::copy(fallback.begin(), fallback.end(), next.begin());
    }
    std::vector<float> row(n);
    for (size_t j = 0; j < n; ++j) row[j] = static_cast<float>(next[j]);
    normalize_into(std::span<const float>(row), p.row(l));
    std::swap(cur, next);
  }
  return p;
}

}  // namespace emoe::predict
