// GPU checks of the expert cache's device slots (core/experts/device_slot_arena.h). Every
// acquired expert's bytes are downloaded from the device (after make_layer_ready and a compute
// stream sync) and compared with the mapped model file's bytes (ExpertStore::host), never with
// the cache's own copies; residency is compared with a RAM-slot cache driven identically.
//
// On the reference device the copy stream is deferred (reference_device.h): a copy runs only
// once an event recorded after it is waited on, so a missing make_layer_ready or a staging
// buffer reused before its copy ran shows up as wrong bytes. On a real GPU the compute stream
// is also kept busy before a slot is read, so a load that does not wait for the slot's readers
// overwrites it first.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/experts/device_slot_arena.h"
#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "tests/gpu/check_support.h"
#include "tests/gpu/paging_check_support.h"
#include "tests/gpu/reference_device.h"

namespace emoe::gpucheck {
namespace {

namespace gpu = kernels::gpu;
using experts::CacheStats;
using experts::EvictionPolicy;
using experts::ExpertCache;
using experts::ExpertCacheOptions;
using experts::ExpertHandle;
using experts::ExpertMatrices;
using experts::ExpertStore;
using kernels::MatrixView;
using kernels::TensorType;

// On-demand loads (acquire with load_if_missing) under LRU churn: 7 slots for 24 experts.
void on_demand(const CheckContext& ctx, CheckResult& r, const ExpertStore& store, TensorType t) {
  auto c = make_cache(store, borrow(ctx.device), 7, EvictionPolicy::Lru, false);
  if (!r.expect(c.ok(), "create: " + c.status().message())) return;
  Rng rng{42};
  for (int i = 0; i < 60; ++i) {
    const int32_t l = rng.below(kLayers), e = rng.below(kExperts);
    auto h = (*c)->acquire(l, e, true);
    if (!r.expect(h.ok() && *h, "acquire " + where(l, e) + ": " + h.status().message())) return;
    if (!expert_on_device(ctx.device, r, **c, *h, l, e, type_label(t) + " on demand")) return;
  }
  r.expect((*c)->stats().evictions > 0, "the trace evicted nothing; slots were not reused");
}

// Prefetch on the copy thread: all layers queued at once, then per layer a small set with
// evictions between layers; every prefetched expert is a hit with the file's bytes.
void prefetched(const CheckContext& ctx, CheckResult& r, const ExpertStore& store, TensorType t) {
  const std::string label = type_label(t) + " prefetch";
  {
    auto c = make_cache(store, borrow(ctx.device), kLayers * kExperts, EvictionPolicy::Lru, true);
    if (!r.expect(c.ok(), "create: " + c.status().message())) return;
    const std::vector<int32_t> order = {5, 2, 7, 0, 1, 6, 3, 4};
    for (int32_t l = 0; l < kLayers; ++l) (*c)->prefetch(l, order);
    for (int32_t l = kLayers - 1; l >= 0; --l) {
      (*c)->wait_layer(l);
      for (int32_t e = 0; e < kExperts; ++e) {
        auto h = (*c)->acquire(l, e, false);
        if (!r.expect(h.ok() && *h, label + ": " + where(l, e) + " is not resident")) return;
        if (!expert_on_device(ctx.device, r, **c, *h, l, e, label)) return;
      }
    }
  }
  auto c = make_cache(store, borrow(ctx.device), 6, EvictionPolicy::Lru, true);
  if (!r.expect(c.ok(), "create: " + c.status().message())) return;
  Rng rng{7};
  for (int round = 0; round < 12; ++round) {
    const int32_t l = round % kLayers;
    std::vector<int32_t> want;
    while (want.size() < 3) {
      const int32_t e = rng.below(kExperts);
      if (std::find(want.begin(), want.end(), e) == want.end()) want.push_back(e);
    }
    (*c)->prefetch(l, want);
    (*c)->wait_layer(l);
    for (int32_t e : want) {
      auto h = (*c)->acquire(l, e, false);
      if (!r.expect(h.ok() && *h, label + " round " + std::to_string(round) + ": " + where(l, e) +
                                      " is not resident after wait_layer")) {
        return;
      }
      if (!expert_on_device(ctx.device, r, **c, *h, l, e, label)) return;
    }
  }
  r.expect((*c)->stats().evictions > 0, "the rounds evicted nothing; slots were not reused");
}

// fill() with room for 2/3 of the experts: every resident expert has the file's bytes.
void filled(const CheckContext& ctx, CheckResult& r, const ExpertStore& store, TensorType t) {
  auto c = make_cache(store, borrow(ctx.device), 16, EvictionPolicy::Lru, true);
  if (!r.expect(c.ok(), "create: " + c.status().message())) return;
  (*c)->fill();
  int resident = 0;
  for (int32_t l = 0; l < kLayers; ++l) {
    for (int32_t e : (*c)->resident_experts(l)) {
      ++resident;
      auto h = (*c)->acquire(l, e, false);
      if (!r.expect(h.ok() && *h, "fill: " + where(l, e) + " vanished")) return;
      if (!expert_on_device(ctx.device, r, **c, *h, l, e, type_label(t) + " fill")) return;
    }
  }
  r.expect(resident == 16, "fill left " + std::to_string(resident) + " experts resident, not 16");
}

// The copy thread (prefetching layers 1 and 2) and the calling thread (loading layer 0 on
// demand) copy at once through the shared staging ring.
void concurrent(const CheckContext& ctx, CheckResult& r, const ExpertStore& store, TensorType t) {
  auto c = make_cache(store, borrow(ctx.device), 12, EvictionPolicy::Lru, true);
  if (!r.expect(c.ok(), "create: " + c.status().message())) return;
  const std::string label = type_label(t) + " concurrent";
  Rng rng{99};
  for (int round = 0; round < 6; ++round) {
    const int32_t pl = 1 + round % 2;
    std::vector<int32_t> ahead = {rng.below(kExperts), rng.below(kExperts), rng.below(kExperts)};
    (*c)->prefetch(pl, ahead);
    for (int i = 0; i < 4; ++i) {
      const int32_t e = rng.below(kExperts);
      auto h = (*c)->acquire(0, e, true);
      if (!r.expect(h.ok() && *h,
                    label + ": acquire " + where(0, e) + ": " + h.status().message())) {
        return;
      }
      if (!expert_on_device(ctx.device, r, **c, *h, 0, e, label)) return;
    }
    (*c)->wait_layer(pl);
    for (int32_t e : ahead) {
      auto h = (*c)->acquire(pl, e, true);  // may have been evicted by layer 0's loads
      if (!r.expect(h.ok() && *h,
                    label + ": acquire " + where(pl, e) + ": " + h.status().message())) {
        return;
      }
      if (!expert_on_device(ctx.device, r, **c, *h, pl, e, label)) return;
    }
  }
}

// The device's free memory (mem_info) drops by at least an arena's slots. The arena is large
// (64 MiB) because the driver packs small allocations into pages it already holds.
void arena_in_mem_info(gpu::Device& d, CheckResult& r, const ExpertStore& store) {
  uint64_t free_before = 0, free_after = 0, total = 0;
  if (!r.expect(d.mem_info(&free_before, &total).ok(), "mem_info")) return;
  const uint64_t before = d.allocated_bytes();
  auto arena = experts::DeviceSlotArena::create(store, borrow(d), 16, uint64_t{4} << 20);
  if (!r.expect(arena.ok(), "a 64 MiB arena: " + arena.status().message())) return;
  const uint64_t bytes = (*arena)->slot_bytes_total();
  if (!r.expect(d.mem_info(&free_after, &total).ok(), "mem_info")) return;
  r.expect(d.allocated_bytes() - before == bytes, "a 64 MiB arena: the device allocation grew by " +
                                                      std::to_string(d.allocated_bytes() - before) +
                                                      " bytes (staging is host memory)");
  r.expect(free_before >= free_after && free_before - free_after >= bytes,
           "a 64 MiB arena: mem_info's free memory dropped by " +
               std::to_string(static_cast<int64_t>(free_before - free_after)) + " bytes");
  r.note("mem_info: free memory dropped by " + std::to_string(free_before - free_after) +
         " bytes for " + std::to_string(bytes) + " bytes of slots");
}

// Slots live in one device allocation of n_slots x slot_bytes <= budget (staging is pinned
// host memory and not counted), unchanged by many evictions and freed with the cache.
void budget(const CheckContext& ctx, CheckResult& r, const ExpertStore& store, TensorType t) {
  gpu::Device& d = ctx.device;
  const std::string label = type_label(t) + " budget";
  if (t == TensorType::F32) arena_in_mem_info(d, r, store);
  for (uint64_t slots : {uint64_t{6}, uint64_t{9}, uint64_t{17}}) {
    const uint64_t before = d.allocated_bytes();
    auto made = make_cache(store, borrow(d), slots, EvictionPolicy::Lfu, true);
    if (!r.expect(made.ok(), "create: " + made.status().message())) return;
    std::unique_ptr<ExpertCache> owned = std::move(made).value();
    ExpertCache& cache = *owned;
    const uint64_t arena = static_cast<uint64_t>(cache.n_slots()) * cache.slot_bytes();
    const std::string at = label + " of " + std::to_string(cache.budget_bytes()) + " bytes";
    r.expect(cache.device() == &d, at + ": the cache does not report the device");
    r.expect(
        cache.n_slots() == static_cast<int32_t>(slots),
        at + ": " + std::to_string(cache.n_slots()) + " slots, expected " + std::to_string(slots));
    r.expect(d.allocated_bytes() - before == arena && arena <= cache.budget_bytes(),
             at + ": the device allocation grew by " +
                 std::to_string(d.allocated_bytes() - before) + " bytes for " +
                 std::to_string(arena) + " bytes of slots");
    Rng rng{slots};
    for (int i = 0; i < 200; ++i) {
      const int32_t l = rng.below(kLayers);
      if (rng.below(3) == 0) {
        const std::vector<int32_t> ahead = {rng.below(kExperts), rng.below(kExperts)};
        cache.prefetch(l, ahead);
      } else {
        auto h = cache.acquire(l, rng.below(kExperts), true);
        if (!r.expect(h.ok(), at + ": acquire: " + h.status().message())) return;
      }
      if (d.allocated_bytes() - before != arena) {
        r.expect(false, at + ": the device allocation changed to " +
                            std::to_string(d.allocated_bytes() - before) + " bytes after " +
                            std::to_string(i + 1) + " operations");
        return;
      }
    }
    for (int32_t l = 0; l < kLayers; ++l) cache.wait_layer(l);
    const CacheStats st = cache.stats();
    r.expect(st.peak_bytes <= cache.budget_bytes() && st.resident_bytes <= cache.budget_bytes(),
             at + ": peak " + std::to_string(st.peak_bytes) + " bytes over the budget");
    r.expect(st.evictions > 0, at + ": nothing was evicted");
    r.expect(st.failed_loads == 0, at + ": " + std::to_string(st.failed_loads) + " loads failed");
    owned.reset();
    r.expect(d.allocated_bytes() == before, at + ": the slots were not freed with the cache");
  }
}

// The GPU cache and a RAM cache driven by the same operations (synchronous prefetch, so the
// order is deterministic) agree on every outcome and resident set, for each policy.
void policies(const CheckContext& ctx, CheckResult& r, const ExpertStore& store, TensorType t) {
  for (EvictionPolicy policy : {EvictionPolicy::Lru, EvictionPolicy::Lfu, EvictionPolicy::Pinned}) {
    const std::string label = type_label(t) + " " + experts::policy_name(policy);
    auto host = make_cache(store, nullptr, 8, policy, false);
    auto dev = make_cache(store, borrow(ctx.device), 8, policy, false);
    if (!r.expect(host.ok() && dev.ok(), label + ": create failed")) return;
    std::vector<std::pair<ExpertHandle, ExpertHandle>> held;
    Rng rng{static_cast<uint64_t>(policy) + 3};
    for (int i = 0; i < 300; ++i) {
      const std::string step = label + " step " + std::to_string(i);
      const int32_t l = rng.below(kLayers), e = rng.below(kExperts);
      const int32_t op = rng.below(10);
      if (op < 6) {
        const bool load = op < 4;
        auto a = (*host)->acquire(l, e, load);
        auto b = (*dev)->acquire(l, e, load);
        if (!r.expect(a.ok() == b.ok() && a.status().code() == b.status().code() &&
                          (!a.ok() || bool(*a) == bool(*b)),
                      step + ": acquire " + where(l, e) + " differs: RAM '" + a.status().message() +
                          "', GPU '" + b.status().message() + "'")) {
          return;
        }
        if (b.ok() && *b) {
          if (!expert_on_device(ctx.device, r, **dev, *b, l, e, step)) return;
          if (rng.below(3) == 0 && held.size() < 3) held.emplace_back(std::move(*a), std::move(*b));
        }
      } else if (op < 8) {
        const std::vector<int32_t> ahead = {e, (e + 3) % kExperts};
        (*host)->prefetch(l, ahead);
        (*dev)->prefetch(l, ahead);
      } else if (op < 9 && policy == EvictionPolicy::Pinned) {
        const std::vector<int32_t> plan = {e, (e + 1) % kExperts};
        const Status a = (*host)->set_plan(l, plan);
        const Status b = (*dev)->set_plan(l, plan);
        if (!r.expect(a.code() == b.code(), step + ": set_plan differs")) return;
      } else if (!held.empty()) {
        held.erase(held.begin() + rng.below(static_cast<int32_t>(held.size())));
      }
      for (int32_t k = 0; k < kLayers; ++k) {
        if (!r.expect((*host)->resident_experts(k) == (*dev)->resident_experts(k),
                      step + ": layer " + std::to_string(k) + "'s resident sets differ")) {
          return;
        }
      }
    }
    const CacheStats a = (*host)->stats(), b = (*dev)->stats();
    r.expect(a.hits == b.hits && a.misses == b.misses && a.loads == b.loads &&
                 a.evictions == b.evictions && a.bytes_loaded == b.bytes_loaded,
             label + ": the counters differ (hits " + std::to_string(a.hits) + "/" +
                 std::to_string(b.hits) + ", evictions " + std::to_string(a.evictions) + "/" +
                 std::to_string(b.evictions) + ")");
  }
}

// A slot is overwritten only after the kernels reading it have run. Expert A's slot is the only
// evictable one; the compute stream is kept busy (real GPU), then copies A's matrices out of
// the slot; A's handle is dropped and B is loaded into the same slot (poisoned first when
// poison is on). The copies must still hold A's bytes.
void slot_reuse(const CheckContext& ctx, CheckResult& r, const ExpertStore& store, TensorType t) {
  gpu::Device& d = ctx.device;
  for (bool poison : {false, true}) {
    const std::string label = type_label(t) + (poison ? " reuse, poisoned" : " reuse");
    auto c = make_cache(store, borrow(d), 6, EvictionPolicy::Lru, false, poison);
    if (!r.expect(c.ok(), "create: " + c.status().message())) return;
    ExpertCache& cache = **c;
    auto a = cache.acquire(0, 0, true);
    if (!r.expect(a.ok() && *a, label + ": acquire A: " + a.status().message())) return;
    if (!expert_on_device(d, r, cache, *a, 0, 0, label + ", A")) return;
    std::vector<ExpertHandle> others;
    const std::pair<int32_t, int32_t> held[] = {{0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}};
    for (auto [l, e] : held) {
      auto h = cache.acquire(l, e, true);
      if (!r.expect(h.ok() && *h, label + ": acquire " + where(l, e))) return;
      others.push_back(std::move(*h));
    }
    DevBuf busy(d);
    constexpr uint64_t kBusyBytes = uint64_t{256} << 20;
    if (!ctx.is_reference) {
      if (!r.expect(busy.alloc(kBusyBytes).ok(), label + ": malloc_device for the delay")) return;
      for (int i = 0; i < 32; ++i) {  // about 8 GiB of writes: milliseconds of compute
        if (!r.expect(d.memset_async(busy.get(), i, kBusyBytes, gpu::StreamId::Compute).ok(),
                      label + ": memset_async on the compute stream")) {
          return;
        }
      }
    }
    const ExpertMatrices host = store.host(0, 0);
    const MatrixView* views[3] = {&a->matrices().gate, &a->matrices().up, &a->matrices().down};
    const MatrixView* want[3] = {&host.gate, &host.up, &host.down};
    DevBuf copies[3] = {DevBuf(d), DevBuf(d), DevBuf(d)};
    for (int i = 0; i < 3; ++i) {
      const uint64_t bytes = static_cast<uint64_t>(want[i]->rows) * want[i]->row_stride;
      if (!r.expect(
              copies[i].alloc(bytes).ok() &&
                  d.copy_async(copies[i].get(), views[i]->data, bytes, gpu::StreamId::Compute).ok(),
              label + ": reading A's slot on the compute stream")) {
        return;
      }
    }
    const void* slot = a->matrices().gate.data;
    *a = ExpertHandle{};  // the reads above were queued before the release
    auto b = cache.acquire(2, 5, true);
    if (!r.expect(b.ok() && *b, label + ": acquire B: " + b.status().message())) return;
    r.expect(b->matrices().gate.data == slot, label + ": B did not reuse A's slot");
    const gpu::GpuStatus s = d.sync_stream(gpu::StreamId::Compute);
    if (!r.expect(s.ok(), label + ": sync_stream(Compute): " + s.message())) return;
    for (int i = 0; i < 3; ++i) {
      MatrixView copied = *want[i];
      copied.data = copies[i].get();
      if (!same_matrix(d, r, copied, *want[i], label + ": A read before B's load")) return;
    }
    if (!expert_on_device(d, r, cache, *b, 2, 5, label + ", B")) return;
  }
}

// Forwards to another device; copy_async on the copy stream fails while `failing` is set.
class FlakyDevice final : public gpu::Device {
 public:
  explicit FlakyDevice(gpu::Device& d) : d_(d) {}
  std::atomic<bool> failing{false};

  const gpu::DeviceInfo& info() const override { return d_.info(); }
  gpu::GpuStatus malloc_device(uint64_t b, void** o) override { return d_.malloc_device(b, o); }
  void free_device(void* p) override { d_.free_device(p); }
  gpu::GpuStatus malloc_pinned(uint64_t b, void** o) override { return d_.malloc_pinned(b, o); }
  void free_pinned(void* p) override { d_.free_pinned(p); }
  uint64_t allocated_bytes() const override { return d_.allocated_bytes(); }
  gpu::GpuStatus mem_info(uint64_t* f, uint64_t* t) override { return d_.mem_info(f, t); }
  gpu::GpuStatus copy_async(void* dst, const void* src, uint64_t b, gpu::StreamId s) override {
    if (failing && s == gpu::StreamId::Copy) {
      return gpu::GpuStatus::error("cudaMemcpyAsync: injected failure");
    }
    return d_.copy_async(dst, src, b, s);
  }
  gpu::GpuStatus memset_async(void* p, int v, uint64_t b, gpu::StreamId s) override {
    return d_.memset_async(p, v, b, s);
  }
  gpu::GpuStatus upload(void* d, const void* s, uint64_t b) override { return d_.upload(d, s, b); }
  gpu::GpuStatus download(void* d, const void* s, uint64_t b) override {
    return d_.download(d, s, b);
  }
  gpu::GpuStatus create_event(gpu::Event* o) override { return d_.create_event(o); }
  void destroy_event(gpu::Event e) override { d_.destroy_event(e); }
  gpu::GpuStatus record(gpu::Event e, gpu::StreamId s) override { return d_.record(e, s); }
  gpu::GpuStatus wait(gpu::StreamId s, gpu::Event e) override { return d_.wait(s, e); }
  gpu::GpuStatus sync_event(gpu::Event e) override { return d_.sync_event(e); }
  gpu::GpuStatus sync_stream(gpu::StreamId s) override { return d_.sync_stream(s); }
  gpu::GpuStatus elapsed_ms(gpu::Event a, gpu::Event b, float* ms) override {
    return d_.elapsed_ms(a, b, ms);
  }
  // The cache launches no kernels.
  gpu::GpuStatus matmul(const MatrixView&, const float*, int64_t, int64_t, float*,
                        int64_t) override {
    return unused();
  }
  gpu::GpuStatus matmul_heads(const MatrixView&, int64_t, int64_t, const float*, int64_t, int64_t,
                              int64_t, float*, int64_t, int64_t) override {
    return unused();
  }
  gpu::GpuStatus dequantize(const MatrixView&, float*) override { return unused(); }
  gpu::GpuStatus rms_norm(const float*, int64_t, const float*, float, int64_t, int64_t, float*,
                          int64_t) override {
    return unused();
  }
  gpu::GpuStatus rope(float*, int64_t, int64_t, int64_t, int64_t, int64_t, const int32_t*, float,
                      float, kernels::RopeMode, const kernels::RopeYarn&) override {
    return unused();
  }
  gpu::GpuStatus add(const float*, const float*, int64_t, float*) override { return unused(); }
  gpu::GpuStatus add_bias(float*, const float*, int64_t, int64_t, int64_t) override {
    return unused();
  }
  gpu::GpuStatus silu_mul(const float*, const float*, int64_t, float*) override { return unused(); }
  gpu::GpuStatus gather_rows(const float*, int64_t, const int32_t*, int64_t, float*) override {
    return unused();
  }
  gpu::GpuStatus scatter_scaled_rows(const float*, int64_t, const int32_t*, const float*, int64_t,
                                     float*) override {
    return unused();
  }
  gpu::GpuStatus sum_slots(const float*, int64_t, int64_t, int64_t, float*) override {
    return unused();
  }
  gpu::GpuStatus add_gated(float*, const float*, const float*, int64_t, int64_t) override {
    return unused();
  }
  gpu::GpuStatus store_rows(const float*, int64_t, int64_t, int64_t, void*, TensorType,
                            const int64_t*) override {
    return unused();
  }
  gpu::GpuStatus attention(const gpu::AttentionArgs&) override { return unused(); }

 private:
  static gpu::GpuStatus unused() { return gpu::GpuStatus::error("FlakyDevice: not forwarded"); }
  gpu::Device& d_;
};

// A failed copy leaves the cache consistent: acquire returns the error naming the CUDA call,
// the expert stays absent and its slot free; a failed prefetch is dropped and counted; once
// the device works again the same expert loads with the file's bytes.
void copy_failure(const CheckContext& ctx, CheckResult& r, const ExpertStore& store, TensorType t) {
  const std::string label = type_label(t) + " copy failure";
  auto flaky = std::make_shared<FlakyDevice>(ctx.device);
  auto c = make_cache(store, flaky, 6, EvictionPolicy::Lru, true);
  if (!r.expect(c.ok(), "create: " + c.status().message())) return;
  ExpertCache& cache = **c;
  flaky->failing = true;
  auto h = cache.acquire(1, 3, true);
  r.expect(!h.ok() && h.status().message().find("cudaMemcpyAsync") != std::string::npos &&
               h.status().message().find("expert cache") != std::string::npos,
           label + ": acquire returned '" + h.status().message() + "'");
  cache.prefetch(1, std::vector<int32_t>{4, 5});
  cache.wait_layer(1);
  r.expect(cache.resident_experts(1).empty(), label + ": a failed load left an expert resident");
  CacheStats st = cache.stats();
  r.expect(st.failed_loads == 3 && st.resident_bytes == 0 && st.loads == 0,
           label + ": failed_loads " + std::to_string(st.failed_loads) + ", resident bytes " +
               std::to_string(st.resident_bytes) + " after three failed loads");
  flaky->failing = false;
  for (int32_t e : {3, 4, 5, 6, 7, 0, 1}) {  // 7 loads into 6 slots: every slot is usable
    auto ok = cache.acquire(1, e, true);
    if (!r.expect(ok.ok() && *ok, label + ": acquire after recovery: " + ok.status().message())) {
      return;
    }
    if (!expert_on_device(ctx.device, r, cache, *ok, 1, e, label)) return;
  }
  st = cache.stats();
  r.expect(st.loads == 7 && st.evictions == 1, label + ": " + std::to_string(st.loads) +
                                                   " loads and " + std::to_string(st.evictions) +
                                                   " evictions after recovery, expected 7 and 1");
}

// Slots that do not fit come back as OutOfMemory naming the bytes needed and free, leaving
// nothing allocated: an arena larger than the device's free memory, and a cache whose budget
// exceeds a small device.
void out_of_memory(const CheckContext& ctx, CheckResult& r) {
  gpu::Device& d = ctx.device;
  auto m = open_model(ctx, TensorType::F32);
  if (!r.expect(m.ok(), "building the model: " + m.status().message())) return;
  const ExpertStore& store = *m->store;
  uint64_t free_bytes = 0, total = 0;
  if (!r.expect(d.mem_info(&free_bytes, &total).ok(), "mem_info")) return;
  const uint64_t before = d.allocated_bytes();
  const uint64_t slot = (free_bytes / 2 + (uint64_t{1} << 20)) / 64 * 64;
  auto arena = experts::DeviceSlotArena::create(store, borrow(d), 3, slot);
  const std::string need = std::to_string(3 * slot);
  r.expect(!arena.ok() && arena.status().code() == StatusCode::OutOfMemory &&
               arena.status().message().find(need) != std::string::npos &&
               arena.status().message().find("free") != std::string::npos,
           "an arena of " + need + " bytes with " + std::to_string(free_bytes) + " free: '" +
               arena.status().message() + "'");
  r.expect(d.allocated_bytes() == before, "a refused arena left device memory allocated");

  const uint64_t capacity = uint64_t{1} << 20;  // less than the model's 24 experts
  std::shared_ptr<gpu::Device> small = make_reference_device(capacity);
  ExpertCacheOptions o;
  o.budget_bytes = uint64_t{1} << 30;
  o.device = small;
  auto c = ExpertCache::create(store, o);
  r.expect(!c.ok() && c.status().code() == StatusCode::OutOfMemory &&
               c.status().message().find("expert cache") != std::string::npos,
           "a budget beyond a 1 MiB device: '" + c.status().message() + "'");
  r.expect(small->allocated_bytes() == 0, "a refused cache left device memory allocated");
}

}  // namespace

std::vector<NamedCheck> paging_checks() {
  return {
      for_types("on_demand", on_demand),
      for_types("prefetch", prefetched),
      for_types("fill", filled),
      for_types("concurrent", concurrent),
      for_types("budget", budget),
      for_types("policies", policies),
      for_types("slot_reuse", slot_reuse),
      for_types("copy_failure", copy_failure),
      {"paging.out_of_memory", out_of_memory},
  };
}

}  // namespace emoe::gpucheck
