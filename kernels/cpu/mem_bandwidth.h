// Streaming-read memory bandwidth, the yardstick for memory-bound kernels (decode GEMV).
#pragma once

#include <cstddef>

namespace emoe::kernels {

class ThreadPool;

// Reads a freshly allocated buffer of `bytes` (rounded up to 4 KiB; use well above the
// last-level cache) with `threads` threads (clamped to pool->size(); pool may be null for 1)
// a few times and returns the best rate in GB/s (1e9 bytes per second). Allocation and first
// touch are excluded from the timing.
double measure_read_bandwidth_gbs(size_t bytes, int threads, ThreadPool* pool);

}  // namespace emoe::kernels
