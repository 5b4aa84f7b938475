// CPU kernel benchmark, printed as JSON on stdout:
//  - streaming-read memory bandwidth with 1 and 2 threads (the ceiling for decode),
//  - decode GEMV on ~256 MiB Q8_0, Q4_0 and K-quant (Q2_K..Q6_K) matrices: GB/s of weights
//    streamed, and that as a fraction of the measured bandwidth for the same thread count,
//  - prefill GEMM throughput (tokens/s) for 512 tokens on a 4096x4096 matrix.
// Usage: bench_kernels [--quick]   (--quick: 64 MiB matrices, 128 tokens; for smoke tests)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/mem_bandwidth.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/tensor_type.h"

using namespace emoe::kernels;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Byte offsets of the fp16 scales in a block: d, and dmin where the format has one (-1: none).
std::pair<int, int> scale_offsets(TensorType t) {
  switch (t) {
    case TensorType::Q2_K:
      return {80, 82};
    case TensorType::Q3_K:
      return {108, -1};
    case TensorType::Q4_K:
    case TensorType::Q5_K:
      return {0, 2};
    case TensorType::Q6_K:
      return {208, -1};
    default:
      return {0, -1};
  }
}

// Random quant blocks with a fixed, ordinary scale (NaN/denormal scales would not be typical).
std::vector<unsigned char> make_matrix(TensorType t, int64_t rows, int64_t cols) {
  const size_t rb = *row_bytes(t, cols);
  std::vector<unsigned char> m(rb * static_cast<size_t>(rows));
  std::mt19937_64 rng(1);
  for (size_t i = 0; i + 8 <= m.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(m.data() + i, &v, 8);
  }
  const size_t bs = static_cast<size_t>(type_traits(t)->type_size);
  const uint16_t d = fp32_to_fp16(0.01f);
  const auto [d_at, dmin_at] = scale_offsets(t);
  for (size_t i = 0; i < m.size(); i += bs) {
    std::memcpy(m.data() + i + d_at, &d, 2);
    if (dmin_at >= 0) std::memcpy(m.data() + i + dmin_at, &d, 2);
  }
  return m;
}

struct Timing {
  double best = 0, median = 0;  // seconds
};

template <typename F>
Timing time_it(int reps, F f) {
  f();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double s = now_s();
    f();
    t.push_back(now_s() - s);
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const size_t target_bytes = (quick ? 64ull : 256ull) << 20;
  const int64_t gemm_tokens = quick ? 128 : 512;
  ThreadPool pool2(2);
  ThreadPool* pools[3] = {nullptr, nullptr, &pool2};

  std::printf(
      "{\n  \"cpu\": {\"detected_isa\": \"%s\", \"active_isa\": \"%s\", \"avx512_vnni\": %s, "
      "\"hardware_threads\": %u},\n",
      isa_name(detected_isa()).data(), isa_name(active_isa()).data(),
      cpu_has_avx512_vnni() ? "true" : "false", std::thread::hardware_concurrency());

  double bw[3] = {0, 0, 0};
  for (int th : {1, 2}) bw[th] = measure_read_bandwidth_gbs(target_bytes, th, pools[th]);
  std::printf("  \"read_bandwidth_gbs\": {\"bytes\": %zu, \"1\": %.2f, \"2\": %.2f},\n",
              target_bytes, bw[1], bw[2]);

  const int64_t cols = 4096;
  std::vector<float> x(static_cast<size_t>(cols * gemm_tokens));
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& v : x) v = nd(rng);

  std::printf("  \"gemv\": [");
  bool first = true;
  for (TensorType t : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q2_K, TensorType::Q3_K,
                       TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    const size_t rb = *row_bytes(t, cols);
    const int64_t rows = static_cast<int64_t>(target_bytes / rb);
    const auto m = make_matrix(t, rows, cols);
    const MatrixView w{t, rows, cols, rb, m.data()};
    std::vector<float> y(static_cast<size_t>(rows));
    for (int th : {1, 2}) {
      const Timing tm =
          time_it(quick ? 3 : 8, [&] { matmul(w, x.data(), 1, cols, y.data(), rows, pools[th]); });
      const double gbs = static_cast<double>(m.size()) / tm.best / 1e9;
      const double gbs_med = static_cast<double>(m.size()) / tm.median / 1e9;
      std::printf(
          "%s\n    {\"type\": \"%s\", \"rows\": %lld, \"cols\": %lld, \"bytes\": %zu, "
          "\"threads\": %d, \"ms_best\": %.3f, \"gbs_best\": %.2f, \"gbs_median\": %.2f, "
          "\"fraction_of_read_bw\": %.3f}",
          first ? "" : ",", type_name(t).data(), static_cast<long long>(rows),
          static_cast<long long>(cols), m.size(), th, tm.best * 1e3, gbs, gbs_med,
          bw[th] > 0 ? gbs / bw[th] : 0.0);
      first = false;
    }
  }
  std::printf("\n  ],\n  \"gemm\": [");
  first = true;
  for (TensorType t :
       {TensorType::Q8_0, TensorType::Q4_0, TensorType::F16, TensorType::Q4_K, TensorType::Q6_K}) {
    const int64_t rows = 4096;
    const auto m = make_matrix(t, rows, cols);
    const MatrixView w{t, rows, cols, *row_bytes(t, cols), m.data()};
    std::vector<float> y(static_cast<size_t>(rows * gemm_tokens));
    for (int th : {1, 2}) {
      const Timing tm = time_it(quick ? 1 : 2, [&] {
        matmul(w, x.data(), gemm_tokens, cols, y.data(), rows, pools[th]);
      });
      const double flops = 2.0 * static_cast<double>(rows) * cols * gemm_tokens;
      std::printf(
          "%s\n    {\"type\": \"%s\", \"rows\": %lld, \"cols\": %lld, \"tokens\": %lld, "
          "\"threads\": %d, \"ms_best\": %.1f, \"tokens_per_s\": %.1f, \"gflops\": %.1f}",
          first ? "" : ",", type_name(t).data(), static_cast<long long>(rows),
          static_cast<long long>(cols), static_cast<long long>(gemm_tokens), th, tm.best * 1e3,
          static_cast<double>(gemm_tokens) / tm.best, flops / tm.best / 1e9);
      first = false;
    }
  }
  std::printf("\n  ]\n}\n");
  return 0;
}
