// One device allocation owned by its holder, and how the GPU backend turns the device's
// GpuStatus into the engine's Status: a failed allocation is OutOfMemory, any other failed call
// a DeviceError, and either keeps the CUDA call's name from the device's message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/common/status.h"
#include "kernels/gpu/gpu_device.h"

namespace emoe::engine {

// "<context>: <the device's message>", OutOfMemory when the device ran out of memory.
Status gpu_status(const kernels::gpu::GpuStatus& s, std::string_view context);

// OutOfMemory naming `what`, the bytes it needs and the bytes free, when Device::mem_info
// reports less free memory than `bytes`.
Status check_device_memory(kernels::gpu::Device& device, uint64_t bytes, std::string_view what);

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // Checks mem_info first, then allocates `bytes` (> 0) on `device`, which must outlive the
  // buffer.
  static Result<DeviceBuffer> allocate(kernels::gpu::Device& device, uint64_t bytes,
                                       std::string_view what);
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void reset();  // frees the allocation (the device finishes queued work first)
  uint8_t* data() const { return static_cast<uint8_t*>(ptr_); }
  uint64_t bytes() const { return bytes_; }
  template <typename T>
  T* at(uint64_t byte_offset) const {
    return reinterpret_cast<T*>(data() + byte_offset);
  }

 private:
  kernels::gpu::Device* device_ = nullptr;
  void* ptr_ = nullptr;
  uint64_t bytes_ = 0;
};

// Device allocations start on this boundary so every sub-buffer suits vector loads.
constexpr uint64_t kDeviceAlign = 256;
constexpr uint64_t align_up(uint64_t n) {
  return (n + kDeviceAlign - 1) / kDeviceAlign * kDeviceAlign;
}

}  // namespace emoe::engine

// Returns gpu_status(s, context) from the enclosing function when a Device call fails.
#define EMOE_RETURN_IF_GPU_ERROR(expr, context)                       \
  do {                                                                \
    const ::emoe::kernels::gpu::GpuStatus emoe_gpu_status_ = (expr);  \
    if (!emoe_gpu_status_.ok()) {                                     \
      return ::emoe::engine::gpu_status(emoe_gpu_status_, (context)); \
    }                                                                 \
  } while (0)
