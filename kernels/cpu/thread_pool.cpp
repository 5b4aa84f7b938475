#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EMOE_CPU_RELAX() _mm_pause()
#else
#define EMOE_CPU_RELAX() ((void)0)
#endif

namespace emoe::kernels {
namespace {

// How long a thread busy-waits before sleeping in the kernel. Decode issues a parallel_for
// every few microseconds, so a short spin keeps wake-ups out of the syscall path; it stays
// short because the machine may be shared and a spinning worker steals a core.
constexpr auto kSpin = std::chrono::microseconds(100);

// Chunks per thread: a little over-decomposition lets whoever is running (usually the caller)
// take the chunks of a worker the OS has not scheduled yet.
constexpr int64_t kChunksPerThread = 4;

// Spins until pred() or kSpin elapses; true if pred() became true.
template <typename Pred>
bool spin_until(Pred pred) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (pred()) return true;
    EMOE_CPU_RELAX();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() - start > kSpin) return pred();
  }
}

// The claim word: generation (bits 32..63), chunk count (16..31), next unclaimed chunk (0..15).
constexpr uint64_t make_word(uint32_t gen, uint64_t chunks) {
  return (uint64_t{gen} << 32) | (chunks << 16);
}

}  // namespace

struct ThreadPool::Impl {
  using Fn = std::function<void(int64_t, int64_t, int)>;

  int n_threads = 1;
  std::vector<std::thread> workers;

  // Job fields are written by the caller before it publishes `work` (release) and read only by
  // a thread that has claimed a chunk of that job (acquire CAS); the caller does not start a
  // new job until every claimed chunk is done, so they are stable while read.
  const Fn* fn = nullptr;
  int64_t n_items = 0;
  uint32_t gen = 0;  // caller only

  std::atomic<bool> stop{false};

  alignas(64) std::atomic<uint64_t> work{0};
  alignas(64) std::atomic<uint32_t> wake{0};  // generation workers sleep on
  alignas(64) std::atomic<uint32_t> done{0};  // chunks finished in the current job

  // Claims and runs chunks of generation g until none are left; `thread` is the runner's index.
  void drain(uint32_t g, int thread) {
    uint64_t w = work.load(std::memory_order_acquire);
    for (;;) {
      if (static_cast<uint32_t>(w >> 32) != g) return;
      const uint64_t chunks = (w >> 16) & 0xFFFF;
      const uint64_t idx = w & 0xFFFF;
      if (idx >= chunks) return;
      if (!work.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        continue;
      }
      const int64_t begin = n_items * static_cast<int64_t>(idx) / static_cast<int64_t>(chunks);
      const int64_t end = n_items * static_cast<int64_t>(idx + 1) / static_cast<int64_t>(chunks);
      if (begin < end) (*fn)(begin, end, thread);
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) done.notify_one();
      w = work.load(std::memory_order_acquire);
    }
  }

  void worker(int t) {
    uint32_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return wake.load(std::memory_order_acquire) != seen; })) {
        while (wake.load(std::memory_order_acquire) == seen) {
          wake.wait(seen, std::memory_order_acquire);
        }
      }
      seen = wake.load(std::memory_order_acquire);
      if (stop.load(std::memory_order_acquire)) return;
      drain(seen, t);
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(std::make_unique<Impl>()) {
  assert(n_threads >= 1);
  impl_->n_threads = std::clamp(n_threads, 1, 1024);
  impl_->workers.reserve(static_cast<size_t>(impl_->n_threads - 1));
  for (int t = 1; t < impl_->n_threads; ++t) {
    impl_->workers.emplace_back([this, t] { impl_->worker(t); });
  }
}

ThreadPool::~ThreadPool() {
  impl_->stop.store(true, std::memory_order_release);
  impl_->wake.fetch_add(1, std::memory_order_release);
  impl_->wake.notify_all();
  for (std::thread& w : impl_->workers) w.join();
}

int ThreadPool::size() const { return impl_->n_threads; }

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  Impl& p = *impl_;
  const int64_t chunks = std::min<int64_t>(p.n_threads * kChunksPerThread, n / grain);
  if (p.n_threads == 1 || chunks <= 1) {
    fn(0, n, 0);
    return;
  }
  p.fn = &fn;
  p.n_items = n;
  p.done.store(0, std::memory_order_relaxed);
  const uint32_t g = ++p.gen;
  p.work.store(make_word(g, static_cast<uint64_t>(chunks)), std::memory_order_release);
  p.wake.store(g, std::memory_order_release);
  p.wake.notify_all();

  p.drain(g, 0);

  const auto all = static_cast<uint32_t>(chunks);
  if (!spin_until([&] { return p.done.load(std::memory_order_acquire) == all; })) {
    for (uint32_t d; (d = p.done.load(std::memory_order_acquire)) != all;) {
      p.done.wait(d, std::memory_order_acquire);
    }
  }
}

}  // namespace emoe::kernels
