#include "core/engine/device_buffer.h"

#include <utility>

namespace emoe::engine {

Status gpu_status(const kernels::gpu::GpuStatus& s, std::string_view context) {
  if (s.ok()) return Status::ok();
  std::string message = std::string(context) + ": " + s.message();
  // cudaErrorMemoryAllocation reads "out of memory"; the caller can then free or shrink.
  if (s.message().find("out of memory") != std::string::npos) {
    return out_of_memory(std::move(message));
  }
  return device_error(std::move(message));
}

Status check_device_memory(kernels::gpu::Device& device, uint64_t bytes, std::string_view what) {
  uint64_t free_bytes = 0, total_bytes = 0;
  EMOE_RETURN_IF_GPU_ERROR(device.mem_info(&free_bytes, &total_bytes),
                           std::string(what) + ": checking free device memory");
  if (bytes > free_bytes) {
    return out_of_memory(std::string(what) + " need " + std::to_string(bytes) +
                         " bytes of device memory, but " + device.info().name + " has " +
                         std::to_string(free_bytes) + " bytes free (of " +
                         std::to_string(total_bytes) + ")");
  }
  return Status::ok();
}

Result<DeviceBuffer> DeviceBuffer::allocate(kernels::gpu::Device& device, uint64_t bytes,
                                            std::string_view what) {
  if (bytes == 0) return internal_error(std::string(what) + ": allocating 0 device bytes");
  EMOE_RETURN_IF_ERROR(check_device_memory(device, bytes, what));
  DeviceBuffer b;
  EMOE_RETURN_IF_GPU_ERROR(device.malloc_device(bytes, &b.ptr_),
                           std::string(what) + " (" + std::to_string(bytes) + " bytes)");
  b.device_ = &device;
  b.bytes_ = bytes;
  return b;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : device_(std::exchange(o.device_, nullptr)),
      ptr_(std::exchange(o.ptr_, nullptr)),
      bytes_(std::exchange(o.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    device_ = std::exchange(o.device_, nullptr);
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (ptr_) {
    // Kernels queued earlier may still read the memory; a device free must not overtake them.
    (void)device_->sync_stream(kernels::gpu::StreamId::Compute);
    device_->free_device(ptr_);
  }
  device_ = nullptr;
  ptr_ = nullptr;
  bytes_ = 0;
}

}  // namespace emoe::engine
