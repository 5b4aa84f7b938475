// A baseline in the style of MoE-Infinity (arXiv 2401.14361): every finished request leaves an
// expert activation matrix [n_layer][n_expert] (its normalised routing histogram); a new
// request is matched to the stored matrices by cosine similarity. Its memory and matching cost
// grow with the number of stored requests, which is the overhead eMoE's paper points at.
#pragma once

#include <deque>

#include "core/predict/predictor.h"

namespace emoe::predict {

// Prompt level (the Predictor interface): the query is the last prompt's matrix; the stored
// request most similar to it is found and the request that *followed* it is predicted (the
// stored sequence is a library of "what came next"). Candidates whose follower has the asked
// task are preferred; `neighbours` > 1 averages the followers of the best matches.
// Request level (predict_from_prefix): MoE-Infinity's own use: the first layers of the running
// request are matched and the best match supplies the remaining layers.
class ActivationMatrixPredictor : public Predictor {
 public:
  explicit ActivationMatrixPredictor(PredictorOptions options) : Predictor(std::move(options)) {}
  std::string name() const override { return "activation-matrix"; }
  Status train(const RoutingHistory& history) override;
  Status observe(const PromptRecord& record) override;
  ExpertPrediction predict(const RoutingHistory& history, const std::string& task) override;

  // `partial` holds the running request's routing so far; its layers [0, known_layers) are
  // matched and returned as they are, the rest come from the best-matching stored request.
  Result<ExpertPrediction> predict_from_prefix(const PromptRecord& partial, int32_t known_layers);

  size_t stored() const { return matrices_.size(); }

 private:
  struct Matrix {
    std::string task;
    std::vector<float> freq;  // [n_layer][n_expert], each routed row sums to 1
  };
  Matrix to_matrix(const PromptRecord& record) const;
  // Cosine similarity over rows [0, layers).
  double cosine(const std::vector<float>& a, const std::vector<float>& b, int32_t layers) const;

  std::deque<Matrix> matrices_;  // arrival order, at most max_matrices
};

}  // namespace emoe::predict
