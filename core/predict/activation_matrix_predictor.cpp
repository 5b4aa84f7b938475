#include "core/predict/activation_matrix_predictor.h"

#include <cmath>

namespace emoe::predict {

ActivationMatrixPredictor::Matrix ActivationMatrixPredictor::to_matrix(
    const PromptRecord& record) const {
  Matrix m;
  m.task = record.task;
  m.freq.assign(shape().cells(), 0.0f);
  const size_t n = static_cast<size_t>(shape().n_expert);
  for (int32_t l = 0; l < shape().n_layer; ++l) {
    record.frequency(shape().phase, l,
                     std::span<float>(m.freq.data() + static_cast<size_t>(l) * n, n));
  }
  return m;
}

double ActivationMatrixPredictor::cosine(const std::vector<float>& a, const std::vector<float>& b,
                                         int32_t layers) const {
  const size_t len = static_cast<size_t>(layers) * static_cast<size_t>(shape().n_expert);
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < len; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0.0;
}

Status ActivationMatrixPredictor::train(const RoutingHistory& history) {
  EMOE_RETURN_IF_ERROR(check_history(history));
  matrices_.clear();
  for (size_t i = 0; i < history.size(); ++i) EMOE_RETURN_IF_ERROR(observe(history.at(i)));
  return Status::ok();
}

Status ActivationMatrixPredictor::observe(const PromptRecord& record) {
  EMOE_RETURN_IF_ERROR(check_record(record));
  matrices_.push_back(to_matrix(record));
  if (matrices_.size() > static_cast<size_t>(options_.max_matrices)) matrices_.pop_front();
  return Status::ok();
}

namespace {
struct Match {
  double score;
  size_t index;
};
// Best first; equal scores prefer the more recent request.
void keep_best(std::vector<Match>& best, Match m, size_t limit) {
  auto better = [](const Match& a, const Match& b) {
    return a.score != b.score ? a.score > b.score : a.index > b.index;
  };
  auto pos = std::lower_bound(best.begin(), best.end(), m, better);
  if (static_cast<size_t>(pos - best.begin()) >= limit) return;
  best.insert(pos, m);
  if (best.size() > limit) best.pop_back();
}
}  // namespace

ExpertPrediction ActivationMatrixPredictor::predict(const RoutingHistory& history,
                                                    const std::string& task) {
  ExpertPrediction p = unknown();
  if (!check_history(history).is_ok() || history.empty() || matrices_.size() < 2) return p;
  const Matrix query = to_matrix(history.back());
  const size_t limit = static_cast<size_t>(options_.neighbours);
  bool any_same_task = false;
  for (size_t j = 1; j < matrices_.size(); ++j) {
    if (matrices_[j].task == task) {
      any_same_task = true;
      break;
    }
  }
  std::vector<Match> best;
  for (size_t j = 0; j + 1 < matrices_.size(); ++j) {
    if (any_same_task && matrices_[j + 1].task != task) continue;
    keep_best(best, {cosine(query.freq, matrices_[j].freq, shape().n_layer), j}, limit);
  }
  for (const Match& m : best) {
    const std::vector<float>& next = matrices_[m.index + 1].freq;
    for (size_t i = 0; i < p.probs.size(); ++i) p.probs[i] += next[i];
  }
  p.normalize_rows();
  return p;
}

Result<ExpertPrediction> ActivationMatrixPredictor::predict_from_prefix(const PromptRecord& partial,
                                                                        int32_t known_layers) {
  EMOE_RETURN_IF_ERROR(check_record(partial));
  if (known_layers < 1 || known_layers > shape().n_layer) {
    return invalid_argument("activation-matrix: known_layers " + std::to_string(known_layers) +
                            " is outside 1.." + std::to_string(shape().n_layer));
  }
  ExpertPrediction p = unknown();
  const Matrix query = to_matrix(partial);
  std::vector<Match> best;
  for (size_t j = 0; j < matrices_.size(); ++j) {
    keep_best(best, {cosine(query.freq, matrices_[j].freq, known_layers), j},
              static_cast<size_t>(options_.neighbours));
  }
  for (const Match& m : best) {
    const std::vector<float>& src = matrices_[m.index].freq;
    for (size_t i = 0; i < p.probs.size(); ++i) p.probs[i] += src[i];
  }
  const size_t known = static_cast<size_t>(known_layers) * static_cast<size_t>(shape().n_expert);
  std::copy_n(query.freq.begin(), known, p.probs.begin());
  p.normalize_rows();
  return p;
}

}  // namespace emoe::predict
