#include "core/experts/host_slot_arena.h"

#include <cstring>
#include <new>

namespace emoe::experts {

Result<std::unique_ptr<HostSlotArena>> HostSlotArena::create(const ExpertStore& store,
                                                             int32_t n_slots, uint64_t slot_bytes) {
  if (n_slots < 0) return invalid_argument("host slot arena: negative slot count");
  const uint64_t bytes = static_cast<uint64_t>(n_slots) * slot_bytes;
  uint8_t* base = nullptr;
  if (bytes > 0) {
    try {
      base = static_cast<uint8_t*>(
          ::operator new[](static_cast<size_t>(bytes), std::align_val_t(kSlotAlign)));
    } catch (const std::bad_alloc&) {
      return out_of_memory("cannot allocate the expert arena of " + describe_bytes(bytes));
    }
  }
  return std::unique_ptr<HostSlotArena>(new HostSlotArena(store, slot_bytes, base));
}

HostSlotArena::HostSlotArena(const ExpertStore& store, uint64_t slot_bytes, uint8_t* base)
    : store_(store), slot_bytes_(slot_bytes), base_(base) {}

HostSlotArena::~HostSlotArena() {
  if (base_) ::operator delete[](base_, std::align_val_t(kSlotAlign));
}

uint8_t* HostSlotArena::slot_data(int32_t slot) const {
  return base_ + static_cast<size_t>(slot) * static_cast<size_t>(slot_bytes_);
}

const uint8_t* HostSlotArena::slot_address(int32_t slot) const { return slot_data(slot); }

Status HostSlotArena::copy_in(int32_t slot, int32_t layer, int32_t expert) {
  store_.copy_to(layer, expert, slot_data(slot));
  return Status::ok();
}

void HostSlotArena::poison(int32_t slot) {
  std::memset(slot_data(slot), 0xFF, static_cast<size_t>(slot_bytes_));
}

}  // namespace emoe::experts
