// The sequence table both KV caches keep (kv_cache.h on the host, device_kv_cache.h on a GPU):
// which of max_sequences slots are in use and how many tokens each holds, beside the cache's
// own storage for the slot (host bytes or device allocations).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace emoe::engine {

template <typename Storage>
class SequenceSlots {
 public:
  explicit SequenceSlots(int max_sequences) : slots_(static_cast<size_t>(max_sequences)) {}

  size_t size() const { return slots_.size(); }
  int32_t free_slot() const {  // the lowest unused slot; -1 when every slot is in use
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].used) return static_cast<int32_t>(i);
    }
    return -1;
  }
  // Marks a free slot used, empty, with this storage.
  void occupy(int32_t seq, Storage storage) {
    slots_[static_cast<size_t>(seq)] = Slot{true, 0, std::move(storage)};
  }
  void release(int32_t seq) {  // frees the storage; no-op for an unused slot
    if (valid(seq)) slots_[static_cast<size_t>(seq)] = Slot{};
  }
  bool valid(int32_t seq) const {
    return seq >= 0 && static_cast<size_t>(seq) < slots_.size() &&
           slots_[static_cast<size_t>(seq)].used;
  }
  int32_t length(int32_t seq) const {
    return valid(seq) ? slots_[static_cast<size_t>(seq)].length : 0;
  }
  void set_length(int32_t seq, int32_t length) {
    if (valid(seq)) slots_[static_cast<size_t>(seq)].length = length;
  }
  const Storage& storage(int32_t seq) const { return slots_[static_cast<size_t>(seq)].storage; }
  Storage& storage(int32_t seq) { return slots_[static_cast<size_t>(seq)].storage; }
  // Sums f(storage) over every slot (unused ones hold empty storage).
  template <typename F>
  uint64_t sum(F f) const {
    uint64_t n = 0;
    for (const Slot& s : slots_) n += f(s.storage);
    return n;
  }

 private:
  struct Slot {
    bool used = false;
    int32_t length = 0;
    Storage storage;
  };
  std::vector<Slot> slots_;
};

}  // namespace emoe::engine
