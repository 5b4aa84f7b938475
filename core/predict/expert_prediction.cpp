#include "core/predict/expert_prediction.h"

#include <cmath>

namespace emoe::predict {

ExpertPrediction ExpertPrediction::unknown(int32_t n_layer, int32_t n_expert) {
  ExpertPrediction p;
  p.n_layer = std::max(n_layer, 0);
  p.n_expert = std::max(n_expert, 0);
  p.probs.assign(static_cast<size_t>(p.n_layer) * static_cast<size_t>(p.n_expert), 0.0f);
  return p;
}

bool ExpertPrediction::layer_known(int32_t layer) const {
  if (layer < 0 || layer >= n_layer) return false;
  for (const float v : row(layer)) {
    if (v > 0) return true;
  }
  return false;
}

bool ExpertPrediction::any_known() const {
  for (int32_t l = 0; l < n_layer; ++l) {
    if (layer_known(l)) return true;
  }
  return false;
}

void ExpertPrediction::normalize_rows() {
  for (int32_t l = 0; l < n_layer; ++l) {
    std::span<float> r = row(l);
    double sum = 0;
    for (const float v : r) sum += v > 0 ? v : 0;
    const bool usable = sum > 0 && std::isfinite(sum);
    for (float& v : r) v = usable && v > 0 ? static_cast<float>(v / sum) : 0.0f;
  }
}

}  // namespace emoe::predict
