// CudaDevice's runtime half: probing, opening, memory, transfers and events. Every public
// method selects the device first (activate) because CUDA's current device is per thread and
// the expert cache's copy thread calls copy_async/record/wait while the engine thread computes.
#include <string>

#include "kernels/cuda/cuda_device.h"

namespace emoe::kernels::gpu {
namespace {

std::string with_bytes(const char* call, uint64_t bytes) {
  return std::string(call) + "(" + std::to_string(bytes) + " bytes)";
}

cudaEvent_t as_cuda(Event e) { return reinterpret_cast<cudaEvent_t>(e); }

GpuStatus null_event(const char* call) {
  return GpuStatus::error(std::string(call) + ": null event");
}

RuntimeProbe run_probe() {
  RuntimeProbe r;
  r.built = true;
  cudaRuntimeGetVersion(&r.runtime_version);
  if (cudaDriverGetVersion(&r.driver_version) != cudaSuccess) r.driver_version = 0;
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // not sticky; keep it from surfacing as a later launch error
    r.message = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
    return r;
  }
  if (n == 0) {
    r.message = "cudaGetDeviceCount: no CUDA device is present";
    return r;
  }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop{};
    const cudaError_t perr = cudaGetDeviceProperties(&prop, i);
    if (perr != cudaSuccess) {
      cudaGetLastError();
      r.message = "cudaGetDeviceProperties(" + std::to_string(i) + "): " + cudaGetErrorString(perr);
      r.devices.clear();
      return r;
    }
    DeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.total_bytes = prop.totalGlobalMem;
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.sm_count = prop.multiProcessorCount;
    r.devices.push_back(std::move(d));
  }
  return r;
}

}  // namespace

GpuStatus cuda_status(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return {};
  return GpuStatus::error(std::string(call) + ": " + cudaGetErrorString(err));
}

GpuStatus cublas_status(cublasStatus_t st, const char* call) {
  if (st == CUBLAS_STATUS_SUCCESS) return {};
  return GpuStatus::error(std::string(call) + ": " + cublasGetStatusString(st));
}

GpuStatus launch_status(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) return {};
  return GpuStatus::error(std::string(kernel) + " launch: " + cudaGetErrorString(err));
}

RuntimeProbe probe_runtime() {
  // The answer cannot change while the process runs; the first caller pays for the probe.
  static const RuntimeProbe probe = run_probe();
  return probe;
}

OpenResult open_device(int index) {
  const RuntimeProbe probe = probe_runtime();
  if (probe.devices.empty()) return {nullptr, GpuStatus::error(probe.message)};
  if (index < 0 || index >= static_cast<int>(probe.devices.size())) {
    return {nullptr,
            GpuStatus::error("open_device: no CUDA device " + std::to_string(index) +
                             " (this machine has " + std::to_string(probe.devices.size()) + ")")};
  }
  return CudaDevice::open(index);
}

OpenResult CudaDevice::open(int index) {
  const RuntimeProbe probe = probe_runtime();
  if (index < 0 || index >= static_cast<int>(probe.devices.size())) {
    return {nullptr, GpuStatus::error(probe.devices.empty() ? probe.message
                                                            : "CudaDevice::open: no CUDA device " +
                                                                  std::to_string(index))};
  }
  // The constructor is private, so no make_shared; a partly opened device is torn down by the
  // destructor, which skips what was not created.
  std::shared_ptr<CudaDevice> d(new CudaDevice());
  d->info_ = probe.devices[static_cast<size_t>(index)];
  if (GpuStatus s = d->activate(); !s.ok()) return {nullptr, s};
  if (GpuStatus s = cuda_status(cudaStreamCreateWithFlags(&d->compute_, cudaStreamNonBlocking),
                                "cudaStreamCreateWithFlags(compute)");
      !s.ok()) {
    return {nullptr, s};
  }
  if (GpuStatus s = cuda_status(cudaStreamCreateWithFlags(&d->copy_, cudaStreamNonBlocking),
                                "cudaStreamCreateWithFlags(copy)");
      !s.ok()) {
    return {nullptr, s};
  }
  if (GpuStatus s = cublas_status(cublasCreate(&d->blas_), "cublasCreate"); !s.ok()) {
    d->blas_ = nullptr;
    return {nullptr, s};
  }
  if (GpuStatus s = cublas_status(cublasSetStream(d->blas_, d->compute_), "cublasSetStream");
      !s.ok()) {
    return {nullptr, s};
  }
  return {d, {}};
}

CudaDevice::~CudaDevice() {
  // Nothing here can report an error; a failing call still lets the rest be released.
  activate();
  if (compute_) cudaStreamSynchronize(compute_);
  if (copy_) cudaStreamSynchronize(copy_);
  if (blas_) cublasDestroy(blas_);
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    for (const auto& [p, bytes] : alloc_sizes_) cudaFree(p);
    alloc_sizes_.clear();
  }
  allocated_ = 0;
  scratch_ = nullptr;
  act_scratch_ = nullptr;
  if (copy_) cudaStreamDestroy(copy_);
  if (compute_) cudaStreamDestroy(compute_);
}

GpuStatus CudaDevice::activate() const {
  return cuda_status(cudaSetDevice(info_.index), "cudaSetDevice");
}

GpuStatus CudaDevice::scratch(uint64_t floats, float** out) {
  return grow(&scratch_, &scratch_floats_, floats, "scratch", out);
}

GpuStatus CudaDevice::activation_scratch(uint64_t floats, float** out) {
  return grow(&act_scratch_, &act_scratch_floats_, floats, "activation scratch", out);
}

GpuStatus CudaDevice::grow(float** buf, uint64_t* buf_floats, uint64_t floats, const char* what,
                           float** out) {
  *out = nullptr;
  if (floats <= *buf_floats && *buf) {
    *out = *buf;
    return {};
  }
  // Kernels queued on the compute stream may still read the old buffer.
  if (GpuStatus s = sync_stream(StreamId::Compute); !s.ok()) return s;
  if (*buf) {
    free_device(*buf);
    *buf = nullptr;
    *buf_floats = 0;
  }
  void* p = nullptr;
  if (GpuStatus s = malloc_device(floats * sizeof(float), &p); !s.ok()) {
    return GpuStatus::error(std::string(what) + ": " + s.message());
  }
  *buf = static_cast<float*>(p);
  *buf_floats = floats;
  *out = *buf;
  return {};
}

GpuStatus CudaDevice::malloc_device(uint64_t bytes, void** out) {
  *out = nullptr;
  if (GpuStatus s = activate(); !s.ok()) return s;
  if (bytes == 0) return {};
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // out of memory is not sticky; do not let it fail the next launch
    return cuda_status(err, with_bytes("cudaMalloc", bytes).c_str());
  }
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    alloc_sizes_[p] = bytes;
  }
  allocated_ += bytes;
  *out = p;
  return {};
}

void CudaDevice::free_device(void* p) {
  if (!p) return;
  uint64_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    const auto it = alloc_sizes_.find(p);
    if (it == alloc_sizes_.end()) return;  // not ours, or freed already: freeing again would fail
    bytes = it->second;
    alloc_sizes_.erase(it);
  }
  allocated_ -= bytes;
  activate();
  cudaFree(p);
}

GpuStatus CudaDevice::malloc_pinned(uint64_t bytes, void** out) {
  *out = nullptr;
  if (GpuStatus s = activate(); !s.ok()) return s;
  if (bytes == 0) return {};
  const cudaError_t err = cudaHostAlloc(out, bytes, cudaHostAllocPortable);
  if (err != cudaSuccess) {
    cudaGetLastError();
    *out = nullptr;
    return cuda_status(err, with_bytes("cudaHostAlloc", bytes).c_str());
  }
  return {};
}

void CudaDevice::free_pinned(void* p) {
  if (!p) return;
  activate();
  cudaFreeHost(p);
}

GpuStatus CudaDevice::mem_info(uint64_t* free_bytes, uint64_t* total_bytes) {
  *free_bytes = *total_bytes = 0;
  if (GpuStatus s = activate(); !s.ok()) return s;
  size_t f = 0, t = 0;
  if (GpuStatus s = cuda_status(cudaMemGetInfo(&f, &t), "cudaMemGetInfo"); !s.ok()) return s;
  *free_bytes = f;
  *total_bytes = t;
  return {};
}

GpuStatus CudaDevice::copy_async(void* dst, const void* src, uint64_t bytes, StreamId s) {
  if (bytes == 0) return {};
  if (GpuStatus st = activate(); !st.ok()) return st;
  return cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream(s)),
                     with_bytes("cudaMemcpyAsync", bytes).c_str());
}

GpuStatus CudaDevice::memset_async(void* dst, int value, uint64_t bytes, StreamId s) {
  if (bytes == 0) return {};
  if (GpuStatus st = activate(); !st.ok()) return st;
  return cuda_status(cudaMemsetAsync(dst, value, bytes, stream(s)),
                     with_bytes("cudaMemsetAsync", bytes).c_str());
}

GpuStatus CudaDevice::upload(void* dst, const void* src, uint64_t bytes) {
  if (bytes == 0) return {};
  if (GpuStatus st = copy_async(dst, src, bytes, StreamId::Compute); !st.ok()) {
    return GpuStatus::error("upload: " + st.message());
  }
  return cuda_status(cudaStreamSynchronize(compute_), "upload: cudaStreamSynchronize");
}

GpuStatus CudaDevice::download(void* dst, const void* src, uint64_t bytes) {
  if (bytes == 0) return {};
  if (GpuStatus st = copy_async(dst, src, bytes, StreamId::Compute); !st.ok()) {
    return GpuStatus::error("download: " + st.message());
  }
  return cuda_status(cudaStreamSynchronize(compute_), "download: cudaStreamSynchronize");
}

GpuStatus CudaDevice::create_event(Event* out) {
  *out = nullptr;
  if (GpuStatus s = activate(); !s.ok()) return s;
  cudaEvent_t ev = nullptr;
  // Timing stays on (cudaEventDefault) so elapsed_ms works on any event.
  if (GpuStatus s =
          cuda_status(cudaEventCreateWithFlags(&ev, cudaEventDefault), "cudaEventCreateWithFlags");
      !s.ok()) {
    return s;
  }
  *out = reinterpret_cast<Event>(ev);
  return {};
}

void CudaDevice::destroy_event(Event e) {
  if (!e) return;
  activate();
  cudaEventDestroy(as_cuda(e));
}

GpuStatus CudaDevice::record(Event e, StreamId s) {
  if (!e) return null_event("cudaEventRecord");
  if (GpuStatus st = activate(); !st.ok()) return st;
  return cuda_status(cudaEventRecord(as_cuda(e), stream(s)), "cudaEventRecord");
}

GpuStatus CudaDevice::wait(StreamId s, Event e) {
  if (!e) return null_event("cudaStreamWaitEvent");
  if (GpuStatus st = activate(); !st.ok()) return st;
  return cuda_status(cudaStreamWaitEvent(stream(s), as_cuda(e), 0), "cudaStreamWaitEvent");
}

GpuStatus CudaDevice::sync_event(Event e) {
  if (!e) return null_event("cudaEventSynchronize");
  if (GpuStatus st = activate(); !st.ok()) return st;
  return cuda_status(cudaEventSynchronize(as_cuda(e)), "cudaEventSynchronize");
}

GpuStatus CudaDevice::sync_stream(StreamId s) {
  if (GpuStatus st = activate(); !st.ok()) return st;
  return cuda_status(cudaStreamSynchronize(stream(s)), s == StreamId::Copy
                                                           ? "cudaStreamSynchronize(copy)"
                                                           : "cudaStreamSynchronize(compute)");
}

GpuStatus CudaDevice::elapsed_ms(Event start, Event end, float* ms) {
  *ms = 0.0f;
  if (!start || !end) return null_event("cudaEventElapsedTime");
  if (GpuStatus st = activate(); !st.ok()) return st;
  return cuda_status(cudaEventElapsedTime(ms, as_cuda(start), as_cuda(end)),
                     "cudaEventElapsedTime");
}

}  // namespace emoe::kernels::gpu
