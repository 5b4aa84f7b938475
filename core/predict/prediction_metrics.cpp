#include "core/predict/prediction_metrics.h"

#include <algorithm>

namespace emoe::predict {

namespace {
double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }
double harmonic(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }
}  // namespace

double SetScores::accuracy() const {
  return ratio(static_cast<double>(hits_at_k), static_cast<double>(actual));
}
double SetScores::precision() const {
  return ratio(static_cast<double>(tp), static_cast<double>(tp + fp));
}
double SetScores::recall() const {
  return ratio(static_cast<double>(tp), static_cast<double>(tp + fn));
}
double SetScores::f1() const { return harmonic(precision(), recall()); }
double SetScores::exact_match() const {
  return ratio(static_cast<double>(exact), static_cast<double>(pairs));
}
double SetScores::jaccard() const { return ratio(jaccard_sum, static_cast<double>(pairs)); }

void SetScores::add(const SetScores& o) {
  pairs += o.pairs;
  hits_at_k += o.hits_at_k;
  actual += o.actual;
  tp += o.tp;
  fp += o.fp;
  fn += o.fn;
  exact += o.exact;
  jaccard_sum += o.jaccard_sum;
}

PredictionScorer::PredictionScorer(HistoryShape shape, int32_t predicted_size)
    : shape_(shape),
      predicted_size_(predicted_size),
      layers_(static_cast<size_t>(shape.n_layer)),
      label_tp_(shape.cells(), 0),
      label_fp_(shape.cells(), 0),
      label_fn_(shape.cells(), 0) {}

Result<PredictionScorer> PredictionScorer::create(HistoryShape shape, int32_t predicted_size) {
  EMOE_RETURN_IF_ERROR(shape.validate().with_context("prediction scorer"));
  if (predicted_size == 0) predicted_size = shape.k;
  if (predicted_size < 1 || predicted_size > shape.n_expert) {
    return invalid_argument("prediction scorer: predicted set size " +
                            std::to_string(predicted_size) +
                            " is outside 1..n_expert=" + std::to_string(shape.n_expert));
  }
  return PredictionScorer(shape, predicted_size);
}

Status PredictionScorer::add(const ExpertPrediction& predicted, const PromptRecord& actual) {
  EMOE_RETURN_IF_ERROR(actual.check(shape_).with_context("prediction scorer"));
  if (!predicted.same_shape(shape_.n_layer, shape_.n_expert)) {
    return invalid_argument(
        "prediction scorer: prediction has shape " + std::to_string(predicted.n_layer) +
        " layers x " + std::to_string(predicted.n_expert) + " experts (" +
        std::to_string(predicted.probs.size()) + " values), expected " +
        std::to_string(shape_.n_layer) + " x " + std::to_string(shape_.n_expert));
  }
  const size_t n = static_cast<size_t>(shape_.n_expert);
  std::vector<uint8_t> in_actual(n), in_pred(n);
  for (int32_t l = 0; l < shape_.n_layer; ++l) {
    const std::vector<int32_t> a = actual.expert_set(shape_.phase, l, shape_.k);
    if (a.empty()) continue;  // no tokens at this layer: nothing to be right or wrong about
    std::fill(in_actual.begin(), in_actual.end(), 0);
    std::fill(in_pred.begin(), in_pred.end(), 0);
    for (const int32_t e : a) in_actual[static_cast<size_t>(e)] = 1;

    SetScores s;
    s.pairs = 1;
    s.actual = static_cast<int64_t>(a.size());
    for (const int32_t e : predicted.top(l, shape_.k))
      s.hits_at_k += in_actual[static_cast<size_t>(e)];

    const std::vector<int32_t> p = predicted.top(l, predicted_size_);
    for (const int32_t e : p) in_pred[static_cast<size_t>(e)] = 1;
    const size_t row = static_cast<size_t>(l) * n;
    for (size_t e = 0; e < n; ++e) {
      const bool pa = in_pred[e] != 0, aa = in_actual[e] != 0;
      s.tp += pa && aa;
      s.fp += pa && !aa;
      s.fn += !pa && aa;
      label_tp_[row + e] += pa && aa;
      label_fp_[row + e] += pa && !aa;
      label_fn_[row + e] += !pa && aa;
    }
    s.exact = (s.fp == 0 && s.fn == 0) ? 1 : 0;
    s.jaccard_sum = ratio(static_cast<double>(s.tp), static_cast<double>(s.tp + s.fp + s.fn));
    layers_[static_cast<size_t>(l)].add(s);
    overall_.add(s);
  }
  ++prompts_;
  return Status::ok();
}

WeightedScores PredictionScorer::weighted(int32_t layer_begin, int32_t layer_end) const {
  WeightedScores w;
  double p_sum = 0, r_sum = 0, f_sum = 0;
  const size_t n = static_cast<size_t>(shape_.n_expert);
  for (size_t i = static_cast<size_t>(layer_begin) * n; i < static_cast<size_t>(layer_end) * n;
       ++i) {
    const int64_t support = label_tp_[i] + label_fn_[i];
    if (support == 0) continue;  // weight 0: labels that never occur do not count
    const double p =
        ratio(static_cast<double>(label_tp_[i]), static_cast<double>(label_tp_[i] + label_fp_[i]));
    const double r = ratio(static_cast<double>(label_tp_[i]), static_cast<double>(support));
    p_sum += static_cast<double>(support) * p;
    r_sum += static_cast<double>(support) * r;
    f_sum += static_cast<double>(support) * harmonic(p, r);
    w.support += support;
  }
  const double s = static_cast<double>(w.support);
  w.precision = ratio(p_sum, s);
  w.recall = ratio(r_sum, s);
  w.f1 = ratio(f_sum, s);
  return w;
}

WeightedScores PredictionScorer::weighted_overall() const { return weighted(0, shape_.n_layer); }

WeightedScores PredictionScorer::weighted_layer(int32_t l) const { return weighted(l, l + 1); }

}  // namespace emoe::predict
