// Markov baseline built on the paper's layer-to-layer observation (section 1.5, Fig. 3):
// expert i at layer l-1 is followed by expert j at layer l with a stable probability. The
// chain is seeded by layer 0 of the last prompt and first crosses the prompt boundary with its
// own transition table (layer 0 of one prompt -> layer 0 of the next, Fig. 8's prompt-to-prompt
// correlation), then walks the layers of the predicted prompt.
#pragma once

#include "core/predict/predictor.h"

namespace emoe::predict {

// Counts, for consecutive expert sets A -> B, one transition i -> j for every i in A and j in
// B. A predicted layer distribution is pushed through the row-normalised table:
//   p_0 = uniform(S_0(last prompt)) * T_cross,   p_l = p_(l-1) * T_l.
// Mass on experts whose row was never seen goes to the target layer's marginal distribution,
// so the chain never stalls on a rare expert. The task is not used.
class MarkovPredictor : public Predictor {
 public:
  explicit MarkovPredictor(PredictorOptions options);
  std::string name() const override { return "markov"; }
  Status train(const RoutingHistory& history) override;
  Status observe(const PromptRecord& record) override;
  ExpertPrediction predict(const RoutingHistory& history, const std::string& task) override;

 private:
  void reset();
  void count(std::vector<double>& table, const std::vector<int32_t>& from,
             const std::vector<int32_t>& to);
  // out = in * T (row-normalised), unseen rows routed to the marginal `fallback`.
  void step(const std::vector<double>& table, std::span<const double> in,
            std::span<const double> fallback, std::span<double> out) const;

  int32_t n_expert_;
  // [n_layer][n_expert][n_expert]: table l counts (previous routed layer -> layer l) within
  // a prompt; the first routed layer's table is prompt-to-prompt (T_cross).
  std::vector<std::vector<double>> tables_;
  std::vector<double> marginal_;     // [n_layer][n_expert] experts in sets, the fallback rows
  std::vector<int32_t> last_first_;  // first routed layer's set of the last observed prompt
  bool any_ = false;
};

}  // namespace emoe::predict
