// The learned part of eMoE-A and eMoE-L: a multinomial logistic regression with several
// softmax heads (one per MoE layer) over a shared, sparse feature vector, trained by plain
// SGD on the cross-entropy against a target distribution. It replaces the paper's 0.1B XLNet:
// expert sets are sparse multi-hot inputs, so a forward pass touches only the weights of the
// active features (microseconds), and training is convex and deterministic (zero start, no
// random initialisation; only the sample order depends on a seed).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace emoe::predict {

struct SparseFeature {
  int32_t index = 0;
  float value = 0;
};

class SoftmaxModel {
 public:
  SoftmaxModel() = default;
  SoftmaxModel(int32_t n_features, int32_t n_heads, int32_t n_classes);

  int32_t n_features() const { return n_features_; }
  int32_t n_heads() const { return n_heads_; }
  int32_t n_classes() const { return n_classes_; }
  size_t n_outputs() const {
    return static_cast<size_t>(n_heads_) * static_cast<size_t>(n_classes_);
  }
  size_t parameter_count() const { return weights_.size() + bias_.size(); }

  // probs [n_heads][n_classes]: softmax of bias + sum(value * weight row) per head.
  void forward(std::span<const SparseFeature> x, std::span<float> probs) const;
  // One SGD step on sum over active heads of cross-entropy(target_h, softmax_h). `probs` must
  // be forward(x); target [n_heads][n_classes], each active head's row summing to 1;
  // head_active [n_heads] (1 = the head has a target for this sample).
  void sgd_step(std::span<const SparseFeature> x, std::span<const float> probs,
                std::span<const float> target, std::span<const uint8_t> head_active, float lr);

 private:
  int32_t n_features_ = 0;
  int32_t n_heads_ = 0;
  int32_t n_classes_ = 0;
  // [n_features][n_heads * n_classes]: feature-major, so one active feature's contribution to
  // every output is one contiguous row (vectorises; sparse inputs touch few rows).
  std::vector<float> weights_;
  std::vector<float> bias_;  // [n_heads * n_classes]
  std::vector<float> grad_;  // [n_heads * n_classes] scratch
};

// A learning-rate schedule shared by the learned predictors: lr0 / (1 + step / decay_steps).
inline float decayed_rate(float lr0, int64_t step, int32_t decay_steps) {
  return lr0 / (1.0f + static_cast<float>(step) / static_cast<float>(decay_steps));
}

}  // namespace emoe::predict
