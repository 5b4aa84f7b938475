// The GPU backend of a build without nvcc: the interface links, every attempt to open a device
// says why there is none, and the program runs on the CPU.
#include "kernels/gpu/gpu_device.h"

namespace emoe::kernels::gpu {
namespace {

constexpr const char* kNotBuilt =
    "this build has no CUDA backend (nvcc was not found when it was configured)";

}  // namespace

RuntimeProbe probe_runtime() {
  RuntimeProbe r;
  r.built = false;
  r.message = kNotBuilt;
  return r;
}

OpenResult open_device(int /*index*/) { return {nullptr, GpuStatus::error(kNotBuilt)}; }

}  // namespace emoe::kernels::gpu
