// The host reference device's class (reference_device.h says what it models), private to its
// two files: memory, transfers, streams and events in reference_device.cpp, the kernels in
// reference_device_kernels.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "kernels/gpu/gpu_device.h"

namespace emoe::gpucheck::refdev {

using kernels::MatrixView;
using kernels::RopeMode;
using kernels::RopeYarn;
using kernels::TensorType;
using kernels::gpu::AttentionArgs;
using kernels::gpu::DeviceInfo;
using kernels::gpu::Event;
using kernels::gpu::GpuStatus;
using kernels::gpu::StreamId;
using Clock = std::chrono::steady_clock;

#define REF_TRY(expr)                          \
  do {                                         \
    GpuStatus ref_status_ = (expr);            \
    if (!ref_status_.ok()) return ref_status_; \
  } while (0)

inline GpuStatus fail(const char* call, const std::string& what) {
  return GpuStatus::error(std::string(call) + ": " + what);
}

// Our own event type behind the opaque Event handle (EventTag stays undefined here, so this
// file cannot clash with the CUDA build's definition).
struct RefEvent {
  bool recorded = false;
  bool done = false;      // the work captured at the last record() has run
  uint64_t copy_seq = 0;  // copy-queue marker of the last record on the copy stream
  Clock::time_point when;
};

inline RefEvent* as_ref(Event e) { return reinterpret_cast<RefEvent*>(e); }

struct CopyOp {
  enum class Kind { Copy, Memset, Marker } kind = Kind::Copy;
  uint64_t seq = 0;
  void* dst = nullptr;
  const void* src = nullptr;
  uint64_t bytes = 0;
  int value = 0;
  RefEvent* event = nullptr;  // Marker; null once the event is destroyed
};

inline uint64_t f32_extent(int64_t n_rows, int64_t stride, int64_t width) {  // bytes
  if (n_rows <= 0 || width <= 0) return 0;
  return static_cast<uint64_t>((n_rows - 1) * stride + width) * sizeof(float);
}

class ReferenceDevice final : public kernels::gpu::Device {
 public:
  explicit ReferenceDevice(uint64_t capacity) : capacity_(capacity) {
    info_.index = 0;
    info_.name = "host reference device";
    info_.total_bytes = capacity;
  }
  ~ReferenceDevice() override;

  const DeviceInfo& info() const override { return info_; }

  // --- memory (reference_device.cpp)
  GpuStatus malloc_device(uint64_t bytes, void** out) override;
  void free_device(void* p) override;
  GpuStatus malloc_pinned(uint64_t bytes, void** out) override;
  void free_pinned(void* p) override;
  uint64_t allocated_bytes() const override;
  GpuStatus mem_info(uint64_t* free_bytes, uint64_t* total_bytes) override;

  // --- transfers (reference_device.cpp)
  GpuStatus copy_async(void* dst, const void* src, uint64_t bytes, StreamId s) override;
  GpuStatus memset_async(void* dst, int value, uint64_t bytes, StreamId s) override;
  GpuStatus upload(void* dst, const void* src, uint64_t bytes) override;
  GpuStatus download(void* dst, const void* src, uint64_t bytes) override;

  // --- events and streams (reference_device.cpp)
  GpuStatus create_event(Event* out) override;
  void destroy_event(Event e) override;
  GpuStatus record(Event e, StreamId s) override;
  GpuStatus wait(StreamId s, Event e) override;
  GpuStatus sync_event(Event e) override;
  GpuStatus sync_stream(StreamId s) override;
  GpuStatus elapsed_ms(Event start, Event end, float* ms) override;

  // --- kernels (compute stream: run now; reference_device_kernels.cpp)
  GpuStatus matmul(const MatrixView& w, const float* x, int64_t n_tokens, int64_t x_stride,
                   float* y, int64_t y_stride) override;
  GpuStatus matmul_heads(const MatrixView& w, int64_t rows_per_head, int64_t n_heads,
                         const float* x, int64_t n_tokens, int64_t x_token_stride,
                         int64_t x_head_stride, float* y, int64_t y_token_stride,
                         int64_t y_head_stride) override;
  GpuStatus dequantize(const MatrixView& w, float* dst) override;
  GpuStatus rms_norm(const float* x, int64_t x_stride, const float* w, float eps, int64_t rows,
                     int64_t width, float* y, int64_t y_stride) override;
  GpuStatus rope(float* x, int64_t n_tokens, int64_t token_stride, int64_t n_heads,
                 int64_t head_stride, int64_t n_dims, const int32_t* pos, float freq_base,
                 float freq_scale, RopeMode mode, const RopeYarn& yarn) override;
  GpuStatus add(const float* a, const float* b, int64_t n, float* out) override;
  GpuStatus add_bias(float* x, const float* bias, int64_t rows, int64_t width,
                     int64_t stride) override;
  GpuStatus silu_mul(const float* gate, const float* up, int64_t n, float* out) override;
  GpuStatus gather_rows(const float* src, int64_t width, const int32_t* idx, int64_t n,
                        float* dst) override;
  GpuStatus scatter_scaled_rows(const float* src, int64_t width, const int32_t* idx,
                                const float* scale, int64_t n, float* dst) override;
  GpuStatus sum_slots(const float* slots, int64_t n, int64_t k, int64_t width, float* out) override;
  GpuStatus add_gated(float* out, const float* src, const float* logit, int64_t n,
                      int64_t width) override;
  GpuStatus store_rows(const float* src, int64_t n, int64_t width, int64_t src_stride, void* cache,
                       TensorType cache_type, const int64_t* dst_offset) override;
  GpuStatus attention(const AttentionArgs& a) override;

 private:
  // reference_device.cpp
  RefEvent* lookup(Event e) const;
  void run_copies_until(uint64_t seq);
  uintptr_t containing(const void* p, uint64_t bytes) const;
  GpuStatus check_device(const void* p, uint64_t bytes, const char* call, const char* arg) const;
  GpuStatus check_any(const void* p, uint64_t bytes, const char* call, const char* arg) const;

  // reference_device_kernels.cpp
  GpuStatus check_matrix(const MatrixView& w, const char* call) const;
  GpuStatus matmul_heads_impl(const char* call, const MatrixView& w, int64_t rows_per_head,
                              int64_t n_heads, const float* x, int64_t n_tokens, int64_t xts,
                              int64_t xhs, float* y, int64_t yts, int64_t yhs);

  mutable std::mutex mu_;  // guards everything below and serialises all work
  DeviceInfo info_;
  const uint64_t capacity_;
  uint64_t allocated_ = 0;
  std::map<uintptr_t, uint64_t> allocs_;  // base -> requested bytes
  std::set<void*> pinned_;
  std::set<RefEvent*> events_;
  std::deque<CopyOp> queue_;  // the deferred copy stream
  uint64_t next_seq_ = 1;
};

}  // namespace emoe::gpucheck::refdev
