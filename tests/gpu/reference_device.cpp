// The host reference device's memory, transfers, streams and events, and the pointer checks
// its kernels share (reference_device_impl.h); the kernels are in reference_device_kernels.cpp.
#include "tests/gpu/reference_device.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "tests/gpu/reference_device_impl.h"

namespace emoe::gpucheck {
namespace refdev {

ReferenceDevice::~ReferenceDevice() {
  std::lock_guard<std::mutex> lock(mu_);
  run_copies_until(UINT64_MAX);
  for (auto& [base, size] : allocs_) std::free(reinterpret_cast<void*>(base));
  for (void* p : pinned_) std::free(p);
  for (RefEvent* e : events_) delete e;
}

// --- memory
GpuStatus ReferenceDevice::malloc_device(uint64_t bytes, void** out) {
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

void ReferenceDevice::free_device(void* p) {
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

GpuStatus ReferenceDevice::malloc_pinned(uint64_t bytes, void** out) {
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

void ReferenceDevice::free_pinned(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  run_copies_until(UINT64_MAX);  // cudaFreeHost synchronises too
  if (pinned_.erase(p) == 0) {
    std::fprintf(stderr, "reference device: free_pinned of unknown pointer %p\n", p);
    return;
  }
  std::free(p);
}

uint64_t ReferenceDevice::allocated_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return allocated_;
}

GpuStatus ReferenceDevice::mem_info(uint64_t* free_bytes, uint64_t* total_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_bytes) *free_bytes = capacity_ - allocated_;
  if (total_bytes) *total_bytes = capacity_;
  return {};
}

// --- transfers
GpuStatus ReferenceDevice::copy_async(void* dst, const void* src, uint64_t bytes, StreamId s) {
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

GpuStatus ReferenceDevice::memset_async(void* dst, int value, uint64_t bytes, StreamId s) {
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

GpuStatus ReferenceDevice::upload(void* dst, const void* src, uint64_t bytes) {
  if (bytes == 0) return {};
  if (!src) return fail("cudaMemcpy (upload)", "null host pointer");
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_device(dst, bytes, "cudaMemcpy (upload)", "dst"));
  std::memmove(dst, src, bytes);
  return {};
}

GpuStatus ReferenceDevice::download(void* dst, const void* src, uint64_t bytes) {
  if (bytes == 0) return {};
  if (!dst) return fail("cudaMemcpy (download)", "null host pointer");
  std::lock_guard<std::mutex> lock(mu_);
  REF_TRY(check_device(src, bytes, "cudaMemcpy (download)", "src"));
  std::memmove(dst, src, bytes);
  return {};
}

// --- events and streams
GpuStatus ReferenceDevice::create_event(Event* out) {
  if (!out) return fail("cudaEventCreate", "null output pointer");
  std::lock_guard<std::mutex> lock(mu_);
  auto* e = new RefEvent;
  events_.insert(e);
  *out = reinterpret_cast<Event>(e);
  return {};
}

void ReferenceDevice::destroy_event(Event e) {
  if (!e) return;
  std::lock_guard<std::mutex> lock(mu_);
  RefEvent* r = as_ref(e);
  if (events_.erase(r) == 0) return;
  for (CopyOp& op : queue_) {
    if (op.event == r) op.event = nullptr;
  }
  delete r;
}

GpuStatus ReferenceDevice::record(Event e, StreamId s) {
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

GpuStatus ReferenceDevice::wait(StreamId s, Event e) {
  std::lock_guard<std::mutex> lock(mu_);
  RefEvent* r = lookup(e);
  if (!r) return fail("cudaStreamWaitEvent", "invalid resource handle (unknown event)");
  // The copy stream is in order and compute work is already done: only a compute-stream
  // wait on a copy-stream record has something to run.
  if (s == StreamId::Compute && r->recorded && !r->done) run_copies_until(r->copy_seq);
  return {};
}

GpuStatus ReferenceDevice::sync_event(Event e) {
  std::lock_guard<std::mutex> lock(mu_);
  RefEvent* r = lookup(e);
  if (!r) return fail("cudaEventSynchronize", "invalid resource handle (unknown event)");
  if (r->recorded && !r->done) run_copies_until(r->copy_seq);
  return {};
}

GpuStatus ReferenceDevice::sync_stream(StreamId s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (s == StreamId::Copy) run_copies_until(UINT64_MAX);
  return {};
}

GpuStatus ReferenceDevice::elapsed_ms(Event start, Event end, float* ms) {
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

RefEvent* ReferenceDevice::lookup(Event e) const {  // mu_ held
  RefEvent* r = as_ref(e);
  return events_.count(r) ? r : nullptr;
}

// mu_ held. Runs queued copy-stream work in order up to and including sequence number `seq`.
void ReferenceDevice::run_copies_until(uint64_t seq) {
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
uintptr_t ReferenceDevice::containing(const void* p, uint64_t bytes) const {
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = allocs_.upper_bound(a);
  if (it == allocs_.begin()) return 0;
  --it;
  if (a - it->first < it->second && bytes <= it->second - (a - it->first)) return it->first;
  return 0;
}

// A kernel argument must be device memory of this device; bytes 0 needs nothing.
GpuStatus ReferenceDevice::check_device(const void* p, uint64_t bytes, const char* call,
                                        const char* arg) const {
  if (bytes == 0 || containing(p, bytes) != 0) return {};
  char where[64];
  std::snprintf(where, sizeof where, "%p", p);
  return fail(call, std::string(arg) + " (" + where + ", " + std::to_string(bytes) +
                        " bytes) is not inside a device allocation");
}

// A copy end may be host memory, but one that starts inside a device allocation must end
// inside it too.
GpuStatus ReferenceDevice::check_any(const void* p, uint64_t bytes, const char* call,
                                     const char* arg) const {
  if (containing(p, 1) == 0 || containing(p, bytes) != 0) return {};
  return fail(call, std::string(arg) + " runs past the end of its device allocation (" +
                        std::to_string(bytes) + " bytes)");
}

}  // namespace refdev

std::shared_ptr<kernels::gpu::Device> make_reference_device(uint64_t capacity_bytes) {
  return std::make_shared<refdev::ReferenceDevice>(capacity_bytes);
}

}  // namespace emoe::gpucheck
