// Where the expert cache's slots live: the storage half of the device tier. The cache
// (expert_cache.h) decides residency, eviction and when to copy; an arena only holds n_slots
// equal slots of slot_bytes each and moves experts into them: RAM for the CPU backend
// (host_slot_arena.h), one GPU allocation filled on the copy stream for the GPU backend
// (device_slot_arena.h).
//
// Threads: copy_in runs outside the cache's mutex, from the copy thread and the engine thread
// at once (always on different slots), and make_layer_ready from the engine thread meanwhile;
// poison and released are called under the cache's mutex.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/common/status.h"

namespace emoe::kernels::gpu {
class Device;
}

namespace emoe::experts {

class SlotArena {
 public:
  virtual ~SlotArena() = default;

  // The slot's first byte: a host address, or a device address when device() is set.
  virtual const uint8_t* slot_address(int32_t slot) const = 0;
  // Fills the slot with the expert laid out as ExpertStore::layout(layer). RAM: the bytes are
  // there on return. GPU: the copy is queued behind every earlier read of the slot, and
  // make_layer_ready(layer) orders later compute after it.
  virtual Status copy_in(int32_t slot, int32_t layer, int32_t expert) = 0;
  // Tests: overwrites a freed slot with 0xFF bytes (NaN for float weights), after its readers.
  virtual void poison(int32_t slot) = 0;
  // A handle on the slot was dropped; every kernel reading it was queued before this call, so
  // the next copy_in or poison of the slot waits for them.
  virtual void released(int32_t slot) = 0;
  // GPU: the compute stream waits (the host does not) for every copy_in of this layer so far.
  virtual Status make_layer_ready(int32_t layer) = 0;
  virtual kernels::gpu::Device* device() const = 0;  // null: RAM slots
};

// "N bytes (X.XX MiB)", for messages about arena sizes.
inline std::string describe_bytes(uint64_t bytes) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%llu bytes (%.2f MiB)", static_cast<unsigned long long>(bytes),
                static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace emoe::experts
