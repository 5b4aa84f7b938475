#include "tests/gpu/reference_device.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cuda/activation_round.h"

namespace emoe::gpucheck {
namespace {

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

GpuStatus fail(const char* call, const std::string& what) {
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

RefEvent* as_ref(Event e) { return reinterpret_cast<RefEvent*>(e); }

struct CopyOp {
  enum class Kind { Copy, Memset, Marker } kind = Kind::Copy;
  uint64_t seq = 0;
  void* dst = nullptr;
  const void* src = nullptr;
  uint64_t bytes = 0;
  int value = 0;
  RefEvent* event = nullptr;  // Marker; null once the event is destroyed
};

bool matmul_type_supported(TensorType t) {
  switch (t) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return true;
    default:
      return false;
  }
}

uint64_t f32_extent(int64_t n_rows, int64_t stride, int64_t width) {  // bytes
  if (n_rows <= 0 || width <= 0) return 0;
  return static_cast<uint64_t>((n_rows - 1) * stride + width) * sizeof(float);
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

class ReferenceDevice final : public kernels::gpu::Device {
 public:
  explicit ReferenceDevice(uint64_t capacity) : capacity_(capacity) {
    info_.index = 0;
    info_.name = "host reference device";
    info_.total_bytes = capacity;
  }

  ~ReferenceDevice() override {
    std::lock_guard<std::mutex> lock(mu_);
    run_copies_until(UINT64_MAX);
    for (auto& [base, size] : allocs_) std::free(reinterpret_cast<void*>(base));
    for (void* p : pinned_) std::free(p);
    for (RefEvent* e : events_) delete e;
  }

  const DeviceInfo& info() const override { return info_; }

  // --- memory
  GpuStatus malloc_device(uint64_t bytes, void** out) override {
    if (!out) return fail("cudaMalloc", "null output pointer");
    *out = nullptr;
    if (bytes == 0) return {};
    std::lock_guard<std::mutex> lock(mu_);
    if (bytes > capacity_ - allocated_) {
      return fail("cudaMalloc", "out of memory (" + std::to_string(bytes) + " bytes requested, " +
                                    std::to_string(capacity_ - allocated_) + " free)");
    }
    const uint64_t rounded = (bytes + 255) / 256 * 256;
    void* p = std::aligned_alloc(256, rounded);
    if (!p) return fail("cudaMalloc", "out of memory (host allocation failed)");
    // cudaMalloc does not clear memory: all-ones bytes are NaN floats and -1 indices, so a
    // read of memory nobody wrote shows up in results instead of passing as zeros.
    std::memset(p, 0xFF, rounded);
    allocs_[reinterpret_cast<uintptr_t>(p)] = bytes;
    allocated_ += bytes;
    *out = p;
    return {};
  }

  void free_device(void* p) override {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    run_copies_until(UINT64_MAX);  // cudaFree synchronises the device
    auto it = allocs_.find(reinterpret_cast<uintptr_t>(p));
    if (it == allocs_.end()) {
      std::fprintf(stderr, "reference device: free_device of unknown pointer %p\n", p);
      return;
    }
    allocated_ -= it->second;
    allocs_.erase(it);
    std::free(p);
  }

  GpuStatus malloc_pinned(uint64_t bytes, void** out) override {
    if (!out) return fail("cudaMallocHost", "null output pointer");
    *out = nullptr;
    if (bytes == 0) return {};
    void* p = std::malloc(bytes);
    if (!p) return fail("cudaMallocHost", "out of memory");
    std::lock_guard<std::mutex> lock(mu_);
    pinned_.insert(p);
    *out = p;
    return {};
  }

  void free_pinned(void* p) override {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    run_copies_until(UINT64_MAX);  // cudaFreeHost synchronises too
    if (pinned_.erase(p) == 0) {
      std::fprintf(stderr, "reference device: free_pinned of unknown pointer %p\n", p);
      return;
    }
    std::free(p);
  }

  uint64_t allocated_bytes() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return allocated_;
  }

  GpuStatus mem_info(uint64_t* free_bytes, uint64_t* total_bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_bytes) *free_bytes = capacity_ - allocated_;
    if (total_bytes) *total_bytes = capacity_;
    return {};
  }

  // --- transfers
  GpuStatus copy_async(void* dst, const void* src, uint64_t bytes, StreamId s) override {
    if (bytes == 0) return {};
    if (!dst || !src) return fail("cudaMemcpyAsync", "null pointer");
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_any(dst, bytes, "cudaMemcpyAsync", "dst"));
    REF_TRY(check_any(src, bytes, "cudaMemcpyAsync", "src"));
    if (s == StreamId::Compute) {
      std::memmove(dst, src, bytes);
      return {};
    }
    CopyOp op;
    op.kind = CopyOp::Kind::Copy;
    op.seq = next_seq_++;
    op.dst = dst;
    op.src = src;
    op.bytes = bytes;
    queue_.push_back(op);
    return {};
  }

  GpuStatus memset_async(void* dst, int value, uint64_t bytes, StreamId s) override {
    if (bytes == 0) return {};
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_device(dst, bytes, "cudaMemsetAsync", "dst"));
    if (s == StreamId::Compute) {
      std::memset(dst, value, bytes);
      return {};
    }
    CopyOp op;
    op.kind = CopyOp::Kind::Memset;
    op.seq = next_seq_++;
    op.dst = dst;
    op.bytes = bytes;
    op.value = value;
    queue_.push_back(op);
    return {};
  }

  GpuStatus upload(void* dst, const void* src, uint64_t bytes) override {
    if (bytes == 0) return {};
    if (!src) return fail("cudaMemcpy (upload)", "null host pointer");
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_device(dst, bytes, "cudaMemcpy (upload)", "dst"));
    std::memmove(dst, src, bytes);
    return {};
  }

  GpuStatus download(void* dst, const void* src, uint64_t bytes) override {
    if (bytes == 0) return {};
    if (!dst) return fail("cudaMemcpy (download)", "null host pointer");
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_device(src, bytes, "cudaMemcpy (download)", "src"));
    std::memmove(dst, src, bytes);
    return {};
  }

  // --- events and streams
  GpuStatus create_event(Event* out) override {
    if (!out) return fail("cudaEventCreate", "null output pointer");
    std::lock_guard<std::mutex> lock(mu_);
    auto* e = new RefEvent;
    events_.insert(e);
    *out = reinterpret_cast<Event>(e);
    return {};
  }

  void destroy_event(Event e) override {
    if (!e) return;
    std::lock_guard<std::mutex> lock(mu_);
    RefEvent* r = as_ref(e);
    if (events_.erase(r) == 0) return;
    for (CopyOp& op : queue_) {
      if (op.event == r) op.event = nullptr;
    }
    delete r;
  }

  GpuStatus record(Event e, StreamId s) override {
    std::lock_guard<std::mutex> lock(mu_);
    RefEvent* r = lookup(e);
    if (!r) return fail("cudaEventRecord", "invalid resource handle (unknown event)");
    r->recorded = true;
    if (s == StreamId::Compute) {
      r->done = true;
      r->copy_seq = 0;
      r->when = Clock::now();
      return {};
    }
    r->done = false;
    CopyOp op;
    op.kind = CopyOp::Kind::Marker;
    op.seq = next_seq_++;
    op.event = r;
    r->copy_seq = op.seq;
    queue_.push_back(op);
    return {};
  }

  GpuStatus wait(StreamId s, Event e) override {
    std::lock_guard<std::mutex> lock(mu_);
    RefEvent* r = lookup(e);
    if (!r) return fail("cudaStreamWaitEvent", "invalid resource handle (unknown event)");
    // The copy stream is in order and compute work is already done: only a compute-stream
    // wait on a copy-stream record has something to run.
    if (s == StreamId::Compute && r->recorded && !r->done) run_copies_until(r->copy_seq);
    return {};
  }

  GpuStatus sync_event(Event e) override {
    std::lock_guard<std::mutex> lock(mu_);
    RefEvent* r = lookup(e);
    if (!r) return fail("cudaEventSynchronize", "invalid resource handle (unknown event)");
    if (r->recorded && !r->done) run_copies_until(r->copy_seq);
    return {};
  }

  GpuStatus sync_stream(StreamId s) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (s == StreamId::Copy) run_copies_until(UINT64_MAX);
    return {};
  }

  GpuStatus elapsed_ms(Event start, Event end, float* ms) override {
    if (!ms) return fail("cudaEventElapsedTime", "null output pointer");
    std::lock_guard<std::mutex> lock(mu_);
    RefEvent* a = lookup(start);
    RefEvent* b = lookup(end);
    if (!a || !b || !a->recorded || !b->recorded) {
      return fail("cudaEventElapsedTime", "invalid resource handle (event not recorded)");
    }
    if (!a->done || !b->done) return fail("cudaEventElapsedTime", "device not ready");
    *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
    return {};
  }

  // --- kernels (compute stream: run now)
  GpuStatus matmul(const MatrixView& w, const float* x, int64_t n_tokens, int64_t x_stride,
                   float* y, int64_t y_stride) override {
    return matmul_heads_impl("matmul", w, w.rows, 1, x, n_tokens, x_stride, 0, y, y_stride, 0);
  }

  GpuStatus matmul_heads(const MatrixView& w, int64_t rows_per_head, int64_t n_heads,
                         const float* x, int64_t n_tokens, int64_t x_token_stride,
                         int64_t x_head_stride, float* y, int64_t y_token_stride,
                         int64_t y_head_stride) override {
    return matmul_heads_impl("matmul_heads", w, rows_per_head, n_heads, x, n_tokens, x_token_stride,
                             x_head_stride, y, y_token_stride, y_head_stride);
  }

  GpuStatus dequantize(const MatrixView& w, float* dst) override {
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_matrix(w, "dequantize"));
    REF_TRY(check_device(dst, f32_extent(w.rows, w.cols, w.cols), "dequantize", "dst"));
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t r = 0; r < w.rows; ++r) {
      dequant_row(w, r, row.data());
      std::memcpy(dst + r * w.cols, row.data(), row.size() * sizeof(float));
    }
    return {};
  }

  GpuStatus rms_norm(const float* x, int64_t x_stride, const float* w, float eps, int64_t rows,
                     int64_t width, float* y, int64_t y_stride) override {
    constexpr const char* call = "rms_norm";
    if (rows < 0 || width <= 0) return fail(call, "bad shape");
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_device(x, f32_extent(rows, x_stride, width), call, "x"));
    REF_TRY(check_device(y, f32_extent(rows, y_stride, width), call, "y"));
    if (w) REF_TRY(check_device(w, f32_extent(1, 0, width), call, "w"));
    std::vector<double> out(static_cast<size_t>(width));
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * x_stride;
      double sum = 0;
      for (int64_t c = 0; c < width; ++c) sum += static_cast<double>(xr[c]) * xr[c];
      const double scale = 1.0 / std::sqrt(sum / static_cast<double>(width) + eps);
      for (int64_t c = 0; c < width; ++c) out[c] = xr[c] * scale * (w ? w[c] : 1.0);
      float* yr = y + r * y_stride;
      for (int64_t c = 0; c < width; ++c) yr[c] = static_cast<float>(out[c]);
    }
    return {};
  }

  GpuStatus rope(float* x, int64_t n_tokens, int64_t token_stride, int64_t n_heads,
                 int64_t head_stride, int64_t n_dims, const int32_t* pos, float freq_base,
                 float freq_scale, RopeMode mode, const RopeYarn& yarn) override {
    constexpr const char* call = "rope";
    if (n_tokens < 0 || n_heads < 0 || n_dims <= 0 || n_dims % 2 != 0) {
      return fail(call, "bad shape (n_dims " + std::to_string(n_dims) + ")");
    }
    if (mode != RopeMode::Norm && mode != RopeMode::Neox) return fail(call, "unknown mode");
    if (n_tokens == 0 || n_heads == 0) return {};
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t extent = static_cast<uint64_t>((n_tokens - 1) * token_stride +
                                                  (n_heads - 1) * head_stride + n_dims) *
                            sizeof(float);
    REF_TRY(check_device(x, extent, call, "x"));
    REF_TRY(check_device(pos, static_cast<uint64_t>(n_tokens) * sizeof(int32_t), call, "pos"));
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t h = 0; h < n_heads; ++h) {
        kernels::rope_yarn(x + t * token_stride + h * head_stride, 1, n_dims, n_dims, pos[t],
                           freq_base, freq_scale, mode, yarn);
      }
    }
    return {};
  }

  GpuStatus add(const float* a, const float* b, int64_t n, float* out) override {
    if (n < 0) return fail("add", "negative n");
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t bytes = static_cast<uint64_t>(n) * sizeof(float);
    REF_TRY(check_device(a, bytes, "add", "a"));
    REF_TRY(check_device(b, bytes, "add", "b"));
    REF_TRY(check_device(out, bytes, "add", "out"));
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
    return {};
  }

  GpuStatus add_bias(float* x, const float* bias, int64_t rows, int64_t width,
                     int64_t stride) override {
    if (rows < 0 || width < 0) return fail("add_bias", "bad shape");
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_device(x, f32_extent(rows, stride, width), "add_bias", "x"));
    REF_TRY(check_device(bias, f32_extent(1, 0, width), "add_bias", "bias"));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < width; ++c) x[r * stride + c] += bias[c];
    }
    return {};
  }

  GpuStatus silu_mul(const float* gate, const float* up, int64_t n, float* out) override {
    if (n < 0) return fail("silu_mul", "negative n");
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t bytes = static_cast<uint64_t>(n) * sizeof(float);
    REF_TRY(check_device(gate, bytes, "silu_mul", "gate"));
    REF_TRY(check_device(up, bytes, "silu_mul", "up"));
    REF_TRY(check_device(out, bytes, "silu_mul", "out"));
    for (int64_t i = 0; i < n; ++i) {
      const double g = gate[i];
      out[i] = static_cast<float>(g * sigmoid(g) * static_cast<double>(up[i]));
    }
    return {};
  }

  GpuStatus gather_rows(const float* src, int64_t width, const int32_t* idx, int64_t n,
                        float* dst) override {
    constexpr const char* call = "gather_rows";
    if (n < 0 || width < 0) return fail(call, "bad shape");
    if (n == 0 || width == 0) return {};
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_device(idx, static_cast<uint64_t>(n) * sizeof(int32_t), call, "idx"));
    REF_TRY(check_device(dst, f32_extent(n, width, width), call, "dst"));
    std::vector<float> rows(static_cast<size_t>(n * width));
    for (int64_t i = 0; i < n; ++i) {
      if (idx[i] < 0) return fail(call, "negative index at " + std::to_string(i));
      const float* row = src + static_cast<int64_t>(idx[i]) * width;
      REF_TRY(check_device(row, f32_extent(1, 0, width), call, "src row idx[i]"));
      std::memcpy(rows.data() + i * width, row, static_cast<size_t>(width) * sizeof(float));
    }
    std::memcpy(dst, rows.data(), rows.size() * sizeof(float));
    return {};
  }

  GpuStatus scatter_scaled_rows(const float* src, int64_t width, const int32_t* idx,
                                const float* scale, int64_t n, float* dst) override {
    constexpr const char* call = "scatter_scaled_rows";
    if (n < 0 || width < 0) return fail(call, "bad shape");
    if (n == 0 || width == 0) return {};
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_device(src, f32_extent(n, width, width), call, "src"));
    REF_TRY(check_device(idx, static_cast<uint64_t>(n) * sizeof(int32_t), call, "idx"));
    REF_TRY(check_device(scale, static_cast<uint64_t>(n) * sizeof(float), call, "scale"));
    for (int64_t i = 0; i < n; ++i) {
      if (idx[i] < 0) return fail(call, "negative index at " + std::to_string(i));
      REF_TRY(check_device(dst + static_cast<int64_t>(idx[i]) * width, f32_extent(1, 0, width),
                           call, "dst row idx[i]"));
    }
    std::vector<float> rows(src, src + n * width);  // src may alias dst
    for (int64_t i = 0; i < n; ++i) {
      float* d = dst + static_cast<int64_t>(idx[i]) * width;
      for (int64_t c = 0; c < width; ++c) d[c] = rows[i * width + c] * scale[i];
    }
    return {};
  }

  GpuStatus sum_slots(const float* slots, int64_t n, int64_t k, int64_t width,
                      float* out) override {
    constexpr const char* call = "sum_slots";
    if (n < 0 || k <= 0 || width < 0) return fail(call, "bad shape");
    if (n == 0 || width == 0) return {};
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_device(slots, f32_extent(n * k, width, width), call, "slots"));
    REF_TRY(check_device(out, f32_extent(n, width, width), call, "out"));
    std::vector<float> acc(static_cast<size_t>(n * width));
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t c = 0; c < width; ++c) {
        float s = slots[(t * k) * width + c];  // float, slot 0 first: ggml's order
        for (int64_t j = 1; j < k; ++j) s += slots[(t * k + j) * width + c];
        acc[t * width + c] = s;
      }
    }
    std::memcpy(out, acc.data(), acc.size() * sizeof(float));
    return {};
  }

  GpuStatus add_gated(float* out, const float* src, const float* logit, int64_t n,
                      int64_t width) override {
    constexpr const char* call = "add_gated";
    if (n < 0 || width < 0) return fail(call, "bad shape");
    if (n == 0 || width == 0) return {};
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_device(out, f32_extent(n, width, width), call, "out"));
    REF_TRY(check_device(src, f32_extent(n, width, width), call, "src"));
    REF_TRY(check_device(logit, static_cast<uint64_t>(n) * sizeof(float), call, "logit"));
    for (int64_t t = 0; t < n; ++t) {
      const double gate = sigmoid(logit[t]);
      for (int64_t c = 0; c < width; ++c) {
        out[t * width + c] = static_cast<float>(out[t * width + c] + src[t * width + c] * gate);
      }
    }
    return {};
  }

  GpuStatus store_rows(const float* src, int64_t n, int64_t width, int64_t src_stride, void* cache,
                       TensorType cache_type, const int64_t* dst_offset) override {
    constexpr const char* call = "store_rows";
    if (cache_type != TensorType::F32 && cache_type != TensorType::F16) {
      return fail(call, "unsupported cache type " + std::string(kernels::type_name(cache_type)));
    }
    if (n < 0 || width < 0) return fail(call, "bad shape");
    if (n == 0 || width == 0) return {};
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t el = cache_type == TensorType::F16 ? 2 : 4;
    REF_TRY(check_device(src, f32_extent(n, src_stride, width), call, "src"));
    REF_TRY(
        check_device(dst_offset, static_cast<uint64_t>(n) * sizeof(int64_t), call, "dst_offset"));
    auto* base = static_cast<uint8_t*>(cache);
    for (int64_t t = 0; t < n; ++t) {
      if (dst_offset[t] < 0) return fail(call, "negative offset at " + std::to_string(t));
      uint8_t* d = base + static_cast<uint64_t>(dst_offset[t]) * el;
      REF_TRY(check_device(d, static_cast<uint64_t>(width) * el, call, "cache row"));
      const float* s = src + t * src_stride;
      if (cache_type == TensorType::F32) {
        std::memcpy(d, s, static_cast<size_t>(width) * sizeof(float));
      } else {
        auto* h = reinterpret_cast<uint16_t*>(d);
        for (int64_t c = 0; c < width; ++c) h[c] = kernels::fp32_to_fp16(s[c]);
      }
    }
    return {};
  }

  GpuStatus attention(const AttentionArgs& a) override;

 private:
  RefEvent* lookup(Event e) const {  // mu_ held
    RefEvent* r = as_ref(e);
    return events_.count(r) ? r : nullptr;
  }

  // mu_ held. Runs queued copy-stream work in order up to and including sequence number `seq`.
  void run_copies_until(uint64_t seq) {
    while (!queue_.empty() && queue_.front().seq <= seq) {
      const CopyOp op = queue_.front();
      queue_.pop_front();
      switch (op.kind) {
        case CopyOp::Kind::Copy:
          std::memmove(op.dst, op.src, op.bytes);
          break;
        case CopyOp::Kind::Memset:
          std::memset(op.dst, op.value, op.bytes);
          break;
        case CopyOp::Kind::Marker:
          // A re-recorded event waits for its newer marker instead.
          if (op.event && op.event->copy_seq == op.seq) {
            op.event->done = true;
            op.event->when = Clock::now();
          }
          break;
      }
    }
  }

  // mu_ held. Where [p, p + bytes) lies in one live device allocation, its base; else 0.
  uintptr_t containing(const void* p, uint64_t bytes) const {
    const auto a = reinterpret_cast<uintptr_t>(p);
    auto it = allocs_.upper_bound(a);
    if (it == allocs_.begin()) return 0;
    --it;
    if (a - it->first < it->second && bytes <= it->second - (a - it->first)) return it->first;
    return 0;
  }

  // A kernel argument must be device memory of this device; bytes 0 needs nothing.
  GpuStatus check_device(const void* p, uint64_t bytes, const char* call, const char* arg) const {
    if (bytes == 0 || containing(p, bytes) != 0) return {};
    char where[64];
    std::snprintf(where, sizeof where, "%p", p);
    return fail(call, std::string(arg) + " (" + where + ", " + std::to_string(bytes) +
                          " bytes) is not inside a device allocation");
  }

  // A copy end may be host memory, but one that starts inside a device allocation must end
  // inside it too.
  GpuStatus check_any(const void* p, uint64_t bytes, const char* call, const char* arg) const {
    if (containing(p, 1) == 0 || containing(p, bytes) != 0) return {};
    return fail(call, std::string(arg) + " runs past the end of its device allocation (" +
                          std::to_string(bytes) + " bytes)");
  }

  GpuStatus check_matrix(const MatrixView& w, const char* call) const {
    if (!matmul_type_supported(w.type)) {
      return fail(call, "unsupported weight type " + std::string(kernels::type_name(w.type)));
    }
    const auto rb = kernels::row_bytes(w.type, w.cols);
    if (w.rows < 0 || w.cols <= 0 || !rb) {
      return fail(call, "bad matrix shape " + std::to_string(w.rows) + "x" +
                            std::to_string(w.cols) + " for " +
                            std::string(kernels::type_name(w.type)));
    }
    if (w.row_stride < *rb) return fail(call, "row_stride shorter than a row");
    if (w.rows == 0) return {};
    return check_device(w.data, static_cast<uint64_t>(w.rows - 1) * w.row_stride + *rb, call,
                        "w.data");
  }

  static void dequant_row(const MatrixView& w, int64_t r, float* dst) {
    kernels::dequantize_row(w.type, static_cast<const uint8_t*>(w.data) + r * w.row_stride, dst,
                            w.cols);
  }

  GpuStatus matmul_heads_impl(const char* call, const MatrixView& w, int64_t rows_per_head,
                              int64_t n_heads, const float* x, int64_t n_tokens, int64_t xts,
                              int64_t xhs, float* y, int64_t yts, int64_t yhs) {
    if (n_tokens < 0 || n_heads < 0 || rows_per_head < 0 || rows_per_head * n_heads > w.rows) {
      return fail(call, "bad shape (" + std::to_string(n_heads) + " heads of " +
                            std::to_string(rows_per_head) + " rows, matrix has " +
                            std::to_string(w.rows) + ")");
    }
    std::lock_guard<std::mutex> lock(mu_);
    REF_TRY(check_matrix(w, call));
    if (n_tokens == 0 || n_heads == 0 || rows_per_head == 0) return {};
    const uint64_t x_ext =
        static_cast<uint64_t>((n_tokens - 1) * xts + (n_heads - 1) * xhs + w.cols) * sizeof(float);
    const uint64_t y_ext =
        static_cast<uint64_t>((n_tokens - 1) * yts + (n_heads - 1) * yhs + rows_per_head) *
        sizeof(float);
    REF_TRY(check_device(x, x_ext, call, "x"));
    REF_TRY(check_device(y, y_ext, call, "y"));
    // x as the CPU engine's dot products see it: converted to vec_dot_type(w) and back
    // (activation_round.h, the rounding the CUDA matmul applies), per token and head.
    std::vector<float> xr(static_cast<size_t>(n_tokens * n_heads * w.cols));
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t h = 0; h < n_heads; ++h) {
        kernels::actround::round_row(w.type, x + t * xts + h * xhs,
                                     xr.data() + (t * n_heads + h) * w.cols, w.cols);
      }
    }
    // Results go to a buffer first so y may overlap x.
    std::vector<float> result(static_cast<size_t>(n_tokens * n_heads * rows_per_head));
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t r = 0; r < rows_per_head; ++r) {
        dequant_row(w, h * rows_per_head + r, row.data());
        for (int64_t t = 0; t < n_tokens; ++t) {
          const float* xv = xr.data() + (t * n_heads + h) * w.cols;
          double sum = 0;
          for (int64_t c = 0; c < w.cols; ++c) sum += static_cast<double>(row[c]) * xv[c];
          result[(t * n_heads + h) * rows_per_head + r] = static_cast<float>(sum);
        }
      }
    }
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t h = 0; h < n_heads; ++h) {
        std::memcpy(y + t * yts + h * yhs, result.data() + (t * n_heads + h) * rows_per_head,
                    static_cast<size_t>(rows_per_head) * sizeof(float));
      }
    }
    return {};
  }

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

GpuStatus ReferenceDevice::attention(const AttentionArgs& a) {
  constexpr const char* call = "attention";
  if (a.kv_type != TensorType::F32 && a.kv_type != TensorType::F16) {
    return fail(call, "unsupported KV type " + std::string(kernels::type_name(a.kv_type)));
  }
  if (a.n_tokens < 0 || a.n_head <= 0 || a.n_head_kv <= 0 || a.n_head % a.n_head_kv != 0 ||
      a.head_dim_k <= 0 || a.head_dim_v <= 0) {
    return fail(call, "bad shape (n_head " + std::to_string(a.n_head) + ", n_head_kv " +
                          std::to_string(a.n_head_kv) + ")");
  }
  if (a.n_tokens == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t nt = a.n_tokens;
  const uint64_t q_ext = f32_extent(nt, a.q_token_stride, a.n_head * a.head_dim_k);
  const uint64_t o_ext = f32_extent(nt, a.out_token_stride, a.n_head * a.head_dim_v);
  REF_TRY(check_device(a.q, q_ext, call, "q"));
  REF_TRY(check_device(a.out, o_ext, call, "out"));
  REF_TRY(check_device(a.seq, static_cast<uint64_t>(nt) * sizeof(int32_t), call, "seq"));
  REF_TRY(check_device(a.n_pos, static_cast<uint64_t>(nt) * sizeof(int32_t), call, "n_pos"));

  const bool f16 = a.kv_type == TensorType::F16;
  const uint64_t el = f16 ? 2 : 4;
  auto load = [f16](const void* base, int64_t i) -> double {
    if (f16) return kernels::fp16_to_fp32(static_cast<const uint16_t*>(base)[i]);
    return static_cast<const float*>(base)[i];
  };
  auto to_f16 = [](double v) {
    return static_cast<double>(kernels::fp16_to_fp32(kernels::fp32_to_fp16(static_cast<float>(v))));
  };
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t np = a.n_pos[t], s = a.seq[t];
    if (np < 1 || np > kernels::gpu::kMaxAttentionContext) {
      return fail(call, "n_pos[" + std::to_string(t) + "] = " + std::to_string(np) +
                            " outside 1.." + std::to_string(kernels::gpu::kMaxAttentionContext));
    }
    if (s < 0) return fail(call, "negative seq[" + std::to_string(t) + "]");
    const uint64_t k_ext = static_cast<uint64_t>(s * a.k_seq_stride + (np - 1) * a.k_row_stride +
                                                 a.n_head_kv * a.head_dim_k) *
                           el;
    const uint64_t v_ext = static_cast<uint64_t>(s * a.v_seq_stride + (np - 1) * a.v_row_stride +
                                                 a.n_head_kv * a.head_dim_v) *
                           el;
    REF_TRY(check_device(a.k, k_ext, call, "k"));
    REF_TRY(check_device(a.v, v_ext, call, "v"));
  }

  const int64_t group = a.n_head / a.n_head_kv;
  std::vector<float> result(static_cast<size_t>(nt * a.n_head * a.head_dim_v));
  std::vector<double> q(static_cast<size_t>(a.head_dim_k)), p,
      acc(static_cast<size_t>(a.head_dim_v));
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t np = a.n_pos[t], s = a.seq[t];
    p.assign(static_cast<size_t>(np), 0.0);
    for (int64_t h = 0; h < a.n_head; ++h) {
      const int64_t kh = h / group;
      const float* qh = a.q + t * a.q_token_stride + h * a.head_dim_k;
      // With an F16 cache the query meets the keys as F16 (ggml's vec_dot_type).
      for (int64_t d = 0; d < a.head_dim_k; ++d) q[d] = f16 ? to_f16(qh[d]) : qh[d];
      double max_score = -INFINITY;
      for (int64_t j = 0; j < np; ++j) {
        const int64_t k0 = s * a.k_seq_stride + j * a.k_row_stride + kh * a.head_dim_k;
        double dot = 0;
        for (int64_t d = 0; d < a.head_dim_k; ++d) dot += q[d] * load(a.k, k0 + d);
        p[j] = dot * static_cast<double>(a.scale);
        max_score = std::max(max_score, p[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < np; ++j) {
        p[j] = std::exp(p[j] - max_score);
        sum += p[j];
      }
      // ...and the normalised probabilities meet the values as F16.
      for (int64_t j = 0; j < np; ++j) p[j] = f16 ? to_f16(p[j] / sum) : p[j] / sum;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < np; ++j) {
        const int64_t v0 = s * a.v_seq_stride + j * a.v_row_stride + kh * a.head_dim_v;
        for (int64_t d = 0; d < a.head_dim_v; ++d) acc[d] += p[j] * load(a.v, v0 + d);
      }
      float* o = result.data() + (t * a.n_head + h) * a.head_dim_v;
      for (int64_t d = 0; d < a.head_dim_v; ++d) o[d] = static_cast<float>(acc[d]);
    }
  }
  for (int64_t t = 0; t < nt; ++t) {
    std::memcpy(a.out + t * a.out_token_stride, result.data() + t * a.n_head * a.head_dim_v,
                static_cast<size_t>(a.n_head * a.head_dim_v) * sizeof(float));
  }
  return {};
}

}  // namespace

std::shared_ptr<kernels::gpu::Device> make_reference_device(uint64_t capacity_bytes) {
  return std::make_shared<ReferenceDevice>(capacity_bytes);
}

}  // namespace emoe::gpucheck
