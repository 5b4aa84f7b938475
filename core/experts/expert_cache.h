// The device tier: a bounded arena of equal-sized slots (one expert each, sized for the largest
// expert, so there is no fragmentation) into which expert weights are really copied; in RAM
// for the CPU backend, in GPU memory for the GPU backend (slot_arena.h). Loads run
// synchronously (on demand) or on a copy thread (prefetch), with a per-layer ready point so a
// layer waits only for its own loads, queued in request order. A slot being read by a
// computation (an ExpertHandle is alive; on a GPU, until the kernels queued before its release
// have run) is never evicted or reused.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/common/status.h"
#include "core/experts/expert_events.h"
#include "core/experts/expert_store.h"

namespace emoe::kernels::gpu {
class Device;
}

namespace emoe::experts {

enum class EvictionPolicy {
  Lru,     // evict the least recently acquired unpinned expert
  Lfu,     // evict the least often acquired (ties: least recently), unpinned
  Pinned,  // residency follows set_plan(); on-demand loads evict only unplanned experts
};
const char* policy_name(EvictionPolicy p);

struct ExpertCacheOptions {
  uint64_t budget_bytes = 0;  // the device tier's expert budget; never exceeded
  EvictionPolicy policy = EvictionPolicy::Lru;
  bool async_loader = true;         // a copy thread serves prefetch(); false: prefetch loads inline
  bool poison_freed_slots = false;  // tests: fill evicted slots with NaN bytes
  // Where the slots live: null, a RAM arena (the CPU backend's device tier); set, one device
  // allocation on that GPU, filled from pinned staging buffers on its copy stream
  // (device_slot_arena.h). ExpertHandle::matrices() then holds device pointers.
  std::shared_ptr<kernels::gpu::Device> device;
};

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t loads = 0;
  uint64_t evictions = 0;
  uint64_t bytes_loaded = 0;
  double stall_micros = 0;      // time acquire() and wait_layer() blocked on loads
  uint64_t resident_bytes = 0;  // slots in use x slot size
  uint64_t peak_bytes = 0;
  // Copies into a slot that failed (a GPU error): the slot went back to free and the expert
  // stayed absent; acquire() returned the error, prefetch and fill() dropped the load.
  uint64_t failed_loads = 0;
};

class ExpertCache;

// A resident expert pinned for reading; releases its slot when destroyed. It must not outlive
// the cache that issued it.
class ExpertHandle {
 public:
  ExpertHandle() = default;
  ExpertHandle(ExpertHandle&& o) noexcept;
  ExpertHandle& operator=(ExpertHandle&& o) noexcept;
  ~ExpertHandle();
  explicit operator bool() const { return cache_ != nullptr; }
  const ExpertMatrices& matrices() const { return m_; }

 private:
  friend class ExpertCache;
  ExpertCache* cache_ = nullptr;
  int32_t slot_ = -1;
  ExpertMatrices m_;
};

class ExpertCache {
 public:
  // OutOfMemory naming the minimum when the budget cannot hold n_expert_used experts for every
  // layer.
  static Result<std::unique_ptr<ExpertCache>> create(const ExpertStore& store,
                                                     ExpertCacheOptions options);
  ~ExpertCache();  // stops the copy thread after pending loads

  const ExpertStore& store() const;
  uint64_t budget_bytes() const;
  uint64_t slot_bytes() const;
  int32_t n_slots() const;
  static uint64_t minimum_budget(const ExpertStore& store);

  bool resident(int32_t layer, int32_t expert) const;
  std::vector<int32_t> resident_experts(int32_t layer) const;  // ascending ids

  // Pins a resident expert for reading, counting a hit. When it is missing: with
  // load_if_missing, loads it now (counting a miss and the stall; evicts per policy), else
  // returns an empty handle and counts a miss. Errors only when no slot can be freed or the
  // copy into the slot fails (GPU slots; the message names the failing call).
  Result<ExpertHandle> acquire(int32_t layer, int32_t expert, bool load_if_missing);

  // Queues loads for missing experts of `layer` on the copy thread, in call order; returns at
  // once. wait_layer() blocks until every load queued for that layer has finished.
  void prefetch(int32_t layer, std::span<const int32_t> experts);
  void wait_layer(int32_t layer);
  // GPU slots: makes the device's compute stream wait (without blocking the host) for every
  // copy queued into this layer's slots so far, the one event per layer. Called after the
  // layer's acquire()s and before its expert kernels. A no-op for RAM slots, whose copies have
  // finished when acquire() or wait_layer() return.
  Status make_layer_ready(int32_t layer);
  kernels::gpu::Device* device() const;  // null: RAM slots

  // Pinned policy: makes exactly these experts of `layer` the planned residents (loaded via
  // prefetch); unplanned ones become evictable. Other policies ignore the pin but still load.
  Status set_plan(int32_t layer, std::span<const int32_t> experts);
  // Loads as many experts as fit, round-robin over layers with the lowest ids first, so every
  // layer gets an equal share (warm start for fallback routing, and "all" mode).
  void fill();

  CacheStats stats() const;
  void reset_stats();
  void add_observer(ExpertEventObserver* observer);
  void remove_observer(ExpertEventObserver* observer);

 private:
  friend class ExpertHandle;
  struct Impl;
  explicit ExpertCache(std::unique_ptr<Impl> impl);
  void release(int32_t slot);
  std::unique_ptr<Impl> impl_;
};

}  // namespace emoe::experts
