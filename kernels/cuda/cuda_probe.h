// The first piece of the CUDA backend: asks the runtime what devices exist. Exists so the CUDA
// toolchain (nvcc, sm_90 + PTX, C++20, cudart) is built and linked in CI from the start; the
// backend proper comes with the CUDA issue.
#pragma once

#include <string>

namespace emoe::kernels::cuda {

struct ProbeResult {
  int device_count = 0;  // 0 when the driver or a GPU is missing
  std::string message;   // the runtime's reason when device_count is 0, else the first name
  int runtime_version = 0;
};

ProbeResult probe_devices();

}  // namespace emoe::kernels::cuda
