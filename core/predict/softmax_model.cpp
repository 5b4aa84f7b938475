#include "core/predict/softmax_model.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace emoe::predict {

SoftmaxModel::SoftmaxModel(int32_t n_features, int32_t n_heads, int32_t n_classes)
    : n_features_(n_features), n_heads_(n_heads), n_classes_(n_classes) {
  weights_.assign(static_cast<size_t>(n_features) * n_outputs(), 0.0f);
  bias_.assign(n_outputs(), 0.0f);
  grad_.assign(n_outputs(), 0.0f);
}

void SoftmaxModel::forward(std::span<const SparseFeature> x, std::span<float> probs) const {
  const size_t n_out = n_outputs();
  assert(probs.size() == n_out);
  std::copy(bias_.begin(), bias_.end(), probs.begin());
  float* z = probs.data();
  for (const SparseFeature& f : x) {
    assert(f.index >= 0 && f.index < n_features_);
    const float* w = weights_.data() + static_cast<size_t>(f.index) * n_out;
    const float v = f.value;
    for (size_t o = 0; o < n_out; ++o) z[o] += v * w[o];
  }
  const size_t c = static_cast<size_t>(n_classes_);
  for (int32_t h = 0; h < n_heads_; ++h) {
    float* row = z + static_cast<size_t>(h) * c;
    const float mx = *std::max_element(row, row + c);
    float sum = 0;
    for (size_t j = 0; j < c; ++j) {
      row[j] = std::exp(row[j] - mx);
      sum += row[j];
    }
    for (size_t j = 0; j < c; ++j) row[j] /= sum;
  }
}

void SoftmaxModel::sgd_step(std::span<const SparseFeature> x, std::span<const float> probs,
                            std::span<const float> target, std::span<const uint8_t> head_active,
                            float lr) {
  const size_t n_out = n_outputs();
  const size_t c = static_cast<size_t>(n_classes_);
  // d(cross-entropy)/d(logit) = p - t for a softmax head; inactive heads get no gradient.
  for (int32_t h = 0; h < n_heads_; ++h) {
    const size_t off = static_cast<size_t>(h) * c;
    const bool on = head_active[static_cast<size_t>(h)] != 0;
    for (size_t j = 0; j < c; ++j)
      grad_[off + j] = on ? lr * (probs[off + j] - target[off + j]) : 0;
  }
  for (size_t o = 0; o < n_out; ++o) bias_[o] -= grad_[o];
  for (const SparseFeature& f : x) {
    float* w = weights_.data() + static_cast<size_t>(f.index) * n_out;
    const float v = f.value;
    for (size_t o = 0; o < n_out; ++o) w[o] -= v * grad_[o];
  }
}

}  // namespace emoe::predict
