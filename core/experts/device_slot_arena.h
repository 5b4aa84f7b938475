// The GPU backend's device tier: every slot in ONE device allocation of n_slots x slot_bytes,
// filled through a small ring of pinned staging buffers on the device's copy stream.
//
// Ordering, all on the GPU (the host blocks only to reuse a staging buffer):
// - a slot's copy (or poison) waits on the slot's last-read event, recorded on the compute
//   stream when a handle on it is dropped, so a slot is overwritten only after the kernels
//   reading it have finished;
// - each copy then records its layer's event on the copy stream; make_layer_ready(layer) makes
//   the compute stream wait on it. One copy stream, so loads for layer l+1 queue behind layer
//   l's and a layer's compute waits for its own loads only;
// - a staging buffer is refilled only after its previous copy has run (its own event).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/experts/expert_store.h"
#include "core/experts/slot_arena.h"
#include "kernels/gpu/gpu_device.h"

namespace emoe::experts {

class DeviceSlotArena final : public SlotArena {
 public:
  static constexpr int kStagingBuffers = 4;

  // OutOfMemory naming the bytes needed and free when the device's free memory (mem_info)
  // cannot hold the slots or an allocation fails; errors name the failing CUDA call.
  static Result<std::unique_ptr<DeviceSlotArena>> create(
      const ExpertStore& store, std::shared_ptr<kernels::gpu::Device> device, int32_t n_slots,
      uint64_t slot_bytes);
  // Waits for queued copies and reads, then frees the slots, staging buffers and events.
  ~DeviceSlotArena() override;

  const uint8_t* slot_address(int32_t slot) const override;
  Status copy_in(int32_t slot, int32_t layer, int32_t expert) override;
  void poison(int32_t slot) override;
  void released(int32_t slot) override;
  Status make_layer_ready(int32_t layer) override;
  kernels::gpu::Device* device() const override { return device_.get(); }

  uint64_t slot_bytes_total() const;  // the one device allocation: n_slots x slot_bytes
  uint64_t staging_bytes() const;     // pinned host memory of the staging ring

 private:
  struct Staging {
    std::mutex mu;                         // held while the buffer is filled and its copy queued
    uint8_t* host = nullptr;               // pinned, [slot_bytes]
    kernels::gpu::Event copied = nullptr;  // recorded on the copy stream after its copy
  };

  DeviceSlotArena(const ExpertStore& store, std::shared_ptr<kernels::gpu::Device> device,
                  int32_t n_slots, uint64_t slot_bytes);
  Status init();
  uint8_t* slot_data(int32_t slot) const;
  // A GPU failure from poison() or released(), which have no caller to return it to; the next
  // copy_in reports it, since the slot ordering it protects can no longer be trusted.
  void keep_error(const kernels::gpu::GpuStatus& s, const std::string& what);
  Status failed(const kernels::gpu::GpuStatus& s, const std::string& what) const;

  const ExpertStore& store_;
  std::shared_ptr<kernels::gpu::Device> device_;
  int32_t n_slots_;
  uint64_t slot_bytes_;
  uint8_t* base_ = nullptr;                       // device, [n_slots * slot_bytes]
  std::vector<kernels::gpu::Event> last_read_;    // [n_slots], compute stream
  std::vector<kernels::gpu::Event> layer_ready_;  // [n_layer], copy stream
  std::array<Staging, kStagingBuffers> staging_;
  int n_staging_ = 0;  // buffers allocated: kStagingBuffers, or 0 without slots
  std::atomic<uint32_t> next_staging_{0};
  std::mutex error_mu_;
  std::string kept_error_;
};

}  // namespace emoe::experts
