// eMoE-A (paper Eq. 1): the expert sequences of the previous W prompts, plus the next
// prompt's task and the sequence of the last prompt of that task (PAPER.md section 5 item 2:
// with mixed tasks the previous prompt is usually of another task), predict the next prompt's
// per-layer frequency for all layers in one call.
// The paper uses a 0.1B XLNet at ~0.3 s a call; this is a multinomial logistic regression
// (one softmax head per layer) over sparse one-hot features, trained on the CPU in seconds and
// queried in microseconds (DESIGN.md section 5).
#pragma once

#include <deque>
#include <map>

#include "core/predict/predictor.h"
#include "core/predict/softmax_model.h"

namespace emoe::predict {

class EmoeAPredictor : public Predictor {
 public:
  explicit EmoeAPredictor(PredictorOptions options);
  std::string name() const override { return "emoe-a"; }
  Status train(const RoutingHistory& history) override;
  Status observe(const PromptRecord& record) override;
  ExpertPrediction predict(const RoutingHistory& history, const std::string& task) override;

  // Refuses options whose model would not fit comfortably in memory (huge layer x expert
  // shapes with a wide layer span); make_predictor calls it.
  static Status check_size(const PredictorOptions& options);
  static size_t parameter_count(const PredictorOptions& options);
  size_t parameter_count() const { return parameter_count(options_); }
  int64_t sgd_steps() const { return steps_; }

 private:
  // What one prediction is conditioned on: blocks [0, W) are the previous prompts' sequences
  // (newest first), block W the last earlier prompt of the next prompt's task; null = missing.
  struct Inputs {
    std::vector<const ExpertSequence*> blocks;  // [W + 1]
    int32_t task_slot = -1;                     // -1: unknown task
  };
  // Features of layer l's head: for each block b and each layer l' in the head's span
  // [lo, hi] (l +- layer_span, clipped), index (b * (hi - lo + 1) + l' - lo) * n_expert + e
  // with value 1/sqrt((W + 1) * (hi - lo + 1) * k) for e in the block's set at l' (the set
  // blocks have unit norm together), then 1 at (W + 1) * (hi - lo + 1) * n_expert + task slot.
  void features(int32_t layer, const Inputs& in, std::vector<SparseFeature>& out) const;
  int32_t span_lo(int32_t layer) const;
  int32_t span_hi(int32_t layer) const;
  // -1 for a task without a slot; `assign` gives a new task the next free slot.
  int32_t task_slot(const std::string& task, bool assign);
  void learn(const Inputs& in, const PromptRecord& record, float lr);
  void reset();

  std::vector<SoftmaxModel> heads_;  // [n_layer], one softmax over n_expert each
  std::vector<uint8_t> head_seen_;   // [n_layer]: the layer had a target at least once
  std::map<std::string, int32_t> tasks_;
  std::deque<ExpertSequence> recent_;                   // newest last, at most W: the online window
  std::map<std::string, ExpertSequence> last_of_task_;  // online: each task's last sequence
  int64_t steps_ = 0;                                   // prompts learned from
  // Scratch reused across calls.
  std::vector<float> probs_, target_buf_;
  std::vector<SparseFeature> x_;
};

}  // namespace emoe::predict
