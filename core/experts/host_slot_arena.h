// The CPU backend's device tier: every slot in one aligned RAM allocation, filled by a plain
// copy from the mapped file, so a copy has finished when copy_in returns.
#pragma once

#include <cstdint>
#include <memory>

#include "core/common/status.h"
#include "core/experts/expert_store.h"
#include "core/experts/slot_arena.h"

namespace emoe::experts {

class HostSlotArena final : public SlotArena {
 public:
  // Slots start kSlotAlign-aligned when slot_bytes is a multiple of it. OutOfMemory naming the
  // size when the allocation fails.
  static constexpr uint64_t kSlotAlign = 64;
  static Result<std::unique_ptr<HostSlotArena>> create(const ExpertStore& store, int32_t n_slots,
                                                       uint64_t slot_bytes);
  ~HostSlotArena() override;

  const uint8_t* slot_address(int32_t slot) const override;
  Status copy_in(int32_t slot, int32_t layer, int32_t expert) override;
  void poison(int32_t slot) override;
  void released(int32_t) override {}
  Status make_layer_ready(int32_t) override { return Status::ok(); }
  kernels::gpu::Device* device() const override { return nullptr; }

 private:
  HostSlotArena(const ExpertStore& store, uint64_t slot_bytes, uint8_t* base);
  uint8_t* slot_data(int32_t slot) const;

  const ExpertStore& store_;
  uint64_t slot_bytes_;
  uint8_t* base_;  // [n_slots * slot_bytes], null when n_slots is 0
};

}  // namespace emoe::experts
