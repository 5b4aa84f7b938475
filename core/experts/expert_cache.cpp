// Locking: one mutex (Impl::mu) guards slots, the residency map, plans, the load queue and
// stats. Copies (SlotArena::copy_in) run outside it on a slot in state Loading, which no one
// may evict or read; the arena's poison and released are called under it.
// Observers are called outside mu (under a shared obs_mu only), so a slow observer never blocks the
// cache's bookkeeping; each event carries the resident bytes sampled under mu.
#include "core/experts/expert_cache.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>

#include "core/experts/device_slot_arena.h"
#include "core/experts/host_slot_arena.h"
#include "core/experts/slot_arena.h"

namespace emoe::experts {
namespace {

// Slot sizes are multiples of this, so every slot of an aligned arena starts aligned.
constexpr uint64_t kSlotAlign = HostSlotArena::kSlotAlign;

enum class SlotState : uint8_t { Free, Loading, Resident };

struct Slot {
  SlotState state = SlotState::Free;
  int32_t layer = -1;
  int32_t expert = -1;
  int32_t refs = 0;       // live ExpertHandles
  uint64_t last_use = 0;  // logical clock of the last acquire (or of the load)
};

// Events produced by one step, delivered after mu is released. One step makes at most
// Evicted + LoadStarted + LoadFinished + Hit/Miss.
struct EventBatch {
  ExpertEvent ev[4];
  int n = 0;
  void add(ExpertEventKind kind, int32_t layer, int32_t expert, uint64_t bytes, double micros,
           uint64_t resident) {
    if (n < 4) ev[n++] = ExpertEvent{kind, layer, expert, bytes, micros, resident};
  }
};

double micros_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

std::string mib(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

const char* policy_name(EvictionPolicy p) {
  switch (p) {
    case EvictionPolicy::Lru:
      return "lru";
    case EvictionPolicy::Lfu:
      return "lfu";
    case EvictionPolicy::Pinned:
      return "pinned";
  }
  return "unknown";
}

struct ExpertCache::Impl {
  const ExpertStore& store;
  ExpertCacheOptions opt;
  uint64_t slot_bytes = 0;
  int32_t n_slots = 0;
  std::unique_ptr<SlotArena> arena;

  mutable std::mutex mu;
  std::condition_variable load_cv;  // a load finished (slot state or per-layer counters changed)
  std::condition_variable work_cv;  // the copy thread has work or must stop
  std::vector<Slot> slots;
  std::vector<int32_t> free_slots;
  std::vector<std::vector<int32_t>> map;      // [layer][expert] -> slot, -1 when absent
  std::vector<std::vector<uint64_t>> uses;    // [layer][expert] acquires over the lifetime
  std::vector<std::vector<uint8_t>> planned;  // [layer][expert] set_plan's residents
  std::vector<uint64_t> queued, finished;     // [layer] loads queued / done on the copy thread
  std::deque<std::pair<int32_t, int32_t>> queue;
  uint64_t clock = 0;
  int32_t in_use = 0;  // slots Loading or Resident
  CacheStats st;
  bool stop = false;
  std::thread worker;

  // Shared while delivering (threads deliver concurrently), exclusive to add/remove, so
  // remove_observer returns only when no delivery to that observer is in flight.
  std::shared_mutex obs_mu;
  std::vector<ExpertEventObserver*> observers;
  std::atomic<bool> has_observers{false};

  Impl(const ExpertStore& s, ExpertCacheOptions o) : store(s), opt(o) {}

  uint64_t resident_bytes() const { return static_cast<uint64_t>(in_use) * slot_bytes; }
  bool valid(int32_t layer, int32_t expert) const {
    return layer >= 0 && layer < store.n_layer() && expert >= 0 && expert < store.n_expert() &&
           store.layout(layer).total > 0;
  }

  void emit(const EventBatch& b) {
    if (b.n == 0 || !has_observers.load(std::memory_order_acquire)) return;
    std::shared_lock<std::shared_mutex> g(obs_mu);
    for (int i = 0; i < b.n; ++i) {
      for (ExpertEventObserver* o : observers) o->on_expert_event(b.ev[i]);
    }
  }

  // The slot to evict, or -1: Resident, unpinned and (Pinned policy) unplanned; LRU picks the
  // oldest last_use, LFU the fewest lifetime acquires, ties to the oldest last_use.
  int32_t choose_victim() const {
    int32_t best = -1;
    for (int32_t s = 0; s < n_slots; ++s) {
      const Slot& x = slots[static_cast<size_t>(s)];
      if (x.state != SlotState::Resident || x.refs > 0) continue;
      const size_t l = static_cast<size_t>(x.layer), e = static_cast<size_t>(x.expert);
      if (opt.policy == EvictionPolicy::Pinned && planned[l][e]) continue;
      if (best < 0) {
        best = s;
        continue;
      }
      const Slot& b = slots[static_cast<size_t>(best)];
      if (opt.policy == EvictionPolicy::Lfu) {
        const uint64_t ux = uses[l][e];
        const uint64_t ub = uses[static_cast<size_t>(b.layer)][static_cast<size_t>(b.expert)];
        if (ux < ub || (ux == ub && x.last_use < b.last_use)) best = s;
      } else if (x.last_use < b.last_use) {
        best = s;
      }
    }
    return best;
  }

  void evict(int32_t s, EventBatch& batch) {
    Slot& x = slots[static_cast<size_t>(s)];
    const int32_t layer = x.layer, expert = x.expert;
    map[static_cast<size_t>(layer)][static_cast<size_t>(expert)] = -1;
    x = Slot{};
    --in_use;
    ++st.evictions;
    if (opt.poison_freed_slots) arena->poison(s);
    free_slots.push_back(s);
    batch.add(ExpertEventKind::Evicted, layer, expert, slot_bytes, 0, resident_bytes());
  }

  // With lk held and (layer, expert) absent: reserves a slot (evicting when allow_evict),
  // copies outside the lock and returns with lk held and the slot Resident. Pre-copy events are
  // delivered during the copy; LoadFinished is appended to `after` for the caller. -1 when no
  // slot can be freed, or when the copy failed (*copy_error set; the slot is free again and
  // the expert absent, so waiters on it retry or give up).
  int32_t load_locked(std::unique_lock<std::mutex>& lk, int32_t layer, int32_t expert,
                      bool allow_evict, EventBatch& after, double* copy_micros,
                      Status* copy_error) {
    EventBatch before;
    if (free_slots.empty()) {
      if (!allow_evict) return -1;
      const int32_t v = choose_victim();
      if (v < 0) return -1;
      evict(v, before);
    }
    const int32_t s = free_slots.back();
    free_slots.pop_back();
    Slot& x = slots[static_cast<size_t>(s)];
    x.state = SlotState::Loading;
    x.layer = layer;
    x.expert = expert;
    x.refs = 0;
    x.last_use = ++clock;
    map[static_cast<size_t>(layer)][static_cast<size_t>(expert)] = s;
    ++in_use;
    st.peak_bytes = std::max(st.peak_bytes, resident_bytes());
    const uint64_t bytes = store.layout(layer).total;
    before.add(ExpertEventKind::LoadStarted, layer, expert, bytes, 0, resident_bytes());

    lk.unlock();
    emit(before);
    const auto t0 = std::chrono::steady_clock::now();
    Status copied = arena->copy_in(s, layer, expert);
    const double us = micros_since(t0);
    lk.lock();

    if (!copied) {
      map[static_cast<size_t>(layer)][static_cast<size_t>(expert)] = -1;
      slots[static_cast<size_t>(s)] = Slot{};
      --in_use;
      free_slots.push_back(s);
      ++st.failed_loads;
      load_cv.notify_all();
      if (copy_error) *copy_error = std::move(copied);
      return -1;
    }
    slots[static_cast<size_t>(s)].state = SlotState::Resident;
    ++st.loads;
    st.bytes_loaded += bytes;
    after.add(ExpertEventKind::LoadFinished, layer, expert, bytes, us, resident_bytes());
    load_cv.notify_all();
    if (copy_micros) *copy_micros = us;
    return s;
  }

  // A prefetch load (copy thread or inline): waits out a load already in flight, skips
  // resident experts, drops the load when no slot can be freed (an acquire loads it later).
  void prefetch_one(std::unique_lock<std::mutex>& lk, int32_t layer, int32_t expert) {
    for (;;) {
      const int32_t s = map[static_cast<size_t>(layer)][static_cast<size_t>(expert)];
      if (s >= 0 && slots[static_cast<size_t>(s)].state == SlotState::Loading) {
        load_cv.wait(lk);
        continue;
      }
      if (s >= 0) return;
      EventBatch after;
      // A failed copy is dropped (counted in failed_loads); an acquire retries it.
      load_locked(lk, layer, expert, true, after, nullptr, nullptr);
      lk.unlock();
      emit(after);
      lk.lock();
      return;
    }
  }

  void run_worker() {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      work_cv.wait(lk, [&] { return stop || !queue.empty(); });
      if (queue.empty()) return;  // stop requested and every pending load done
      const auto [layer, expert] = queue.front();
      queue.pop_front();
      prefetch_one(lk, layer, expert);
      ++finished[static_cast<size_t>(layer)];
      load_cv.notify_all();
    }
  }
};

ExpertHandle::ExpertHandle(ExpertHandle&& o) noexcept
    : cache_(std::exchange(o.cache_, nullptr)), slot_(std::exchange(o.slot_, -1)), m_(o.m_) {
  o.m_ = {};
}

ExpertHandle& ExpertHandle::operator=(ExpertHandle&& o) noexcept {
  if (this != &o) {
    if (cache_) cache_->release(slot_);
    cache_ = std::exchange(o.cache_, nullptr);
    slot_ = std::exchange(o.slot_, -1);
    m_ = std::exchange(o.m_, {});
  }
  return *this;
}

ExpertHandle::~ExpertHandle() {
  if (cache_) cache_->release(slot_);
}

ExpertCache::ExpertCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ExpertCache::~ExpertCache() {
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    impl_->stop = true;
  }
  impl_->work_cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
}

uint64_t ExpertCache::minimum_budget(const ExpertStore& store) {
  uint64_t slot = (store.max_expert_bytes() + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  uint64_t moe_layers = 0;
  for (int32_t l = 0; l < store.n_layer(); ++l) moe_layers += store.layout(l).total > 0 ? 1 : 0;
  return static_cast<uint64_t>(std::max(store.n_expert_used(), 0)) * slot * moe_layers;
}

Result<std::unique_ptr<ExpertCache>> ExpertCache::create(const ExpertStore& store,
                                                         ExpertCacheOptions options) {
  auto impl = std::make_unique<Impl>(store, options);
  impl->slot_bytes = (store.max_expert_bytes() + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  const uint64_t minimum = minimum_budget(store);
  if (options.budget_bytes < minimum) {
    return out_of_memory("expert budget of " + std::to_string(options.budget_bytes) +
                         " bytes is below the minimum of " + std::to_string(minimum) + " bytes (" +
                         mib(minimum) + "): " + std::to_string(store.n_expert_used()) +
                         " experts per MoE layer of " + std::to_string(impl->slot_bytes) +
                         " bytes each must fit");
  }
  uint64_t total_experts = 0;
  for (int32_t l = 0; l < store.n_layer(); ++l) {
    if (store.layout(l).total > 0) total_experts += static_cast<uint64_t>(store.n_expert());
  }
  uint64_t n_slots = impl->slot_bytes > 0 ? options.budget_bytes / impl->slot_bytes : 0;
  n_slots = std::min(n_slots, total_experts);
  if (n_slots > static_cast<uint64_t>(INT32_MAX)) {
    return invalid_argument("expert budget needs too many slots: " + std::to_string(n_slots));
  }
  impl->n_slots = static_cast<int32_t>(n_slots);
  // A budget beyond every expert is clamped: the arena never holds more than all of them.
  impl->opt.budget_bytes = std::min(options.budget_bytes, total_experts * impl->slot_bytes);
  if (options.device) {
    auto arena = DeviceSlotArena::create(store, options.device, impl->n_slots, impl->slot_bytes);
    if (!arena.ok()) return arena.status();
    impl->arena = std::move(arena).value();
  } else {
    auto arena = HostSlotArena::create(store, impl->n_slots, impl->slot_bytes);
    if (!arena.ok()) return arena.status();
    impl->arena = std::move(arena).value();
  }
  impl->slots.resize(static_cast<size_t>(n_slots));
  impl->free_slots.reserve(static_cast<size_t>(n_slots));
  for (int32_t s = impl->n_slots - 1; s >= 0; --s) impl->free_slots.push_back(s);
  const size_t n_layer = static_cast<size_t>(store.n_layer());
  const size_t n_expert = static_cast<size_t>(std::max(store.n_expert(), 0));
  impl->map.assign(n_layer, std::vector<int32_t>(n_expert, -1));
  impl->uses.assign(n_layer, std::vector<uint64_t>(n_expert, 0));
  impl->planned.assign(n_layer, std::vector<uint8_t>(n_expert, 0));
  impl->queued.assign(n_layer, 0);
  impl->finished.assign(n_layer, 0);
  Impl* raw = impl.get();
  if (options.async_loader && n_slots > 0) raw->worker = std::thread([raw] { raw->run_worker(); });
  return std::unique_ptr<ExpertCache>(new ExpertCache(std::move(impl)));
}

const ExpertStore& ExpertCache::store() const { return impl_->store; }
uint64_t ExpertCache::budget_bytes() const { return impl_->opt.budget_bytes; }
uint64_t ExpertCache::slot_bytes() const { return impl_->slot_bytes; }
int32_t ExpertCache::n_slots() const { return impl_->n_slots; }
kernels::gpu::Device* ExpertCache::device() const { return impl_->arena->device(); }

bool ExpertCache::resident(int32_t layer, int32_t expert) const {
  std::lock_guard<std::mutex> g(impl_->mu);
  if (!impl_->valid(layer, expert)) return false;
  const int32_t s = impl_->map[static_cast<size_t>(layer)][static_cast<size_t>(expert)];
  return s >= 0 && impl_->slots[static_cast<size_t>(s)].state == SlotState::Resident;
}

std::vector<int32_t> ExpertCache::resident_experts(int32_t layer) const {
  std::vector<int32_t> out;
  std::lock_guard<std::mutex> g(impl_->mu);
  if (layer < 0 || layer >= impl_->store.n_layer()) return out;
  const auto& row = impl_->map[static_cast<size_t>(layer)];
  for (size_t e = 0; e < row.size(); ++e) {
    if (row[e] >= 0 && impl_->slots[static_cast<size_t>(row[e])].state == SlotState::Resident) {
      out.push_back(static_cast<int32_t>(e));
    }
  }
  return out;
}

Result<ExpertHandle> ExpertCache::acquire(int32_t layer, int32_t expert, bool load_if_missing) {
  Impl& m = *impl_;
  if (!m.valid(layer, expert)) {
    return invalid_argument("acquire: no expert " + std::to_string(expert) + " in layer " +
                            std::to_string(layer));
  }
  const size_t l = static_cast<size_t>(layer), e = static_cast<size_t>(expert);
  EventBatch batch;
  std::unique_lock<std::mutex> lk(m.mu);
  const uint64_t tick = ++m.clock;
  ++m.uses[l][e];
  bool missed = false;
  double stall = 0;
  for (;;) {
    int32_t s = m.map[l][e];
    if (s >= 0 && m.slots[static_cast<size_t>(s)].state == SlotState::Loading) {
      if (!load_if_missing) break;  // a miss without waiting
      // Another thread is copying it: wait for that copy rather than loading it twice.
      const auto t0 = std::chrono::steady_clock::now();
      m.load_cv.wait(lk, [&] {
        return m.map[l][e] != s || m.slots[static_cast<size_t>(s)].state != SlotState::Loading;
      });
      stall += micros_since(t0);
      missed = true;
      continue;
    }
    if (s < 0 && load_if_missing) {
      double us = 0;
      Status copy_error;
      s = m.load_locked(lk, layer, expert, true, batch, &us, &copy_error);
      if (!copy_error) {
        ++m.st.misses;
        m.st.stall_micros += stall + us;
        batch.add(ExpertEventKind::Miss, layer, expert, 0, stall + us, m.resident_bytes());
        lk.unlock();
        m.emit(batch);
        return copy_error;
      }
      if (s < 0) {
        return out_of_memory("expert cache: no slot can be freed for layer " +
                             std::to_string(layer) + " expert " + std::to_string(expert) +
                             " (all " + std::to_string(m.n_slots) +
                             " slots are in use, loading, or planned)");
      }
      stall += us;
      missed = true;
    }
    if (s < 0) break;
    Slot& x = m.slots[static_cast<size_t>(s)];
    ++x.refs;
    x.last_use = std::max(x.last_use, tick);
    if (missed) {
      ++m.st.misses;
      m.st.stall_micros += stall;
      batch.add(ExpertEventKind::Miss, layer, expert, 0, stall, m.resident_bytes());
    } else {
      ++m.st.hits;
      batch.add(ExpertEventKind::Hit, layer, expert, 0, 0, m.resident_bytes());
    }
    ExpertHandle h;
    h.cache_ = this;
    h.slot_ = s;
    h.m_ = m.store.at(layer, m.arena->slot_address(s));
    lk.unlock();
    m.emit(batch);
    return h;
  }
  ++m.st.misses;
  batch.add(ExpertEventKind::Miss, layer, expert, 0, 0, m.resident_bytes());
  lk.unlock();
  m.emit(batch);
  return ExpertHandle{};
}

void ExpertCache::release(int32_t slot) {
  std::lock_guard<std::mutex> g(impl_->mu);
  if (slot >= 0 && slot < impl_->n_slots) {
    Slot& x = impl_->slots[static_cast<size_t>(slot)];
    // Before the slot can become a victim: a GPU arena records here that the kernels reading
    // it were queued, and its next copy waits for them.
    impl_->arena->released(slot);
    if (x.refs > 0) --x.refs;
  }
}

void ExpertCache::prefetch(int32_t layer, std::span<const int32_t> experts) {
  Impl& m = *impl_;
  if (m.n_slots == 0) return;
  std::unique_lock<std::mutex> lk(m.mu);
  bool queued_any = false;
  for (int32_t expert : experts) {
    if (!m.valid(layer, expert)) continue;
    if (m.map[static_cast<size_t>(layer)][static_cast<size_t>(expert)] >= 0) continue;
    if (m.opt.async_loader) {
      m.queue.emplace_back(layer, expert);
      ++m.queued[static_cast<size_t>(layer)];
      queued_any = true;
    } else {
      m.prefetch_one(lk, layer, expert);
    }
  }
  lk.unlock();
  if (queued_any) m.work_cv.notify_one();
}

void ExpertCache::wait_layer(int32_t layer) {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lk(m.mu);
  if (layer < 0 || layer >= m.store.n_layer()) return;
  const size_t l = static_cast<size_t>(layer);
  if (m.finished[l] == m.queued[l]) return;
  const auto t0 = std::chrono::steady_clock::now();
  m.load_cv.wait(lk, [&] { return m.finished[l] == m.queued[l]; });
  m.st.stall_micros += micros_since(t0);
}

Status ExpertCache::make_layer_ready(int32_t layer) {
  if (layer < 0 || layer >= impl_->store.n_layer()) {
    return invalid_argument("make_layer_ready: no layer " + std::to_string(layer));
  }
  return impl_->arena->make_layer_ready(layer);
}

Status ExpertCache::set_plan(int32_t layer, std::span<const int32_t> experts) {
  Impl& m = *impl_;
  if (layer < 0 || layer >= m.store.n_layer() || m.store.layout(layer).total == 0) {
    return invalid_argument("set_plan: layer " + std::to_string(layer) + " has no experts");
  }
  std::vector<uint8_t> plan(static_cast<size_t>(m.store.n_expert()), 0);
  for (int32_t e : experts) {
    if (!m.valid(layer, e)) {
      return invalid_argument("set_plan: no expert " + std::to_string(e) + " in layer " +
                              std::to_string(layer));
    }
    plan[static_cast<size_t>(e)] = 1;
  }
  {
    std::lock_guard<std::mutex> g(m.mu);
    int64_t total = 0;
    for (size_t l = 0; l < m.planned.size(); ++l) {
      const auto& row = static_cast<int32_t>(l) == layer ? plan : m.planned[l];
      total += std::count(row.begin(), row.end(), uint8_t{1});
    }
    if (total > m.n_slots) {
      return out_of_memory("set_plan: " + std::to_string(total) +
                           " planned experts exceed the cache's " + std::to_string(m.n_slots) +
                           " slots");
    }
    m.planned[static_cast<size_t>(layer)] = std::move(plan);
  }
  prefetch(layer, experts);
  return Status::ok();
}

void ExpertCache::fill() {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lk(m.mu);
  // Round-robin over layers (expert 0 of every layer, then expert 1, ...) so a partial budget
  // gives every layer the same share rather than filling the first layers.
  for (int32_t e = 0; e < m.store.n_expert(); ++e) {
    for (int32_t l = 0; l < m.store.n_layer(); ++l) {
      if (m.store.layout(l).total == 0) continue;
      if (m.free_slots.empty()) return;
      if (m.map[static_cast<size_t>(l)][static_cast<size_t>(e)] >= 0) continue;
      EventBatch after;
      Status copy_error;
      m.load_locked(lk, l, e, false, after, nullptr, &copy_error);
      lk.unlock();
      m.emit(after);
      lk.lock();
      if (!copy_error) return;  // the device is failing: stop (counted in failed_loads)
    }
  }
}

CacheStats ExpertCache::stats() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  CacheStats s = impl_->st;
  s.resident_bytes = impl_->resident_bytes();
  return s;
}

void ExpertCache::reset_stats() {
  std::lock_guard<std::mutex> g(impl_->mu);
  impl_->st = CacheStats{};
  impl_->st.peak_bytes = impl_->resident_bytes();
}

void ExpertCache::add_observer(ExpertEventObserver* observer) {
  if (observer == nullptr) return;
  std::unique_lock<std::shared_mutex> g(impl_->obs_mu);
  impl_->observers.push_back(observer);
  impl_->has_observers.store(true, std::memory_order_release);
}

void ExpertCache::remove_observer(ExpertEventObserver* observer) {
  std::unique_lock<std::shared_mutex> g(impl_->obs_mu);
  auto& v = impl_->observers;
  v.erase(std::remove(v.begin(), v.end(), observer), v.end());
  impl_->has_observers.store(!v.empty(), std::memory_order_release);
}

}  // namespace emoe::experts
