// Predictor quality like the paper's Table 2 (accuracy, precision, recall, F1), per layer and
// overall, on expert sets. The paper does not define its metrics; the definitions here are in
// docs/PREDICTORS.md:
//  - the actual set A of a (prompt, layer) is its top-k by the routing histogram (experts with
//    zero tokens never belong to it); (prompt, layer) pairs without tokens are not scored;
//  - accuracy = sum |top-k(prediction) ∩ A| / sum |A|: the share of the real expert slots the
//    predictor's k best guesses cover (the set form of "fraction of expert tokens predicted
//    right" in the paper's sequence framing; order within a layer does not matter);
//  - precision / recall / F1 (micro) use the predicted set P = top-`predicted_size` (k by
//    default, or L to score a loader that keeps L experts): TP = |P ∩ A|, FP = |P \ A|,
//    FN = |A \ P| summed over pairs;
//  - weighted precision / recall / F1 treat every (layer, expert) as a label and average the
//    per-label scores weighted by the label's support |A| count, the way scikit-learn's
//    average="weighted" does; the paper's F1 < min(precision, recall) suggests this averaging.
#pragma once

#include <cstdint>
#include <vector>

#include "core/common/status.h"
#include "core/predict/expert_prediction.h"
#include "core/predict/routing_history.h"

namespace emoe::predict {

struct SetScores {
  int64_t pairs = 0;               // (prompt, layer) pairs scored
  int64_t hits_at_k = 0;           // sum |top-k(prediction) ∩ A|
  int64_t actual = 0;              // sum |A|
  int64_t tp = 0, fp = 0, fn = 0;  // of P = top-predicted_size against A
  int64_t exact = 0;               // pairs with P == A
  double jaccard_sum = 0;          // sum |P ∩ A| / |P ∪ A|

  double accuracy() const;
  double precision() const;
  double recall() const;
  double f1() const;
  double exact_match() const;  // share of pairs whose set is exactly right
  double jaccard() const;      // mean over pairs
  void add(const SetScores& other);
};

struct WeightedScores {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;  // sum of the labels' supports
};

class PredictionScorer {
 public:
  // predicted_size: experts in the predicted set for precision/recall/F1 (0: shape.k).
  static Result<PredictionScorer> create(HistoryShape shape, int32_t predicted_size = 0);

  // Scores one prompt: the prediction made for it against what it actually routed.
  Status add(const ExpertPrediction& predicted, const PromptRecord& actual);

  int64_t prompts() const { return prompts_; }
  int32_t predicted_size() const { return predicted_size_; }
  const SetScores& overall() const { return overall_; }
  const SetScores& layer(int32_t l) const { return layers_[static_cast<size_t>(l)]; }
  WeightedScores weighted_overall() const;
  WeightedScores weighted_layer(int32_t l) const;

 private:
  PredictionScorer(HistoryShape shape, int32_t predicted_size);
  WeightedScores weighted(int32_t layer_begin, int32_t layer_end) const;

  HistoryShape shape_;
  int32_t predicted_size_ = 0;
  int64_t prompts_ = 0;
  SetScores overall_;
  std::vector<SetScores> layers_;  // [n_layer]
  // Per label (layer, expert): [n_layer][n_expert] counts for the weighted averages.
  std::vector<int64_t> label_tp_, label_fp_, label_fn_;
};

}  // namespace emoe::predict
