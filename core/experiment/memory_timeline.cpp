#include "core/experiment/memory_timeline.h"

#include <algorithm>

namespace emoe::experiment {

void MemoryTimeline::on_memory_sample(const engine::MemorySample& sample) {
  last_ = sample;
  fresh_ = true;
}

void MemoryTimeline::stamp(double time_ms) {
  if (!fresh_) return;
  fresh_ = false;
  MemoryPoint p;
  p.time_ms = time_ms;
  p.dense_bytes = last_.dense_bytes;
  p.expert_bytes = last_.expert_bytes;
  p.expert_budget = last_.expert_budget;
  p.kv_bytes = last_.kv_bytes;
  p.scratch_bytes = last_.scratch_bytes;
  peak_expert_ = std::max(peak_expert_, p.expert_bytes);
  peak_total_ = std::max(peak_total_, p.total());
  peak_kv_ = std::max(peak_kv_, p.kv_bytes);
  points_.push_back(p);
}

std::vector<MemoryPoint> thin_evenly(const std::vector<MemoryPoint>& points, size_t max_points) {
  if (points.size() <= max_points) return points;
  if (max_points == 0) return {};
  if (max_points == 1) return {points.back()};
  std::vector<MemoryPoint> out;
  out.reserve(max_points);
  const size_t last = points.size() - 1;
  for (size_t i = 0; i < max_points; ++i) {
    // Rounded to the nearest index; strictly increasing because last >= max_points.
    const size_t idx = (i * last + (max_points - 1) / 2) / (max_points - 1);
    out.push_back(points[idx]);
  }
  return out;
}

}  // namespace emoe::experiment
