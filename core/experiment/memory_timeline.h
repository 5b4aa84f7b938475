// Device memory over a serving run: the engine reports a MemorySample after every forward step
// (on the engine thread, without a clock); the serving loop's on_step, which runs right after
// on the same thread, stamps the step's last sample with the loop's clock. Peaks are taken over
// every step; the timeline kept for reports is thinned evenly to a bounded number of points.
#pragma once

#include <cstddef>
#include <vector>

#include "core/engine/forward_observer.h"
#include "core/experiment/experiment_result.h"

namespace emoe::experiment {

class MemoryTimeline : public engine::ForwardObserver {
 public:
  void on_memory_sample(const engine::MemorySample& sample) override;
  // After a serving step that ended at `time_ms`: records the step's sample (nothing when the
  // engine reported none since the last stamp).
  void stamp(double time_ms);

  const std::vector<MemoryPoint>& points() const { return points_; }
  uint64_t peak_expert_bytes() const { return peak_expert_; }
  uint64_t peak_total_bytes() const { return peak_total_; }
  uint64_t peak_kv_bytes() const { return peak_kv_; }

 private:
  engine::MemorySample last_;
  bool fresh_ = false;
  std::vector<MemoryPoint> points_;
  uint64_t peak_expert_ = 0, peak_total_ = 0, peak_kv_ = 0;
};

// At most max_points of `points`, evenly spaced by index, always the first and the last (all of
// them when there are no more than max_points).
std::vector<MemoryPoint> thin_evenly(const std::vector<MemoryPoint>& points, size_t max_points);

}  // namespace emoe::experiment
