// eMoE-L (paper section 2.2): the next prompt is predicted layer by layer. Layer l's
// distribution is conditioned on the predicted expert set of the layer before it, on the
// previous prompt's set at layer l (the prompt-to-prompt correlation, Fig. 8) and, as in
// eMoE-A, on the last earlier prompt of the same task at layer l; the first routed layer has
// no layer before it and is seeded with the previous prompt's first layer.
// One small softmax regression per layer; n_layer sequential steps per call, as in the paper.
#pragma once

#include <map>

#include "core/predict/emoe_a_predictor.h"

namespace emoe::predict {

class EmoeLPredictor : public Predictor {
 public:
  explicit EmoeLPredictor(PredictorOptions options);
  std::string name() const override { return "emoe-l"; }
  Status train(const RoutingHistory& history) override;
  Status observe(const PromptRecord& record) override;
  ExpertPrediction predict(const RoutingHistory& history, const std::string& task) override;

  size_t parameter_count() const;

 private:
  // Features of layer l's model, each block scaled to unit norm:
  //   [0, n_expert): the expert set of this prompt's previous routed layer (training: the
  //     actual set, teacher forcing; prediction: the top-k of that layer's prediction);
  //   [n_expert, 2 n_expert): the previous prompt's set at layer l;
  //   [2 n_expert, 3 n_expert): the last earlier prompt of the task, its set at layer l;
  //   3 n_expert + slot: the task.
  void features(const std::vector<int32_t>* below, const std::vector<int32_t>* prev,
                const std::vector<int32_t>* same_task, int32_t task_slot,
                std::vector<SparseFeature>& out) const;
  int32_t task_slot(const std::string& task, bool assign);
  // One SGD step per routed layer of `record`, given the previous prompt's sequence and the
  // last earlier one of its task (either may be null).
  void learn(const ExpertSequence* prev, const ExpertSequence* same_task, const ExpertSequence& seq,
             const PromptRecord& record, int32_t slot, float lr);
  void reset();

  std::vector<SoftmaxModel> models_;  // [n_layer], one head over n_expert each
  std::vector<uint8_t> head_seen_;    // [n_layer]
  std::map<std::string, int32_t> tasks_;
  ExpertSequence last_;  // the last observed prompt's sequence (online)
  bool has_last_ = false;
  std::map<std::string, ExpertSequence> last_of_task_;  // online, at most max_tasks
  int64_t steps_ = 0;  // prompts learned from (one SGD step per layer each)
  std::vector<float> probs_, target_buf_;
};

}  // namespace emoe::predict
