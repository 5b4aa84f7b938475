// Helpers shared by the GPU checks: device buffers reached only through the Device, uploads
// and downloads that record failures, sentinel-padded comparisons and random data.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/gpu/gpu_check.h"

namespace emoe::gpucheck {

namespace gpu = kernels::gpu;

inline constexpr float kSentinel = -12345.5f;

// A device allocation freed when it goes out of scope; device memory is reached only through
// the Device (malloc_device, upload, download).
class DevBuf {
 public:
  explicit DevBuf(gpu::Device& d) : d_(d) {}
  ~DevBuf() { d_.free_device(p_); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  gpu::GpuStatus alloc(uint64_t bytes) {
    bytes_ = bytes;
    return d_.malloc_device(bytes, &p_);
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  void* get() const { return p_; }
  uint64_t bytes() const { return bytes_; }

 private:
  gpu::Device& d_;
  void* p_ = nullptr;
  uint64_t bytes_ = 0;
};

// The device plus the result being filled; each helper records a failure naming its step.
struct Run {
  gpu::Device& d;
  CheckResult& r;

  bool ok(const gpu::GpuStatus& s, const std::string& what) {
    return r.expect(s.ok(), what + ": " + s.message());
  }
  // A device copy of `host`; null (failure recorded) when allocation or upload fails.
  template <typename T>
  std::unique_ptr<DevBuf> put(const std::vector<T>& host, const std::string& what) {
    auto b = std::make_unique<DevBuf>(d);
    const uint64_t bytes = host.size() * sizeof(T);
    if (!ok(b->alloc(bytes), "malloc_device for " + what)) return nullptr;
    if (!ok(d.upload(b->get(), host.data(), bytes), "upload of " + what)) return nullptr;
    return b;
  }
  template <typename T>
  bool get(const DevBuf& b, std::vector<T>& host, const std::string& what) {
    host.resize(b.bytes() / sizeof(T));
    return ok(d.download(host.data(), b.get(), b.bytes()), "download of " + what);
  }
};

inline std::vector<float> uniform(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

inline std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Elements where in_result[i] is set must match `want` within normalised error `tol` (0: bit
// for bit); every other element (padding, untouched rows) must be bit-identical to `want`.
// `worst`, when given, is raised to the normalised error found.
inline bool expect_match(CheckResult& r, const std::vector<float>& got,
                         const std::vector<float>& want, const std::vector<char>& in_result,
                         double tol, const std::string& what, double* worst = nullptr) {
  if (!r.expect(got.size() == want.size(), what + ": size differs")) return false;
  std::vector<float> g, w;
  for (size_t i = 0; i < got.size(); ++i) {
    if (in_result[i] && tol > 0) {
      g.push_back(got[i]);
      w.push_back(want[i]);
    } else if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      return r.expect(false, what + ": element " + std::to_string(i) + " is " + fmt(got[i]) +
                                 ", want " + fmt(want[i]) +
                                 (in_result[i] ? " (exact)" : " (outside the result: untouched)"));
    }
  }
  if (g.empty()) return true;
  const double err = normalised_max_error(g.data(), w.data(), static_cast<int64_t>(g.size()));
  if (worst) *worst = std::max(*worst, err);
  return r.expect(err <= tol, what + ": normalised error " + fmt(err) + " > " + fmt(tol));
}

// The checks get the device by reference; engines and tiers take shared ownership of theirs,
// which must not delete it.
inline std::shared_ptr<gpu::Device> borrow(gpu::Device& d) {
  return std::shared_ptr<gpu::Device>(&d, [](gpu::Device*) {});
}

// The attention cases (attention_checks.cpp), one entry of op_checks().
void check_attention(const CheckContext& ctx, CheckResult& r);

}  // namespace emoe::gpucheck
