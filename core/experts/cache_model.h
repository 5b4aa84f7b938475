// A simulated device tier: the ExpertCache's bookkeeping (slots, residency, LRU/LFU/Pinned
// victims, fill(), set_plan()) without any weights or copies, for trace replay. Given the same
// sequence of calls it makes exactly the same hits, misses, loads and evictions as ExpertCache
// with synchronous loads (tests/predict/test_trace_replay.cpp checks this against the engine):
//
//  - slot bytes = the largest expert rounded up to 64 bytes, n_slots = budget / slot bytes
//    (at most every expert), the same minimum budget (n_expert_used slots per MoE layer);
//  - one logical clock ticks on every acquire and every load; LRU evicts the smallest
//    last_use, LFU the fewest lifetime acquires (misses included) with ties to the smallest
//    last_use, Pinned the least recently used unplanned expert. Clock values are unique, so the
//    victim never depends on slot order.
//
// What it adds is time: each load costs bytes / bandwidth + a fixed latency, counted as stall
// when an acquire waited for it (on-demand) and as prefetch time when set_plan() asked for it.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/experts/budget_text.h"
#include "core/experts/expert_cache.h"

namespace emoe::experts {

class ExpertStore;

// The sizes the tier's arithmetic needs.
struct CacheShape {
  int32_t n_layer = 0;
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;
  std::vector<uint64_t> expert_bytes;  // [n_layer] bytes of one expert; 0: dense layer

  static CacheShape from_store(const ExpertStore& store);
  // Every layer in `moe_layers` (a [n_layer] mask) holds experts of `bytes` each.
  static CacheShape uniform(int32_t n_layer, int32_t n_expert, int32_t n_expert_used,
                            uint64_t bytes, std::span<const uint8_t> moe_layers = {});

  Status validate() const;
  bool has_experts(int32_t layer) const { return expert_bytes[static_cast<size_t>(layer)] > 0; }
  int32_t moe_layers() const;
  uint64_t total_bytes() const;  // all experts of all layers
  uint64_t slot_bytes() const;   // the largest expert rounded up to 64 bytes
  uint64_t minimum_budget() const;
};

// A budget in the grammar of budget_text.h ("512M", "25%", "4e") in bytes on a CacheShape: the
// CLI's --budget arithmetic (app/cli/cli_paging.cpp), experiments and the replayer.
Result<uint64_t> parse_budget_text(const std::string& text, const CacheShape& shape);

struct CacheModelOptions {
  uint64_t budget_bytes = 0;
  EvictionPolicy policy = EvictionPolicy::Lru;
  double bandwidth_bytes_per_s = 25e9;  // host -> device copy rate (PCIe 4 x16 about 25 GB/s)
  double load_latency_s = 0;            // fixed cost added to every load
  // Pinned: when an on-demand load finds only planned experts, ExpertCache fails; the model
  // instead evicts the least recently used planned one and counts a pinned overflow.
  bool overflow_planned = true;
};

struct CacheModelLayerStats {
  uint64_t hits = 0, misses = 0;  // acquisitions (ExpertCache semantics)
  uint64_t loads = 0;             // every load: on demand, fill() and set_plan()
  uint64_t bytes_loaded = 0;
  uint64_t evictions = 0;  // of this layer's experts
  double stall_s = 0;      // modelled time acquisitions waited for on-demand loads
};

struct CacheModelStats {
  CacheModelLayerStats total;
  std::vector<CacheModelLayerStats> layers;  // [n_layer]
  uint64_t fill_loads = 0, fill_bytes = 0;
  uint64_t prefetch_loads = 0, prefetch_bytes = 0;
  double prefetch_s = 0;            // modelled time of set_plan()'s loads (not a stall)
  uint64_t pinned_overflows = 0;    // on-demand loads that evicted a planned expert
  uint64_t dropped_prefetches = 0;  // planned loads with no slot to free
  uint64_t peak_bytes = 0;
};

enum class AcquireResult : uint8_t { Hit, Loaded, Missed };

class CacheModel {
 public:
  // OutOfMemory naming the minimum when the budget cannot hold n_expert_used experts per
  // MoE layer (as ExpertCache::create).
  static Result<CacheModel> create(CacheShape shape, CacheModelOptions options);

  const CacheShape& shape() const { return shape_; }
  uint64_t slot_bytes() const { return slot_bytes_; }
  int32_t n_slots() const { return n_slots_; }
  uint64_t budget_bytes() const { return budget_; }  // clamped to every expert
  EvictionPolicy policy() const { return opt_.policy; }

  bool resident(int32_t layer, int32_t expert) const { return map_[cell(layer, expert)] >= 0; }
  std::vector<int32_t> resident_experts(int32_t layer) const;  // ascending

  // ExpertCache::acquire with the handle released at once. The caller guarantees a valid
  // (layer, expert) of a MoE layer. OutOfMemory only when nothing can be evicted.
  Result<AcquireResult> acquire(int32_t layer, int32_t expert, bool load_if_missing);
  // ExpertCache::fill(): round-robin over layers, lowest ids first, never evicting.
  void fill();
  // ExpertCache::set_plan() with the prefetch done inline.
  Status set_plan(int32_t layer, std::span<const int32_t> experts);

  const CacheModelStats& stats() const { return st_; }
  void reset_stats();

 private:
  CacheModel() = default;
  size_t cell(int32_t layer, int32_t expert) const {
    return static_cast<size_t>(layer) * static_cast<size_t>(shape_.n_expert) +
           static_cast<size_t>(expert);
  }
  // Victim order: (planned, uses (LFU only), last_use), smallest first.
  bool before(int32_t a, int32_t b) const;
  void heap_up(int32_t pos);
  void heap_down(int32_t pos);
  void heap_fix(int32_t slot);
  void heap_push(int32_t slot);
  void heap_remove(int32_t slot);
  int32_t choose_victim(bool allow_planned);
  void evict(int32_t slot);
  // Loads into a free slot (evicting when allowed); -1 when no slot can be had.
  int32_t load(int32_t layer, int32_t expert, bool allow_evict, bool allow_planned);
  double load_seconds(int32_t layer) const {
    return static_cast<double>(shape_.expert_bytes[static_cast<size_t>(layer)]) /
               opt_.bandwidth_bytes_per_s +
           opt_.load_latency_s;
  }

  CacheShape shape_;
  CacheModelOptions opt_;
  uint64_t slot_bytes_ = 0;
  uint64_t budget_ = 0;
  int32_t n_slots_ = 0;
  int32_t in_use_ = 0;
  uint64_t clock_ = 0;
  std::vector<int32_t> map_;         // [layer][expert] -> slot, -1 absent
  std::vector<uint64_t> uses_;       // [layer][expert] lifetime acquires
  std::vector<uint8_t> planned_;     // [layer][expert]
  std::vector<int32_t> slot_cell_;   // [slot] -> cell, -1 free
  std::vector<uint64_t> last_use_;   // [slot]
  std::vector<int32_t> heap_;        // resident slots, victim first
  std::vector<int32_t> heap_pos_;    // [slot] -> index in heap_, -1 absent
  std::vector<int32_t> free_slots_;  // popped from the back, as ExpertCache
  CacheModelStats st_;
};

}  // namespace emoe::experts
