#include <cuda_runtime.h>

#include "kernels/cuda/cuda_probe.h"

namespace emoe::kernels::cuda {
namespace {

// A trivial kernel so the PTX/SASS path of the build is exercised too.
__global__ void fill_kernel(int* out, int value) { out[threadIdx.x] = value; }

}  // namespace

ProbeResult probe_devices() {
  ProbeResult r;
  cudaRuntimeGetVersion(&r.runtime_version);
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    r.message = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
    return r;
  }
  if (n == 0) {
    r.message = "no CUDA device";
    return r;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) r.message = prop.name;
  int* d = nullptr;
  if (cudaMalloc(&d, 32 * sizeof(int)) == cudaSuccess) {
    fill_kernel<<<1, 32>>>(d, 7);
    int h[32] = {};
    if (cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost) != cudaSuccess || h[31] != 7) {
      r.message += " (kernel launch failed)";
      n = 0;
    }
    cudaFree(d);
  }
  r.device_count = n;
  return r;
}

}  // namespace emoe::kernels::cuda
