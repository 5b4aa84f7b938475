#include "core/predict/baseline_predictors.h"

namespace emoe::predict {

ExpertPrediction popularity_profile(const RoutingHistory& history,
                                    const std::optional<std::string>& task) {
  const HistoryShape& s = history.shape();
  std::vector<double> counts(s.cells(), 0.0);
  for (size_t i = 0; i < history.size(); ++i) {
    const PromptRecord& r = history.at(i);
    if (task && r.task != *task) continue;
    for (int32_t l = 0; l < s.n_layer; ++l) {
      for (int32_t e = 0; e < s.n_expert; ++e) {
        counts[static_cast<size_t>(l) * static_cast<size_t>(s.n_expert) + static_cast<size_t>(e)] +=
            r.count(s.phase, l, e);
      }
    }
  }
  ExpertPrediction p = ExpertPrediction::unknown(s.n_layer, s.n_expert);
  for (size_t i = 0; i < counts.size(); ++i) p.probs[i] = static_cast<float>(counts[i]);
  p.normalize_rows();
  return p;
}

// ---- frequency ----

Status FrequencyPredictor::train(const RoutingHistory& history) {
  EMOE_RETURN_IF_ERROR(check_history(history));
  per_task_.clear();
  global_ = Ema{};
  for (size_t i = 0; i < history.size(); ++i) EMOE_RETURN_IF_ERROR(observe(history.at(i)));
  return Status::ok();
}

void FrequencyPredictor::update(Ema& ema, const PromptRecord& record) {
  const HistoryShape& s = shape();
  if (ema.values.empty()) {
    ema.values.assign(s.cells(), 0.0f);
    ema.known.assign(static_cast<size_t>(s.n_layer), 0);
  }
  const float a = static_cast<float>(options_.ema_alpha);
  std::vector<float> f(static_cast<size_t>(s.n_expert));
  for (int32_t l = 0; l < s.n_layer; ++l) {
    // A prompt without tokens at a layer says nothing about it; the average keeps its value.
    if (!record.layer_used(s.phase, l)) continue;
    record.frequency(s.phase, l, f);
    float* row = ema.values.data() + static_cast<size_t>(l) * static_cast<size_t>(s.n_expert);
    const bool first = !ema.known[static_cast<size_t>(l)];
    for (int32_t e = 0; e < s.n_expert; ++e) {
      row[e] = first ? f[static_cast<size_t>(e)] : (1 - a) * row[e] + a * f[static_cast<size_t>(e)];
    }
    ema.known[static_cast<size_t>(l)] = 1;
  }
}

Status FrequencyPredictor::observe(const PromptRecord& record) {
  EMOE_RETURN_IF_ERROR(check_record(record));
  update(per_task_[record.task], record);
  update(global_, record);
  return Status::ok();
}

ExpertPrediction FrequencyPredictor::predict(const RoutingHistory& history,
                                             const std::string& task) {
  ExpertPrediction p = unknown();
  if (!check_history(history).is_ok()) return p;
  const HistoryShape& s = shape();
  auto it = per_task_.find(task);
  const Ema* own = it == per_task_.end() ? nullptr : &it->second;
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const Ema* src = own && own->known[static_cast<size_t>(l)] ? own : &global_;
    if (src->known.empty() || !src->known[static_cast<size_t>(l)]) continue;
    const size_t off = static_cast<size_t>(l) * static_cast<size_t>(s.n_expert);
    std::copy_n(src->values.begin() + static_cast<std::ptrdiff_t>(off), s.n_expert,
                p.probs.begin() + static_cast<std::ptrdiff_t>(off));
  }
  p.normalize_rows();  // float drift of the average
  return p;
}

// ---- popularity ----

Status PopularityPredictor::train(const RoutingHistory& history) {
  EMOE_RETURN_IF_ERROR(check_history(history));
  counts_.clear();
  for (size_t i = 0; i < history.size(); ++i) EMOE_RETURN_IF_ERROR(observe(history.at(i)));
  return Status::ok();
}

Status PopularityPredictor::observe(const PromptRecord& record) {
  EMOE_RETURN_IF_ERROR(check_record(record));
  const HistoryShape& s = shape();
  if (counts_.empty()) counts_.assign(s.cells(), 0.0);
  for (int32_t l = 0; l < s.n_layer; ++l) {
    for (int32_t e = 0; e < s.n_expert; ++e) {
      counts_[static_cast<size_t>(l) * static_cast<size_t>(s.n_expert) + static_cast<size_t>(e)] +=
          record.count(s.phase, l, e);
    }
  }
  return Status::ok();
}

ExpertPrediction PopularityPredictor::predict(const RoutingHistory& history,
                                              const std::string& /*task*/) {
  ExpertPrediction p = unknown();
  if (!check_history(history).is_ok() || counts_.empty()) return p;
  for (size_t i = 0; i < counts_.size(); ++i) p.probs[i] = static_cast<float>(counts_[i]);
  p.normalize_rows();
  return p;
}

// ---- random ----

Status RandomPredictor::train(const RoutingHistory& history) {
  EMOE_RETURN_IF_ERROR(check_history(history));
  rng_.seed(options_.seed);
  return Status::ok();
}

Status RandomPredictor::observe(const PromptRecord& record) { return check_record(record); }

ExpertPrediction RandomPredictor::predict(const RoutingHistory& history,
                                          const std::string& /*task*/) {
  ExpertPrediction p = unknown();
  if (!check_history(history).is_ok()) return p;
  const HistoryShape& s = shape();
  std::vector<int32_t> ids(static_cast<size_t>(s.n_expert));
  for (int32_t l = 0; l < s.n_layer; ++l) {
    for (int32_t e = 0; e < s.n_expert; ++e) ids[static_cast<size_t>(e)] = e;
    // Partial Fisher-Yates written out: std::uniform_int_distribution differs between
    // standard libraries, and the seed must give the same sets everywhere.
    for (int32_t j = 0; j < s.k; ++j) {
      const uint64_t span = static_cast<uint64_t>(s.n_expert - j);
      const int32_t pick = j + static_cast<int32_t>(rng_() % span);
      std::swap(ids[static_cast<size_t>(j)], ids[static_cast<size_t>(pick)]);
      p.row(l)[static_cast<size_t>(ids[static_cast<size_t>(j)])] = 1.0f / static_cast<float>(s.k);
    }
  }
  return p;
}

// ---- oracle ----

Status OraclePredictor::train(const RoutingHistory& history) { return check_history(history); }

Status OraclePredictor::observe(const PromptRecord& record) { return check_record(record); }

void OraclePredictor::reveal_future(const PromptRecord& record) {
  if (check_record(record).is_ok()) {
    future_ = record;
  } else {
    future_.reset();
  }
}

ExpertPrediction OraclePredictor::predict(const RoutingHistory& history,
                                          const std::string& /*task*/) {
  ExpertPrediction p = unknown();
  if (!check_history(history).is_ok() || !future_) return p;
  for (int32_t l = 0; l < shape().n_layer; ++l) future_->frequency(shape().phase, l, p.row(l));
  return p;
}

}  // namespace emoe::predict
