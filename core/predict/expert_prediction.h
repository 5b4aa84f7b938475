// What every predictor returns: per MoE layer, a probability over all experts that says how
// the next prompt's tokens will spread over them (the paper's frequency f_i, Eq. 2). A row
// that is all zero means "no idea for this layer"; the planner then keeps what is resident or
// falls back to a cold-start profile, instead of trusting a made-up uniform row.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

namespace emoe::predict {

// The n experts with the largest positive values, largest first; ties go to the lower id so
// that expert sets are reproducible. Zero entries are never chosen: a set may be shorter than
// n when fewer experts were used or predicted.
template <typename T>
std::vector<int32_t> top_experts(std::span<const T> row, int32_t n) {
  std::vector<int32_t> ids;
  for (size_t e = 0; e < row.size(); ++e) {
    if (row[e] > T{0}) ids.push_back(static_cast<int32_t>(e));
  }
  const size_t keep = std::min(ids.size(), static_cast<size_t>(std::max(n, 0)));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(keep), ids.end(),
                    [&](int32_t a, int32_t b) {
                      const T va = row[static_cast<size_t>(a)], vb = row[static_cast<size_t>(b)];
                      return va != vb ? va > vb : a < b;
                    });
  ids.resize(keep);
  return ids;
}

struct ExpertPrediction {
  int32_t n_layer = 0;
  int32_t n_expert = 0;
  std::vector<float> probs;  // [n_layer][n_expert]; each row sums to 1 or is all zero

  // All rows zero: nothing is known yet.
  static ExpertPrediction unknown(int32_t n_layer, int32_t n_expert);

  std::span<const float> row(int32_t layer) const {
    return {probs.data() + static_cast<size_t>(layer) * static_cast<size_t>(n_expert),
            static_cast<size_t>(n_expert)};
  }
  std::span<float> row(int32_t layer) {
    return {probs.data() + static_cast<size_t>(layer) * static_cast<size_t>(n_expert),
            static_cast<size_t>(n_expert)};
  }
  bool layer_known(int32_t layer) const;
  bool any_known() const;
  bool same_shape(int32_t layers, int32_t experts) const {
    return n_layer == layers && n_expert == experts &&
           probs.size() == static_cast<size_t>(layers) * static_cast<size_t>(experts);
  }
  // The n most probable experts of a layer (ties: lower id; zero-probability ones never).
  std::vector<int32_t> top(int32_t layer, int32_t n) const { return top_experts(row(layer), n); }

  // Scales each row to sum 1; rows with no positive mass (or non-finite mass) become zero.
  void normalize_rows();
};

// Writes `values` scaled to sum 1 into `out`, or zeros when the sum is not positive.
template <typename T>
void normalize_into(std::span<const T> values, std::span<float> out) {
  double sum = 0;
  for (const T v : values) sum += static_cast<double>(v);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = sum > 0 ? static_cast<float>(static_cast<double>(values[i]) / sum) : 0.0f;
  }
}

}  // namespace emoe::predict
