// A fixed pool of worker threads for data-parallel loops. The calling thread takes part, so a
// pool of size 1 runs everything inline. Not reentrant: one parallel_for at a time per pool.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace emoe::kernels {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1, including the caller
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;

  // Splits [0, n) into contiguous chunks of at least `grain` items (a few per thread) and calls
  // fn(begin, end, thread) for each; returns when all are done. `thread` is the index of the
  // thread running the chunk (0 = the caller, < size()): no two chunks with the same index run
  // at once, so it can select per-thread scratch, but one thread may run several chunks (an
  // idle caller takes the chunks of workers the OS has not scheduled yet). A single chunk runs
  // inline on the caller.
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t begin, int64_t end, int thread)>& fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace emoe::kernels
