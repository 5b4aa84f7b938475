// The host reference device: kernels/gpu/gpu_device.h implemented on the CPU with naive,
// obviously-right code (float64 sums, exact dequantization), so CI can test everything written
// against the Device interface (the GPU forward pass, the GPU expert slots, the GPU checks)
// without a GPU.
//
// Streams behave like a real GPU's where it matters for finding bugs:
// - the compute stream executes every call at once, on the calling thread;
// - the copy stream is DEFERRED: copy_async / memset_async on it are queued and read their
//   source bytes only when they run, so a staging buffer reused too early or a compute step that
//   forgot to wait on a load event sees stale data. The queue runs (on the calling thread) up to
//   an event's marker on wait(Compute, e) or sync_event(e), and completely on sync_stream(Copy),
//   free_device / free_pinned (cudaFree synchronises) and destruction.
// Kernels refuse pointers that are not inside a live device allocation of this device (a real
// GPU would fault on them), naming the call and the argument.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/gpu/gpu_device.h"

namespace emoe::gpucheck {

// capacity_bytes: what mem_info reports as total; malloc_device fails with "cudaMalloc: out of
// memory" past it.
std::shared_ptr<kernels::gpu::Device> make_reference_device(uint64_t capacity_bytes = uint64_t{8}
                                                                                      << 30);

}  // namespace emoe::gpucheck
