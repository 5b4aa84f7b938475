// Where the engine computes: "cpu", "cuda" (device 0) or "cuda:N". Asking for CUDA on a machine
// without a driver or a GPU, or on a build without the CUDA backend, selects the CPU and says
// so in `notice` (shown once by the caller); a malformed name or a GPU index that does not
// exist on a machine that has GPUs is an error.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/common/status.h"

namespace emoe::kernels::gpu {
class Device;
}

namespace emoe::engine {

struct ComputeDevice {
  std::shared_ptr<kernels::gpu::Device> gpu;  // null: the CPU
  std::string name;                           // "cpu" or "cuda:N (NVIDIA H200, 139.8 GiB)"
  std::string notice;                         // non-empty when CUDA was asked for but is missing
};

Result<ComputeDevice> select_compute_device(std::string_view spec);

}  // namespace emoe::engine
